r"""GP classification: the Laplace approximation (binary, multiclass) and expectation propagation.

Both approximate the posterior over the latent values $f$ at the training inputs by a Gaussian
$q(f) = \mathcal N(\hat f, (K^{-1} + \tilde W)^{-1})$ with a diagonal (binary) or block-structured
(multiclass) site precision $\tilde W$, and approximate the log marginal likelihood
$\log p(y \mid X, \theta)$ for type-II maximum likelihood.

- Laplace: $\hat f$ is the mode of $\log p(y \mid f) - \tfrac12 f^\top K^{-1} f$, found by Newton's
  method in a `lax.while_loop`; its gradient with respect to the kernel comes from the implicit
  function theorem applied to the mode equation $\hat f = K \nabla \log p(y \mid \hat f)$ (a
  `custom_vjp`), never by differentiating through the iterations.
- EP: Gaussian sites matched to the probit likelihood's tilted moments, sweep after sweep.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import jax.scipy.special as jss
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._marginals import Marginals
from .._validation import (
    check_int,
    check_length,
    check_ndim,
    check_same_last_dim,
    concrete_or_none,
    default_jitter,
)
from ..kernels import gram, gram_diag
from ._likelihoods import BernoulliLogit, BernoulliProbit, Likelihood, check_labels

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


class LaplaceApproximation(NamedTuple):
    r"""The Laplace approximation $q(f) = \mathcal N(\hat f, (K^{-1} + W)^{-1})$ at training inputs.

    Binary latents have shape (n,); multiclass latents are class-major, shape (C, n).
    """

    mode: Array
    r"""$\hat f$, the posterior mode."""
    weights: Array
    r"""$\nabla \log p(y \mid \hat f) = K^{-1}\hat f$: predictive means are $K_{*X}$ times these."""
    site_precision: Array
    r"""Binary: $W = -\nabla\nabla \log p(y \mid \hat f)$ (diagonal). Multiclass: the class
    probabilities $\pi$ at the mode, from which $W = \operatorname{diag}\pi - \Pi\Pi^\top$."""
    log_marginal_likelihood: Float[Array, ""]
    r"""$\log q(y \mid X) = -\tfrac12 \hat f^\top K^{-1}\hat f + \log p(y \mid \hat f)
    - \tfrac12 \log\lvert I + W^{1/2} K W^{1/2}\rvert$."""
    num_iterations: Int[Array, ""]
    """Newton steps taken (equal to `max_iter` when the tolerance was not reached)."""


class EPApproximation(NamedTuple):
    r"""The EP approximation: Gaussian sites $t_i(f_i) \propto \mathcal N(f_i \mid \tilde\mu_i,
    \tilde\tau_i^{-1})$, so $q(f) = \mathcal N(\Sigma\tilde\nu, \Sigma)$ with
    $\Sigma = (K^{-1} + \tilde S)^{-1}$, $\tilde S = \operatorname{diag}\tilde\tau$."""

    site_precision: Float[Array, " n"]
    r"""$\tilde\tau$."""
    site_natural_mean: Float[Array, " n"]
    r"""$\tilde\nu = \tilde\tau\tilde\mu$."""
    weights: Float[Array, " n"]
    r"""$b = (I + \tilde S K)^{-1}\tilde\nu$: the posterior mean is $K b$, predictive means
    $K_{*X} b$."""
    log_marginal_likelihood: Float[Array, ""]
    r"""$\log Z_{\mathrm{EP}}$ (R&W eq. 3.65)."""
    num_sweeps: Int[Array, ""]
    """Sweeps over the sites taken."""


class ClassMarginals(NamedTuple):
    """Gaussian marginals of a multiclass latent at each test point."""

    mean: Float[Array, "C m"]
    """Latent means, class-major."""
    covariance: Float[Array, "m C C"]
    """The covariance between the classes' latents at each test point."""


# --------------------------------------------------------------------------- checks, Gram


def _check_inputs(X, y, likelihood) -> Array:
    if not isinstance(likelihood, Likelihood):
        raise ValueError(
            "`likelihood` must be a jaxkern.gp likelihood (BernoulliLogit(), BernoulliProbit() "
            f"or Softmax(C)), got {type(likelihood).__name__}."
        )
    check_ndim("X", X, 2, "(n, d)")
    arr = concrete_or_none(X)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise ValueError(f"`X` must be finite, got {int(np.sum(~np.isfinite(arr)))} non-finite "
                         "entries.")
    y = check_labels(y, likelihood.num_classes)
    check_length("y", y, X.shape[0], "one label per row of X")
    return y


def _jitter(X, jitter):
    return default_jitter(X.dtype) if jitter is None else jitter


