"""State-space (Kalman) GPs: SDE forms of the kernels, filter/smoother = dense exact GP.

References: the dense exact GP of `jaxkern.gp` (Cholesky), with the kernel evaluated pair by
pair (a plain callable, so the Gram matrix is not the modules' one-matrix-product fast path,
whose r^2 cancellation costs ~1e-11 on Matérn-1/2 at |t| ~ 100); SciPy's
`solve_continuous_lyapunov` and `expm` for the SDE forms; a NumPy float64 dense GP built with
SciPy for the non-reversible SDE.
"""

from __future__ import annotations

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg as sl

from jaxkern.gp import (
    functional_tucker,
    functional_tucker_predict,
    gp_posterior,
    kalman_filter,
    kalman_log_marginal_likelihood,
    kalman_posterior,
    log_marginal_likelihood,
    rts_smoother,
)
from jaxkern.kernels import (
    RBF,
    Constant,
    Cosine,
    Matern,
    Matern12,
    Matern32,
    Matern52,
    Matern72,
    Periodic,
    StateSpace,
    cosine_state_space,
    matern_state_space,
    product_state_space,
    state_space_from_sde,
    sum_state_space,
)

from ..helpers import FLOAT, X64, assert_close, check_transforms


def _matern_half(p: int, ell, var):
    """Matérn-(p + 1/2) in closed form, R&W (2006) eq. 4.16, as an independent reference."""
    coef = [math.factorial(p) * math.factorial(p + i)
            / (math.factorial(2 * p) * math.factorial(i) * math.factorial(p - i))
            for i in range(p + 1)]

    def k(x, y):
        s = math.sqrt(2 * p + 1) * jnp.abs(x[0] - y[0]) / ell
        return var * jnp.exp(-s) * sum(c * (2 * s) ** (p - i) for i, c in enumerate(coef))

    return k


def _pairwise(k):
    """The kernel as a plain callable: `gram` then evaluates it pair by pair."""
    return lambda x, y: k(x, y)


def _data(n, seed=0, span=100.0):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, span, n))
    y = np.sin(t / 3) + 0.3 * rng.standard_normal(n)
    tt = rng.uniform(-5, span + 5, 40)
    return (jnp.asarray(t, FLOAT), jnp.asarray(y, FLOAT), jnp.asarray(tt, FLOAT))


# --------------------------------------------------------------------------- SDE forms


@pytest.mark.parametrize("p", [0, 1, 2, 3, 5, 7])
def test_matern_form_lyapunov_and_kernel(p):
    ss = matern_state_space(p, lengthscale=0.7, variance=1.3)
    F, L, Qc = (np.asarray(a, np.float64) for a in (ss.F, ss.L, ss.Qc))
    # Reference: SciPy's Lyapunov solver on the declared F, L, Qc.
    P_ref = sl.solve_continuous_lyapunov(F, -L @ Qc @ L.T)
    assert_close(ss.Pinf, P_ref, rtol64=1e-10, rtol32=1e-4, atol64=1e-12, atol32=1e-5)
    # k(tau) = H e^{F tau} Pinf H^T against the closed form (R&W 4.16) and SciPy's expm.
    for tau in (0.0, 0.05, 0.6, 2.5):
        A = ss.transition(jnp.asarray(tau, FLOAT))
        assert_close(A, sl.expm(F * tau), rtol64=1e-12, rtol32=1e-4, atol64=1e-13, atol32=1e-5)
        k = _matern_half(p, 0.7, 1.3)(jnp.zeros(1, FLOAT), jnp.full(1, tau, FLOAT))
        assert_close(ss.H @ A @ ss.Pinf @ ss.H, k, rtol64=1e-12, rtol32=1e-4, atol64=1e-14)


