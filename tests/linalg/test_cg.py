"""CG (batched, with Lanczos tridiagonals; fixed-iteration), pivoted Cholesky and Woodbury."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.kernels import RBF, gram
from jaxkern.linalg import (
    batched_cg,
    cg,
    fixed_cg,
    lanczos,
    pivoted_cholesky,
    woodbury_logdet,
    woodbury_preconditioner,
    woodbury_sample,
    woodbury_solve,
)

from ..helpers import FLOAT, X64, assert_close, check_transforms


def _gram(key, n, shift):
    X = jax.random.uniform(key, (n, 3), dtype=FLOAT, minval=-3.0, maxval=3.0)
    return gram(RBF(), X) + shift * jnp.eye(n, dtype=FLOAT)


def _pc(A, rank):
    return pivoted_cholesky(jnp.diagonal(A), lambda i: A[i], rank=rank)


def test_batched_cg_solves_many_rhs(getkey):
    # Reference: numpy.linalg.solve in float64. A zero column converges at once.
    A = _gram(getkey(), 120, 0.1)
    B = jax.random.normal(getkey(), (120, 4), dtype=FLOAT).at[:, 3].set(0.0)
    res = jax.jit(lambda A, B: batched_cg(lambda X: A @ X, B, rtol=1e-10 if X64 else 1e-5))(A, B)
    want = np.linalg.solve(np.asarray(A, np.float64), np.asarray(B, np.float64))
    # residual 1e-10 |b| and cond(A) ~ 1e3: the error bound is ~1e-7 of the solution scale.
    assert_close(res.solution, want, rtol64=0, rtol32=0, atol64=1e-6, atol32=2e-2)
    assert res.converged.tolist() == [True] * 4
    assert not np.any(np.asarray(res.negative_curvature))
    assert int(res.iterations[3]) == 0 and 0 < int(res.iterations[0]) < 120
    bnorm = np.linalg.norm(np.asarray(B), axis=0)
    assert np.all(np.asarray(res.residual_norms) <= (1e-10 if X64 else 1e-5) * bnorm + 1e-30)


def test_cg_tridiagonal_is_lanczos(getkey):
    # Property (Saad 6.7.3): CG's coefficients give the Lanczos tridiagonal of A from b.
    # Reference: jaxkern's own Lanczos (three-term, like CG); the first 8 steps.
    A = _gram(getkey(), 80, 0.5)
    b = jax.random.normal(getkey(), (80,), dtype=FLOAT)
    res = cg(lambda v: A @ v, b, rtol=0.0, max_steps=8)
    dec = lanczos(lambda v: A @ v, b, num_steps=8, reorthogonalize=False)
    assert int(res.iterations) == 8 and res.tridiagonals.diag.shape == (8,)
    assert_close(res.tridiagonals.diag, dec.diag, rtol64=1e-8, rtol32=1e-3)
    assert_close(jnp.abs(res.tridiagonals.offdiag), jnp.abs(dec.offdiag), rtol64=1e-8,
                 rtol32=1e-3)


def test_preconditioned_tridiagonal_and_padding(getkey):
    # With P = L L^T + s I, the tridiagonal is Lanczos of P^{-1/2} A P^{-1/2} from P^{-1/2} b
    # (dense reference: NumPy eigh for P^{-1/2}). Past `iterations` the diagonal pads with 1.
    A = _gram(getkey(), 60, 0.05)
    pre = woodbury_preconditioner(_pc(A, 10).factor, 0.05)
    b = jax.random.normal(getkey(), (60,), dtype=FLOAT)
    res = cg(lambda v: A @ v, b, preconditioner=lambda v: woodbury_solve(pre, v), rtol=0.0,
             max_steps=6)
    L = np.asarray(pre.factor, np.float64)
    lam, U = np.linalg.eigh(L @ L.T + 0.05 * np.eye(60))
    Pmh = U @ np.diag(lam ** -0.5) @ U.T
    M = jnp.asarray(Pmh @ np.asarray(A, np.float64) @ Pmh, FLOAT)
    dec = lanczos(lambda v: M @ v, jnp.asarray(Pmh @ np.asarray(b, np.float64), FLOAT),
                  num_steps=6, reorthogonalize=False)
    assert_close(res.tridiagonals.diag, dec.diag, rtol64=1e-7, rtol32=2e-2)
    # Early convergence: a 2x2 system stops after 2 steps; the rest of T is padding.
    A2 = jnp.array([[4.0, 1.0], [1.0, 3.0]], FLOAT)
    r2 = cg(lambda v: A2 @ v, jnp.array([1.0, 2.0], FLOAT), max_steps=2, rtol=1e-5)
    assert int(r2.iterations) == 2
    Ab = jnp.zeros((4, 4), FLOAT).at[:2, :2].set(A2).at[2:, 2:].set(jnp.eye(2, dtype=FLOAT))
    r4 = batched_cg(lambda X: Ab @ X, jnp.array([[1.0], [2.0], [0.0], [0.0]], FLOAT),
                    max_steps=4, rtol=1e-5)
    assert r4.tridiagonals.diag[0, 2:].tolist() == [1.0, 1.0]
    assert r4.tridiagonals.offdiag[0, 1:].tolist() == [0.0, 0.0]


@pytest.mark.slow
def test_preconditioner_cuts_iterations(getkey):
    A = _gram(getkey(), 300, 1e-2)
    b = jax.random.normal(getkey(), (300,), dtype=FLOAT)
    pre = woodbury_preconditioner(_pc(A, 80).factor, 1e-2)
    plain = cg(lambda v: A @ v, b, rtol=1e-4, max_steps=300)
    fast = cg(lambda v: A @ v, b, rtol=1e-4, max_steps=300,
              preconditioner=lambda v: woodbury_solve(pre, v))
    assert bool(fast.converged) and bool(plain.converged)
    assert int(fast.iterations) < 0.6 * int(plain.iterations)


def test_pivoted_cholesky_matches_dense_greedy(getkey):
    # Reference: a NumPy transcription of the greedy pivot rule on the dense matrix. The
    # distinct diagonal scaling avoids ties; float32 may still break near-ties differently,
    # so pivots are compared in float64 only.
    D = jnp.linspace(1.0, 2.0, 40, dtype=FLOAT)
    A = D[:, None] * _gram(getkey(), 40, 0.0) * D[None, :]
    pc = _pc(A, 12)
    K = np.asarray(A, np.float64)
    d, L, piv = np.diag(K).copy(), np.zeros((40, 12)), []
    for i in range(12):
        p = int(np.argmax(np.where(np.isin(np.arange(40), piv), -np.inf, d)))
        L[:, i] = (K[:, p] - L @ L[p]) / np.sqrt(d[p])
        d -= L[:, i] ** 2
        piv.append(p)
    if X64:
        assert pc.pivots.tolist() == piv
        assert_close(pc.factor, L, rtol64=1e-8, atol64=1e-10)
    Lj = np.asarray(pc.factor, np.float64)
    assert_close(pc.residual_trace, np.trace(K - Lj @ Lj.T), rtol64=1e-6, rtol32=0, atol32=1e-3)
    assert float(pc.residual_trace) <= 1.5 * np.trace(K - L @ L.T) + (0 if X64 else 1e-3)
    full = _pc(A + 0.1 * jnp.eye(40, dtype=FLOAT), 40)
    assert_close(full.factor @ full.factor.T, K + 0.1 * np.eye(40), rtol64=0, rtol32=0,
                 atol64=1e-10, atol32=1e-4)


def test_pivoted_cholesky_rank_deficient_no_nan():
    v = jnp.arange(1.0, 6.0, dtype=FLOAT)
    K = jnp.outer(v, v)
    pc = _pc(K, 3)
    assert np.all(np.isfinite(np.asarray(pc.factor)))
    assert_close(pc.factor @ pc.factor.T, K, rtol64=1e-12, rtol32=1e-5, atol32=1e-5)
    assert_close(pc.factor[:, 1:], np.zeros((5, 2)), rtol64=0, rtol32=0, atol32=1e-5)


def test_woodbury_solve_logdet_sample(getkey):
    # Reference: numpy solve / slogdet of L L^T + s I; sample covariance within 5 %.
    L = jax.random.normal(getkey(), (5, 2), dtype=FLOAT)
    pre = woodbury_preconditioner(L, 0.3)
    P = np.asarray(L, np.float64) @ np.asarray(L, np.float64).T + 0.3 * np.eye(5)
    V = jax.random.normal(getkey(), (5, 3), dtype=FLOAT)
    assert_close(woodbury_solve(pre, V), np.linalg.solve(P, np.asarray(V, np.float64)),
                 rtol64=1e-10, rtol32=1e-4, atol32=1e-5)
    assert_close(woodbury_logdet(pre), np.linalg.slogdet(P)[1], rtol64=1e-12, rtol32=1e-5)
    Z = np.asarray(woodbury_sample(pre, key=getkey(), num_samples=40000), np.float64)
    np.testing.assert_allclose(Z @ Z.T / 40000, P, atol=0.05 * np.max(np.abs(P)))


def test_fixed_cg_equals_scipy(getkey):
    # Reference: scipy.sparse.linalg.cg run for the same iterations (rtol = atol = 0), warm
    # started, with and without a preconditioner.
    sla = pytest.importorskip("scipy.sparse.linalg")
    A = _gram(getkey(), 50, 0.3)
    b = jax.random.normal(getkey(), (50,), dtype=FLOAT)
    x0 = 0.1 * jax.random.normal(getkey(), (50,), dtype=FLOAT)
    pre = woodbury_preconditioner(_pc(A, 5).factor, 0.3)
    A64, b64, x064 = (np.asarray(a, np.float64) for a in (A, b, x0))
    Pinv = np.linalg.inv(np.asarray(pre.factor, np.float64) @ np.asarray(pre.factor).T
                         + 0.3 * np.eye(50))
    for steps in (1, 7):
        want, _ = sla.cg(A64, b64, x0=x064, rtol=0.0, atol=0.0, maxiter=steps)
        got = fixed_cg(lambda v: A @ v, b, x0, num_steps=steps)
        assert_close(got, want, rtol64=1e-12, rtol32=1e-3, atol32=1e-4)
        want, _ = sla.cg(A64, b64, x0=x064, rtol=0.0, atol=0.0, maxiter=steps, M=Pinv)
        got = fixed_cg(lambda v: A @ v, b, x0, num_steps=steps,
                       preconditioner=lambda v: woodbury_solve(pre, v))
        assert_close(got, want, rtol64=1e-12, rtol32=1e-3, atol32=1e-4)
    # More steps than n on a tiny system: the residual reaches zero and nothing is nan.
    A2 = jnp.array([[2.0, 0.5], [0.5, 1.0]], FLOAT)
    x = fixed_cg(lambda v: A2 @ v, jnp.array([1.0, 1.0], FLOAT), num_steps=6)
    assert np.all(np.isfinite(np.asarray(x)))
    assert_close(x, np.linalg.solve(np.asarray(A2, np.float64), [1.0, 1.0]), rtol64=1e-12,
                 rtol32=1e-5)


def test_batched_cg_warm_start_and_column_caps_equal_scipy(getkey):
    # Reference: scipy.sparse.linalg.cg from the same x0, column by column, preconditioned.
    # Column 0 runs to rtol (SciPy with the same rtol, which also measures the residual
    # against |b|), column 1 is capped at 5 steps (SciPy's maxiter = 5, rtol = 0), column 2
    # starts at its solution (0 steps). The warm start shortens column 0 against a cold run.
    sla = pytest.importorskip("scipy.sparse.linalg")
    n = 60
    A = _gram(getkey(), n, 0.05)
    B = jax.random.normal(getkey(), (n, 3), dtype=FLOAT)
    A64, B64 = np.asarray(A, np.float64), np.asarray(B, np.float64)
    exact = np.linalg.solve(A64, B64)
    X0 = jnp.asarray(exact + 0.01 * np.asarray(jax.random.normal(getkey(), (n, 3))), FLOAT)
    X0 = X0.at[:, 2].set(jnp.asarray(exact[:, 2], FLOAT))
    pre = woodbury_preconditioner(_pc(A, 4).factor, 0.05)
    Pinv = np.linalg.inv(np.asarray(pre.factor, np.float64) @ np.asarray(pre.factor).T
                         + 0.05 * np.eye(n))
    rtol = 1e-9 if X64 else 1e-4
    precond = lambda V: woodbury_solve(pre, V)  # noqa: E731
    run = jax.jit(lambda B, X0, caps: batched_cg(lambda V: A @ V, B, x0=X0, rtol=rtol,
                                                 preconditioner=precond, column_steps=caps))
    res = run(B, X0, jnp.array([n, 5, n]))
    cold = batched_cg(lambda V: A @ V, B, rtol=rtol, preconditioner=precond)
    x064 = np.asarray(X0, np.float64)
    want0, info = sla.cg(A64, B64[:, 0], x0=x064[:, 0], rtol=rtol, maxiter=n, M=Pinv)
    assert info == 0
    want1, _ = sla.cg(A64, B64[:, 1], x0=x064[:, 1], rtol=0.0, atol=0.0, maxiter=5, M=Pinv)
    assert_close(res.solution[:, 0], want0, rtol64=1e-7, rtol32=0, atol32=2e-3)
    assert_close(res.solution[:, 1], want1, rtol64=1e-9, rtol32=0, atol32=2e-3)
    assert res.iterations.tolist()[1:] == [5, 0]
    assert res.converged.tolist() == [True, False, True]
    assert 0 < int(res.iterations[0]) < int(cold.iterations[0])


def _fixed(A, b, x0):
    return fixed_cg(lambda v: A @ v, b, x0, num_steps=4)


def test_fixed_cg_transforms(getkey):
    A = _gram(getkey(), 12, 0.5)
    Bs = jax.random.normal(getkey(), (3, 12), dtype=FLOAT)
    x0 = jnp.zeros(12, FLOAT)
    check_transforms(_fixed, (A, Bs[0], x0), batch=(A, Bs, x0), in_axes=(None, 0, None),
                     grad_argnums=(0, 1, 2), rtol32=1e-4, atol32=1e-5)


def test_nonconvergence_and_negative_curvature():
    A = _gram(jax.random.key(1), 60, 1e-4)
    b = jnp.ones(60, FLOAT)
    res = cg(lambda v: A @ v, b, rtol=1e-8, max_steps=3)
    assert not bool(res.converged) and int(res.iterations) == 3
    with pytest.raises(Exception, match="did not converge within max_steps = 3"):
        jax.block_until_ready(cg(lambda v: A @ v, b, rtol=1e-8, max_steps=3, throw=True))
    S = jnp.diag(jnp.array([1.0, -1.0, 2.0], FLOAT))
    b3 = jnp.ones(3, FLOAT)
    res = cg(lambda v: S @ v, b3)
    assert bool(res.negative_curvature) and not bool(res.converged)
    with pytest.raises(Exception, match="not symmetric positive definite"):
        jax.block_until_ready(cg(lambda v: S @ v, b3, throw=True))
    with pytest.raises(Exception, match="not symmetric positive definite"):
        jax.block_until_ready(fixed_cg(lambda v: S @ v, b3, num_steps=3))
    # A non-finite right-hand side under jit is reported, not converged.
    res = jax.jit(lambda b: cg(lambda v: S @ v, b))(b3.at[0].set(jnp.nan))
    assert not bool(res.converged)


def test_bad_inputs():
    A = jnp.eye(3, dtype=FLOAT)
    mv = lambda v: A @ v  # noqa: E731
    b = jnp.ones(3, FLOAT)
    with pytest.raises(ValueError, match="`b` must be finite"):
        cg(mv, b.at[1].set(jnp.inf))
    with pytest.raises(ValueError, match="`B` must be finite"):
        batched_cg(lambda X: A @ X, jnp.full((3, 2), jnp.nan, FLOAT))
    with pytest.raises(ValueError, match="`matvec` must map"):
        cg(lambda v: jnp.ones(4, FLOAT), b)
    with pytest.raises(ValueError, match="`matmat` must map"):
        batched_cg(lambda X: X[:2], jnp.ones((3, 2), FLOAT))
    with pytest.raises(ValueError, match="`x0`"):
        cg(mv, b, x0=jnp.ones(4, FLOAT))
    with pytest.raises(ValueError, match="`b` must have shape"):
        cg(mv, jnp.ones((3, 1), FLOAT))
    with pytest.raises(ValueError, match="`preconditioner` must map"):
        cg(mv, b, preconditioner=lambda v: v[:2])
    with pytest.raises(ValueError, match="`rtol`"):
        cg(mv, b, rtol=-1.0)
    with pytest.raises(ValueError, match="`max_steps`"):
        cg(mv, b, max_steps=0)
    with pytest.raises(ValueError, match="`column_steps` must be integers of shape \\(2,\\)"):
        batched_cg(lambda X: A @ X, jnp.ones((3, 2), FLOAT), column_steps=jnp.array([1, 2, 3]))
    with pytest.raises(ValueError, match="`column_steps`"):
        batched_cg(lambda X: A @ X, jnp.ones((3, 2), FLOAT), column_steps=jnp.ones(2, FLOAT))
    with pytest.raises(ValueError, match="`num_steps`"):
        fixed_cg(mv, b, num_steps=-1)
    with pytest.raises(ValueError, match="`matvec` must be a callable"):
        fixed_cg(A, b, num_steps=2)
    with pytest.raises(ValueError, match="`rank`"):
        pivoted_cholesky(jnp.ones(3, FLOAT), lambda i: A[i], rank=4)
    with pytest.raises(ValueError, match="`row` must return"):
        pivoted_cholesky(jnp.ones(3, FLOAT), lambda i: A, rank=2)
    with pytest.raises(ValueError, match="`shift`"):
        woodbury_preconditioner(jnp.ones((3, 1), FLOAT), 0.0)
    pre = woodbury_preconditioner(jnp.ones((3, 1), FLOAT), 1.0)
    with pytest.raises(ValueError, match="`v`"):
        woodbury_solve(pre, jnp.ones(4, FLOAT))
    with pytest.raises(ValueError, match="`key`"):
        woodbury_sample(pre, key=1, num_samples=2)