def _prior_gram(k, X, likelihood, jitter) -> Array:
    """K + jitter I, shape (n, n), or the class-major stack (C, n, n) for a multiclass likelihood.

    A multiclass `k` is one kernel shared by every class or a sequence of C kernels.
    """
    n = X.shape[0]
    eye = jnp.eye(n, dtype=X.dtype) * jnp.asarray(_jitter(X, jitter), X.dtype)
    many = isinstance(k, Sequence)
    if not likelihood.multiclass:
        if many:
            raise ValueError("`k` must be one kernel for a binary likelihood, got a sequence of "
                             f"{len(k)}.")
        return gram(k, X) + eye
    C = likelihood.num_classes
    if many:
        if len(k) != C:
            raise ValueError(f"`k` must be one kernel or {C} kernels (one per class), got "
                             f"{len(k)}.")
        return jnp.stack([gram(kc, X) for kc in k]) + eye[None]
    return jnp.broadcast_to(gram(k, X) + eye, (C, n, n))


def _kernels(k, likelihood) -> list:
    if likelihood.multiclass and not isinstance(k, Sequence):
        return [k] * likelihood.num_classes
    return list(k) if isinstance(k, Sequence) else [k]


# --------------------------------------------------------------------------- structures


def _binary_factor(K, w):
    """$W^{1/2}$, $L = \\operatorname{chol}(I + W^{1/2} K W^{1/2})$, $v \\mapsto (I + WK)^{-1}v$."""
    sw = jnp.sqrt(w)
    n = K.shape[0]
    L = jnp.linalg.cholesky(jnp.eye(n, dtype=K.dtype) + sw[:, None] * K * sw[None, :])

    def solve(v):
        return v - sw * jsl.cho_solve((L, True), sw * (K @ v))

    return sw, L, solve, jnp.sum(jnp.log(jnp.diagonal(L)))


def _multiclass_factor(K, pi):
    r"""R&W Algorithm 3.3's factors: $E_c$, $M = \operatorname{chol}(\sum_c E_c)$, the solve
    $v \mapsto (I + WK)^{-1} v$ and $\tfrac12\log\lvert I + KW\rvert$."""
    C, n = pi.shape
    sp = jnp.sqrt(pi)
    eye = jnp.eye(n, dtype=K.dtype)
    # One unbatched LAPACK call per class, not one batched call: jaxlib 0.10's batched CPU
    # kernels block on XLA:CPU's thread pool and can deadlock it (jaxkern/_xla_cpu.py).
    L = jnp.stack([jnp.linalg.cholesky(eye + sp[c, :, None] * K[c] * sp[c, None, :])
                   for c in range(C)])
    # E_c = D_c^1/2 (I + D_c^1/2 K_c D_c^1/2)^-1 D_c^1/2
    E = jnp.stack([sp[c, :, None] * jsl.cho_solve((L[c], True), jnp.diag(sp[c]))
                   for c in range(C)])
    M = jnp.linalg.cholesky(jnp.sum(E, axis=0))

    def solve(v):
        c = jnp.einsum("cij,cj->ci", E, jnp.einsum("cij,cj->ci", K, v))
        s = jsl.cho_solve((M, True), jnp.sum(c, axis=0))
        return v - c + jnp.einsum("cij,j->ci", E, s)

    half_logdet = jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1))) + jnp.sum(
        jnp.log(jnp.diagonal(M)))
    return E, M, solve, half_logdet


def _factor(K, f, y, likelihood):
    """Gradient g, curvature w (or pi), the (I + WK)^{-1} solve and half the log-determinant."""
    g, w = likelihood.derivatives(f, y)
    if likelihood.multiclass:
        _, _, solve, half_logdet = _multiclass_factor(K, w)
    else:
        _, _, solve, half_logdet = _binary_factor(K, w)
    return g, w, solve, half_logdet


def _w_times(f, w, multiclass):
    if not multiclass:
        return w * f
    return w * f - w * jnp.sum(w * f, axis=0, keepdims=True)


def _newton(K, y, likelihood, max_iter, tol):
    """R&W Algorithms 3.1 / 3.3: Newton's method for the mode, in a `lax.while_loop`."""
    multiclass = likelihood.multiclass
    shape = (likelihood.num_classes, y.shape[0]) if multiclass else y.shape
    f0 = jnp.zeros(shape, K.dtype)

    def body(state):
        f, it, _ = state
        g, w, solve, _ = _factor(K, f, y, likelihood)
        a = solve(_w_times(f, w, multiclass) + g)
        f_new = jnp.einsum("...ij,...j->...i", K, a)
        scale = 1 + jnp.max(jnp.abs(f_new))
        return f_new, it + 1, jnp.max(jnp.abs(f_new - f)) / scale

    def cond(state):
        _, it, delta = state
        # a non-finite step (failed factorisation) stops the loop: NaN > tol is False
        return (it < max_iter) & (delta > tol)

    init = (f0, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, K.dtype))
    f, it, _ = jax.lax.while_loop(cond, body, init)
    return f, it


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _mode(K, y, likelihood, max_iter, tol):
    return _newton(K, y, likelihood, max_iter, tol)


def _mode_fwd(K, y, likelihood, max_iter, tol):
    f, it = _newton(K, y, likelihood, max_iter, tol)
    return (f, it), (K, y, f)


