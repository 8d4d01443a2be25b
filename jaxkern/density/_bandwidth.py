r"""Bandwidth rules: Scott, Silverman, leave-one-out likelihood, improved Sheather–Jones."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optimistix as optx
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int, check_ndim, check_positive, warn_deprecated
from ..optim import minimize
from ._kde import _check_finite, _kernel_name, loo_log_likelihood


def _covariance(data: Array) -> Array:
    centred = data - jnp.mean(data, axis=0, keepdims=True)
    return centred.T @ centred / (data.shape[0] - 1)


def _shrunk_covariance(data, factor) -> Array:
    """`factor(n, d)` times the sample covariance: the form of every rule-of-thumb matrix."""
    _check_sample(data)
    data = _check_finite("data", data)
    return factor(*data.shape) * _covariance(data)


def _check_sample(data) -> None:
    check_ndim("data", data, 2, "(n, d)")
    if data.shape[0] < 2:
        raise ValueError(f"`data` needs at least two points, got shape {data.shape}.")


def scott_bandwidth_matrix(data: Float[Array, "n d"]) -> Float[Array, "d d"]:
    r"""Scott's rule: the sample covariance shrunk by $n^{-2/(d+4)}$, as a bandwidth matrix.

    $$H = n^{-2/(d+4)}\, \hat\Sigma,$$
    a (d, d) covariance (variance units) for `bandwidth_matrix=` of
    [`kde_log_density`][jaxkern.density.kde_log_density] (the same matrix as
    `scipy.stats.gaussian_kde(data.T).covariance`). Near-optimal for Gaussian data and a
    Gaussian kernel; it oversmooths multimodal data.

    **Widths:** `jnp.sqrt(jnp.diagonal(H))` are the per-dimension widths
    $h_i = c\,\hat\sigma_i$ ($c^2$ the factor above) of the same rule, for `bandwidth=`
    (a diagonal $H$). They equal `bandwidth_matrix=H` only when the sample covariance is
    diagonal (always for d = 1); otherwise the full $H$ also follows the correlations, and
    the two estimates differ.

    **Arguments:**

    - `data`: the sample, shape (n, d), n >= 2.

    **Returns:** $H$, shape (d, d).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.density import scott_bandwidth_matrix
        >>> H = scott_bandwidth_matrix(jnp.array([[0.0], [1.0], [2.0], [3.0]]))
        >>> round(float(H[0, 0]), 6)
        0.957249
        >>> round(float(jnp.sqrt(H[0, 0])), 6)  # the width h, for bandwidth=
        0.978391

    Scott, *Multivariate Density Estimation* (1992), eq. 6.42.
    """
    return _shrunk_covariance(data, lambda n, d: n ** (-2.0 / (d + 4)))


def silverman_bandwidth_matrix(data: Float[Array, "n d"]) -> Float[Array, "d d"]:
    r"""Silverman's rule: the sample covariance shrunk by $(n(d+2)/4)^{-2/(d+4)}$, as a matrix.

    $$H = \Big(\frac{n (d + 2)}{4}\Big)^{-2/(d+4)} \hat\Sigma,$$
    the AMISE-optimal Gaussian bandwidth matrix when the data are Gaussian (the matrix
    `scipy.stats.gaussian_kde(data.T, bw_method="silverman").covariance`), for
    `bandwidth_matrix=` of [`kde_log_density`][jaxkern.density.kde_log_density]. Its widths
    for `bandwidth=` are `jnp.sqrt(jnp.diagonal(H))`, with the caveat given for
    [`scott_bandwidth_matrix`][jaxkern.density.scott_bandwidth_matrix].

    **Arguments:**

    - `data`: the sample, shape (n, d), n >= 2.

    **Returns:** $H$, shape (d, d).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.density import silverman_bandwidth_matrix
        >>> H = silverman_bandwidth_matrix(jnp.array([[0.0], [1.0], [2.0], [3.0]]))
        >>> round(float(H[0, 0]), 6)
        1.07399

    Silverman, *Density Estimation for Statistics and Data Analysis* (1986), eq. 4.14.
    """
    return _shrunk_covariance(data, lambda n, d: (n * (d + 2) / 4.0) ** (-2.0 / (d + 4)))


def _deprecated_matrix_rule(old: str, new: str) -> None:
    warn_deprecated(
        f"`{old}`", f"`{new}` (pass its result as `bandwidth_matrix=`)",
        why="It returns the covariance matrix H; in jaxkern.density `bandwidth` always means "
            "the width h, a standard deviation.",
    )


def scott_bandwidth(data: Float[Array, "n d"]) -> Float[Array, "d d"]:
    r"""Deprecated alias of [`scott_bandwidth_matrix`][jaxkern.density.scott_bandwidth_matrix].

    Returns the same (d, d) covariance matrix $H$ (not a width: pass it as `bandwidth_matrix=`)
    and emits a `DeprecationWarning`.
    """
    _deprecated_matrix_rule("scott_bandwidth", "scott_bandwidth_matrix")
    return scott_bandwidth_matrix(data)


def silverman_bandwidth(data: Float[Array, "n d"]) -> Float[Array, "d d"]:
    r"""Deprecated alias of
    [`silverman_bandwidth_matrix`][jaxkern.density.silverman_bandwidth_matrix].

    Returns the same (d, d) covariance matrix $H$ (not a width: pass it as `bandwidth_matrix=`)
    and emits a `DeprecationWarning`.
    """
    _deprecated_matrix_rule("silverman_bandwidth", "silverman_bandwidth_matrix")
    return silverman_bandwidth_matrix(data)


class LooBandwidth(NamedTuple):
    """The likelihood cross-validation bandwidth, its objective and the fit's record (the
    names every fit in jaxkern uses)."""

    bandwidth: Array
    """The width $h$ (a standard deviation): a scalar, or per-dimension $h_i$, shape (d,)."""
    loo_log_likelihood: Array
    """The mean leave-one-out log-likelihood at `bandwidth`."""
    losses: np.ndarray
    """Negative objective before each optimiser step (NumPy)."""
    num_steps: int
    """Optimiser steps taken."""
    converged: bool
    """Whether the fit stopped early (`tol` reached); see `message`."""
    message: str
    """Why the fit stopped."""


def loo_bandwidth(
    data: Float[Array, "n d"],
    *,
    kernel: str = "rbf",
    diagonal: bool = False,
    init: Float[ArrayLike, "*d"] | None = None,
    num_steps: int = 200,
    optimizer: optax.GradientTransformation | None = None,
    tol: float | None = None,
    chunk_size: int = 100,
    block_size: int = 512,
    progress: bool | None = None,
    learning_rate: float | None = None,
) -> LooBandwidth:
    r"""Bandwidth that maximises the leave-one-out log-likelihood, by gradient ascent.

    $$h^\star = \arg\max_h \frac{1}{n}\sum_i \log \frac{1}{n-1}\sum_{j\ne i} K_h(x_i - x_j),$$
    over $\log h$ (a scalar, or one per dimension with `diagonal=True`) through
    [`jaxkern.optim.minimize`][jaxkern.optim.minimize] (Adam by default, any optax
    transformation, `optax.lbfgs()` included); the gradient is exact, since the objective
    ([`loo_log_likelihood`][jaxkern.density.loo_log_likelihood]) is smooth in $h$. Each
    step costs one $O(n^2 d)$ pass. For compact kernels every point needs a neighbour within
    $h$; start above the nearest-neighbour distance. The result is a width $h$ (a standard
    deviation), for `bandwidth=` of [`kde_log_density`][jaxkern.density.kde_log_density].

    **Arguments:**

    - `data`: the sample, shape (n, d), n >= 2.
    - `kernel`: as in [`kde_log_density`][jaxkern.density.kde_log_density] (`"rbf"`, ...;
      `"gaussian"` and `"exponential"` are aliases of `"rbf"` and `"matern12"`).
    - `diagonal`: fit one width per dimension instead of one scalar.
    - `init`: starting width(s); default Scott's rule on the mean variance.
    - `num_steps`: the most optimiser steps.
    - `optimizer`: any optax transformation on $\log h$; default `optax.adam(0.05)`.
    - `tol`: stop after a chunk that moves the objective by at most this, relatively.
    - `chunk_size`: steps per compiled chunk.
    - `block_size`: tile size of each pass.
    - `progress`: a progress bar (`None`: only when watched and slow; see
      [`minimize`][jaxkern.optim.minimize]).
    - `learning_rate`: deprecated; `optimizer=optax.adam(learning_rate)`.

    **Returns:** a [`LooBandwidth`][jaxkern.density.LooBandwidth].

    Example:
        >>> import jax
        >>> from jaxkern.density import loo_bandwidth
        >>> data = jax.random.normal(jax.random.key(0), (200, 1))
        >>> fit = loo_bandwidth(data, num_steps=100)
        >>> 0.2 < float(fit.bandwidth) < 0.6, fit.num_steps
        (True, 100)

    Duin, *On the choice of smoothing parameters for Parzen estimators* (1976).
    """
    _check_sample(data)
    check_int("block_size", block_size, 1)
    kernel = _kernel_name(kernel)
    if learning_rate is not None:
        if optimizer is not None:
            raise ValueError(
                "Pass only `optimizer` (`learning_rate` is its deprecated alias), got both."
            )
        warn_deprecated("loo_bandwidth(learning_rate=...)", "optimizer=optax.adam(learning_rate)")
        check_positive("learning_rate", learning_rate)
        optimizer = optax.adam(learning_rate)
    if optimizer is None:
        optimizer = optax.adam(0.05)
    data = _check_finite("data", data)
    n, d = data.shape
    if init is None:
        spread = jnp.sqrt(jnp.mean(jnp.diagonal(_covariance(data))))
        init = spread * n ** (-1.0 / (d + 4))
    check_positive("init", init)
    log_h = jnp.log(jnp.asarray(init, data.dtype))
    if diagonal:
        log_h = jnp.broadcast_to(log_h, (d,))
    elif log_h.ndim != 0:
        raise ValueError(f"`init` must be a scalar unless `diagonal=True`, got {log_h.shape}.")

    def loss(log_h):
        return -loo_log_likelihood(
            data, bandwidth=jnp.exp(log_h), kernel=kernel, block_size=block_size
        )

    result = minimize(
        loss,
        log_h,
        optimizer=optimizer,
        num_steps=num_steps,
        tol=tol,
        chunk_size=chunk_size,
        progress=progress,
        description="loo_bandwidth",
    )
    bandwidth = jnp.exp(result.params)
    return LooBandwidth(
        bandwidth,
        -loss(result.params),
        result.losses,
        result.num_steps,
        result.converged,
        result.message,
    )


def _linear_binning(x: Array, lo: Array, width: Array, grid_size: int) -> Array:
    """Split each point's unit mass between its two neighbouring grid nodes; total mass 1."""
    pos = (x - lo) / width * (grid_size - 1)
    left = jnp.clip(jnp.floor(pos), 0, grid_size - 2)
    frac = pos - left
    idx = left.astype(jnp.int32)
    hist = jnp.zeros((grid_size,), x.dtype).at[idx].add(1 - frac).at[idx + 1].add(frac)
    return hist / x.shape[0]


