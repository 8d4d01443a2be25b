r"""Pathwise (decoupled) posterior samples of GP classifiers: a random-feature prior plus an update.

Matheron's rule writes a posterior sample as a prior sample corrected by the data,
$$f_*(\cdot) = f(\cdot) + K_{\cdot X}\, v, \qquad f \sim \mathcal{GP}(0, k),$$
where the prior function $f$ is drawn with random Fourier features
(`jaxkern.features.fourier_features`) and $v$ is an $n$- (or $M$-) vector solved once per
sample. Evaluating a sample at $m$ test points then costs $O(m(F + n))$: linear in $m$, with no
$m \times m$ covariance or its Cholesky factor.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_int, check_ndim, check_same_last_dim, default_jitter
from ..features import fourier_features, spectral_frequencies
from ..kernels import ScaledKernel, gram
from ..linalg import jittered_cholesky
from ._classification import EPApproximation, LaplaceApproximation, _binary_factor
from ._variational import VariationalFitResult


def _spectral_parts(k):
    """(spectrum name, lengthscale, variance) of a stationary kernel, asked of the kernel."""
    base, scale = k, None
    if isinstance(k, ScaledKernel):
        base, scale = k.kernel, k.scale
    spectrum = getattr(type(base), "spectrum", None)
    if spectrum is None or not hasattr(base, "lengthscale") or not hasattr(base, "variance"):
        raise ValueError(
            "`k` must be a stationary kernel that declares its spectral density (RBF, Matern12, "
            "Matern32, Matern52, or a ScaledKernel of one) for random-feature prior samples, "
            f"got {type(k).__name__}."
        )
    variance = base.variance if scale is None else scale * base.variance
    return spectrum, base.lengthscale, variance


def pathwise_samples(
    k: Any,
    X: Float[Array, "n d"],
    approx: LaplaceApproximation | EPApproximation | VariationalFitResult,
    X_test: Float[Array, "m d"],
    *,
    key: PRNGKeyArray,
    num_samples: int = 100,
    num_features: int = 512,
    jitter: float | None = None,
) -> Float[Array, "s m"]:
    r"""Posterior samples of the latent function at `X_test` by decoupled (pathwise) sampling.

    For a Gaussian posterior with site precisions $\tilde W$ (Laplace: $W$; EP: $\tilde\tau$)
    and mean weights $\alpha$, Matheron's rule with pseudo-noise $\tilde W^{-1}$ gives
    $$f_* = K_{*X}\alpha + f(X_*) - K_{*X}\tilde W^{1/2} B^{-1}\bigl(\tilde W^{1/2} f(X) +
      \varepsilon\bigr), \quad B = I + \tilde W^{1/2} K \tilde W^{1/2},\ \varepsilon \sim
      \mathcal N(0, I),$$
    whose law is $\mathcal N(\mu_*, K_{**} - K_{*X}(K + \tilde W^{-1})^{-1}K_{X*})$ when $f$
    is an exact prior draw. For a whitened variational posterior over inducing values at $Z$
    ($Z = X$ for the full VGP),
    $$f_* = f(X_*) + K_{*Z}K_{ZZ}^{-1}\bigl(L_Z(m + L_S\varepsilon) - f(Z)\bigr).$$
    The prior $f(x) = \phi(x)^\top w$, $w \sim \mathcal N(0, I)$, uses `num_features` random
    Fourier frequencies of the kernel's spectral density, drawn afresh for each sample, so the
    samples' mean and covariance equal the posterior's exactly (the random-feature error
    averages out over the frequency draws; each single path is a random-feature function).

    **Arguments:**

    - `k`: the kernel of `approx`: RBF, Matérn-1/2, 3/2, 5/2, or a `ScaledKernel` of one.
    - `X`: training inputs, shape (n, d).
    - `approx`: a binary [`laplace`][jaxkern.gp.laplace] or
      [`expectation_propagation`][jaxkern.gp.expectation_propagation] result, or a
      [`fit_variational`][jaxkern.gp.fit_variational] result (VGP or SVGP).
    - `X_test`: test inputs, shape (m, d).
    - `key`: PRNG key.
    - `num_samples`: sample paths.
    - `num_features`: random frequencies per path ($2F$ features).
    - `jitter`: as used for `approx`.

    **Returns:** latent samples, shape (num_samples, m).

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import laplace, pathwise_samples
        >>> X = jnp.linspace(-2, 2, 6)[:, None]
        >>> approx = laplace(RBF(), X, jnp.array([0, 0, 0, 1, 1, 1]))
        >>> s = pathwise_samples(RBF(), X, approx, jnp.zeros((4, 1)), key=jax.random.key(0),
        ...                      num_samples=8)
        >>> s.shape
        (8, 4)

    Wilson, Borovitskiy, Terenin, Mostowsky & Deisenroth, *Efficiently Sampling Functions from
    Gaussian Process Posteriors*, ICML 2020; paper #43 (GP classification with pathwise
    posterior samples over random features).
    """
    check_ndim("X", X, 2, "(n, d)")
    check_ndim("X_test", X_test, 2, "(m, d)")
    check_same_last_dim("X", X, "X_test", X_test)
    check_int("num_samples", num_samples, 1)
    check_int("num_features", num_features, 1)
    spectrum, lengthscale, variance = _spectral_parts(k)
    dtype = X.dtype
    jitter = default_jitter(dtype) if jitter is None else jitter
    variational = isinstance(approx, VariationalFitResult)
    if variational:
        inputs = X if approx.inducing is None else approx.inducing
    elif isinstance(approx, LaplaceApproximation | EPApproximation):
        if approx.weights.ndim != 1:
            raise ValueError("`approx` must be a binary approximation; multiclass pathwise "
                             "sampling is not implemented.")
        inputs = X
    else:
        raise ValueError("`approx` must be a LaplaceApproximation, EPApproximation or "
                         f"VariationalFitResult, got {type(approx).__name__}.")
    n = inputs.shape[0]
    K = gram(k, inputs) + jitter * jnp.eye(n, dtype=dtype)
    K_cross = gram(k, X_test, inputs)  # (m, n)
    d = X.shape[1]

    def prior(key):
        kf, kw = jax.random.split(key)
        W = spectral_frequencies(d, key=kf, num_features=num_features, spectrum=spectrum,
                                 dtype=dtype)
        w = jax.random.normal(kw, (2 * num_features,), dtype)
        feats = [fourier_features(Z, W, lengthscale=lengthscale, variance=variance)
                 for Z in (inputs, X_test)]
        return feats[0] @ w, feats[1] @ w

    keys = jax.random.split(key, (num_samples, 2))
    prior_in, prior_test = jax.vmap(lambda kk: prior(kk[0]))(keys)  # (s, n), (s, m)
    eps = jax.vmap(lambda kk: jax.random.normal(kk[1], (n,), dtype))(keys)  # (s, n)
    if variational:
        Lz = jittered_cholesky(K, jitter=0.0)
        u = (approx.q_mean[None, :] + eps @ jnp.tril(approx.q_sqrt).T) @ Lz.T  # (s, n)
        V = jsl.cho_solve((Lz, True), (u - prior_in).T)  # (n, s)
        return prior_test + (K_cross @ V).T
    sw, L, _, _ = _binary_factor(K, approx.site_precision)
    V = -sw[:, None] * jsl.cho_solve((L, True), (sw[None, :] * prior_in + eps).T)  # (n, s)
    mean = K_cross @ approx.weights
    return mean[None, :] + prior_test + (K_cross @ V).T
