import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.linalg import expm

from jaxkern.deep import NNGPNTK, nngp_ntk_gram, ntk_predict

from ..helpers import FLOAT, assert_close, points


def _kernels(getkey):
    X, X_test = points(getkey(), 6, 3), points(getkey(), 4, 3)
    y = points(getkey(), 6, 1)[:, 0]
    kw = dict(depth=2, W_std=1.3, b_std=0.2)
    train, cross = nngp_ntk_gram(X, **kw), nngp_ntk_gram(X_test, X, **kw)
    diag = jnp.diagonal(nngp_ntk_gram(X_test, **kw).nngp)
    return train, cross, diag, y


def test_against_matrix_exponential(getkey):
    train, cross, diag, y = _kernels(getkey)
    t, lr = 0.7, 0.5
    pred = ntk_predict(train, cross, diag, y, t=t, learning_rate=lr)
    # Reference: Lee et al. 2019 eq. 16 with scipy.linalg.expm, NumPy float64.
    T, K, Ts, Ks = (np.asarray(a, np.float64) for a in (train.ntk, train.nngp, cross.ntk,
                                                         cross.nngp))
    A = Ts @ np.linalg.solve(T, np.eye(6) - expm(-lr * t * T))
    var = np.asarray(diag, np.float64) - 2 * np.sum(A * Ks, 1) + np.sum((A @ K) * A, 1)
    assert_close(pred.mean, A @ np.asarray(y, np.float64), rtol64=1e-8, rtol32=2e-3)
    assert_close(pred.variance, var, rtol64=1e-7, rtol32=1e-2, atol32=1e-3)


def test_limits(getkey):
    train, cross, diag, y = _kernels(getkey)
    at_zero = ntk_predict(train, cross, diag, y, t=0.0)
    assert_close(at_zero.mean, jnp.zeros(4, FLOAT), atol32=1e-6)
    assert_close(at_zero.variance, diag)
    # t = infinity on the training inputs: the network interpolates.
    tdiag = jnp.diagonal(train.nngp)
    inf = ntk_predict(train, train, tdiag, y)
    assert_close(inf.mean, y, rtol64=1e-6, rtol32=1e-2, atol32=1e-3)
    late = ntk_predict(train, cross, diag, y, t=1e6)
    assert_close(late.mean, ntk_predict(train, cross, diag, y).mean, rtol64=1e-6, rtol32=1e-2,
                 atol32=1e-3)
    two = ntk_predict(train, cross, diag, jnp.stack([y, -y], 1), t=1.0)
    assert two.mean.shape == (4, 2) and two.variance.shape == (4,)


def test_transforms(getkey):
    train, cross, diag, y = _kernels(getkey)
    f = jax.jit(lambda t: ntk_predict(train, cross, diag, y, t=t).mean)
    assert_close(f(jnp.asarray(0.3, FLOAT)), ntk_predict(train, cross, diag, y, t=0.3).mean,
                 rtol32=1e-4)
    # Gradient in time: d mu / dt = Theta_* e^{-Theta t} y at t = 0 is Theta_* y.
    dmu = jax.jacfwd(f)(jnp.asarray(0.0, FLOAT))
    assert_close(dmu, cross.ntk @ y, rtol32=1e-4)


def test_bad_input(getkey):
    train, cross, diag, y = _kernels(getkey)
    with pytest.raises(ValueError, match="t"):
        ntk_predict(train, cross, diag, y, t=-1.0)
    with pytest.raises(ValueError, match="k_test_train"):
        ntk_predict(train, NNGPNTK(cross.nngp[:, :3], cross.ntk[:, :3]), diag, y)
    with pytest.raises(ValueError, match="k_test_diag"):
        ntk_predict(train, cross, diag[:2], y)
    with pytest.raises(ValueError, match="learning_rate"):
        ntk_predict(train, cross, diag, y, learning_rate=0.0)
