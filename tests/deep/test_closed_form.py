import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import special

from jaxkern.deep import NNGP, NTK, nngp_ntk, nngp_ntk_gram
from jaxkern.gp import gp_posterior
from jaxkern.kernels import gram, kernel_matvec

from ..helpers import FLOAT, X64, assert_close, grad_check_eps, points

X1 = jnp.array([1.0, 0.0], dtype=FLOAT)
X2 = jnp.array([0.6, 0.8], dtype=FLOAT)


# Golden values from neural-tangents 0.6.5, stax.serial(Dense(512, W_std, b_std), Relu(), ...,
# Dense(1, W_std, b_std)) kernel_fn(x1, x2, ("nngp", "ntk")), as quoted in jaxkern issue 9.
# (neural-tangents itself does not import under jax 0.10: it needs jax.core.Jaxpr, jax.util
# and jax.interpreters.ad.zeros_like_p, all removed.)
@pytest.mark.parametrize(
    "depth, W_std, b_std, nngp, ntk",
    [
        (1, 1.0, 0.0, 0.16938689, 0.27511181),
        (2, 1.0, 0.0, 0.09167922, 0.19305204),
        (1, 1.5, 0.1, 0.87831846, 1.42256261),
    ],
)
def test_neural_tangents_values(depth, W_std, b_std, nngp, ntk):
    k = nngp_ntk(X1, X2, depth=depth, W_std=W_std, b_std=b_std)
    assert_close(k.nngp, nngp, rtol64=1e-6, rtol32=2e-6)
    assert_close(k.ntk, ntk, rtol64=1e-6, rtol32=2e-6)


def _gauss_expectation(fn, k11, k12, k22, nodes=200):
    """E[fn(u, v)] for (u, v) ~ N(0, [[k11, k12], [k12, k22]]) in NumPy float64.

    Whitened, u = l11 a and v = l21 a + l22 b; Gauss-Legendre on [-12, 12]^2 split at the
    kinks a = 0 and v = 0, so each piece of a ReLU-type integrand is smooth.
    """
    (l11, _), (l21, l22) = np.linalg.cholesky(np.array([[k11, k12], [k12, k22]]))
    t, w = np.polynomial.legendre.leggauss(nodes)

    def rule(lo, hi):  # nodes and weights on [lo, hi], broadcasting over lo and hi
        lo, hi = np.asarray(lo)[..., None], np.asarray(hi)[..., None]
        return (hi - lo) / 2 * t + (hi + lo) / 2, (hi - lo) / 2 * w

    total = 0.0
    for a_lo, a_hi in ((-12.0, 0.0), (0.0, 12.0)):
        a, wa = rule(a_lo, a_hi)
        kink = np.clip(-l21 * a / l22, -12, 12)
        for b_lo, b_hi in ((np.full_like(a, -12.0), kink), (kink, np.full_like(a, 12.0))):
            b, wb = rule(b_lo, b_hi)  # shape (nodes, nodes): one b-rule per a node
            u, v = l11 * a[:, None], l21 * a[:, None] + l22 * b
            density = np.exp(-(a[:, None] ** 2 + b**2) / 2) / (2 * np.pi)
            total += np.sum(wa[:, None] * wb * fn(u, v) * density)
    return total


PHI = {
    "relu": (lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "ab_relu": (lambda x: np.where(x > 0, 1.3 * x, -0.4 * x), lambda x: np.where(x > 0, 1.3, -0.4)),
    "erf": (special.erf, lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x)),
    "identity": (lambda x: x, lambda x: np.ones_like(x)),
}


@pytest.mark.parametrize("activation", sorted(PHI))
def test_one_layer_against_quadrature(activation):
    # One hidden layer, W_std = 1, b_std = 0: nngp = E[phi phi], ntk = nngp + k12 E[phi' phi'].
    x, y = np.array([0.9, -0.4, 1.2]), np.array([0.3, 0.8, -0.5])
    k11, k12, k22 = x @ x / 3, x @ y / 3, y @ y / 3
    phi, dphi = PHI[activation]
    e = _gauss_expectation(lambda u, v: phi(u) * phi(v), k11, k12, k22)
    ed = _gauss_expectation(lambda u, v: dphi(u) * dphi(v), k11, k12, k22)
    k = nngp_ntk(jnp.asarray(x, FLOAT), jnp.asarray(y, FLOAT), activation=activation,
                 negative_slope=-0.4, positive_slope=1.3)
    assert_close(k.nngp, e, rtol64=1e-7, rtol32=1e-5)
    assert_close(k.ntk, e + k12 * ed, rtol64=1e-7, rtol32=1e-5)


def test_leaky_relu_is_ab_relu_with_unit_positive_slope():
    a = nngp_ntk(X1, X2, depth=3, activation="leaky_relu", negative_slope=0.2, positive_slope=5.0)
    b = nngp_ntk(X1, X2, depth=3, activation="ab_relu", negative_slope=0.2, positive_slope=1.0)
    assert_close(a.nngp, b.nngp)
    assert_close(a.ntk, b.ntk)


