import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.bench_quadrature import probnum_bq
from jaxkern.kernels import RBF, Matern12, Matern32, Matern52, Matern72, ProductMatern, gram
from jaxkern.quadrature import (
    GaussianMeasure,
    LebesgueMeasure,
    bayesian_quadrature,
    bq_weights,
    kernel_mean,
)

from ..helpers import FLOAT, X64, assert_close, check_transforms


@pytest.mark.skipif(not X64, reason="the peer computes in float64")
@pytest.mark.parametrize("name, kernel, nu", [("rbf", RBF(0.4), None),
                                              ("matern72", Matern72(0.3), 3.5),
                                              ("matern12", Matern12(0.3), 0.5)])
def test_matches_probnum(name, kernel, nu):
    pytest.importorskip("probnum")
    bayesquad_from_data, _ = probnum_bq()
    from probnum.randprocs.kernels import ExpQuad, Matern

    pn_kernel = ExpQuad(1, lengthscales=0.4) if nu is None else Matern(1, nu=nu, lengthscales=0.3)
    t = np.linspace(0.2, 1.4, 7)
    f = np.sin(3 * t) + t**2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # Reference: ProbNum 0.1.25 in the same process, no scale estimation, same jitter.
        F, _ = bayesquad_from_data(nodes=t[:, None], fun_evals=f, kernel=pn_kernel,
                                   domain=(0.2, 1.4),
                                   options={"jitter": 1e-10, "scale_estimation": None})
    ours = jax.jit(bayesian_quadrature, static_argnames="jitter")(
        jnp.asarray(f), jnp.asarray(t), kernel, LebesgueMeasure(0.2, 1.4), jitter=1e-10)
    assert_close(ours.mean, F.mean, rtol64=1e-9)
    assert_close(ours.variance, F.var, rtol64=1e-5, atol64=1e-14)


def test_integrates_the_kernel_sections_exactly():
    # Property: BQ is exact on span{k(., x_i)}; integrating k(., x_j) gives z(x_j).
    k, m = Matern52(0.5), LebesgueMeasure(0.0, 2.0)
    X = jnp.linspace(0.0, 2.0, 6, dtype=FLOAT)[:, None]
    F = jax.jit(bayesian_quadrature, static_argnames="jitter")(gram(k, X), X, k, m, jitter=0.0)
    z = jax.vmap(lambda x: kernel_mean(k, x, m))(X)
    assert_close(F.mean, z, rtol64=1e-9, rtol32=2e-3)


def test_gaussian_measure_and_box():
    # E[x1^2 + x2] under N((0, 1), diag(0.5, 2)) = 0.5 + 1 = 1.5 (known), RBF on a 2-D grid.
    g = jnp.linspace(-3.0, 3.0, 9, dtype=FLOAT)
    X = jnp.stack(jnp.meshgrid(g, g + 1.0), axis=-1).reshape(-1, 2)
    m = GaussianMeasure(jnp.array([0.0, 1.0], FLOAT), jnp.array([0.5, 2.0], FLOAT))
    F = _bq(X[:, 0] ** 2 + X[:, 1], X, RBF(1.5), m)
    assert abs(float(F.mean) - 1.5) < (2e-2 if X64 else 5e-2)
    # A product Matérn on the unit square: int x1 x2 = 1/4.
    g = jnp.linspace(0.0, 1.0, 6, dtype=FLOAT)
    X = jnp.stack(jnp.meshgrid(g, g), axis=-1).reshape(-1, 2)
    F = _bq(X[:, 0] * X[:, 1], X, ProductMatern(2.5, 0.5),
                            LebesgueMeasure(jnp.zeros(2, FLOAT), jnp.ones(2, FLOAT)))
    assert abs(float(F.mean) - 0.25) < 1e-3


# One compiled call per shape keeps the many small eager ops out of the test time.
_bq = jax.jit(bayesian_quadrature)


def _errors(kernel, ns, f, exact):
    errs = []
    for n in ns:
        t = jnp.linspace(0.0, 1.0, int(n), dtype=FLOAT)
        errs.append(abs(float(_bq(f(t), t, kernel, LebesgueMeasure(0.0, 1.0)).mean) - exact))
    return np.array(errs)


def _f(t):
    return jnp.exp(t) * jnp.cos(t)


EXACT = (np.e * (np.cos(1) + np.sin(1)) - 1) / 2  # int_0^1 e^t cos t dt


@pytest.mark.skipif(not X64, reason="float64 only: float32 jitter dominates the error early")
@pytest.mark.parametrize("kernel, nu", [(Matern12(0.5), 0.5), (Matern32(0.5), 1.5),
                                        (Matern52(0.5), 2.5), (Matern72(0.5), 3.5)])
