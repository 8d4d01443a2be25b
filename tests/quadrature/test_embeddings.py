import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import dblquad, quad

from jaxkern.kernels import RBF, Linear, Matern12, Matern32, Matern52, Matern72, ProductMatern
from jaxkern.quadrature import (
    GaussianMeasure,
    LebesgueMeasure,
    initial_variance,
    kernel_mean,
    matern_lebesgue_mean,
    matern_lebesgue_variance,
    rbf_gaussian_mean,
    rbf_gaussian_variance,
    rbf_lebesgue_mean,
    rbf_lebesgue_variance,
)

from ..helpers import FLOAT, assert_close, check_transforms, count_compiles

NUS = [0.5, 1.5, 2.5, 3.5]


def unit_matern(nu, r):
    """m_nu(r / ell = r) in NumPy float64, written from Rasmussen & Williams eq. 4.16."""
    s = math.sqrt(2 * nu) * abs(r)
    poly = {0.5: 1, 1.5: 1 + s, 2.5: 1 + s + s * s / 3, 3.5: 1 + s + 0.4 * s * s + s**3 / 15}
    return poly[nu] * math.exp(-s)


def _quad(f, a, b, points=None):
    # Reference: adaptive Gauss–Kronrod (QUADPACK) at a tolerance well under the 1e-10 target.
    return quad(f, a, b, points=points, epsabs=0, epsrel=1e-13, limit=200)[0]


RTOL = dict(rtol64=1e-10, rtol32=2e-5)
CASES = [(0.0, 1.0, 0.3, 0.5), (-1.0, 2.5, 1.7, 3.0), (0.2, 0.3, 0.05, -0.4)]  # a, b, ell, x


@pytest.mark.parametrize("nu", NUS)
@pytest.mark.parametrize("a, b, ell, x", CASES)
def test_matern_mean_and_variance_match_quad(nu, a, b, ell, x):
    var = 1.7
    ours = matern_lebesgue_mean(jnp.array([x], FLOAT), nu=nu, lower=a, upper=b,
                                lengthscale=ell, variance=var)
    ref = var * _quad(lambda t: unit_matern(nu, (x - t) / ell), a, b,
                      points=[x] if a < x < b else None)
    assert_close(ours, ref, **RTOL)
    # Reference: iint_[a,b]^2 k(|x - t|) = int_0^L 2 (L - r) k(r) dr, one smooth 1-D quad.
    L = b - a
    ref_v = var * _quad(lambda r: 2 * (L - r) * unit_matern(nu, r / ell), 0, L)
    ours_v = matern_lebesgue_variance(nu=nu, lower=a, upper=b, lengthscale=ell, variance=var)
    assert_close(ours_v, ref_v, rtol64=1e-10, rtol32=1e-4)


@pytest.mark.parametrize("a, b, ell, x", CASES)
def test_rbf_lebesgue_matches_quad(a, b, ell, x):
    ours = rbf_lebesgue_mean(jnp.array([x], FLOAT), lower=a, upper=b, lengthscale=ell,
                             variance=2.0)
    ref = 2.0 * _quad(lambda t: math.exp(-0.5 * ((x - t) / ell) ** 2), a, b)
    assert_close(ours, ref, **RTOL)
    L = b - a
    ref_v = 2.0 * _quad(lambda r: 2 * (L - r) * math.exp(-0.5 * (r / ell) ** 2), 0, L)
    ours_v = rbf_lebesgue_variance(lower=a, upper=b, lengthscale=ell, variance=2.0)
    assert_close(ours_v, ref_v, rtol64=1e-10, rtol32=1e-4)


@pytest.mark.parametrize("mu, s2, ell, x", [(0.0, 1.0, 0.5, 0.3), (1.5, 0.2, 2.0, -1.0)])
def test_rbf_gaussian_matches_quad(mu, s2, ell, x):
    def density(t, v):
        return math.exp(-0.5 * (t - mu) ** 2 / v) / math.sqrt(2 * math.pi * v)

    ours = rbf_gaussian_mean(jnp.array([x], FLOAT), mean=mu, cov=s2, lengthscale=ell)
    ref = quad(lambda t: math.exp(-0.5 * ((x - t) / ell) ** 2) * density(t, s2), -np.inf, np.inf,
               epsabs=0, epsrel=1e-13)[0]
    assert_close(ours, ref, **RTOL)
    # Reference: x - t ~ N(0, 2 s^2) for independent x, t ~ N(mu, s^2).
    ref_v = quad(lambda r: math.exp(-0.5 * (r / ell) ** 2) * math.exp(-r * r / (4 * s2))
                 / math.sqrt(4 * math.pi * s2), -np.inf, np.inf, epsabs=0, epsrel=1e-13)[0]
    assert_close(rbf_gaussian_variance(cov=s2, lengthscale=ell), ref_v, **RTOL)


