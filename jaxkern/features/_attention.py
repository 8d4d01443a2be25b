r"""Random-feature softmax attention with a relative-position (Toeplitz) bias applied by FFT."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_int
from ..kernels import spectral_frequencies
from ._fourier import softmax_logits

# Random features go through the Toeplitz product this many at a time, so the FFT buffers hold
# O(n * block * d) numbers however many features there are.
_FEATURE_BLOCK = 16


def _fft_length(n: int) -> int:
    # A power of two >= 2n - 1: the circulant that embeds an n x n Toeplitz matrix.
    return 1 << (2 * n - 2).bit_length()


def _toeplitz_spectrum(c: Float[Array, " 2n-1"], n: int) -> Array:
    """rfft of the circulant's first column, for T_ij = c[n - 1 + j - i]."""
    pad = jnp.zeros((_fft_length(n) - (2 * n - 1),), c.dtype)
    column = jnp.concatenate([c[:n][::-1], pad, c[n:][::-1]])
    return jnp.fft.rfft(column)


def _toeplitz_apply(spectrum: Array, x: Float[Array, "n r"]) -> Float[Array, "n r"]:
    """T x for the Toeplitz T whose circulant spectrum is given: O(n log n) per column."""
    n = x.shape[0]
    length = _fft_length(n)
    xf = jnp.fft.rfft(x, n=length, axis=0)
    return jnp.fft.irfft(spectrum[:, None] * xf, n=length, axis=0)[:n].astype(x.dtype)


def _single_head(qf, kf, v, log_c, causal):
    """One head: queries/keys as (n, M) positive features, values (n, dv), log-bias (2n-1,)."""
    n, M = kf.shape
    kv1 = jnp.concatenate([v, jnp.ones_like(v[:, :1])], axis=-1)  # value and normaliser
    if log_c is None and not causal:
        out = qf @ (kf.T @ kv1)  # plain linear attention, O(n M dv)
        return out[:, :-1] / out[:, -1:]
    if log_c is None:
        log_c = jnp.zeros((2 * n - 1,), kf.dtype)
    if causal:
        log_c = jnp.where(jnp.arange(2 * n - 1) > n - 1, -jnp.inf, log_c)
    # exp(b - max b): the shift cancels between numerator and denominator.
    spectrum = _toeplitz_spectrum(jnp.exp(log_c - lax.stop_gradient(jnp.max(log_c))), n)

    pad = (-M) % _FEATURE_BLOCK
    qb = jnp.pad(qf, ((0, 0), (0, pad))).reshape(n, -1, _FEATURE_BLOCK)
    kb = jnp.pad(kf, ((0, 0), (0, pad))).reshape(n, -1, _FEATURE_BLOCK)

    @jax.checkpoint
    def add_block(acc, blocks):
        qblk, kblk = blocks  # (n, B) each
        outer = (kblk[:, :, None] * kv1[:, None, :]).reshape(n, -1)  # (n, B * (dv + 1))
        mixed = _toeplitz_apply(spectrum, outer).reshape(n, _FEATURE_BLOCK, -1)
        return acc + jnp.einsum("nb,nbr->nr", qblk, mixed), None

    acc = jnp.zeros(kv1.shape, kv1.dtype)
    out, _ = lax.scan(add_block, acc, (jnp.moveaxis(qb, 1, 0), jnp.moveaxis(kb, 1, 0)))
    return out[:, :-1] / out[:, -1:]