def test_kernel_modules_declare_forms():
    # Same objects as jaxkern.kernels: the modules' own values are the reference.
    kernels = [Matern12(0.5), Matern32(0.5), Matern52(0.5), Matern72(0.5), Matern(5.5, 0.5),
               Cosine(period=0.8, variance=2.0), Constant(0.4), 3.0 * Matern32(1.5),
               Matern52(0.5) * Cosine(period=0.8) + Constant(0.4) + Matern12(2.0)]
    x0 = jnp.zeros(1, FLOAT)
    for k in kernels:
        ss = k.state_space()
        F, L, Qc, P = (np.asarray(a, np.float64) for a in (ss.F, ss.L, ss.Qc, ss.Pinf))
        lyap = F @ P + P @ F.T + L @ Qc @ L.T
        np.testing.assert_allclose(lyap, 0, atol=1e-10 if X64 else 1e-4)
        for tau in (0.0, 0.3, 1.7):
            A = ss.transition(jnp.asarray(tau, FLOAT))
            assert_close(A, sl.expm(F * tau), rtol64=1e-11, rtol32=1e-4, atol64=1e-12,
                         atol32=1e-5)
            assert_close(ss.H @ A @ ss.Pinf @ ss.H, k(x0, jnp.full(1, tau, FLOAT)),
                         rtol64=1e-12, rtol32=1e-5, atol64=1e-14, atol32=1e-6)


def test_non_reversible_cross_covariances():
    # tinygp #277: a non-reversible state (F Pinf != Pinf F^T) needs A Pinf for the forward
    # cross-covariance and Pinf A^T for the backward one. Reference: derivatives of the dense
    # kernels (jax.grad of the modules): the second state of the cosine form is -f'/omega and
    # that of the Matern-3/2 form f'/lambda, so
    # cov(f(t + tau), x_2(t)) = -k'(tau) * c and cov(f(t), x_2(t + tau)) = k'(tau) * c.
    tau = 0.37
    for k, c in [(Cosine(period=0.8, variance=2.0), 0.8 / (2 * math.pi)),
                 (Matern32(0.6), -0.6 / math.sqrt(3))]:
        ss = k.state_space()
        A = ss.transition(jnp.asarray(tau, FLOAT))
        dk = jax.grad(lambda s: k(jnp.zeros(1, FLOAT), jnp.full(1, s, FLOAT)))(
            jnp.asarray(tau, FLOAT))
        assert_close((A @ ss.Pinf)[0, 1], c * dk, rtol64=1e-12, rtol32=1e-5)
        assert_close((ss.Pinf @ A.T)[1, 0], c * dk, rtol64=1e-12, rtol32=1e-5)
        assert_close((ss.Pinf @ A.T)[0, 1], -c * dk, rtol64=1e-12, rtol32=1e-5)
    prod = (Matern32(0.6) * Cosine(period=0.8)).state_space()
    assert float(jnp.abs(prod.F @ prod.Pinf - prod.Pinf @ prod.F.T).max()) > 1.0


def _driven_sde():
    """A latent OU process driving a response one way: dx1 = -a x1 + w, dx2 = -b x2 + c x1;
    observe the response x2. Non-reversible."""
    F = np.array([[-1.3, 0.0], [2.0, -0.4]])
    L = np.array([[1.0], [0.0]])
    Qc = np.array([[0.8]])
    H = np.array([0.0, 1.0])
    return F, L, Qc, H


