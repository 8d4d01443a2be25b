"""Universal random features and SNNK layers."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.features import SNNK, neural_network_kernel, snnk_features, spectral_frequencies
from jaxkern.kernels import arccos, gram

from ..helpers import FLOAT, assert_close, check_transforms, points

SEEDS = 400


def _layer_data(getkey, scale):
    X = points(getkey(), 3, 2, scale=scale)
    W = points(getkey(), 4, 2, scale=scale)
    b = scale * jax.random.normal(getkey(), (4,), FLOAT)
    return X, W, b


def _estimates(X, W, b, activation, m):
    """SEEDS independent estimates of the layer, from one split draw of frequencies."""
    om = spectral_frequencies(3, key=jax.random.key(11), num_features=SEEDS * m, dtype=FLOAT)

    def one(o):
        f = snnk_features(X, W, b, o, activation=activation)
        return f.inputs @ f.weights.T

    return np.asarray(jax.vmap(one)(om.reshape(SEEDS, m, 3)), np.float64)


def test_neural_network_kernel_golden(getkey):
    X, W, b = _layer_data(getkey, 0.7)
    Xn, Wn, bn = (np.asarray(a, np.float64) for a in (X, W, b))
    z = Xn @ Wn.T + bn  # reference: the dense layer in NumPy
    assert_close(neural_network_kernel(X, W, b, activation="exp"), np.exp(z))
    assert_close(neural_network_kernel(X, W, b, activation="sin"), np.sin(z))
    # ReLU: the order-1 arc-cosine kernel of the augmented points (x, 1) and (w, b).
    Xa = jnp.concatenate([X, jnp.ones((3, 1), FLOAT)], axis=1)
    Wa = jnp.concatenate([W, b[:, None]], axis=1)
    assert_close(neural_network_kernel(X, W, b, activation="relu"),
                 gram(lambda x, y: arccos(x, y, order=1), Xa, Wa))


@pytest.mark.parametrize("activation", ["relu", "exp", "cos", "sin"])
def test_snnk_unbiased(getkey, activation):
    X, W, b = _layer_data(getkey, 0.5)
    est = _estimates(X, W, b, activation, 16)
    exact = np.asarray(neural_network_kernel(X, W, b, activation=activation), np.float64)
    se = est.std(0, ddof=1) / np.sqrt(SEEDS)
    assert np.all(np.abs(est.mean(0) - exact) <= 3 * se), (est.mean(0), exact, se)


def test_relu_snnk_matches_arccos_monte_carlo_factor(getkey):
    # The ReLU features carry sqrt(2) each: phi.psi -> 2 E[relu(w.x) relu(w.y)] = arccos.
    X, W, b = _layer_data(getkey, 1.0)
    om = spectral_frequencies(3, key=getkey(), num_features=200_000, dtype=FLOAT)
    f = snnk_features(X, W, b, om, activation="relu")
    exact = neural_network_kernel(X, W, b, activation="relu")
    assert_close(f.inputs @ f.weights.T, exact, rtol64=2e-2, rtol32=2e-2, atol64=1e-2,
                 atol32=1e-2)


def test_snnk_error_shrinks_as_inverse_sqrt_m(getkey):
    X, W, b = _layer_data(getkey, 0.5)
    exact = np.asarray(neural_network_kernel(X, W, b, activation="relu"), np.float64)
    rms = [np.sqrt(np.mean((_estimates(X, W, b, "relu", m) - exact) ** 2)) for m in (16, 256)]
    # 16x the features: 4x smaller error, within Monte Carlo scatter.
    assert 3.0 < rms[0] / rms[1] < 5.3, rms


@pytest.mark.slow
def test_snnk_layer_approximates_dense_layer(getkey):
    linear = eqx.nn.Linear(3, 5, key=getkey(), dtype=FLOAT)
    linear = eqx.tree_at(lambda lin: (lin.weight, lin.bias), linear,
                         (0.4 * linear.weight, 0.4 * linear.bias))
    x = 0.5 * jax.random.normal(getkey(), (3,), FLOAT)
    dense = jnp.cos(linear(x))  # the dense layer that the cos-SNNK replaces
    errors = []
    for m in (64, 2048):
        layer = SNNK.from_linear(linear, activation="cos", num_features=m, key=getkey(),
                                 orthogonal=True)
        assert_close(layer.exact(x), dense, rtol32=1e-5)
        errors.append(float(jnp.max(jnp.abs(layer(x) - dense))))
    assert errors[1] < errors[0] and errors[1] < 0.1, errors


def test_snnk_transforms(getkey):
    layer = SNNK(3, 2, activation="exp", num_features=32, key=getkey(), orthogonal=True)
    layer = jax.tree.map(lambda a: a.astype(FLOAT), layer)
    X = points(getkey(), 4, 3, scale=0.5)
    out = jax.vmap(layer)(X)
    assert out.shape == (4, 2) and out.dtype == FLOAT
    grads = eqx.filter_jit(eqx.filter_grad(lambda lay: jnp.sum(jax.vmap(lay)(X) ** 2)))(layer)
    assert bool(jnp.all(grads.frequencies == 0))  # the random draw is not trained

    # jit, vmap over inputs, and gradients in the trained weights and the input.
    def call(weight, bias, x):
        return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (weight, bias))(x)

    check_transforms(call, (layer.weight, layer.bias, X[0]),
                     batch=(layer.weight, layer.bias, X), in_axes=(None, None, 0),
                     grad_argnums=(0, 1, 2), atol32=1e-6)
    # The pure functions, in every argument.
    om = spectral_frequencies(4, key=getkey(), num_features=8, dtype=FLOAT)
    W, b = points(getkey(), 2, 3, scale=0.5), jnp.asarray([0.1, -0.2], FLOAT)
    def every_activation(X, W, b, om):
        return {a: (snnk_features(X, W, b, om, activation=a),
                    neural_network_kernel(X, W, b, activation=a))
                for a in ("relu", "exp", "cos", "sin")}

    check_transforms(every_activation, (X, W, b, om), batch=(jnp.stack([X, -X]), W, b, om),
                     in_axes=(0, None, None, None), grad_argnums=(0, 1, 2, 3), grad_rtol32=2e-2)


def test_snnk_bad_input(getkey):
    om = spectral_frequencies(3, key=getkey(), num_features=4)
    X, W, b = jnp.ones((2, 2)), jnp.ones((3, 2)), jnp.zeros(3)
    with pytest.raises(ValueError, match="activation"):
        snnk_features(X, W, b, om, activation="tanh")
    with pytest.raises(ValueError, match="frequencies"):
        snnk_features(X, W, b, om[:, :2], activation="relu")
    with pytest.raises(ValueError, match="`b`"):
        snnk_features(X, W, jnp.zeros(2), om, activation="relu")
    with pytest.raises(ValueError, match="num_features"):
        SNNK(2, 3, activation="relu", num_features=0, key=getkey())
    with pytest.raises(ValueError, match="weight"):
        SNNK(2, 3, activation="relu", num_features=4, key=getkey(), weight=jnp.ones((2, 2)))
