"""The flax.nnx adapter around an S4D layer."""

import jax
import jax.numpy as jnp
import optax
import pytest

from jaxkern.ssm import S4D

from ..helpers import FLOAT, assert_close

nnx = pytest.importorskip("flax.nnx")


@pytest.mark.slow
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


def test_nnx_parameters_keep_their_field_names_and_train_per_name(getkey):
    from jaxkern.flax import EquinoxModule

    wrapped = EquinoxModule(S4D(4, 8, key=getkey()))
    names = set(nnx.state(wrapped, nnx.Param).keys())
    assert names == {"log_dt", "log_neg_real", "imag", "B", "C", "D"}
    log_dt = wrapped.log_dt[...]
    u = jax.random.normal(getkey(), (32, 4), FLOAT)
    target = jnp.roll(u, 2, axis=0)
    # The step size frozen (learning rate 0), the rest trained: only names make this possible.
    labels = lambda state: jax.tree.map_with_path(
        lambda path, _: "dt" if "log_dt" in jax.tree_util.keystr(path) else "rest", state)
    tx = optax.multi_transform({"dt": optax.set_to_zero(), "rest": optax.sgd(1e-2)}, labels)
    opt = nnx.Optimizer(wrapped, tx, wrt=nnx.Param)
    B = wrapped.B[...]
    grads = nnx.grad(lambda m: jnp.mean((m(u) - target) ** 2))(wrapped)
    opt.update(wrapped, grads)
    assert_close(wrapped.log_dt[...], log_dt, rtol32=0, atol32=0)
    assert float(jnp.max(jnp.abs(wrapped.B[...] - B))) > 0


def test_nnx_names_of_nested_layers(getkey):
    from jaxkern.flax import EquinoxModule
    from jaxkern.ssm import SequenceModel

    model = SequenceModel(3, 4, channels=4, depth=2, key=getkey(),
                          make_layer=lambda key: S4D(4, 8, key=key))
    wrapped = EquinoxModule(model)
    assert all(name.isidentifier() for name in wrapped.param_names)
    assert len(set(wrapped.param_names)) == len(wrapped.param_names)
    assert any("log_dt" in name for name in wrapped.param_names)
    u = jax.random.normal(getkey(), (16, 3), FLOAT)
    assert_close(wrapped(u), model(u), rtol32=1e-6, atol32=1e-6)
