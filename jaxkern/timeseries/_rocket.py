r"""ROCKET: random dilated convolution kernels pooled by PPV and max.

Kernel $k$ has length $\ell_k \in \{7, 9, 11\}$, Gaussian weights centred to mean zero (per
channel), a bias $b_k \sim U(-1, 1)$, a dilation $d_k = \lfloor 2^u\rfloor$ with
$u \sim U(0, \log_2((L-1)/(\ell_k-1)))$ and, with probability 1/2, zero padding of
$(\ell_k-1)d_k/2$ on each side. Its output on a series $x$ is

$$
C_t = b_k + \sum_{h \in H_k}\sum_{j=0}^{\ell_k-1} w_{k,h,j}\, x_{h, t + j d_k},
\quad t = -p_k, \dots, L + p_k - (\ell_k-1)d_k - 1,
$$

and the two features are $\mathrm{PPV} = \frac1{|T|}\sum_t [C_t > 0]$ and $\max_t C_t$.
"""

from __future__ import annotations

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._validation import check_int
from ._minirocket import as_panel, blocked_map, check_channels, check_finite

MAX_LENGTH = 11


class RocketParameters(eqx.Module):
    """Random ROCKET kernels (a pytree; every field is an array leaf, so it vmaps)."""

    #: (num_kernels, channels, 11) weights; zero beyond a kernel's length and off its channels.
    weights: Float[Array, "k channels 11"]
    biases: Float[Array, " k"]
    dilations: Int[Array, " k"]
    paddings: Int[Array, " k"]
    lengths: Int[Array, " k"]

    @property
    def num_channels(self) -> int:
        return int(self.weights.shape[1])


def rocket_kernels(
    num_timepoints: int, num_channels: int = 1, *, num_kernels: int = 10_000, seed: int = 0,
    dtype=None,
) -> RocketParameters:
    r"""Draw ROCKET's random kernels for series of `num_timepoints` points.

    The draws follow the ROCKET paper (and aeon's order of draws, from NumPy's legacy generator
    seeded with `seed`): length uniform in $\{7, 9, 11\}$; for multivariate series
    $\lfloor 2^u\rfloor$ channels, $u \sim U(0, \log_2(\min(c, \ell) + 1))$; weights
    $\mathcal N(0, 1)$ centred per channel; bias $U(-1, 1)$; dilation
    $\lfloor 2^{U(0, \log_2((L-1)/(\ell-1)))}\rfloor$ (at least 1); padding
    $\lfloor(\ell-1)d/2\rfloor$ or 0 with probability 1/2 each.

    **Arguments:**

    - `num_timepoints`: series length L the kernels are drawn for.
    - `num_channels`: channels c.
    - `num_kernels`: number of kernels (2 features each).
    - `seed`: seed of the draws.
    - `dtype`: float dtype of weights and biases (default: JAX's default float).

    **Returns:**

    [`RocketParameters`][jaxkern.timeseries.RocketParameters].

    **Example:**

    ```python
    >>> from jaxkern.timeseries import rocket_kernels
    >>> kernels = rocket_kernels(100, num_kernels=4, seed=0)
    >>> kernels.lengths.tolist(), kernels.weights.shape
    ([7, 9, 7, 9], (4, 1, 11))

    ```

    Dempster, Petitjean and Webb, "ROCKET: exceptionally fast and accurate time series
    classification using random convolutional kernels", Data Min. Knowl. Disc. 2020.
    """
    check_int("num_timepoints", num_timepoints, 1)
    check_int("num_channels", num_channels, 1)
    check_int("num_kernels", num_kernels, 1)
    rng = np.random.RandomState(seed)
    lengths = rng.choice(np.array([7, 9, 11], np.int32), num_kernels).astype(np.int32)
    per_kernel = np.zeros(num_kernels, np.int32)
    for i in range(num_kernels):
        per_kernel[i] = 2 ** rng.uniform(0, np.log2(min(num_channels, lengths[i]) + 1))
    W = np.zeros((num_kernels, num_channels, MAX_LENGTH), np.float32)
    biases = np.zeros(num_kernels, np.float32)
    dilations = np.zeros(num_kernels, np.int32)
    paddings = np.zeros(num_kernels, np.int32)
    for i in range(num_kernels):
        ell, m = int(lengths[i]), int(per_kernel[i])
        w = rng.normal(0, 1, m * ell).astype(np.float32).reshape(m, ell)
        w = w - w.mean(axis=1, keepdims=True)
        channels = rng.choice(np.arange(num_channels), m, replace=False)
        W[i, channels, :ell] = w
        biases[i] = rng.uniform(-1, 1)
        top = np.log2((num_timepoints - 1) / (ell - 1)) if num_timepoints > ell else 0.0
        dilations[i] = max(np.int32(2 ** rng.uniform(0, top)), 1)
        paddings[i] = ((ell - 1) * dilations[i]) // 2 if rng.randint(2) == 1 else 0
    dtype = dtype or jnp.result_type(float)
    return RocketParameters(jnp.asarray(W, dtype), jnp.asarray(biases, dtype),
                            jnp.asarray(dilations), jnp.asarray(paddings), jnp.asarray(lengths))


