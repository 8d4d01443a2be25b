"""ESSA attention: linear form = dense form, and = a PyTorch transcription of ESSAttn."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.layers import ESSAttention, essa_attention, essa_attention_dense, essa_features

from ..helpers import FLOAT, X64, assert_close, check_transforms


def test_linear_equals_dense(getkey):
    q, k, v = jax.random.normal(getkey(), (3, 300, 8), FLOAT)
    lin, dense = essa_attention(q, k, v), essa_attention_dense(q, k, v)
    # The bar: linear form = dense O(N^2) form to 1e-12 in float64 (1e-5 in float32).
    err = float(jnp.max(jnp.abs(lin - dense)) / jnp.max(jnp.abs(dense)))
    assert err <= (1e-12 if X64 else 1e-5)


def test_features_golden():
    # Hand-computed: q = (1, -1, 0) is centred, s = (1, 1, 0)/2, unit row (1, 1, 0)/sqrt 2.
    phi, psi = essa_features(jnp.array([[1.0, -1.0, 0.0], [2.0, 0.0, 1.0]], FLOAT),
                             jnp.array([[1.0, 2.0, 3.0], [0.0, 0.0, 3.0]], FLOAT), eps=0.0)
    assert_close(phi[0], np.array([1, 1, 0]) / np.sqrt(2), atol32=1e-7)
    # Keys: s(k_1) = (1, 0, 1)/2, s(k_2) = (1, 1, 4)/6; psi is unit along each column.
    s = np.array([[0.5, 0.0, 0.5], [1 / 6, 1 / 6, 4 / 6]])
    assert_close(psi, s / np.linalg.norm(s, axis=0), atol32=1e-7)


class ESSAttnTorch:
    """Transcription of ESSAformer's `ESSAttn.forward` (tokens already flattened to (b, N, C)):
    q, k centred over channels, q2 = q^2 / (sum q^2 + 1e-7) normalised over channels, k2
    normalised over tokens, t2 = q2 @ (k2^T @ v) / sqrt(N), output ln(v + t2)."""

    def __init__(self, torch, dim):
        self.torch = torch
        self.lnqkv = torch.nn.Linear(dim, 3 * dim).double()
        self.ln = torch.nn.Linear(dim, dim).double()

    def __call__(self, x):
        torch, F = self.torch, self.torch.nn.functional
        b, N, C = x.shape
        q, k, v = torch.split(self.lnqkv(x), C, 2)
        q = q - q.mean(dim=2, keepdim=True)
        k = k - k.mean(dim=2, keepdim=True)
        q2, k2 = q ** 2, k ** 2
        q2s, k2s = q2.sum(dim=2, keepdim=True), k2.sum(dim=2, keepdim=True)
        k2 = F.normalize(k2 / (k2s + 1e-7), dim=-2)
        q2 = F.normalize(q2 / (q2s + 1e-7), dim=-1)
        t2 = q2 @ (k2.transpose(-2, -1) @ v) / N ** 0.5
        return self.ln(v + t2)


def test_layer_matches_reference_transcription(getkey):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = ESSAttnTorch(torch, 6)
    layer = ESSAttention(6, key=getkey(), dtype=FLOAT)
    t = lambda p: jnp.asarray(p.detach().numpy(), FLOAT)
    layer = eqx.tree_at(lambda m: (m.qkv.weight, m.qkv.bias, m.out.weight, m.out.bias), layer,
                        (t(ref.lnqkv.weight), t(ref.lnqkv.bias), t(ref.ln.weight),
                         t(ref.ln.bias)))
    x = np.random.default_rng(1).standard_normal((1, 64, 6))
    with torch.no_grad():
        want = ref(torch.from_numpy(x))[0].numpy()
    assert_close(layer(jnp.asarray(x[0], FLOAT)), want, rtol32=1e-5, atol32=1e-5)
    assert_close(layer(jnp.asarray(x[0], FLOAT), dense=True), want, rtol32=1e-5, atol32=1e-5)


def test_transforms(getkey):
    q, k, v = jax.random.normal(getkey(), (3, 2, 40, 4), FLOAT)
    check_transforms(essa_attention, (q[0], k[0], v[0]), batch=(q, k, v),
                     grad_argnums=(0, 1, 2), rtol32=1e-4, atol32=1e-5, atol64=1e-13)


def test_bad_input():
    with pytest.raises(ValueError, match="`q` must have shape"):
        essa_attention(jnp.ones(4), jnp.ones((4, 2)), jnp.ones((4, 2)))
    with pytest.raises(ValueError, match="same shape"):
        essa_attention(jnp.ones((4, 3)), jnp.ones((4, 2)), jnp.ones((4, 2)))
    with pytest.raises(ValueError, match=r"\(N, 8\)"):
        ESSAttention(8, key=jax.random.key(0))(jnp.ones((10, 4)))