def _mode_bwd(likelihood, max_iter, tol, residuals, cotangents):
    # Implicit function theorem on F(f, K) = f - K g(f) = 0 (g = grad log p, dg/df = -W):
    # (I + K W) df = dK g, so the cotangent of K is u g^T with u = (I + W K)^{-1} v.
    K, y, f = residuals
    v = cotangents[0]
    g, _, solve, _ = _factor(K, f, y, likelihood)
    u = solve(v)
    return u[..., :, None] * g[..., None, :], None


_mode.defvjp(_mode_fwd, _mode_bwd)


def _check_mode(f):
    return eqx.error_if(f, ~jnp.all(jnp.isfinite(f)),
                        "the Laplace mode is not finite: the Newton iteration failed; check the "
                        "kernel's hyperparameters and `jitter`.")


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _binary_laplace(K, y, likelihood, max_iter, tol):
    return _binary_laplace_fwd(K, y, likelihood, max_iter, tol)[0]


def _binary_laplace_fwd(K, y, likelihood, max_iter, tol):
    f, it = _newton(K, y, likelihood, max_iter, tol)
    f = _check_mode(f)
    g, w = likelihood.derivatives(f, y)
    sw, L, _, half_logdet = _binary_factor(K, w)
    lml = -0.5 * jnp.sum(f * g) + jnp.sum(likelihood.log_prob(f, y)) - half_logdet
    return (f, lml, it), (K, y, f, g, w, sw, L)


def _binary_laplace_bwd(likelihood, max_iter, tol, residuals, cotangents):
    # R&W Algorithm 5.1 written as one cotangent of K, so the Gram's own VJP carries it to the
    # hyperparameters. With R = W^1/2 B^-1 W^1/2 = (W^-1 + K)^-1 and a = K^-1 f = g at the mode,
    #   d lml / dK = 1/2 g g^T - 1/2 R + (s2 - R K s2) g^T   (explicit part, then the implicit
    #   one through W(f)), s2 = -1/2 diag((K^-1 + W)^-1) dW/df,
    # and a cotangent v of the mode adds u g^T with u = (I + W K)^-1 v (implicit function
    # theorem on f = K g(f)). B^-1 comes from two triangular solves; diag((K^-1 + W)^-1) =
    # (1 - diag B^-1) / W, since W^1/2 (K^-1 + W)^-1 W^1/2 = I - B^-1.
    K, y, f, g, w, sw, L = residuals
    f_bar, lml_bar, _ = cotangents
    n = K.shape[0]
    L_inv = jsl.solve_triangular(L, jnp.eye(n, dtype=K.dtype), lower=True)
    B_inv = jsl.solve_triangular(L.T, L_inv, lower=False)
    R = sw[:, None] * B_inv * sw[None, :]
    _, dw = jax.jvp(lambda f: likelihood.derivatives(f, y)[1], (f,), (jnp.ones_like(f),))
    # (1 - diag B^-1) carries a factor W, and so does dW/df for these likelihoods: the ratio
    # stays accurate where W is tiny, and is zero where W underflows to zero
    safe_w = jnp.where(w > 0, w, 1)
    s2 = -0.5 * (1 - jnp.diagonal(B_inv)) * jnp.where(w > 0, dw / safe_w, 0)
    t = lml_bar * (s2 - R @ (K @ s2))
    u = f_bar - sw * jsl.cho_solve((L, True), sw * (K @ f_bar))
    K_bar = lml_bar * (0.5 * g[:, None] * g[None, :] - 0.5 * R) + (t + u)[:, None] * g[None, :]
    return K_bar, None


_binary_laplace.defvjp(_binary_laplace_fwd, _binary_laplace_bwd)


def _laplace_from_gram(K, y, likelihood, max_iter, tol) -> LaplaceApproximation:
    if not likelihood.multiclass:
        f, lml, it = _binary_laplace(K, y, likelihood, max_iter, tol)
        g, w = likelihood.derivatives(f, y)
        return LaplaceApproximation(f, g, w, lml, it)
    f, it = _mode(K, y, likelihood, max_iter, tol)
    f = _check_mode(f)
    g, w, _, half_logdet = _factor(K, f, y, likelihood)
    # On the mode, K^{-1} f = g, so this equals -1/2 f^T K^{-1} f + log p(y|f) - 1/2 log|B| as a
    # function of K; its gradient through the implicit mode is the total derivative
    # (R&W eqs. 5.22-5.23).
    lml = -0.5 * jnp.sum(f * g) + jnp.sum(likelihood.log_prob(f, y)) - half_logdet
    return LaplaceApproximation(f, g, w, lml, it)


def _default_tol(X, tol):
    return float(math.sqrt(jnp.finfo(X.dtype).eps)) if tol is None else tol


