r"""Differentially private similarity sums: build once from private data, query any number of times.

Each structure releases noisy statistics of the private dataset once, through the Laplace
mechanism (pure $\varepsilon$-DP) or, for the kernel sums when a $\delta$ is given, the
analytic Gaussian mechanism ($(\varepsilon, \delta)$-DP), and answers every query from those
statistics alone; by post-processing, any number of queries keeps the same guarantee.
Neighbouring datasets differ by adding or removing one point.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validation import check_int, check_ndim, check_positive, warn_deprecated
from ..kernels import spectral_frequencies
from ._kde import KERNEL_ALIASES, _check_finite


class _Release(NamedTuple):
    """Noiseless statistics and the Laplace scale each one gets."""

    values: Array
    scales: Array


def _check_epsilon(epsilon) -> None:
    if not isinstance(epsilon, (int, float)) or not epsilon > 0 or not math.isfinite(epsilon):
        raise ValueError(f"`epsilon` must be a positive finite number, got {epsilon!r}.")


def _check_delta(delta) -> None:
    if delta is not None and (not isinstance(delta, (int, float)) or not 0 < delta < 1):
        raise ValueError(f"`delta` must be None or a number in (0, 1), got {delta!r}.")


def _perturb(key: PRNGKeyArray, release: _Release, sample=jax.random.laplace) -> Array:
    """The released values plus noise of each one's scale: Laplace, or Gaussian with
    ``sample=jax.random.normal``."""
    noise = sample(key, release.values.shape, dtype=release.values.dtype)
    return release.values + release.scales * noise


def _gaussian_delta(sigma: float, epsilon: float) -> float:
    r"""The $\delta$ of the Gaussian mechanism with noise std `sigma` per unit $\ell_2$ sensitivity.

    $\delta(\sigma) = \Phi(\tfrac{1}{2\sigma} - \varepsilon\sigma) - e^{\varepsilon}
    \Phi(-\tfrac{1}{2\sigma} - \varepsilon\sigma)$ (Balle & Wang 2018, Theorem 8): exact, so
    tighter than the classical $\sqrt{2\log(1.25/\delta)}/\varepsilon$, and valid for any
    $\varepsilon > 0$.
    """

    def cdf(z: float) -> float:
        return 0.5 * math.erfc(-z / math.sqrt(2))

    a, b = 1 / (2 * sigma), epsilon * sigma
    # e^eps * Phi(-a - b) underflows to 0 * inf for huge eps: it is below Phi(a - b) there
    tail = math.exp(epsilon + math.log(cdf(-a - b))) if cdf(-a - b) > 0 else 0.0
    return cdf(a - b) - tail


def analytic_gaussian_sigma(epsilon: float, delta: float) -> float:
    r"""The smallest noise std per unit $\ell_2$ sensitivity that makes the Gaussian mechanism
    $(\varepsilon, \delta)$-DP, by bisection on the exact privacy profile.

    Example:
        >>> from jaxkern.density import analytic_gaussian_sigma
        >>> round(analytic_gaussian_sigma(1.0, 1e-5), 3)  # classical bound: 4.845
        3.731

    Balle & Wang, *Improving the Gaussian mechanism for differential privacy: analytical
    calibration and optimal denoising*, ICML 2018.
    """
    _check_epsilon(epsilon)
    _check_delta(delta)
    lo, hi = 1e-6, 1.0
    while _gaussian_delta(hi, epsilon) > delta:  # delta(sigma) falls monotonically
        lo, hi = hi, 2 * hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if _gaussian_delta(mid, epsilon) > delta else (lo, mid)
    return hi


# ---------------------------------------------------------------- l1 distance: noisy trees


def _tree_offsets(depth: int) -> list[int]:
    """Start of each level in a heap-ordered complete binary tree (level l has 2^l nodes)."""
    return [2**level - 1 for level in range(depth + 1)]


def _l1_tree_release(
    data: Array, lo: Array, width: Array, depth: int, epsilon: float
) -> _Release:
    """Counts and sums of $x_c - lo_c$ in every dyadic interval of every coordinate.

    One point lands in one node per level of each of the d trees, so adding or removing it
    moves $d(L+1)$ counts by 1 and $d(L+1)$ sums by at most $w_c$: half the budget for each.
    """
    n, d = data.shape
    size = 2 ** (depth + 1) - 1
    shifted = jnp.clip(data - lo[None, :], 0, width[None, :])
    cells = jnp.floor(shifted / width[None, :] * 2**depth)
    leaf = jnp.clip(cells, 0, 2**depth - 1).astype(jnp.int32)
    nodes = jnp.stack(
        [off + (leaf >> (depth - lvl)) for lvl, off in enumerate(_tree_offsets(depth))], axis=-1
    )  # (n, d, L + 1)
    flat = (nodes + size * jnp.arange(d, dtype=jnp.int32)[None, :, None]).reshape(-1)
    ones = jnp.ones((n, d, depth + 1), data.dtype)
    counts = jnp.zeros((d * size,), data.dtype).at[flat].add(ones.reshape(-1))
    sums = jnp.zeros((d * size,), data.dtype).at[flat].add(
        jnp.broadcast_to(shifted[:, :, None], ones.shape).reshape(-1)
    )
    per_node = 2 * d * (depth + 1) / epsilon
    count_scales = jnp.full((d, size), per_node, data.dtype)
    sum_scales = per_node * jnp.broadcast_to(width[:, None], (d, size))
    scales = jnp.concatenate([count_scales, sum_scales])
    return _Release(jnp.concatenate([counts.reshape(d, size), sums.reshape(d, size)]), scales)


class PrivateL1Sum(eqx.Module):
    r"""An $\varepsilon$-DP structure answering $\sum_{x \in X} \|x - y\|_1$ for any query $y$.

    Built by [`private_l1_sum`][jaxkern.density.private_l1_sum]; call it on queries of shape
    (m, d).
    """

    lo: Array
    width: Array
    counts: Array  # (d, 2^{L+1} - 1) noisy counts per dyadic interval, heap order
    sums: Array  # (d, 2^{L+1} - 1) noisy sums of x_c - lo_c
    depth: int = eqx.field(static=True)

    def __call__(self, queries: Float[Array, "m d"]) -> Float[Array, " m"]:
        check_ndim("queries", queries, 2, "(m, d)")
        if queries.shape[1] != self.lo.shape[0]:
            raise ValueError(
                f"`queries` must have {self.lo.shape[0]} features like the data, got shape "
                f"{queries.shape}."
            )
        return jax.vmap(self._one)(queries)

    def _one(self, y: Array) -> Array:
        depth = self.depth
        y_shift = jnp.clip(y - self.lo, 0, self.width)
        leaf = jnp.clip(jnp.floor(y_shift / self.width * 2**depth), 0, 2**depth - 1)
        prefix = leaf.astype(jnp.int32) + 1  # leaves 0..leaf, y's own leaf counted left of y
        rows = jnp.arange(y.shape[0])
        cnt_left = jnp.zeros_like(y)
        sum_left = jnp.zeros_like(y)
        for lvl, off in enumerate(_tree_offsets(depth)):
            take = ((prefix >> (depth - lvl)) & 1).astype(y.dtype)
            node = jnp.maximum(off + (prefix >> (depth - lvl)) - 1, off)
            cnt_left = cnt_left + take * self.counts[rows, node]
            sum_left = sum_left + take * self.sums[rows, node]
        total_cnt, total_sum = self.counts[:, 0], self.sums[:, 0]
        left = y_shift * cnt_left - sum_left
        right = (total_sum - sum_left) - y_shift * (total_cnt - cnt_left)
        per_coord = left + right
        return jnp.sum(per_coord)


def private_l1_sum(
    data: Float[Array, "n d"],
    *,
    epsilon: float,
    key: PRNGKeyArray,
    lo: Float[ArrayLike, "*d"],
    hi: Float[ArrayLike, "*d"],
    depth: int = 10,
) -> PrivateL1Sum:
    r"""Build an $\varepsilon$-DP structure for $\ell_1$ distance sums from per-coordinate trees.

    $\sum_x \|x - y\|_1 = \sum_c \sum_x |x_c - y_c|$, and in one coordinate
    $$\sum_x |x_c - y_c| = y_c N_{<} - S_{<} + (S - S_{<}) - y_c (N - N_{<}),$$
    where $N_<$, $S_<$ are the count and sum of points left of $y_c$. Each coordinate's
    public range $[lo_c, hi_c]$ is cut into $2^L$ cells (`depth` $= L$); a complete binary
    tree stores the count and the sum of every dyadic interval, each with Laplace noise. A
    prefix is $\le L + 1$ nodes, so a query costs $O(dL)$.

    **Privacy:** a point touches one node per level in each of the $d$ trees; counts get
    Laplace noise of scale $2d(L+1)/\varepsilon$ and sums of coordinate $c$ scale
    $2d(L+1)(hi_c - lo_c)/\varepsilon$, so the release is $\varepsilon$-DP under adding or
    removing one point (Laplace mechanism, basic composition). Points outside the box are
    clipped into it. Queries are post-processing: unlimited.

    **Error:** noise of order $d\, L^{3/2} (hi - lo) / \varepsilon$ per coordinate
    (independent of $n$), plus at most one cell width per point in the query's own cell.

    **Arguments:**

    - `data`: the private points, shape (n, d).
    - `epsilon`: privacy budget $\varepsilon > 0$.
    - `key`: PRNG key of the noise.
    - `lo`, `hi`: public bounds of the data, scalars or shape (d,), `hi > lo`.
    - `depth`: tree depth $L$ (static).

    **Returns:** a [`PrivateL1Sum`][jaxkern.density.PrivateL1Sum]; call it on queries.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.density import private_l1_sum
        >>> X = jax.random.uniform(jax.random.key(0), (100_000, 2))
        >>> tree = private_l1_sum(X, epsilon=1.0, key=jax.random.key(1), lo=0.0, hi=1.0)
        >>> y = jnp.array([[0.5, 0.5]])
        >>> exact = jnp.abs(X - y).sum()  # the noise does not grow with n: 0.5% relative here
        >>> bool(jnp.abs(tree(y)[0] - exact) / exact < 0.05)
        True

    Backurs, Lin, Mahabadi, Silwal & Tarnawski, *Efficiently computing similarities to
    private datasets*, ICLR 2024, sec. 4 (the $\ell_1$ distance query).
    """
    check_ndim("data", data, 2, "(n, d)")
    _check_epsilon(epsilon)
    check_int("depth", depth, 1)
    if depth > 24:
        raise ValueError(f"`depth` must be an int in [1, 24], got {depth!r}.")
    data = _check_finite("data", data)
    d = data.shape[1]
    lo_arr = jnp.broadcast_to(jnp.asarray(lo, data.dtype), (d,))
    hi_arr = jnp.broadcast_to(jnp.asarray(hi, data.dtype), (d,))
    check_positive("hi - lo", hi_arr - lo_arr)
    width = hi_arr - lo_arr
    release = _l1_tree_release(data, lo_arr, width, depth, epsilon)
    noisy = _perturb(key, release)
    return PrivateL1Sum(lo_arr, width, noisy[:d], noisy[d:], depth)


# ---------------------------------------------------------- kernels: random Fourier features


#: The kernels of `private_kernel_sum`: the spectra of `jaxkern.kernels.spectral_frequencies`.
_KERNELS = ("rbf", "matern12", "matern32", "matern52")


def _walsh_hadamard(x: Array) -> Array:
    """The orthonormal Walsh–Hadamard transform of each row, length a power of two: log2(d)
    butterfly stages, O(d log d) a row."""
    m, d = x.shape
    half = 1
    while half < d:
        pairs = x.reshape(m, d // (2 * half), 2, half)
        a, b = pairs[:, :, 0], pairs[:, :, 1]
        x = jnp.stack([a + b, a - b], axis=2).reshape(m, d)
        half *= 2
    return x / math.sqrt(d)


class FastJL(eqx.Module):
    r"""A fast Johnson–Lindenstrauss map $x \mapsto \sqrt{d'/k}\, S H D x$: random signs $D$,
    the orthonormal Hadamard transform $H$ (inputs zero-padded to $d'$, a power of two) and $k$
    of the $d'$ coordinates sampled without replacement ($S$). $HD$ spreads every vector's mass
    evenly over the coordinates, so the sample keeps norms within $1 \pm O(\sqrt{\log(1/\delta)
    /k})$, as a dense Gaussian map does, in $O(d \log d)$ a point instead of $O(dk)$ (Ailon &
    Chazelle 2009)."""

    signs: Array  # (d',) random signs
    rows: Array  # (k,) sampled coordinates of the transform

    def __call__(self, x: Float[Array, "m d"]) -> Float[Array, "m k"]:
        padded = self.signs.shape[0]
        x = jnp.pad(x, ((0, 0), (0, padded - x.shape[1]))) * self.signs[None, :]
        return _walsh_hadamard(x)[:, self.rows] * math.sqrt(padded / self.rows.shape[0])


def _is_prng_key(x) -> bool:
    """A typed PRNG key, or a raw uint32 key of shape (..., 2) (the old positional first
    argument of `fast_jl`)."""
    if not isinstance(x, (jax.Array, np.ndarray)):
        return False
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
        return True
    return x.dtype == np.uint32 and x.shape[-1:] == (2,)


def fast_jl(
    dim: int,
    project_to: int,
    *deprecated_args,
    key: PRNGKeyArray | None = None,
    dtype=None,
) -> FastJL:
    r"""A random [`FastJL`][jaxkern.density.FastJL] map from `dim` to `project_to` dimensions.

    **Arguments:**

    - `dim`: input dimension $d$.
    - `project_to`: output dimension $k \le d'$ ($d$ rounded up to a power of two).
    - `key`: PRNG key of the signs and the sampled coordinates (keyword-only).
    - `dtype`: of the signs (default: the default float).

    The old call `fast_jl(key, dim, project_to, dtype)`, with the key first, still works and
    emits a `DeprecationWarning`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.density import fast_jl
        >>> P = fast_jl(100, 128, key=jax.random.key(0))  # every coordinate: an exact isometry
        >>> x = jax.random.normal(jax.random.key(1), (2, 100))
        >>> bool(jnp.allclose(jnp.linalg.norm(P(x), axis=1), jnp.linalg.norm(x, axis=1), rtol=1e-5))
        True

    Ailon & Chazelle, *The fast Johnson–Lindenstrauss transform and approximate nearest
    neighbors*, SIAM J. Comput. 39 (2009).
    """
    if _is_prng_key(dim):
        if key is not None or len(deprecated_args) > 2:
            raise TypeError(
                "fast_jl(dim, project_to, *, key, dtype=None): got a key both as the first "
                "argument and as `key`, or too many positional arguments."
            )
        warn_deprecated("fast_jl(key, dim, project_to, dtype)",
                        "fast_jl(dim, project_to, key=key, dtype=dtype)")
        if not deprecated_args:
            raise TypeError("fast_jl(key, dim, project_to) is missing `project_to`.")
        key, dim, project_to = dim, project_to, deprecated_args[0]
        if len(deprecated_args) == 2:
            if dtype is not None:
                raise TypeError("fast_jl got `dtype` both positionally and as a keyword.")
            dtype = deprecated_args[1]
    elif deprecated_args:
        raise TypeError(
            f"fast_jl(dim, project_to, *, key, dtype=None) takes 2 positional arguments, got "
            f"{2 + len(deprecated_args)}."
        )
    if key is None:
        raise TypeError("fast_jl(dim, project_to, *, key, dtype=None) needs the keyword `key`.")
    check_int("dim", dim, 1)
    padded = 1 << max(dim - 1, 0).bit_length()
    check_int("project_to", project_to, 1)
    if project_to > padded:
        raise ValueError(
            f"`project_to` must be an int in [1, {padded}] (the data dimension {dim} padded to "
            f"a power of two), got {project_to!r}."
        )
    k_signs, k_rows = jax.random.split(key)
    dtype = dtype or jnp.result_type(float)
    signs = jax.random.rademacher(k_signs, (padded,), dtype)
    rows = jax.random.choice(k_rows, padded, (project_to,), replace=False)
    return FastJL(signs, rows)


class PrivateKernelSum(eqx.Module):
    r"""An $\varepsilon$-DP structure answering $\sum_{x \in X} f(x, y)$ for a stationary kernel
    $f$ (RBF or Matérn), from a noisy sum of random Fourier features.

    Built by [`private_kernel_sum`][jaxkern.density.private_kernel_sum].
    """

    projection: FastJL | None  # the map to k dimensions, or None
    frequencies: Array  # (D, k)
    phases: Array  # (D,)
    noisy_sum: Array  # (D,)
    dim: int = eqx.field(static=True)  # the data dimension d

    def features(self, x: Float[Array, "m d"]) -> Float[Array, "m D"]:
        """The feature map $\\phi(x) = \\sqrt{2/D}\\cos(W P x + b)$."""
        if self.projection is not None:
            x = self.projection(x)
        num = self.frequencies.shape[0]
        return math.sqrt(2.0 / num) * jnp.cos(x @ self.frequencies.T + self.phases[None, :])

    def __call__(self, queries: Float[Array, "m d"]) -> Float[Array, " m"]:
        check_ndim("queries", queries, 2, "(m, d)")
        if queries.shape[1] != self.dim:
            raise ValueError(
                f"`queries` must have {self.dim} features like the data, got shape "
                f"{queries.shape}."
            )
        return self.features(queries) @ self.noisy_sum


def private_kernel_sum(
    data: Float[Array, "n d"],
    *,
    epsilon: float,
    key: PRNGKeyArray,
    kernel: str = "rbf",
    bandwidth: Float[ArrayLike, "*d"] = 1.0,
    num_features: int = 512,
    project_to: int | None = None,
    delta: float | None = None,
) -> PrivateKernelSum:
    r"""Build an $\varepsilon$-DP structure for kernel sums $\sum_x f(x, y)$.

    $f(x, y) = e^{-\|x-y\|^2/2h^2}$ (`"rbf"`), $e^{-\|x-y\|/h}$ (`"matern12"`), or the
    Matérn-3/2 and -5/2 kernels of lengthscale $h$ (`"matern32"`, `"matern52"`: the
    [`jaxkern.kernels`][jaxkern.kernels.rbf] formulas), all with $f(x, x) = 1$.
    scikit-learn's names `"gaussian"` (= `"rbf"`) and `"exponential"` (= `"matern12"`) are
    accepted as aliases. With `project_to` $= k$ the points are first mapped to $k$
    dimensions by a fast Johnson–Lindenstrauss transform $P$ ([`FastJL`][jaxkern.density.FastJL],
    a randomized Hadamard transform and a coordinate sample), which keeps $\|P(x - y)\|$ within
    $1 \pm O(\sqrt{\log(1/\delta)/k})$ and so each kernel value within an additive
    $O(\sqrt{1/k})$; the mechanism then runs in $k$ dimensions, and a query costs
    $O(d \log d + Dk)$ instead of $O(dD)$: with $k, D \sim 1/\alpha^2$ for error $\alpha$, the
    $\tilde O(d + 1/\alpha^4)$ of Backurs et al. (sec. 7) against $O(d/\alpha^2)$ without the
    reduction. In the (projected) space the mechanism releases
    $$\textstyle\sum_x \phi(x) + \eta, \qquad \phi(x) = \sqrt{2/D}\cos(Wx + b),\quad
      \eta_i \sim \mathrm{Laplace}\big(\sqrt{2D}/\varepsilon\big),$$
    with the rows of $hW$ drawn from the kernel's spectral density by
    `jaxkern.kernels.spectral_frequencies` (Gaussian
    for `"rbf"`, multivariate Student $t$ with $2\nu$ degrees of freedom for Matérn-$\nu$:
    Cauchy for `"matern12"`) and $b \sim U[0, 2\pi)$, and answers
    $\phi(y)^\top(\sum_x\phi(x) + \eta)$. $P$, $W$, $b$ are data-independent and cost no
    privacy.

    **Privacy:** $\|\phi(x)\|_1 \le \sqrt{2D}$, so adding or removing a point moves the sum
    by at most $\sqrt{2D}$ in $\ell_1$: the Laplace mechanism makes the release
    $\varepsilon$-DP; queries are post-processing. With `delta`, the noise is Gaussian
    instead, calibrated to the $\ell_2$ sensitivity $\|\phi(x)\|_2 \le \sqrt 2$ by
    [`analytic_gaussian_sigma`][jaxkern.density.analytic_gaussian_sigma]: the release is
    $(\varepsilon, \delta)$-DP, and its noise no longer grows with $D$.

    **Error:** random-feature error $O(n/\sqrt{D})$ plus noise $O(\sqrt{D}/\varepsilon)$ per
    query (Laplace) or $O(\sqrt{\log(1/\delta)}/\varepsilon)$ (Gaussian); with Laplace noise
    the best $D$ grows with $n\varepsilon$.

    **Arguments:**

    - `data`: the private points, shape (n, d).
    - `epsilon`: privacy budget $\varepsilon > 0$.
    - `key`: PRNG key of the projection, features and noise.
    - `kernel`: `"rbf"`, `"matern12"`, `"matern32"` or `"matern52"` (aliases `"gaussian"`,
      `"exponential"`).
    - `bandwidth`: the width (lengthscale) $h > 0$: a scalar, or per-dimension widths of
      shape (d,) (without `project_to`).
    - `num_features`: $D$ (static).
    - `project_to`: $k$ for a Johnson–Lindenstrauss projection first, or None.
    - `delta`: None for pure $\varepsilon$-DP (Laplace), or $\delta \in (0, 1)$ for
      $(\varepsilon, \delta)$-DP (Gaussian).

    **Returns:** a [`PrivateKernelSum`][jaxkern.density.PrivateKernelSum]; call it on queries.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.density import private_kernel_sum
        >>> X = jax.random.normal(jax.random.key(0), (5000, 3))
        >>> dp = private_kernel_sum(X, epsilon=1.0, key=jax.random.key(1), bandwidth=2.0)
        >>> y = jnp.zeros((1, 3))
        >>> exact = jnp.exp(-0.125 * jnp.sum(X**2, axis=1)).sum()
        >>> bool(jnp.abs(dp(y)[0] - exact) / exact < 0.1)
        True

    Rahimi & Recht, *Random features for large-scale kernel machines* (2007), as a DP
    mechanism in Wagner et al. (2023); the dimension reduction before it is Backurs et al.,
    *Efficiently computing similarities to private datasets*, ICLR 2024, sec. 7.
    """
    check_ndim("data", data, 2, "(n, d)")
    _check_epsilon(epsilon)
    _check_delta(delta)
    spectrum = KERNEL_ALIASES.get(kernel, kernel) if isinstance(kernel, str) else kernel
    if spectrum not in _KERNELS:
        raise ValueError(
            f"`kernel` must be one of {_KERNELS} (or an alias in {tuple(KERNEL_ALIASES)}), "
            f"got {kernel!r}."
        )
    check_positive("bandwidth", bandwidth)
    check_int("num_features", num_features, 1)
    if project_to is not None:
        check_int("project_to", project_to, 1)
    data = _check_finite("data", data)
    d = data.shape[1]
    widths = jnp.asarray(bandwidth, data.dtype)
    if widths.ndim > 1 or (widths.ndim == 1 and (project_to is not None or widths.shape != (d,))):
        raise ValueError(
            f"`bandwidth` must be a scalar, or per-dimension widths of shape ({d},) without "
            f"`project_to`, got shape {widths.shape}."
        )
    k_proj, k_freq, k_phase, k_noise = jax.random.split(key, 4)
    projection = None
    dim = d
    if project_to is not None:
        projection = fast_jl(d, project_to, key=k_proj, dtype=data.dtype)
        dim = project_to
    unit = spectral_frequencies(
        dim, key=k_freq, num_features=num_features, spectrum=spectrum, dtype=data.dtype
    )
    freqs = unit / (widths if widths.ndim == 0 else widths[None, :])
    phases = jax.random.uniform(k_phase, (num_features,), data.dtype, 0, 2 * math.pi)
    structure = PrivateKernelSum(
        projection, freqs, phases, jnp.zeros((num_features,), data.dtype), d
    )
    if delta is None:
        scale, sample = math.sqrt(2 * num_features) / epsilon, jax.random.laplace
    else:
        scale, sample = math.sqrt(2) * analytic_gaussian_sigma(epsilon, delta), jax.random.normal
    release = _Release(
        jnp.sum(structure.features(data), axis=0), jnp.full((num_features,), scale, data.dtype)
    )
    return eqx.tree_at(lambda s: s.noisy_sum, structure, _perturb(k_noise, release, sample))