def test_non_reversible_sde_equals_dense_numpy():
    F, L, Qc, H = _driven_sde()
    ss = state_space_from_sde(*(jnp.asarray(a, FLOAT) for a in (F, L, Qc, H)))
    P = sl.solve_continuous_lyapunov(F, -L @ Qc @ L.T)
    assert_close(ss.Pinf, P, rtol64=1e-12, rtol32=1e-5, atol64=1e-14)
    assert np.abs(F @ P - P @ F.T).max() > 0.1  # genuinely non-reversible
    t, y, tt = _data(60, seed=3, span=10.0)
    tn, yn, ttn = (np.asarray(a, np.float64) for a in (t, y, tt))

    # Reference: dense NumPy GP with cov(f(s), f(u)) = H e^{F(s-u)} P H^T for s >= u and
    # H P e^{F^T(u-s)} H^T otherwise; e^{F tau} from F's eigendecomposition (distinct
    # eigenvalues), checked against SciPy's expm.
    lam, V = np.linalg.eig(F)
    Vinv = np.linalg.inv(V)
    assert np.allclose((V * np.exp(lam * 0.7)) @ Vinv, sl.expm(0.7 * F), atol=1e-14)

    def cov(a, b):
        d = a[:, None] - b[None, :]
        E = np.einsum("ik,...k,kj->...ij", V, np.exp(lam * np.abs(d)[..., None]), Vinv).real
        fwd = np.einsum("i,...ij,jk,k->...", H, E, P, H)
        bwd = np.einsum("i,ij,...kj,k->...", H, P, E, H)
        return np.where(d >= 0, fwd, bwd)

    noise = 0.05
    K = cov(tn, tn) + noise * np.eye(60)
    lml = -0.5 * yn @ np.linalg.solve(K, yn) - 0.5 * np.linalg.slogdet(K)[1] - 30 * math.log(
        2 * math.pi)
    Ks = cov(ttn, tn)
    mean = Ks @ np.linalg.solve(K, yn)
    var = np.diag(cov(ttn, ttn)) - np.einsum("ij,ji->i", Ks, np.linalg.solve(K, Ks.T))
    @jax.jit
    def ours(ss):
        return [(kalman_log_marginal_likelihood(ss, t, y, noise=noise, parallel=parallel),
                 kalman_posterior(ss, t, y, tt, noise=noise, parallel=parallel))
                for parallel in (False, True)]

    for got, post in ours(ss):
        assert_close(got, lml, rtol64=1e-10, rtol32=1e-4)
        assert_close(post.mean, mean, rtol64=1e-9, rtol32=1e-3, atol64=1e-10, atol32=1e-3)
        assert_close(post.variance, var, rtol64=1e-9, rtol32=1e-3, atol64=1e-10, atol32=1e-3)


# --------------------------------------------------------------------------- the bars


def _matern_p5(th):
    # Matern(5.5) built outside any trace, so that its `nu` stays concrete under jit.
    return eqx.tree_at(lambda k: (k.lengthscale, k.variance), _MATERN_P5, (th[0], th[1]))


_MATERN_P5 = Matern(5.5)


def _cases():
    # (name, state-space kernel builder, pairwise reference builder), params = (ell, var).
    def mod(cls):
        return lambda th: cls(th[0], th[1])

    return [
        ("matern12", mod(Matern12), lambda th: _pairwise(Matern12(th[0], th[1]))),
        ("matern32", mod(Matern32), lambda th: _pairwise(Matern32(th[0], th[1]))),
        ("matern52", mod(Matern52), lambda th: _pairwise(Matern52(th[0], th[1]))),
        ("matern72", mod(Matern72), lambda th: _pairwise(Matern72(th[0], th[1]))),
        # p = 5 through the any-order Matern module; reference: the closed form (R&W 4.16).
        ("matern_p5", _matern_p5, lambda th: _matern_half(5, th[0], th[1])),
        ("sum", lambda th: Matern52(th[0], th[1]) + Matern12(4 * th[0], 0.3 * th[1]),
         lambda th: _pairwise(Matern52(th[0], th[1]) + Matern12(4 * th[0], 0.3 * th[1]))),
    ]


