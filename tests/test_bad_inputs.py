"""A probe of bad and edge inputs across the public API (issue 26, item 12).

Each case checks one rule: the call either returns the right answer (compared with a reference:
the float input for an integer input, a NumPy/SciPy computation, or the same call on the clean
rows) or raises `ValueError`/`TypeError` whose message names the argument. No silent wrong
answers and no cryptic errors from deep inside JAX.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern import kernels, quadrature
from jaxkern.gp import fit, gp_posterior, log_marginal_likelihood

from .helpers import FLOAT, X64, assert_close


def _refuses(fn, name, errors=(ValueError, TypeError)):
    """`fn()` raises one of `errors` and the message names the argument `name`."""
    with pytest.raises(errors) as info:
        fn()
    assert f"`{name}`" in str(info.value) or name in str(info.value), str(info.value)


X5 = jnp.linspace(0.0, 2.0, 5, dtype=FLOAT)[:, None] * jnp.ones((1, 2), FLOAT)


# --- non-finite data -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("Kernel", [kernels.RBF, kernels.Matern12, kernels.Matern52])
def test_nonfinite_row_stays_in_its_row_of_the_gram_matrix(Kernel, bad):
    # Reference: the Gram matrix of the clean rows alone. Before the fix the centring spread
    # the NaN into the shift and the round-off floor clipped NaN r^2 to 0: all ones.
    X = X5.at[2, 0].set(bad)
    K = np.asarray(kernels.gram(Kernel(), X))
    clean = [0, 1, 3, 4]
    assert np.isnan(K[2]).all() and np.isnan(K[:, 2]).all()
    assert_close(K[np.ix_(clean, clean)], kernels.gram(Kernel(), X5[np.array(clean)]),
                 rtol64=1e-12, rtol32=1e-5, atol32=1e-6)


@pytest.mark.parametrize("fn", [kernels.rbf, kernels.matern12, kernels.matern32,
                                functools.partial(kernels.matern, nu=1.5)])
def test_pair_kernel_of_nan_is_nan(fn):
    # matern returned the r = 0 value 1.0 for a NaN input (safe_sqrt mapped NaN to 0).
    x = jnp.array([jnp.nan, 0.0], FLOAT)
    assert np.isnan(float(fn(x, jnp.zeros(2, FLOAT))))


def test_gp_posterior_refuses_nonfinite_X_and_y_by_name():
    y = jnp.sin(X5[:, 0])
    _refuses(lambda: gp_posterior(kernels.RBF(), X5.at[1, 0].set(jnp.nan), y, X5,
                                  noise=0.1), "X")
    _refuses(lambda: gp_posterior(kernels.RBF(), X5, y.at[1].set(jnp.inf), X5, noise=0.1), "y")
    _refuses(lambda: log_marginal_likelihood(kernels.RBF(), X5.at[0, 1].set(jnp.nan), y,
                                             noise=0.1), "X")


def test_bq_weights_refuses_nonfinite_nodes_by_name():
    m = quadrature.LebesgueMeasure(0.0, 1.0)
    nodes = jnp.linspace(0.0, 1.0, 5, dtype=FLOAT).at[2].set(jnp.nan)
    _refuses(lambda: quadrature.bq_weights(kernels.Matern32(), nodes, m), "nodes")


# --- kernel functions on one pair of points ----------------------------------------------------


@pytest.mark.parametrize("fn", [kernels.rbf, kernels.matern32, kernels.rational_quadratic,
                                functools.partial(kernels.matern, nu=2.5)])
def test_pair_kernel_refuses_point_sets(fn):
    A = jnp.zeros((3, 2), FLOAT)
    _refuses(lambda: fn(A, A), "x")
    _refuses(lambda: fn(jnp.zeros(2, FLOAT), A), "y")


def test_pair_kernel_names_dimension_mismatch():
    _refuses(lambda: kernels.rbf(jnp.zeros(3, FLOAT), jnp.zeros(2, FLOAT)), "y")
    _refuses(lambda: kernels.gram(kernels.RBF(), jnp.zeros((3, 2)), jnp.zeros((3, 4))), "Y")


# --- integer inputs ----------------------------------------------------------------------------


def test_integer_gram_equals_float_gram():
    Xi = jnp.arange(6).reshape(3, 2)
    assert_close(kernels.gram(kernels.RBF(), Xi), kernels.gram(kernels.RBF(), Xi.astype(FLOAT)))


def test_integer_targets_and_inputs_in_gp():
    Xi = jnp.arange(5)[:, None]
    yi = jnp.array([0, 1, 0, -1, 0])
    Xf, yf = Xi.astype(FLOAT), yi.astype(FLOAT)
    a = gp_posterior(kernels.RBF(), Xi, yi, Xi, noise=0.1)
    b = gp_posterior(kernels.RBF(), Xf, yf, Xf, noise=0.1)
    assert_close(a.mean, b.mean)
    assert_close(log_marginal_likelihood(kernels.RBF(), Xi, yi, noise=0.1),
                 log_marginal_likelihood(kernels.RBF(), Xf, yf, noise=0.1))
    # fit stored the noise in X's dtype: integer data made it 0.
    r = fit(kernels.RBF(), Xi, yi, noise=0.5, num_steps=2)
    assert jnp.issubdtype(jnp.asarray(r.noise).dtype, jnp.floating)
    assert float(r.noise) > 0


def test_integer_bayesian_quadrature_equals_float():
    m = quadrature.LebesgueMeasure(0.0, 4.0)
    ti = jnp.arange(5)
    vi = ti * ti
    a = quadrature.bayesian_quadrature(vi, ti, kernels.Matern32(), m)
    b = quadrature.bayesian_quadrature(vi.astype(FLOAT), ti.astype(FLOAT), kernels.Matern32(), m)
    assert np.isfinite(float(a.mean))
    assert_close(a.mean, b.mean, rtol32=1e-4)


# --- mixed float32/float64 ---------------------------------------------------------------------


@pytest.mark.skipif(not X64, reason="float32/float64 mixing needs JAX_ENABLE_X64=1")
def test_mixed_precision_gram_promotes():
    X32 = X5.astype(jnp.float32)
    K = kernels.gram(kernels.RBF(), X32, X5)
    assert K.dtype == jnp.float64
    assert_close(K, kernels.gram(kernels.RBF(), X5), rtol64=1e-6)


@pytest.mark.skipif(not X64, reason="float32 data with float64 hyperparameters needs x64")
@pytest.mark.parametrize("k", [kernels.RBF(), kernels.Matern32(), kernels.RationalQuadratic(),
                               2.0 * kernels.Matern52() + kernels.RBF(0.5)])
def test_kernel_module_keeps_float32_data_float32(k):
    X32 = X5.astype(jnp.float32)
    K = kernels.gram(k, X32)
    assert K.dtype == jnp.float32
    assert k(X32[0], X32[1]).dtype == jnp.float32
    assert_close(K, kernels.gram(k, X5), rtol64=1e-6)


# --- kernel_matvec: empty inputs, dtypes -------------------------------------------------------


def test_kernel_matvec_empty_inputs():
    # Blocking of zero rows divided by zero (ZeroDivisionError from into_blocks).
    Y = X5
    out = kernels.kernel_matvec(kernels.RBF(), jnp.zeros((0, 2), FLOAT), Y, jnp.ones(5, FLOAT))
    assert out.shape == (0,)
    out = kernels.kernel_matvec(kernels.RBF(), Y, jnp.zeros((0, 2), FLOAT),
                                jnp.ones((0, 3), FLOAT))
    assert out.shape == (5, 3) and not np.any(np.asarray(out))


def test_kernel_matvec_integer_and_float32_inputs():
    v = jnp.arange(5)
    ref = kernels.gram(kernels.RBF(), X5) @ v.astype(FLOAT)
    assert_close(kernels.kernel_matvec(kernels.RBF(), X5, X5, v, block_size=2), ref,
                 rtol32=1e-5)
    # float32 data with x64 on raised a scan-carry dtype error (float64 tiles, float32 carry).
    X32 = X5.astype(jnp.float32)
    out = kernels.kernel_matvec(kernels.RBF(), X32, X32, v.astype(jnp.float32), block_size=2)
    assert out.dtype == jnp.float32
    assert_close(out, ref, rtol64=1e-5, rtol32=1e-5)


# --- integer inputs in other rooms -------------------------------------------------------------


def test_integer_kde_equals_float_kde():
    # Integer data gave a wrong density (the whitening was rounded to integers).
    from jaxkern.density import kde_log_density

    data, q = jnp.arange(5)[:, None], jnp.arange(3)[:, None]
    assert_close(kde_log_density(data, q, bandwidth=1.0),
                 kde_log_density(data.astype(FLOAT), q.astype(FLOAT), bandwidth=1.0))


def test_integer_fft_conv_equals_numpy():
    # Integer signals were convolved in floats and then truncated back to integers.
    from jaxkern.ssm import fft_conv

    u, k = jnp.array([[1], [2], [3]]), jnp.array([[1], [1], [1]])
    ref = np.convolve(np.array([1.0, 2, 3]), np.ones(3))[:3]  # NumPy reference
    out = fft_conv(u, k)
    assert jnp.issubdtype(out.dtype, jnp.floating)
    assert_close(out[:, 0], ref, rtol32=1e-5, atol32=1e-5, atol64=1e-12)


# --- invalid domains: step sizes, node order, directions, empty features ----------------------


def test_ssm_kernel_refuses_nonpositive_dt():
    from jaxkern.ssm import ssm_kernel

    lam = jnp.array([[-0.5 + 1j]], dtype=jnp.complex64 if not X64 else jnp.complex128)
    B = jnp.ones_like(lam)
    for dt in (0.0, -0.1):
        _refuses(lambda dt=dt: ssm_kernel(jnp.array([dt], FLOAT), lam, B, B, length=4), "dt")


def test_trapezoid_refuses_unsorted_nodes_and_keeps_reversed():
    t = jnp.array([0.0, 2.0, 1.0], FLOAT)
    _refuses(lambda: quadrature.trapezoid(t * t, t), "nodes")
    s = jnp.linspace(0.0, 1.0, 5, dtype=FLOAT)
    assert_close(quadrature.trapezoid(s[::-1] ** 2, s[::-1]), -quadrature.trapezoid(s**2, s))


def test_vmf_refuses_non_unit_directions():
    from jaxkern.special import vmf_fit, vmf_log_prob

    mu = jnp.array([0.0, 0.0, 1.0], FLOAT)
    _refuses(lambda: vmf_log_prob(2 * mu, mu, 1.0), "x")
    _refuses(lambda: vmf_log_prob(mu, 2 * mu, 1.0), "mu")
    X = jnp.array([[1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.0, 0.0, 1.0]], FLOAT)
    _refuses(lambda: vmf_fit(X), "X")
    assert np.isfinite(float(vmf_log_prob(mu, mu, 1.0)))


def test_nngp_ntk_empty_inputs():
    from jaxkern.deep import nngp_ntk, nngp_ntk_gram

    # d = 0 returned NaN (0/0 in x.y/d).
    _refuses(lambda: nngp_ntk(jnp.zeros(0, FLOAT), jnp.zeros(0, FLOAT)), "x")
    _refuses(lambda: nngp_ntk_gram(jnp.zeros((3, 0), FLOAT)), "X")
    out = nngp_ntk_gram(jnp.zeros((0, 2), FLOAT), jnp.ones((3, 2), FLOAT), block_size=2)
    assert out.nngp.shape == (0, 3) and out.ntk.shape == (0, 3)


# --- the table: integer input gives the float input's answer, across rooms --------------------


def _table():
    from jaxkern import deep, density, special, ssm

    xi, yi = jnp.array([0, 1, 2]), jnp.array([1, 1, 0])
    Xi = jnp.arange(8).reshape(4, 2) % 3
    m = quadrature.LebesgueMeasure(0.0, 3.0)
    return {
        "rbf": lambda a, b, A: kernels.rbf(a, b),
        "matern32": lambda a, b, A: kernels.matern32(a, b),
        "matern(nu=1.5)": lambda a, b, A: kernels.matern(a, b, nu=1.5),
        "rational_quadratic": lambda a, b, A: kernels.rational_quadratic(a, b),
        "gram(Matern12)": lambda a, b, A: kernels.gram(kernels.Matern12(), A),
        "gram_diag(RBF)": lambda a, b, A: kernels.gram_diag(kernels.RBF(), A),
        "kernel_matvec": lambda a, b, A: kernels.kernel_matvec(kernels.RBF(), A, A, A[:, 0]),
        "kernel_mean": lambda a, b, A: quadrature.kernel_mean(kernels.RBF(), a[:1], m),
        "trapezoid": lambda a, b, A: quadrature.trapezoid(b, a),
        "nngp_ntk": lambda a, b, A: deep.nngp_ntk(a + 1, b, depth=2),
        "nngp_ntk_gram": lambda a, b, A: deep.nngp_ntk_gram(A + 1, depth=1),
        "kde_log_density": lambda a, b, A: density.kde_log_density(A, A, bandwidth=1.0),
        "safe_norm": lambda a, b, A: special.safe_norm(A),
        "fft_conv": lambda a, b, A: ssm.fft_conv(A, A),
    }, (xi, yi, Xi)


_TABLE, _INTS = _table()


@pytest.mark.parametrize("name", sorted(_TABLE))
def test_integer_input_equals_float_input(name):
    fn = _TABLE[name]
    floats = [x.astype(FLOAT) for x in _INTS]
    try:
        got = fn(*_INTS)
    except (ValueError, TypeError) as e:  # a refusal is fine if it names an argument
        assert "`" in str(e), str(e)
        return
    want = fn(*floats)
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        assert jnp.issubdtype(g.dtype, jnp.inexact), f"{name} returned dtype {g.dtype}"
        assert_close(g, w, rtol32=1e-5, atol32=1e-6, atol64=1e-12)