def _rocket_chunk(x, length, w, b, d, p, ell):
    """(kc, 2) features of kernels (w (kc, c, 11), b, d, p, ell) on x (c, L) of `length`."""
    L = x.shape[-1]
    u = jnp.arange(L, dtype=jnp.int32)
    out_len = jnp.maximum(length + 2 * p - (ell - 1) * d, 1)  # (kc,)
    acc = jnp.broadcast_to(b[:, None], (b.shape[0], L))
    for j in range(MAX_LENGTH):
        idx = u[None, :] - p[:, None] + j * d[:, None]  # (kc, L)
        inside = (idx >= 0) & (idx < length)
        g = jnp.take(x, jnp.clip(idx, 0, L - 1), axis=1)  # (c, kc, L)
        g = jnp.where(inside[None], g, 0)
        for h in range(x.shape[0]):
            acc = acc + w[:, h, j][:, None] * g[h]
    valid = u[None, :] < out_len[:, None]
    ppv = jnp.sum((acc > 0) & valid, axis=1, dtype=jnp.int32).astype(x.dtype)
    ppv = ppv / out_len.astype(x.dtype)
    mx = jnp.max(jnp.where(valid, acc, -jnp.inf), axis=1)
    return jnp.stack([ppv, mx], axis=1)


def _rocket_one(params: RocketParameters, x, length, chunk: int):
    k = params.biases.shape[0]
    pad = -k % chunk
    fields = (params.weights, params.biases, params.dilations, params.paddings, params.lengths)
    fields = [jnp.concatenate([f, jnp.broadcast_to(f[:1], (pad,) + f.shape[1:])])
              .reshape((-1, chunk) + f.shape[1:]) for f in fields]
    F = jax.lax.map(lambda a: _rocket_chunk(x, length, *a), tuple(fields))
    return F.reshape(-1, 2)[:k].reshape(-1)


@functools.cache
def _series_fn(normalise: bool, chunk: int):
    """The per-series function (one object per setting, so compilations are reused)."""

    def prepare(x, length):
        L = x.shape[-1]
        inside = jnp.arange(L, dtype=jnp.int32)[None, :] < length
        x = jnp.where(inside, x, 0)
        if normalise:
            m = length.astype(x.dtype)
            xc = jnp.where(inside, x - jnp.sum(x, axis=1, keepdims=True) / m, 0)
            std = jnp.sqrt(jnp.sum(xc**2, axis=1, keepdims=True) / m)
            x = xc / jnp.where(std > 0, std, 1)
        return x

    def one(params, x, length):
        return _rocket_one(params, prepare(x, length), length, chunk)

    one.prepare = prepare
    return one