def laplace(
    k: Any,
    X: Float[Array, "n d"],
    y: Int[Array, " n"],
    *,
    likelihood: Likelihood | None = None,
    jitter: float | None = None,
    max_iter: int = 100,
    tol: float | None = None,
) -> LaplaceApproximation:
    r"""The Laplace approximation of a GP classifier's posterior, and its log marginal likelihood.

    Newton's method (R&W Algorithm 3.1, binary; 3.3, multiclass) finds the mode $\hat f$ of
    $\Psi(f) = \log p(y \mid f) - \tfrac12 f^\top K^{-1} f$:
    $$f \leftarrow K (I + W K)^{-1}(W f + \nabla\log p(y \mid f)),$$
    with the inverse formed through $B = I + W^{1/2} K W^{1/2} = L L^\top$ (binary) or through
    the $E_c$, $M$ factors of Algorithm 3.3 (multiclass), until
    $\max_i \lvert\Delta f_i\rvert \le \text{tol}\,(1 + \max_i\lvert f_i\rvert)$. The
    approximate log marginal likelihood is
    $$\log q(y \mid X, \theta) = -\tfrac12 \hat f^\top K^{-1}\hat f + \log p(y \mid \hat f)
      - \tfrac12 \log\lvert I + K W\rvert.$$
    Its gradient in the kernel's hyperparameters is exact for the converged mode: the mode is a
    `custom_vjp` whose backward pass solves $(I + W K) u = \bar f$ (implicit function theorem on
    $\hat f = K\nabla\log p(y \mid \hat f)$), which reproduces R&W eqs. (5.22)-(5.23) including
    the implicit term through $W(\hat f)$; nothing is differentiated through the loop.

    **Arguments:**

    - `k`: a kernel (module or partial); for `Softmax(C)`, one kernel shared by the classes or
      a sequence of C kernels.
    - `X`: training inputs, shape (n, d), finite.
    - `y`: labels, shape (n,): {0, 1} for the Bernoulli likelihoods, {0, ..., C-1} for softmax.
    - `likelihood`: `BernoulliLogit()` (default), `BernoulliProbit()` or `Softmax(C)`.
    - `jitter`: added to $K$'s diagonal; dtype-dependent default (1e-10 in float64).
    - `max_iter`: the most Newton steps.
    - `tol`: relative step size at which to stop; default $\sqrt{\epsilon}$ of the dtype.

    **Returns:** a [`LaplaceApproximation`][jaxkern.gp.LaplaceApproximation]; its
    `log_marginal_likelihood` is differentiable in the kernel's hyperparameters.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import laplace
        >>> X = jnp.linspace(-2, 2, 6)[:, None]
        >>> approx = laplace(RBF(), X, jnp.array([0, 0, 0, 1, 1, 1]))
        >>> [round(v, 3) for v in approx.mode[:3].tolist()], int(approx.num_iterations) <= 6
        ([-0.665, -0.737, -0.335], True)

    Rasmussen & Williams (2006), *Gaussian Processes for Machine Learning*, Algorithms 3.1, 3.3
    and 5.1.
    """
    likelihood = BernoulliLogit() if likelihood is None else likelihood
    y = _check_inputs(X, y, likelihood)
    check_int("max_iter", max_iter, 1)
    K = _prior_gram(k, X, likelihood, jitter)
    return _laplace_from_gram(K, y, likelihood, max_iter, _default_tol(X, tol))


def laplace_log_marginal_likelihood(
    k: Any,
    X: Float[Array, "n d"],
    y: Int[Array, " n"],
    *,
    likelihood: Likelihood | None = None,
    jitter: float | None = None,
    max_iter: int = 100,
    tol: float | None = None,
) -> Float[Array, ""]:
    r"""The Laplace approximation's log marginal likelihood $\log q(y \mid X, \theta)$.

    The `log_marginal_likelihood` field of [`laplace`][jaxkern.gp.laplace] (see there for the
    maths and the arguments); its gradient in the kernel's hyperparameters comes from the
    implicit function theorem, not from the Newton loop.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import laplace_log_marginal_likelihood
        >>> X = jnp.linspace(-2, 2, 6)[:, None]
        >>> y = jnp.array([0, 0, 1, 0, 1, 1])
        >>> g = jax.grad(lambda k: laplace_log_marginal_likelihood(k, X, y))(RBF())
        >>> bool(jnp.isfinite(g.lengthscale))
        True

    Rasmussen & Williams (2006), Algorithm 5.1.
    """
    return laplace(k, X, y, likelihood=likelihood, jitter=jitter, max_iter=max_iter,
                   tol=tol).log_marginal_likelihood


# --------------------------------------------------------------------------- EP


def _probit_tilted(y_sign, tau_c, nu_c):
    """Moments of Phi(s f) N(f | nu_c / tau_c, 1 / tau_c) (R&W eq. 3.58): log Z, mean, variance."""
    var_c = 1 / tau_c
    mu_c = nu_c * var_c
    root = jnp.sqrt(1 + var_c)
    z = y_sign * mu_c / root
    log_z = jss.log_ndtr(z)
    ratio = jnp.exp(-0.5 * z * z - _LOG_SQRT_2PI - log_z)  # N(z) / Phi(z)
    mean = mu_c + y_sign * var_c * ratio / root
    var = var_c - var_c * var_c * ratio / (1 + var_c) * (z + ratio)
    return log_z, mean, var


