import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special

from jaxkern.quadrature import gauss_legendre, simpson, trapezoid

from ..helpers import FLOAT, X64, assert_close, check_transforms


def _uneven(key, n):
    return jnp.sort(jax.random.uniform(key, (n,), dtype=FLOAT, minval=0.0, maxval=2.0))


def test_trapezoid_matches_scipy(getkey):
    t = _uneven(getkey(), 11)
    f = jnp.stack([jnp.sin(t), t**2], axis=1)
    # Reference: scipy.integrate.trapezoid on the same float64 samples.
    ref = scipy.integrate.trapezoid(np.asarray(f, np.float64), np.asarray(t, np.float64), axis=0)
    assert_close(trapezoid(f, t), ref)


@pytest.mark.parametrize("n", [3, 9])
def test_simpson_matches_scipy(getkey, n):
    t = _uneven(getkey(), n)
    f = jnp.exp(jnp.cos(3 * t))
    # Reference: scipy.integrate.simpson, which uses the same uneven-interval formula for odd n.
    ref = scipy.integrate.simpson(np.asarray(f, np.float64), x=np.asarray(t, np.float64))
    assert_close(simpson(f, t), ref, rtol32=1e-4)


@pytest.mark.parametrize("uneven", [False, True])
@pytest.mark.parametrize("n", [2, 4, 6, 100])
def test_simpson_even_n_matches_scipy(getkey, n, uneven):
    t = _uneven(getkey(), n) if uneven else jnp.linspace(0.0, 2.0, n, dtype=FLOAT)
    F = jnp.stack([jnp.exp(jnp.cos(3 * t)), jnp.exp(t), t**3 - t, 1 / (1 + t**2)], axis=1)
    # Reference: scipy.integrate.simpson (SciPy >= 1.11: Simpson on the first n - 1 points and
    # Cartwright's parabola on the last interval; the trapezoid at n = 2), same float64 samples.
    ref = scipy.integrate.simpson(np.asarray(F, np.float64), x=np.asarray(t, np.float64), axis=0)
    assert_close(simpson(F, t), ref, rtol64=1e-13, rtol32=1e-4)
    assert_close(jax.jit(simpson)(F, t), ref, rtol64=1e-13, rtol32=1e-4)


def test_simpson_even_n_is_exact_for_quadratics(getkey):
    # Property: the last-interval parabola keeps the rule exact for quadratics on uneven nodes.
    t = _uneven(getkey(), 8)
    exact = (t[-1] ** 3 - t[0] ** 3) / 3 - (t[-1] ** 2 - t[0] ** 2) / 2
    assert_close(simpson(t**2 - t, t), exact, rtol64=1e-13, rtol32=1e-4)


def test_gauss_legendre_matches_scipy():
    rule = gauss_legendre(7, lower=-1.0, upper=1.0)
    # Reference: scipy.special.roots_legendre (Golub–Welsch eigenvalues, independent of NumPy's).
    x, w = scipy.special.roots_legendre(7)
    assert_close(rule.nodes, x, rtol64=1e-13, atol64=1e-15, atol32=1e-6)
    assert_close(rule.weights, w, rtol64=1e-13)


@pytest.mark.parametrize("n", [1, 3, 6])
def test_gauss_legendre_exact_for_degree_2n_minus_1(n):
    # Property: exact for polynomials up to degree 2n - 1 on [a, b].
    a, b = 0.5, 2.0
    rule = gauss_legendre(n, lower=a, upper=b)
    for k in range(2 * n):
        exact = (b ** (k + 1) - a ** (k + 1)) / (k + 1)
        assert_close(rule.weights @ rule.nodes**k, exact, rtol64=1e-13, rtol32=1e-5)


def test_trapezoid_and_simpson_convergence_slopes():
    # Smooth integrand with a known integral: int_0^1 e^t cos(t) dt = (e (cos 1 + sin 1) - 1) / 2.
    exact = (np.e * (np.cos(1) + np.sin(1)) - 1) / 2
    ns = np.array([5, 9, 17, 33, 65])
    trap, simp = [], []
    for n in ns:
        t = jnp.linspace(0.0, 1.0, int(n), dtype=FLOAT)
        f = jnp.exp(t) * jnp.cos(t)
        trap.append(abs(float(jax.jit(trapezoid)(f, t)) - exact))
        simp.append(abs(float(jax.jit(simpson)(f, t)) - exact))
    slope = np.polyfit(np.log(ns - 1), np.log(trap), 1)[0]
    assert abs(slope + 2) <= 0.1, slope
    if X64:  # Simpson errors reach float32 rounding by n = 17.
        assert abs(np.polyfit(np.log(ns - 1), np.log(simp), 1)[0] + 4) <= 0.2


def test_transforms(getkey):
    t = _uneven(getkey(), 7)
    f = jnp.sin(t)
    F = jnp.stack([f, jnp.cos(3 * t), t**2])  # three integrands on the same nodes
    check_transforms(trapezoid, (f, t), batch=(F, t), in_axes=(0, None), grad_argnums=(0, 1))
    check_transforms(simpson, (f, t), batch=(F, t), in_axes=(0, None), grad_argnums=(0, 1),
                     grad_rtol32=1e-2)
    # An even number of nodes (the last-interval correction) and two (the trapezoid).
    for m in (6, 2):
        check_transforms(simpson, (f[:m], t[:m]), batch=(F[:, :m], t[:m]), in_axes=(0, None),
                         grad_argnums=(0, 1), grad_rtol32=1e-2)
    # Gauss–Legendre in the interval ends: traceable, batched over intervals, differentiable.
    lo, hi = jnp.array([0.0, -1.0, 2.0], FLOAT), jnp.array([1.0, 0.5, 2.5], FLOAT)
    check_transforms(lambda a, b: gauss_legendre(4, lower=a, upper=b), (lo[0], hi[0]),
                     batch=(lo, hi), grad_argnums=(0, 1))
    # The weights sum to b - a, so the gradient of their sum is exactly (-1, 1).
    grads = jax.jit(jax.grad(lambda a, b: gauss_legendre(4, lower=a, upper=b).weights.sum(),
                             (0, 1)))(lo[0], hi[0])
    assert_close(jnp.stack(grads), [-1.0, 1.0])


def test_bad_inputs():
    t = jnp.linspace(0.0, 1.0, 5, dtype=FLOAT)
    with pytest.raises(ValueError, match="values"):
        trapezoid(t[:4], t)
    with pytest.raises(ValueError, match="nodes"):
        trapezoid(t[:1], t[:1])
    with pytest.raises(ValueError, match="nodes"):
        simpson(t[:1], t[:1])
    with pytest.raises(ValueError, match="values"):
        simpson(t[:4], t)
    with pytest.raises(ValueError, match="`n`"):
        gauss_legendre(0)
    with pytest.raises(ValueError, match="`n`"):
        gauss_legendre(True)
