"""Exact GP regression: scikit-learn golden values, transforms, failure modes, fitting."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process import kernels as skk

import jaxkern
from jaxkern import kernels as K
from jaxkern.gp import fit, gp_posterior, log_marginal_likelihood
from tests.helpers import FLOAT, X64, assert_close, check_transforms, points

# Pairs of (jaxkern kernel, the same kernel in scikit-learn) with fixed hyperparameters.
CASES = [
    (K.RBF(lengthscale=[0.6, 1.4], variance=1.7),
     skk.ConstantKernel(1.7) * skk.RBF(length_scale=[0.6, 1.4])),
    (K.Matern32(lengthscale=0.9), skk.Matern(length_scale=0.9, nu=1.5)),
    (K.Matern52(lengthscale=[1.1, 0.5], variance=0.6) + K.RationalQuadratic(alpha=0.5),
     skk.ConstantKernel(0.6) * skk.Matern(length_scale=[1.1, 0.5], nu=2.5)
     + skk.RationalQuadratic(length_scale=1.0, alpha=0.5)),
    (K.Matern12(lengthscale=2.0) * K.Linear(bias=1.0),
     skk.Matern(length_scale=2.0, nu=0.5) * skk.DotProduct(sigma_0=1.0)),
]


def _data(key, n=30, d=2):
    kx, ky, kt = jax.random.split(key, 3)
    X = points(kx, n, d)
    y = jnp.sin(3 * X[:, 0]) * jnp.cos(X[:, 1]) + 0.1 * jax.random.normal(ky, (n,), dtype=FLOAT)
    return X, y, points(kt, 11, d)


@pytest.mark.parametrize("ours, theirs", CASES, ids=["rbf", "m32", "sum", "product"])
def test_against_sklearn(ours, theirs, getkey):
    # Reference: scikit-learn's GaussianProcessRegressor with optimizer=None (fixed
    # hyperparameters) and alpha = noise, in float64. Target: 1e-8 relative in float64.
    X, y, Xt = _data(getkey())
    noise = 0.05
    gpr = GaussianProcessRegressor(theirs, alpha=noise, optimizer=None, normalize_y=False)
    gpr.fit(np.asarray(X, np.float64), np.asarray(y, np.float64))
    mean, std = gpr.predict(np.asarray(Xt, np.float64), return_std=True)
    post = gp_posterior(ours, X, y, Xt, noise=noise, jitter=0.0)
    lml = log_marginal_likelihood(ours, X, y, noise=noise, jitter=0.0)
    assert_close(post.mean, mean, rtol64=1e-8, rtol32=2e-3, atol64=1e-12, atol32=2e-3)
    assert_close(post.variance, std**2, rtol64=1e-8, rtol32=2e-2, atol64=1e-12, atol32=2e-3)
    assert_close(lml, gpr.log_marginal_likelihood_value_, rtol64=1e-8, rtol32=1e-3)


def test_jit_vmap_grad(getkey):
    # jit, vmap over targets, and gradients in the kernel's hyperparameters, the inputs, the
    # targets and the noise, against finite differences (float32: 5e-2).
    X, y, Xt = _data(getkey(), n=12)
    k = K.Matern52(lengthscale=0.8) + K.Linear(bias=0.5)
    Ys = jnp.stack([y, 2 * y, -y])
    noise = jnp.asarray(0.1, FLOAT)

    def lml(k, X, y, noise):
        return log_marginal_likelihood(k, X, y, noise=noise)

    def posterior(k, X, y, Xt, noise):
        return gp_posterior(k, X, y, Xt, noise=noise)

    tol = dict(rtol64=1e-10, atol64=1e-12, rtol32=1e-4, atol32=1e-5)
    check_transforms(lml, (k, X, y, noise), batch=(k, X, Ys, noise),
                     in_axes=(None, None, 0, None), grad_argnums=(0, 1, 2, 3), **tol)
    check_transforms(posterior, (k, X, y, Xt[:4], noise), batch=(k, X, Ys, Xt[:4], noise),
                     in_axes=(None, None, 0, None, None), grad_argnums=(0, 1, 2, 3, 4), **tol)


def test_posterior_interpolates_noiseless_data(getkey):
    X, y, _ = _data(getkey(), n=8)
    post = gp_posterior(K.RBF(lengthscale=0.5), X, y, X, noise=0.0, jitter=1e-10 if X64 else 1e-5)
    assert_close(post.mean, y, rtol64=1e-6, rtol32=2e-2, atol32=2e-2)
    assert np.all(np.asarray(post.variance) < (1e-6 if X64 else 1e-2))


def test_not_positive_definite_raises_under_jit(getkey):
    X, y, _ = _data(getkey(), n=6)
    bad = jax.jit(lambda noise: log_marginal_likelihood(K.RBF(), X, y, noise=noise, jitter=0.0))
    with pytest.raises(Exception, match="not positive definite"):
        bad(jnp.asarray(-5.0, FLOAT)).block_until_ready()


def test_float32_cholesky_warns():
    X = jnp.linspace(0, 1, 5, dtype=jnp.float32)[:, None]
    k = K.RBF(lengthscale=np.float32(1.0), variance=np.float32(1.0))
    with pytest.warns(jaxkern.Float32CholeskyWarning):
        log_marginal_likelihood(k, X, jnp.zeros(5, jnp.float32), noise=0.1)


@pytest.mark.parametrize("call, name", [
    (lambda X, y: log_marginal_likelihood(K.RBF(), X[:, 0], y, noise=0.1), "X"),
    (lambda X, y: log_marginal_likelihood(K.RBF(), X, y[:-1], noise=0.1), "`y`"),
    (lambda X, y: log_marginal_likelihood(K.RBF(), X, y[:, None], noise=0.1), "`y`"),
    (lambda X, y: log_marginal_likelihood(K.RBF(), X, y, noise=-0.1), "noise"),
    (lambda X, y: gp_posterior(K.RBF(), X, y, X[:, :1], noise=0.1), "feature dimension"),
    (lambda X, y: gp_posterior(K.RBF(), X, y, X[:, 0], noise=0.1), "X_test"),
    (lambda X, y: fit(K.RBF(), X, y, noise=0.0), "noise"),
    (lambda X, y: fit(K.RBF(), X, y, noise=0.1, optimizer=0.05), "optimizer"),
])
def test_bad_inputs(call, name):
    X, y = jnp.ones((5, 2), FLOAT), jnp.zeros(5, FLOAT)
    with pytest.raises(ValueError, match=name):
        call(X, y)


def test_fit_recovers_lengthscale(getkey):
    # Draw a function from a GP with lengthscale 0.5, then fit from lengthscale 2.
    X = jnp.linspace(0, 10, 120, dtype=FLOAT)[:, None]
    x = np.linspace(0, 10, 120)
    cov = np.exp(-0.5 * (x[:, None] - x[None, :]) ** 2 / 0.5**2)
    L = np.linalg.cholesky(cov + 1e-6 * np.eye(120))
    f = L @ np.random.default_rng(0).standard_normal(120)
    y = jnp.asarray(f + 0.05 * np.random.default_rng(1).standard_normal(120), FLOAT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = fit(K.RBF(lengthscale=2.0), X, y, noise=0.1, num_steps=300, chunk_size=150)
    assert result.losses.shape == (300,)
    assert result.losses[-1] < result.losses[0]
    assert 0.35 < float(result.kernel.lengthscale) < 0.7
    assert 0.02**2 < float(result.noise) < 0.1**2


def test_fit_reads_declared_constraints(getkey):
    # A zero bias (non-negative) and a zero spectral mean (real) used to stop the fit, which
    # log-transformed every leaf; the kernels now declare their constraints.
    X, y, _ = _data(getkey(), n=20)
    k = K.Linear(bias=0.0) + K.SpectralMixture(weights=[1.0], means=[[0.3, 0.0]],
                                               variances=[[0.1, 0.1]])
    result = fit(k, X, y, noise=0.3, num_steps=20, optimizer=optax.lbfgs())
    assert result.num_steps == len(result.losses) <= 20
    assert result.losses[-1] < result.losses[0]
    assert float(result.kernel.k1.bias) >= 0
    assert np.all(np.isfinite(np.asarray(result.kernel.k2.means)))
    assert float(result.kernel.k2.means[0, 0]) != 0.3  # moved, on a linear scale


def test_fit_stops_at_tol(getkey):
    X, y, _ = _data(getkey(), n=20)
    result = fit(K.RBF(), X, y, noise=0.3, num_steps=400, chunk_size=20, tol=1e-3,
                 optimizer=optax.lbfgs())
    assert result.converged and result.message == "tol reached"
    assert result.num_steps < 400 and result.num_steps == len(result.losses)


def test_fit_respects_trainable_and_fit_noise(getkey):
    X, y, _ = _data(getkey(), n=20)
    k = K.RBF(lengthscale=1.0, variance=2.0)
    only_lengthscale = eqx.tree_at(lambda m: (m.lengthscale, m.variance),
                                   jax.tree.map(lambda _: False, k), (True, False))
    result = fit(k, X, y, noise=0.3, num_steps=20, trainable=only_lengthscale, fit_noise=False)
    assert float(result.kernel.variance) == 2.0
    assert_close(result.noise, 0.3)
    assert float(result.kernel.lengthscale) != 1.0


def test_written_out_derivative_equals_autodiff_through_cholesky(getkey):
    # The LML's derivative is a JVP rule (R&W eq. 5.9), not autodiff through the factor:
    # reference = jax autodiff of the plain Cholesky formula, in reverse, forward and second
    # order (a VJP rule would have broken the last two).
    from jaxkern.gp._exact import _gaussian_log_density

    X = jax.random.uniform(getkey(), (30, 2), FLOAT) * 4
    y = jnp.sin(X).sum(1)

    def ours(p):
        Kp = K.RBF(p[0], p[1]).gram(X, X) + p[2] * jnp.eye(30, dtype=FLOAT)
        return _gaussian_log_density(Kp, y * p[3])

    def reference(p):
        Kp = K.RBF(p[0], p[1]).gram(X, X) + p[2] * jnp.eye(30, dtype=FLOAT)
        L = jnp.linalg.cholesky(Kp)
        a = jax.scipy.linalg.solve_triangular(L, y * p[3], lower=True)
        return -0.5 * a @ a - jnp.sum(jnp.log(jnp.diag(L))) - 15 * jnp.log(2 * jnp.pi)

    @jax.jit
    def derivatives(p):
        return [(f(p), jax.grad(f)(p), jax.jacfwd(f)(p), jax.hessian(f)(p))
                for f in (ours, reference)]

    (v, g, g_fwd, h), (v_ref, g_ref, _, h_ref) = derivatives(
        jnp.asarray([1.3, 0.9, 0.2, 1.1], FLOAT))
    assert_close(v, v_ref, rtol32=1e-5)
    assert_close(g, g_ref, rtol64=1e-10, rtol32=1e-3)
    assert_close(g_fwd, g_ref, rtol64=1e-10, rtol32=1e-3)
    assert_close(h, h_ref, rtol64=1e-8, rtol32=5e-2, atol32=1e-1)
