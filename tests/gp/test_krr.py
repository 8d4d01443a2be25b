"""KRR heads with implicit gradients, and self-distillation of KRR (issue 22)."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.deep import NNGP, NTK, nngp_ntk_gram
from jaxkern.gp import (
    krr_loss,
    krr_predict,
    optimal_distillation_weight,
    ridge_solve,
    self_distillation,
    self_distillation_limit,
)
from jaxkern.kernels import RBF, gram
from tests.helpers import FLOAT, X64, assert_close, check_transforms, points


def _dense_loss(k, Xs, Ys, Xt, Yt, ridge):
    """Reference: the same loss by `jnp.linalg.solve`, differentiated by JAX's own solve rule."""
    A = jnp.linalg.solve(gram(k, Xs) + ridge * jnp.eye(Xs.shape[0], dtype=Xs.dtype), Ys)
    return 0.5 * jnp.mean(jnp.sum((gram(k, Xt, Xs) @ A - Yt) ** 2, axis=1))


def test_ridge_solve_matches_numpy(getkey):
    X = points(getkey(), 12, 3)
    K = gram(RBF(), X)
    Y = points(getkey(), 12, 2)
    # Golden: NumPy float64 dense solve.
    ref = np.linalg.solve(np.asarray(K, np.float64) + 0.1 * np.eye(12), np.asarray(Y, np.float64))
    assert_close(ridge_solve(K, Y, ridge=0.1), ref, rtol64=1e-10, rtol32=1e-4, atol32=1e-5)
    assert_close(ridge_solve(K, Y[:, 0], ridge=0.1), ref[:, 0], rtol64=1e-10, rtol32=1e-4,
                 atol32=1e-5)


def test_krr_predict_transforms(getkey):
    Xs, Xq = points(getkey(), 8, 2), points(getkey(), 5, 2)
    Ys = points(getkey(), 8, 3)
    check_transforms(
        lambda Xs, Ys, Xq, r: krr_predict(RBF(lengthscale=1.3), Xs, Ys, Xq, ridge=r),
        (Xs, Ys, Xq, jnp.asarray(0.5, FLOAT)),
        batch=(Xs, jnp.stack([Ys, 2 * Ys]), Xq, jnp.asarray(0.5, FLOAT)),
        in_axes=(None, 0, None, None),
        grad_argnums=(0, 1, 2, 3), rtol32=1e-3, atol32=1e-4, rtol64=1e-10)


@pytest.mark.slow
def test_implicit_gradient_equals_autodiff_of_dense_solve(getkey):
    """The adjoint rule against JAX differentiating `jnp.linalg.solve` (an independent path)."""
    Xs, Xt = points(getkey(), 6, 3), points(getkey(), 20, 3)
    Ys, Yt = points(getkey(), 6, 2), points(getkey(), 20, 2)
    k = RBF(lengthscale=1.5)
    loss = lambda Xs, Ys, r: krr_loss(k, Xs, Ys, Xt, Yt, ridge=r)
    ours = jax.grad(loss, argnums=(0, 1, 2))(Xs, Ys, jnp.asarray(0.01, FLOAT))
    ref = jax.grad(_dense_loss, argnums=(1, 2, 5))(k, Xs, Ys, Xt, Yt, jnp.asarray(0.01, FLOAT))
    for a, b in zip(ours, ref):
        assert_close(a, b, rtol64=1e-8, rtol32=2e-2, atol32=1e-3)


def test_krr_loss_against_numpy(getkey):
    Xs, Xt = points(getkey(), 5, 2), points(getkey(), 9, 2)
    ys, yt = points(getkey(), 5, 1)[:, 0], points(getkey(), 9, 1)[:, 0]
    Kss = np.asarray(gram(RBF(), Xs), np.float64)
    Kts = np.asarray(gram(RBF(), Xt, Xs), np.float64)
    # Golden: NumPy float64 (the kernel matrices from jaxkern.gram, tested against scikit-learn).
    pred = Kts @ np.linalg.solve(Kss + 0.2 * np.eye(5), np.asarray(ys, np.float64))
    ref = 0.5 * np.mean((pred - np.asarray(yt, np.float64)) ** 2)
    assert_close(krr_loss(RBF(), Xs, ys, Xt, yt, ridge=0.2), ref, rtol64=1e-10, rtol32=1e-4)


