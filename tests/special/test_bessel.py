"""log_iv / log_ive / log_kv / log_kve against mpmath golden values, SciPy and identities."""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special as sc

from jaxkern.special import log_iv, log_ive, log_kv, log_kve
from tests.helpers import FLOAT, X64, check_transforms, tol

GOLDEN = pathlib.Path(__file__).with_name("bessel_golden.npz")


def _rel_err(got, ref):
    """|got - ref| / max(1, |ref|): relative error, absolute where log I or log K crosses 0."""
    got = np.asarray(got, np.float64)
    return np.abs(got - ref) / np.maximum(1.0, np.abs(ref))


@pytest.fixture(scope="module")
def golden():
    data = np.load(GOLDEN)
    return {k: data[k] for k in ("v", "x", "log_iv", "log_kv")}


def test_golden_against_mpmath(golden):
    # bessel_golden.npz: mpmath 50-digit series (I) and quadrature (K), see make_bessel_golden.py
    v = jnp.asarray(golden["v"], FLOAT)
    x = jnp.asarray(golden["x"], FLOAT)
    v64, x64 = golden["v"], golden["x"]
    # float32 rounds the inputs themselves (relative 6e-8); log I and log K move by that times
    # the size of their terms, v asinh(v/x) + sqrt(v^2 + x^2) + x, which the tolerance adds
    terms = v64 * np.arcsinh(v64 / x64) + np.hypot(v64, x64) + x64
    for fn, ref in ((log_iv, golden["log_iv"]), (log_kv, golden["log_kv"])):
        got = np.asarray(fn(v, x))
        assert np.all(np.isfinite(got))
        err = _rel_err(got, ref)
        bound = tol(1e-13, 1e-5) + (0 if X64 else 4 * 6e-8) * terms / np.maximum(1, np.abs(ref))
        assert np.all(err <= bound), (fn.__name__, err.max(), golden["v"][err.argmax()])


def test_golden_file_provenance():
    data = np.load(GOLDEN)
    assert data["v"].shape == data["log_kv"].shape
    assert float(data["max_wronskian_defect"]) < 1e-40  # the reference checks itself at 50 digits
    assert "mpmath" in str(data["provenance"])


@pytest.mark.parametrize(
    ("v", "x"), [(0.0, 1e-3), (2.5, 0.7), (0.3, 12.0), (17.2, 29.0), (40.0, 3.0), (3.0, 300.0)]
)
def test_spot_values_mpmath(v, x):
    # mpmath.besseli / besselk at 30 digits, computed here for a handful of points
    mpmath.mp.dps = 30
    ri = float(mpmath.log(mpmath.besseli(v, x)))
    rk = float(mpmath.log(mpmath.besselk(v, x)))
    assert _rel_err(log_iv(v, x), ri) <= tol(1e-14, 1e-6)
    assert _rel_err(log_kv(v, x), rk) <= tol(1e-14, 1e-6)
    assert _rel_err(log_ive(v, x), ri - x) <= tol(1e-14, 1e-6)
    assert _rel_err(log_kve(v, x), rk + x) <= tol(1e-14, 1e-6)


def test_where_scipy_overflows():
    # SciPy 1.x: log(ive(1000, 50)) = -inf and log(kve(1000, 50)) = inf; mpmath: finite
    with np.errstate(divide="ignore"):
        assert np.log(sc.ive(1000.0, 50.0)) == -np.inf
    assert np.isclose(float(log_ive(1000.0, 50.0)), -2742.6281723677036, rtol=tol(1e-14, 1e-6))
    assert np.isclose(float(log_kve(1000.0, 50.0)), 2735.0260214668223, rtol=tol(1e-14, 1e-6))


def test_log_i0_near_zero_absolute():
    # log I_0(x) = x^2/4 - x^4/64 + ... (DLMF 10.25.2): absolute error at machine precision
    x = jnp.asarray([1e-8, 1e-5, 1e-3], FLOAT)
    x64 = np.asarray(x, np.float64)
    ref = x64**2 / 4 - x64**4 / 64 + x64**6 / 576
    # float32: XLA's lgamma(1) is -4.8e-7 (8 ulp), not 0, which sets the float32 floor
    np.testing.assert_allclose(log_iv(0.0, x), ref, rtol=0, atol=tol(1e-18, 1e-6))
    # the scaled function keeps relative accuracy there in float64: log I_0(x) - x; float32 has
    # the same absolute floor as above
    np.testing.assert_allclose(log_ive(0.0, x), ref - x64, rtol=tol(1e-15, 0.0),
                               atol=tol(0.0, 1e-6))


def test_wronskian(getkey):
    # I_v K_{v+1} + I_{v+1} K_v = 1/x (DLMF 10.28.2), across every region. Exponentiating logs of
    # size L turns their rounding (eps L) into a defect of eps L, so the bound scales with L.
    n = 1000
    v = 10.0 ** jax.random.uniform(getkey(), (n,), FLOAT, -3, 4)
    x = 10.0 ** jax.random.uniform(getkey(), (n,), FLOAT, -10, 5)
    a, b = log_ive(v, x), log_kve(v, x)
    w = x * (jnp.exp(a + log_kve(v + 1, x)) + jnp.exp(log_ive(v + 1, x) + b))
    scale = 1 + np.abs(np.asarray(a)) + np.abs(np.asarray(b))
    assert np.max(np.abs(np.asarray(w) - 1) / scale) <= tol(2e-15, 2e-6)