def _ep_recompute(K, tau, nu):
    """Sigma = (K^-1 + S)^-1 and mu = Sigma nu through L = chol(I + S^1/2 K S^1/2) (Alg. 3.5)."""
    n = K.shape[0]
    st = jnp.sqrt(tau)
    L = jnp.linalg.cholesky(jnp.eye(n, dtype=K.dtype) + st[:, None] * K * st[None, :])
    V = jsl.solve_triangular(L, st[:, None] * K, lower=True)
    Sigma = K - V.T @ V
    return Sigma, Sigma @ nu, L


def _ep_sweep(K, y_sign, tau, nu, Sigma, mu):
    tiny = jnp.finfo(K.dtype).eps

    def site(carry, i):
        tau, nu, Sigma, mu = carry
        sii = Sigma[i, i]
        tau_c = 1 / sii - tau[i]
        nu_c = mu[i] / sii - nu[i]
        _, mean, var = _probit_tilted(y_sign[i], tau_c, nu_c)
        new_tau = jnp.maximum(1 / var - tau_c, tiny)  # log-concave sites: tau >= 0 up to rounding
        d_tau = new_tau - tau[i]
        tau = tau.at[i].set(new_tau)
        nu = nu.at[i].set(mean / var - nu_c)
        s = Sigma[:, i]
        Sigma = Sigma - (d_tau / (1 + d_tau * sii)) * jnp.outer(s, s)
        mu = Sigma @ nu
        return (tau, nu, Sigma, mu), None

    (tau, nu, _, _), _ = jax.lax.scan(site, (tau, nu, Sigma, mu), jnp.arange(K.shape[0]))
    return tau, nu


def _ep_sites(K, y_sign, max_sweeps, tol):
    n = K.shape[0]
    zeros = jnp.zeros((n,), K.dtype)

    def body(state):
        tau, nu, it, _ = state
        Sigma, mu, _ = _ep_recompute(K, tau, nu)
        new_tau, new_nu = _ep_sweep(K, y_sign, tau, nu, Sigma, mu)
        delta = jnp.maximum(jnp.max(jnp.abs(new_tau - tau)), jnp.max(jnp.abs(new_nu - nu)))
        return new_tau, new_nu, it + 1, delta

    def cond(state):
        _, _, it, delta = state
        return (it < max_sweeps) & (delta > tol)

    init = (zeros, zeros, jnp.asarray(0, jnp.int32), jnp.asarray(jnp.inf, K.dtype))
    tau, nu, it, _ = jax.lax.while_loop(cond, body, init)
    return tau, nu, it


def _ep_from_gram(K, y, max_sweeps, tol) -> EPApproximation:
    y_sign = (2 * y - 1).astype(K.dtype)
    stop = jax.lax.stop_gradient
    tau, nu, it = _ep_sites(stop(K), y_sign, max_sweeps, tol)
    tau = eqx.error_if(tau, ~jnp.all(jnp.isfinite(tau) & jnp.isfinite(nu)),
                       "EP's site parameters are not finite; check the kernel's hyperparameters "
                       "and `jitter`.")
    # Cavities of the final posterior (held fixed: at an EP fixed point log Z_EP is stationary
    # in the site parameters, so only the explicit K terms carry the gradient, R&W eq. 5.27).
    Sigma, mu, _ = _ep_recompute(stop(K), tau, nu)
    sii = jnp.diagonal(Sigma)
    tau_c = 1 / sii - tau
    nu_c = mu / sii - nu
    mu_c = nu_c / tau_c
    log_z, _, _ = _probit_tilted(y_sign, tau_c, nu_c)
    # R&W Algorithm 3.6 (eq. 3.65), term by term.
    n = K.shape[0]
    st = jnp.sqrt(tau)
    L = jnp.linalg.cholesky(jnp.eye(n, dtype=K.dtype) + st[:, None] * K * st[None, :])
    Knu = K @ nu
    v = jsl.solve_triangular(L, st * Knu, lower=True)
    quad = nu @ Knu - v @ v  # nu^T (K - K S^1/2 B^-1 S^1/2 K) nu
    fixed = (0.5 * jnp.sum(jnp.log1p(tau / tau_c)) - 0.5 * jnp.sum(nu * nu / (tau_c + tau))
             + 0.5 * jnp.sum(mu_c * tau_c / (tau + tau_c) * (tau * mu_c - 2 * nu))
             + jnp.sum(log_z))
    lml = stop(fixed) + 0.5 * quad - jnp.sum(jnp.log(jnp.diagonal(L)))
    weights = nu - st * jsl.cho_solve((L, True), st * Knu)
    return EPApproximation(tau, nu, weights, lml, it)


