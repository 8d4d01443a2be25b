r"""LightWaveS: MiniRocket's kernels as a two-level wavelet scattering, and feature selection.

Every channel $h$ of a (per-channel standardised) series is convolved with each of the 84
MiniRocket kernels $w$ (weights $\{-1, 2\}$, length 9) at the dilations $d = 2^e$,
$e = 0..5$, zero padded to the input length and scaled by $d^{-3/2}$ (the scaling of a wavelet
at scale $d$):

$$
C^{(1)}_t = d^{-3/2}\sum_{i=0}^{8} w_i\, x_{h,\,t+(i-4)d},\qquad
C^{(2)}_s = d^{-3/2}\sum_{i=0}^{8} w_i\, \big|C^{(1)}\big|_{2(s+(i-4)d)},
$$

the second level filtering the modulus of the first, subsampled by two (a scattering
network's second layer). Each level gives four features of its output: the proportion of
positive values (PPV), the largest and smallest $|C_t|$, and the longest run of positive
values over the output length: 8 features per (channel, kernel, dilation). Training selects a
few hundred of them (ANOVA F-scores, then minimum-redundancy maximum-relevance), and the
transform computes only the (channel, kernel, dilation) triples those need.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._validation import check_int
from ._minirocket import (
    KERNEL_INDICES,
    NUM_KERNELS,
    as_panel,
    blocked_map,
    check_channels,
    check_finite,
    check_lengths,
)

#: Dilation exponents e (dilations 2^e), as in the authors' code (largest dilation 32).
DILATION_EXPONENTS = np.arange(6, dtype=np.int32)
#: The four features of each scattering level, in order.
POOLINGS = ("PPV", "max", "longest_positive_run", "min")
#: Features per (channel, kernel, dilation): 2 levels x 4 poolings.
FEATURES_PER_KERNEL = 2 * len(POOLINGS)


def _weights() -> np.ndarray:
    """(84, 9) MiniRocket kernel weights: -1, and 2 at each kernel's three taps."""
    w = -np.ones((NUM_KERNELS, 9), np.float64)
    np.put_along_axis(w, KERNEL_INDICES, 2.0, axis=1)
    return w


WEIGHTS = _weights()


class LightWaveSParameters(eqx.Module):
    r"""The frozen parameters of a fitted LightWaveS transform (a pytree).

    The (channel, kernel, dilation) triples the selected features need, grouped by dilation
    ($2^0, \dots, 2^5$; `triples_per_dilation` of each, a static shape); the features are
    `feature_index` into their (num_triples, 8) outputs, flattened.
    """

    #: (num_triples,) int channel of each triple.
    channels: Int[Array, " triples"]
    #: (num_triples,) int MiniRocket kernel (0..83) of each triple.
    kernels: Int[Array, " triples"]
    #: (num_features,) int index into the flattened (num_triples, 8) outputs.
    feature_index: Int[Array, " num_features"]
    #: (channels,) training mean and standard deviation of each channel (standardisation).
    mean: Float[Array, " channels"]
    scale: Float[Array, " channels"]
    #: How many triples have dilation 2^e, e = 0..5.
    triples_per_dilation: tuple[int, ...] = eqx.field(static=True)

    @property
    def num_channels(self) -> int:
        return int(self.mean.shape[0])

    @property
    def num_features(self) -> int:
        return int(self.feature_index.shape[0])

    @property
    def dilations(self) -> np.ndarray:
        """(num_triples,) dilation of each triple."""
        return np.repeat(2 ** DILATION_EXPONENTS, self.triples_per_dilation)


def _conv(v, w, d: int, n: int, pad: int):
    """d^{-3/2} sum_i w_i v_{t+(i-4)d}, t < n, for rows v (m, n + 2 pad) zero padded by pad
    (at least min(4 d, n - 1)) and weights w (m, 9); taps that only ever see padding
    (|i - 4| d >= n) are left out."""
    out = w[:, 4:5] * v[:, pad: pad + n]
    for i in (0, 1, 2, 3, 5, 6, 7, 8):
        if abs(i - 4) * d < n:
            s = pad + (i - 4) * d
            out = out + w[:, i: i + 1] * v[:, s: s + n]
    # materialised once: fused into its several consumers, XLA would recompute it for each
    return jax.lax.optimization_barrier(out * (1.0 / (d * np.sqrt(d))))


