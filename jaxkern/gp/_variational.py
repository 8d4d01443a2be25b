r"""Variational GP classification: whitened full (VGP) and sparse (SVGP) Gaussian posteriors.

Both posit $q(v) = \mathcal N(m, S)$, $S = L_S L_S^\top$, over whitened variables: $f = L v$ with
$K = L L^\top$ (VGP), or inducing values $u = L_Z v$ with $K_{ZZ} = L_Z L_Z^\top$ (SVGP), and
maximise the evidence lower bound
$$\mathcal L = \sum_i \mathbb E_{q(f_i)}[\log p(y_i \mid f_i)] - \mathrm{KL}\bigl(\mathcal N(m, S)
  \,\|\, \mathcal N(0, I)\bigr),$$
whose expectations are one-dimensional Gauss–Hermite rules on the marginals $q(f_i)$.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, Float, Int

from .._marginals import Marginals
from .._validation import check_int, check_ndim, check_same_last_dim, concrete_or_none
from ..kernels import gram, gram_diag
from ..linalg import jittered_cholesky
from ._likelihoods import BernoulliLogit, Likelihood, check_labels, gauss_hermite


class VariationalFitResult(NamedTuple):
    """A fitted variational classifier, with the fit's record under the shared names."""

    kernel: Any
    q_mean: Float[Array, " M"]
    """$m$, the whitened variational mean."""
    q_sqrt: Float[Array, "M M"]
    """$L_S$, lower triangular: the whitened variational covariance is $L_S L_S^\\top$."""
    inducing: Float[Array, "M d"] | None
    """The inducing inputs $Z$ (SVGP), or None (VGP)."""
    losses: np.ndarray
    """Negative ELBO before each step (NumPy)."""
    num_steps: int
    converged: bool
    message: str


def expected_log_likelihood(
    likelihood: Likelihood,
    y: Int[Array, " n"],
    mean: Float[Array, " n"],
    variance: Float[Array, " n"],
    *,
    num_points: int = 20,
) -> Float[Array, " n"]:
    r"""$\mathbb E_{f \sim \mathcal N(\mu_i, \sigma_i^2)}[\log p(y_i \mid f)]$ by Gauss–Hermite.

    $$\mathbb E[\log p(y_i \mid f)] \approx \sum_{j=1}^J w_j \log p(y_i \mid \mu_i +
      \sigma_i z_j),$$
    with the $J$-point Gauss–Hermite rule for the standard normal.

    **Arguments:**

    - `likelihood`: a binary likelihood (`BernoulliLogit()` or `BernoulliProbit()`).
    - `y`: labels in {0, 1}, shape (n,).
    - `mean`, `variance`: the marginals of $q(f_i)$, shape (n,).
    - `num_points`: $J$.

    **Returns:** the expectations, shape (n,).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.gp import BernoulliProbit, expected_log_likelihood
        >>> e = expected_log_likelihood(BernoulliProbit(), jnp.array([1]), jnp.zeros(1),
        ...                             jnp.zeros(1))
        >>> round(float(e[0]), 6)  # log Phi(0)
        -0.693147

    Hensman, Matthews & Ghahramani, *Scalable Variational Gaussian Process Classification*,
    AISTATS 2015.
    """
    z, w = gauss_hermite(num_points)
    z = jnp.asarray(z, mean.dtype)[None, :]
    w = jnp.asarray(w, mean.dtype)[None, :]
    f = mean[:, None] + jnp.sqrt(jnp.maximum(variance, 0))[:, None] * z
    yy = jnp.broadcast_to(y[:, None], f.shape)
    return jnp.sum(w * likelihood.log_prob(f, yy), axis=1)


def _whitened_kl(q_mean, q_sqrt):
    Ls = jnp.tril(q_sqrt)
    M = q_mean.shape[0]
    return 0.5 * (jnp.sum(Ls * Ls) + q_mean @ q_mean - M
                  - 2 * jnp.sum(jnp.log(jnp.abs(jnp.diagonal(Ls)))))


def _check_q(q_mean, q_sqrt, M, what):
    check_ndim("q_mean", q_mean, 1, "(M,)")
    check_ndim("q_sqrt", q_sqrt, 2, "(M, M)")
    if q_mean.shape[0] != M or q_sqrt.shape != (M, M):
        raise ValueError(f"`q_mean` and `q_sqrt` must have shapes ({M},) and ({M}, {M}), one "
                         f"entry per {what}, got {q_mean.shape} and {q_sqrt.shape}.")


