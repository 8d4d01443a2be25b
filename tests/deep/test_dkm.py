import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxkern.deep import (
    dkm_objective,
    dkm_predict,
    fit_dkm,
    init_dkm,
    kernel_map,
    kl_gaussian,
)

from ..helpers import FLOAT, X64, assert_close, points


def _np_relu_map(G):
    """Cho & Saul order-1 arc-cosine map in NumPy float64, written out."""
    g = np.sqrt(np.diag(G))
    c = np.clip(G / np.outer(g, g), -1, 1)
    th = np.arccos(c)
    return np.outer(g, g) * (np.sin(th) + (np.pi - th) * c) / np.pi


def test_kernel_maps_golden(getkey):
    X = np.asarray(points(getkey(), 7, 3), np.float64)
    G = X @ X.T / 3
    assert_close(kernel_map(jnp.asarray(G, FLOAT)), _np_relu_map(G), rtol32=1e-4)
    sq = np.diag(G)[:, None] + np.diag(G)[None] - 2 * G
    assert_close(kernel_map(jnp.asarray(G, FLOAT), kernel="sqexp", lengthscale=1.5),
                 np.exp(-sq / 4.5), rtol32=1e-4, atol32=1e-6)
    # The ReLU map keeps the diagonal (Cho & Saul normalisation, 2x neural-tangents' Relu).
    assert_close(jnp.diagonal(kernel_map(jnp.asarray(G, FLOAT))), np.diag(G), rtol32=1e-5)


def test_kl_golden_zero_and_gradient(getkey):
    A, B = np.asarray(points(getkey(), 5, 8), np.float64), np.asarray(points(getkey(), 5, 8),
                                                                       np.float64)
    G, K = A @ A.T / 8 + 0.1 * np.eye(5), B @ B.T / 8 + 0.1 * np.eye(5)
    # Reference: the Gaussian KL formula with NumPy solve and slogdet.
    ref = 0.5 * (np.trace(np.linalg.solve(K, G)) - 5 + np.linalg.slogdet(K)[1]
                 - np.linalg.slogdet(G)[1])
    Gj, Kj = jnp.asarray(G, FLOAT), jnp.asarray(K, FLOAT)
    assert_close(kl_gaussian(Gj, Kj, jitter=0.0), ref, rtol64=1e-10, rtol32=1e-4)
    assert_close(kl_gaussian(Kj, Kj, jitter=0.0), 0.0, atol32=1e-5)
    grad = jax.jit(jax.grad(lambda g: kl_gaussian(g, Kj, jitter=0.0)))(Kj)
    assert_close(grad, jnp.zeros_like(Kj), atol64=1e-10, atol32=1e-3)


def _data(getkey, n=24):
    X = points(getkey(), n, 2)
    y = jnp.sin(2 * X[:, 0]) * X[:, 1] + 0.05 * points(getkey(), n, 1)[:, 0]
    return X, y


@pytest.mark.skipif(not X64, reason="float64 accuracy target; float32 twin below")
def test_initial_objective_is_nngp_evidence(getkey):
    X, y = _data(getkey)
    model = init_dkm(X, depth=2, nu=3.0, noise=0.2, scale=1.3, learn_inducing=False)
    # Reference: log N(y; 0, s K(K(K(X X^T / d))) + noise I) in NumPy float64.
    Xn = np.asarray(X, np.float64)
    K = 1.3 * _np_relu_map(_np_relu_map(_np_relu_map(Xn @ Xn.T / 2))) + 0.2 * np.eye(24)
    yn = np.asarray(y, np.float64)
    ref = -0.5 * yn @ np.linalg.solve(K, yn) - 0.5 * np.linalg.slogdet(K)[1] - 12 * math.log(
        2 * math.pi)
    assert_close(dkm_objective(model, X, y), ref, rtol64=1e-5)
    nngp = init_dkm(X, depth=2, noise=0.2, scale=1.3, learn_inducing=False, nngp=True)
    assert_close(dkm_objective(nngp, X, y), ref, rtol64=1e-5)


