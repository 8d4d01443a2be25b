"""Rank-R one-way kernels = dense convolution with the reconstituted kernel; the wave data."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.layers import (
    Conv2d,
    CPFactors,
    FactorisedConv2d,
    conv2d,
    cp_kernel,
    factorised_conv2d,
    wave_dataset,
)

from ..helpers import FLOAT, assert_close, check_transforms


def test_conv2d_matches_torch(getkey):
    torch = pytest.importorskip("torch")
    x = jax.random.normal(getkey(), (2, 9, 8, 3), FLOAT)
    w = jax.random.normal(getkey(), (5, 3, 3, 4), FLOAT)
    b = jax.random.normal(getkey(), (4,), FLOAT)
    # Reference: torch.nn.functional.conv2d, padding (2, 1), float64.
    ref = torch.nn.functional.conv2d(
        torch.from_numpy(np.array(x, np.float64)).permute(0, 3, 1, 2),
        torch.from_numpy(np.array(w, np.float64)).permute(3, 2, 0, 1),
        torch.from_numpy(np.array(b, np.float64)), padding=(2, 1)).permute(0, 2, 3, 1)
    assert_close(conv2d(x, w, b), ref.numpy(), rtol32=1e-5, atol32=3e-5)


def test_cp_kernel_matches_numpy(getkey):
    f = CPFactors(*(jax.random.normal(getkey(), (3, n), FLOAT) for n in (5, 3, 2, 4)))
    a, b, c, d = (np.asarray(v, np.float64) for v in f)
    ref = sum(np.multiply.outer(np.multiply.outer(np.multiply.outer(a[r], b[r]), c[r]), d[r])
              for r in range(3))  # reference: NumPy outer products, rank by rank
    assert_close(cp_kernel(f), ref, rtol32=1e-5, atol32=1e-5)


def test_factorised_equals_dense(getkey):
    layer = FactorisedConv2d(3, 5, (5, 3), rank=4, dtype=FLOAT, key=getkey())
    x = jax.random.normal(getkey(), (2, 10, 9, 3), FLOAT)
    assert_close(layer(x), conv2d(x, layer.kernel(), layer.bias), rtol32=1e-5, atol32=1e-5,
                 atol64=1e-13)
    assert layer.num_parameters == 4 * (5 + 3 + 3 + 5) + 5
    assert Conv2d(3, 5, (5, 3), key=getkey()).num_parameters == 5 * 3 * 3 * 5 + 5
    check_transforms(lambda f, x: factorised_conv2d(x, f), (layer.factors, x[0]),
                     grad_argnums=(0, 1), rtol32=1e-4, atol32=1e-5, atol64=1e-13)


def test_wave_dataset_is_the_wave_equation():
    data = wave_dataset(3, size=16, steps_ahead=1, key=jax.random.key(0), dtype=FLOAT)
    # One leapfrog step, recomputed in NumPy from the inputs (u^n, u^{n-1}).
    u, prev = np.asarray(data.inputs[..., 0], np.float64), np.asarray(data.inputs[..., 1],
                                                                       np.float64)
    p = np.pad(u, ((0, 0), (1, 1), (1, 1)))
    lap = p[:, 2:, 1:-1] + p[:, :-2, 1:-1] + p[:, 1:-1, 2:] + p[:, 1:-1, :-2] - 4 * u
    new = 2 * u - prev + 0.25 * lap
    new[:, 0], new[:, -1], new[:, :, 0], new[:, :, -1] = 0, 0, 0, 0
    assert_close(data.targets[..., 0], new, rtol32=1e-5, atol32=1e-6, atol64=1e-13)
    assert float(jnp.std(data.targets)) > 1e-2


def test_bad_input(getkey):
    with pytest.raises(ValueError, match="kernel_size.*odd"):
        FactorisedConv2d(3, 4, 4, rank=2, key=getkey())
    with pytest.raises(ValueError, match="rank"):
        FactorisedConv2d(3, 4, 3, rank=0, key=getkey())
    layer = FactorisedConv2d(3, 4, 3, rank=2, key=getkey())
    with pytest.raises(ValueError, match="3 channels"):
        layer(jnp.ones((8, 8, 2)))
    with pytest.raises(ValueError, match="`w` must have shape"):
        conv2d(jnp.ones((8, 8, 2)), jnp.ones((3, 3, 3, 1)))
    with pytest.raises(ValueError, match="one R"):
        cp_kernel(CPFactors(jnp.ones((2, 3)), jnp.ones((3, 3)), jnp.ones((2, 1)),
                            jnp.ones((2, 1))))
    with pytest.raises(ValueError, match="courant"):
        wave_dataset(2, courant=0.9, key=getkey())


def test_factorised_init_matches_dense_variance():
    # The rank-R product of four uniform factors is scaled so that a reconstituted kernel entry
    # has the dense layer's (PyTorch's) variance 1/(3 fan_in), whatever the rank.
    keys = jax.random.split(jax.random.key(0), 64)
    dense = jax.vmap(lambda k: Conv2d(8, 4, 5, dtype=FLOAT, key=k).weight)(keys)
    for rank in (2, 16):
        fact = jax.vmap(lambda k: FactorisedConv2d(8, 4, 5, rank=rank, dtype=FLOAT,
                                                   key=k).kernel())(keys)
        assert abs(float(jnp.var(fact)) / float(jnp.var(dense)) - 1) < 0.15
