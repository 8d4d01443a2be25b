"""The flax.nnx adapter around an S4D layer."""

import jax
import jax.numpy as jnp
import optax
import pytest

from jaxkern.ssm import S4D

from ..helpers import FLOAT, assert_close

nnx = pytest.importorskip("flax.nnx")


def test_nnx_adapter_matches_and_trains(getkey):
    from jaxkern.flax import EquinoxModule

    layer = S4D(4, 8, key=getkey())
    wrapped = EquinoxModule(layer)
    u = jax.random.normal(getkey(), (32, 4), FLOAT)
    assert_close(wrapped(u), layer(u), rtol32=1e-6, atol32=1e-6)
    assert len(jax.tree.leaves(nnx.state(wrapped, nnx.Param))) == 6

    target = jnp.roll(u, 3, axis=0)
    loss = lambda m: jnp.mean((m(u) - target) ** 2)
    with jax.numpy_dtype_promotion("standard"):  # optax's Adam mixes int32 counts with floats
        opt = nnx.Optimizer(wrapped, optax.adam(1e-2), wrt=nnx.Param)

        @nnx.jit
        def step(m, opt):
            value, grads = nnx.value_and_grad(loss)(m)
            opt.update(m, grads)
            return value

        first = step(wrapped, opt)
        for _ in range(20):
            last = step(wrapped, opt)
    assert float(last) < float(first)
    # The trained parameters flow back into an equinox layer computing the same map.
    assert_close(wrapped.to_equinox()(u), wrapped(u), rtol32=1e-6, atol32=1e-6)