def _check_xy(X, y, likelihood):
    if not isinstance(likelihood, Likelihood) or likelihood.multiclass:
        raise ValueError("`likelihood` must be BernoulliLogit() or BernoulliProbit(), got "
                         f"{likelihood!r}.")
    check_ndim("X", X, 2, "(n, d)")
    arr = concrete_or_none(X)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise ValueError("`X` must be finite.")
    y = check_labels(y, 2)
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"`y` must have {X.shape[0]} entries (one label per row of X), got "
                         f"shape {y.shape}.")
    return y


def _vgp_marginals(k, X, q_mean, q_sqrt, jitter):
    L = jittered_cholesky(gram(k, X), jitter=jitter)
    A = L @ jnp.tril(q_sqrt)
    return L @ q_mean, jnp.sum(A * A, axis=1)


def vgp_elbo(
    k: Any,
    X: Float[Array, "n d"],
    y: Int[Array, " n"],
    q_mean: Float[Array, " n"],
    q_sqrt: Float[Array, "n n"],
    *,
    likelihood: Likelihood | None = None,
    jitter: float | None = None,
    num_points: int = 20,
) -> Float[Array, ""]:
    r"""The whitened full variational GP's evidence lower bound.

    With $K + \epsilon I = L L^\top$, $f = L v$, $q(v) = \mathcal N(m, L_S L_S^\top)$:
    $q(f_i) = \mathcal N\bigl((L m)_i, \lVert (L L_S)_{i,:}\rVert^2\bigr)$ and
    $$\mathcal L = \sum_i \mathbb E_{q(f_i)}[\log p(y_i \mid f_i)]
      - \tfrac12\bigl(\operatorname{tr} S + m^\top m - n - \log\lvert S\rvert\bigr).$$

    **Arguments:**

    - `k`: a kernel; `X`, `y`: inputs (n, d) and labels in {0, 1}.
    - `q_mean`: $m$, shape (n,); `q_sqrt`: $L_S$, shape (n, n) (its lower triangle is used).
    - `likelihood`: `BernoulliLogit()` (default) or `BernoulliProbit()`.
    - `jitter`: added to $K$'s diagonal; dtype-dependent default.
    - `num_points`: Gauss–Hermite nodes.

    **Returns:** the scalar ELBO, differentiable in everything but `y`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import vgp_elbo
        >>> X = jnp.linspace(-1, 1, 3)[:, None]
        >>> round(float(vgp_elbo(RBF(), X, jnp.array([0, 1, 1]), jnp.zeros(3), jnp.eye(3))), 4)
        -2.4182

    Opper & Archambeau, *The Variational Gaussian Approximation Revisited*, Neural Computation
    2009; Hensman et al. (2015).
    """
    likelihood = BernoulliLogit() if likelihood is None else likelihood
    y = _check_xy(X, y, likelihood)
    _check_q(q_mean, q_sqrt, X.shape[0], "training point")
    mean, var = _vgp_marginals(k, X, q_mean, q_sqrt, jitter)
    ell = expected_log_likelihood(likelihood, y, mean, var, num_points=num_points)
    return jnp.sum(ell) - _whitened_kl(q_mean, q_sqrt)


def _svgp_marginals(k, Z, q_mean, q_sqrt, X, jitter):
    Lz = jittered_cholesky(gram(k, Z), jitter=jitter)
    A = jsl.solve_triangular(Lz, gram(k, Z, X), lower=True)  # (M, n)
    B = jnp.tril(q_sqrt).T @ A
    var = gram_diag(k, X) - jnp.sum(A * A, axis=0) + jnp.sum(B * B, axis=0)
    return A.T @ q_mean, jnp.maximum(var, 0)


