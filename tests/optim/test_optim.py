"""The one optimisation loop and the declared constraints: golden runs, chunking, stopping."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize

from jaxkern.kernels import RBF, Linear, SpectralMixture
from jaxkern.optim import constrain, constraints, minimize, parameter, unconstrain
from tests.helpers import FLOAT, X64, assert_close


def _rosenbrock(p):
    return jnp.sum(100.0 * (p[1:] - p[:-1] ** 2) ** 2 + (1 - p[:-1]) ** 2)


def test_adam_equals_a_hand_written_optax_loop():
    p0 = jnp.asarray([-1.2, 1.0, 0.5], FLOAT)
    opt = optax.adam(1e-2)
    p, state, ref = p0, opt.init(p0), []
    for _ in range(30):
        value, grad = jax.value_and_grad(_rosenbrock)(p)
        with jax.numpy_dtype_promotion("standard"):  # optax's int step count
            updates, state = opt.update(grad, state, p)
        p, _ = optax.apply_updates(p, updates), ref.append(float(value))
    result = minimize(_rosenbrock, p0, optimizer=opt, num_steps=30, chunk_size=7)
    assert isinstance(result.losses, np.ndarray) and result.losses.shape == (30,)
    assert_close(result.losses, ref, rtol64=1e-12, rtol32=1e-5)
    assert_close(result.params, p, rtol64=1e-12, rtol32=1e-5)
    assert (result.num_steps, result.converged, result.message) == (30, False, "num_steps reached")


@pytest.mark.skipif(not X64, reason="a 1e-8 optimum needs float64")
def test_lbfgs_reaches_the_minimum_scipy_finds():
    # Golden: the 2-D Rosenbrock minimum is (1, 1); scipy.optimize.minimize(rosen,
    # method="L-BFGS-B") reaches it from the classic start in about 35 iterations.
    x0 = np.array([-1.2, 1.0])
    ref = scipy.optimize.minimize(scipy.optimize.rosen, x0, method="L-BFGS-B", tol=1e-14)
    result = minimize(_rosenbrock, jnp.asarray(x0), optimizer=optax.lbfgs(), num_steps=200,
                      tol=1e-15, chunk_size=50)
    assert_close(result.params, [1.0, 1.0], rtol64=1e-8)
    assert_close(result.params, ref.x, rtol64=1e-5)
    assert result.converged and result.num_steps < 200


def test_chunking_does_not_change_the_result():
    p0 = jnp.asarray([-1.2, 1.0], FLOAT)
    one = minimize(_rosenbrock, p0, optimizer=optax.lbfgs(), num_steps=20, chunk_size=20)
    many = minimize(_rosenbrock, p0, optimizer=optax.lbfgs(), num_steps=20, chunk_size=3)
    assert_close(many.losses, one.losses, rtol64=1e-12, rtol32=1e-5)


def test_decrease_keeps_the_loss_monotone():
    # Adam with a large step overshoots; the accept rule refuses every step that goes up.
    p0 = jnp.asarray([-1.2, 1.0], FLOAT)
    result = minimize(_rosenbrock, p0, optimizer=optax.adam(0.5), num_steps=40, chunk_size=10,
                      accept="decrease")
    assert np.all(np.diff(result.losses) <= 0)
    plain = minimize(_rosenbrock, p0, optimizer=optax.adam(0.5), num_steps=40)
    assert np.any(np.diff(plain.losses) > 0)


def test_a_chunk_without_accepted_steps_ends_the_fit():
    result = minimize(lambda p: jnp.sum(p**2), jnp.ones(2, FLOAT), optimizer=optax.sgd(-1.0),
                      num_steps=50, chunk_size=5, accept="decrease")
    assert (result.num_steps, result.converged, result.message) == (5, True, "no step accepted")
    assert_close(result.params, jnp.ones(2))


def test_tol_stops_at_the_step_it_is_met():
    result = minimize(lambda p: jnp.sum((p - 3.0) ** 2), jnp.zeros(2, FLOAT),
                      optimizer=optax.lbfgs(), num_steps=50, tol=1e-6)
    assert result.message == "tol reached" and result.converged
    assert result.num_steps == len(result.losses) < 10
    assert_close(result.params, [3.0, 3.0], rtol32=1e-5)


def test_update_args_refreshes_between_chunks_without_recompiling():
    traces, calls = [], []

    def loss(p, target):
        traces.append(None)
        return jnp.sum((p - target) ** 2)

    def update(p, args):
        calls.append(None)
        return (args[0] + 1.0,)

    result = minimize(loss, jnp.zeros((), FLOAT), optimizer=optax.sgd(0.4), num_steps=30,
                      chunk_size=10, args=(jnp.zeros((), FLOAT),), update_args=update)
    assert len(calls) == 3
    # The target moved 0 -> 1 -> 2 between chunks; the parameter follows it.
    assert 1.5 < float(result.params) < 2.0
    first = len(traces)
    minimize(loss, jnp.zeros((), FLOAT), optimizer=optax.sgd(0.4), num_steps=30,
             chunk_size=10, args=(jnp.zeros((), FLOAT),), update_args=update)
    assert len(traces) <= 2 * first  # one trace (+ eval_shape) per run, not one per chunk


def test_lbfgs_chunks_share_one_compilation():
    # optax's L-BFGS starts with weakly typed line-search scalars that its first step makes
    # strong; unless minimize starts from strong types, the second chunk traced (and
    # compiled) again, 8 s of a 40-point pde.solve.
    traces = []

    def loss(p):
        traces.append(None)
        return _rosenbrock(p)

    p0 = jnp.asarray([-1.2, 1.0], FLOAT)
    minimize(loss, p0, optimizer=optax.lbfgs(), num_steps=3, chunk_size=3)
    one_chunk = len(traces)
    minimize(loss, p0, optimizer=optax.lbfgs(), num_steps=12, chunk_size=3)
    assert len(traces) - one_chunk == one_chunk


@pytest.mark.parametrize("kwargs, name", [
    (dict(optimizer=0.1, num_steps=5), "optimizer"),
    (dict(optimizer=optax.adam(0.1), num_steps=-1), "num_steps"),
    (dict(optimizer=optax.adam(0.1), num_steps=True), "num_steps"),
    (dict(optimizer=optax.adam(0.1), num_steps=5, chunk_size=0), "chunk_size"),
    (dict(optimizer=optax.adam(0.1), num_steps=5, accept="up"), "accept"),
    (dict(optimizer=optax.adam(0.1), num_steps=5, tol=-1.0), "tol"),
])
def test_bad_inputs(kwargs, name):
    with pytest.raises(ValueError, match=name):
        minimize(lambda p: jnp.sum(p**2), jnp.ones(2, FLOAT), **kwargs)


def test_kernels_declare_their_constraints():
    k = Linear(bias=0.0) + 2.0 * SpectralMixture([1.0], [[0.0]], [[0.5]])
    # Linear (variance, bias), then the scaled mixture (weights, means, variances), then scale.
    assert constraints(k) == ["positive", "nonnegative", "positive", "real", "positive",
                              "positive"]
    # Undeclared leaves (a bare array) are taken as positive.
    assert constraints((RBF(), jnp.ones(()))) == ["positive", "positive", "positive"]


def test_unconstrain_round_trips_and_maps_each_constraint():
    k = Linear(variance=2.0, bias=0.5) + SpectralMixture([1.5], [[-0.3]], [[0.5]])
    raw, frozen = unconstrain(k)
    assert_close(raw.k1.variance, np.log(2.0))
    assert_close(raw.k1.bias, np.log(np.expm1(0.5)))  # softplus^-1
    assert_close(raw.k2.means, [[-0.3]])  # real: unchanged
    back = constrain(raw, frozen)
    for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(k)):
        assert_close(a, b, rtol32=1e-6)


def test_unconstrain_respects_the_filter_and_names_a_bad_leaf():
    k = RBF(lengthscale=2.0, variance=3.0)
    only = eqx.tree_at(lambda m: (m.lengthscale, m.variance), jax.tree.map(lambda _: False, k),
                       (True, False))
    raw, frozen = unconstrain(k, only)
    assert raw.variance is None and float(frozen.variance) == 3.0
    with pytest.raises(ValueError, match="positive"):
        unconstrain(jnp.zeros(()))


def test_nonnegative_zero_starts_at_epsilon():
    raw, frozen = unconstrain(Linear(bias=0.0))
    bias = float(constrain(raw, frozen).bias)
    assert 0 < bias <= 2 * float(jnp.finfo(FLOAT).eps)


def test_parameter_refuses_an_unknown_constraint():
    with pytest.raises(ValueError, match="constraint"):
        parameter("bounded")


def test_progress_bar_true_writes_a_bar_and_false_is_silent(capsys):
    loss = lambda p: jnp.sum((p - 1.0) ** 2)
    minimize(loss, jnp.zeros(2), optimizer=optax.sgd(0.1), num_steps=20, chunk_size=5,
             progress=True, description="unit-fit")
    err = capsys.readouterr().err
    assert "unit-fit" in err and "20/20" in err and "loss=" in err
    minimize(loss, jnp.zeros(2), optimizer=optax.sgd(0.1), num_steps=20, chunk_size=5,
             progress=False)
    assert capsys.readouterr().err == ""


def test_progress_default_is_quiet_when_nobody_watches(capsys):
    # Under pytest stderr is captured (not a terminal), so the default draws nothing.
    minimize(lambda p: jnp.sum(p**2), jnp.ones(2), optimizer=optax.sgd(0.1), num_steps=10,
             chunk_size=5)
    assert capsys.readouterr().err == ""
