"""Kernelized attention: FFT Toeplitz path against the dense O(n^2) computation."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.features import (
    KernelizedAttention,
    kernelized_attention,
    softmax_features,
    spectral_frequencies,
)

from ..helpers import FLOAT, X64, assert_close, check_transforms

N, H, D, DV, M = 37, 2, 4, 3, 8  # n is not a power of two


def _inputs(getkey, n=N):
    q = 0.7 * jax.random.normal(getkey(), (n, H, D), FLOAT)
    k = 0.7 * jax.random.normal(getkey(), (n, H, D), FLOAT)
    v = jax.random.normal(getkey(), (n, H, DV), FLOAT)
    bias = 0.5 * jax.random.normal(getkey(), (H, 2 * n - 1), FLOAT)
    return q, k, v, bias


def _dense(q, k, v, bias, key, causal):
    """The same random-feature attention with the n x n matrix written out."""
    n = q.shape[0]
    om = spectral_frequencies(D, key=key, num_features=M, orthogonal=True, dtype=FLOAT)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    outs = []
    for h in range(H):
        A = softmax_features(q[:, h] * D**-0.25, om) @ softmax_features(k[:, h] * D**-0.25, om).T
        if bias is not None:
            A = A * jnp.exp(bias[h][n - 1 + j - i])
        if causal:
            A = jnp.where(j <= i, A, 0)
        outs.append(A @ v[:, h] / jnp.sum(A, axis=1, keepdims=True))
    return jnp.stack(outs, axis=1)


@pytest.mark.parametrize("causal", [False, True])
def test_fft_equals_dense(getkey, causal):
    q, k, v, bias = _inputs(getkey)
    key = getkey()
    fft = kernelized_attention(q, k, v, key=key, num_features=M, rpe_bias=bias, causal=causal)
    assert fft.shape == (N, H, DV) and fft.dtype == FLOAT
    assert_close(fft, _dense(q, k, v, bias, key, causal), rtol64=1e-10, rtol32=2e-4,
                 atol64=1e-10, atol32=2e-5)


@pytest.mark.parametrize("causal", [False, True])
def test_zero_bias_is_linear_attention(getkey, causal):
    q, k, v, _ = _inputs(getkey)
    key = getkey()
    zero = kernelized_attention(q, k, v, key=key, num_features=M,
                                rpe_bias=jnp.zeros(2 * N - 1, FLOAT), causal=causal)
    none = kernelized_attention(q, k, v, key=key, num_features=M, causal=causal)
    # Reference: linear attention by prefix sums (causal) or one global sum.
    om = spectral_frequencies(D, key=key, num_features=M, orthogonal=True, dtype=FLOAT)
    ref = []
    for h in range(H):
        qf = softmax_features(q[:, h] * D**-0.25, om)
        kf = softmax_features(k[:, h] * D**-0.25, om)
        kv = kf[:, :, None] * v[:, h][:, None, :]
        if causal:
            num = jnp.einsum("nm,nmd->nd", qf, jnp.cumsum(kv, axis=0))
            den = jnp.sum(qf * jnp.cumsum(kf, axis=0), axis=1, keepdims=True)
        else:
            num, den = qf @ kv.sum(0), (qf @ kf.sum(0))[:, None]
        ref.append(num / den)
    ref = jnp.stack(ref, axis=1)
    assert_close(zero, ref, rtol64=1e-10, rtol32=2e-4, atol64=1e-10, atol32=2e-5)
    assert_close(none, ref, rtol64=1e-10, rtol32=2e-4, atol64=1e-10, atol32=2e-5)


def test_gradients_match_dense(getkey):
    q, k, v, bias = _inputs(getkey, n=21)
    key = getkey()
    w = jax.random.normal(getkey(), (21, H, DV), FLOAT)
    fft = jax.jit(jax.grad(lambda *a: jnp.sum(w * kernelized_attention(
        *a[:3], key=key, num_features=M, rpe_bias=a[3], causal=True)), argnums=(0, 1, 2, 3)))
    dense = jax.jit(jax.grad(lambda *a: jnp.sum(w * _dense(*a, key, True)), argnums=(0, 1, 2, 3)))
    for g_fft, g_dense in zip(fft(q, k, v, bias), dense(q, k, v, bias), strict=True):
        assert_close(g_fft, g_dense, rtol64=1e-9, rtol32=1e-3, atol64=1e-10, atol32=1e-4)


def test_approximates_exact_softmax_attention(getkey):
    # Reference: exact softmax attention with the same additive bias, in NumPy float64.
    n = 16
    q, k, v, bias = _inputs(getkey, n=n)
    q, k = 0.5 * q, 0.5 * k
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    qn, kn, vn, bn = (np.asarray(a, np.float64) for a in (q, k, v, bias))
    exact = []
    for h in range(H):
        logits = qn[:, h] @ kn[:, h].T / np.sqrt(D) + bn[h][n - 1 + j - i]
        weights = np.exp(logits - logits.max(1, keepdims=True))
        exact.append(weights @ vn[:, h] / weights.sum(1, keepdims=True))
    exact = np.stack(exact, axis=1)
    approx = kernelized_attention(q, k, v, key=getkey(), num_features=512, rpe_bias=bias)
    assert np.sqrt(np.mean((np.asarray(approx, np.float64) - exact) ** 2)) < 0.05


def test_batch_jit_and_vmap(getkey):
    q, k, v, bias = _inputs(getkey, n=9)
    key = getkey()

    def f(q, k, v, bias):
        return kernelized_attention(q, k, v, key=key, num_features=M, rpe_bias=bias, causal=True)

    qb, kb, vb = (jnp.stack([a, 2 * a]) for a in (q, k, v))
    # jit and vmap over a batch of sequences (gradients in q, k, v and the bias: against the
    # dense computation's in test_gradients_match_dense).
    check_transforms(f, (q, k, v, bias[0]), batch=(qb, kb, vb, bias[0]),
                     in_axes=(0, 0, 0, None), grad_argnums=None, rtol32=1e-5,
                     atol32=1e-6, rtol64=1e-11, atol64=1e-12)
    batched = f(qb, kb, vb, bias[0])  # a leading batch axis is handled natively
    assert_close(batched[1], f(qb[1], kb[1], vb[1], bias[0]), rtol32=1e-5, atol32=1e-6,
                 rtol64=1e-11, atol64=1e-12)
    # One head given as (n, d) equals head 0 of the multi-head call with a shared bias.
    one = f(q[:, 0], k[:, 0], v[:, 0], bias[0])
    assert_close(one, batched[0, :, 0], rtol32=1e-5, atol32=1e-6)


def test_attention_layer(getkey):
    layer = KernelizedAttention(8, num_heads=2, num_features=8, max_length=16, key=getkey(),
                                causal=True)
    layer = jax.tree.map(lambda a: a.astype(FLOAT) if jnp.issubdtype(a.dtype, jnp.floating)
                         else a, layer)
    x = jax.random.normal(getkey(), (11, 8), FLOAT)
    key = getkey()
    out = layer(x, key=key)
    assert out.shape == (11, 8) and out.dtype == FLOAT
    # Causality: changing the last token leaves the earlier outputs unchanged.
    out2 = layer(x.at[-1].set(3.0), key=key)
    assert_close(out2[:-1], out[:-1], rtol64=1e-9, rtol32=1e-4, atol64=1e-10, atol32=1e-5)
    # jit, and gradients in every parameter against finite differences.
    check_transforms(lambda m, x: m(x, key=key), (layer, x), grad_argnums=(0,),
                     rtol64=1e-11, atol64=1e-12, atol32=1e-6)
    g = jax.jit(jax.grad(lambda b: jnp.sum(_with_bias(layer, b)(x, key=key) ** 2)))(layer.rpe_bias)
    assert g.shape == layer.rpe_bias.shape
    # Only the central 2n - 1 offsets of the learned bias are used.
    assert bool(jnp.all(g[:, : 16 - 11] == 0)) and bool(jnp.any(g[:, 16 - 11: 16 + 10] != 0))
    with pytest.raises(ValueError, match="max_length"):
        layer(jnp.ones((17, 8), FLOAT), key=key)


def _with_bias(layer, b):
    return eqx.tree_at(lambda layer: layer.rpe_bias, layer, b)


def test_attention_bad_input(getkey):
    q, k, v, bias = _inputs(getkey, n=6)
    key = getkey()
    with pytest.raises(ValueError, match="num_features"):
        kernelized_attention(q, k, v, key=key, num_features=0)
    with pytest.raises(ValueError, match="rpe_bias"):
        kernelized_attention(q, k, v, key=key, num_features=4, rpe_bias=jnp.zeros(12, FLOAT))
    with pytest.raises(ValueError, match="rpe_bias"):
        kernelized_attention(q, k, v, key=key, num_features=4, rpe_bias=jnp.zeros((3, 11)))
    with pytest.raises(ValueError, match="`k`"):
        kernelized_attention(q, k[:5], v, key=key, num_features=4)
    with pytest.raises(ValueError, match="`v`"):
        kernelized_attention(q, k, v[:5], key=key, num_features=4)


@pytest.mark.skipif(not X64, reason="float64 accuracy target")
def test_fft_equals_dense_long_float64(getkey):
    q, k, v, bias = _inputs(getkey, n=300)
    key = getkey()
    fft = kernelized_attention(q, k, v, key=key, num_features=M, rpe_bias=bias, causal=True)
    np.testing.assert_allclose(fft, _dense(q, k, v, bias, key, True), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("scale", [1e2, 1e4, 1e8])
@pytest.mark.parametrize("with_bias", [False, True])
def test_large_inputs_stay_in_the_convex_hull_of_the_values(scale, with_bias):
    # Attention weights are positive and sum to one, so every output lies between the values'
    # per-channel minimum and maximum. One shift per head underflowed every key term to 0/0
    # (NaN) from input scale 1e2; a shift per feature, moved onto the queries, cannot.
    q = k = scale * jax.random.normal(jax.random.key(0), (12, 2, 4), FLOAT)
    v = jax.random.normal(jax.random.key(2), (12, 2, 3), FLOAT)
    bias = jnp.zeros(23, FLOAT) if with_bias else None
    out = kernelized_attention(q, k, v, key=jax.random.key(1), num_features=16, rpe_bias=bias)
    slack = 1e-3 * float(jnp.max(jnp.abs(v)))
    assert bool(jnp.all(jnp.isfinite(out)))
    lo, hi = v.min(0, keepdims=True) - slack, v.max(0, keepdims=True) + slack
    assert bool(jnp.all(out >= lo)) and bool(jnp.all(out <= hi))
