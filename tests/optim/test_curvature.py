"""Curvature products, Lanczos eigenvalues, batch-size scaling, the M-FAC optimiser and pruning.

References: dense `jax.hessian` / `jax.jacfwd` matrices and `numpy.linalg.eigvalsh` (float64
NumPy) of the same losses; NumPy float64 solves for the OBS algebra; the issue-23 figures for
softmax regression on scikit-learn's digits (pixels / 16 plus a bias, weights of
`LogisticRegression(C=9.5)`): exact lambda_max 0.16704 and trace 0.73116 here by eigvalsh,
0.16626 and 0.7282 in the issue.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.flatten_util import ravel_pytree

from jaxkern.linalg import (
    mfac_dynamic_init,
    mfac_dynamic_matvec,
    mfac_dynamic_update,
    spectral_density,
    stochastic_trace,
)
from jaxkern.optim import (
    as_matvec,
    batch_size_scaling,
    fisher_vp,
    fit_scaling_rule,
    ggn_vp,
    hvp,
    magnitude_prune,
    mfac,
    obs_prune,
    obs_scores,
    scale_by_mfac,
    top_eigenvalues,
)

from ..helpers import FLOAT, assert_close

K = 3


def _problem(n=40, f=4, seed=0):
    rng = np.random.default_rng(seed)
    X = jnp.asarray(rng.standard_normal((n, f)), FLOAT)
    y = jnp.asarray(rng.integers(0, K, n))
    params = {"W": jnp.asarray(0.5 * rng.standard_normal((f, K)), FLOAT),
              "b": jnp.asarray(0.1 * rng.standard_normal(K), FLOAT)}
    return params, X, y


def _model(p, X):
    return jnp.tanh(X @ p["W"]) + p["b"][None]  # nonlinear in W: GGN != Hessian


def _ce(z, y):
    return jax.nn.logsumexp(z, axis=-1) - jnp.take_along_axis(z, y[:, None], -1)[:, 0]


def _loss(p, X, y):
    return jnp.mean(_ce(_model(p, X), y))


def _dense(fn, params):
    flat, unravel = ravel_pytree(params)
    return np.asarray(jax.hessian(lambda f: fn(unravel(f)))(flat), np.float64), flat, unravel


@pytest.mark.slow
def test_products_equal_dense_matrices():
    params, X, y = _problem()
    H, flat, unravel = _dense(lambda p: _loss(p, X, y), params)
    v = jnp.asarray(np.random.default_rng(1).standard_normal(flat.shape[0]), FLOAT)
    hv = ravel_pytree(jax.jit(hvp, static_argnums=0)(_loss, params, unravel(v), X, y))[0]
    assert_close(hv, H @ np.asarray(v, np.float64), rtol64=1e-10, rtol32=1e-4, atol32=1e-5)
    # GGN = J^T H_z J with J, H_z dense from jax.jacfwd / jax.hessian
    J = np.asarray(jax.jacfwd(lambda f: _model(unravel(f), X).ravel())(flat), np.float64)
    z = _model(params, X).ravel()
    Hz = np.asarray(jax.hessian(lambda z: jnp.mean(_ce(z.reshape(-1, K), y)))(z), np.float64)
    gv = ravel_pytree(ggn_vp(_model, lambda z, y: jnp.mean(_ce(z, y)), params, unravel(v), X, y))[0]
    assert_close(gv, J.T @ Hz @ J @ np.asarray(v, np.float64), rtol64=1e-10, rtol32=1e-4,
                 atol32=1e-5)
    # empirical Fisher from explicit per-example gradients
    per = jax.vmap(jax.grad(lambda p, x, t: _ce(_model(p, x[None]), t[None])[0]),
                   (None, 0, 0))(params, X, y)
    Gr = np.asarray(jax.vmap(lambda g: ravel_pytree(g)[0])(per), np.float64)
    fv = ravel_pytree(fisher_vp(lambda p, X, y: _ce(_model(p, X), y), params, unravel(v), X, y))[0]
    assert_close(fv, Gr.T @ (Gr @ np.asarray(v, np.float64)) / X.shape[0], rtol64=1e-10,
                 rtol32=1e-4, atol32=1e-5)
    # Lanczos top eigenvalues of the Hessian = eigvalsh of the dense one
    mv = as_matvec(lambda u: hvp(_loss, params, u, X, y), params)
    top = top_eigenvalues(mv, flat.shape[0], k=2, num_steps=flat.shape[0], key=jax.random.key(0))
    assert_close(top, np.linalg.eigvalsh(H)[::-1][:2], rtol64=1e-8, rtol32=1e-3)


def test_bad_input():
    params, X, y = _problem()
    with pytest.raises(ValueError, match="`v` must have the structure of `params`"):
        hvp(_loss, params, params["W"], X, y)
    with pytest.raises(ValueError, match="`v` must have the shapes of `params`"):
        hvp(_loss, params, {"W": params["W"][:1], "b": params["b"]}, X, y)
    with pytest.raises(ValueError, match="`loss_fn` must return a scalar"):
        hvp(lambda p, X, y: _ce(_model(p, X), y), params, params, X, y)
    with pytest.raises(ValueError, match="`per_example_loss` must return one loss per example"):
        fisher_vp(_loss, params, params, X, y)
    with pytest.raises(ValueError, match="need `k` <= `num_steps` <= `dim`"):
        top_eigenvalues(lambda x: x, 5, k=3, num_steps=2, key=jax.random.key(0))
    with pytest.raises(ValueError, match="`batch_sizes` must be <= the number of examples"):
        batch_size_scaling(lambda p, d: _loss(p, *d), params, (X, y), batch_sizes=[41],
                           key=jax.random.key(0))
    with pytest.raises(ValueError, match="`damping` must be positive"):
        scale_by_mfac(4, damping=0.0)
    with pytest.raises(ValueError, match="`window` must be an int >= 1"):
        scale_by_mfac(0, damping=1.0)
    with pytest.raises(ValueError, match="`sparsity` must lie in"):
        magnitude_prune(params, sparsity=1.0)
    with pytest.raises(ValueError, match="`grads` must stack m gradients"):
        obs_prune(params, params, sparsity=0.5, damping=1.0)
    opt = scale_by_mfac(2, damping=1.0)
    state = opt.init(params)
    nan = jax.tree.map(lambda a: jnp.full_like(a, jnp.nan), params)
    with pytest.raises(Exception, match="`grad` contains NaN or inf"):
        jax.block_until_ready(jax.jit(opt.update)(nan, state))


def test_fit_scaling_rule_recovers_a_power_law():
    B = [8, 16, 32, 64, 128]
    rule = fit_scaling_rule(B, [1 + 3.0 * b**-0.5 for b in B])
    assert abs(rule.coefficient - 3.0) < 1e-9 and abs(rule.exponent - 0.5) < 1e-9
    assert abs(rule.learning_rate(16, 0.1) - 0.1 / 1.75) < 1e-12


def test_mfac_transformation_equals_window_products_and_chains():
    params, X, y = _problem()
    opt = scale_by_mfac(3, damping=0.1)
    state = opt.init(params)
    window = mfac_dynamic_init(jnp.zeros((3, 15), FLOAT), damping=0.1)
    update = jax.jit(opt.update)
    for step in range(5):  # two evictions
        g = jax.grad(_loss)(jax.tree.map(lambda a: a * (1 + 0.1 * step), params), X, y)
        u, state = update(g, state)
        window = mfac_dynamic_update(window, ravel_pytree(g)[0])
        assert_close(ravel_pytree(u)[0], mfac_dynamic_matvec(window, ravel_pytree(g)[0]),
                     rtol64=1e-11, rtol32=1e-4)
    # chains with optax and trains: the loss goes down under jit
    opt = optax.chain(optax.clip_by_global_norm(10.0), mfac(0.05, window=8, damping=1e-2,
                                                           momentum=0.5, weight_decay=1e-4))
    state = opt.init(params)

    @jax.jit
    def train(p, s):
        g = jax.grad(_loss)(p, X, y)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s

    start = float(_loss(params, X, y))
    for _ in range(30):
        params, state = train(params, state)
    assert float(_loss(params, X, y)) < 0.8 * start


def test_obs_prune_equals_dense_obs():
    rng = np.random.default_rng(3)
    d, m, lam = 30, 8, 0.05
    w = jnp.asarray(rng.standard_normal(d), FLOAT)
    G = jnp.asarray(rng.standard_normal((m, d)), FLOAT)
    Finv = np.linalg.inv(lam * np.eye(d) + np.asarray(G, np.float64).T @ np.asarray(G, np.float64)
                         / m)
    w64 = np.asarray(w, np.float64)
    rho = w64**2 / (2 * np.diag(Finv))
    assert_close(obs_scores(w, G, damping=lam), rho, rtol64=1e-10, rtol32=1e-3)
    out = obs_prune(w, G, sparsity=0.5, damping=lam)
    drop = np.argsort(rho)[:15]
    u = np.zeros(d)
    u[drop] = -w64[drop] / np.diag(Finv)[drop]
    want = w64 + Finv @ u
    want[drop] = 0
    assert_close(out.params, want, rtol64=1e-9, rtol32=1e-3, atol32=1e-4)
    assert int(np.sum(~np.asarray(out.mask))) == 15
    again = obs_prune(out.params, G, sparsity=0.6, damping=lam, mask=out.mask)
    assert not np.any(np.asarray(again.mask) & ~np.asarray(out.mask))  # pruned stays pruned
    assert int(np.sum(~np.asarray(again.mask))) == 18
    mag = magnitude_prune(w, sparsity=0.5)
    assert np.all(np.abs(np.asarray(mag.params)[np.asarray(mag.mask)]) >=
                  np.max(np.abs(w64[~np.asarray(mag.mask)])))


def test_obs_prune_sparsity_is_exact_and_single_removal_is_optimal():
    # the fraction pruned is exactly round(s * d) over a pytree, and the pruned entries are 0
    params, X, y = _problem()
    G = jax.vmap(jax.grad(_loss), (None, 0, 0))(params, X.reshape(8, 5, -1), y.reshape(8, 5))
    d = 15
    for s in (0.1, 0.5, 0.9):
        for out in (obs_prune(params, G, sparsity=s, damping=1e-2),
                    magnitude_prune(params, sparsity=s)):
            mask, flat = ravel_pytree(out.mask)[0], ravel_pytree(out.params)[0]
            assert int(np.sum(~np.asarray(mask))) == round(s * d)
            assert np.all(np.asarray(flat)[~np.asarray(mask)] == 0)
    # on the quadratic q(w) = (w - w0)^T F (w - w0) / 2 with F = lambda I + G^T G / m, removing
    # one weight: OBS reaches min_j rho_j (the optimum over all single removals, Hassibi & Stork)
    # and beats magnitude pruning, whose weight is not the one of least saliency here
    rng = np.random.default_rng(4)
    dd, m, lam = 12, 6, 0.1
    w0 = rng.standard_normal(dd)
    w0[0] = 1e-3  # the smallest weight, but on a stiff direction
    G = rng.standard_normal((m, dd))
    G[:, 0] *= 20.0
    F = lam * np.eye(dd) + G.T @ G / m
    rho = w0**2 / (2 * np.diag(np.linalg.inv(F)))

    def q(w):
        e = np.asarray(w, np.float64) - w0
        return 0.5 * e @ F @ e

    obs = obs_prune(jnp.asarray(w0, FLOAT), jnp.asarray(G, FLOAT), sparsity=1 / dd, damping=lam)
    mag = magnitude_prune(jnp.asarray(w0, FLOAT), sparsity=1 / dd)
    assert not bool(np.asarray(mag.mask)[0]) and int(np.argmin(rho)) != 0
    assert_close(q(obs.params), rho.min(), rtol64=1e-9, rtol32=1e-3)
    assert q(obs.params) < 0.5 * q(mag.params)


@pytest.fixture(scope="module")
def digits():
    datasets = pytest.importorskip("sklearn.datasets")
    linear = pytest.importorskip("sklearn.linear_model")
    X, y = datasets.load_digits(return_X_y=True)
    X = X / 16.0
    clf = linear.LogisticRegression(C=9.5, max_iter=20000, tol=1e-10).fit(X, y)
    params = {"W": jnp.asarray(clf.coef_.T, FLOAT), "b": jnp.asarray(clf.intercept_, FLOAT)}
    data = (jnp.asarray(X, FLOAT), jnp.asarray(y))

    def loss(p, batch):
        Xb, yb = batch
        return jnp.mean(_ce(Xb @ p["W"] + p["b"][None], yb))

    flat, unravel = ravel_pytree(params)
    H = np.asarray(jax.jit(jax.hessian(lambda f: loss(unravel(f), data)))(flat), np.float64)
    return loss, params, data, H


@pytest.mark.slow
def test_digits_lambda_max_trace_and_density(digits):
    loss, params, data, H = digits
    exact = np.linalg.eigvalsh(H)
    assert abs(exact[-1] - 0.16626) / 0.16626 < 0.02  # the issue's eigvalsh figure
    mv = as_matvec(lambda v: hvp(loss, params, v, data), params)
    top = top_eigenvalues(mv, 650, k=1, num_steps=30, key=jax.random.key(0))
    assert abs(float(top[0]) - 0.16626) / 0.16626 < 0.02
    assert_close(top[0], exact[-1], rtol64=1e-8, rtol32=1e-3)
    trace = stochastic_trace(mv, 650, lambda t: t, key=jax.random.key(1), num_probes=40,
                             num_steps=15)
    # a 3-sigma test of an unbiased estimator (the issue asks for 1 sigma: see docs)
    assert abs(float(trace.estimate) - np.trace(H)) < 3 * float(trace.standard_error)
    # density weights are squared FIRST components: their mean node is z^T H z / |z|^2
    sd = spectral_density(mv, 650, key=jax.random.key(2), num_probes=2, num_steps=15)
    z = np.asarray(jax.random.rademacher(jax.random.key(2), (2, 650), dtype=FLOAT), np.float64)
    quad = np.einsum("pi,ij,pj->p", z, H, z) / 650
    assert_close(np.sum(np.asarray(sd.weights) * np.asarray(sd.nodes), axis=1), quad,
                 rtol64=1e-8, rtol32=1e-3)


@pytest.mark.slow
def test_digits_batch_size_ratios(digits):
    # The issue's table (20 random batches per size): 2.02 (8), 1.76 (16), 1.41 (32),
    # 1.40 (64), 1.03 (>= 128); each mean is checked within 3 standard errors.
    loss, params, data, _ = digits
    out = batch_size_scaling(loss, params, data, batch_sizes=[8, 16, 32, 64, 128],
                             num_batches=20, key=jax.random.key(1))
    issue = np.array([2.02, 1.76, 1.41, 1.40, 1.03])
    assert np.all(np.abs(out.mean - issue) < 3 * out.standard_error)
    assert out.rule.coefficient > 0 and out.mean[0] > out.mean[-1]


@pytest.mark.slow
def test_batch_size_scaling_small():
    params, X, y = _problem(n=60)
    out = batch_size_scaling(lambda p, d: _loss(p, *d), params, (X, y), batch_sizes=[4, 60],
                             num_batches=3, num_steps=15, key=jax.random.key(0))
    assert out.ratios.shape == (2, 3)
    assert_close(out.ratios[1], np.ones(3), rtol64=1e-8, rtol32=1e-3)  # B = n: H_B = H
    assert np.all(out.ratios[0] > 1.0)
    H, _, _ = _dense(lambda p: _loss(p, X, y), params)
    assert_close(out.lambda_max, np.linalg.eigvalsh(H)[-1], rtol64=1e-8, rtol32=1e-3)

