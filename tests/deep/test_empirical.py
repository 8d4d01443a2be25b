import functools

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.deep import empirical_ntk, empirical_ntk_costs, init_mlp, mlp, nngp_ntk_gram
from jaxkern.deep._empirical import _plan

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
    for strategy in STRATEGIES:
        assert_close(empirical_ntk(f, params, X, method=strategy, block_size=2), ref,
                     rtol64=1e-10, rtol32=1e-5)


STRATEGIES = ("jacobian_contraction", "ntk_vector_products", "structured_derivatives", "auto")


def _explicit_ntk(f, params, X1, X2):
    """Reference: the full Jacobians by `jax.jacfwd` on the flattened parameters, contracted
    in NumPy float64, averaged over outputs."""
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    jac = lambda X: np.asarray(jax.jit(jax.vmap(jax.jacfwd(lambda p, x: f(unravel(p), x)),
                                                in_axes=(None, 0)))(flat, X), np.float64)
    j1, j2 = jac(X1), jac(X2)
    j1, j2 = j1.reshape(j1.shape[0], -1, flat.size), j2.reshape(j2.shape[0], -1, flat.size)
    return np.einsum("iop,jop->ij", j1, j2) / j1.shape[1]


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("out_dim", [1, 3])
def test_strategies_agree_mlp(getkey, out_dim, strategy):
    # Issue 9 target: the strategies agree to 1e-5 / 1e-10; issue 26 adds structured
    # derivatives and the automatic choice, all against an explicit Jacobian contraction.
    X1, X2 = points(getkey(), 7, 2), points(getkey(), 5, 2)
    params = init_mlp(2, width=16, depth=2, out_dim=out_dim, key=getkey())
    f = functools.partial(mlp, activation="erf", b_std=0.2)
    a = empirical_ntk(f, params, X1, X2, method=strategy, block_size=3)
    assert a.shape == (7, 5) and a.dtype == FLOAT
    assert_close(a, _explicit_ntk(f, params, X1, X2), rtol64=1e-10, rtol32=1e-5)


def _cnn(p, img):
    h = jax.lax.conv_general_dilated(img[None], p[0], (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    h = jnp.tanh(h)
    h = jax.lax.conv_general_dilated(h, p[1], (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.mean(jax.nn.relu(h), axis=(0, 1, 2)) @ p[2] + p[3]


def _cnn_params(getkey):
    return (0.3 * jax.random.normal(getkey(), (3, 3, 1, 4), dtype=FLOAT),
            0.3 * jax.random.normal(getkey(), (3, 3, 4, 4), dtype=FLOAT),
            jax.random.normal(getkey(), (4, 3), dtype=FLOAT),
            jax.random.normal(getkey(), (3,), dtype=FLOAT))


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategies_agree_cnn(getkey, strategy):
    X1 = jax.random.normal(getkey(), (3, 5, 5, 1), dtype=FLOAT)
    X2 = jax.random.normal(getkey(), (2, 5, 5, 1), dtype=FLOAT)
    params = _cnn_params(getkey)
    assert_close(empirical_ntk(_cnn, params, X1, X2, method=strategy, block_size=2),
                 _explicit_ntk(_cnn, params, X1, X2), rtol64=1e-10, rtol32=1e-5)


def test_structured_derivatives_cover_jit_calls_and_shared_weights(getkey):
    # A weight used three times (Jacobian path), a layer inside a nested jax.jit, a dense
    # layer applied per position (a free axis on the input side) and a weight on the left.
    X = points(getkey(), 5, 6)
    params = {"A": jax.random.normal(getkey(), (6, 16), dtype=FLOAT) / 3,
              "B": jax.random.normal(getkey(), (16, 32), dtype=FLOAT) / 4,
              "W": jax.random.normal(getkey(), (16, 16), dtype=FLOAT) / 4,
              "L": jax.random.normal(getkey(), (3, 16), dtype=FLOAT) / 4,
              "M": jax.random.normal(getkey(), (16, 6), dtype=FLOAT) / 4,
              "R": jax.random.normal(getkey(), (3, 16), dtype=FLOAT) / 4}

    @jax.jit
    def inner(A, B, x):
        return jnp.sin(x @ A) @ B

    def f(p, x):
        h = inner(p["A"], p["B"], x) + jnp.tile(x @ p["A"] @ p["A"].T @ p["A"], 2)
        h = jnp.tanh(h).reshape(2, 16) @ p["W"]  # per-position dense layer
        # a weight on the left, and a product of two parameters (both keep their Jacobians)
        return p["R"] @ jnp.mean(h, axis=0) + p["L"] @ p["M"] @ x

    plan = _plan(f, params, X[0])
    leaf_names = sorted(params)  # dict leaves flatten in key order
    assert sorted(leaf_names[d.leaf] for d in plan.dense) == ["B", "R", "W"]
    ref = _explicit_ntk(f, params, X, X)
    got = empirical_ntk(f, params, X, method="structured_derivatives", block_size=2)
    assert_close(got, ref, rtol64=1e-10, rtol32=1e-5)


def test_auto_picks_structured_derivatives_for_wide_mlps():
    params = init_mlp(8, width=128, depth=2, out_dim=4, key=jax.random.key(0))
    costs = empirical_ntk_costs(mlp, params, jnp.ones((32, 8), dtype=FLOAT))
    assert costs.choice == "structured_derivatives"
    assert costs.structured_derivatives < costs.jacobian_contraction / 4


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
    emp = np.asarray(empirical_ntk(mlp, params, X, method="ntk_vector_products"), np.float64)
    limit = np.asarray(nngp_ntk_gram(X).ntk, np.float64)  # off-diagonal: 0.27511181 (n-t)
    np.testing.assert_allclose(emp, limit, rtol=2e-3)


def test_jit_and_grad(getkey):
    X = points(getkey(), 4, 2)
    params = init_mlp(2, width=8, depth=1, key=getkey())
    for strategy in STRATEGIES:
        g = jax.jit(functools.partial(empirical_ntk, mlp, method=strategy))
        assert_close(g(params, X), empirical_ntk(mlp, params, X, method="jacobian_contraction"))
    # Differentiable in the parameters (e.g. for NTK-alignment objectives).
    grads = jax.grad(lambda p: empirical_ntk(mlp, p, X).sum())(params)
    assert all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(grads))


def test_bad_input():
    params = init_mlp(2, width=4, key=jax.random.key(0))
    X = jnp.ones((3, 2), dtype=FLOAT)
    with pytest.raises(ValueError, match="method"):
        empirical_ntk(mlp, params, X, method="svd")
    with pytest.warns(DeprecationWarning, match="method"):
        old = empirical_ntk(mlp, params, X, method="ntvp")
    assert_close(old, empirical_ntk(mlp, params, X, method="ntk_vector_products"))
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
