import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
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

from ..helpers import FLOAT, X64, assert_close, grad_check_eps

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
    x = jnp.array([0.3], FLOAT)
    eps = grad_check_eps()
    tol = None if X64 else 5e-2

    def f(x, ell, a):
        return matern_lebesgue_mean(x, nu=2.5, lower=a, upper=1.0, lengthscale=ell)

    args = (x, jnp.asarray(0.4, FLOAT), jnp.asarray(-0.2, FLOAT))
    assert_close(jax.jit(f)(*args), f(*args))
    check_grads(jax.jit(f), args, order=1, modes=["rev"], eps=eps, rtol=tol)
    check_grads(jax.jit(lambda ell: rbf_lebesgue_variance(lower=0.0, upper=1.0, lengthscale=ell)),
                (jnp.asarray(0.6, FLOAT),), order=1, eps=eps, rtol=tol)
    check_grads(jax.jit(lambda ell: matern_lebesgue_variance(nu=3.5, lower=0.0, upper=1.0,
                                                             lengthscale=ell)),
                (jnp.asarray(0.6, FLOAT),), order=1, eps=eps, rtol=tol)
    # The mean is smooth across the interval ends (slope of G is 1 at 0): finite gradient there.
    g = jax.grad(lambda x: matern_lebesgue_mean(x, nu=0.5, lower=0.0, upper=1.0))(
        jnp.array([0.0], FLOAT))
    assert_close(g, [1 - math.exp(-1.0)], rtol32=1e-5)  # z(x) = 2 - e^{-x} - e^{x-1}
    xs = jnp.linspace(-0.5, 1.5, 7, dtype=FLOAT)[:, None]
    k, m = Matern32(0.3), LebesgueMeasure(0.0, 1.0)
    batched = jax.vmap(lambda x: kernel_mean(k, x, m))(xs)
    assert_close(batched, jnp.stack([jax.jit(kernel_mean)(k, x, m) for x in xs]))


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
    with pytest.raises(ValueError, match="kernel.*RBF, Matern12"):
        kernel_mean(Linear(), x, LebesgueMeasure(0.0, 1.0))
    with pytest.raises(ValueError, match="measure"):
        kernel_mean(Matern52(), x, GaussianMeasure(0.0, 1.0))
    with pytest.raises(ValueError, match="ProductMatern"):
        kernel_mean(Matern52(), jnp.zeros(2, FLOAT), LebesgueMeasure([0.0, 0.0], [1.0, 1.0]))
    with pytest.raises(ValueError, match="upper"):
        LebesgueMeasure(1.0, 1.0)
    with pytest.raises(ValueError, match="variance"):
        GaussianMeasure(0.0, -1.0)
    with pytest.raises(ValueError, match="`x`"):
        kernel_mean(RBF(), jnp.zeros(2, FLOAT), LebesgueMeasure(0.0, 1.0))
