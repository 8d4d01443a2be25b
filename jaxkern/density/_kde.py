r"""Exact kernel density estimation as a blocked, streaming log-sum-exp.

Every kernel here is radial in the whitened coordinates $z = H^{-1/2} x$: it is a function of
the squared distance $u = \|z_q - z_j\|^2$, normalised to integrate to one over
$\mathbb{R}^d$. The sum over data points runs block by block with a running maximum, so any
number of points fits in memory and nothing under- or overflows.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.linalg import solve_triangular
from jax.sharding import NamedSharding, PartitionSpec
from jaxtyping import Array, ArrayLike, Float

from .._validation import (
    as_float,
    check_int,
    check_length,
    check_ndim,
    check_positive,
    check_same_last_dim,
    concrete_or_none,
    warn_deprecated,
)
from ..linalg import into_blocks, row_sharding
from ..special import safe_sqrt, vmf_log_normalizer


def _log_unit_ball(d: int) -> float:
    return 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d + 1)


def _log_unit_sphere(d: int) -> float:
    # Surface area of the unit sphere S^{d-1} in R^d.
    return math.log(2.0) + 0.5 * d * math.log(math.pi) - math.lgamma(0.5 * d)


def _log_cosine_moment(k: int) -> float:
    r"""$\log\int_0^1 t^k \cos(\pi t / 2)\, dt$ from the cosine series (terms $a^{2j}/(2j)!$)."""
    a2, term, total = (math.pi / 2) ** 2, 1.0, 0.0
    for j in range(60):
        total += term / (k + 2 * j + 1)
        term *= -a2 / ((2 * j + 1) * (2 * j + 2))
    return math.log(total)


def _where_inside(u, value_fn):
    """``value_fn(u)`` for ``u < 1``, ``-inf`` outside; double ``where`` keeps gradients finite."""
    inside = u < 1
    return jnp.where(inside, value_fn(jnp.where(inside, u, 0)), -jnp.inf)


class _Profile(NamedTuple):
    log_k: Callable[[Array], Array]  # log k as a function of the squared whitened distance u
    log_norm: Callable[[int], float]  # log of the integral of k over R^d
    exact_distance: bool  # sqrt(u) amplifies the cancellation of |a|^2 + |b|^2 - 2 a.b


_PROFILES = {
    "rbf": _Profile(lambda u: -0.5 * u, lambda d: 0.5 * d * math.log(2 * math.pi), False),
    "tophat": _Profile(
        lambda u: _where_inside(u, jnp.zeros_like), _log_unit_ball, False
    ),
    "epanechnikov": _Profile(
        lambda u: _where_inside(u, lambda v: jnp.log1p(-v)),
        lambda d: _log_unit_ball(d) + math.log(2.0 / (d + 2)),
        False,
    ),
    "matern12": _Profile(
        lambda u: -safe_sqrt(u),
        lambda d: _log_unit_sphere(d) + math.lgamma(d),
        True,
    ),
    "linear": _Profile(
        lambda u: _where_inside(u, lambda v: jnp.log1p(-safe_sqrt(v))),
        lambda d: _log_unit_ball(d) - math.log(d + 1),
        True,
    ),
    "cosine": _Profile(
        lambda u: _where_inside(u, lambda v: jnp.log(jnp.cos(0.5 * math.pi * safe_sqrt(v)))),
        lambda d: _log_unit_sphere(d) + _log_cosine_moment(d - 1),
        True,
    ),
}

KERNELS = (*_PROFILES, "vmf")
"""The kernels `kde_log_density` accepts, by the names they have everywhere in jaxkern: "rbf",
"tophat", "epanechnikov", "matern12", "linear", "cosine", and "vmf" (von Mises–Fisher, on the
sphere). The aliases in `KERNEL_ALIASES` are accepted too."""

KERNEL_ALIASES = {"gaussian": "rbf", "exponential": "matern12"}
"""scikit-learn's names of two kernels, accepted silently as aliases of the canonical ones:
"gaussian" is "rbf" ($e^{-r^2/2}$) and "exponential" is "matern12" ($e^{-r}$, Laplace)."""


def _kernel_name(kernel) -> str:
    """The canonical name of `kernel` (an alias is mapped silently); ValueError if unknown."""
    name = KERNEL_ALIASES.get(kernel, kernel) if isinstance(kernel, str) else kernel
    if name not in KERNELS:
        raise ValueError(
            f"`kernel` must be one of {KERNELS} (or an alias in {tuple(KERNEL_ALIASES)}), "
            f"got {kernel!r}."
        )
    return name


def _profile(kernel: str) -> _Profile:
    if kernel == "vmf":
        # On the unit sphere exp(kappa x.y) = exp(kappa) exp(-kappa |x - y|^2 / 2): a Gaussian
        # tile with h = kappa^(-1/2), normalised on the sphere instead of R^d.
        return _PROFILES["rbf"]
    return _PROFILES[kernel]


class _Whitened(NamedTuple):
    data: Array
    queries: Array
    log_det: Array  # log |H|^{1/2}


def _nonfinite(name: str, x: Array) -> Array | None:
    """Raise for a concrete ``x`` with NaN or inf; for a traced one return the flag to check."""
    arr = concrete_or_none(x)
    if arr is not None:
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` contains NaN or inf (shape {arr.shape}).")
        return None
    return ~jnp.all(jnp.isfinite(x))


def _check_finite(name: str, x: Array) -> Array:
    """``x``, after a trace-time or (inside jit) ``eqx.error_if`` check for NaN and inf."""
    flag = _nonfinite(name, x)
    return x if flag is None else eqx.error_if(x, flag, f"`{name}` contains NaN or inf.")


class _Bandwidth(NamedTuple):
    """The bandwidth in one of its two forms: widths $h$ (scalar or (d,)) or a matrix $H$."""

    widths: ArrayLike | None
    matrix: ArrayLike | None


def _resolve_bandwidth(bandwidth, bandwidth_matrix) -> _Bandwidth:
    """Exactly one of `bandwidth` (widths) and `bandwidth_matrix` ($H$); a (d, d) array passed
    as `bandwidth` still means $H$, with a DeprecationWarning."""
    if bandwidth is None and bandwidth_matrix is None:
        raise ValueError(
            "Pass `bandwidth` (the width h: a scalar or per-dimension widths of shape (d,)) or "
            "`bandwidth_matrix` (the covariance H, shape (d, d))."
        )
    if bandwidth is not None and bandwidth_matrix is not None:
        raise ValueError(
            "Pass only one of `bandwidth` (the width h) and `bandwidth_matrix` (the covariance "
            f"H = h^2 I for a scalar h), got both (shapes {jnp.shape(bandwidth)} and "
            f"{jnp.shape(bandwidth_matrix)})."
        )
    if bandwidth_matrix is not None:
        if jnp.ndim(bandwidth_matrix) != 2:
            raise ValueError(
                "`bandwidth_matrix` must be a (d, d) covariance matrix, got shape "
                f"{jnp.shape(bandwidth_matrix)}; pass widths as `bandwidth=`."
            )
        return _Bandwidth(None, bandwidth_matrix)
    if jnp.ndim(bandwidth) == 2:
        warn_deprecated(
            "A (d, d) matrix passed as `bandwidth`", "`bandwidth_matrix=` for the covariance H",
            why="`bandwidth` is the width h, a standard deviation (a scalar, or per-dimension "
                "widths of shape (d,)).",
        )
        return _Bandwidth(None, bandwidth)
    return _Bandwidth(bandwidth, None)


def _whiten(data: Array, queries: Array, bandwidth: _Bandwidth) -> _Whitened:
    """Map points to $z = H^{-1/2} x$, centred on the data mean to limit cancellation."""
    d = data.shape[1]
    if bandwidth.matrix is not None:
        bw = jnp.asarray(bandwidth.matrix, dtype=data.dtype)
        if bw.shape != (d, d):
            raise ValueError(
                f"`bandwidth_matrix` must have shape ({d}, {d}), got {bw.shape}."
            )
        arr = concrete_or_none(bandwidth.matrix)
        if arr is not None and not np.all(np.linalg.eigvalsh(np.asarray(arr, float)) > 0):
            raise ValueError(
                f"`bandwidth_matrix` must be symmetric positive definite, got {arr}."
            )
        L = jnp.linalg.cholesky(bw)
        L = eqx.error_if(
            L, ~jnp.all(jnp.isfinite(L)), "`bandwidth_matrix` is not positive definite."
        )

        def whiten(x):
            return solve_triangular(L, x.T, lower=True).T

        log_det = jnp.sum(jnp.log(jnp.diagonal(L)))
    else:
        bw = jnp.asarray(bandwidth.widths, dtype=data.dtype)
        if bw.ndim > 1 or (bw.ndim == 1 and bw.shape != (d,)):
            raise ValueError(
                f"`bandwidth` must be a scalar or per-dimension widths of shape ({d},), got "
                f"shape {bw.shape} (a (d, d) covariance goes in `bandwidth_matrix`)."
            )
        check_positive("bandwidth", bandwidth.widths)

        widths = jnp.broadcast_to(bw, (d,))

        def whiten(x):
            return x / widths[None, :]

        log_det = jnp.sum(jnp.log(widths))
    centre = jnp.mean(data, axis=0, keepdims=True)
    return _Whitened(whiten(data - centre), whiten(queries - centre), log_det)


def _block_logits(profile: _Profile, zq: Array, zd: Array, col: Array) -> Array:
    """Log-kernel of one (queries, data) tile plus the per-column term."""
    if profile is _PROFILES["rbf"]:
        # -|a - b|^2 / 2 = a.b - |b|^2/2 - |a|^2/2: the row term is added once at the end.
        return jnp.matmul(zq, zd.T, precision=lax.Precision.HIGHEST) + col[None, :]
    if profile.exact_distance:
        diff = zq[:, None, :] - zd[None, :, :]
        u = jnp.sum(diff * diff, axis=-1)
    else:
        sq_q = jnp.sum(zq * zq, axis=1)
        sq_d = jnp.sum(zd * zd, axis=1)
        dot = jnp.matmul(zq, zd.T, precision=lax.Precision.HIGHEST)
        u = jnp.maximum(sq_q[:, None] + sq_d[None, :] - 2 * dot, 0)
    return profile.log_k(u) + col[None, :]


class _Partial(NamedTuple):
    """A log-sum-exp held as running maximum ``m`` and scaled sum ``s``: value m + log s."""

    m: Array
    s: Array


@functools.partial(jax.jit, static_argnums=(0,), static_argnames=("block_size", "exclude_self"))
def _partial_lse(
    profile: _Profile, zq: Array, zd: Array, log_w: Array, block_size: int, exclude_self: bool
) -> _Partial:
    """$\\log\\sum_j w_j k(u_{ij})$ for every query, streaming over (block, block) tiles."""
    nq, nd = zq.shape[0], zd.shape[0]
    bq, bd = min(block_size, nq), min(block_size, nd)
    gaussian = profile is _PROFILES["rbf"]
    col = log_w - 0.5 * jnp.sum(zd * zd, axis=1) if gaussian else log_w
    valid = into_blocks(jnp.ones(nd, dtype=bool), bd, "zero")
    col_blocks = jnp.where(valid, into_blocks(col, bd, "zero"), -jnp.inf)
    d_blocks = into_blocks(zd, bd, "edge")
    d_index = into_blocks(jnp.arange(nd), bd, "edge")

    def row_block(args):
        zq_b, q_index = args

        @jax.checkpoint
        def step(carry, tile):
            zd_b, col_b, d_idx = tile
            logits = _block_logits(profile, zq_b, zd_b, col_b)
            if exclude_self:
                logits = jnp.where(q_index[:, None] == d_idx[None, :], -jnp.inf, logits)
            m = jnp.maximum(carry.m, jnp.max(logits, axis=1))
            shift = jnp.where(jnp.isfinite(m), m, 0)
            s = carry.s * jnp.exp(carry.m - shift) + jnp.sum(jnp.exp(logits - shift[:, None]), 1)
            return _Partial(m, s), None

        init = _Partial(jnp.full((bq,), -jnp.inf, zq.dtype), jnp.zeros((bq,), zq.dtype))
        out, _ = lax.scan(step, init, (d_blocks, col_blocks, d_index))
        return out

    q_blocks = into_blocks(zq, bq, "edge")
    q_index = into_blocks(jnp.arange(nq), bq, "edge")
    out = lax.map(row_block, (q_blocks, q_index))
    m, s = out.m.reshape(-1)[:nq], out.s.reshape(-1)[:nq]
    if gaussian:
        m = m - 0.5 * jnp.sum(zq * zq, axis=1)
    return _Partial(m, s)


def _finish(p: _Partial) -> Array:
    return p.m + jnp.log(p.s)


def _placed(mesh, specs, arrays) -> list[Array]:
    """Lay each array out as its spec says (whitening and weights may have dropped the layout)."""
    pairs = zip(specs, arrays, strict=True)
    return [jax.reshard(a, NamedSharding(mesh, spec)) for spec, a in pairs]


def _log_kernel_sum(
    profile: _Profile,
    zq: Array,
    zd: Array,
    log_w: Array,
    *,
    block_size: int,
    query_sharding,
    data_sharding,
) -> Array:
    """Unnormalised $\\log\\sum_j w_j k(u_{ij})$, split over a mesh when an input is sharded."""
    local = functools.partial(
        _partial_lse, profile, block_size=block_size, exclude_self=False
    )
    if query_sharding is not None:
        mesh, axis = query_sharding
        rows, rep = PartitionSpec(axis), PartitionSpec()
        return jax.shard_map(
            lambda q, x, w: _finish(local(q, x, w)),
            mesh=mesh,
            in_specs=(rows, rep, rep),
            out_specs=rows,
            check_vma=False,  # the per-device scan carries need no collective
        )(*_placed(mesh, (rows, rep, rep), (zq, zd, log_w)))
    if data_sharding is not None:
        mesh, axis = data_sharding
        rows, rep = PartitionSpec(axis), PartitionSpec()

        def combine(q, x, w):
            part = local(q, x, w)
            m = lax.pmax(part.m, axis)
            shift = jnp.where(jnp.isfinite(m), m, 0)
            s = lax.psum(part.s * jnp.exp(part.m - shift), axis)
            return m + jnp.log(s)

        return jax.shard_map(
            combine,
            mesh=mesh,
            in_specs=(rep, rows, rows),
            out_specs=rep,
            check_vma=False,
        )(*_placed(mesh, (rep, rows, rows), (zq, zd, log_w)))
    # Pad the queries to whole blocks here rather than inside the compiled kernel (which pads
    # to the same size anyway): eager calls whose query counts fill the same number of blocks
    # then share one compilation of `_partial_lse`.
    nq = zq.shape[0]
    if nq > block_size:
        zq = jnp.pad(zq, ((0, -nq % block_size), (0, 0)), mode="edge")
    return _finish(local(zq, zd, log_w))[:nq]


def _log_weights(weights, n: int, dtype) -> tuple[Array, Array]:
    """Log weights and the log of their total (zeros and log n without weights)."""
    if weights is None:
        return jnp.zeros((n,), dtype), jnp.asarray(math.log(n), dtype)
    check_ndim("weights", weights, 1, "(n,)")
    check_length("weights", weights, n, "one weight per data point")
    check_positive("weights", weights, allow_zero=True)
    w = jnp.asarray(weights, dtype)
    return jnp.log(w), jnp.log(jnp.sum(w))


def _check_points(data, queries) -> None:
    check_ndim("data", data, 2, "(n, d)")
    check_ndim("queries", queries, 2, "(m, d)")
    check_same_last_dim("data", data, "queries", queries)
    if data.shape[0] == 0:
        raise ValueError(f"`data` must hold at least one point, got shape {data.shape}.")


def kde_log_density(
    data: Float[Array, "n d"],
    queries: Float[Array, "m d"],
    *,
    bandwidth: Float[ArrayLike, "*d"] | None = None,
    bandwidth_matrix: Float[ArrayLike, "d d"] | None = None,
    kernel: str = "rbf",
    weights: Float[ArrayLike, " n"] | None = None,
    block_size: int = 512,
) -> Float[Array, " m"]:
    r"""Exact log kernel density estimate at each query point.

    $$\log \hat p(y) = \log \frac{\sum_{j=1}^n w_j\, K_H(y - x_j)}{\sum_j w_j}, \qquad
      K_H(v) = |H|^{-1/2} \frac{k\big(\|H^{-1/2} v\|^2\big)}{\int_{\mathbb{R}^d} k(\|z\|^2)\,dz},$$
    with the radial profiles (of $r = \|H^{-1/2} v\|$)

    | kernel | $k$ | support |
    |---|---|---|
    | `rbf` (alias `gaussian`) | $e^{-r^2/2}$ | $\mathbb{R}^d$ |
    | `matern12` (alias `exponential`; Laplace) | $e^{-r}$ | $\mathbb{R}^d$ |
    | `tophat` | $1$ | $r < 1$ |
    | `epanechnikov` | $1 - r^2$ | $r < 1$ |
    | `linear` | $1 - r$ | $r < 1$ |
    | `cosine` | $\cos(\pi r / 2)$ | $r < 1$ |

    and normalising constants in closed form for every $d$ (scikit-learn's conventions).
    `kernel="vmf"` is the von Mises–Fisher kernel on the unit sphere $S^{d-1}$,
    $K(y, x) = C_d(\kappa)\, e^{\kappa\, y^\top x}$ with $\kappa = 1/h^2$ (a density for
    the surface measure; `data` and `queries` must be unit vectors, and $C_d$ comes from
    `jaxkern.special.vmf_log_normalizer`). The
    sum is a log-sum-exp streamed over (block_size, block_size) tiles with a running maximum:
    memory is $O(\text{block\_size}^2 + n + m)$ for any $n$, $m$, and a query far from every
    point gets its true (very negative) log-density, not $-\infty$. Gaussian tiles are one
    matrix product on data centred at their mean; kernels of $r$ rather than $r^2$ use direct
    differences, since $\sqrt{\cdot}$ would magnify the cancellation in
    $\|a\|^2 + \|b\|^2 - 2a\cdot b$. Queries outside a compact kernel's support get $-\infty$.

    If `queries` (or `data`) is a `jax.Array` whose rows are sharded over a mesh
    (`NamedSharding` with `PartitionSpec(axis)`), each device handles its rows (`shard_map`);
    sharded data are combined with one `pmax` and one `psum`. The values equal the
    unsharded call's.

    **Bandwidth:** `bandwidth` is always the width $h$, a standard deviation in the units of
    the data; `bandwidth_matrix` is the covariance $H$ (variance units). Pass exactly one:

    - `bandwidth=h`, a positive scalar: $H = h^2 I$;
    - `bandwidth=(h_1, ..., h_d)`, shape (d,): $H = \operatorname{diag}(h_i^2)$;
    - `bandwidth_matrix=H`, symmetric positive definite, shape (d, d), e.g. from
      [`scott_bandwidth_matrix`][jaxkern.density.scott_bandwidth_matrix] or
      `scipy.stats.gaussian_kde(...).covariance` (which reproduces SciPy).

    A (d, d) array passed as `bandwidth` still means $H$ but is deprecated
    (`DeprecationWarning`): pass it as `bandwidth_matrix`.

    **Arguments:**

    - `data`: the sample $x_j$, shape (n, d).
    - `queries`: the points $y$, shape (m, d).
    - `bandwidth`: the width $h > 0$, a scalar or per-dimension widths of shape (d,).
    - `bandwidth_matrix`: the covariance $H$, shape (d, d) (instead of `bandwidth`).
    - `kernel`: one of `"rbf"`, `"matern12"`, `"tophat"`, `"epanechnikov"`, `"linear"`,
      `"cosine"`, `"vmf"` (scalar `bandwidth` only) — the names in `KERNELS`.
      scikit-learn's names `"gaussian"` (= `"rbf"`) and `"exponential"` (= `"matern12"`)
      are accepted as aliases (`KERNEL_ALIASES`).
    - `weights`: non-negative weights $w_j$, shape (n,); default equal.
    - `block_size`: query and data points per tile (static).

    **Returns:** $\log\hat p(y)$ for each query, shape (m,).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.density import kde_log_density
        >>> data = jnp.array([[0.0], [1.0]])
        >>> round(float(kde_log_density(data, jnp.array([[0.5]]), bandwidth=1.0)[0]), 5)
        -1.04394
        >>> H = jnp.array([[1.0]])  # the same kernel, as a covariance
        >>> round(float(kde_log_density(data, jnp.array([[0.5]]), bandwidth_matrix=H)[0]), 5)
        -1.04394

    Parzen (1962); for the exact streaming form see Biroli & Mézard, *Kernel density
    estimators in large dimensions* (2024), where $\hat\rho_h$ is this sum.
    """
    _check_points(data, queries)
    data, queries = as_float(data, queries)  # integer points would round the whitening
    check_int("block_size", block_size, 1)
    kernel = _kernel_name(kernel)
    profile = _profile(kernel)
    bw = _resolve_bandwidth(bandwidth, bandwidth_matrix)
    n, d = data.shape
    log_w, log_total = _log_weights(weights, n, data.dtype)
    # Checked on a scalar, so a sharded input is never gathered onto one device for the check.
    for name, x in (("data", data), ("queries", queries)):
        flag = _nonfinite(name, x)
        if flag is not None:
            log_total = eqx.error_if(log_total, flag, f"`{name}` contains NaN or inf.")
    if kernel == "vmf" and (bw.matrix is not None or jnp.ndim(bw.widths) != 0):
        shape = jnp.shape(bw.widths if bw.matrix is None else bw.matrix)
        raise ValueError(
            f"`bandwidth` of the vmf kernel must be a scalar, got shape {shape}."
        )
    white = _whiten(data, queries, bw)
    log_sum = _log_kernel_sum(
        profile,
        white.queries,
        white.data,
        log_w,
        block_size=block_size,
        query_sharding=row_sharding(queries),
        data_sharding=row_sharding(data),
    )
    if kernel == "vmf":
        kappa = 1 / jnp.asarray(bw.widths, data.dtype) ** 2
        return log_sum - log_total + kappa + vmf_log_normalizer(kappa, d)
    return log_sum - log_total - white.log_det - jnp.asarray(profile.log_norm(d), data.dtype)


def loo_log_likelihood(
    data: Float[Array, "n d"],
    *,
    bandwidth: Float[ArrayLike, "*d"] | None = None,
    bandwidth_matrix: Float[ArrayLike, "d d"] | None = None,
    kernel: str = "rbf",
    block_size: int = 512,
) -> Float[Array, ""]:
    r"""Mean leave-one-out log-likelihood of the sample under its own KDE.

    $$\mathcal{L}(H) = \frac{1}{n}\sum_{i=1}^n \log \frac{1}{n-1}\sum_{j \ne i} K_H(x_i - x_j).$$

    Differentiable in the bandwidth (and the data); maximising it over the width $h$ is the
    likelihood cross-validation rule of
    [`loo_bandwidth`][jaxkern.density.loo_bandwidth].

    **Arguments:**

    - `data`: the sample, shape (n, d), n >= 2.
    - `bandwidth`: the width $h$ (a standard deviation), scalar or shape (d,); or
    - `bandwidth_matrix`: the covariance $H$, shape (d, d) — as in
      [`kde_log_density`][jaxkern.density.kde_log_density] (pass exactly one).
    - `kernel`, `block_size`: as in [`kde_log_density`][jaxkern.density.kde_log_density]
      (kernels on $\mathbb{R}^d$; `"gaussian"` and `"exponential"` are aliases of `"rbf"`
      and `"matern12"`).

    **Returns:** the scalar $\mathcal{L}(H)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.density import loo_log_likelihood
        >>> data = jnp.array([[0.0], [1.0]])
        >>> round(float(loo_log_likelihood(data, bandwidth=1.0)), 5)
        -1.41894

    Duin, *On the choice of smoothing parameters for Parzen estimators* (1976).
    """
    check_ndim("data", data, 2, "(n, d)")
    check_int("block_size", block_size, 1)
    if data.shape[0] < 2:
        raise ValueError(f"`data` needs at least two points, got shape {data.shape}.")
    data = as_float(data)
    kernel = _kernel_name(kernel)
    if kernel == "vmf":
        raise ValueError("`kernel` 'vmf' is not supported here: its normaliser is on the sphere.")
    profile = _profile(kernel)
    bw = _resolve_bandwidth(bandwidth, bandwidth_matrix)
    data = _check_finite("data", data)
    n, d = data.shape
    white = _whiten(data, data, bw)
    part = _partial_lse(
        profile,
        white.queries,
        white.data,
        jnp.zeros((n,), data.dtype),
        block_size=block_size,
        exclude_self=True,
    )
    log_norm = jnp.asarray(profile.log_norm(d) + math.log(n - 1), data.dtype)
    return jnp.mean(_finish(part)) - white.log_det - log_norm