def _tree(C, op, lanes: int = 32):
    """`op`-reduce C (k, S) over its last axis (S a multiple of `lanes`): `lanes` running values
    over slices, then across them, one loop that XLA's CPU backend vectorises."""
    acc = None
    for i in range(C.shape[-1] // lanes):
        v = C[:, i * lanes:(i + 1) * lanes]
        acc = v if acc is None else op(acc, v)
    return acc


@functools.cache
def _grouped_series_fn(groups: tuple[tuple[int, int], ...], normalise: bool):
    """Per-series ROCKET for univariate series with kernels grouped by dilation (static).

    `groups` holds (dilation, largest padding) per group; the parameters come as one tuple of
    (weights (k, 11), biases, paddings, lengths) per group. Within a group the 11 taps are
    static slices of the zero-padded series, shared by all its kernels, so the convolution is
    one broadcast multiply-add loop over (kernels, positions), in the tap order of the
    reference implementation, with no gather.
    """
    lanes = 32

    def one(gparams, x, length):
        L = x.shape[-1]
        x = _series_fn(normalise, 1).prepare(x, length)[0]
        dtype = x.dtype
        out = []
        for (d, P), (w, b, p, ell) in zip(groups, gparams, strict=True):
            Sp = -(-(L + P) // lanes) * lanes
            xpad = jnp.pad(x, (P, Sp + (MAX_LENGTH - 1) * d - P - L))
            acc = jnp.broadcast_to(b[:, None], (b.shape[0], Sp))
            for j in range(MAX_LENGTH):
                acc = acc + w[:, j][:, None] * xpad[j * d: j * d + Sp][None, :]
            s = jnp.arange(Sp, dtype=jnp.int32) - P  # start of the window, t in the docstring
            out_len = jnp.maximum(length + 2 * p - (ell - 1) * d, 1)
            valid = (s[None, :] >= -p[:, None]) & (s[None, :] < (out_len - p)[:, None])
            C = jnp.where(valid, acc, -jnp.inf)
            hits = jnp.sum(_tree(jnp.where(C > 0, 1, 0), jnp.add, lanes), axis=1,
                           dtype=jnp.int32)
            mx = jnp.max(_tree(C, jnp.maximum, lanes), axis=1)
            out.append(jnp.stack([hits.astype(dtype) / out_len.astype(dtype), mx], axis=1))
        return jnp.concatenate(out).reshape(-1)

    return one


def rocket_transform(
    params: RocketParameters,
    X: Float[Array, "n channels L"],
    *,
    lengths: Int[Array, " n"] | None = None,
    normalise: bool = True,
    block_size: int = 32,
    kernel_chunk: int = 500,
) -> Float[Array, "n features"]:
    r"""ROCKET features: PPV and max of every random kernel, interleaved per kernel.

    **Arguments:**

    - `params`: [`RocketParameters`][jaxkern.timeseries.RocketParameters] from
      [`rocket_kernels`][jaxkern.timeseries.rocket_kernels].
    - `X`: series (n, channels, L) or (n, L); NaN or inf is an error.
    - `lengths`: optional int (n,) lengths of series padded to L (masked).
    - `normalise`: z-normalise each series and channel over its own length first (as ROCKET
      does; a constant series becomes zeros).
    - `block_size`: series per compiled call; `kernel_chunk`: kernels evaluated at once on
      the gather path (below).

    Univariate series with concrete kernels (the usual eager call) take a fast path: kernels
    grouped by dilation, whose 11 taps are then static slices of the series shared by the
    group, with the same additions in the same order (equal bit for bit to the other path).
    Kernels that are tracers (the transform under `jax.jit` or `jax.vmap` over the
    parameters) and multivariate series gather each kernel's taps instead, several times
    slower on CPU.

    **Returns:**

    (n, 2 * num_kernels) features `[ppv_0, max_0, ppv_1, max_1, ...]`.

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.timeseries import rocket_kernels, rocket_transform
    >>> X = jnp.sin(jnp.linspace(0, 1, 50)[None, :] * jnp.arange(1.0, 4.0)[:, None] * 6)
    >>> rocket_transform(rocket_kernels(50, num_kernels=10), X).shape
    (3, 20)

    ```

    Dempster, Petitjean and Webb, "ROCKET", Data Min. Knowl. Disc. 2020.
    """
    from ._minirocket import check_lengths

    X = as_panel("X", X)
    check_channels(params.num_channels, X)
    check_finite("X", X)
    check_int("kernel_chunk", kernel_chunk, 1)
    n, _, L = X.shape
    lengths = check_lengths(lengths, n, L)
    chunk = min(kernel_chunk, int(params.biases.shape[0]))

    params = jax.tree.map(lambda a: a.astype(X.dtype) if jnp.issubdtype(a.dtype, jnp.floating)
                          else a.astype(jnp.int32), params)
    if X.shape[1] == 1 and not any(isinstance(a, jax.core.Tracer)
                                   for a in (params.dilations, params.paddings)):
        # concrete kernels: group them by dilation, so that the taps are static slices
        d, pad = np.asarray(params.dilations), np.asarray(params.paddings)
        groups, gparams, order = [], [], []
        for dv in np.unique(d):
            k = np.nonzero(d == dv)[0]
            groups.append((int(dv), int(pad[k].max())))
            gparams.append((params.weights[k, 0], params.biases[k], params.paddings[k],
                            params.lengths[k]))
            order.append(k)
        order = np.concatenate(order)
        inverse = np.argsort(order)
        F = blocked_map(_grouped_series_fn(tuple(groups), normalise), tuple(gparams), X,
                        lengths, block_size)
        cols = np.stack([2 * inverse, 2 * inverse + 1], axis=1).reshape(-1).astype(np.int32)
        return F[:, cols]
    return blocked_map(_series_fn(normalise, chunk), params, X, lengths, block_size)
