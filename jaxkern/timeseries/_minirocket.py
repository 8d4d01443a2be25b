r"""MiniRocket: 84 fixed length-9 kernels with weights $\{-1, 2\}$, dilated, pooled by PPV.

Each kernel has weight $-1$ at six of its nine taps and $2$ at the other three, so its
convolution with a series $x$ at dilation $d$ is

$$
C_t = -\sum_{k=0}^{8} x_{t + (k-4)d} + 3\,(x_{t+(a-4)d} + x_{t+(b-4)d} + x_{t+(c-4)d}),
$$

with zeros outside the series: one sum of nine shifted copies shared by all 84 kernels, plus
three of nine shifted copies of $3x$. The feature is the proportion of positive values
$\mathrm{PPV} = \frac1{|T|}\sum_{t\in T} [C_t > b]$ for biases $b$ drawn from quantiles of the
convolution of a random training series. $T$ alternates between every position and the
positions that need no padding (from kernel to kernel and dilation to dilation).
"""

from __future__ import annotations

import itertools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._validation import check_int

#: The 84 kernels: the three taps of each (out of nine) that carry weight 2.
KERNEL_INDICES = np.array(list(itertools.combinations(range(9), 3)), dtype=np.int32)
NUM_KERNELS = 84


class MiniRocketParameters(eqx.Module):
    """The frozen parameters of a fitted MiniRocket transform (a pytree).

    `biases` and `channel_masks` are array leaves; the dilations and the number of features at
    each dilation fix the shapes of the computation and are static.
    """

    #: (num_features,) biases, ordered dilation-major, then kernel, then quantile.
    biases: Float[Array, " num_features"]
    #: (num_dilations * 84, num_channels) 0/1: the channels each (dilation, kernel) sums over.
    channel_masks: Float[Array, "combinations channels"]
    dilations: tuple[int, ...] = eqx.field(static=True)
    features_per_dilation: tuple[int, ...] = eqx.field(static=True)

    @property
    def num_channels(self) -> int:
        return int(self.channel_masks.shape[1])

    @property
    def num_features(self) -> int:
        return NUM_KERNELS * int(sum(self.features_per_dilation))


def fit_dilations(length: int, num_features: int, max_dilations_per_kernel: int):
    """Dilations $\\lfloor 2^e \\rfloor$, $e$ evenly spaced in $[0, \\log_2((L-1)/8)]$, and
    how many features each gets (the MiniRocket paper's rule; $L < 9$ gives dilation 1 only)."""
    per_kernel = num_features // NUM_KERNELS
    true_max = min(per_kernel, max_dilations_per_kernel)
    multiplier = per_kernel / true_max
    max_exponent = max(np.log2((length - 1) / 8), 0.0) if length > 1 else 0.0
    dilations, counts = np.unique(
        np.logspace(0, max_exponent, true_max, base=2).astype(np.int32), return_counts=True
    )
    counts = (counts * multiplier).astype(np.int32)
    remainder = per_kernel - int(np.sum(counts))
    i = 0
    while remainder > 0:
        counts[i] += 1
        remainder -= 1
        i = (i + 1) % len(counts)
    return tuple(int(d) for d in dilations), tuple(int(c) for c in counts)


def quantile_levels(n: int) -> np.ndarray:
    """The low-discrepancy levels $\\{k\\varphi\\}$, $k = 1..n$, $\\varphi$ the golden ratio."""
    phi = (np.sqrt(5) + 1) / 2
    return np.array([(k * phi) % 1 for k in range(1, n + 1)], dtype=np.float32)


def _groups(params) -> list[tuple[int, tuple[int, ...], Array]]:
    """Dilation indices grouped by their number of features per kernel `nf` (one `lax.scan`
    per group), each with its biases, shape (group size, NUM_KERNELS, nf)."""
    groups: dict[int, list[int]] = {}
    for j, nf in enumerate(params.features_per_dilation):
        groups.setdefault(int(nf), []).append(j)
    offsets = NUM_KERNELS * np.concatenate([[0], np.cumsum(params.features_per_dilation)])
    return [(nf, tuple(js), jnp.stack([params.biases[offsets[j]: offsets[j + 1]]
                                       .reshape(NUM_KERNELS, nf) for j in js]))
            for nf, js in groups.items()]


