r"""MultiRocket: MiniRocket's kernels on a series and its first difference, four poolings.

The 84 MiniRocket kernels, at the dilations and with the quantile biases MiniRocket fits, are
applied to the series $x$ and to its first difference $\Delta x_t = x_{t+1} - x_t$ (each
representation with its own dilations and biases), and every (kernel, dilation, bias) gives
four features of its output $C$ over the pooling window $T$ (indices $j = 0..n-1$ within it):
PPV, the proportion of $C_j > b$; MPV, the mean of $C_j + b$ over those; MIPV, the mean of
their indices $j$; LSPV, the longest run between values $C_j < b$.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._validation import check_int
from ._minirocket import (
    BLOCK_ORDER,
    NUM_KERNELS,
    MiniRocketParameters,
    _channel_combinations,
    _feature_order,
    _groups,
    as_panel,
    block_outputs,
    blocked_map,
    check_channels,
    check_finite,
    check_lengths,
    fit_biases,
    minirocket_fit,
)

#: The pooling operators, in the order of the features (as in aeon).
POOLINGS = ("PPV", "LSPV", "MPV", "MIPV")


class MultiRocketParameters(eqx.Module):
    """The frozen parameters of a fitted MultiRocket transform (a pytree): MiniRocket
    parameters for the series and for its first difference.

    With several channels, `channel_masks[i, h]` holds a rank rather than MiniRocket's 0/1:
    $r > 0$ when channel $h$ is the $r$-th one added in (dilation, kernel) combination $i$,
    0 when it is not in the combination (the order of the sum decides float32 rounding).
    """

    #: Dilations and biases of the kernels on the series.
    base: MiniRocketParameters
    #: Dilations and biases of the kernels on the first difference.
    diff: MiniRocketParameters

    @property
    def num_channels(self) -> int:
        return self.base.num_channels

    @property
    def num_features(self) -> int:
        return len(POOLINGS) * (self.base.num_features + self.diff.num_features)


def _accurate_mean(v, bound, count, denom):
    """sum(v, -1) / count, correctly rounded (but for near-ties) in v's precision where the
    last axis is at most 2048 long (within an ulp beyond): the reference sums float32 values
    in float64, and an exact sum does not depend on the order (or padded length) of the sum.

    The sum is exact as hi + lo (Rump, Ogita and Oishi's ExtractScalar: with sigma a power of
    two above 2 L `bound` >= 2 L max|v|, (sigma + v) - sigma keeps v's leading bits, which
    add up exactly, and v minus them is exact and tiny). The quotient q = hi / count is then
    corrected by the exact remainder hi - q count (q split in two so each product with count
    is exact) plus lo. Only additions and exact products, so neither reassociation nor
    multiply-add contraction changes the result.
    """
    L = v.shape[-1]
    bits = max(int(np.ceil(np.log2(L))), 1) + 1
    _, e = jnp.frexp(bound[..., None])  # bound >= max |v| over the last axis
    sigma = jnp.ldexp(jnp.ones((), v.dtype), e + bits)
    lead = (sigma + v) - sigma
    hi = jnp.sum(lead, axis=-1)
    lo = jnp.sum(v - lead, axis=-1)
    q = hi / denom
    # q = qh + ql with qh on a grid 2^bits ulps wide, so qh * count and ql * count are exact
    _, eq = jnp.frexp(q)
    tau = jnp.ldexp(jnp.ones((), v.dtype), eq + bits)
    qh = (tau + q) - tau
    ql = q - qh
    c = count.astype(v.dtype)
    r = (hi - qh * c) - ql * c
    return q + (r + lo) / denom


def _pool(C, B, t, start, size, *, idx_dtype):
    """PPV, LSPV, MPV, MIPV (4, 84, nf) of outputs C (84, Lp) against biases B (84, nf) over
    the windows [start, start + size) (84,) of each kernel.

    LSPV follows the reference implementation: the largest difference between consecutive
    indices of the sequence 0, (indices j with C_j < b), n - 1 (values equal to b count as
    neither side).
    """
    dtype = C.dtype
    rel = t[None, :] - start[:, None]  # (84, Lp) index within the window
    inside = (rel >= 0) & (rel < size[:, None])
    Cq, Bq = C[:, None, :], B[:, :, None]
    pos = inside[:, None] & (Cq > Bq)  # (84, nf, Lp)
    neg = inside[:, None] & (Cq < Bq)
    count = jnp.sum(pos, axis=-1, dtype=jnp.int32)
    values = jnp.where(pos, Cq + Bq, jnp.zeros((), dtype))
    index_sum = jnp.sum(jnp.where(pos, rel[:, None].astype(idx_dtype), 0), axis=-1,
                        dtype=idx_dtype)
    last = jax.lax.cummax(jnp.where(neg, rel[:, None], 0), axis=2)
    prev = jnp.concatenate([jnp.zeros_like(last[..., :1]), last[..., :-1]], axis=-1)
    end = (rel == size[:, None] - 1)[:, None]
    lspv = jnp.max(jnp.where(neg | end, rel[:, None] - prev, 0), axis=-1)
    has = count > 0
    denom = jnp.maximum(count, 1).astype(dtype)
    ppv = count.astype(dtype) / size[:, None].astype(dtype)
    bound = jnp.max(jnp.abs(C), axis=-1)[:, None] + jnp.abs(B)  # >= |C_j + b| (84, nf)
    mpv = jnp.where(has, _accurate_mean(values, bound, count, denom), jnp.zeros((), dtype))
    mipv = jnp.where(has, index_sum.astype(dtype) / denom, -jnp.ones((), dtype))
    return jnp.stack([ppv, lspv.astype(dtype), mpv, mipv])


def _representation(params: MiniRocketParameters, x, length, left_offset: int):
    """(4, num_features) features of one series x (c, L) of `length` points, biases, channel
    masks and features in block order (`_feature_order`, `BLOCK_ORDER`).

    With several channels, each (dilation, kernel) output is the sum over its channel subset
    of the per-channel outputs, added channel by channel in index order (as aeon adds them).
    """
    c, L = x.shape
    dtype = x.dtype
    x = jnp.where(jnp.arange(L, dtype=jnp.int32)[None, :] < length, x, 0)
    P = 4 * max(params.dilations)
    xp = jnp.pad(x, ((0, 0), (P, P)))
    A, G = -xp, 3 * xp
    t = jnp.arange(L, dtype=jnp.int32)
    # exactly 1, unknown to XLA: keeps the shared sum from being recomputed per kernel
    one = jnp.minimum(t + jnp.maximum(length, 1), 1).astype(dtype)
    order = jnp.asarray(BLOCK_ORDER)
    masks = params.channel_masks.astype(dtype).reshape(-1, NUM_KERNELS, c)[:, BLOCK_ORDER]
    idx_dtype = jnp.int32 if L <= 46_000 else dtype  # sum of indices fits an int32
    dil = np.asarray(params.dilations)
    out = [None] * len(dil)
    for _, js, B in _groups(params):
        idx = np.asarray(js)

        def body(carry, inputs):
            j, d, Bj, m = inputs
            if c == 1:
                C = jnp.concatenate(block_outputs(A[0], G[0], one, d, P, L, left_offset))
            else:
                Ch = jax.vmap(lambda a, g, d=d: jnp.concatenate(
                    block_outputs(a, g, one, d, P, L, left_offset)))(A, G)  # (c, 84, L)
                C = None
                for r in range(1, min(c, 9) + 1):  # the channel added r-th, for each kernel
                    sel = m == r
                    term = Ch[0] * 0
                    for h in range(c):
                        term = jnp.where(sel[:, h, None], Ch[h], term)
                    C = term if C is None else jnp.where(jnp.any(sel, axis=1)[:, None],
                                                         C + term, C)
            pad = 4 * d
            has_inner = length - 2 * pad > 0
            inner = ((j + order) % 2 == 1) & has_inner  # window without padded positions
            start = jnp.where(inner, pad, 0)
            size = jnp.where(inner, length - 2 * pad, length)
            return carry, _pool(C, Bj, t, start, size, idx_dtype=idx_dtype)

        xs = (jnp.asarray(idx, jnp.int32), jnp.asarray(dil[idx], jnp.int32), B, masks[idx])
        _, F = jax.lax.scan(body, None, xs)  # (dilations, 4, 84, nf)
        for i, j in enumerate(js):
            out[j] = F[i].reshape(len(POOLINGS), -1)
    return jnp.concatenate(out, axis=1)


def _transform_series(params: MultiRocketParameters, x, length):
    base = _representation(params.base, x, length, 0)
    # aeon's difference-series convolution reads its four left taps one step to the right
    diff = _representation(params.diff, jnp.diff(x, axis=-1), length - 1, 1)
    return jnp.concatenate([base.reshape(-1), diff.reshape(-1)])


def multirocket_transform(
    params: MultiRocketParameters,
    X: Float[Array, "n channels L"],
    *,
    lengths: Int[Array, " n"] | None = None,
    block_size: int = 32,
) -> Float[Array, "n num_features"]:
    r"""MultiRocket features (PPV, LSPV, MPV, MIPV) of a batch of series, given fitted
    parameters.

    For each representation (the series $x$, then its first difference $\Delta x$), dilation
    $d$, kernel $k$ with weight-2 taps $\{a, b, c\}$ and bias $b_{kq}$, the output is
    MiniRocket's
    $C_t = -\sum_{i=0}^8 x_{t+(i-4)d} + 3\sum_{i\in\{a,b,c\}} x_{t+(i-4)d}$ (zeros outside the
    series), and over its pooling window $C_0..C_{n-1}$ (all positions, or those at least $4d$
    from either end, alternating over kernels and dilations as in MiniRocket), with
    $J^+ = \{j : C_j > b\}$ and $J^- = \{j : C_j < b\}$ (with several channels, $C$ is the
    sum of the per-channel outputs over the combination's channels, as in MiniRocket),

    $$
    \mathrm{PPV} = \frac{|J^+|}{n},\quad
    \mathrm{MPV} = \frac{1}{|J^+|}\sum_{j\in J^+}(C_j + b),\quad
    \mathrm{MIPV} = \frac{1}{|J^+|}\sum_{j\in J^+} j,\quad
    \mathrm{LSPV} = \max_{i}\,(s_{i+1} - s_i),
    $$

    with $s = (0, J^-, n-1)$ in increasing order; MPV is 0 and MIPV is $-1$ when $J^+$ is
    empty. These are the reference implementation's (aeon 1.6's, the authors' code's)
    definitions, which this transform reproduces to float32 rounding: MPV averages $C_j + b$
    (the paper writes $C_j - b$), LSPV is the longest gap between values below the bias, and
    on $\Delta x$ the four left taps ($i < 4$) read $\Delta x_{t+(i-4)d+1}$, one step to the
    right (the biases are fitted without that shift, as aeon does). Multivariate features
    equal aeon's `MultiRocket` given its parameters (channels summed in aeon's order).

    **Arguments:**

    - `params`: a [`MultiRocketParameters`][jaxkern.timeseries.MultiRocketParameters] from
      [`multirocket_fit`][jaxkern.timeseries.multirocket_fit].
    - `X`: series, shape (n, channels, L) or (n, L) for one channel, L >= 2, with the fitted
      channel count. NaN or inf is an error.
    - `lengths`: optional int (n,), each >= 2: series i is `X[i, :, :lengths[i]]` (the rest
      is ignored).
    - `block_size`: series per compiled call (the last block is padded).

    **Returns:**

    (n, 8 * 84 * features per kernel) features in `X`'s dtype, in aeon's order: for $x$ then
    $\Delta x$, the PPV, LSPV, MPV and MIPV blocks, each in MiniRocket's order (dilation,
    kernel, bias).

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.timeseries import multirocket_fit, multirocket_transform
    >>> X = jnp.sin(jnp.linspace(0, 1, 40)[None, :] * jnp.arange(1.0, 7.0)[:, None] * 6)
    >>> params = multirocket_fit(X, num_features=8 * 84 * 2, seed=0)
    >>> F = multirocket_transform(params, X)
    >>> F.shape
    (6, 1344)
    >>> bool(jnp.all((F[:, :168] >= 0) & (F[:, :168] <= 1)))  # the PPVs of x
    True

    ```

    Tan, Dempster, Bergmeir and Webb, "MultiRocket: multiple pooling operators and
    transformations for fast and effective time series classification", Data Mining and
    Knowledge Discovery 36, 2022.
    """
    X = as_panel("X", X)
    check_channels(params.num_channels, X)
    check_finite("X", X)
    n, _, L = X.shape
    lengths = check_lengths(lengths, n, L)
    _check_min_length(X, lengths)
    if X.shape[1] > 1:
        for p in (params.base, params.diff):
            _check_ranks(p.channel_masks)
    params = jax.tree.map(lambda a: a.astype(X.dtype) if jnp.issubdtype(a.dtype, jnp.floating)
                          else a, params)
    orders = [_feature_order(p.features_per_dilation) for p in (params.base, params.diff)]
    params = MultiRocketParameters(
        *[eqx.tree_at(lambda q: q.biases, p, p.biases[o])
          for p, o in zip((params.base, params.diff), orders)])
    F = blocked_map(_transform_series, params, X, lengths, block_size)
    # back from block order to the reference order, pooling by pooling
    inverse, start = [], 0
    for o in orders:
        m = len(o)
        back = np.argsort(o).astype(np.int32)
        inverse += [start + i * m + back for i in range(len(POOLINGS))]
        start += len(POOLINGS) * m
    return F[:, np.concatenate(inverse)]


def _check_ranks(ranks) -> None:
    if isinstance(ranks, jax.core.Tracer):
        return
    r = np.sort(np.asarray(ranks), axis=1)[:, ::-1]
    k = np.sum(r > 0, axis=1)
    want = np.where(np.arange(r.shape[1])[None, :] < k[:, None],
                    k[:, None] - np.arange(r.shape[1])[None, :], 0)
    if not np.array_equal(r, want) or np.any(k == 0):
        raise ValueError("`params` channel masks must hold ranks 1..k (the order each "
                         "combination's k channels are added in, 0 elsewhere), as "
                         "`multirocket_fit` makes them; got rows such as "
                         f"{np.asarray(ranks)[np.argmax(np.any(r != want, axis=1))]}.")


def _check_min_length(X, lengths) -> None:
    if X.shape[-1] < 2:
        raise ValueError(f"`X` must have series of length >= 2 (MultiRocket also convolves "
                         f"the first difference), got shape {X.shape}.")
    if not isinstance(lengths, jax.core.Tracer) and int(jnp.min(lengths)) < 2:
        raise ValueError(f"`lengths` must be >= 2 (MultiRocket also convolves the first "
                         f"difference), got min {int(jnp.min(lengths))}.")


def multirocket_fit(
    X: Float[Array, "n channels L"],
    *,
    lengths: Int[Array, " n"] | None = None,
    num_features: int = 50_000,
    max_dilations_per_kernel: int = 32,
    seed: int = 0,
) -> MultiRocketParameters:
    r"""Fit MultiRocket's dilations and biases: MiniRocket's fit on the series and on its
    first difference.

    Each representation (the series $x$ of length $L$, and $\Delta x$ of length $L - 1$) gets
    MiniRocket's dilations $\lfloor 2^e\rfloor$, $e$ evenly spaced in
    $[0, \log_2((L-1)/8)]$, and biases at the quantile levels $\{k\varphi\}$ of the outputs of
    random training series, drawn as aeon's `MultiRocket(n_kernels=num_features // 8,
    random_state=seed)` draws them (the same series for both representations). Several
    channels get MiniRocket's random channel subsets per (dilation, kernel), drawn as aeon
    draws them; as in aeon (and the authors' code), the difference's biases are fitted on a
    second draw of subsets while its transform sums over the series' subsets, so fitted
    parameters and features equal aeon's.

    **Arguments:**

    - `X`: training series (n, channels, L) or (n, L), L >= 2; NaN or inf is an error.
    - `lengths`: optional int (n,) lengths (>= 2) of variable-length series padded to L.
    - `num_features`: total features, rounded down to a multiple of 8 x 84 = 672 (2
      representations x 4 poolings x 84 kernels); the default gives aeon's 49,728.
    - `max_dilations_per_kernel`: at most this many dilations per representation.
    - `seed`: seed of the random choices of series (and of channel subsets).

    **Returns:**

    [`MultiRocketParameters`][jaxkern.timeseries.MultiRocketParameters], a pytree for
    [`multirocket_transform`][jaxkern.timeseries.multirocket_transform].

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.timeseries import multirocket_fit
    >>> X = jnp.sin(jnp.linspace(0, 1, 100)[None, :] * jnp.arange(1.0, 5.0)[:, None] * 6)
    >>> params = multirocket_fit(X, num_features=8 * 840, seed=0)
    >>> params.num_features, params.base.dilations, params.diff.dilations
    (6720, (1, 2, 3, 4, 5, 7, 9, 12), (1, 2, 3, 4, 5, 7, 9, 12))

    ```

    Tan, Dempster, Bergmeir and Webb, "MultiRocket", Data Mining and Knowledge Discovery, 2022.
    """
    X = as_panel("X", X)
    check_finite("X", X)
    check_int("num_features", num_features, len(POOLINGS) * 2 * NUM_KERNELS)
    n, _, L = X.shape
    lengths = check_lengths(lengths, n, L)
    _check_min_length(X, lengths)
    per_representation = num_features // (2 * len(POOLINGS))
    kw = dict(num_features=per_representation, max_dilations_per_kernel=max_dilations_per_kernel,
              seed=seed)
    base = minirocket_fit(X, lengths=lengths, **kw)
    dX = jnp.diff(X, axis=-1)
    diff = minirocket_fit(dX, lengths=lengths - 1, **kw)
    if X.shape[1] > 1:
        # aeon draws the difference's channel subsets after the series', from the same stream,
        # and fits the difference's biases on them; its transform then sums the difference's
        # outputs over the series' subsets (in the order drawn): stored here as channel ranks
        rng = _Recorder(np.random.RandomState(seed))
        _channel_combinations(rng, X.shape[1], base.channel_masks.shape[0])
        ranks = _ranks(rng.chosen, X.shape[1])
        _channel_combinations(rng, X.shape[1], diff.channel_masks.shape[0])
        diff_subsets = _ranks(rng.chosen[len(ranks):], X.shape[1]) > 0
        base = eqx.tree_at(lambda p: p.channel_masks, base, jnp.asarray(ranks, X.dtype))
        diff = _refit_biases(diff, dX, lengths - 1, diff_subsets, seed)
        diff = eqx.tree_at(lambda p: p.channel_masks, diff,
                           jnp.asarray(ranks[: diff_subsets.shape[0]], X.dtype))
    return MultiRocketParameters(base=base, diff=diff)


class _Recorder:
    """A NumPy generator that records the channel subsets `_channel_combinations` draws, in
    the order drawn (the order aeon adds the channels in)."""

    def __init__(self, rng):
        self.rng, self.chosen = rng, []

    def uniform(self, *args):
        return self.rng.uniform(*args)

    def choice(self, *args, **kwargs):
        self.chosen.append(self.rng.choice(*args, **kwargs))
        return self.chosen[-1]


def _ranks(subsets, num_channels: int) -> np.ndarray:
    """(len(subsets), num_channels) ranks: entry h is r > 0 when channel h is the r-th of its
    subset, 0 when it is not in it."""
    ranks = np.zeros((len(subsets), num_channels), np.float32)
    for i, chosen in enumerate(subsets):
        ranks[i, chosen] = np.arange(1, len(chosen) + 1)
    return ranks


def _refit_biases(params: MiniRocketParameters, X, lengths, masks, seed: int):
    """`params` with channel subsets `masks` (0/1) and the biases MiniRocket's fit draws for
    them (the same random training series as `minirocket_fit`'s)."""
    biases = fit_biases(X, lengths, params.dilations, params.features_per_dilation, masks, seed)
    return MiniRocketParameters(biases=biases, channel_masks=jnp.asarray(masks, X.dtype),
                                dilations=params.dilations,
                                features_per_dilation=params.features_per_dilation)