@pytest.mark.slow
def test_nngp_ntk_heads_have_finite_gradients_on_the_diagonal(getkey):
    """A clipped arc-cosine argument at exactly +-1 (x = y, the Gram diagonal) must not give NaN
    gradients: KIP differentiates the support Gram, whose diagonal is exactly there."""
    X = points(getkey(), 4, 4)
    X = jnp.concatenate([X, X[:1], -X[1:2]])  # repeated and opposite points: c = +-1 off-diagonal
    Xt = points(getkey(), 10, 4)
    Ys, Yt = jnp.eye(6, 3, dtype=FLOAT), jnp.eye(10, 3, dtype=FLOAT)

    @jax.jit
    def grads(X):
        both = jax.grad(lambda X: jnp.sum(sum(nngp_ntk_gram(X, depth=3)) ** 2))(X)
        ours = [jax.grad(lambda X: krr_loss(k, X, Ys, Xt, Yt, ridge=1e-3))(X)
                for k in (NNGP(depth=3), NTK(depth=3))]
        ref = jax.grad(lambda X: _dense_loss(NNGP(depth=3), X, Ys, Xt, Yt, 1e-3))(X)
        return both, ours, ref

    both, ours, ref = grads(X)
    for g in [both, *ours]:
        assert np.all(np.isfinite(np.asarray(g)))
    assert_close(ours[0], ref, rtol64=1e-7, rtol32=5e-2, atol32=1e-3)


def test_bad_inputs(getkey):
    X = points(getkey(), 4, 2)
    with pytest.raises(ValueError, match="Y_support"):
        krr_predict(RBF(), X, jnp.ones(5, FLOAT), X, ridge=0.1)
    with pytest.raises(ValueError, match="Y_target"):
        krr_loss(RBF(), X, jnp.ones((4, 2), FLOAT), X, jnp.ones((4, 3), FLOAT), ridge=0.1)
    with pytest.raises(ValueError, match="X_query"):
        krr_predict(RBF(), X, jnp.ones(4, FLOAT), jnp.ones((3, 3), FLOAT), ridge=0.1)
    with pytest.raises(ValueError, match="ridge"):
        ridge_solve(jnp.eye(2, dtype=FLOAT), jnp.ones(2, FLOAT), ridge=-1.0)
    with pytest.raises(ValueError, match="`K` must be square"):
        ridge_solve(jnp.ones((2, 3), FLOAT), jnp.ones(2, FLOAT), ridge=1.0)
    singular = jnp.concatenate([X, X])  # repeated points: K is singular without a ridge
    with pytest.raises(Exception, match="singular or not positive definite"):
        krr_predict(RBF(), singular, jnp.ones(8, FLOAT), X, ridge=0.0)
    with pytest.raises(Exception, match="singular or not positive definite"):
        jax.jit(functools.partial(krr_predict, RBF(), ridge=0.0))(
            singular, jnp.ones(8, FLOAT), X).block_until_ready()


# ---------------------------------------------------------------- self-distillation (#37)

def _sine(n=11):
    """The toy problem of Mobahi et al. (2020) and Borup & Andersen (2021): noisy sin(2 pi x)."""
    x = np.linspace(0, 1, n)
    rng = np.random.default_rng(1)
    y = np.sin(2 * np.pi * x) + rng.normal(0, 0.5, n)
    K = np.exp(-8 * (x[:, None] - x[None, :]) ** 2)  # the paper code's RBF, gamma = 8
    return K, y, np.sin(2 * np.pi * x)


def _iterate(K, y, ridge, alphas):
    """Reference: the rounds one by one in NumPy float64, a dense solve each."""
    fit, coefs = y, []
    for a in alphas:
        c = np.linalg.solve(K + ridge * np.eye(len(y)), a * y + (1 - a) * fit)
        fit = K @ c
        coefs.append(c)
    return coefs, fit