def _pool(C, n):
    """(m, 4): PPV, max |C|, longest run of C > 0 (over n), min |C|, of each row's first n
    values."""
    t = jnp.arange(C.shape[-1], dtype=jnp.int32)
    valid = (t < n)[None, :]
    pos = valid & (C > 0)
    a = jnp.abs(C)
    # the longest run by a loop over time (the run ending at each step, and the longest so
    # far): XLA's CPU cumulative max (a reduce_window) is quadratic in the length
    posT = pos.T.astype(jnp.int32)

    def step(i, carry):
        r, longest = carry
        r = (r + 1) * posT[i]
        return r, jnp.maximum(longest, r)

    zero = jnp.zeros(C.shape[:-1], jnp.int32)
    _, run = jax.lax.fori_loop(0, C.shape[-1], step, (zero, zero), unroll=8)
    nf = n.astype(C.dtype)
    return jnp.stack([jnp.sum(pos, axis=-1, dtype=jnp.int32).astype(C.dtype) / nf,
                      jnp.max(jnp.where(valid, a, 0), axis=-1),
                      run.astype(C.dtype) / nf,
                      jnp.min(jnp.where(valid, a, jnp.inf), axis=-1)], axis=-1)


def _series_features(params: LightWaveSParameters, x, length):
    """(num_triples * 8,) features of one series x (c, L) of `length` points for every
    triple of `params`: both scattering levels, each pooled once over all triples."""
    L = x.shape[-1]
    L2 = max(L // 2, 1)
    n2 = jnp.maximum(length // 2, 1)
    xs = (x - params.mean[:, None]) / params.scale[:, None]
    xs = jnp.where((jnp.arange(L, dtype=jnp.int32) < length)[None, :], xs, 0)
    groups, start = [], 0
    for e, m in zip(DILATION_EXPONENTS, params.triples_per_dilation, strict=True):
        if m:
            groups.append((slice(start, start + m), 2 ** int(e)))
            start += m
    pad1, pad2 = (min(4 * groups[-1][1], n - 1) for n in (L, L2))
    xs = jnp.pad(xs, ((0, 0), (pad1, pad1)))
    w = jnp.asarray(WEIGHTS, x.dtype)[params.kernels]
    C1 = jnp.concatenate([_conv(xs[params.channels[r]], w[r], d, L, pad1) for r, d in groups])
    z = jnp.abs(C1)[:, : 2 * L2: 2]  # the modulus, subsampled by two
    z = jnp.where((jnp.arange(L2, dtype=jnp.int32) < n2)[None, :], z, 0)
    z = jnp.pad(z, ((0, 0), (pad2, pad2)))
    C2 = jnp.concatenate([_conv(z[r], w[r], d, L2, pad2) for r, d in groups])
    return jnp.concatenate([_pool(C1, length), _pool(C2, n2)], axis=-1).reshape(-1)


def _transform_series(params: LightWaveSParameters, x, length):
    return _series_features(params, x, length)[params.feature_index]


def lightwaves_transform(
    params: LightWaveSParameters,
    X: Float[Array, "n channels L"],
    *,
    lengths: Int[Array, " n"] | None = None,
    block_size: int = 32,
) -> Float[Array, "n num_features"]:
    r"""LightWaveS features of a batch of series: only the selected ones are computed.

    Each series is standardised per channel with the training mean and deviation; for every
    selected (channel $h$, kernel $w$, dilation $d$) the two scattering levels

    $$
    C^{(1)}_t = d^{-3/2}\sum_{i=0}^{8} w_i\, x_{h,t+(i-4)d},\qquad
    C^{(2)}_s = d^{-3/2}\sum_{i=0}^{8} w_i\, |C^{(1)}|_{2(s+(i-4)d)}
    $$

    (zeros outside the series, outputs as long as their inputs: $\ell$ and
    $\max(\lfloor\ell/2\rfloor, 1)$) give $\mathrm{PPV} = \frac1n\#\{C_t > 0\}$,
    $\max_t |C_t|$, the longest run of consecutive $C_t > 0$ over $n$, and $\min_t |C_t|$;
    the selected ones of these 8 are returned. The cost is that of the selected triples
    alone (a few hundred convolutions, against MiniRocket's 84 per dilation and channel
    subset).

    **Arguments:**

    - `params`: a [`LightWaveSParameters`][jaxkern.timeseries.LightWaveSParameters] from
      [`lightwaves_fit`][jaxkern.timeseries.lightwaves_fit].
    - `X`: series, shape (n, channels, L) or (n, L), with the fitted channel count; NaN or
      inf is an error.
    - `lengths`: optional int (n,): series i is `X[i, :, :lengths[i]]` (the rest is ignored).
    - `block_size`: series per compiled call (the last block is padded).

    **Returns:**

    (n, num_features) features in `X`'s dtype, in the order of `params.feature_index`.

    **Example:**

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxkern.timeseries import lightwaves_fit, lightwaves_transform
    >>> t = jnp.linspace(0, 1, 32)
    >>> f = jnp.array([2.0, 2.5, 3.0, 6.0, 6.5, 7.0])
    >>> ft = f[:, None] * t[None, :]
    >>> X = jnp.stack([jnp.sin(6 * ft), jnp.cos(3 * ft)], axis=1)
    >>> y = jnp.array([0, 0, 0, 1, 1, 1])
    >>> params = lightwaves_fit(X, y, num_features=20, key=jax.random.key(0))
    >>> lightwaves_transform(params, X).shape
    (6, 20)

    ```

    Pantiskas, Verstoep, Hoogendoorn and Bal, "Taking ROCKET on an efficiency mission:
    multivariate time series classification with LightWaveS", DCOSS 2022.
    """
    X = as_panel("X", X)
    check_channels(params.num_channels, X)
    check_finite("X", X)
    n, _, L = X.shape
    lengths = check_lengths(lengths, n, L)
    params = jax.tree.map(lambda a: a.astype(X.dtype) if jnp.issubdtype(a.dtype, jnp.floating)
                          else a, params)
    return blocked_map(_transform_series, params, X, lengths, block_size)


def anova_f(F: np.ndarray, y: np.ndarray, num_classes: int) -> np.ndarray:
    """One-way ANOVA F statistic of each column of F (n, m) for the classes y, float64;
    0 where a column is constant or the statistic is not finite (as the authors' code)."""
    F = np.asarray(F, np.float64)
    n = F.shape[0]
    mean = F.mean(axis=0)
    onehot = np.eye(num_classes)[y]  # (n, K)
    counts = onehot.sum(axis=0)
    present = counts > 0
    class_means = (onehot.T @ F)[present] / counts[present, None]
    between = (counts[present, None] * (class_means - mean) ** 2).sum(axis=0)
    within = ((F - class_means[np.searchsorted(np.flatnonzero(present), y)]) ** 2).sum(axis=0)
    k = int(present.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (between / max(k - 1, 1)) / (within / max(n - k, 1))
    spread = F.max(axis=0) - F.min(axis=0)
    constant = spread <= 1e-6 * np.maximum(np.abs(F).max(axis=0), 1e-30)
    return np.where(np.isfinite(f) & ~constant, f, 0.0)


def mrmr(F: np.ndarray, scores: np.ndarray, k: int) -> np.ndarray:
    """Indices (sorted) of k columns of F picked by minimum redundancy, maximum relevance:
    first the best score, then repeatedly the best score divided by the mean |Pearson
    correlation| with the columns picked so far (the authors' rule)."""
    F = np.asarray(F, np.float64)
    Z = F - F.mean(axis=0)
    norm = np.sqrt((Z ** 2).sum(axis=0))
    Z = Z / np.where(norm > 0, norm, 1.0)
    picked = [int(np.argmax(scores))]
    corr_sum = np.abs(Z.T @ Z[:, picked[0]])
    chosen = np.zeros(F.shape[1], bool)
    chosen[picked[0]] = True
    for i in range(1, k):
        with np.errstate(divide="ignore", invalid="ignore"):
            adjusted = np.where(chosen, -np.inf, scores / (corr_sum / i))
        adjusted = np.where(np.isnan(adjusted), -np.inf, adjusted)
        j = int(np.argmax(adjusted))
        picked.append(j)
        chosen[j] = True
        corr_sum += np.abs(Z.T @ Z[:, j])
    return np.sort(np.asarray(picked, np.int64))


def lightwaves_fit(
    X: Float[Array, "n channels L"],
    y: Int[Array, " n"],
    *,
    lengths: Int[Array, " n"] | None = None,
    num_features: int = 500,
    preselect_factor: int = 3,
    sample_size: int = 1500,
    block_size: int = 32,
    key,
) -> LightWaveSParameters:
    r"""Select LightWaveS's features: all (channel, kernel, dilation) triples scored on the
    training set, a few hundred features kept.

    1. Standardise each channel with its training mean and deviation.
    2. On at most `sample_size` training series (drawn with `key`), compute all
       $8 \times 84 \times 6$ features per channel (`lightwaves_transform`'s definitions).
    3. Score each by its one-way ANOVA F statistic (constant features score 0) and keep the
       `preselect_factor * num_features` best. The paper spreads the channels over nodes,
       each keeping its best, then keeps the best over all nodes: the same set as this
       single-machine selection, which is that step on one node.
    4. Minimum-redundancy maximum-relevance down to `num_features`: the best F first, then
       repeatedly the largest $F_j / \overline{|\rho_{j,S}|}$, the F statistic over the mean
       absolute Pearson correlation with the features $S$ already picked.

    **Arguments:**

    - `X`: training series (n, channels, L) or (n, L); NaN or inf is an error.
    - `y`: int class labels (n,) in 0..K-1.
    - `lengths`: optional int (n,) lengths of variable-length series padded to L.
    - `num_features`: features kept (the paper's 500), at least 1 and at most the number of
      non-constant candidates.
    - `preselect_factor`: the ANOVA step keeps this many times `num_features` (the paper's 3).
    - `sample_size`: at most this many training series score the candidates (the paper's
      1500).
    - `block_size`: series per compiled call while scoring.
    - `key`: a `jax.random` key (which series score the candidates when n > `sample_size`).

    **Returns:**

    [`LightWaveSParameters`][jaxkern.timeseries.LightWaveSParameters], a pytree for
    [`lightwaves_transform`][jaxkern.timeseries.lightwaves_transform].

    **Example:**

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxkern.timeseries import lightwaves_fit
    >>> t = jnp.linspace(0, 1, 32)
    >>> f = jnp.array([2.0, 2.5, 3.0, 6.0, 6.5, 7.0])
    >>> X = jnp.sin(6 * f[:, None] * t[None, :])[:, None, :]
    >>> params = lightwaves_fit(X, jnp.array([0, 0, 0, 1, 1, 1]), num_features=10,
    ...                         key=jax.random.key(0))
    >>> params.num_features, bool(params.channels.shape[0] <= 10)
    (10, True)

    ```

    Pantiskas, Verstoep, Hoogendoorn and Bal, "Taking ROCKET on an efficiency mission:
    multivariate time series classification with LightWaveS", DCOSS 2022.
    """
    X = as_panel("X", X)
    check_finite("X", X)
    n, c, L = X.shape
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer) or (n and y.min() < 0):
        raise ValueError(f"`y` must be non-negative int class labels of shape ({n},), got "
                         f"{y.dtype} of shape {y.shape}.")
    check_int("num_features", num_features, 1)
    check_int("preselect_factor", preselect_factor, 1)
    check_int("sample_size", sample_size, 2)
    lengths = check_lengths(lengths, n, L)
    num_candidates = c * NUM_KERNELS * len(DILATION_EXPONENTS) * FEATURES_PER_KERNEL
    if num_features > num_candidates:
        raise ValueError(f"`num_features` must be at most the {num_candidates} candidate "
                         f"features of {c} channel(s), got {num_features}.")
    if n > sample_size:
        rows = np.sort(np.asarray(jax.random.choice(key, n, (sample_size,), replace=False)))
        Xs, ls, ys = X[rows], lengths[rows], y[rows]
    else:
        Xs, ls, ys = X, lengths, y
    # per-channel standardisation over the valid points of every training series
    valid = (jnp.arange(L, dtype=jnp.int32)[None, :] < lengths[:, None])[:, None, :]
    count = jnp.sum(valid, axis=(0, 2), dtype=jnp.int32).astype(X.dtype)
    mean = jnp.sum(jnp.where(valid, X, 0), axis=(0, 2)) / count
    std = jnp.sqrt(jnp.sum(jnp.where(valid, (X - mean[None, :, None]) ** 2, 0), axis=(0, 2))
                   / count)
    scale = std + 1e-8
    e, h, k = np.meshgrid(DILATION_EXPONENTS, np.arange(c), np.arange(NUM_KERNELS),
                          indexing="ij")  # dilation-major, as the parameters group them
    every = LightWaveSParameters(
        channels=jnp.asarray(h.reshape(-1), jnp.int32),
        kernels=jnp.asarray(k.reshape(-1), jnp.int32),
        feature_index=jnp.arange(num_candidates, dtype=jnp.int32),
        mean=mean, scale=scale,
        triples_per_dilation=(c * NUM_KERNELS,) * len(DILATION_EXPONENTS))
    F = np.asarray(blocked_map(_series_features, every, Xs, ls, block_size), np.float64)
    scores = anova_f(F, ys, int(y.max()) + 1)
    usable = int(np.sum(scores > 0))
    if num_features > usable:
        raise ValueError(f"`num_features` must be at most the {usable} candidate features "
                         f"that vary between the classes here, got {num_features}.")
    pre = np.sort(np.argsort(-scores, kind="stable")[: preselect_factor * num_features])
    pre = pre[scores[pre] > 0]
    chosen = pre[mrmr(F[:, pre], scores[pre], num_features)]
    triple, feature = np.divmod(chosen, FEATURES_PER_KERNEL)
    triples, inverse = np.unique(triple, return_inverse=True)  # still dilation-major
    counts = np.bincount(e.reshape(-1)[triples], minlength=len(DILATION_EXPONENTS))
    return LightWaveSParameters(
        channels=every.channels[triples], kernels=every.kernels[triples],
        feature_index=jnp.asarray(inverse.reshape(-1) * FEATURES_PER_KERNEL + feature,
                                  jnp.int32),
        mean=mean, scale=scale, triples_per_dilation=tuple(int(m) for m in counts))
