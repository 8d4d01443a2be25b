"""von Mises–Fisher normaliser, density, Wood sampler and maximum-likelihood fit."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special as sc

from jaxkern.special import vmf_fit, vmf_log_normalizer, vmf_log_prob, vmf_sample
from tests.helpers import FLOAT, X64, check_transforms, tol


def _mp_log_normalizer(kappa, d):
    mpmath.mp.dps = 30
    k = mpmath.mpf(kappa)
    nu = mpmath.mpf(d) / 2 - 1
    log_i = mpmath.log(mpmath.besseli(nu, k))
    return float(nu * mpmath.log(k) - d / 2 * mpmath.log(2 * mpmath.pi) - log_i)


@pytest.mark.parametrize(("kappa", "d"), [(1e-3, 3), (2.0, 3), (50.0, 10), (300.0, 2), (1e4, 100)])
def test_normalizer_against_mpmath(kappa, d):
    # mpmath.besseli at 30 digits; d = 3 also matches k / (4 pi sinh k)
    ref = _mp_log_normalizer(kappa, d)
    got = float(vmf_log_normalizer(jnp.asarray(kappa, FLOAT), d))
    assert abs(got - ref) <= tol(1e-13, 1e-5) * max(1.0, abs(ref))


def test_normalizer_uniform_limit_and_grad():
    # kappa = 0: minus the log area of S^{d-1}; at d = 3, d/dk log C = -A_3(k) = -(coth k - 1/k)
    area = math.log(2) + 1.5 * math.log(math.pi) - math.lgamma(1.5)
    np.testing.assert_allclose(vmf_log_normalizer(jnp.asarray(0.0, FLOAT), 3), -area, rtol=tol())
    g = jax.grad(vmf_log_normalizer)(jnp.asarray(2.0, FLOAT), 3)
    np.testing.assert_allclose(g, -(1 / math.tanh(2.0) - 0.5), rtol=tol(1e-13, 1e-5))
    assert float(jax.grad(vmf_log_normalizer)(jnp.asarray(0.0, FLOAT), 3)) == 0.0


def test_huge_dimension_finite_where_scipy_fails():
    # scipy.special.ive(16383, 1e3) underflows to 0, so the SciPy log normaliser is inf
    assert sc.ive(16383.0, 1e3) == 0.0
    out = vmf_log_normalizer(jnp.asarray([1e-3, 1e3, 1e6], FLOAT), 32768)
    assert np.all(np.isfinite(np.asarray(out)))


def test_log_prob_integrates_to_one_on_circle():
    # d = 2: the density on S^1 integrates to 1 (trapezoid rule, spectrally accurate)
    theta = jnp.linspace(0, 2 * jnp.pi, 2049, dtype=FLOAT)[:-1]
    pts = jnp.stack([jnp.cos(theta), jnp.sin(theta)], axis=-1)
    mu = jnp.asarray([0.6, 0.8], FLOAT)
    dens = jnp.exp(vmf_log_prob(pts, mu, 30.0))
    np.testing.assert_allclose(jnp.mean(dens) * 2 * jnp.pi, 1.0, rtol=tol(1e-12, 1e-5))


def test_sampler_moments_and_jit(getkey):
    # E[mu^T x] = A_3(kappa) = coth(kappa) - 1/kappa; samples are unit vectors
    mu = jnp.asarray([0.0, 0.6, 0.8], FLOAT)
    X = jax.jit(vmf_sample, static_argnums=2)(mu, 5.0, 20000, key=getkey())
    assert X.shape == (20000, 3) and X.dtype == FLOAT
    np.testing.assert_allclose(jnp.linalg.norm(X, axis=1), 1.0, rtol=tol(1e-12, 1e-5))
    mean_cos = float(jnp.mean(X @ mu))
    assert abs(mean_cos - (1 / math.tanh(5.0) - 0.2)) < 0.01  # ~4 standard errors


@pytest.mark.skipif(not X64, reason="1e-3 in kappa at kappa ~ 1e5 needs float64 resultants")
@pytest.mark.parametrize(
    ("d", "kappa"),
    [
        (2048, 5e4),
        pytest.param(8192, 2e5, marks=pytest.mark.slow),
        pytest.param(32768, 1e6, marks=pytest.mark.slow),
    ],
)
def test_fit_recovers_kappa_high_dim(getkey, d, kappa):
    # 300 samples: the debiased fit's statistical error is ~1e-4 here (Var of mu^T x)
    mu = jnp.zeros(d).at[1].set(1.0)
    X = vmf_sample(mu, kappa, 300, key=getkey())
    fit = vmf_fit(X, debias=True)
    assert abs(float(fit.kappa) / kappa - 1) < 1e-3
    assert float(fit.mu @ mu) > 0.999


@pytest.mark.slow
def test_fit_solves_the_likelihood_equation(getkey):
    # the MLE: A_d(kappa_hat) equals the mean resultant length to rounding
    mu = jnp.zeros(16, FLOAT).at[0].set(1.0)
    X = vmf_sample(mu, 20.0, 500, key=getkey())
    fit = jax.jit(vmf_fit)(X)
    rbar = float(jnp.linalg.norm(jnp.mean(X, axis=0)))
    mpmath.mp.dps = 30
    k = float(fit.kappa)
    a = float(mpmath.besseli(8, k) / mpmath.besseli(7, k))
    assert abs(a - rbar) < tol(1e-12, 1e-5)


def test_transforms(getkey):
    # The normaliser and the density in one compilation (the density calls the normaliser):
    # jit, vmap over kappa, and gradients in kappa, the points and mu.
    X = vmf_sample(jnp.asarray([0.0, 0.6, 0.8], FLOAT), 3.0, 4, key=getkey())
    mu = jnp.asarray([0.48, 0.6, 0.64], FLOAT)
    kappa = jnp.asarray([0.7, 30.0], FLOAT)

    def both(kappa, X, mu):
        return vmf_log_normalizer(kappa, 3), vmf_log_prob(X, mu, kappa[1])

    check_transforms(both, (kappa, X, mu), batch=(jnp.stack([kappa, 2 * kappa]), X, mu),
                     in_axes=(0, None, None), grad_argnums=(0, 1, 2), rtol32=2e-5)


def test_sampler_transforms(getkey):
    # Random draws: jit and vmap over keys (the rejection loop has no gradient). The fit runs
    # jitted in test_fit_solves_the_likelihood_equation.
    mu = jnp.asarray([0.0, 0.6, 0.8], FLOAT)
    keys = jax.random.split(getkey(), 2)
    check_transforms(lambda key: vmf_sample(mu, 5.0, 6, key=key), (keys[0],), batch=(keys,),
                     grad_argnums=None)


def test_bad_input():
    with pytest.raises(ValueError, match="dim"):
        vmf_log_normalizer(1.0, 1)
    with pytest.raises(ValueError, match="kappa"):
        vmf_log_normalizer(-1.0, 3)
    with pytest.raises(ValueError, match="X"):
        vmf_fit(jnp.ones(3, FLOAT))
    with pytest.raises(ValueError, match="mu"):
        vmf_log_prob(jnp.ones((2, 3), FLOAT), jnp.ones(4, FLOAT), 1.0)
    with pytest.raises(ValueError, match="`n`"):
        vmf_sample(jnp.ones(3, FLOAT) / math.sqrt(3), 1.0, -1, key=jax.random.key(0))