def expectation_propagation(
    k: Any,
    X: Float[Array, "n d"],
    y: Int[Array, " n"],
    *,
    jitter: float | None = None,
    max_sweeps: int = 100,
    tol: float | None = None,
) -> EPApproximation:
    r"""Expectation propagation for binary GP classification with the probit likelihood.

    Each site $t_i(f_i) = \tilde Z_i\,\mathcal N(f_i \mid \tilde\mu_i, \tilde\tau_i^{-1})$ is
    updated in turn so that cavity times site matches the moments of cavity times
    $\Phi(s_i f_i)$ (R&W eq. 3.58), with a rank-one update of $\Sigma$ after each site and a
    fresh $\Sigma = K - K\tilde S^{1/2} B^{-1}\tilde S^{1/2} K$, $B = I + \tilde S^{1/2} K
    \tilde S^{1/2}$, after each sweep (Algorithm 3.5); sweeps stop when no site parameter moved by
    more than `tol`. The log marginal likelihood is $\log Z_{\mathrm{EP}}$ (Algorithm 3.6, eq.
    3.65); its gradient in the kernel's hyperparameters is R&W eq. (5.27),
    $\tfrac12\operatorname{tr}\bigl((bb^\top - \tilde S^{1/2}B^{-1}\tilde S^{1/2})
    \partial K/\partial\theta\bigr)$, exact at the EP fixed point (the sites are held fixed;
    nothing is differentiated through the sweeps).

    **Arguments:**

    - `k`: a kernel (module or partial).
    - `X`: training inputs, shape (n, d), finite.
    - `y`: labels in {0, 1}, shape (n,).
    - `jitter`: added to $K$'s diagonal; dtype-dependent default.
    - `max_sweeps`: the most sweeps over the sites.
    - `tol`: the largest change of $\tilde\tau$, $\tilde\nu$ over a sweep at which to stop;
      default $\sqrt{\epsilon}$ of the dtype.

    **Returns:** an [`EPApproximation`][jaxkern.gp.EPApproximation].

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import expectation_propagation
        >>> X = jnp.linspace(-2, 2, 6)[:, None]
        >>> ep = expectation_propagation(RBF(), X, jnp.array([0, 0, 1, 0, 1, 1]))
        >>> round(float(ep.log_marginal_likelihood), 4)
        -4.5079

    Rasmussen & Williams (2006), Algorithms 3.5 and 3.6; Minka (2001).
    """
    likelihood = BernoulliProbit()
    y = _check_inputs(X, y, likelihood)
    check_int("max_sweeps", max_sweeps, 1)
    K = _prior_gram(k, X, likelihood, jitter)
    return _ep_from_gram(K, y, max_sweeps, _default_tol(X, tol))


def ep_log_marginal_likelihood(
    k: Any,
    X: Float[Array, "n d"],
    y: Int[Array, " n"],
    *,
    jitter: float | None = None,
    max_sweeps: int = 100,
    tol: float | None = None,
) -> Float[Array, ""]:
    r"""$\log Z_{\mathrm{EP}}$ of [`expectation_propagation`][jaxkern.gp.expectation_propagation]
    (see there), differentiable in the kernel's hyperparameters (R&W eq. 5.27).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import ep_log_marginal_likelihood
        >>> X = jnp.linspace(-2, 2, 6)[:, None]
        >>> y = jnp.array([0, 0, 1, 0, 1, 1])
        >>> g = jax.grad(lambda k: ep_log_marginal_likelihood(k, X, y))(RBF())
        >>> bool(jnp.isfinite(g.variance))
        True

    Rasmussen & Williams (2006), Algorithm 3.6 and eq. (5.27).
    """
    return expectation_propagation(k, X, y, jitter=jitter, max_sweeps=max_sweeps,
                                   tol=tol).log_marginal_likelihood


# --------------------------------------------------------------------------- prediction


