"""Kernel balancing weights (issue 22, paper #24)."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.density import (
    adaptive_balancing,
    balance_diagnostics,
    entropy_balancing,
    kang_schafer,
    kernel_mean_matching,
)
from jaxkern.features import fourier_features, nystrom_features, spectral_frequencies
from jaxkern.kernels import RBF
from tests.helpers import FLOAT, X64, assert_close, points


def _rff(Z, key, m=100):
    W = spectral_frequencies(Z.shape[1], key=key, num_features=m, dtype=FLOAT)
    return np.asarray(fourier_features(jnp.asarray(Z, FLOAT), W, lengthscale=2.0))


def test_entropy_balancing_matches_the_target_and_the_dual_form(getkey):
    Z, t, _ = kang_schafer(0, 300)
    F = jnp.asarray(Z[~t], FLOAT)
    out = entropy_balancing(F, jnp.asarray(Z[t].mean(0), FLOAT))
    assert bool(out.feasible)
    w = np.asarray(out.weights, np.float64)
    assert abs(w.sum() - 1) < (1e-12 if X64 else 1e-5) and np.all(w > 0)
    np.testing.assert_allclose(w @ Z[~t], Z[t].mean(0), atol=1e-9 if X64 else 1e-4)
    # The solution has the exponential-family form w ~ exp(F lambda): log w is affine in F.
    A = np.hstack([np.ones((len(w), 1)), np.asarray(F, np.float64)])
    resid = np.log(w) - A @ np.linalg.lstsq(A, np.log(w), rcond=None)[0]
    assert np.max(np.abs(resid)) < (1e-8 if X64 else 1e-3)


def test_equals_empirical_calibration():
    """The peer (entropy balancing by its own solver) on identical features (the 4 covariates
    and 20 random Fourier features, where its solver converges): weights to 1e-6."""
    ec = pytest.importorskip("empirical_calibration")
    if not X64:
        pytest.skip("the 1e-6 comparison needs float64")
    Z, t, _ = kang_schafer(1)
    Phi = np.hstack([Z, _rff(Z, jax.random.key(0), 10)])
    theirs, ok = ec.calibrate(Phi[~t], Phi[t], objective=ec.Objective.ENTROPY)
    assert ok
    fit = jax.jit(entropy_balancing)
    args = (jnp.asarray(Phi[~t]), jnp.asarray(Phi[t].mean(0)))
    ours = fit(*args)
    np.testing.assert_allclose(np.asarray(ours.weights), theirs, atol=1e-6, rtol=0)
    # The speed bar (>= 10x per fit) is measured in `benchmarks/bench_objectives.py`: timed
    # assertions fail at random on a shared machine.


def test_infeasible_target_is_reported_not_nan():
    F = jnp.asarray([[0.0], [1.0], [2.0]], FLOAT)
    out = entropy_balancing(F, jnp.asarray([3.0], FLOAT), max_iters=30)
    assert not bool(out.feasible)
    assert np.all(np.isfinite(np.asarray(out.weights)))
    assert np.all(np.isfinite(np.asarray(out.mean_gap)))
    # The weights run to the hull's nearest point, where no step decreases the dual any more:
    # the solver stops there rather than spending the remaining iterations.
    np.testing.assert_allclose(np.asarray(out.weights), [0, 0, 1], atol=1e-6)
    assert int(out.num_iters) < 30


def test_kernel_mean_matching_against_scipy(getkey):
    """KMM's quadratic program on the simplex against SciPy's SLSQP on the same objective."""
    from scipy.optimize import minimize

    Xs, Xt = points(getkey(), 15, 2), points(getkey(), 20, 2) + 0.7
    k = RBF(lengthscale=1.0)
    out = kernel_mean_matching(k, Xs, Xt, num_iters=2000)
    from jaxkern.kernels import gram

    K = np.asarray(gram(k, Xs), np.float64)
    kappa = np.asarray(gram(k, Xs, Xt), np.float64).mean(1)
    ktt = np.asarray(gram(k, Xt), np.float64).mean()
    ref = minimize(lambda w: w @ K @ w - 2 * w @ kappa, np.full(15, 1 / 15), method="SLSQP",
                   jac=lambda w: 2 * K @ w - 2 * kappa, bounds=[(0, 1)] * 15,
                   constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1}],
                   options=dict(ftol=1e-14, maxiter=1000))
    assert_close(out.mean_gap, ref.fun + ktt, rtol64=1e-6, rtol32=1e-3, atol64=1e-9, atol32=1e-5)
    w = np.asarray(out.weights)
    assert abs(w.sum() - 1) < 1e-5 and np.all(w >= 0)
    diag = balance_diagnostics(k, Xs, out.weights, Xt)
    assert_close(diag.mmd2_after, out.mean_gap, rtol64=1e-10, rtol32=1e-4, atol32=1e-6)
    assert float(diag.mmd2_after) < float(diag.mmd2_before)


def test_bad_inputs():
    F = jnp.ones((3, 2), FLOAT)
    with pytest.raises(ValueError, match="target_mean"):
        entropy_balancing(F, jnp.ones(3, FLOAT))
    with pytest.raises(ValueError, match="weights"):
        balance_diagnostics(RBF(), F, jnp.ones(4, FLOAT) / 4, F)
    with pytest.raises(ValueError, match="X_target"):
        kernel_mean_matching(RBF(), F, jnp.ones((3, 5), FLOAT))


def _ks_nystrom(seed, n, landmarks):
    Z, t, y = kang_schafer(seed, n)
    Zj = jnp.asarray(Z, FLOAT)
    idx = np.random.default_rng(seed).choice(n, landmarks, replace=False)
    F = jnp.hstack([Zj, nystrom_features(RBF(lengthscale=2.0), Zj, Zj[idx])])
    return F, t, y


def test_adaptive_balancing_keeps_the_feasible_candidate_with_least_imbalance():
    F, t, _ = _ks_nystrom(0, 300, 30)
    b = jnp.asarray(~t, FLOAT)
    cands = (4, 8, 16, 34)
    out = jax.jit(adaptive_balancing, static_argnames="num_balanced")(
        F, F[t].mean(0), num_balanced=cands, base_weights=b)
    feasible, imbalance = np.asarray(out.feasible), np.asarray(out.imbalance)
    assert feasible.any()
    J = int(out.num_balanced)
    i = cands.index(J)
    assert feasible[i] and imbalance[i] == imbalance[feasible].min()
    # Independent path: entropy balancing of the first J columns alone (no masking).
    ref = entropy_balancing(F[:, :J], F[t].mean(0)[:J], base_weights=b)
    assert_close(out.weights, ref.weights, rtol64=1e-7, rtol32=1e-2, atol64=1e-12, atol32=1e-5)
    w = np.asarray(out.weights, np.float64)
    assert abs(w.sum() - 1) < (1e-10 if X64 else 1e-5) and np.all(w[t] == 0)
    gap = w @ np.asarray(F, np.float64) - np.asarray(F[t].mean(0), np.float64)
    assert_close(imbalance[i], gap @ gap, rtol64=1e-8, rtol32=1e-3, atol32=1e-6)
    # Every covariate balanced exactly once J >= 4 (the raw covariates come first).
    assert np.max(np.abs(gap[:4])) < (1e-8 if X64 else 1e-3)


def test_adaptive_balancing_outcome_ranking_is_the_ridge_coefficient_order():
    F, t, y = _ks_nystrom(1, 200, 12)
    b = (~t).astype(np.float64)
    out = adaptive_balancing(F, F[t].mean(0), num_balanced=(4, 16), base_weights=jnp.asarray(b,
                             FLOAT), outcome=jnp.asarray(y, FLOAT), ridge=1e-3)
    # Reference: weighted ridge regression in float64 NumPy, scores |beta_j| sd_j.
    Fn, v = np.asarray(F, np.float64), b / b.sum()
    Fc, yc = Fn - v @ Fn, y - v @ y
    G = (Fc * v[:, None]).T @ Fc
    beta = np.linalg.solve(G + 1e-3 * np.trace(G) / G.shape[0] * np.eye(G.shape[0]),
                           Fc.T @ (v * yc))
    score = np.abs(beta) * np.sqrt(np.diag(G))
    top = np.argsort(-score)[:4]
    assert set(np.asarray(out.order)[:4].tolist()) == set(top.tolist())


def test_adaptive_balancing_reports_infeasible_candidates_not_nan():
    F = jnp.asarray([[0.0, 1.0], [1.0, 0.0], [2.0, 1.0]], FLOAT)
    out = adaptive_balancing(F, jnp.asarray([1.0, 3.0], FLOAT), num_balanced=(1, 2),
                             max_iters=30)
    assert np.asarray(out.feasible).tolist() == [True, False]
    assert int(out.num_balanced) == 1
    assert np.all(np.isfinite(np.asarray(out.weights)))


@pytest.mark.slow
def test_kang_schafer_rmse_bar():
    """The issue-22 bar: ATT RMSE <= 2.5 over 100 replications (n = 1000, truth 0)."""
    fit = jax.jit(adaptive_balancing, static_argnames="num_balanced")
    att = []
    for r in range(100):
        F, t, y = _ks_nystrom(100 + r, 1000, 100)
        out = fit(F, F[t].mean(0), num_balanced=(8, 12, 16, 20, 28, 36, 52),
                  base_weights=jnp.asarray(~t, FLOAT))
        att.append(y[t].mean() - np.asarray(out.weights, np.float64) @ y)
    assert np.sqrt(np.mean(np.square(att))) <= 2.5


def test_adaptive_balancing_bad_inputs():
    F = jnp.ones((3, 2), FLOAT)
    m = jnp.ones(2, FLOAT)
    with pytest.raises(ValueError, match="num_balanced"):
        adaptive_balancing(F, m, num_balanced=(0,))
    with pytest.raises(ValueError, match="num_balanced"):
        adaptive_balancing(F, m, num_balanced=(3,))
    with pytest.raises(ValueError, match="outcome"):
        adaptive_balancing(F, m, outcome=jnp.ones(4, FLOAT))
    with pytest.raises(ValueError, match="ridge"):
        adaptive_balancing(F, m, outcome=jnp.ones(3, FLOAT), ridge=0.0)
    with pytest.raises(ValueError, match="target_mean"):
        adaptive_balancing(F, jnp.ones(3, FLOAT))
