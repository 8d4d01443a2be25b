"""Implicit (coordinate-MLP) long-convolution kernels: FFT = direct convolution, L = 64k."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.ssm import HyperConv, hyper_kernel, kernel_coordinates

from ..helpers import FLOAT, assert_close, check_transforms


@pytest.mark.parametrize("causal", [True, False])
def test_fft_equals_direct_convolution(getkey, causal):
    L, h = 200, 3
    layer = HyperConv(h, width=16, causal=causal, dtype=FLOAT, key=getkey())
    u = jax.random.normal(getkey(), (L, h), FLOAT)
    y, k = eqx.filter_jit(lambda m: (m(u), m.kernel(L)))(layer)
    k, un = np.asarray(k, np.float64), np.asarray(u, np.float64)
    assert k.shape == ((L, h) if causal else (2 * L - 1, h))
    # Reference: np.convolve with the generated kernel (causal: first L; centred: the middle).
    start = 0 if causal else L - 1
    direct = np.stack([np.convolve(un[:, c], k[:, c])[start:start + L] for c in range(h)], 1)
    direct += np.asarray(layer.D, np.float64) * un
    assert_close(y, direct, rtol32=1e-4, atol32=1e-4 * np.abs(direct).max(), atol64=1e-10)


def test_runs_at_64k(getkey):
    layer = HyperConv(2, width=8, dtype=FLOAT, key=getkey())
    u = jax.random.normal(getkey(), (65536, 2), FLOAT)
    y = eqx.filter_jit(lambda m, u: m(u))(layer, u)
    assert y.shape == (65536, 2) and bool(jnp.all(jnp.isfinite(y)))
    # The last output sees the first input: a global kernel (64k taps, all nonzero).
    k = layer.kernel(65536)
    assert float(jnp.min(jnp.abs(k[-100:]))) > 0


def test_kernel_coordinates_and_decay():
    c = kernel_coordinates(5, num_frequencies=2, causal=False, dtype=FLOAT)
    t = np.linspace(-1, 1, 9)
    ref = np.stack([t, np.sin(np.pi * t), np.sin(2 * np.pi * t), np.cos(np.pi * t),
                    np.cos(2 * np.pi * t)], 1)
    assert_close(c, ref, atol32=1e-6, atol64=1e-15)
    k = hyper_kernel(lambda f: jnp.ones(2, FLOAT), 5, decay=jnp.array([0.0, 2.0], FLOAT),
                     num_frequencies=1, dtype=FLOAT)
    assert_close(k[:, 1], np.exp(-2 * np.linspace(0, 1, 5)), atol32=1e-6)


def test_transforms(getkey):
    layer = HyperConv(2, width=8, dtype=FLOAT, key=getkey())
    u = jax.random.normal(getkey(), (3, 32, 2), FLOAT)
    check_transforms(lambda m, u: m(u), (layer, u[0]), grad_argnums=(0, 1), rtol32=1e-4,
                     atol32=1e-5, atol64=1e-12)


def test_bad_input(getkey):
    with pytest.raises(ValueError, match="decay"):
        HyperConv(2, decay=-1.0, key=getkey())
    with pytest.raises(ValueError, match="2 channels"):
        HyperConv(2, key=getkey())(jnp.ones((10, 3)))
    with pytest.raises(ValueError, match="`mlp` must map"):
        hyper_kernel(lambda f: jnp.ones((2, 2)), 5)