def svgp_elbo(
    k: Any,
    X: Float[Array, "n d"],
    y: Int[Array, " n"],
    Z: Float[Array, "M d"],
    q_mean: Float[Array, " M"],
    q_sqrt: Float[Array, "M M"],
    *,
    likelihood: Likelihood | None = None,
    jitter: float | None = None,
    num_points: int = 20,
    num_data: int | None = None,
) -> Float[Array, ""]:
    r"""The whitened sparse variational GP's evidence lower bound (inducing inputs $Z$).

    With $K_{ZZ} + \epsilon I = L_Z L_Z^\top$, $u = L_Z v$, $q(v) = \mathcal N(m, S)$ and
    $A = L_Z^{-1} K_{ZX}$: $q(f_i) = \mathcal N\bigl((A^\top m)_i,\; k(x_i, x_i) - \lVert
    A_{:,i}\rVert^2 + \lVert L_S^\top A_{:,i}\rVert^2\bigr)$ and
    $$\mathcal L = \frac{N}{n}\sum_{i=1}^n \mathbb E_{q(f_i)}[\log p(y_i \mid f_i)]
      - \mathrm{KL}\bigl(\mathcal N(m, S)\,\|\,\mathcal N(0, I)\bigr),$$
    where $N$ = `num_data` rescales a minibatch of $n$ points to the data set. The cost is
    $O(n M^2 + M^3)$.

    **Arguments:**

    - `k`: a kernel; `X`, `y`: inputs (n, d) and labels in {0, 1} (a minibatch or all data).
    - `Z`: inducing inputs, shape (M, d).
    - `q_mean`: $m$, shape (M,); `q_sqrt`: $L_S$, shape (M, M) (lower triangle used).
    - `likelihood`: `BernoulliLogit()` (default) or `BernoulliProbit()`.
    - `jitter`: added to $K_{ZZ}$'s diagonal; dtype-dependent default.
    - `num_points`: Gauss–Hermite nodes.
    - `num_data`: $N$; default $n$.

    **Returns:** the scalar ELBO.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import svgp_elbo, vgp_elbo
        >>> X = jnp.linspace(-1, 1, 3)[:, None]
        >>> y = jnp.array([0, 1, 1])
        >>> # with Z = X the sparse bound is the full one
        >>> a = svgp_elbo(RBF(), X, y, X, jnp.zeros(3), jnp.eye(3))
        >>> bool(jnp.allclose(a, vgp_elbo(RBF(), X, y, jnp.zeros(3), jnp.eye(3)), atol=1e-5))
        True

    Hensman, Matthews & Ghahramani, *Scalable Variational Gaussian Process Classification*,
    AISTATS 2015.
    """
    likelihood = BernoulliLogit() if likelihood is None else likelihood
    y = _check_xy(X, y, likelihood)
    check_ndim("Z", Z, 2, "(M, d)")
    check_same_last_dim("X", X, "Z", Z)
    _check_q(q_mean, q_sqrt, Z.shape[0], "inducing input")
    mean, var = _svgp_marginals(k, Z, q_mean, q_sqrt, X, jitter)
    ell = jnp.sum(expected_log_likelihood(likelihood, y, mean, var, num_points=num_points))
    if num_data is not None:
        check_int("num_data", num_data, 1)
        ell = ell * (num_data / X.shape[0])
    return ell - _whitened_kl(q_mean, q_sqrt)


def variational_predict(
    k: Any,
    inputs: Float[Array, "M d"],
    q_mean: Float[Array, " M"],
    q_sqrt: Float[Array, "M M"],
    X_test: Float[Array, "m d"],
    *,
    jitter: float | None = None,
) -> Marginals:
    r"""The latent marginals $q(f_*)$ of a whitened VGP (`inputs` = $X$) or SVGP (`inputs` = $Z$).

    $$\mu_* = A_*^\top m, \qquad \sigma_*^2 = k(x_*, x_*) - \lVert A_*\rVert^2 +
      \lVert L_S^\top A_*\rVert^2, \qquad A_* = L^{-1}K_{\cdot *},$$
    linear in the number of test points; pass them on to
    [`predict_proba`][jaxkern.gp.predict_proba] for class probabilities.

    **Arguments:**

    - `k`: the kernel; `inputs`: the training inputs (VGP) or inducing inputs (SVGP).
    - `q_mean`, `q_sqrt`: the whitened variational parameters.
    - `X_test`: test inputs, shape (m, d).
    - `jitter`: as in the ELBO.

    **Returns:** [`Marginals`][jaxkern.Marginals] of shape (m,).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import variational_predict
        >>> Z = jnp.zeros((1, 1))
        >>> post = variational_predict(RBF(), Z, jnp.ones(1), jnp.eye(1), Z)
        >>> round(float(post.mean[0]), 4), round(float(post.variance[0]), 4)
        (1.0, 1.0)
    """
    check_ndim("inputs", inputs, 2, "(M, d)")
    check_ndim("X_test", X_test, 2, "(m, d)")
    check_same_last_dim("inputs", inputs, "X_test", X_test)
    _check_q(q_mean, q_sqrt, inputs.shape[0], "input")
    return Marginals(*_svgp_marginals(k, inputs, q_mean, q_sqrt, X_test, jitter))


