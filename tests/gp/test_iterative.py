"""The matrix-free GP path (CG + SLQ, BBMM gradients) against the dense Cholesky path."""

import textwrap

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.gp import CG, Auto, Cholesky, fit, gp_posterior, log_marginal_likelihood
from jaxkern.kernels import RBF
from tests.helpers import FLOAT, X64, assert_close, run_on_eight_host_devices


def _data(n, seed=0):
    # The problem: x ~ U[-3, 3]^3, a smooth target plus noise.
    kx, ky = jax.random.split(jax.random.key(seed))
    X = jax.random.uniform(kx, (n, 3), dtype=FLOAT, minval=-3.0, maxval=3.0)
    y = jnp.sin(X[:, 0]) * jnp.cos(X[:, 1]) + 0.1 * jax.random.normal(ky, (n,), dtype=FLOAT)
    return X, y


KERNEL = RBF(lengthscale=jnp.asarray(1.2, FLOAT), variance=jnp.asarray(0.8, FLOAT))
N = 120  # one size (and few solver settings) for every test: compilation dominates
SOLVER = CG(num_probes=16, preconditioner_rank=20, rtol=1e-6)
EXACT = CG(preconditioner_rank=N, num_probes=2, rtol=1e-10)


@eqx.filter_jit
def _value_and_grad(k, X, y, noise, solver):
    f = lambda k, noise: log_marginal_likelihood(k, X, y, noise=noise, solver=solver)  # noqa: E731
    return jax.value_and_grad(f, argnums=(0, 1))(k, noise)


@pytest.mark.slow
def test_full_rank_preconditioner_is_exact():
    # With a rank-n pivoted Cholesky the preconditioner is K + s I itself: the SLQ part is
    # exactly zero and the value equals the dense Cholesky value (reference: dense path).
    X, y = _data(N)
    noise = jnp.asarray(0.1, FLOAT)
    dense = log_marginal_likelihood(KERNEL, X, y, noise=noise)
    exact = log_marginal_likelihood(KERNEL, X, y, noise=noise, solver=EXACT)
    assert_close(exact, dense, rtol64=1e-8, rtol32=1e-4)


@pytest.mark.slow
def test_value_and_gradient_match_dense():
    # Reference: the dense Cholesky path (value and jax.grad). The CG path's log-determinant
    # and trace term are stochastic. The LML is a difference of terms that nearly cancel here,
    # so its error is measured against their magnitudes (NumPy float64). The
    # BBMM gradient is unbiased: the mean over 4 independent probe sets lies within 4 standard
    # errors (plus 2 % of the gradient's norm) of the dense gradient.
    X, y = _data(N)
    noise = jnp.asarray(0.05, FLOAT)
    dv, dg = _value_and_grad(KERNEL, X, y, noise, Cholesky())
    runs = [_value_and_grad(KERNEL, X, y, noise, eqx.tree_at(lambda s: s.key, SOLVER,
                                                             jax.random.key(i)))
            for i in range(4)]
    K = np.asarray(KERNEL.gram(X, X), np.float64) + 0.05 * np.eye(N)
    y64 = np.asarray(y, np.float64)
    scale = 0.5 * (y64 @ np.linalg.solve(K, y64) + abs(np.linalg.slogdet(K)[1])
                   + N * np.log(2 * np.pi))
    # 16 probes on a rank-20 preconditioner leave a stochastic error of a few per cent of the
    # log-determinant (measured 2-3 % of `scale` per run): the value, too, is checked as an
    # unbiased estimate, its mean over the 4 probe sets within 4 standard errors.
    values = np.array([float(cv) for cv, _ in runs])
    v_se = values.std(ddof=1) / 2
    assert abs(values.mean() - float(dv)) <= 4 * v_se + 5e-3 * scale, (values, float(dv))
    grads = np.array([[float(x) for x in jax.tree.leaves(g)] for _, g in runs])
    mean, se = grads.mean(0), grads.std(0, ddof=1) / 2
    dg = np.array([float(x) for x in jax.tree.leaves(dg)])
    assert np.all(np.abs(mean - dg) <= 4 * se + 2e-2 * np.linalg.norm(dg)), (mean, se, dg)


@pytest.mark.slow
def test_materialized_gram_equals_tiled():
    # The same CG run with the Gram matrix formed once: equal value and gradient up to the
    # summation order of the products (reference: the tiled path, itself checked above).
    X, y = _data(N)
    noise = jnp.asarray(0.1, FLOAT)
    tiled = _value_and_grad(KERNEL, X, y, noise, SOLVER)
    formed = _value_and_grad(KERNEL, X, y, noise, CG(num_probes=16, preconditioner_rank=20,
                                                     rtol=1e-6, materialize=True))
    for a, b in zip(jax.tree.leaves(formed), jax.tree.leaves(tiled)):
        assert_close(a, b, rtol64=1e-9, rtol32=2e-3)
    it = gp_posterior(KERNEL, X, y, X[:5], noise=0.1, solver=CG(materialize=True))
    assert_close(it.mean, gp_posterior(KERNEL, X, y, X[:5], noise=0.1, solver=CG()).mean,
                 rtol64=1e-9, rtol32=0, atol64=1e-10, atol32=1e-3)


