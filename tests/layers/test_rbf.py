"""NeuRBF: nearest-k evaluation = dense evaluation; the field against a NumPy reference."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.layers import NeuRBF, grid_bases, nearest_bases, rbf_field

from ..helpers import FLOAT, X64, assert_close, check_transforms


def _bases(key, B=40, M=5):
    k1, k2, k3, k4 = jax.random.split(key, 4)
    centres = jax.random.uniform(k1, (B, 2), FLOAT)
    # Anisotropic, rotated ellipses A = diag(s) R(theta), s in [15, 30]: narrow enough that the
    # bases beyond the 20 nearest add less than 1e-7 anywhere in the unit square.
    theta = jax.random.uniform(k2, (B,), FLOAT, 0.0, np.pi)
    rot = jnp.stack([jnp.stack([jnp.cos(theta), -jnp.sin(theta)], -1),
                     jnp.stack([jnp.sin(theta), jnp.cos(theta)], -1)], -2)
    scales = jax.random.uniform(k4, (B, 2, 1), FLOAT, 15.0, 30.0)
    shapes = scales * rot
    weights = jax.random.normal(k3, (B, M), FLOAT)
    freq = jnp.geomspace(1.0, 8.0, M).astype(FLOAT)
    return centres, shapes, weights, freq


def test_field_matches_numpy(getkey):
    c, A, w, f = _bases(getkey())
    x = jax.random.uniform(getkey(), (30, 2), FLOAT)
    xn, cn, An, wn, fn = (np.asarray(a, np.float64) for a in (x, c, A, w, f))
    # Reference: the defining sum, loop over bases, NumPy float64.
    ref = np.zeros((30, 5))
    for i in range(cn.shape[0]):
        z = (xn - cn[i]) @ An[i].T
        ref += np.sin(np.exp(-np.sum(z * z, 1))[:, None] * fn) * wn[i]
    assert_close(rbf_field(x, c, A, w, f), ref, rtol32=1e-5, atol32=1e-5)


def test_nearest_k_equals_dense(getkey):
    c, A, w, f = _bases(getkey())
    x = jax.random.uniform(getkey(), (500, 2), FLOAT)
    dense = rbf_field(x, c, A, w, f)
    idx = nearest_bases(x, c, A, k=20, block_size=128)
    # The omitted bases' bound: sum over them of |w| * omega_max * exp(-r^2).
    r2 = np.sum(np.einsum("bij,nbj->nbi", np.asarray(A, np.float64),
                          np.asarray(x, np.float64)[:, None] - np.asarray(c, np.float64)) ** 2, -1)
    far = np.sort(r2, axis=1)[:, 20:]
    bound = np.max(np.sum(np.exp(-far), 1)) * 8.0 * float(jnp.max(jnp.abs(w)))
    assert bound < 1e-7
    # The bar: nearest-k = dense over all bases to 1e-6.
    np.testing.assert_allclose(np.asarray(rbf_field(x, c, A, w, f, neighbours=idx)),
                               np.asarray(dense), atol=1e-6, rtol=0)
    # Too few neighbours does differ: the check can fail.
    idx3 = nearest_bases(x, c, A, k=2)
    assert float(jnp.max(jnp.abs(rbf_field(x, c, A, w, f, neighbours=idx3) - dense))) > 1e-3
    # Nearest first, by the bases' own metric.
    assert np.all(np.take_along_axis(r2, np.asarray(idx), 1)[:, 0] == r2.min(1))


def test_layer_and_transforms(getkey):
    field = NeuRBF((5, 6), 3, num_channels=4, dtype=FLOAT, key=getkey())
    assert field.num_parameters == 30 * (2 + 4 + 4) + 4 * 3 + 3
    x = jax.random.uniform(getkey(), (2, 16, 2), FLOAT)
    idx = field.neighbours(x[0], k=30)
    assert_close(field(x[0], idx), field(x[0]), rtol32=1e-5, atol32=1e-6, atol64=1e-13)
    # Gradients in the trained leaves (centres, shapes, weights) and the query points; the
    # frequencies are a fixed ladder (the layer stops their gradient).
    f = field.frequencies
    check_transforms(lambda c, A, w, x: rbf_field(x, c, A, w, f),
                     (field.centres, field.shapes, field.weights, x[0]),
                     # float32's finite-difference step (1e-2) is too coarse for sin(8 phi):
                     # the gradient is checked in float64 only.
                     grad_argnums=(0, 1, 2, 3) if X64 else None, rtol32=1e-5, atol32=1e-6)
    check_transforms(lambda x: rbf_field(x, field.centres, field.shapes, field.weights,
                                         field.frequencies), (x[0],), batch=(x,),
                     rtol32=1e-5, atol32=1e-6)


def test_bad_input(getkey):
    c, A = grid_bases((3, 3))
    with pytest.raises(ValueError, match="`shapes` must have shape"):
        rbf_field(jnp.ones((4, 2)), c, A[:, :1], jnp.ones((9, 2)), jnp.ones(2))
    with pytest.raises(ValueError, match="`frequencies`"):
        rbf_field(jnp.ones((4, 2)), c, A, jnp.ones((9, 2)), jnp.ones(3))
    with pytest.raises(ValueError, match="`centres` must have shape"):
        rbf_field(jnp.ones((4, 3)), c, A, jnp.ones((9, 2)), jnp.ones(2))
    with pytest.raises(ValueError, match="`k` = 10 is more than the 9 bases"):
        nearest_bases(jnp.ones((4, 2)), c, A, k=10)
    with pytest.raises(ValueError, match="resolution"):
        grid_bases((1, 3))
