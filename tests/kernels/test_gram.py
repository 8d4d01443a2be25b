"""gram, gram_diag and kernel_matvec: agreement, bounded memory, sharding, bad inputs."""

import functools
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern import kernels as K
from tests.helpers import (
    FLOAT,
    assert_close,
    check_transforms,
    count_compiles,
    points,
    run_on_eight_host_devices,
)


def test_gram_matches_loops(getkey):
    X, Y = points(getkey(), 4, 2), points(getkey(), 3, 2)
    k = K.Matern52(lengthscale=0.7)
    expected = [[k(x, y) for y in Y] for x in X]
    assert_close(K.gram(k, X, Y), jnp.array(expected))
    assert_close(K.gram_diag(k, X), jnp.diagonal(K.gram(k, X)))


@pytest.mark.parametrize("n, m, block", [(37, 23, 8), (16, 16, 16), (5, 40, 64), (50, 9, 7)])
@pytest.mark.parametrize("rhs", [(), (3,)])
def test_kernel_matvec_equals_dense(getkey, n, m, block, rhs):
    X, Y = points(getkey(), n, 3), points(getkey(), m, 3)
    v = jax.random.normal(getkey(), (m,) + rhs, dtype=X.dtype)
    k = K.RBF(lengthscale=1.2) + K.ArcCosine(order=1)
    # Sums that cancel carry absolute, not relative, round-off.
    assert_close(K.kernel_matvec(k, X, Y, v, block_size=block), K.gram(k, X, Y) @ v,
                 rtol64=1e-12, rtol32=2e-5, atol64=1e-13, atol32=1e-5)


def test_gram_transforms(getkey):
    X, Y = points(getkey(), 4, 2), points(getkey(), 3, 2)
    Xb = jnp.stack([X, 0.5 * X])
    for k in (K.Matern32(lengthscale=0.9, variance=1.1) + K.Linear(bias=0.2),
              functools.partial(K.rational_quadratic, alpha=0.7)):
        check_transforms(K.gram, (k, X, Y), batch=(k, Xb, Y), in_axes=(None, 0, None),
                         grad_argnums=(0, 1, 2), rtol32=2e-5, atol32=1e-6)
        check_transforms(K.gram_diag, (k, X), batch=(k, Xb), in_axes=(None, 0),
                         grad_argnums=(0, 1))


def test_kernel_matvec_jit_vmap_grad(getkey):
    X, Y = points(getkey(), 20, 2), points(getkey(), 13, 2)
    v = jax.random.normal(getkey(), (13,), dtype=X.dtype)

    def blocked(k, X, v):
        return jnp.sum(K.kernel_matvec(k, X, Y, v, block_size=6) ** 2)

    def dense(k, X, v):
        return jnp.sum((K.gram(k, X, Y) @ v) ** 2)

    # Reference: the gradient of the dense product, in the kernel, X and v.
    k = K.Matern32(lengthscale=0.9, variance=1.1)
    g_blocked = jax.jit(jax.grad(blocked, argnums=(0, 1, 2)))(k, X, v)
    g_dense = jax.jit(jax.grad(dense, argnums=(0, 1, 2)))(k, X, v)
    for a, b in zip(jax.tree.leaves(g_blocked), jax.tree.leaves(g_dense)):
        assert_close(a, b, rtol64=1e-10, rtol32=1e-4, atol32=1e-4)
    V = jax.random.normal(getkey(), (4, 13), dtype=X.dtype)
    check_transforms(lambda k, X, Y, v: K.kernel_matvec(k, X, Y, v, block_size=6), (k, X, Y, v),
                     batch=(k, X, Y, V), in_axes=(None, None, None, 0),
                     grad_argnums=(0, 1, 2, 3), rtol32=2e-5, atol32=1e-5)


@pytest.mark.parametrize("n, m, block, rhs", [(37, 23, 8, ()), (16, 16, 16, (3,)),
                                              (5, 40, 64, ()), (50, 9, 7, (3,))])
