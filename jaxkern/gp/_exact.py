"""Exact Gaussian-process regression by Cholesky factorisation."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, ArrayLike, Float

from .._marginals import Marginals
from .._validation import (
    as_float,
    check_finite,
    check_length,
    check_ndim,
    check_positive,
    check_same_last_dim,
    default_jitter,
)
from ..kernels import gram, gram_diag
from ..linalg import jittered_cholesky
from ._iterative import iterative_log_marginal_likelihood, iterative_posterior
from ._solvers import CG, Auto, Cholesky, resolve_solver

KernelFn = Callable[[Array, Array], Array]


#: Deprecated name of [`Marginals`][jaxkern.Marginals] (the same class).
Posterior = Marginals


def _check_data(X, y, noise) -> None:
    check_ndim("X", X, 2, "(n, d)")
    check_ndim("y", y, 1, "(n,)")
    check_length("y", y, X.shape[0], "one target per row of X")
    check_positive("noise", noise, allow_zero=True)
    check_finite("X", X)
    check_finite("y", y)


def _noisy_gram(k: KernelFn, X, noise, jitter) -> Array:
    r"""$K + (\sigma^2 + \epsilon) I$, with the dtype's default jitter when `jitter` is None."""
    K = gram(k, X)
    jitter = default_jitter(K.dtype) if jitter is None else jitter
    return K + (noise + jitter) * jnp.eye(X.shape[0], dtype=K.dtype)


def _noisy_cholesky(k: KernelFn, X, noise, jitter) -> Array:
    return jittered_cholesky(_noisy_gram(k, X, noise, jitter), jitter=0.0)


def _factor_and_density(A, y):
    L = jittered_cholesky(A, jitter=0.0)
    alpha = jsl.cho_solve((L, True), y)
    value = (-0.5 * jnp.dot(y, alpha) - jnp.sum(jnp.log(jnp.diagonal(L)))
             - 0.5 * y.shape[0] * math.log(2 * math.pi))
    return value, L, alpha


@jax.custom_jvp
def _gaussian_log_density(A: Float[Array, "n n"], y: Float[Array, " n"]) -> Float[Array, ""]:
    r"""$\log \mathcal N(y \mid 0, A) = -\tfrac12 y^\top A^{-1} y - \tfrac12 \log\lvert A\rvert
    - \tfrac n2 \log 2\pi$ for a symmetric positive-definite $A = L L^\top$.

    Its derivative is written out rather than differentiated through the Cholesky factor:
    $d\ell = \tfrac12 \alpha^\top dA\, \alpha - \tfrac12 \operatorname{tr}(A^{-1} dA)
    - \alpha^\top dy$ with $\alpha = A^{-1} y$ (R&W eq. 5.9), so reverse mode gives
    $\bar A = \tfrac12 (\alpha\alpha^\top - A^{-1})$ from the factor of the forward pass: one
    $A^{-1}$ where reverse mode through the factorisation costs two $n \times n$ triangular
    solves and a product. A JVP rule (not a VJP one), so forward mode and higher derivatives
    still work.
    """
    return _factor_and_density(A, y)[0]


@_gaussian_log_density.defjvp
def _gaussian_log_density_jvp(primals, tangents):
    A, y = primals
    dA, dy = tangents
    value, L, alpha = _factor_and_density(A, y)
    A_inv = jsl.cho_solve((L, True), jnp.eye(L.shape[0], dtype=L.dtype))
    d_value = 0.5 * jnp.dot(alpha, dA @ alpha) - 0.5 * jnp.sum(A_inv * dA) - jnp.dot(alpha, dy)
    return value, d_value