@pytest.mark.slow
def test_blocked_gram_matches_pairwise(getkey):
    X, Y = points(getkey(), 37, 5), points(getkey(), 23, 5)
    blocked = nngp_ntk_gram(X, Y, depth=3, W_std=1.3, b_std=0.2, block_size=8)
    f = functools.partial(nngp_ntk, depth=3, W_std=1.3, b_std=0.2)
    pairwise = jax.vmap(lambda x: jax.vmap(lambda y: f(x, y))(Y))(X)
    assert_close(blocked.nngp, pairwise.nngp, rtol64=1e-12, rtol32=1e-5)
    assert_close(blocked.ntk, pairwise.ntk, rtol64=1e-12, rtol32=1e-5)


def test_blocked_gram_diagonal(getkey):
    # On x = y the ReLU NTK step reads arccos(c) at c = 1, where rounding of c by eps moves
    # the result by sqrt(eps): float32 agrees to ~1e-4 there.
    X = points(getkey(), 20, 4)
    blocked = nngp_ntk_gram(X, depth=3, block_size=6)
    pairwise = jax.vmap(lambda x: nngp_ntk(x, x, depth=3))(X)
    assert_close(jnp.diagonal(blocked.ntk), pairwise.ntk, rtol64=1e-7, rtol32=1e-3)


def test_modules_plug_into_kernel_core(getkey):
    X = points(getkey(), 12, 3)
    v = points(getkey(), 12, 1)[:, 0]
    k = NTK(depth=2, W_std=1.2)
    # Diagonal entries carry the sqrt(eps) arccos rounding (see test_blocked_gram_diagonal).
    assert_close(kernel_matvec(k, X, X, v, block_size=5), gram(k, X) @ v, rtol64=1e-7,
                 rtol32=1e-3)
    assert_close(gram(NNGP(depth=2, W_std=1.2), X), nngp_ntk_gram(X, depth=2, W_std=1.2).nngp)
    post = gp_posterior(NNGP(depth=2), X, v, X, noise=1e-3)
    assert post.mean.shape == (12,)


def test_psd_and_dtype(getkey):
    X = points(getkey(), 30, 4)
    for activation in ("relu", "erf", "ab_relu"):
        K = nngp_ntk_gram(X, depth=2, activation=activation, b_std=0.1)
        assert K.nngp.dtype == FLOAT and K.ntk.dtype == FLOAT
        for M in K:
            evals = np.linalg.eigvalsh(np.asarray(M, np.float64))
            assert evals.min() > -1e-4 * evals.max()


def test_transforms(getkey):
    X = points(getkey(), 6, 3)
    # Both include x = y pairs, where the ReLU NTK carries sqrt(eps) rounding.
    f = jax.jit(functools.partial(nngp_ntk_gram, depth=2, block_size=4))
    assert_close(f(X).ntk, nngp_ntk_gram(X, depth=2).ntk, rtol64=1e-7, rtol32=1e-3)
    batched = jax.jit(jax.vmap(lambda x: nngp_ntk(x, X[0], depth=2).nngp))(X)
    assert_close(batched, nngp_ntk_gram(X, X[:1], depth=2).nngp[:, 0], rtol64=1e-7,
                 rtol32=1e-3)
    eps = grad_check_eps()
    # Gradients in the inputs and the hyperparameters, including at x = y.
    check_grads(jax.jit(lambda x: nngp_ntk(x, X[1], depth=2, b_std=0.3).ntk), (X[0],), order=1,
                modes=["rev"], eps=eps, rtol=1e-2 if not X64 else 1e-5)
    # Off-diagonal block: finite differences of x = y entries see the sqrt(eps) rounding.
    check_grads(jax.jit(lambda w, b: nngp_ntk_gram(X[:3], X[3:], depth=2, W_std=w,
                                                   b_std=b).ntk.sum()),
                (jnp.asarray(1.3, FLOAT), jnp.asarray(0.2, FLOAT)), order=1, modes=["rev"],
                eps=eps, rtol=1e-2 if not X64 else 1e-5)
    g = jax.jit(jax.grad(lambda x: nngp_ntk(x, x, depth=2).ntk))(X[0])
    assert bool(jnp.all(jnp.isfinite(g)))


def test_bad_input():
    with pytest.raises(ValueError, match="activation.*relu.*erf"):
        nngp_ntk(X1, X2, activation="tanh")
    with pytest.raises(ValueError, match="depth"):
        nngp_ntk(X1, X2, depth=-1)
    with pytest.raises(ValueError, match="W_std"):
        nngp_ntk(X1, X2, W_std=0.0)
    with pytest.raises(ValueError, match="b_std"):
        nngp_ntk_gram(X1[None], b_std=-1.0)
    with pytest.raises(ValueError, match="X.*Y"):
        nngp_ntk_gram(jnp.ones((3, 2)), jnp.ones((3, 4)))
    with pytest.raises(ValueError, match="block_size"):
        nngp_ntk_gram(jnp.ones((3, 2)), block_size=0)
    with pytest.raises(ValueError, match="activation"):
        NNGP(activation="softplus")