def _check_against_dense(make, reference, n, full=True, parallel_modes=(False, True)):
    """LML, its gradient (lengthscale, variance, noise), posterior mean and variance at test
    and training times = jaxkern.gp's dense GP; sequential = parallel scan. One jitted program
    per side (compilation dominates at these sizes)."""
    t, y, tt = _data(n, span=n / 10)
    t_all = jnp.concatenate([tt, t])
    params = jnp.asarray([2.0, 0.8, 0.1], FLOAT)

    @jax.jit
    def ours(th):
        out = []
        for parallel in parallel_modes:
            def lml(th):
                return kalman_log_marginal_likelihood(make(th[:2]), t, y, noise=th[2],
                                                      parallel=parallel)

            # The fast variant skips the parallel gradient (the slow bar checks it): its
            # compilation is the longest of all here.
            val, grad = (jax.value_and_grad(lml)(th) if full or not parallel
                         else (lml(th), None))
            post = kalman_posterior(make(th[:2]), t, y, t_all, noise=th[2], parallel=parallel)
            out.append((val, grad, post.mean, post.variance))
        return out

    @jax.jit
    def dense(th):
        val, grad = jax.value_and_grad(lambda th: log_marginal_likelihood(
            reference(th[:2]), t[:, None], y, noise=th[2], jitter=0.0))(th)
        post = gp_posterior(reference(th[:2]), t[:, None], y, t_all[:, None], noise=th[2],
                            jitter=0.0)
        return val, grad, post.mean, post.variance

    ref = dense(params)
    results = ours(params)
    for got in results:
        assert_close(got[0], ref[0], rtol64=1e-10, rtol32=2e-4)
        if got[1] is not None:
            assert_close(got[1], ref[1], rtol64=1e-10, rtol32=1e-2, atol32=1e-1)
        for g, r in zip(got[2:], ref[2:]):
            assert_close(g, r, rtol64=1e-10, rtol32=2e-3, atol64=1e-10, atol32=2e-3)
    if len(results) == 1:
        return
    seq, par = results
    # Sequential = parallel scan, for the LML and for conditioning (tinygp #280).
    assert_close(par[0], seq[0], rtol64=1e-12, rtol32=1e-5)
    for p, q in zip(par[2:], seq[2:]):
        assert_close(p, q, rtol64=1e-10, rtol32=1e-3, atol64=1e-12, atol32=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name,make,reference", _cases(), ids=[c[0] for c in _cases()])
def test_equals_dense_gp_n1000(name, make, reference):
    """The issue's bar: 1e-10 (float64) at n = 1000 for nu = 1/2 .. 7/2, p = 5 and a sum, for
    the sequential and the parallel scan."""
    _check_against_dense(make, reference, 1000 if X64 else 200)


def test_equals_dense_gp():
    """Fast equivalent of the n = 1000 bar: a sum kernel (block-diagonal state of a Matérn-5/2
    and a Matérn-1/2), n = 200."""
    _check_against_dense(*{c[0]: c for c in _cases()}["sum"][1:], 200, full=False)


@pytest.mark.slow  # fast equivalent: test_equals_dense_gp compares both modes' posteriors
def test_filter_and_smoother_sequential_equal_parallel():
    k = Matern32(0.6) * Cosine(period=0.8) + Constant(0.5)
    t, y, _ = _data(300, span=30.0)

    @jax.jit
    def run(k):
        ss = k.state_space()
        f_seq = kalman_filter(ss, t, y, noise=0.1)
        f_par = kalman_filter(ss, t, y, noise=0.1, parallel=True)
        return (f_seq, f_par, rts_smoother(ss, t, f_seq),
                rts_smoother(ss, t, f_seq, parallel=True))

    f_seq, f_par, s_seq, s_par = run(k)
    for a, b in zip(f_par, f_seq):
        assert_close(a, b, rtol64=1e-10, rtol32=1e-3, atol64=1e-11, atol32=1e-4)
    for a, b in zip(s_par, s_seq):
        assert_close(a, b, rtol64=1e-10, rtol32=1e-3, atol64=1e-11, atol32=1e-4)


# --------------------------------------------------------------------------- times


@pytest.mark.slow
def test_unsorted_and_duplicate_times():
    # Reference: the dense GP (it needs no ordering and takes repeated inputs with noise > 0).
    t, y, tt = _data(50, span=10.0)
    t = jnp.concatenate([t, t[:7], t[10:12]])  # 9 repeated times
    y = jnp.concatenate([y, y[:7] + 0.2, y[10:12] - 0.1])
    perm = np.random.default_rng(1).permutation(t.shape[0])
    t, y = t[perm], y[perm]
    tt = jnp.concatenate([tt, t[:3]])  # test times that coincide with training times
    k = Matern52(1.1, 0.9)
    lml = log_marginal_likelihood(_pairwise(k), t[:, None], y, noise=0.05, jitter=0.0)
    ref = gp_posterior(_pairwise(k), t[:, None], y, tt[:, None], noise=0.05, jitter=0.0)
    @jax.jit
    def ours(t, y, tt):
        # The sequential LML and the parallel posterior (the sort and the merge of test
        # times are shared by both modes; seq = par is checked in test_equals_dense_gp).
        return [kalman_log_marginal_likelihood(k, t, y, noise=0.05),
                kalman_posterior(k, t, y, tt, noise=0.05, parallel=True)]

    got, *posts = ours(t, y, tt)
    assert_close(got, lml, rtol64=1e-10, rtol32=1e-4)
    for post in posts:
        assert_close(post.mean, ref.mean, rtol64=1e-9, rtol32=1e-3, atol64=1e-10, atol32=1e-3)
        assert_close(post.variance, ref.variance, rtol64=1e-9, rtol32=1e-3, atol64=1e-10,
                     atol32=1e-3)


def test_sorted_fast_path_equals_sort():
    # The LML skips the sort at run time when the times are already non-decreasing (eager:
    # a concrete check; under jit: lax.cond; under vmap: both branches). Reference: the same
    # data shuffled, which takes the sorting branch: values and gradients in the kernel, the
    # times, the targets and the noise agree (the gradients in t and y permuted back).
    t, y, _ = _data(30, span=6.0)
    t = t.at[5].set(t[4])  # a repeated time: the stable sort keeps its order
    perm = np.random.default_rng(3).permutation(30)

    def lml(k, t, y, noise):
        return kalman_log_marginal_likelihood(k, t, y, noise=noise)

    k, noise = Matern32(0.9, 1.1), jnp.asarray(0.2, FLOAT)
    grad = jax.value_and_grad(lml, argnums=(0, 1, 2, 3))
    for fn in (grad, jax.jit(grad)):
        v_sorted, g_sorted = fn(k, t, y, noise)
        v_shuffled, g_shuffled = fn(k, t[perm], y[perm], noise)
        assert_close(v_sorted, v_shuffled, rtol64=1e-13, rtol32=1e-6)
        inverse = np.argsort(perm)
        for a, b in ((g_sorted[0].lengthscale, g_shuffled[0].lengthscale),
                     (g_sorted[0].variance, g_shuffled[0].variance),
                     (g_sorted[1], g_shuffled[1][inverse]), (g_sorted[2], g_shuffled[2][inverse]),
                     (g_sorted[3], g_shuffled[3])):
            assert_close(a, b, rtol64=1e-10, rtol32=1e-4, atol64=1e-12, atol32=1e-4)
    # vmap over times, one row sorted and one shuffled: the same as one call each.
    ts, ys = jnp.stack([t, t[perm]]), jnp.stack([y, y[perm]])
    batched = jax.vmap(lambda t, y: lml(k, t, y, noise))(ts, ys)
    assert_close(batched, jnp.stack([lml(k, t, y, noise), v_shuffled]), rtol64=1e-13,
                 rtol32=1e-6)


def test_per_observation_noise():
    t, y, tt = _data(40, span=8.0)
    noise = jnp.linspace(0.01, 0.3, 40, dtype=FLOAT)
    k = Matern32(0.7)
    # Reference: dense GP with K + diag(noise) (jaxkern.gp takes a scalar noise, so here the
    # diagonal goes into the kernel as a Kronecker delta on the index).
    K = np.asarray(k.gram(t[:, None], t[:, None]), np.float64) + np.diag(np.asarray(noise))
    yn = np.asarray(y, np.float64)
    lml = -0.5 * yn @ np.linalg.solve(K, yn) - 0.5 * np.linalg.slogdet(K)[1] - 20 * math.log(
        2 * math.pi)
    got = jax.jit(lambda noise: kalman_log_marginal_likelihood(k, t, y, noise=noise))(noise)
    assert_close(got, lml, rtol64=1e-11, rtol32=1e-4)


# --------------------------------------------------------------------------- transforms


def test_transforms():
    # jit = eager, vmap over targets = a loop, and the gradient in the kernel, the times (through
    # the sort and the discretisation), the targets and the noise = finite differences.
    t, y, tt = _data(20, span=5.0)
    t = t[np.random.default_rng(2).permutation(20)]

    def lml(k, t, y, noise):
        return kalman_log_marginal_likelihood(k, t, y, noise=noise)

    k, noise = Matern52(0.8, 1.2), jnp.asarray(0.1, FLOAT)
    ys = jnp.stack([y, -y, 0.5 * y])
    check_transforms(lml, (k, t, y, noise), batch=(k, t, ys, noise),
                     in_axes=(None, None, 0, None),
                     # float32's finite-difference step (1e-2) would reorder close times
                     grad_argnums=(0, 1, 2, 3) if X64 else (0, 2, 3))
    post = jax.jit(jax.vmap(lambda y: kalman_posterior(k, t, y, tt[:5], noise=0.1,
                                                       parallel=True)))(ys)
    for i in range(3):
        one = kalman_posterior(k, t, ys[i], tt[:5], noise=0.1, parallel=True)
        assert_close(post.mean[i], one.mean, rtol32=1e-4, atol32=1e-5, atol64=1e-14)
        assert_close(post.variance[i], one.variance, rtol32=1e-4, atol32=1e-5, atol64=1e-14)


# --------------------------------------------------------------------------- errors


def test_bad_inputs():
    t, y, tt = _data(10, span=3.0)
    k = Matern32()
    with pytest.raises(ValueError, match="`t` must be finite"):
        kalman_log_marginal_likelihood(k, t.at[3].set(jnp.nan), y, noise=0.1)
    with pytest.raises(ValueError, match="`y` must be finite"):
        kalman_log_marginal_likelihood(k, t, y.at[0].set(jnp.inf), noise=0.1)
    with pytest.raises(ValueError, match="`t_test` must be finite"):
        kalman_posterior(k, t, y, tt.at[0].set(jnp.nan), noise=0.1)
    with pytest.raises(jax.errors.JaxRuntimeError, match="`t` must be finite"):  # under jit
        jax.jit(lambda t: kalman_log_marginal_likelihood(k, t, y, noise=0.1))(
            t.at[2].set(jnp.inf))
    with pytest.raises(ValueError, match="`t` must be 1-D"):
        kalman_log_marginal_likelihood(k, jnp.stack([t, t], 1), y, noise=0.1)
    with pytest.raises(ValueError, match="`y` must have 10 entries"):
        kalman_log_marginal_likelihood(k, t, y[:5], noise=0.1)
    with pytest.raises(ValueError, match="`noise` must be positive"):
        kalman_log_marginal_likelihood(k, t, y, noise=0.0)
    with pytest.raises(ValueError, match="`noise` must be a scalar or have shape"):
        kalman_log_marginal_likelihood(k, t, y, noise=jnp.ones(3))
    with pytest.raises(ValueError, match="`t` must be sorted"):
        kalman_filter(k.state_space(), t[::-1], y, noise=0.1)
    for bad in (RBF(), Periodic()):
        with pytest.raises(ValueError, match="has no exact state-space"):
            kalman_log_marginal_likelihood(bad, t, y, noise=0.1)
    with pytest.raises(ValueError, match="declares no state-space form"):
        kalman_log_marginal_likelihood(lambda a, b: jnp.sum(a * b), t, y, noise=0.1)
    with pytest.raises(ValueError, match="half-integer `nu`"):
        Matern(1.0).state_space()
    with pytest.raises(ValueError, match="concrete `nu`"):
        jax.grad(lambda kk: kalman_log_marginal_likelihood(kk, t, y, noise=0.1))(Matern(1.5))
    with pytest.raises(ValueError, match="`lengthscale` must be a scalar"):
        Matern32(lengthscale=jnp.ones(2)).state_space()
    with pytest.raises(ValueError, match="`order` must be an int"):
        matern_state_space(-1)
    with pytest.raises(ValueError, match="`F` must be square"):
        state_space_from_sde(jnp.ones((2, 3)), jnp.ones((2, 1)), jnp.ones((1, 1)), jnp.ones(2))


def test_float32_warns():
    t, y, _ = _data(10, span=3.0)
    from jaxkern import Float32PrecisionWarning

    with pytest.warns(Float32PrecisionWarning, match="Kalman filtering in float32"):
        jax.eval_shape(lambda: kalman_log_marginal_likelihood(
            Matern32(), t.astype(jnp.float32), y.astype(jnp.float32), noise=0.1))


def test_state_space_compose():
    a, b = matern_state_space(1), cosine_state_space(period=2.0)
    assert sum_state_space(a, b).dim == 4 and product_state_space(a, b).dim == 4
    assert isinstance(a, StateSpace)


# --------------------------------------------------------------------------- functional Tucker


def _planted_tensor(sigma):
    """A rank-(2, 2, 2) Tucker tensor of smooth functions on irregular grids in [0, 1]."""
    rng = np.random.default_rng(0)
    grids = [np.sort(rng.uniform(0, 1, i)) for i in (20, 16, 12)]
    U = [np.stack([np.sin(2 * np.pi * g * (1 + 0.5 * j)) + 0.3 * j for j in range(2)], 1)
         for g in grids]
    T = np.einsum("abc,ia,jb,kc->ijk", rng.standard_normal((2, 2, 2)), *U)
    observed = rng.uniform(size=T.shape) < 0.4
    noisy = T + sigma * rng.standard_normal(T.shape)
    idx = np.indices(T.shape).reshape(3, -1).T
    coords = np.stack([grids[k][idx[:, k]] for k in range(3)], 1)
    return coords, noisy.ravel(), T.ravel(), observed.ravel()


@pytest.mark.slow
def test_functional_tucker_recovers_planted_tensor():
    # Reference: the planted tensor and its noise (FunBaT's synthetic setting, Fang et al.
    # 2024, sec. 6.1): held-out entries are predicted to within 1.2x the noise RMSE.
    sigma = 0.1
    coords, noisy, truth, observed = _planted_tensor(sigma)
    fit = functional_tucker(jnp.asarray(coords[observed], FLOAT),
                            jnp.asarray(noisy[observed], FLOAT),
                            kernels=[Matern52(0.3)] * 3, ranks=[2, 2, 2],
                            key=jax.random.key(0), num_sweeps=20)
    held = ~observed
    pred = np.asarray(functional_tucker_predict(fit, jnp.asarray(coords[held], FLOAT)))
    rmse_noisy = np.sqrt(np.mean((pred - noisy[held]) ** 2))
    noise_rmse = np.sqrt(np.mean((noisy[held] - truth[held]) ** 2))
    assert rmse_noisy <= 1.2 * noise_rmse, (rmse_noisy, noise_rmse)
    assert np.sqrt(np.mean((pred - truth[held]) ** 2)) < 0.5 * sigma
    assert abs(float(jnp.sqrt(fit.noise)) - sigma) < 0.2 * sigma
    assert np.all(np.diff(fit.rmse[2:]) < 1e-3)  # the coordinate ascent settles


def test_functional_tucker_bad_inputs():
    c, y = jnp.zeros((5, 2)), jnp.zeros(5)
    with pytest.raises(ValueError, match="one entry per mode"):
        functional_tucker(c, y, kernels=[Matern32()], ranks=[1, 1], key=jax.random.key(0))
    with pytest.raises(ValueError, match="`y` must have shape"):
        functional_tucker(c, y[:3], kernels=[Matern32()] * 2, ranks=[1, 1],
                          key=jax.random.key(0))
    with pytest.raises(ValueError, match="`ranks` must be an int"):
        functional_tucker(c, y, kernels=[Matern32()] * 2, ranks=[0, 1], key=jax.random.key(0))
    with pytest.raises(ValueError, match="must be finite"):
        functional_tucker(c.at[0, 0].set(jnp.nan), y, kernels=[Matern32()] * 2, ranks=[1, 1],
                          key=jax.random.key(0))