def log_marginal_likelihood(
    k: KernelFn,
    X: Float[Array, "n d"],
    y: Float[Array, " n"],
    *,
    noise: Float[ArrayLike, ""],
    jitter: float | None = None,
    solver: Cholesky | CG | Auto | None = None,
) -> Float[Array, ""]:
    r"""Log marginal likelihood of a zero-mean GP with Gaussian noise.

    $$\log p(y \mid X) = -\tfrac12 y^\top (K + \sigma^2 I)^{-1} y
        - \tfrac12 \log\det(K + \sigma^2 I) - \tfrac{n}{2}\log 2\pi,$$
    with $K + \sigma^2 I + \epsilon I = L L^\top$ factorised once
    ($\log\det = 2\sum_i \log L_{ii}$). Differentiable in the kernel's hyperparameters,
    `noise`, `X` and `y`. A matrix that is not positive definite raises (`eqx.error_if`).

    With `solver=CG(...)` the same quantity is computed matrix-free (CG solve and a
    stochastic Lanczos log-determinant over the blocked `kernel_matvec`, gradient by the BBMM
    stochastic trace estimator; see [`CG`][jaxkern.gp.CG] and `docs/scalable.md`);
    `solver=Auto()` picks Cholesky up to a measured crossover n and CG above it.

    **Arguments:**

    - `k`: kernel on one pair of points (module or partial).
    - `X`: training inputs, shape (n, d).
    - `y`: training targets, shape (n,).
    - `noise`: noise variance $\sigma^2 \ge 0$.
    - `jitter`: $\epsilon$ added to the diagonal; dtype-dependent default.
    - `solver`: [`Cholesky()`][jaxkern.gp.Cholesky] (default, dense),
      [`CG(...)`][jaxkern.gp.CG] (matrix-free, stochastic) or [`Auto()`][jaxkern.gp.Auto].

    **Returns:** the scalar log marginal likelihood.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import log_marginal_likelihood
        >>> X = jnp.linspace(0, 1, 4)[:, None]
        >>> round(float(log_marginal_likelihood(RBF(), X, jnp.zeros(4), noise=0.1, jitter=0.0)), 3)
        -1.815

    Rasmussen & Williams (2006), Algorithm 2.1.
    """
    _check_data(X, y, noise)
    X, y = as_float(X, y)
    solver = resolve_solver(solver, X.shape[0])
    if isinstance(solver, CG):
        jitter = default_jitter(X.dtype) if jitter is None else jitter
        return iterative_log_marginal_likelihood(k, X, y, noise, jitter, solver)
    return _gaussian_log_density(_noisy_gram(k, X, noise, jitter), y)


def gp_posterior(
    k: KernelFn,
    X: Float[Array, "n d"],
    y: Float[Array, " n"],
    X_test: Float[Array, "m d"],
    *,
    noise: Float[ArrayLike, ""],
    jitter: float | None = None,
    solver: Cholesky | CG | Auto | None = None,
) -> Marginals:
    r"""Posterior mean and variance of the latent function of a zero-mean GP.

    $$\mu_* = K_{*X}(K + \sigma^2 I)^{-1} y, \qquad
      \sigma_*^2 = k(x_*, x_*) - K_{*X}(K + \sigma^2 I)^{-1} K_{X*},$$
    both through one Cholesky factor. The variance is of $f(x_*)$, without the noise; add
    `noise` for the predictive variance of a new observation.

    **Arguments:**

    - `k`: kernel on one pair of points.
    - `X`: training inputs, shape (n, d).
    - `y`: training targets, shape (n,).
    - `X_test`: test inputs, shape (m, d).
    - `noise`: noise variance $\sigma^2 \ge 0$.
    - `jitter`: diagonal jitter; dtype-dependent default.
    - `solver`: [`Cholesky()`][jaxkern.gp.Cholesky] (default) or [`CG(...)`][jaxkern.gp.CG]
      (one batched CG run on $[y, K_{X*}]$: only the (n, m) cross-covariance is formed) or
      [`Auto()`][jaxkern.gp.Auto].

    **Returns:** [`Marginals`][jaxkern.Marginals] of shape-(m,) arrays.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import gp_posterior
        >>> X = jnp.array([[0.0], [1.0]])
        >>> post = gp_posterior(RBF(), X, jnp.array([1.0, -1.0]), X, noise=1e-6)
        >>> [round(m, 3) for m in post.mean.tolist()]
        [1.0, -1.0]

    Rasmussen & Williams (2006), Algorithm 2.1.
    """
    _check_data(X, y, noise)
    check_ndim("X_test", X_test, 2, "(m, d)")
    check_same_last_dim("X", X, "X_test", X_test)
    X, y, X_test = as_float(X, y, X_test)
    solver = resolve_solver(solver, X.shape[0])
    if isinstance(solver, CG):
        jitter = default_jitter(X.dtype) if jitter is None else jitter
        return Marginals(*iterative_posterior(k, X, y, X_test, noise, jitter, solver))
    L = _noisy_cholesky(k, X, noise, jitter)
    alpha = jsl.cho_solve((L, True), y)
    K_cross = gram(k, X, X_test)
    mean = K_cross.T @ alpha
    V = jsl.solve_triangular(L, K_cross, lower=True)
    variance = gram_diag(k, X_test) - jnp.sum(V * V, axis=0)
    return Marginals(mean, jnp.maximum(variance, 0))