def test_box_means_match_dblquad():
    lower, upper, x = np.array([0.0, -1.0]), np.array([1.0, 0.5]), np.array([0.3, 0.9])
    ell = np.array([0.4, 1.2])
    box = LebesgueMeasure(jnp.asarray(lower, FLOAT), jnp.asarray(upper, FLOAT))
    xs = jnp.asarray(x, FLOAT)

    def ref(k):
        # Reference: scipy.integrate.dblquad over the box (inner variable first).
        return dblquad(lambda t2, t1: k(np.array([t1, t2])), lower[0], upper[0], lower[1],
                       upper[1], epsabs=0, epsrel=1e-12)[0]

    rbf = RBF(jnp.asarray(ell, FLOAT), 1.3)
    want = ref(lambda t: 1.3 * math.exp(-0.5 * np.sum(((x - t) / ell) ** 2)))
    assert_close(kernel_mean(rbf, xs, box), want, rtol64=1e-9, rtol32=2e-5)
    pm = ProductMatern(2.5, jnp.asarray(ell, FLOAT))
    want = ref(lambda t: np.prod([unit_matern(2.5, d) for d in (x - t) / ell]))
    assert_close(kernel_mean(pm, xs, box), want, rtol64=1e-9, rtol32=2e-5)


def unit_rbf(r):
    return math.exp(-0.5 * r * r)


@pytest.mark.parametrize("x", [0.3, 2.0, -1.1])
def test_scaled_and_summed_kernel_lebesgue_matches_quad(x):
    # k = 2 RBF(0.4, 1.3) + 0.5 Matern32(0.7, 0.9) + Matern72(0.25): terms() gives three terms.
    a, b = -0.5, 1.2
    kernel = 2.0 * RBF(0.4, 1.3) + 0.5 * Matern32(0.7, 0.9) + Matern72(0.25)

    def k(r):  # the same kernel in NumPy float64, from its definition, as a function of x - t
        return (2.0 * 1.3 * unit_rbf(r / 0.4) + 0.5 * 0.9 * unit_matern(1.5, r / 0.7)
                + unit_matern(3.5, r / 0.25))

    m = LebesgueMeasure(a, b)
    # Reference: scipy.integrate.quad (QUADPACK) of k(x - t) over [a, b], split at the kink t = x.
    ref = _quad(lambda t: k(x - t), a, b, points=[x] if a < x < b else None)
    assert_close(kernel_mean(kernel, jnp.array([x], FLOAT), m), ref, **RTOL)
    # Reference: iint_[a,b]^2 k(s - t) = int_0^L 2 (L - r) k(r) dr by quad.
    L = b - a
    ref_v = _quad(lambda r: 2 * (L - r) * k(r), 0, L)
    assert_close(initial_variance(kernel, m), ref_v, rtol64=1e-10, rtol32=1e-4)


@pytest.mark.parametrize("x", [0.1, -2.3])
def test_scaled_and_summed_kernel_gaussian_matches_quad(x):
    # A scaled sum inside a sum: 3 RBF(0.5) + 0.5 (RBF(2.0, 0.2) + RBF(0.3)), under N(0.4, 0.7).
    mu, s2 = 0.4, 0.7
    kernel = 3.0 * RBF(0.5) + 0.5 * (RBF(2.0, 0.2) + RBF(0.3))

    def k(r):
        return 3.0 * unit_rbf(r / 0.5) + 0.5 * (0.2 * unit_rbf(r / 2.0) + unit_rbf(r / 0.3))

    def normal(t, v):
        return math.exp(-0.5 * t * t / v) / math.sqrt(2 * math.pi * v)

    m = GaussianMeasure(mu, cov=s2)
    # Reference: scipy.integrate.quad of k(x - t) N(t; mu, s2) over the real line.
    ref = quad(lambda t: k(x - t) * normal(t - mu, s2), -np.inf, np.inf, epsabs=0,
               epsrel=1e-13)[0]
    assert_close(kernel_mean(kernel, jnp.array([x], FLOAT), m), ref, **RTOL)
    # Reference: s - t ~ N(0, 2 s2) for independent s, t ~ N(mu, s2); quad over r = s - t.
    ref_v = quad(lambda r: k(r) * normal(r, 2 * s2), -np.inf, np.inf, epsabs=0, epsrel=1e-13)[0]
    assert_close(initial_variance(kernel, m), ref_v, **RTOL)