def kernelized_attention(
    q: Float[Array, "*batch n h d"],
    k: Float[Array, "*batch n h d"],
    v: Float[Array, "*batch n h dv"],
    *,
    key: PRNGKeyArray,
    num_features: int,
    rpe_bias: Float[Array, "*heads 2n-1"] | None = None,
    causal: bool = False,
    orthogonal: bool = True,
) -> Float[Array, "*batch n h dv"]:
    r"""Softmax attention with random features and a relative-position bias, in $O(n m d \log n)$.

    Exact attention with a relative-position bias $b$ is
    $$z_i = \frac{\sum_j e^{b_{j-i}} \exp(q_i^\top k_j / \sqrt d)\, v_j}
               {\sum_j e^{b_{j-i}} \exp(q_i^\top k_j / \sqrt d)}.$$
    Replacing $\exp(q^\top k/\sqrt d)$ by $\phi(q)^\top\phi(k)$ with the positive FAVOR+
    features of [`softmax_features`][jaxkern.features.softmax_features] (applied to
    $q/d^{1/4}$, $k/d^{1/4}$) gives
    $$z_i = \frac{\phi(q_i)^\top \sum_j C_{ij}\, \phi(k_j) v_j^\top}
               {\phi(q_i)^\top \sum_j C_{ij}\, \phi(k_j)}, \qquad C_{ij} = e^{b_{j-i}},$$
    and $C$ is Toeplitz, so each of the $m(d_v + 1)$ columns $\sum_j C_{ij} \phi_r(k_j)
    [v_j, 1]$ is a product with a circulant embedding of $C$, done by FFT. Causal attention
    sets $C_{ij} = 0$ for $j > i$. Without a bias the non-causal case is plain linear
    attention, $O(n m d)$. Features are positive, so the denominator is positive (the paper's
    point: sign-changing features make it unstable). Each feature's keys and each query are
    shifted so their largest term is 1, so large inputs (tested to scale 1e8) give outputs
    inside the values' range, never 0/0. With `causal=True` the Toeplitz product by FFT keeps
    each term only to about machine epsilon times the largest of its column: once
    $q^\top k/\sqrt d$ spans more than ~30 (float32) or ~70 (float64) across a sequence, early
    queries can lose all their terms; keep inputs normalised (as attention layers do).

    **Arguments:**

    - `q`, `k`: queries and keys, shape `(n, h, d)` (sequence, heads, head dim) with any
      leading batch axes, or `(n, d)` for one head.
    - `v`: values, same leading shape as `k`, last axis $d_v$.
    - `key`: PRNG key for the random frequencies (shared by all heads).
    - `num_features`: $m \ge 1$ random features.
    - `rpe_bias`: $b_{-(n-1)}, \dots, b_{n-1}$ in that order, shape `(2n - 1,)` (shared by
      the heads) or `(h, 2n - 1)` (one per head); `None` for no bias. With `causal=True` the
      entries for $j > i$ (the last $n - 1$) are ignored.
    - `causal`: attend only to $j \le i$.
    - `orthogonal`: orthogonal rather than iid random frequencies.

    **Returns:** the attention output, shape of `q` with the last axis $d_v$.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import kernelized_attention
        >>> q = k = v = jax.random.normal(jax.random.key(0), (10, 2, 4))
        >>> out = kernelized_attention(q, k, v, key=jax.random.key(1), num_features=8,
        ...                            rpe_bias=jnp.zeros(19), causal=True)
        >>> out.shape
        (10, 2, 4)

    Luo et al., *Stable, Fast and Accurate: Kernelized Attention with Relative Positional
    Encoding*, NeurIPS 2021; Choromanski et al., *Rethinking Attention with Performers*,
    ICLR 2021.
    """
    check_int("num_features", num_features, 1)
    if jnp.ndim(q) < 2:
        raise ValueError(f"`q` must have shape (..., n, h, d) or (n, d), got {jnp.shape(q)}.")
    if jnp.shape(k) != jnp.shape(q):
        raise ValueError(f"`k` must have the shape of `q`, got {jnp.shape(k)} and "
                         f"{jnp.shape(q)}.")
    if jnp.shape(v)[:-1] != jnp.shape(q)[:-1]:
        raise ValueError(f"`v` must match `q` in all but its last axis, got {jnp.shape(v)} "
                         f"and {jnp.shape(q)}.")
    single = q.ndim == 2
    if single:
        q, k, v = q[:, None], k[:, None], v[:, None]
    n, h, d = q.shape[-3:]
    if rpe_bias is not None:
        expected = ((2 * n - 1,), (h, 2 * n - 1))
        if jnp.shape(rpe_bias) not in expected:
            raise ValueError(f"`rpe_bias` must have shape (2n - 1,) = {expected[0]} or "
                             f"(h, 2n - 1) = {expected[1]} for n = {n}, h = {h}; got shape "
                             f"{jnp.shape(rpe_bias)}.")
        rpe_bias = jnp.broadcast_to(rpe_bias, (h, 2 * n - 1)).astype(q.dtype)

    out = _attention(q, k, v, key, rpe_bias, num_features, causal, orthogonal)
    return out[:, 0] if single else out


@functools.partial(jax.jit, static_argnums=(5, 6, 7))
def _attention(q, k, v, key, rpe_bias, num_features, causal, orthogonal):
    # Jitted as a whole so that eager calls reuse one compiled scan per shape.
    n, h, d = q.shape[-3:]
    omega = spectral_frequencies(d, key=key, num_features=num_features,
                                 orthogonal=orthogonal, dtype=q.dtype)
    scale = d ** -0.25

    def logits(x):
        return jax.vmap(lambda xh: softmax_logits(xh * scale, omega), 1, 1)(x)  # (n, h, m)

    def one_sequence(qs, ks, vs):
        # phi_r(q) phi_r(k) = exp(lq_r + lk_r): a shift c_r taken from feature r's keys and given
        # to its queries changes nothing, and a shift per query cancels in the ratio. With both,
        # the largest key term of every feature and the largest feature of every query are 1,
        # so large inputs cannot underflow every term to 0/0 (one shift per head did at 1e2).
        lq, lk = logits(qs), logits(ks)
        c = lax.stop_gradient(jnp.max(lk, axis=0, keepdims=True))  # (1, h, m)
        kf, lq = jnp.exp(lk - c), lq + c
        qf = jnp.exp(lq - lax.stop_gradient(jnp.max(lq, axis=-1, keepdims=True)))
        heads = jax.vmap(lambda a, b, c, lc: _single_head(a, b, c, lc, causal),
                         in_axes=(1, 1, 1, None if rpe_bias is None else 0), out_axes=1)
        return heads(qf, kf, vs, rpe_bias)

    batch = q.shape[:-3]
    flat = [x.reshape((-1,) + x.shape[-3:]) for x in (q, k, v)]
    return jax.vmap(one_sequence)(*flat).reshape(batch + (n, h, v.shape[-1]))
