"""The shared test helpers catch what they promise to catch."""

import equinox as eqx
import jax
import jax.numpy as jnp
import pytest

from tests.helpers import FLOAT, check_transforms, count_compiles


def _tracer_shift(x, shift):
    # Differs between eager and traced calls: what a broken jit path looks like.
    return shift if isinstance(x, jax.core.Tracer) else 0.0


@jax.custom_jvp
def _wrong_derivative(x):
    return jnp.sin(x)


@_wrong_derivative.defjvp
def _wrong_derivative_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return jnp.sin(x), 1.5 * jnp.cos(x) * dx


@jax.custom_batching.custom_vmap
def _wrong_batching(x):
    return 2 * x


@_wrong_batching.def_vmap
def _wrong_batching_rule(axis_size, in_batched, x):
    return 3 * x, in_batched[0]


X = jnp.linspace(0.1, 1.0, 4, dtype=FLOAT)


def test_passes_a_correct_function():
    check_transforms(lambda x, y: jnp.sin(x) * y, (X, X), batch=(jnp.stack([X, 2 * X]), X),
                     in_axes=(0, None), grad_argnums=(0, 1), grad_modes=("fwd", "rev"))


@pytest.mark.parametrize("modes", [("rev",), ("fwd",)])
def test_catches_a_wrong_gradient(modes):
    with pytest.raises(AssertionError, match="finite differences"):
        check_transforms(_wrong_derivative, (X,), grad_modes=modes)


def test_catches_a_wrong_jit_and_vmap():
    with pytest.raises(AssertionError, match="jit vs eager"):
        check_transforms(lambda x: x + _tracer_shift(x, 1.0), (X,), grad_argnums=None)
    with pytest.raises(AssertionError, match="vmap vs loop"):
        check_transforms(_wrong_batching, (X,), batch=(jnp.stack([X, X]),), grad_argnums=None)
    with pytest.raises(AssertionError, match="jit vs eager"):  # the imaginary part counts
        check_transforms(lambda x: jax.lax.complex(x, _tracer_shift(x, 1.0) * x), (X,),
                         grad_argnums=None)


def test_refuses_non_finite_values():
    with pytest.raises(AssertionError, match="not finite"):
        check_transforms(jnp.log, (X - 0.5,))
    check_transforms(jnp.log, (X - 0.5,), grad_argnums=None, finite=False)


def test_modules_with_static_leaves_and_keyword_arguments():
    # An eqx.nn.MLP holds its activation functions as leaves: held static, not traced.
    mlp = eqx.nn.MLP(4, 2, 8, 1, key=jax.random.key(0), dtype=FLOAT)
    check_transforms(lambda m, x: m(x), (mlp, X), batch=(mlp, jnp.stack([X, -X])),
                     in_axes=(None, 0), grad_argnums=(0, 1), atol32=1e-6)
    check_transforms(jnp.sum, (jnp.stack([X, X]),), kwargs=dict(axis=1))


def test_count_compiles():
    f, compiles = count_compiles(lambda x: 2 * x)
    f(X)
    f(X + 1)
    assert compiles() == 1
    f(X[:2])
    assert compiles() == 2