def test_out_of_domain_is_nan():
    # scipy.special.iv(-0.5 + eps, -1) and kv(1, -1) are nan; we extend that to v < 0 and x <= 0
    v = jnp.asarray([-1.0, 1.0, 1.0, 0.0], FLOAT)
    x = jnp.asarray([1.0, 0.0, -2.0, -1.0], FLOAT)
    for fn in (log_iv, log_ive, log_kv, log_kve):
        assert np.all(np.isnan(np.asarray(fn(v, x))))


def test_bad_input():
    with pytest.raises(ValueError, match="`v` and `x`"):
        log_iv(jnp.ones(3), jnp.ones(4))
    with pytest.raises(ValueError, match="`x`"):
        log_kv(1.0, jnp.ones(2, jnp.complex64))


def test_dtype_and_broadcast():
    v = jnp.asarray([[0.5], [40.0]], FLOAT)
    x = jnp.asarray([0.1, 5.0, 500.0], FLOAT)
    out = log_kve(v, x)
    assert out.shape == (2, 3) and out.dtype == FLOAT
    assert log_iv(1, 2).dtype == FLOAT  # integers promote to the default float


# one point in each region: Debye (large order / argument), series, Temme, Steed, recurrence
REGION_POINTS = [(60.0, 3.0), (0.4, 80.0), (3.3, 8.0), (0.2, 0.5), (7.6, 1.5), (12.4, 6.0)]


@pytest.mark.parametrize(("v", "x"), REGION_POINTS)
def test_grad_x_matches_mpmath(v, x):
    # d/dx log I = I'/I, d/dx log K = K'/K by mpmath.diff at 30 digits
    mpmath.mp.dps = 30
    di = float(mpmath.diff(lambda t: mpmath.log(mpmath.besseli(v, t)), x))
    dk = float(mpmath.diff(lambda t: mpmath.log(mpmath.besselk(v, t)), x))
    np.testing.assert_allclose(jax.grad(log_iv, 1)(v, x), di, rtol=tol(1e-12, 1e-4))
    np.testing.assert_allclose(jax.grad(log_kv, 1)(v, x), dk, rtol=tol(1e-12, 1e-4))


@pytest.mark.parametrize(("v", "x"), REGION_POINTS)
def test_grad_order_matches_mpmath(v, x):
    # the order-derivative (forward mode through the branch formulas) against mpmath.diff
    mpmath.mp.dps = 30
    di = float(mpmath.diff(lambda s: mpmath.log(mpmath.besseli(s, x)), v))
    dk = float(mpmath.diff(lambda s: mpmath.log(mpmath.besselk(s, x)), v))
    np.testing.assert_allclose(jax.jit(jax.grad(log_iv, 0))(v, x), di, rtol=tol(1e-10, 1e-3))
    np.testing.assert_allclose(jax.jit(jax.grad(log_kv, 0))(v, x), dk, rtol=tol(1e-10, 1e-3))


def test_transforms():
    # One point in each region; jit, vmap over the order, and gradients in both arguments
    # against finite differences, of all four functions in one compilation (they share their
    # code, and XLA compiles it once).
    v, x = (jnp.asarray(c, FLOAT) for c in zip(*REGION_POINTS))
    check_transforms(lambda v, x: (log_iv(v, x), log_ive(v, x), log_kv(v, x), log_kve(v, x)),
                     (v, x), batch=(v[:2], x), in_axes=(0, None), grad_argnums=(0, 1),
                     rtol64=1e-13, rtol32=1e-6)


def test_gradients_at_extremes_match_recurrences():
    # Where finite differences cannot reach (x = 1e-10, v = 1e4), d/dx against DLMF 10.29.2:
    # d/dx log I_v = I_{v+1}/I_v + v/x and d/dx log K_v = -K_{v+1}/K_v + v/x, the ratios from
    # the functions themselves. Their logs, of size up to 3e5, carry eps * |log| rounding.
    v = jnp.asarray([0.0, 0.0, 1e4, 1e4, 29.9, 0.5], FLOAT)
    x = jnp.asarray([1e-10, 1e5, 1e-10, 1e5, 2.0, 30.0], FLOAT)
    eps = float(jnp.finfo(FLOAT).eps)
    for fn, sign in ((log_iv, 1.0), (log_kv, -1.0)):
        gv, gx = jax.jit(jax.grad(lambda a, b, f=fn: jnp.sum(f(a, b)), (0, 1)))(v, x)
        assert np.all(np.isfinite(np.asarray(gv)))  # no closed form in the order; finite
        up, here = np.asarray(fn(v + 1, x), np.float64), np.asarray(fn(v, x), np.float64)
        ref = sign * np.exp(up - here) + np.asarray(v, np.float64) / np.asarray(x, np.float64)
        bound = tol(1e-12, 1e-5) + 8 * eps * np.maximum(np.abs(up), np.abs(here))
        err = np.abs(np.asarray(gx, np.float64) - ref) / np.maximum(1.0, np.abs(ref))
        assert np.all(err <= bound), (fn.__name__, err, bound)