def _dyn_taps(xp, dilation, P: int, L: int):
    """The shared sum $-\\sum_k x_{t+(k-4)d}$ and the nine shifted copies of $3x$ at a traced
    dilation, from x zero-padded by P on both sides.

    The additions run in the order of the reference implementation (centre tap, then the
    four left taps, then the four right taps), so float32 results agree bit for bit.
    """
    A = -xp
    G = 3 * xp
    alpha = jax.lax.dynamic_slice_in_dim(A, P, L, axis=-1)
    for k in (0, 1, 2, 3, 5, 6, 7, 8):
        alpha = alpha + jax.lax.dynamic_slice_in_dim(A, P + (k - 4) * dilation, L, axis=-1)
    gammas = jnp.stack([jax.lax.dynamic_slice_in_dim(G, P + (k - 4) * dilation, L, axis=-1)
                        for k in range(9)])
    return alpha, gammas


def _windows(length, L: int, dilation, j):
    """(84, L) masks of the positions each kernel pools over, and their sizes (84,), for a
    series of `length` <= L.

    Kernel k at dilation index j pools over every position when (j + k) is even, over the
    positions that need no zero padding otherwise; where that window is empty (series shorter
    than the kernel's span) it pools over every position, so the feature stays finite.
    """
    t = jnp.arange(L, dtype=jnp.int32)
    pad = 4 * dilation
    full = t < length
    has_inner = length - 2 * pad > 0
    inner = jnp.where(has_inner, (t >= pad) & (t < length - pad), full)
    odd = (j + jnp.arange(NUM_KERNELS, dtype=jnp.int32)) % 2 == 1
    size = jnp.where(odd & has_inner, length - 2 * pad, length)
    return jnp.where(odd[:, None], inner[None, :], full[None, :]), size


#: Running counts per comparison loop (`_counts`); series are padded to a multiple of it.
LANES = 32
#: Biases compared in one loop (more than this per kernel are split over several loops).
QCHUNK = 8


