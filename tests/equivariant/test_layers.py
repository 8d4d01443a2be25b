"""Equivariant layers: feature interaction, convolution, many-body; and scale_degrees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from jaxkern.equivariant import (
    GauntConvolution,
    GauntInteraction,
    GauntManyBody,
    gaunt_convolution,
    gaunt_powers,
    gaunt_product,
    scale_degrees,
    spherical_harmonics,
    wigner_d,
)
from tests.helpers import FLOAT, assert_close, check_transforms

C = 3


def _features(shape, seed=0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), FLOAT)


def _rotation(lmax, seed=7):
    R = Rotation.random(random_state=seed).as_matrix()
    return jnp.asarray(R, FLOAT), wigner_d(jnp.asarray(R, FLOAT), lmax=lmax)


def _rotate(x, D):
    n = x.shape[-1]
    return x @ D[:n, :n].T


def test_scale_degrees():
    x = jnp.arange(9, dtype=FLOAT)
    out = scale_degrees(x, jnp.array([1.0, 10.0, -1.0], FLOAT))
    assert_close(out, [0, 10, 20, 30, -4, -5, -6, -7, -8])
    with pytest.raises(ValueError, match="weights"):
        scale_degrees(x, jnp.ones(2, FLOAT))
    w = jnp.array([[1.0, 10.0, -1.0], [0.5, 2.0, 3.0]], FLOAT)
    check_transforms(scale_degrees, (x, w[0]), batch=(jnp.stack([x, -x]), w), grad_argnums=(0, 1))


def test_interaction_is_weighted_product_and_equivariant():
    layer = GauntInteraction(C, 2, 1, lmax_out=3, key=jax.random.key(0), dtype=FLOAT)
    x, y = _features((5, C, 9)), _features((5, C, 4), seed=1)
    out = layer(x, y)
    manual = gaunt_product(scale_degrees(x, layer.weights1), scale_degrees(y, layer.weights2),
                           lmax_out=3)
    assert_close(out, manual)
    _, D = _rotation(3)
    assert_close(layer(_rotate(x, D), _rotate(y, D)), _rotate(out, D), atol64=1e-12,
                 atol32=2e-5)
    # jit, vmap over the leading axis, and gradients in the weights and both inputs.
    check_transforms(lambda m, x, y: m(x, y), (layer, x[0], y[0]), batch=(layer, x, y),
                     in_axes=(None, 0, 0), grad_argnums=(0, 1, 2), atol64=1e-14, atol32=1e-6)


@pytest.mark.slow
def test_convolution_matches_loop_and_is_equivariant():
    key = jax.random.key(1)
    conv = GauntConvolution(C, 1, 2, 2, key=key, dtype=FLOAT)
    pos = _features((4, 3), seed=2)
    senders = jnp.array([0, 1, 2, 3, 1, 2])
    receivers = jnp.array([1, 0, 0, 0, 2, 3])
    x = _features((4, C, 4), seed=3)
    out = conv(x, pos, senders, receivers)
    assert out.shape == (4, C, 9)
    # Pure function against an explicit loop over edges.
    w = _features((6, C, 3), seed=4)
    vec = pos[senders] - pos[receivers]
    h = gaunt_convolution(x, vec, w, senders, receivers, lmax_out=2)
    ref = np.zeros((4, C, 9))
    for e in range(6):
        filt = scale_degrees(spherical_harmonics(vec[e], lmax=2)[None], w[e])
        ref[int(receivers[e])] += np.asarray(gaunt_product(x[int(senders[e])], filt, lmax_out=2))
    assert_close(h, ref, atol64=1e-12, atol32=2e-5)
    # Rotate and translate the point cloud and rotate the input features: output rotates.
    R, D = _rotation(2)
    moved = pos @ R.T + jnp.array([[1.0, -2.0, 0.5]], FLOAT)
    assert_close(conv(_rotate(x, D), moved, senders, receivers), _rotate(out, D),
                 atol64=1e-12, atol32=5e-5)
    # jit, vmap over feature sets, and gradients in the radial weights, features and positions;
    # the pure function likewise in its edge weights and vectors.
    xs = jnp.stack([x, _features((4, C, 4), seed=5)])
    check_transforms(lambda m, x, p: m(x, p, senders, receivers), (conv, x, pos),
                     batch=(conv, xs, pos), in_axes=(None, 0, None), grad_argnums=(0, 1, 2),
                     atol64=1e-13, atol32=1e-5)
    check_transforms(lambda x, v, w: gaunt_convolution(x, v, w, senders, receivers, lmax_out=2),
                     (x, vec, w), grad_argnums=(0, 1, 2), atol64=1e-13, atol32=1e-5)


def test_convolution_bad_input():
    x = _features((4, C, 4))
    with pytest.raises(ValueError, match="edges"):
        gaunt_convolution(x, jnp.ones((3, 3), FLOAT), jnp.ones((2, C, 2), FLOAT),
                          jnp.array([0, 1]), jnp.array([1, 0]), lmax_out=1)
    with pytest.raises(ValueError, match="features"):
        gaunt_convolution(x[0], jnp.ones((2, 3), FLOAT), jnp.ones((2, C, 2), FLOAT),
                          jnp.array([0, 1]), jnp.array([1, 0]), lmax_out=1)
    with pytest.raises(ValueError, match="channels"):
        GauntInteraction(0, 1, 1, key=jax.random.key(0))


def test_many_body_is_weighted_powers_and_equivariant():
    layer = GauntManyBody(C, 2, 3, key=jax.random.key(2), dtype=FLOAT)
    x = _features((2, C, 9), seed=5)
    out = layer(x)
    assert out.shape == (2, C, 9)
    powers = gaunt_powers(scale_degrees(x, layer.weights_in), max_power=3, lmax_out=2)
    manual = sum(scale_degrees(powers[:, :, p], layer.weights_out[p]) for p in range(3))
    assert_close(out, manual, atol64=1e-13, atol32=1e-5)
    _, D = _rotation(2)
    assert_close(layer(_rotate(x, D)), _rotate(out, D), atol64=1e-12, atol32=5e-5)
    assert_close(jax.vmap(layer)(x), out, atol64=1e-13, atol32=1e-5)
    check_transforms(lambda m, x: m(x), (layer, x[0]), batch=(layer, x), in_axes=(None, 0),
                     grad_argnums=(0, 1), atol64=1e-13, atol32=1e-5)