@pytest.mark.slow
def test_posterior_matches_dense():
    # Reference: the dense Cholesky posterior.
    X, y = _data(N)
    Xt = _data(7, seed=5)[0]
    dense = gp_posterior(KERNEL, X, y, Xt, noise=0.1)
    it = gp_posterior(KERNEL, X, y, Xt, noise=0.1, solver=CG(rtol=1e-10 if X64 else 1e-5))
    assert_close(it.mean, dense.mean, rtol64=1e-7, rtol32=0, atol64=1e-8, atol32=2e-3)
    assert_close(it.variance, dense.variance, rtol64=1e-6, rtol32=0, atol64=1e-8,
                 atol32=2e-3)


def test_auto_and_default():
    X, y = _data(N)
    dense = log_marginal_likelihood(KERNEL, X, y, noise=0.1)
    assert float(log_marginal_likelihood(KERNEL, X, y, noise=0.1, solver=Auto())) == float(dense)
    small = Auto(crossover=10, cg=EXACT)
    assert_close(log_marginal_likelihood(KERNEL, X, y, noise=0.1, solver=small), dense,
                 rtol64=1e-8, rtol32=1e-4)


@pytest.mark.slow
def test_fit_with_cg_decreases_the_loss():
    # gp.fit accepts the solver: five Adam steps of the CG likelihood lower its loss, and the
    # first loss is the CG estimate at the initial kernel (within 5 % of the dense one).
    X, y = _data(N)
    it = fit(RBF(), X, y, noise=0.3, num_steps=5, progress=False, solver=SOLVER)
    assert it.losses[-1] < it.losses[0]
    dense = -float(log_marginal_likelihood(RBF(), X, y, noise=0.3))
    # One probe set: a stochastic estimate, a few per cent from the dense value (see above).
    np.testing.assert_allclose(it.losses[0], dense, rtol=5e-2)


def test_errors():
    X, y = _data(N)
    with pytest.raises(ValueError, match="`solver`"):
        log_marginal_likelihood(KERNEL, X, y, noise=0.1, solver="cg")
    with pytest.raises(ValueError, match="`num_probes`"):
        CG(num_probes=0)
    with pytest.raises(ValueError, match="`key`"):
        CG(key=3)
    with pytest.raises(ValueError, match="`rtol`"):
        CG(rtol=-1.0)
    with pytest.raises(Exception, match="did not converge within max_steps = 2"):
        jax.block_until_ready(log_marginal_likelihood(
            KERNEL, X, y, noise=1e-3, solver=CG(max_steps=2, preconditioner_rank=0)))


@pytest.mark.slow
def test_sharded_equals_unsharded():
    # 8 host CPU devices need a fresh process: XLA reads the flag once, at start-up. X's rows
    # sharded over the mesh (jax.make_mesh's explicit axes): kernel_matvec, batched CG over it
    # and the CG log marginal likelihood with its gradient equal the unsharded calls. Sharding
    # changes the order of the sums, so the solves run to round-off (a loose CG tolerance would
    # let the two round-off paths part by about that tolerance).
    script = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P
        from jaxkern.kernels import RBF, kernel_matvec
        from jaxkern.linalg import batched_cg
        assert len(jax.devices()) == 8
        mesh = jax.make_mesh((8,), ("data",))
        X = jax.random.uniform(jax.random.key(0), (96, 3), minval=-3.0, maxval=3.0)
        Y, y = X, jnp.sin(X[:, 0])  # the column side stays replicated
        B = jax.random.normal(jax.random.key(1), (96, 3))
        k = RBF(lengthscale=jnp.asarray(1.1, X.dtype))
        Xs = jax.device_put(X, NamedSharding(mesh, P("data")))
        tol = 1e-10 if X.dtype == jnp.float64 else 1e-3
        mv = lambda X: kernel_matvec(k, X, Y, B, block_size=16)
        np.testing.assert_allclose(jax.jit(mv)(Xs), mv(X), rtol=tol, atol=tol)
        solve = lambda X: batched_cg(
            lambda V: kernel_matvec(k, X, Y, V, block_size=16) + 0.1 * V, B, rtol=1e-14,
            max_steps=96).solution
        np.testing.assert_allclose(jax.jit(solve)(Xs), solve(X), rtol=tol, atol=tol)
        from jaxkern.gp import CG, log_marginal_likelihood
        solver = CG(rtol=1e-14, max_steps=96, num_probes=4)
        lml = lambda k, X: log_marginal_likelihood(k, X, y, noise=0.1, solver=solver)
        value_grad = jax.jit(jax.value_and_grad(lml))
        (v_s, g_s), (v, g) = value_grad(k, Xs), value_grad(k, X)
        np.testing.assert_allclose(v_s, v, rtol=tol)
        np.testing.assert_allclose(g_s.lengthscale, g.lengthscale, rtol=tol)
        np.testing.assert_allclose(g_s.variance, g.variance, rtol=tol)
        print("ok")
    """)
    run_on_eight_host_devices(script, timeout=300)