def test_matern_bq_convergence_rate(kernel, nu):
    # Over N = 8..32 the default jitter (1e-10) is still below the error for every order.
    ns = np.array([8, 16, 32])
    slope = np.polyfit(np.log(ns - 1), np.log(_errors(kernel, ns, _f, EXACT)), 1)[0]
    assert -slope >= nu + 0.5 - 0.3, slope


def test_matern_bq_accuracy_float32_twin():
    for kernel in (Matern32(0.5), Matern72(0.5)):
        assert _errors(kernel, [16], _f, EXACT)[0] < (2e-4 if X64 else 2e-3)


@pytest.mark.slow
def test_scaled_and_summed_kernels():
    # `2.0 * RBF()` and `RBF() + RBF()` are RBF(variance=2) written through terms(): the same
    # rule to rounding (they used to raise).
    t = jnp.linspace(0.0, 1.0, 9, dtype=FLOAT)
    m = LebesgueMeasure(0.0, 1.0)
    want = _bq(_f(t), t, RBF(0.3, 2.0), m)
    for kernel in (2.0 * RBF(0.3), RBF(0.3) + RBF(0.3)):
        got = _bq(_f(t), t, kernel, m)
        assert_close(got.mean, want.mean, rtol32=1e-4)
        assert_close(got.variance, want.variance, rtol64=1e-6, rtol32=5e-2, atol32=1e-7)
    # Scaling the prior leaves the weights and scales the variance (exact at zero jitter; 4
    # nodes keep the Gram matrix well conditioned).
    t4 = jnp.linspace(0.0, 1.0, 4, dtype=FLOAT)
    weights = jax.jit(bq_weights, static_argnames="jitter")
    one, two = (weights(k, t4, m, jitter=0.0) for k in (RBF(0.3), 2.0 * RBF(0.3)))
    assert_close(two.weights, one.weights, rtol64=1e-10, rtol32=1e-4)
    assert_close(two.variance, 2 * one.variance, rtol64=1e-8, rtol32=1e-3)
    # A sum of two families: e^t cos t on [0, 1], within the posterior's 3 standard deviations.
    F = _bq(_f(t), t, 2.0 * RBF(0.3) + Matern52(0.5), m)
    assert abs(float(F.mean) - EXACT) < min(1e-3, 3 * math.sqrt(float(F.variance)))


def test_transforms():
    # BQ over intervals: jit = eager, vmap over (interval, values) = loop, and the mean is
    # differentiable in the interval ends, the values and the lengthscale.
    def integral(a, b, v, ell):
        nodes = jnp.linspace(a, b, 5)
        return bayesian_quadrature(v, nodes, Matern52(ell), LebesgueMeasure(a, b)).mean

    t = jnp.linspace(0.0, 1.0, 5, dtype=FLOAT)
    lows = jnp.array([0.0, 1.0, 2.5], FLOAT)
    values = jnp.stack([jnp.exp(t), t**2, jnp.sin(t)])
    ell = jnp.asarray(0.5, FLOAT)
    check_transforms(integral, (lows[0], lows[0] + 1.0, values[0], ell),
                     batch=(lows, lows + 1.0, values, ell), in_axes=(0, 0, 0, None),
                     grad_argnums=(0, 1, 2, 3), rtol64=1e-10, rtol32=1e-4)
    rule = jax.jit(bq_weights)(Matern72(0.3), t, LebesgueMeasure(0.0, 1.0))
    assert rule.weights.shape == (5,) and rule.weights.dtype == FLOAT
    # The posterior variance, in the hyperparameters of a scaled sum (smooth kernels,
    # well-spread nodes).
    nodes = jnp.linspace(0.0, 1.0, 6, dtype=FLOAT)
    measure = LebesgueMeasure(0.0, 1.0)
    check_transforms(lambda ell, s: bq_weights(s * Matern52(ell) + RBF(ell), nodes,
                                               measure).variance,
                     (jnp.asarray(0.4, FLOAT), jnp.asarray(2.0, FLOAT)), grad_argnums=(0, 1),
                     rtol64=1e-8, rtol32=1e-4, atol32=2e-6)  # v0 - z'w cancels: ulps of v0


def test_bad_inputs():
    t = jnp.linspace(0.0, 1.0, 5, dtype=FLOAT)
    m = LebesgueMeasure(0.0, 1.0)
    with pytest.raises(ValueError, match="values"):
        bayesian_quadrature(t[:4], t, RBF(), m)
    with pytest.raises(ValueError, match="nodes"):
        bayesian_quadrature(t[:1], t[:1], RBF(), m)
    with pytest.raises(ValueError, match="lengthscale"):
        bayesian_quadrature(t, t, Matern32(lengthscale=0.0), m)
    with pytest.raises(ValueError, match="nodes"):
        bq_weights(RBF(), jnp.zeros((5, 2), FLOAT), m)
    with pytest.raises(ValueError, match=r"\[0.5, 1.5, 2.5, 3.5\]"):
        bq_weights(ProductMatern(4.5), t, m)