def test_initial_objective_equals_nngp_mode(getkey):
    # float32 twin: at initialisation every KL term is 0 and G = K, in any dtype. In float32 the
    # KL's log-determinants of nearly singular inducing Grams round to a few 1e-2 relative.
    X, y = _data(getkey)
    model = init_dkm(X[:10], depth=2, nu=3.0, noise=0.2)
    nngp = init_dkm(X[:10], depth=2, noise=0.2, nngp=True)
    assert_close(dkm_objective(model, X, y), dkm_objective(nngp, X, y), rtol32=5e-2,
                 rtol64=1e-6)


@pytest.mark.skipif(not X64, reason="float32 KL gradients at nu = 1e6 are rounding noise")
def test_large_nu_is_nngp(getkey):
    X, y = _data(getkey)
    Z = X[:10]
    runs = {}
    for label, kw in (("nngp", dict(nngp=True)), ("big", dict(nu=1e6)), ("small",
                                                                        dict(nu=0.1))):
        model = init_dkm(Z, depth=1, noise=0.1, **kw)
        fitted = fit_dkm(model, X, y, num_steps=40, optimizer=optax.adam(3e-3)).model
        runs[label] = np.asarray(dkm_predict(fitted, X, y, X[:6]).mean, np.float64)
    scale = np.abs(runs["nngp"]).max()
    assert np.abs(runs["big"] - runs["nngp"]).max() < 2e-2 * scale
    # ... while a small nu lets the representation move away from the NNGP.
    assert np.abs(runs["small"] - runs["nngp"]).max() > np.abs(runs["big"] - runs["nngp"]).max()


@pytest.mark.slow
def test_classification_one_hot(getkey):
    centres = jnp.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]], dtype=FLOAT)
    labels = jnp.arange(30) % 3
    X = centres[labels] + 0.4 * points(getkey(), 30, 2)
    Y = jax.nn.one_hot(labels, 3, dtype=FLOAT)
    model = init_dkm(X[:9], depth=1, nu=10.0)
    fitted = fit_dkm(model, X, Y, num_steps=30, optimizer=optax.adam(1e-2)).model
    pred = dkm_predict(fitted, X, Y, X)
    assert pred.mean.shape == (30, 3) and pred.mean.dtype == FLOAT
    assert float(jnp.mean(jnp.argmax(pred.mean, 1) == labels)) > 0.9


def test_transforms(getkey):
    X, y = _data(getkey, n=12)
    model = init_dkm(X[:5], depth=2, kernel="sqexp", nu=2.0)
    value = jax.jit(dkm_objective)(model, X, y)
    assert_close(value, dkm_objective(model, X, y), rtol32=1e-4)
    grads = jax.jit(jax.grad(dkm_objective))(model, X, y)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))
    # vmap over several target columns' objectives.
    batched = jax.jit(jax.vmap(lambda t: dkm_objective(model, X, t)))(jnp.stack([y, -y]))
    assert_close(batched[0], batched[1], rtol32=1e-5)


def test_bad_input(getkey):
    X, y = _data(getkey, n=8)
    model = init_dkm(X[:4], depth=1)
    with pytest.raises(ValueError, match="inducing"):
        dkm_objective(model, jnp.ones((8, 3), dtype=FLOAT), y)
    with pytest.raises(ValueError, match="nu"):
        init_dkm(X[:4], nu=0.0)
    with pytest.raises(ValueError, match="nu"):
        init_dkm(X[:4], depth=2, nu=(1.0, -2.0))
    with pytest.raises(ValueError, match="kernel.*relu.*sqexp"):
        init_dkm(X[:4], kernel="tanh")
    with pytest.raises(ValueError, match="Y"):
        dkm_predict(model, X, y[:3], X)
    with pytest.raises(ValueError, match="G.*K"):
        kl_gaussian(jnp.eye(2, dtype=FLOAT), jnp.eye(3, dtype=FLOAT))


@pytest.mark.slow
def test_fit_dkm_deprecated_learning_rate_still_fits():
    X = points(jax.random.key(3), 8, 2)
    model = init_dkm(X, depth=1, learn_inducing=False)
    with pytest.warns(DeprecationWarning, match="learning_rate"):
        old = fit_dkm(model, X, X[:, 0], num_steps=5, learning_rate=1e-2)
    new = fit_dkm(model, X, X[:, 0], num_steps=5, optimizer=optax.adam(1e-2))
    assert_close(old.losses, new.losses)
    assert (new.num_steps, new.converged, new.message) == (5, False, "num_steps reached")
