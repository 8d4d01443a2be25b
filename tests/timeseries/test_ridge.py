"""Ridge classifier with leave-one-out penalty choice, against scikit-learn's RidgeClassifierCV."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.timeseries import (
    ridge_classifier_decision,
    ridge_classifier_fit,
    ridge_classifier_predict,
)
from jaxkern.timeseries._ridge import DEFAULT_ALPHAS

from ..helpers import FLOAT, tol


def _problem(n, p, k, seed=0):
    rng = np.random.RandomState(seed)
    F = rng.randn(n, p) + rng.randn(p)
    F[:, 0] = 3.0  # a constant feature: scaled by 1, as scikit-learn's StandardScaler does
    y = rng.randint(k, size=n)
    return F, y


@pytest.mark.parametrize("n,p,k", [
    (30, 80, 3), (80, 20, 2),
    pytest.param(30, 80, 2, marks=pytest.mark.slow),
    pytest.param(80, 20, 3, marks=pytest.mark.slow),
])
def test_matches_sklearn_ridge_classifier_cv(n, p, k):
    # Golden: scikit-learn's StandardScaler + RidgeClassifierCV (efficient LOO, store_cv_results)
    # in float64, both branches (n <= p: eigen of F F^T; n > p: eigen of F^T F).
    sklearn = pytest.importorskip("sklearn")
    from sklearn.linear_model import RidgeClassifierCV
    from sklearn.preprocessing import StandardScaler

    del sklearn
    F, y = _problem(n, p, k)
    sk = RidgeClassifierCV(alphas=np.array(DEFAULT_ALPHAS), store_cv_results=True).fit(
        StandardScaler().fit_transform(F), y)
    fit = ridge_classifier_fit(jnp.asarray(F, FLOAT), jnp.asarray(y), num_classes=k)
    loo = sk.cv_results_.reshape(n, -1, len(DEFAULT_ALPHAS)).mean(axis=(0, 1))
    np.testing.assert_allclose(np.asarray(fit.loo_errors), loo, rtol=tol(1e-9, 1e-4))
    assert float(fit.alpha) == pytest.approx(sk.alpha_, rel=1e-6)
    np.testing.assert_allclose(np.asarray(fit.weights), sk.coef_.reshape(-1, p).T,
                               rtol=tol(1e-8, 2e-3), atol=tol(1e-10, 1e-5))
    Fs = StandardScaler().fit(F)
    dec = np.asarray(ridge_classifier_decision(fit, jnp.asarray(F, FLOAT)))
    np.testing.assert_allclose(dec.reshape(n, -1), sk.decision_function(Fs.transform(F))
                               .reshape(n, -1), rtol=tol(1e-8, 2e-3), atol=tol(1e-10, 1e-4))
    np.testing.assert_array_equal(np.asarray(ridge_classifier_predict(fit, jnp.asarray(F, FLOAT))),
                                  sk.predict(Fs.transform(F)))


def test_loo_residual_by_refitting():
    # Property: the closed-form leave-one-out error equals refitting without each sample
    # (penalty fixed, standardisation from the full set as in the closed form).
    F, y = _problem(12, 5, 2, seed=3)
    alpha = 0.7
    fit = ridge_classifier_fit(jnp.asarray(F, FLOAT), jnp.asarray(y), num_classes=2,
                               alphas=[alpha])
    Z = (F - F.mean(0)) / np.where(F.std(0) > 1e-12, F.std(0), 1)
    t = np.where(y == 1, 1.0, -1.0)
    errs = []
    for i in range(12):
        keep = np.arange(12) != i
        Zk, tk = Z[keep], t[keep]
        zm, tm = Zk.mean(0), tk.mean()
        w = np.linalg.solve((Zk - zm).T @ (Zk - zm) + alpha * np.eye(5), (Zk - zm).T @ (tk - tm))
        errs.append((t[i] - (Z[i] - zm) @ w - tm) ** 2)
    assert float(fit.loo_errors[0]) == pytest.approx(np.mean(errs), rel=tol(1e-9, 1e-4))


def test_jit():
    F, y = _problem(20, 30, 3)
    F, y = jnp.asarray(F, FLOAT), jnp.asarray(y)
    eager = ridge_classifier_fit(F, y, num_classes=3)
    jitted = jax.jit(lambda F, y: ridge_classifier_fit(F, y, num_classes=3))(F, y)
    np.testing.assert_allclose(np.asarray(jitted.weights), np.asarray(eager.weights),
                               rtol=tol(1e-10, 1e-4), atol=tol(1e-12, 1e-6))


def test_bad_inputs():
    F, y = _problem(10, 4, 2)
    F, y = jnp.asarray(F, FLOAT), jnp.asarray(y)
    with pytest.raises(ValueError, match="`num_classes`"):
        ridge_classifier_fit(F, y, num_classes=1)
    with pytest.raises(ValueError, match="`y` must lie in"):
        ridge_classifier_fit(F, y + 5, num_classes=2)
    with pytest.raises(ValueError, match="`y` must be integer labels"):
        ridge_classifier_fit(F, y[:5], num_classes=2)
    with pytest.raises(ValueError, match="`alphas`"):
        ridge_classifier_fit(F, y, num_classes=2, alphas=[1.0, -1.0])
    with pytest.raises(ValueError, match="`F` has a NaN"):
        ridge_classifier_fit(F.at[0, 0].set(jnp.nan), y, num_classes=2)
    fit = ridge_classifier_fit(F, y, num_classes=2)
    with pytest.raises(ValueError, match="`F` has 3 features"):
        ridge_classifier_predict(fit, F[:, :3])