def fit_variational(
    k: Any,
    X: Float[Array, "n d"],
    y: Int[Array, " n"],
    *,
    inducing: Float[Array, "M d"] | None = None,
    likelihood: Likelihood | None = None,
    num_steps: int = 500,
    optimizer: Any = None,
    trainable: Any = eqx.is_inexact_array,
    fit_inducing: bool = False,
    jitter: float | None = None,
    num_points: int = 20,
    tol: float | None = None,
    chunk_size: int = 100,
    progress: bool = False,
) -> VariationalFitResult:
    r"""Maximise the VGP (no `inducing`) or SVGP ELBO over $m$, $L_S$ and the kernel.

    Starts from $m = 0$, $L_S = I$ (the prior) and runs
    [`jaxkern.optim.minimize`][jaxkern.optim.minimize] on $-\mathcal L$, the kernel's
    hyperparameters in their declared unconstrained space.

    **Arguments:**

    - `k`: a kernel module; `X`, `y`: training inputs (n, d) and labels in {0, 1}.
    - `inducing`: inducing inputs $Z$ (M, d) for the sparse bound; None for the full one.
    - `likelihood`: `BernoulliLogit()` (default) or `BernoulliProbit()`.
    - `num_steps`, `optimizer` (default `optax.adam(0.05)`), `tol`, `chunk_size`, `progress`:
      as in [`jaxkern.optim.minimize`][jaxkern.optim.minimize].
    - `trainable`: an equinox filter on the kernel's leaves (`lambda _: False` freezes it).
    - `fit_inducing`: move $Z$ as well.
    - `jitter`, `num_points`: as in the ELBO.

    **Returns:** a [`VariationalFitResult`][jaxkern.gp.VariationalFitResult].

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import fit_variational
        >>> X = jnp.linspace(-2, 2, 8)[:, None]
        >>> r = fit_variational(RBF(), X, jnp.array([0, 0, 0, 1, 0, 1, 1, 1]), num_steps=50)
        >>> bool(r.losses[-1] < r.losses[0])
        True
    """
    import optax

    from ..optim import constrain, minimize, unconstrain

    likelihood = BernoulliLogit() if likelihood is None else likelihood
    y = _check_xy(X, y, likelihood)
    Z = X if inducing is None else inducing
    M = Z.shape[0]
    raw_k, frozen_k = unconstrain(k, trainable)
    params = (raw_k, jnp.zeros((M,), X.dtype), jnp.eye(M, dtype=X.dtype),
              Z if (inducing is not None and fit_inducing) else None)

    def loss(params):
        raw, q_mean, q_sqrt, z = params
        kernel = constrain(raw, frozen_k)
        if inducing is None:
            return -vgp_elbo(kernel, X, y, q_mean, q_sqrt, likelihood=likelihood,
                             jitter=jitter, num_points=num_points)
        return -svgp_elbo(kernel, X, y, Z if z is None else z, q_mean, q_sqrt,
                          likelihood=likelihood, jitter=jitter, num_points=num_points)

    result = minimize(loss, params, optimizer=optax.adam(0.05) if optimizer is None else optimizer,
                      num_steps=num_steps, tol=tol, chunk_size=chunk_size, progress=progress,
                      description="gp.fit_variational")
    raw, q_mean, q_sqrt, z = result.params
    Z_out = None if inducing is None else (Z if z is None else z)
    return VariationalFitResult(constrain(raw, frozen_k), q_mean, jnp.tril(q_sqrt), Z_out,
                                result.losses, result.num_steps, result.converged,
                                result.message)

