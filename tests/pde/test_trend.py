"""The solver's Legendre trend: universal kriging against a dense NumPy reference, exact
derivatives of polynomials, gradients, and a smooth non-periodic solution solved to 1e-6."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxkern.kernels import RBF
from jaxkern.pde import grid_derivatives, predict, predict_grid, solve

from ..helpers import FLOAT, X64


def _legendre_np(x, lo, hi, degree):
    t = 2 * (x - lo) / (hi - lo) - 1
    return np.polynomial.legendre.legvander(t, degree)


@pytest.mark.skipif(not X64, reason="K's conditioning (near 1e8) needs float64")
def test_interpolator_is_universal_kriging():
    # Reference: universal kriging by generalised least squares in NumPy float64,
    # beta = (P^T K^-1 P)^-1 P^T K^-1 u, mean = k*^T K^-1 (u - P beta) + p*^T beta, and its
    # derivative with the kernel's and the polynomials' derivatives (RBF, closed form).
    from jaxkern.pde._operators import interpolator, prior_inverse

    ell, jit = 0.25, 1e-6
    x = jnp.linspace(-0.5, 1.5, 25, dtype=jnp.float64)
    new = jnp.asarray([-0.3, 0.1, 0.77, 1.4], jnp.float64)
    u = jnp.sin(4 * x) + x**3
    k = RBF(lengthscale=ell)
    prior = prior_inverse(k, x, jit, 2)
    X, S, U = (np.asarray(a, np.float64) for a in (x, new, u))
    K = np.exp(-0.5 * (X[:, None] - X) ** 2 / ell**2)
    K += jit * np.eye(25)
    P = _legendre_np(X, X[0], X[-1], 2)
    Kinv_u, Kinv_P = np.linalg.solve(K, U), np.linalg.solve(K, P)
    beta = np.linalg.solve(P.T @ Kinv_P, P.T @ Kinv_u)
    lag = S[:, None] - X
    cross = [np.exp(-0.5 * lag**2 / ell**2), -lag / ell**2 * np.exp(-0.5 * lag**2 / ell**2)]
    t = 2 * (S - X[0]) / (X[-1] - X[0]) - 1
    dt = 2 / (X[-1] - X[0])
    p_new = [np.polynomial.legendre.legvander(t, 2),
             np.stack([0 * t, np.ones_like(t) * dt, 3 * t * dt], 1)]
    rtol = 1e-7
    np.testing.assert_allclose(np.asarray(prior.coef @ u), beta, rtol=rtol, atol=rtol)
    for order in (0, 1):
        ref = cross[order] @ np.linalg.solve(K, U - P @ beta) + p_new[order] @ beta
        got = interpolator(k, x, prior, new, order) @ u
        np.testing.assert_allclose(np.asarray(got), ref, rtol=rtol, atol=rtol * np.abs(ref).max())


@pytest.mark.skipif(not X64, reason="K's conditioning (near 1e8) needs float64")
def test_polynomials_up_to_the_degree_are_differentiated_exactly():
    # Golden: x^3 on a grid, with a stationary kernel that cannot represent it well. With a
    # cubic trend its derivatives are exact (up to round-off), without it they are not.
    x = jnp.linspace(0.0, 2.0, 30, dtype=jnp.float64)
    X = np.asarray(x, np.float64)
    k = [RBF(lengthscale=0.05)]
    exact = grid_derivatives(k, (x,), x**3, relative_jitter=1e-6, trend_degree=3)
    plain = grid_derivatives(k, (x,), x**3, relative_jitter=1e-6)
    tol = 1e-6
    np.testing.assert_allclose(np.asarray(exact.du[0]), 3 * X**2, atol=tol * 12)
    np.testing.assert_allclose(np.asarray(exact.d2u[0]), 6 * X, atol=tol * 12)
    assert np.abs(np.asarray(plain.d2u[0]) - 6 * X).max() > 1.0


@pytest.mark.skipif(not X64, reason="K's conditioning (near 1e8) needs float64")
def test_two_dimensional_trend_is_per_axis():
    # The 2-D prior is the product of the axes' (kernel + trend) priors: a product of two
    # cubics is reproduced exactly, and the mixed products of trend and kernel are kept.
    x, y = jnp.linspace(0, 1, 12, dtype=jnp.float64), jnp.linspace(-1, 1, 9, dtype=jnp.float64)
    U = (x**3)[:, None] * (y**2 - y)[None, :] + jnp.sin(7 * x)[:, None] * y[None, :]
    k = [RBF(lengthscale=0.15), RBF(lengthscale=0.3)]
    d = grid_derivatives(k, (x, y), U, relative_jitter=1e-8, trend_degree=3)
    X, Y = np.meshgrid(np.asarray(x, np.float64), np.asarray(y, np.float64), indexing="ij")
    np.testing.assert_allclose(np.asarray(d.d2u[1]), 2 * X**3, atol=1e-6)


@pytest.mark.skipif(not X64, reason="finite differences need float64")
def test_evidence_gradient_with_a_trend():
    from jaxkern.pde._collocation import evidence
    from jaxkern.pde._problem import make_problem

    x = jnp.linspace(0, 1, 12)

    def residual(u, du, d2u, X):
        return d2u[0] + 0.5 * du[0] - X[0] ** 2

    prob = make_problem(residual, (x,), 1e-6, 3)
    U = jnp.zeros(12).at[-1].set(1.0)

    @jax.jit
    def J(log_ell):
        return evidence((RBF(lengthscale=jnp.exp(log_ell)),), U, prob, 20, 1e-13)[0]

    # eps 1e-3: J carries K's conditioning, and smaller steps measure its round-off
    check_grads(J, (jnp.log(0.3),), order=1, modes=["rev"], eps=1e-3, atol=1e-4, rtol=1e-4)


@pytest.mark.slow
@pytest.mark.skipif(not X64, reason="the solver needs float64 (it warns in float32)")
def test_smooth_trend_plus_frequency_is_solved_with_a_trend():
    # Issue 26 item 4: a smooth non-periodic trend stopped every problem near 1e-4. Measured
    # here: 5.9e-4 without the trend (trend_degree=None), 9.5e-6 with a cubic one, which the
    # default trend_degree="auto" chooses as the stationary fit misses the boundary values.
    x = jnp.linspace(0.0, 2 * math.pi / 5, 80)

    def truth(x):
        return jnp.sin(30.0 * x) + 0.5 * x**2 + jnp.exp(x) / (1 + x**2)

    second = jax.vmap(jax.grad(jax.grad(truth)))
    sol = solve(lambda u, du, d2u, X: d2u[0] - second(X[0]), (x,),
                [(truth(x[0]), truth(x[-1]))], num_steps=30, chunk_size=30)
    xt = jnp.linspace(0.0, 2 * math.pi / 5, 301)
    err = float(jnp.linalg.norm(predict_grid(sol, (xt,)) - truth(xt)) / jnp.linalg.norm(truth(xt)))
    assert sol.trend_degree == 3
    assert "missed the boundary values by" in sol.stop_reason
    assert err < 5e-5
    # predict at scattered points carries the trend too
    np.testing.assert_allclose(np.asarray(predict(sol, xt[::7, None])),
                               np.asarray(predict_grid(sol, (xt[::7],))), rtol=1e-8, atol=1e-8)


def test_bad_trend_degree():
    x = jnp.linspace(0, 1, 5, dtype=FLOAT)
    residual = lambda u, du, d2u, X: d2u[0]  # noqa: E731
    for bad in (-1, 1.5, True, 3, "cubic"):  # 3 needs 6 points
        with pytest.raises(ValueError, match="trend_degree"):
            solve(residual, (x,), [(0.0, 1.0)], num_steps=0, trend_degree=bad)
    with pytest.raises(ValueError, match="trend_degree"):
        grid_derivatives([RBF()], (x,), x, trend_degree="cubic")


@pytest.mark.skipif(not X64, reason="K's conditioning (near 1e8) needs float64")
@pytest.mark.parametrize("lengthscale", [10.0, 1000.0])
@pytest.mark.parametrize("degree", [0, 1, 3])
def test_boundary_values_hold_on_the_posterior_mean_of_a_near_pure_cosine(degree, lengthscale):
    # Issue 26 item 4: after pruning, one near-pure cosine leaves the trend's coefficients to
    # directions of U that neither the PDE nor U's own boundary values pin; with the boundary
    # values on U this gave 1e-2 to 0.3 (docs/pde.md). On the posterior mean: 2e-8 to 3e-7
    # with Dirichlet rows alone at the boundary points, 1e-8 to 1.4e-6 with the PDE collocated
    # there too (ghost nodes; these kernels are near-singular, and that solve's extra unknowns
    # are pinned through second derivatives).
    from jaxkern.kernels import StudentTMixture

    x = jnp.linspace(0.0, 2 * math.pi / 5, 80)
    kernel = StudentTMixture(weights=jnp.ones(1), means=jnp.full((1, 1), 100 / (2 * math.pi)),
                             lengthscales=jnp.full((1, 1), lengthscale))
    sol = solve(lambda u, du, d2u, X: d2u[0] + 1e4 * jnp.sin(100 * X[0]), (x,),
                [(0.0, jnp.sin(100 * x[-1]))], (kernel,), num_steps=0, trend_degree=degree)
    xt = jnp.linspace(0.0, 2 * math.pi / 5, 301)
    truth = jnp.sin(100 * xt)
    err = float(jnp.linalg.norm(predict_grid(sol, (xt,)) - truth) / jnp.linalg.norm(truth))
    assert err < 3e-6
    ends = predict_grid(sol, (x[jnp.array([0, -1])],))
    np.testing.assert_allclose(np.asarray(ends), [0.0, float(jnp.sin(100 * x[-1]))], atol=1e-6)


def _sin_minus_quadratic(x):
    """sin 125x - 2(x - 0.5)^2: on [0, 1] at 100 points, 5 points a period, as bench_pde's
    sin(500x) - 2(x - 0.5)^2 at 400."""
    return jnp.sin(125 * x) - 2 * (x - 0.5) ** 2


# One Student-t component at its exact frequency, envelope 1 (weights, means, lengthscales).
_SIN_MINUS_QUADRATIC_KERNEL = ([1.0], [125 / (2 * math.pi)], [1.0])


@pytest.mark.skipif(not X64, reason="K's conditioning (near 1e8) needs float64")
def test_pde_is_collocated_at_the_boundary_points_too():
    # Issue 26 item 4: with the boundary points holding only the Dirichlet values, nothing held
    # the mean's second derivative in the end cells, and their PDE residual was most of the
    # error on sin(500x) - 2(x - 0.5)^2 (2.9e-6). With a ghost node beyond each end the PDE
    # holds at the boundary points too. Measured here: the residual at x = 0 and 1 was 7.8e-5
    # and 6.9e-5 of the source's size, the error 5.2e-6; now 0 (round-off) and 4.0e-7.
    truth, x = _sin_minus_quadratic, jnp.linspace(0.0, 1.0, 100)
    second = jax.vmap(jax.grad(jax.grad(truth)))
    sol, error = _trend_collocation(truth, x, *_SIN_MINUS_QUADRATIC_KERNEL)
    assert sol.ghost_nodes == 1
    h = float(x[1] - x[0])
    support = np.asarray(sol.support_axes[0])
    np.testing.assert_allclose(support[[0, -1]], [-h, 1 + h], rtol=1e-12, atol=1e-12)
    assert sol.grid_values.shape == (102,) and sol.values.shape == (100,)
    np.testing.assert_allclose(np.asarray(sol.values), np.asarray(predict_grid(sol, (x,))),
                               rtol=1e-12, atol=1e-12)
    d2 = jax.vmap(jax.grad(jax.grad(lambda s: predict(sol, s[None, None])[0])))
    ends = jnp.array([0.0, 1.0])
    scale = float(jnp.max(jnp.abs(second(x))))
    np.testing.assert_allclose(np.asarray(d2(ends) - second(ends)) / scale, 0.0, atol=1e-8)
    np.testing.assert_allclose(np.asarray(predict(sol, ends[:, None])), truth(ends), atol=1e-9)
    assert error(sol) < 1e-6


@pytest.mark.skipif(not X64, reason="K's conditioning (near 1e8) needs float64")
def test_residual_of_the_grid_only_keeps_the_boundary_rows():
    # A residual that closes over arrays of the grid's shape cannot be evaluated one node
    # beyond the domain: the solve keeps the boundary points' Dirichlet rows (no ghost nodes)
    # and says so in the solution.
    x = jnp.linspace(0.0, 1.0, 100)
    source = jax.vmap(jax.grad(jax.grad(_sin_minus_quadratic)))(x)
    sol, error = _trend_collocation(_sin_minus_quadratic, x, *_SIN_MINUS_QUADRATIC_KERNEL,
                                    residual=lambda u, du, d2u, X: d2u[0] - source)
    assert sol.ghost_nodes == 0 and sol.grid_values.shape == (100,)
    assert error(sol) < 1e-4  # 5.2e-6 measured: the Dirichlet rows alone


def test_ghost_nodes_are_checked():
    from jaxkern.pde import PDESolution, prune

    x = jnp.linspace(0.0, 1.0, 10, dtype=FLOAT)
    with pytest.raises(ValueError, match="ghost_nodes"):  # no trend
        PDESolution((x,), jnp.zeros(12, FLOAT), (RBF(),), ghost_nodes=1)
    with pytest.raises(ValueError, match="ghost_nodes"):
        PDESolution((x,), jnp.zeros(14, FLOAT), (RBF(),), ghost_nodes=2, trend_degree=3)
    with pytest.raises(ValueError, match="grid_values"):
        PDESolution((x,), jnp.zeros(10, FLOAT), (RBF(),), ghost_nodes=1, trend_degree=3)
    sol = PDESolution((x,), jnp.zeros(12, FLOAT), (RBF(),), ghost_nodes=1, trend_degree=3)
    assert sol.values.shape == (10,) and sol.support_axes[0].shape == (12,)
    source = jnp.ones(10, FLOAT)  # held on the domain's grid: cannot run on the ghost nodes
    with pytest.raises(ValueError, match="residual"):
        prune(sol, residual=lambda u, du, d2u, X: d2u[0] - source)


# The kernel `solve(..., trend_degree=3, prune_tol=0)` fits on bench_pde's multi-scale problem
# (u = sin x + 0.1 sin 20x + 0.05 sin 100x on [0, 1], 900 points; 92 L-BFGS steps, float64),
# printed to 17 digits: its collocation solution is 2.4e-8 from the truth.
_MULTISCALE_WEIGHTS = [
    3.8575403208805207e-10, 2.1177611607516257e-09, 2.5609096438713613e-08,
    1.8694803322433758e-05, 1.3736554216158447e-08, 8.1320551971492288e-10,
    8.4614772652393823e-10, 8.6699584686385754e-10, 9.0998058912568926e-10,
    9.9053677876608217e-10, 1.1203245225199156e-09, 1.2627155591285158e-09,
    1.5041572764185464e-09, 2.6963536604934892e-09, 1.4170972646609220e-08,
    9.6368838159642151e-06, 3.6899946585979021e-10, 4.1258181111532540e-10,
    4.3821613817040163e-10, 5.1310908685863891e-10, 6.0959264236140971e-10,
    6.0038097147118355e-10, 5.0377118365381971e-10, 5.8786358043659720e-10,
    6.5210238776378085e-10, 5.3444797061110677e-10, 4.5318606960554779e-10,
    5.6356501761059605e-10, 4.4255771931884220e-10, 5.5582565565955446e-12,
]
_MULTISCALE_MEANS = [
    0.0, 1.3875179780039704, 2.463596329074214, 3.1805242327995624, 2.1451902438182704,
    4.843468005225495, 6.823859605140662, 7.869931561108148, 8.531147675502119,
    9.414810080948266, 10.164408118790298, 11.351539359009994, 12.920329317025361,
    14.9802587207605, 17.379347355311015, 15.918049528314489, 19.300153298643853,
    19.84400434992587, 19.36876497043182, 19.825279899320766, 20.466993863801616,
    21.418697271922728, 22.62044609700909, 24.355093767043595, 24.569957468051303,
    25.2959519066091, 26.216137618546203, 26.982829202263453, 27.146781600869176,
    13.932765217774323,
]
_MULTISCALE_LENGTHSCALES = [
    8.2496859577091573e02, 2.1296758148869053e00, 1.7650088886854876e-01,
    3.6925602977842914e01, 1.6875167446404815e-01, 1.7149663482536287e-01,
    5.4620698833319291e-02, 6.9075563827500810e-02, 7.6240973685217941e-02,
    7.6328265358770991e-02, 7.3807678441901739e-02, 7.4291025305051800e-02,
    7.9399998258878821e-02, 9.2090199578370530e-02, 2.6487305690128965e-01,
    5.9956370640592212e01, 8.1649254715756597e-02, 1.1842043913104609e-01,
    1.4660867567977143e-01, 1.2237180166315806e-01, 1.4657931521783138e-01,
    1.9957945217994735e-01, 2.2720675755601236e-01, 2.9227894511134705e-01,
    2.9865491457407800e-01, 3.4192562249731751e-01, 4.4267067982601743e-01,
    1.2689189566548498e00, 1.5765214516421221e01, 2.3995714428500085e09,
]


def _trend_collocation(truth, x, weights, means, lengthscales, residual=None):
    """`solve(..., trend_degree=3)` of u'' = truth'' (or of `residual`) at the given Student-t
    mixture (no fit), and the relative L2 error of a solution on 1001 points."""
    from jaxkern.kernels import StudentTMixture

    second = jax.vmap(jax.grad(jax.grad(truth)))
    kernel = StudentTMixture(jnp.asarray(weights), jnp.asarray(means)[:, None],
                             jnp.asarray(lengthscales)[:, None])
    if residual is None:
        residual = lambda u, du, d2u, X: d2u[0] - second(X[0])  # noqa: E731
    full = solve(residual, (x,), [(truth(x[0]), truth(x[-1]))], (kernel,), num_steps=0,
                 trend_degree=3)
    xt = jnp.linspace(x[0], x[-1], 1001)

    def error(sol):
        return float(jnp.linalg.norm(predict_grid(sol, (xt,)) - truth(xt))
                     / jnp.linalg.norm(truth(xt)))

    return full, error


@pytest.mark.skipif(not X64, reason="K's conditioning (near 1e8) needs float64")
def test_pruning_that_loses_the_boundary_values_is_refused():
    # Issue 26 item 4: pruning this fit at tol 1e-3 keeps 2 components, whose collocation
    # misses the boundary values it holds on the mean by 3e-4 and ends 2.3e-4 from the truth;
    # the move between grid points (2.2e-4) was within tol, so it was kept. The boundary test
    # refuses it, and the next share threshold (1e-4) keeps 5 components at 1e-8.
    from jaxkern.pde import prune

    full, error = _trend_collocation(
        lambda x: jnp.sin(x) + 0.1 * jnp.sin(20 * x) + 0.05 * jnp.sin(100 * x),
        jnp.linspace(0.0, 1.0, 900),
        _MULTISCALE_WEIGHTS, _MULTISCALE_MEANS, _MULTISCALE_LENGTHSCALES,
    )
    assert error(full) < 1e-7
    pruned = prune(full, tol=1e-3)
    assert 1 < pruned.kernels[0].num_components < 30
    assert error(pruned) < 1e-7


# The kernel `solve(..., trend_degree=3, prune_tol=0)` fits on bench_pde's band problem
# u = sin 100x + 0.1x^2 on [0, 2 pi], 400 points (32 L-BFGS steps, float64), to 17 digits:
# its solution is 2.0e-6 from the truth, its off-grid residual 2.9e-9 (2.1e-6 and 2.7e-9 with
# the PDE collocated at the boundary points too).
_BAND_WEIGHTS = [
    0.003860010210555328, 0.0009671587838641252, 0.0003623395836629777, 0.0005164661223844301,
    0.0004750124902774644, 0.0004728946012994801, 0.0004722094127196218, 0.00047177015429641743,
    0.0004713151932650181, 0.000470785420065304, 0.00047015437899881006, 0.0004694135878252428,
    0.0004685338620870804, 0.0004674443492734968, 0.00046603518948937537, 0.00046412945227044926,
    0.00046141308598102014, 0.0004573708483852047, 0.000451789853969681, 0.00044935610262891544,
    0.0004304033278958182, 0.00038745713198475994, 0.0002864777526998428, 0.000310302130934243,
    0.0015003003582607472, 0.012695365957402924, 0.00013960873219244504, 0.00042739000285592035,
    0.0006979630005735777, 0.00023060481360446627,
]
_BAND_MEANS = [
    0.0, -4.658900593244399, 5.407456801928666, 1.7822932749082696, 2.58984091085016,
    3.276028101839677, 3.9380871307502607, 4.5958360080704646, 5.2523891962432145,
    5.907476334731165, 6.562208253523066, 7.218150000766789, 7.875272374523111,
    8.53114256716808, 9.18316448938988, 9.831788860537886, 10.4798801496295,
    11.126966529230454, 11.778589673445785, 12.444576863059451, 13.029270267171407,
    12.959042348898171, 10.206094447462046, 18.31509867983384, 15.83974851224906,
    15.915494898947383, 11.666918833339247, 8.914285151062336, 6.011985912653952,
    11.677319778974255,
]
_BAND_LENGTHSCALES = [
    5.3168489422340546e00, 4.9220995923174513e00, 6.6867045096588047e00, 2.6809723277100748e00,
    2.7261457358685095e00, 2.7426519349782885e00, 2.7438176083865979e00, 2.7433530025864172e00,
    2.7434625792988907e00, 2.7442181810599751e00, 2.7456940484514254e00, 2.7485352011773951e00,
    2.7543402198770481e00, 2.7653094363210746e00, 2.7840059882617405e00, 2.8150482584509606e00,
    2.8688997310657092e00, 2.9663640355466780e00, 3.1354352694819427e00, 3.4721606548594619e00,
    4.2276002603743734e00, 8.8882896993555676e00, 2.2522449709397410e01, 3.7316352437197463e02,
    2.4717066443249048e05, 1.5233343062385115e04, 7.6668245638554901e04, 4.7868921237511513e03,
    2.3888069869612696e03, 1.3077086279398799e06,
]


@pytest.mark.skipif(not X64, reason="K's conditioning (near 1e8) needs float64")
def test_pruning_that_raises_the_offgrid_residual_is_refused():
    # Issue 26 item 4: pruning this fit at tol 1e-3 keeps one component (a near-pure cosine,
    # with which the cubic trend is poorly determined): it moves the mean by 6.2e-5 (within
    # tol) and misses no boundary value, but ends 6.1e-5 from the truth, and its PDE residual
    # between the grid points grows from 2.8e-9 to 3.3e-7 (with the PDE collocated at the
    # boundary points: moves 4.5e-6, residual 2.7e-9 to 8.2e-8). That is refused at every
    # share threshold, and the unpruned solution comes back.
    from jaxkern.pde import prune

    full, error = _trend_collocation(
        lambda x: jnp.sin(100 * x) + 0.1 * x**2, jnp.linspace(0.0, 2 * math.pi, 400),
        _BAND_WEIGHTS, _BAND_MEANS, _BAND_LENGTHSCALES,
    )
    assert error(full) < 3e-6 and full.offgrid_residual < 1e-8
    pruned = prune(full, tol=1e-3)
    assert error(pruned) < 3e-6
    assert pruned.offgrid_residual <= 10 * full.offgrid_residual + 1e-8