def test_kernel_matvec_does_not_recompile(getkey, n, m, block, rhs):
    # Each padding (none, rows only, columns only, both) compiles once: new values of X, Y, v
    # and of the kernel's hyperparameters reuse the compiled blocked product.
    f, compiles = count_compiles(lambda k, X, Y, v: K.kernel_matvec(k, X, Y, v, block_size=block))
    for scale in (1.0, 0.5):
        X, Y = points(getkey(), n, 3), points(getkey(), m, 3)
        v = jax.random.normal(getkey(), (m,) + rhs, dtype=X.dtype)
        k = K.RBF(lengthscale=1.2 * scale) + K.ArcCosine(order=1)
        assert_close(f(k, X, Y, v), K.gram(k, X, Y) @ v, rtol64=1e-12, rtol32=2e-5,
                     atol64=1e-13, atol32=1e-5)
    assert compiles() == 1


def test_kernel_matvec_memory_is_blocked():
    # XLA's buffer assignment: n = m = 20,000 would need 1.6 GB (float32) for the dense matrix.
    n, d, block = 20_000, 4, 512
    X = jax.ShapeDtypeStruct((n, d), FLOAT)
    v = jax.ShapeDtypeStruct((n,), FLOAT)
    f = jax.jit(lambda X, v: K.kernel_matvec(K.RBF(), X, X, v, block_size=block))
    temp = f.lower(X, v).compile().memory_analysis().temp_size_in_bytes
    assert temp < 64 * 2**20, temp


def test_sharded_equals_unsharded():
    # 8 host CPU devices need a fresh process: XLA reads the flag once, at start-up.
    script = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P
        from jaxkern.kernels import Matern32, kernel_matvec
        assert len(jax.devices()) == 8
        mesh = jax.make_mesh((8,), ("data",))
        X = jax.random.normal(jax.random.key(0), (96, 3))
        Y = jax.random.normal(jax.random.key(1), (41, 3))
        v = jax.random.normal(jax.random.key(2), (41, 2))
        k = Matern32(lengthscale=0.8)
        Xs = jax.device_put(X, NamedSharding(mesh, P("data")))
        plain = kernel_matvec(k, X, Y, v, block_size=5)
        eager = kernel_matvec(k, Xs, Y, v, block_size=5)
        jitted = jax.jit(lambda X: kernel_matvec(k, X, Y, v, block_size=5))(Xs)
        assert eager.sharding.spec == P("data"), eager.sharding
        tol = 1e-12 if X.dtype == jnp.float64 else 1e-5
        np.testing.assert_allclose(eager, plain, rtol=tol, atol=tol)
        np.testing.assert_allclose(jitted, plain, rtol=tol, atol=tol)
        # a row-sharded column side (Y, v) is gathered: same values, rows sharded as X's
        Ys, vs = (jax.device_put(a, NamedSharding(mesh, P("data"))) for a in (Y[:40], v[:40]))
        both = jax.jit(lambda X, Y, v: kernel_matvec(k, X, Y, v, block_size=5))(Xs, Ys, vs)
        np.testing.assert_allclose(both, kernel_matvec(k, X, Y[:40], v[:40], block_size=5),
                                   rtol=tol, atol=tol)
        print("ok")
    """)
    run_on_eight_host_devices(script, timeout=300)


@pytest.mark.parametrize("call, name", [
    (lambda X, Y, v: K.gram(K.RBF(), X[:, 0]), "X"),
    (lambda X, Y, v: K.gram(K.RBF(), X, Y[:, :2]), "feature dimension"),
    (lambda X, Y, v: K.gram_diag(K.RBF(), X[:, 0]), "X"),
    (lambda X, Y, v: K.kernel_matvec(K.RBF(), X, Y, v[:-1]), "`v`"),
    (lambda X, Y, v: K.kernel_matvec(K.RBF(), X, Y[:, :2], v), "feature dimension"),
    (lambda X, Y, v: K.kernel_matvec(K.RBF(), X, Y, v, block_size=0), "block_size"),
    (lambda X, Y, v: K.kernel_matvec(K.RBF(), X[:, 0], Y, v), "X"),
])
def test_bad_inputs(call, name):
    X, Y, v = jnp.zeros((4, 3)), jnp.zeros((5, 3)), jnp.zeros(5)
    with pytest.raises(ValueError, match=name):
        call(X, Y, v)


def test_padding_never_leaks_nan():
    # The arc-cosine kernel is finite at every point, including those used as row padding.
    X = jnp.concatenate([jnp.zeros((1, 2)), jnp.ones((6, 2))])
    out = K.kernel_matvec(K.ArcCosine(order=1), X, X, jnp.ones(7), block_size=4)
    assert np.all(np.isfinite(np.asarray(out)))