def _counts(C, B):
    """(84, nf) int32: how many of C's (84, L) values exceed each bias B (84, nf).

    L is a multiple of LANES. The comparisons are summed slice by slice into LANES running
    int32 counts and then across them, one loop per QCHUNK biases that XLA's CPU backend
    vectorises (~20 G comparisons/s on one AVX-512 core); a plain compare-and-sum reduction
    over L, or a float sum, runs 5-10x slower there.
    """
    out = []
    for q0 in range(0, B.shape[1], QCHUNK):
        Bq = B[:, q0:q0 + QCHUNK]
        acc = None
        for i in range(C.shape[-1] // LANES):
            hit = jnp.where(C[:, None, i * LANES:(i + 1) * LANES] > Bq[:, :, None], 1, 0)
            acc = hit if acc is None else acc + hit
        out.append(jnp.sum(acc, axis=-1, dtype=jnp.int32))
    return out[0] if len(out) == 1 else jnp.concatenate(out, axis=1)


def _block_order() -> np.ndarray:
    """Kernel indices in "block" order: for each middle tap b = 1..7, the b x (8 - b) kernels
    (a, b, c) with a < b < c, a-major.

    Block b's outputs are the dense broadcast ((alpha + G[a]) + G[b]) + G[c] over a contiguous
    range of a and of c, so the 84 convolutions are 7 broadcasts of slices of the nine taps G
    (no gather of 84 rows, which XLA's CPU backend runs element by element, 10x slower).
    """
    index = {tuple(k): i for i, k in enumerate(KERNEL_INDICES.tolist())}
    return np.array([index[(a, b, c)] for b in range(1, 8) for a in range(b)
                     for c in range(b + 1, 9)], dtype=np.int32)


BLOCK_ORDER = _block_order()


def _feature_order(features_per_dilation) -> np.ndarray:
    """Feature indices in block order (kernels in BLOCK_ORDER within each dilation)."""
    out, start = [], 0
    for nf in features_per_dilation:
        out.append(start + (BLOCK_ORDER[:, None] * nf + np.arange(nf)[None, :]).reshape(-1))
        start += NUM_KERNELS * nf
    return np.concatenate(out).astype(np.int32)


def block_outputs(A, G, one, dilation, P: int, Lp: int, left_offset: int = 0):
    """The 84 convolution outputs at a traced dilation, in block order (`BLOCK_ORDER`), as the
    7 blocks (b (8 - b), Lp) of middle tap b = 1..7.

    `A = -x` and `G = 3x` are x zero-padded by P on the left; `one` is a run-time vector of
    ones (see `_transform_univariate`). `left_offset` moves the four left taps (k < 4) that
    many steps to the right (MultiRocket's difference series, as in aeon). The additions run
    in the reference implementation's order, so float32 results agree bit for bit.
    """
    shift = [left_offset if k < 4 else 0 for k in range(9)]
    starts = P + (jnp.arange(9, dtype=jnp.int32) - 4) * dilation
    if left_offset:
        starts = starts + jnp.asarray(shift, jnp.int32)
    # (9, Lp) shifted copies of 3x, formed before the gather so that no multiply-add
    # contraction can merge the multiplication into the sums below
    G9 = jax.vmap(lambda s: jax.lax.dynamic_slice_in_dim(G, s, Lp))(starts)

    def tap(v, k):
        start = P + (k - 4) * dilation
        return jax.lax.dynamic_slice_in_dim(v, start + shift[k] if shift[k] else start, Lp)

    alpha = tap(A, 4)
    for k in (0, 1, 2, 3, 5, 6, 7, 8):  # the reference implementation's order
        alpha = alpha + tap(A, k)
    alpha = alpha / one
    return [(((alpha[None, None] + G9[:b, None]) + G9[b][None, None]) + G9[b + 1:][None])
            .reshape(b * (8 - b), Lp) for b in range(1, 8)]


def _transform_univariate(params: MiniRocketParameters, x, length):
    """Features of one univariate series x (L,) whose first `length` points are the series,
    given biases in block order (`_feature_order`); the features come back in block order.

    Per dilation (a `lax.scan` over the dilations with the same number of biases): the nine
    shifted copies of 3x are gathered (9 rows), the shared sum alpha of the shifted copies of
    -x formed once from dynamic slices, in the reference order, and the 84
    outputs written block by block (`BLOCK_ORDER`) into one (84, Lp) buffer, the pooling window
    folded in as a 0 / -inf penalty; `_counts` then compares the buffer with the biases. Two
    devices keep XLA from fusing the convolution into the comparison loop (which would redo it
    once per bias): the buffer is updated in place (`dynamic_update_slice` into the loop
    carry, which no consumer fuses), and alpha is divided by a run-time vector of ones (a
    float division is "expensive", so it is not duplicated into its 84 consumers).
    """
    L = x.shape[-1]
    Lp = -(-L // LANES) * LANES
    dtype = x.dtype
    x = jnp.where(jnp.arange(L, dtype=jnp.int32) < length, x, 0)
    P = 4 * max(params.dilations)
    xp = jnp.pad(x, (P, P + Lp - L))
    A, G = -xp, 3 * xp
    t = jnp.arange(Lp, dtype=jnp.int32)
    # exactly 1 everywhere, unknown to XLA, and not a broadcast (a division by a broadcast
    # scalar becomes a multiplication, which XLA fuses freely)
    one = jnp.minimum(t + jnp.maximum(length, 1), 1).astype(dtype)
    full = t < length
    zero, neg_inf = jnp.asarray(0, dtype), jnp.asarray(-jnp.inf, dtype)
    pen_full = jnp.where(full, zero, neg_inf)
    order = jnp.asarray(BLOCK_ORDER)

    def conv(j, d, C):
        pad = 4 * d
        has_inner = length - 2 * pad > 0
        inner = jnp.where(has_inner, (t >= pad) & (t < length - pad), full)
        pen_inner = jnp.where(inner, zero, neg_inf)
        odd = (j + order) % 2 == 1  # pools over the positions that need no padding
        r0 = 0
        for R in block_outputs(A, G, one, d, P, Lp):
            rows = R.shape[0]
            R = R + jnp.where(odd[r0:r0 + rows, None], pen_inner, pen_full)
            C = jax.lax.dynamic_update_slice_in_dim(C, R, r0, axis=0)
            r0 += rows
        size = jnp.where(odd & has_inner, length - 2 * pad, length).astype(dtype)
        return C, size

    dil = np.asarray(params.dilations)
    out = [None] * len(dil)
    for nf, js, B in _groups(params):  # biases already in block order
        idx = np.asarray(js)

        # more than QCHUNK biases: an inner loop over equal chunks of them (padded with +inf,
        # which no output exceeds), so each comparison loop stays small and C stays in memory
        chunks = -(-nf // QCHUNK)
        qc = -(-nf // chunks)
        if chunks * qc > nf:
            B = jnp.concatenate([B, jnp.full(B.shape[:2] + (chunks * qc - nf,), jnp.inf,
                                             dtype)], axis=2)

        def body(C, inputs, chunks=chunks, qc=qc):
            j, d, Bj = inputs
            C, size = conv(j, d, C)
            if chunks == 1:
                counts = _counts(C, Bj)
            else:
                Bc = Bj.reshape(NUM_KERNELS, chunks, qc).transpose(1, 0, 2)
                _, counts = jax.lax.scan(lambda _, b: (None, _counts(C, b)), None, Bc)
                counts = counts.transpose(1, 0, 2).reshape(NUM_KERNELS, chunks * qc)
            return C, counts.astype(dtype) / size[:, None]

        xs = (jnp.asarray(idx, jnp.int32), jnp.asarray(dil[idx], jnp.int32), B)
        _, F = jax.lax.scan(body, jnp.broadcast_to(pen_full, (NUM_KERNELS, Lp)), xs)
        for i, j in enumerate(js):
            out[j] = F[i, :, :nf].reshape(-1)
    return jnp.concatenate(out)


def _transform_uni_block(params: MiniRocketParameters, x, length):
    return _transform_univariate(params, x[0], length)


def _transform_multivariate(params: MiniRocketParameters, x, length):
    """Features of one multivariate series x (c, L) whose first `length` points are the
    series (kernel-major order): each (dilation, kernel) sums its outputs over its channels."""
    L = x.shape[-1]
    Lp = -(-L // LANES) * LANES
    x = jnp.where(jnp.arange(L, dtype=jnp.int32)[None, :] < length, x, 0)
    P = 4 * max(params.dilations)
    xp = jnp.pad(x, ((0, 0), (P, P + Lp - L)))
    masks = params.channel_masks.astype(x.dtype).reshape(-1, NUM_KERNELS, x.shape[0])
    one = jnp.minimum(jnp.arange(Lp, dtype=jnp.int32) + jnp.maximum(length, 1), 1)
    one = one.astype(x.dtype)  # see _transform_univariate
    dil = np.asarray(params.dilations)
    out = [None] * len(dil)
    for _, js, B in _groups(params):
        idx = np.asarray(js)

        def body(carry, inputs):
            j, d, Bj, m = inputs
            alpha, gammas = _dyn_taps(xp, d, P, Lp)
            C = alpha[None]
            for i in range(3):
                C = C + jnp.take(gammas, jnp.asarray(KERNEL_INDICES[:, i]), axis=0,
                                 mode="clip")  # (84, c, Lp)
            C = jnp.einsum("kcl,kc->kl", C, m)
            W, size = _windows(length, Lp, d, j)
            C = jnp.where(W, C, -jnp.inf)  # outside the window: below every bias
            C = C / one[None, :]  # exact; a float division is a fusion boundary (C is kept)
            F = _counts(C, Bj).astype(x.dtype) / size[:, None].astype(x.dtype)
            return carry, F

        xs = (jnp.asarray(idx, jnp.int32), jnp.asarray(dil[idx], jnp.int32), B, masks[idx])
        _, F = jax.lax.scan(body, None, xs)
        for i, j in enumerate(js):
            out[j] = F[i].reshape(-1)
    return jnp.concatenate(out)


def as_panel(name: str, X):
    """Series as an (n, channels, L) array: (n, L) is taken as univariate."""
    X = jnp.asarray(X)
    if X.ndim == 2:
        X = X[:, None, :]
    if X.ndim != 3:
        raise ValueError(f"`{name}` must have shape (n, L) or (n, channels, L), got shape "
                         f"{X.shape}.")
    if not jnp.issubdtype(X.dtype, jnp.floating):
        X = X.astype(jnp.result_type(float))
    return X


def padded_panel(X) -> tuple[Array, Int[Array, " n"] | None]:
    """Series of different lengths as one zero-padded array and their lengths, as every
    transform here takes them (`lengths=`), so that the padding is masked, never convolved.

    **Arguments:**

    - `X`: a list of (channels, l_i) or (l_i,) arrays; an array (n, L) or (n, channels, L) is
      passed through with lengths `None` (all of equal length).

    **Returns:** the (n, channels, max l_i) array and the int32 lengths (n,).

    **Example:**

    ```python
    >>> import numpy as np
    >>> from jaxkern.timeseries import padded_panel
    >>> X, lengths = padded_panel([np.ones((2, 3)), np.ones((2, 5))])
    >>> X.shape, lengths.tolist()
    ((2, 2, 5), [3, 5])

    ```
    """
    if not isinstance(X, (list, tuple)):
        return jnp.asarray(X), None
    series = [np.atleast_2d(np.asarray(x)) for x in X]
    out = np.zeros((len(series), series[0].shape[0], max(s.shape[-1] for s in series)),
                   np.result_type(series[0], np.float32))
    for i, s in enumerate(series):
        if s.shape[0] != out.shape[1]:
            raise ValueError(f"`X[{i}]` has {s.shape[0]} channels, `X[0]` has {out.shape[1]}.")
        out[i, :, : s.shape[-1]] = s
    return jnp.asarray(out), jnp.asarray([s.shape[-1] for s in series], jnp.int32)


def check_finite(name: str, X) -> None:
    if not isinstance(X, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(X))):
        bad = np.argwhere(~np.isfinite(np.asarray(X)))[0]
        raise ValueError(f"`{name}` has a NaN or infinite value (first at index "
                         f"{tuple(int(i) for i in bad)}); impute or drop missing values first.")


def check_lengths(lengths, n: int, L: int):
    """Per-series lengths as an int array (n,) with 1 <= length <= L; None means all L."""
    if lengths is None:
        return jnp.full((n,), L, jnp.int32)
    lengths = jnp.asarray(lengths)
    if lengths.shape != (n,) or not jnp.issubdtype(lengths.dtype, jnp.integer):
        raise ValueError(f"`lengths` must be an int array of shape ({n},), one per series, "
                         f"got {lengths.dtype} of shape {lengths.shape}.")
    if not isinstance(lengths, jax.core.Tracer):
        lo, hi = int(jnp.min(lengths)), int(jnp.max(lengths))
        if lo < 1 or hi > L:
            raise ValueError(f"`lengths` must lie in [1, {L}] (the padded length of `X`), "
                             f"got min {lo}, max {hi}.")
    return lengths.astype(jnp.int32)


def check_channels(params_channels: int, X) -> None:
    if X.shape[1] != params_channels:
        raise ValueError(f"`X` has {X.shape[1]} channels but the parameters were fitted on "
                         f"{params_channels}: shape {X.shape}.")


def blocked_map(fn, params, X, lengths, block_size: int):
    """`fn(params, x, length)` for every series, `block_size` series per compiled call.

    Every block has the same shape (the last is padded with its own first series), so train
    and test sets share one compilation. Within a block the series run one after another on
    CPU (`lax.map`, which XLA's CPU backend runs fastest) and together (`vmap`) elsewhere.
    """
    check_int("block_size", block_size, 1)
    n = X.shape[0]
    bs = block_size
    out = []
    for start in range(0, n, bs):
        stop = min(start + bs, n)
        xb = jax.lax.slice_in_dim(X, start, stop)
        lb = jax.lax.slice_in_dim(lengths, start, stop)
        m = xb.shape[0]
        if m < bs:
            xb = jnp.concatenate([xb, jnp.broadcast_to(xb[:1], (bs - m,) + xb.shape[1:])])
            lb = jnp.concatenate([lb, jnp.broadcast_to(lb[:1], (bs - m,) + lb.shape[1:])])
        out.append(_run_block(fn, params, xb, lb)[:m])
    return out[0] if len(out) == 1 else jnp.concatenate(out)


@eqx.filter_jit
def _run_block(fn, params, X, lengths):
    if jax.default_backend() == "cpu":
        return jax.lax.map(lambda a: fn(params, a[0], a[1]), (X, lengths))
    return jax.vmap(fn, in_axes=(None, 0, 0))(params, X, lengths)


def minirocket_transform(
    params: MiniRocketParameters,
    X: Float[Array, "n channels L"],
    *,
    lengths: Int[Array, " n"] | None = None,
    block_size: int = 32,
) -> Float[Array, "n num_features"]:
    r"""MiniRocket features (PPV) of a batch of series, given fitted parameters.

    For every dilation $d$, kernel $k$ with weight-2 taps $\{a, b, c\}$ and bias $b_{kq}$,

    $$
    F_{kq} = \frac1{|T_k|}\sum_{t \in T_k}\Big[\sum_{h \in H_k}
      \big(-\textstyle\sum_{i=0}^8 x_{h, t+(i-4)d} + 3\sum_{i\in\{a,b,c\}} x_{h, t+(i-4)d}\big)
      > b_{kq}\Big],
    $$

    with $H_k$ the channels of the kernel's combination, and $T_k$ all positions or only those
    at least $4d$ from either end, alternating over kernels and dilations. Series of different
    lengths are masked: a series of length $\ell$ padded to $L$ gives exactly the features of
    the series alone.

    **Arguments:**

    - `params`: a [`MiniRocketParameters`][jaxkern.timeseries.MiniRocketParameters] from
      [`minirocket_fit`][jaxkern.timeseries.minirocket_fit].
    - `X`: series, shape (n, channels, L) or (n, L) for one channel; the channel count must be
      the fitted one. NaN or inf is an error.
    - `lengths`: optional int (n,): series i is `X[i, :, :lengths[i]]` (the rest is ignored).
    - `block_size`: series per compiled call (the last block is padded, so every call has
      one shape); within a block the series run one at a time on CPU and batched (`vmap`)
      on accelerators, where memory grows as `block_size` x 84 x 9 x L.

    **Returns:**

    (n, num_features) features in `X`'s dtype, in the reference implementation's order
    (dilation, then kernel, then bias).

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.timeseries import minirocket_fit, minirocket_transform
    >>> X = jnp.sin(jnp.linspace(0, 1, 40)[None, :] * jnp.arange(1.0, 7.0)[:, None] * 6)
    >>> params = minirocket_fit(X, num_features=840, seed=0)
    >>> minirocket_transform(params, X).shape
    (6, 840)

    ```

    Dempster, Schmidt and Webb, "MINIROCKET: A very fast (almost) deterministic transform for
    time series classification", KDD 2021.
    """
    X = as_panel("X", X)
    check_channels(params.num_channels, X)
    check_finite("X", X)
    n, _, L = X.shape
    lengths = check_lengths(lengths, n, L)
    params = jax.tree.map(lambda a: a.astype(X.dtype) if jnp.issubdtype(a.dtype, jnp.floating)
                          else a, params)
    if X.shape[1] > 1:
        return blocked_map(_transform_multivariate, params, X, lengths, block_size)
    order = _feature_order(params.features_per_dilation)
    params = eqx.tree_at(lambda p: p.biases, params, params.biases[order])
    F = blocked_map(_transform_uni_block, params, X, lengths, block_size)
    return F[:, np.argsort(order).astype(np.int32)]


def _channel_combinations(rng, num_channels: int, num_combinations: int):
    """Random channel subsets: sizes $\\lfloor 2^u \\rfloor$, $u \\sim U(0, \\log_2(m+1))$,
    $m = \\min(c, 9)$, drawn in the reference implementation's order."""
    max_exponent = np.log2(min(num_channels, 9) + 1)
    sizes = (2 ** rng.uniform(0, max_exponent, num_combinations)).astype(np.int32)
    masks = np.zeros((num_combinations, num_channels), np.float32)
    for i, s in enumerate(sizes):
        masks[i, rng.choice(num_channels, s, replace=False)] = 1.0
    return masks


def minirocket_fit(
    X: Float[Array, "n channels L"],
    *,
    lengths: Int[Array, " n"] | None = None,
    num_features: int = 10_000,
    max_dilations_per_kernel: int = 32,
    seed: int = 0,
) -> MiniRocketParameters:
    r"""Fit MiniRocket's dilations, channel combinations and biases to training series.

    Dilations $\lfloor 2^e\rfloor$ for $e$ evenly spaced in $[0, \log_2((L-1)/8)]$ (at most
    `max_dilations_per_kernel` of them, duplicates merged and their features pooled); for each
    (dilation, kernel) a random training series is convolved and the biases are its
    quantiles at the levels $\{k\varphi\}$ (golden ratio). Multivariate series get a random
    subset of channels per (dilation, kernel). The random draws follow the reference
    implementation's (NumPy's legacy generator seeded with `seed`).

    **Arguments:**

    - `X`: training series (n, channels, L) or (n, L); NaN or inf is an error.
    - `lengths`: optional int (n,) lengths of variable-length series padded to L; the dilations
      then come from L (the longest) and each bias from its series' own length.
    - `num_features`: rounded down to a multiple of 84 (at least 84).
    - `max_dilations_per_kernel`: at most this many dilations.
    - `seed`: seed of the random choices (series for the biases, channel subsets).

    **Returns:**

    [`MiniRocketParameters`][jaxkern.timeseries.MiniRocketParameters], a pytree for
    [`minirocket_transform`][jaxkern.timeseries.minirocket_transform].

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.timeseries import minirocket_fit
    >>> X = jnp.sin(jnp.linspace(0, 1, 100)[None, :] * jnp.arange(1.0, 5.0)[:, None] * 6)
    >>> params = minirocket_fit(X, num_features=840, seed=0)
    >>> params.dilations, params.features_per_dilation
    ((1, 2, 3, 4, 5, 7, 9, 12), (3, 1, 1, 1, 1, 1, 1, 1))

    ```

    Dempster, Schmidt and Webb, "MINIROCKET", KDD 2021.
    """
    X = as_panel("X", X)
    check_finite("X", X)
    check_int("num_features", num_features, 1)
    check_int("max_dilations_per_kernel", max_dilations_per_kernel, 1)
    n, c, L = X.shape
    lengths = np.asarray(check_lengths(lengths, n, L))
    dilations, per_dilation = fit_dilations(L, max(num_features, NUM_KERNELS),
                                            max_dilations_per_kernel)
    masks = _channel_combinations(np.random.RandomState(seed), c, NUM_KERNELS * len(dilations))
    return MiniRocketParameters(
        biases=fit_biases(X, lengths, dilations, per_dilation, masks, seed),
        channel_masks=jnp.asarray(masks, X.dtype),
        dilations=dilations,
        features_per_dilation=per_dilation,
    )


def fit_biases(X, lengths, dilations, per_dilation, masks, seed: int) -> Array:
    """MiniRocket's biases: for each (dilation, kernel) the quantiles, at the golden-ratio
    levels, of the kernel's output (channels summed by `masks`) on a random training series,
    the series drawn by NumPy's legacy generator seeded with `seed` as the reference does."""
    n, c, L = X.shape
    nd = len(dilations)
    rng = np.random.RandomState(seed)
    examples = np.array([rng.randint(n) for _ in range(NUM_KERNELS * nd)])
    C = np.asarray(_fit_convolutions(X[examples].reshape(nd, NUM_KERNELS, c, L),
                                     jnp.asarray(dilations, jnp.int32),
                                     jnp.asarray(np.asarray(masks).reshape(nd, NUM_KERNELS, c),
                                                 X.dtype)))
    ell = np.asarray(lengths)[examples].reshape(nd, NUM_KERNELS)
    levels = quantile_levels(NUM_KERNELS * sum(per_dilation))
    biases, start = [], 0
    for j, nf in enumerate(per_dilation):
        for k in range(NUM_KERNELS):
            biases.append(np.quantile(C[j, k, : ell[j, k]], levels[start: start + nf])
                          .astype(C.dtype))
            start += nf
    return jnp.asarray(np.concatenate(biases), X.dtype)


@jax.jit
def _fit_convolutions(Xe, dilations, masks):
    """Kernel k's output at dilation j on series Xe[j, k] (c, L): (num_dilations, 84, L)."""
    L = Xe.shape[-1]
    P = 4 * (L + 1)  # any dilation a fit makes is <= L

    def one(args):
        xs, d, m = args  # (84, c, L), (), (84, c)
        xp = jnp.pad(xs, ((0, 0), (0, 0), (P, P)))
        alpha, gammas = jax.vmap(lambda x: _dyn_taps(x, d, P, L))(xp)
        C = alpha
        k = jnp.arange(NUM_KERNELS)
        for i in range(3):
            C = C + gammas[k, KERNEL_INDICES[:, i]]
        return C[:, 0] if Xe.shape[2] == 1 else jnp.einsum("kcl,kc->kl", C, m)

    return jax.lax.map(one, (Xe, dilations, masks))