def latent_predict(
    k: Any,
    X: Float[Array, "n d"],
    approx: LaplaceApproximation | EPApproximation,
    X_test: Float[Array, "m d"],
    *,
    jitter: float | None = None,
) -> Marginals | ClassMarginals:
    r"""The approximate posterior of the latent function at test inputs.

    Binary (Laplace or EP, site precisions $\tilde W$ and weights $\alpha$):
    $$\mu_* = K_{X*}^\top\alpha, \qquad \sigma_*^2 = k(x_*, x_*) - v^\top v, \quad
      v = L^{-1}\tilde W^{1/2} K_{X*}, \quad L L^\top = I + \tilde W^{1/2} K\tilde W^{1/2}$$
    (R&W Algorithms 3.2 and 3.6). Multiclass Laplace (Algorithm 3.4): $\mu_{*c} =
    k_{c*}^\top(y_c - \pi_c)$ and $\Sigma_{*cc'} = \delta_{cc'}(k_c(x_*, x_*) - k_{c*}^\top
    E_c k_{c*}) + k_{c*}^\top E_c M^{-\top}M^{-1}E_{c'}k_{c'*}$. The cost is linear in the
    number of test points.

    **Arguments:**

    - `k`, `X`: the kernel(s) and training inputs of `approx`.
    - `approx`: from [`laplace`][jaxkern.gp.laplace] or
      [`expectation_propagation`][jaxkern.gp.expectation_propagation].
    - `X_test`: test inputs, shape (m, d).
    - `jitter`: as used for `approx`.

    **Returns:** [`Marginals`][jaxkern.Marginals] of shape (m,) (binary) or
    [`ClassMarginals`][jaxkern.gp.ClassMarginals] (multiclass).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import laplace, latent_predict
        >>> X = jnp.linspace(-2, 2, 6)[:, None]
        >>> approx = laplace(RBF(), X, jnp.array([0, 0, 0, 1, 1, 1]))
        >>> post = latent_predict(RBF(), X, approx, jnp.array([[-3.0], [3.0]]))
        >>> [round(v, 3) for v in post.mean.tolist()]
        [-0.283, 0.283]
    """
    check_ndim("X", X, 2, "(n, d)")
    check_ndim("X_test", X_test, 2, "(m, d)")
    check_same_last_dim("X", X, "X_test", X_test)
    multiclass = approx.weights.ndim == 2
    if multiclass:
        C = approx.weights.shape[0]
        kernels = list(k) if isinstance(k, Sequence) else [k] * C
        if len(kernels) != C:
            raise ValueError(f"`k` must be one kernel or {C} kernels, got {len(kernels)}.")
    elif isinstance(k, Sequence):
        raise ValueError("`k` must be one kernel for a binary approximation.")
    else:
        kernels = [k]
    n = X.shape[0]
    check_length("approx.weights", approx.weights.T, n, "one per training point")
    eye = jnp.eye(n, dtype=X.dtype) * jnp.asarray(_jitter(X, jitter), X.dtype)
    Ks = jnp.stack([gram(kc, X, X_test) for kc in kernels])  # (C, n, m)
    kss = jnp.stack([gram_diag(kc, X_test) for kc in kernels])  # (C, m)
    if not multiclass:
        K = gram(k, X) + eye
        sw, L, _, _ = _binary_factor(K, approx.site_precision)
        V = jsl.solve_triangular(L, sw[:, None] * Ks[0], lower=True)
        return Marginals(Ks[0].T @ approx.weights, jnp.maximum(kss[0] - jnp.sum(V * V, 0), 0))
    K = jnp.stack([gram(kc, X) for kc in kernels]) + eye[None]
    E, M, _, _ = _multiclass_factor(K, approx.site_precision)
    mean = jnp.einsum("cnm,cn->cm", Ks, approx.weights)
    B = jnp.einsum("cij,cjm->cim", E, Ks)  # E_c k_c*
    C, n, m = B.shape
    S = jsl.solve_triangular(M, jnp.moveaxis(B, 0, 1).reshape(n, C * m), lower=True)
    S = jnp.moveaxis(S.reshape(n, C, m), 1, 0)  # one call for all classes (as above)
    cov = jnp.einsum("cim,dim->mcd", S, S)
    diag = kss - jnp.sum(Ks * B, axis=1)  # (C, m)
    cov = cov + jax.vmap(jnp.diag)(diag.T)
    return ClassMarginals(mean, cov)


def predict_proba(
    likelihood: Likelihood,
    marginals: Marginals | ClassMarginals,
    *,
    key: PRNGKeyArray | None = None,
    num_samples: int = 1000,
) -> Array:
    r"""Predictive class probabilities $\int p(y_* \mid f_*)\, q(f_*)\, df_*$ of Gaussian latents.

    Probit: $\Phi(\mu_*/\sqrt{1 + \sigma_*^2})$ exactly (R&W eq. 3.82); logit: trapezoid
    quadrature of $\sigma(f)$ in the standardised latent (401 nodes, about 1e-14 for
    $\sigma_*^2 \le 100$); softmax: Monte Carlo over `num_samples` draws
    (R&W Algorithm 3.4; needs `key`).

    **Arguments:**

    - `likelihood`: the classifier's likelihood.
    - `marginals`: from [`latent_predict`][jaxkern.gp.latent_predict] (or any Gaussian
      marginals, e.g. a variational posterior's).
    - `key`, `num_samples`: for the softmax's Monte Carlo average.

    **Returns:** $P(y_* = 1)$, shape (m,), for a binary likelihood; class probabilities of
    shape (C, m) for softmax.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern import Marginals
        >>> from jaxkern.gp import BernoulliLogit, predict_proba
        >>> p = predict_proba(BernoulliLogit(), Marginals(jnp.array([0.0, 2.0]), jnp.ones(2)))
        >>> [round(v, 4) for v in p.tolist()]
        [0.5, 0.8445]
    """
    if not isinstance(likelihood, Likelihood):
        raise ValueError(f"`likelihood` must be a jaxkern.gp likelihood, got "
                         f"{type(likelihood).__name__}.")
    if likelihood.multiclass:
        if not isinstance(marginals, ClassMarginals):
            raise ValueError("`marginals` must be ClassMarginals for a softmax likelihood.")
        if key is None:
            raise ValueError("`key` is needed for the softmax's Monte Carlo average.")
        return likelihood.predict(marginals.mean, marginals.covariance, key=key,
                                  num_samples=num_samples)
    if isinstance(marginals, ClassMarginals):
        raise ValueError("`marginals` are multiclass but `likelihood` is binary.")
    return likelihood.predict(marginals.mean, marginals.variance)



