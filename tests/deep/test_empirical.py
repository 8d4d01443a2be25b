import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.deep import empirical_ntk, init_mlp, mlp, nngp_ntk_gram

from ..helpers import FLOAT, assert_close, points


def _reference_one_hidden_layer(params, X, W_std, b_std):
    """Per-unit NTK contributions of f(x) = W_std/sqrt(n) relu(h) W2 + b_std b2,
    h = W_std/sqrt(d) x W1 + b_std b1, by hand in NumPy float64: (units, n, n)."""
    (W1, b1), (W2, _) = [(np.asarray(W, np.float64), np.asarray(b, np.float64))
                         for W, b in params]
    X = np.asarray(X, np.float64)
    d, width = W1.shape
    h = W_std / np.sqrt(d) * X @ W1 + b_std * b1  # (n, units)
    act, step = np.maximum(h, 0), (h > 0) * 1.0
    dot_in = W_std**2 / d * X @ X.T + b_std**2  # d h_i / d (W1, b1) inner products
    readout = W_std**2 / width * act.T[:, :, None] * act.T[:, None, :]
    hidden = W_std**2 / width * (W2[:, 0] ** 2)[:, None, None] * step.T[:, :, None] \
        * step.T[:, None, :] * dot_in
    return readout + hidden, b_std**2


def test_against_hand_written_jacobian(getkey):
    X = points(getkey(), 5, 3)
    params = init_mlp(3, width=40, depth=1, key=getkey())
    f = functools.partial(mlp, W_std=1.5, b_std=0.1)
    per_unit, bias = _reference_one_hidden_layer(params, X, 1.5, 0.1)
    ref = per_unit.sum(0) + bias
    for method in ("jacobian", "ntvp"):
        assert_close(empirical_ntk(f, params, X, method=method, block_size=2), ref,
                     rtol64=1e-10, rtol32=1e-5)


@pytest.mark.parametrize("out_dim", [1, 3])
def test_methods_agree(getkey, out_dim):
    # Issue 9 target: Jacobian contraction and NTK-vector products agree to 1e-5 / 1e-10.
    X1, X2 = points(getkey(), 7, 2), points(getkey(), 5, 2)
    params = init_mlp(2, width=16, depth=2, out_dim=out_dim, key=getkey())
    f = functools.partial(mlp, activation="erf", b_std=0.2)
    a = empirical_ntk(f, params, X1, X2, method="jacobian", block_size=3)
    b = empirical_ntk(f, params, X1, X2, method="ntvp", block_size=4)
    assert a.shape == (7, 5) and a.dtype == FLOAT
    assert_close(a, b, rtol64=1e-10, rtol32=1e-5)


def test_cnn_methods_agree(getkey):
    x = jax.random.normal(getkey(), (3, 6, 6, 1), dtype=FLOAT)
    params = (0.3 * jax.random.normal(getkey(), (3, 3, 1, 4), dtype=FLOAT),
              0.3 * jax.random.normal(getkey(), (4 * 36,), dtype=FLOAT))

    def cnn(p, img):
        h = jax.lax.conv_general_dilated(img[None], p[0], (1, 1), "SAME",
                                         dimension_numbers=("NHWC", "HWIO", "NHWC"))
        return jnp.tanh(h).reshape(-1) @ p[1]

    a = empirical_ntk(cnn, params, x, method="jacobian")
    b = empirical_ntk(cnn, params, x, method="ntvp")
    assert_close(a, b, rtol64=1e-10, rtol32=1e-5)


def test_wide_network_approaches_closed_form(getkey):
    # A single network of width n differs from the limit by a Monte Carlo error: its NTK is a
    # mean over n iid units. Bound it by 5 standard errors estimated from the units themselves.
    X = jnp.array([[1.0, 0.0], [0.6, 0.8], [-0.3, 0.5]], dtype=FLOAT)
    width = 100_000
    params = init_mlp(2, width=width, depth=1, key=jax.random.key(7))
    f = functools.partial(mlp, W_std=1.5, b_std=0.1)
    emp = np.asarray(empirical_ntk(f, params, X), np.float64)
    limit = np.asarray(nngp_ntk_gram(X, W_std=1.5, b_std=0.1).ntk, np.float64)
    per_unit, _ = _reference_one_hidden_layer(params, X, 1.5, 0.1)
    stderr = per_unit.std(0) * np.sqrt(width)  # units carry a 1/width factor
    assert np.all(np.abs(emp - limit) < 5 * stderr + 1e-5 * np.abs(limit))
    assert np.max(np.abs(emp - limit)) < 0.03 * np.max(np.abs(limit))


def test_issue_pair_within_2e3_at_large_width():
    # Issue 9 target: within 2e-3 of the closed form at width >= 1e5. A network's NTK is a
    # mean over iid units, with relative std 6.6e-3 at width 1e5 for this pair (from the
    # per-unit spread above), so 2e-3 needs width ~4e6 at 2 sigma; 2^23 gives 3 sigma.
    X = jnp.array([[1.0, 0.0], [0.6, 0.8]], dtype=FLOAT)
    params = init_mlp(2, width=2**23, depth=1, key=jax.random.key(7))
    emp = np.asarray(empirical_ntk(mlp, params, X, method="ntvp"), np.float64)
    limit = np.asarray(nngp_ntk_gram(X).ntk, np.float64)  # off-diagonal: 0.27511181 (n-t)
    np.testing.assert_allclose(emp, limit, rtol=2e-3)


def test_jit_and_grad(getkey):
    X = points(getkey(), 4, 2)
    params = init_mlp(2, width=8, depth=1, key=getkey())
    g = jax.jit(functools.partial(empirical_ntk, mlp))
    assert_close(g(params, X), empirical_ntk(mlp, params, X))
    # Differentiable in the parameters (e.g. for NTK-alignment objectives).
    grads = jax.grad(lambda p: empirical_ntk(mlp, p, X).sum())(params)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(grads))


def test_bad_input():
    params = init_mlp(2, width=4, key=jax.random.key(0))
    X = jnp.ones((3, 2), dtype=FLOAT)
    with pytest.raises(ValueError, match="method"):
        empirical_ntk(mlp, params, X, method="svd")
    with pytest.raises(ValueError, match="X1.*X2"):
        empirical_ntk(mlp, params, X, jnp.ones((3, 4), dtype=FLOAT))
    with pytest.raises(ValueError, match="block_size"):
        empirical_ntk(mlp, params, X, block_size=0)
    with pytest.raises(ValueError, match="x"):
        mlp(params, jnp.ones(5, dtype=FLOAT))
    with pytest.raises(ValueError, match="width"):
        init_mlp(2, width=0, key=jax.random.key(0))


def test_init_mlp_takes_key_as_keyword():
    new = init_mlp(2, width=4, key=jax.random.key(0))
    with pytest.warns(DeprecationWarning, match="init_mlp"):
        old = init_mlp(jax.random.key(0), 2, width=4)
    assert all(np.array_equal(a.W, b.W) for a, b in zip(new, old))
    with pytest.raises(ValueError, match="key"):
        init_mlp(2, width=4)