@pytest.mark.parametrize("steps", [1, 2, 5, 17])
def test_closed_form_equals_iteration(steps):
    K, y, _ = _sine()
    ridge, alpha = 0.05, 0.3
    coefs, fit = _iterate(K, y, ridge, [alpha] * steps)
    out = self_distillation(jnp.asarray(K, FLOAT), jnp.asarray(y, FLOAT), ridge=ridge,
                            alpha=alpha, steps=steps)
    scale = np.max(np.abs(coefs[-1]))
    assert_close(out.coefficients / scale, coefs[-1] / scale, rtol64=0, atol64=1e-12,
                 rtol32=0, atol32=2e-3)
    assert_close(out.fitted, fit, rtol64=0, atol64=1e-12, rtol32=0, atol32=2e-3)


def test_limit_is_krr_with_amplified_ridge():
    K, y, _ = _sine()
    Kj, yj = jnp.asarray(K, FLOAT), jnp.asarray(y, FLOAT)
    lim = self_distillation_limit(Kj, yj, ridge=0.05, alpha=0.25)
    # Golden: NumPy float64, KRR with ridge lambda / alpha.
    ref = np.linalg.solve(K + 0.2 * np.eye(11), y)
    assert_close(lim.coefficients, ref, rtol64=1e-10, rtol32=1e-3, atol32=1e-3)
    for steps in (jnp.inf, 1e5):
        far = self_distillation(Kj, yj, ridge=0.05, alpha=0.25, steps=steps)
        assert_close(far.fitted, lim.fitted, rtol64=0, atol64=1e-10, rtol32=0, atol32=1e-4)
        assert_close(far.coefficients, lim.coefficients, rtol64=1e-10, rtol32=1e-3, atol32=1e-3)


def test_optimal_weight_is_the_grid_argmin():
    """Greedy optimal weights over rounds 2-5 = the argmin of the true-function error over a
    1e-4 grid of alpha (the brute force the closed form replaces)."""
    K, y, truth = _sine()
    Kj, yj, tj = (jnp.asarray(v, FLOAT) for v in (K, y, truth))
    ridge = 1e-2  # seed and ridge where all four optimal weights are interior (0.2-0.55)
    S = K @ np.linalg.inv(K + ridge * np.eye(11))
    fit = S @ y  # round 1 is plain KRR whatever alpha (y_0 = y); the weight acts from round 2
    grid = np.linspace(0, 1, 10001)
    for _ in range(4):
        ours = float(optimal_distillation_weight(Kj, yj, jnp.asarray(fit, FLOAT), tj,
                                                 ridge=ridge))
        errors = [np.sum((S @ (a * y + (1 - a) * fit) - truth) ** 2) for a in grid]
        best = grid[int(np.argmin(errors))]
        assert abs(ours - best) <= (1e-4 if X64 else 2e-3), (ours, best)
        assert 0 < best < 1  # an interior optimum: the closed form is really tested
        fit = S @ (best * y + (1 - best) * fit)


def test_self_distillation_transforms_and_bad_inputs():
    K, y, _ = _sine(6)
    Kj, yj = jnp.asarray(K, FLOAT), jnp.asarray(y, FLOAT)
    check_transforms(
        lambda y, r, a: self_distillation(Kj, y, ridge=r, alpha=a, steps=3),
        (yj, jnp.asarray(0.1, FLOAT), jnp.asarray(0.4, FLOAT)),
        batch=(jnp.stack([yj, -yj]), jnp.asarray(0.1, FLOAT), jnp.asarray(0.4, FLOAT)),
        in_axes=(0, None, None),
        grad_argnums=(0, 1, 2), rtol32=1e-3, atol32=1e-4, rtol64=1e-9, atol64=1e-12)
    with pytest.raises(ValueError, match="alpha"):
        self_distillation(Kj, yj, ridge=0.1, alpha=1.5, steps=2)
    with pytest.raises(ValueError, match="`y`"):
        self_distillation(Kj, yj[:4], ridge=0.1, alpha=0.5, steps=2)
    with pytest.raises(ValueError, match="steps"):
        self_distillation(Kj, yj, ridge=0.1, alpha=0.5, steps=0)
    with pytest.raises(ValueError, match="target"):
        optimal_distillation_weight(Kj, yj, yj, yj[:3], ridge=0.1)
