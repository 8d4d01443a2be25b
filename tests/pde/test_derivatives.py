"""Derivative Gram matrices against central finite differences of the kernel."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.kernels import RBF, StudentTMixture
from jaxkern.pde import derivative_gram

from ..helpers import FLOAT, X64, check_transforms

KERNELS = {
    "rbf": RBF(lengthscale=0.7, variance=1.3),
    "student_t": StudentTMixture(jnp.array([0.6, 0.4]), jnp.array([[0.0], [1.5]]),
                                 jnp.array([[0.8], [2.0]])),
}


def _fd(k, x, y, a, b, h=1e-4):
    # Reference: nested central differences of k in float64 NumPy (step h, error O(h^2)).
    def f(s, t):
        return float(k(jnp.array([s], jnp.float64), jnp.array([t], jnp.float64)))

    def dx(g, order):
        for _ in range(order):
            g = (lambda g: lambda s, t: (g(s + h, t) - g(s - h, t)) / (2 * h))(g)
        return g

    def dy(g, order):
        for _ in range(order):
            g = (lambda g: lambda s, t: (g(s, t + h) - g(s, t - h)) / (2 * h))(g)
        return g

    return dy(dx(f, a), b)(x, y)


@pytest.mark.skipif(not X64, reason="finite differences need float64")
@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("orders", [(0, 0), (1, 0), (2, 0), (1, 1), (0, 2)])
def test_matches_finite_differences(name, orders):
    k = KERNELS[name]
    x, y = jnp.array([0.1, 0.9]), jnp.array([0.4, -0.3])
    G = derivative_gram(k, x, y, orders=orders)
    ref = [[_fd(k, float(s), float(t), *orders) for t in y] for s in x]
    np.testing.assert_allclose(np.asarray(G), ref, rtol=1e-5, atol=1e-6)


def test_finite_and_exact_at_zero_lag():
    # d^2 k / dx dx' at x = x' equals -k''(0): 1/l^2 for the RBF (variance 1.3, l = 0.7).
    z = jnp.zeros(1, FLOAT)
    G = derivative_gram(KERNELS["rbf"], z, z, orders=(1, 1))
    np.testing.assert_allclose(np.asarray(G), [[1.3 / 0.49]], rtol=1e-5)
    G4 = derivative_gram(KERNELS["student_t"], z, z, orders=(2, 2))
    assert bool(jnp.all(jnp.isfinite(G4)))


def test_transforms():
    # jit = eager, vmap over point sets = a loop, and the gradient with respect to the
    # lengthscale and the points = finite differences (no zero lags: there float32 central
    # differences of this third derivative miss by 9% while autodiff is exact, -62.4).
    x = jnp.linspace(0, 1, 5, dtype=FLOAT)

    def f(ell, x):
        return derivative_gram(RBF(lengthscale=ell, variance=1.3), x, x + 0.1, orders=(2, 1))

    ell = jnp.asarray(0.5, FLOAT)
    check_transforms(f, (ell, x), batch=(ell, jnp.stack([x, 2 * x])), in_axes=(None, 0),
                     grad_argnums=(0, 1), rtol64=1e-12, rtol32=1e-5, atol64=1e-12, atol32=1e-5)


def test_bad_inputs():
    x = jnp.zeros(3, FLOAT)
    for orders in ((-1, 0), (1, True), (1.0, 0), (1, 0, 0)):
        with pytest.raises(ValueError, match="orders"):
            derivative_gram(KERNELS["rbf"], x, x, orders=orders)
    with pytest.raises(ValueError, match="x"):
        derivative_gram(KERNELS["rbf"], x[:, None], x)