def test_summed_kernel_on_a_box_matches_dblquad():
    # 1.5 ProductMatern(2.5) + RBF on a 2-D box: the Matern term has kinks at t_i = x_i.
    lower, upper, x = np.array([0.0, -1.0]), np.array([1.0, 0.5]), np.array([0.3, 0.9])
    ell = np.array([0.4, 1.2])
    box = LebesgueMeasure(jnp.asarray(lower, FLOAT), jnp.asarray(upper, FLOAT))
    kernel = 1.5 * ProductMatern(2.5, jnp.asarray(ell, FLOAT)) + RBF(0.8, 0.6)

    def k(t):
        d = x - t
        return 1.5 * np.prod([unit_matern(2.5, r) for r in d / ell]) + 0.6 * math.exp(
            -0.5 * np.sum((d / 0.8) ** 2))

    # Reference: scipy.integrate.dblquad over the box, split at the kink x_1 = 0.3.
    ref = sum(dblquad(lambda t2, t1: k(np.array([t1, t2])), lo, hi, lower[1], upper[1],
                      epsabs=0, epsrel=1e-12)[0] for lo, hi in ((lower[0], x[0]), (x[0], upper[0])))
    assert_close(kernel_mean(kernel, jnp.asarray(x, FLOAT), box), ref, rtol64=1e-9, rtol32=2e-5)


@pytest.mark.parametrize("kernel_cls, nu", [(Matern12, 0.5), (Matern32, 1.5), (Matern52, 2.5),
                                            (Matern72, 3.5)])
def test_dispatch_matches_pure(kernel_cls, nu):
    k, m = kernel_cls(0.7, 2.0), LebesgueMeasure(0.0, 1.5)
    x = jnp.array([0.4], FLOAT)
    assert_close(kernel_mean(k, x, m),
                 matern_lebesgue_mean(x, nu=nu, lower=0.0, upper=1.5, lengthscale=0.7,
                                      variance=2.0))
    assert_close(initial_variance(k, m), initial_variance(ProductMatern(nu, 0.7, 2.0), m))


def test_mean_is_an_integral_of_the_kernel():
    # Property: z(x) integrates k(x, .) -- Gauss–Legendre on each side of the kink agrees.
    from jaxkern.quadrature import gauss_legendre

    x = jnp.array([0.35], FLOAT)
    k = Matern72(0.25)
    total = 0.0
    for lo, hi in ((0.0, 0.35), (0.35, 1.0)):
        rule = gauss_legendre(20, lower=lo, upper=hi, dtype=FLOAT)
        total += rule.weights @ jax.vmap(lambda t: k(x, t[None]))(rule.nodes)
    assert_close(kernel_mean(k, x, LebesgueMeasure(0.0, 1.0)), total, rtol64=1e-12, rtol32=1e-5)


def test_transforms():
    # Matérn-5/2 mean: jit = eager, vmap over (point, lengthscale, interval end) = loop, grad in
    # all three = finite differences.
    def f(x, ell, a):
        return matern_lebesgue_mean(x, nu=2.5, lower=a, upper=1.0, lengthscale=ell)

    args = (jnp.array([0.3], FLOAT), jnp.asarray(0.4, FLOAT), jnp.asarray(-0.2, FLOAT))
    batch = (jnp.array([[0.3], [-0.4], [1.6]], FLOAT), jnp.array([0.4, 0.9, 0.2], FLOAT),
             jnp.array([-0.2, 0.0, 0.5], FLOAT))
    check_transforms(f, args, batch=batch, grad_argnums=(0, 1, 2))
    # Initial variances, in the lengthscale and the interval.
    ells = jnp.array([0.6, 0.2, 1.5], FLOAT)
    check_transforms(lambda ell, b: rbf_lebesgue_variance(lower=0.0, upper=b, lengthscale=ell),
                     (ells[0], jnp.asarray(1.0, FLOAT)), batch=(ells, ells + 0.5),
                     grad_argnums=(0, 1), rtol32=2e-5)
    check_transforms(lambda ell, b: matern_lebesgue_variance(nu=3.5, lower=0.0, upper=b,
                                                             lengthscale=ell),
                     (ells[0], jnp.asarray(1.0, FLOAT)), batch=(ells, ells + 0.5),
                     grad_argnums=(0, 1), rtol32=2e-5)


