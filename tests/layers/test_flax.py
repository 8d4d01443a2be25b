"""The flax.nnx adapter carries every kernel layer: same outputs, trainable parameters."""

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import pytest

from jaxkern.layers import (
    DepthwiseConv2d,
    DilatedReparamConv2d,
    ESSAttention,
    FactorisedConv2d,
    InceptionDWConv2d,
    NeuRBF,
)
from jaxkern.ssm import HyperConv

from ..helpers import FLOAT, assert_close

nnx = pytest.importorskip("flax.nnx")


def _layers(key):
    k = jax.random.split(key, 7)
    return [
        (DepthwiseConv2d(4, 7, dtype=FLOAT, key=k[0]), (10, 10, 4)),
        (InceptionDWConv2d(16, dtype=FLOAT, key=k[1]), (12, 12, 16)),
        (DilatedReparamConv2d(3, 7, dtype=FLOAT, key=k[2]), (10, 10, 3)),
        (FactorisedConv2d(3, 4, 5, rank=2, dtype=FLOAT, key=k[3]), (10, 10, 3)),
        (NeuRBF((4, 4), 3, num_channels=4, dtype=FLOAT, key=k[4]), (20, 2)),
        (ESSAttention(6, dtype=FLOAT, key=k[5]), (30, 6)),
        (HyperConv(3, width=8, dtype=FLOAT, key=k[6]), (64, 3)),
    ]


def _check_carried(layers, getkey):
    from jaxkern.flax import EquinoxModule

    for layer, shape in layers:
        wrapped = EquinoxModule(layer)
        x = jax.random.uniform(getkey(), shape, FLOAT)
        assert_close(wrapped(x), layer(x), rtol32=1e-6, atol32=1e-6)
        n_eqx = len([a for a in jax.tree.leaves(layer) if eqx.is_inexact_array(a)])
        assert len(jax.tree.leaves(nnx.state(wrapped, nnx.Param))) == n_eqx, type(layer)


def test_nnx_adapter_carries_the_layers(getkey):
    # The cheap ones; the slow test below runs every layer.
    layers = _layers(getkey())
    _check_carried([layers[0], layers[4], layers[5]], getkey)


@pytest.mark.slow
def test_nnx_adapter_carries_every_layer(getkey):
    _check_carried(_layers(getkey()), getkey)


def test_nnx_adapter_trains_a_layer(getkey):
    from jaxkern.flax import EquinoxModule

    layer = DilatedReparamConv2d(2, 5, dtype=FLOAT, key=getkey())
    wrapped = EquinoxModule(layer)
    x = jax.random.normal(getkey(), (8, 8, 2), FLOAT)
    target = jnp.roll(x, 1, axis=0)
    loss = lambda m: jnp.mean((m(x) - target) ** 2)
    with jax.numpy_dtype_promotion("standard"):
        opt = nnx.Optimizer(wrapped, optax.adam(1e-2), wrt=nnx.Param)

        @nnx.jit
        def step(m, opt):
            value, grads = nnx.value_and_grad(loss)(m)
            opt.update(m, grads)
            return value

        first = step(wrapped, opt)
        for _ in range(10):
            last = step(wrapped, opt)
    assert float(last) < float(first)
    # Trained parameters flow back; the merged kernel still equals the branches.
    trained = wrapped.to_equinox()
    assert_close(trained.merge()(x), trained(x), rtol32=1e-5, atol32=1e-5, atol64=1e-12)