def _isj_log_gap(log_t: Array, log_n: Array, log_i2: Array, log_a2: Array, i2: Array) -> Array:
    r"""$\log t - \log \xi\gamma^{[\ell]}(t)$ with $\ell = 7$, all in log space (float32-safe)."""
    pi2 = math.pi**2

    def log_norm(s, log_time):
        # log of |f^{(s)}|^2 estimated from the DCT coefficients at smoothing time exp(log_time).
        terms = s * log_i2 + log_a2 - i2 * pi2 * jnp.exp(log_time)
        return math.log(0.5) + 2 * s * math.log(math.pi) + jax.nn.logsumexp(terms)

    ell = 7
    log_f = log_norm(ell, log_t)
    for s in range(ell - 1, 1, -1):
        k0 = float(np.prod(np.arange(1, 2 * s, 2, dtype=np.float64))) / math.sqrt(2 * math.pi)
        const = (1 + 0.5 ** (s + 0.5)) / 3
        log_time = (2.0 / (3 + 2 * s)) * (math.log(2 * const * k0) - log_n - log_f)
        log_f = log_norm(s, log_time)
    log_t_opt = -0.4 * (math.log(2 * math.sqrt(math.pi)) + log_n + log_f)
    return log_t - log_t_opt


def isj_bandwidth(
    data: Float[Array, " n"], *, grid_size: int = 1024, iterations: int = 80
) -> Float[Array, ""]:
    r"""The improved Sheather–Jones (Botev) bandwidth of a 1-D Gaussian KDE.

    Bins the data linearly on `grid_size` nodes spanning $[\min - R/2, \max + R/2]$ (width
    $G = 2R$), takes the type-II DCT $a_k$, and solves the fixed point
    $t = \xi\gamma^{[7]}(t)$ of Botev, Grotowski & Kroese (2010), where $\gamma^{[\ell]}$
    chains the plug-in estimates of $\|f^{(s)}\|^2$,
    $$\|f^{(s)}\|^2 \approx \tfrac12 \pi^{2s} \sum_{k \ge 1} k^{2s} a_k^2 e^{-k^2\pi^2 t},$$
    down to the AMISE-optimal $t = (2N\sqrt{\pi}\,\|f''\|^2)^{-2/5}$ ($N$ distinct points).
    The root is found by bisection in $\log t$ on $[10^{-16}, 10^{-1}]$ (optimistix), in log
    space so float32 does not overflow. Returns $h = \sqrt{t}\, G$. It adapts to multimodal
    data, where Scott and Silverman oversmooth.

    **Arguments:**

    - `data`: 1-D sample, shape (n,) (or (n, 1)).
    - `grid_size`: number of grid nodes (static; a power of two keeps the DCT fast).
    - `iterations`: the most bisection steps; it stops earlier at round-off.

    **Returns:** the bandwidth $h$ (a standard deviation), a scalar; `nan` when the fixed
    point has no root in the bracket (too few distinct points).

    Example:
        >>> import jax
        >>> from jaxkern.density import isj_bandwidth
        >>> data = jax.random.normal(jax.random.key(0), (5000,))
        >>> 0.15 < float(isj_bandwidth(data)) < 0.25
        True

    Botev, Grotowski & Kroese, *Kernel density estimation via diffusion*, Ann. Statist. 38
    (2010).
    """
    if jnp.ndim(data) == 2 and jnp.shape(data)[1] == 1:
        data = data[:, 0]
    check_ndim("data", data, 1, "(n,) or (n, 1)")
    if data.shape[0] < 2:
        raise ValueError(f"`data` needs at least two points, got shape {data.shape}.")
    check_int("grid_size", grid_size, 8)
    check_int("iterations", iterations, 1)
    data = _check_finite("data", data)
    lo, hi = jnp.min(data), jnp.max(data)
    span = hi - lo
    grid_lo, width = lo - span / 2, 2 * span
    hist = _linear_binning(data, grid_lo, width, grid_size)
    coef = jax.scipy.fft.dct(hist, type=2)
    i2 = jnp.arange(1, grid_size, dtype=data.dtype) ** 2
    log_a2 = jnp.log(coef[1:] ** 2)
    sorted_data = jnp.sort(data)
    distinct = 1 + jnp.sum(sorted_data[1:] != sorted_data[:-1])
    log_n = jnp.log(distinct.astype(data.dtype))

    def gap(log_t, _):
        return _isj_log_gap(log_t, log_n, jnp.log(i2), log_a2, i2)

    lo_t, hi_t = math.log(1e-16), math.log(1e-1)
    bracketed = (gap(jnp.asarray(lo_t, data.dtype), None) < 0) & (
        gap(jnp.asarray(hi_t, data.dtype), None) > 0)
    # optimistix's bisection stops once the bracket and the gap are at round-off (about 52 of
    # the 80 steps in float64, 22 in float32), where a fixed-count loop ran all 80: the same
    # bandwidth to 4e-15 (float64) and 1e-6 (float32), 0.4-1.4x the time at n = 1e3-1e5.
    eps = float(jnp.finfo(data.dtype).eps)
    root = optx.root_find(
        gap, optx.Bisection(rtol=0.0, atol=1e2 * eps, flip=False),
        jnp.asarray(0.5 * (lo_t + hi_t), data.dtype), options=dict(lower=lo_t, upper=hi_t),
        max_steps=iterations, throw=False,
    )
    t = jnp.exp(root.value)
    return jnp.where(bracketed, jnp.sqrt(t) * width, jnp.nan)