def test_transforms_of_scaled_and_summed_kernels():
    # kernel_mean through terms(): differentiable in the point and in every term's parameters.
    m = LebesgueMeasure(0.0, 1.0)

    def f(x, ell, scale):
        return kernel_mean(scale * RBF(ell) + Matern32(ell), x, m)

    xs = jnp.linspace(-0.5, 1.5, 4, dtype=FLOAT)[:, None]
    ell, scale = jnp.asarray(0.3, FLOAT), jnp.asarray(2.0, FLOAT)
    check_transforms(f, (xs[2], ell, scale), batch=(xs, ell, scale), in_axes=(0, None, None),
                     grad_argnums=(0, 1, 2), rtol32=2e-5)

    # Under a Gaussian measure, in its mean and covariance too.
    def g(mu, cov, ell):
        return initial_variance(2.0 * RBF(ell), GaussianMeasure(mu, cov)) + kernel_mean(
            RBF(ell) + RBF(2 * ell), jnp.array([0.3], FLOAT), GaussianMeasure(mu, cov))

    covs = jnp.array([0.5, 1.0, 2.0], FLOAT)
    check_transforms(g, (jnp.asarray(0.1, FLOAT), covs[0], ell),
                     batch=(jnp.array([0.1, -0.3, 1.0], FLOAT), covs, ell),
                     in_axes=(0, 0, None), grad_argnums=(0, 1, 2), rtol32=2e-5)


def test_mean_slope_at_the_interval_end():
    # The mean is smooth across the interval ends (slope of G is 1 at 0):
    # z(x) = 2 - e^{-x} - e^{x-1} for Matern12 on [0, 1], so z'(0) = 1 - 1/e.
    g = jax.jit(jax.grad(lambda x: matern_lebesgue_mean(x, nu=0.5, lower=0.0, upper=1.0)))(
        jnp.array([0.0], FLOAT))
    assert_close(g, [1 - math.exp(-1.0)], rtol32=1e-5)


def test_no_recompile_for_new_hyperparameters():
    # The Matérn tables are cached NumPy constants and the scale is a pytree leaf: new
    # hyperparameters of the same kernel structure reuse one compilation.
    m, x = LebesgueMeasure(0.0, 1.0), jnp.array([0.3], FLOAT)
    fn, count = count_compiles(lambda k, x: kernel_mean(k, x, m))
    for ell, scale in ((0.3, 1.0), (0.5, 2.0), (1.1, 0.7)):
        fn(scale * Matern72(jnp.asarray(ell, FLOAT)) + RBF(jnp.asarray(ell, FLOAT)), x)
    assert count() == 1


def test_gaussian_measure_cov_and_deprecated_variance():
    m = GaussianMeasure(jnp.zeros(3, FLOAT), cov=jnp.array([0.5, 1.0, 2.0], FLOAT))
    assert m.cov.shape == (3,) and m.cov.dtype == FLOAT
    assert GaussianMeasure(jnp.zeros(3, FLOAT), 2.0).cov.tolist() == [2.0] * 3  # scalar: s^2 I
    with pytest.warns(DeprecationWarning, match="cov"):
        old = GaussianMeasure(jnp.zeros(3, FLOAT), variance=jnp.array([0.5, 1.0, 2.0], FLOAT))
    assert_close(old.cov, m.cov)
    with pytest.warns(DeprecationWarning, match="cov"):
        assert_close(old.variance, m.cov)
    with pytest.raises(ValueError, match="cov"):
        GaussianMeasure(0.0, 1.0, variance=1.0)
    with pytest.raises(ValueError, match="cov"):
        GaussianMeasure(0.0)
    with pytest.raises(ValueError, match=r"`cov`.*full"):
        GaussianMeasure(jnp.zeros(2, FLOAT), jnp.eye(2, dtype=FLOAT))
    with pytest.raises(ValueError, match="`cov`"):
        GaussianMeasure(jnp.zeros(2, FLOAT), jnp.ones(3, FLOAT))