# --------------------------------------------------------------------------- fitting


class ClassifierFitResult(NamedTuple):
    """The fitted kernel, with the fit's record under the names every fit in jaxkern uses."""

    kernel: Any
    losses: np.ndarray
    """Negative approximate log marginal likelihood before each step (NumPy)."""
    num_steps: int
    """Steps taken."""
    converged: bool
    """Whether the fit stopped early (`tol` reached or no step accepted); see `message`."""
    message: str
    """Why the fit stopped."""


def fit_classifier(
    k: Any,
    X: Float[Array, "n d"],
    y: Int[Array, " n"],
    *,
    likelihood: Likelihood | None = None,
    method: str = "laplace",
    num_steps: int = 100,
    optimizer: Any = None,
    trainable: Any = eqx.is_inexact_array,
    jitter: float | None = None,
    tol: float | None = 1e-9,
    chunk_size: int = 25,
    progress: bool = False,
) -> ClassifierFitResult:
    r"""Fit a GP classifier's kernel hyperparameters by maximising the approximate evidence.

    $$\min_u\; -\log q(y \mid X, \theta(u)),$$
    with $\log q$ the Laplace ([`laplace`][jaxkern.gp.laplace]) or EP
    ([`expectation_propagation`][jaxkern.gp.expectation_propagation]) approximation and $u$ the
    unconstrained hyperparameters each kernel declares (log scale for positive ones), run by
    [`jaxkern.optim.minimize`][jaxkern.optim.minimize] (compiled chunks, progress, early stop).
    The gradient of each evaluation is the implicit one (no differentiation through Newton
    steps or EP sweeps).

    **Arguments:**

    - `k`: a kernel module (for `Softmax(C)`, one shared kernel or a tuple of C kernels).
    - `X`, `y`: training inputs (n, d) and labels (n,).
    - `likelihood`: `BernoulliLogit()` (default), `BernoulliProbit()` or `Softmax(C)`.
    - `method`: `"laplace"` or `"ep"` (EP needs the probit likelihood).
    - `num_steps`: the most optimiser steps.
    - `optimizer`: any optax transformation; default `optax.lbfgs()` (with its line search).
    - `trainable`: an equinox filter choosing the kernel leaves to fit.
    - `jitter`: added to $K$'s diagonal; dtype-dependent default.
    - `tol`: stop when the loss moves by at most this, relatively, between steps.
    - `chunk_size`: steps per compiled chunk.
    - `progress`: print a progress line to stderr.

    **Returns:** a [`ClassifierFitResult`][jaxkern.gp.ClassifierFitResult].

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import fit_classifier
        >>> X = jnp.linspace(-2, 2, 8)[:, None]
        >>> y = jnp.array([0, 0, 0, 1, 0, 1, 1, 1])
        >>> result = fit_classifier(RBF(), X, y, num_steps=20)
        >>> bool(result.losses[-1] < result.losses[0])
        True

    Rasmussen & Williams (2006), sections 3.4.4 and 5.5.
    """
    import optax

    from ..optim import constrain, minimize, unconstrain

    likelihood = BernoulliLogit() if likelihood is None else likelihood
    if method not in ("laplace", "ep"):
        raise ValueError(f"`method` must be 'laplace' or 'ep', got {method!r}.")
    if method == "ep" and not isinstance(likelihood, BernoulliProbit):
        raise ValueError("`method='ep'` needs `likelihood=BernoulliProbit()`, got "
                         f"{type(likelihood).__name__}.")
    y = _check_inputs(X, y, likelihood)
    raw, frozen = unconstrain(k, trainable)
    inner_tol = _default_tol(X, None)

    def loss(raw):
        K = _prior_gram(constrain(raw, frozen), X, likelihood, jitter)
        if method == "ep":
            return -_ep_from_gram(K, y, 100, inner_tol).log_marginal_likelihood
        return -_laplace_from_gram(K, y, likelihood, 100, inner_tol).log_marginal_likelihood

    result = minimize(
        loss,
        raw,
        optimizer=optax.lbfgs() if optimizer is None else optimizer,
        num_steps=num_steps,
        tol=tol,
        chunk_size=chunk_size,
        progress=progress,
        accept="decrease",
        description=f"gp.fit_classifier ({method})",
    )
    return ClassifierFitResult(constrain(result.params, frozen), result.losses,
                               result.num_steps, result.converged, result.message)