def test_bad_inputs():
    x = jnp.array([0.3], FLOAT)
    with pytest.raises(ValueError, match="lengthscale"):
        matern_lebesgue_mean(x, nu=1.5, lower=0.0, upper=1.0, lengthscale=0.0)
    with pytest.raises(ValueError, match=r"`nu`.*\[0.5, 1.5, 2.5, 3.5\]"):
        matern_lebesgue_mean(x, nu=4.5, lower=0.0, upper=1.0)
    with pytest.raises(ValueError, match=r"`nu`.*\[0.5, 1.5, 2.5, 3.5\]"):
        ProductMatern(1.0)
    with pytest.raises(ValueError, match="lengthscale"):
        rbf_lebesgue_mean(x, lower=0.0, upper=1.0, lengthscale=-1.0)
    m1, box = LebesgueMeasure(0.0, 1.0), LebesgueMeasure([0.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="kernel.*RBF, Matern12/32/52/72, ProductMatern"):
        kernel_mean(Linear(), x, m1)
    with pytest.raises(ValueError, match="kernel.*scaled and summed.*SumKernel with a term Linear"):
        kernel_mean(RBF() + 2.0 * Linear(), x, m1)
    with pytest.raises(ValueError, match="kernel.*ProductKernel"):
        initial_variance(RBF() * Matern32(), m1)
    with pytest.raises(ValueError, match="kernel.*function"):
        kernel_mean(lambda x, y: jnp.sum(x * y), x, m1)
    with pytest.raises(ValueError, match="measure"):
        kernel_mean(Matern52(), x, GaussianMeasure(0.0, 1.0))
    with pytest.raises(ValueError, match="measure.*Matern32"):
        initial_variance(RBF() + Matern32(), GaussianMeasure(0.0, 1.0))
    with pytest.raises(ValueError, match="ProductMatern"):
        kernel_mean(Matern52(), jnp.zeros(2, FLOAT), box)
    with pytest.raises(ValueError, match=r"isotropic Matern12.*ProductMatern\(nu=0.5\)"):
        initial_variance(ProductMatern(0.5) + 0.5 * Matern12(), box)
    with pytest.raises(ValueError, match="upper"):
        LebesgueMeasure(1.0, 1.0)
    with pytest.raises(ValueError, match="cov"):
        GaussianMeasure(0.0, -1.0)
    with pytest.raises(ValueError, match="`cov`.*shape"):
        rbf_gaussian_mean(jnp.zeros(2, FLOAT), mean=0.0, cov=jnp.eye(2, dtype=FLOAT))
    with pytest.raises(ValueError, match=r"`lower`.*\(2,\).*`x`.*got shape \(3,\)"):
        rbf_lebesgue_mean(jnp.zeros(2, FLOAT), lower=jnp.zeros(3, FLOAT), upper=1.0)
    with pytest.raises(ValueError, match=r"lower \(2,\), upper \(3,\)"):
        rbf_lebesgue_variance(lower=jnp.zeros(2, FLOAT), upper=jnp.ones(3, FLOAT))
    with pytest.raises(ValueError, match="`x`"):
        kernel_mean(RBF(), jnp.zeros(2, FLOAT), LebesgueMeasure(0.0, 1.0))


@pytest.mark.parametrize("mean", [
    lambda x, ell: rbf_lebesgue_mean(x, lower=0.0, upper=1.0, lengthscale=ell),
    lambda x, ell: rbf_gaussian_mean(x, mean=0.0, cov=1.0, lengthscale=ell),
    lambda x, ell: matern_lebesgue_mean(x, nu=1.5, lower=0.0, upper=1.0, lengthscale=ell),
])
def test_lengthscale_of_another_dimension_raises(mean):
    # Three lengthscales for a 1-D point broadcast into the mean over a 3-D box before.
    x, ell = jnp.array([0.3], FLOAT), jnp.full(3, 0.7, FLOAT)
    match = r"`lengthscale`.*\(1,\).*`x`.*got shape \(3,\)"
    with pytest.raises(ValueError, match=match):
        mean(x, ell)
    with pytest.raises(ValueError, match=match):
        jax.jit(mean)(x, ell)
    # Shape (1,) is the scalar, also under jit.
    assert_close(jax.jit(mean)(x, ell[:1]), mean(x, ell[0]))


def test_kernel_mean_and_initial_variance_check_the_lengthscale():
    x, ell = jnp.array([0.3], FLOAT), jnp.full(3, 0.7, FLOAT)
    for measure in (LebesgueMeasure(0.0, 1.0), GaussianMeasure(0.0, 1.0)):
        with pytest.raises(ValueError, match=r"`lengthscale`.*\(1,\).*measure.*\(3,\)"):
            initial_variance(RBF(ell), measure)
        with pytest.raises(ValueError, match=r"`lengthscale`.*\(1,\).*measure.*\(3,\)"):
            kernel_mean(RBF() + RBF(ell), x, measure)
    box = LebesgueMeasure(jnp.zeros(3, FLOAT), jnp.ones(3, FLOAT))
    with pytest.raises(ValueError, match=r"`lengthscale`.*\(3,\).*measure.*\(2,\)"):
        initial_variance(ProductMatern(2.5, ell[:2]), box)
    # The right length: one lengthscale per dimension of the box, under jit too.
    v = jax.jit(initial_variance)(RBF(ell), box)
    assert_close(v, initial_variance(RBF(ell[0]), box))
