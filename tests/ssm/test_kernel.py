"""Discretisation, the Vandermonde kernel, the recurrence and FFT convolution."""

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.linalg

from jaxkern.ssm import (
    discretize,
    exprel,
    fft_conv,
    s4d_init,
    ssm_kernel,
    ssm_recurrence,
    ssm_transfer_function,
)

from ..helpers import FLOAT, X64, assert_close, check_transforms, count_compiles

CFLOAT = jnp.complex128 if X64 else jnp.complex64


def _ssm(h=3, m=4, seed=0):
    """A random stable SSM with the S4D-Lin spectrum, in this run's dtype."""
    rng = np.random.default_rng(seed)
    lam = np.tile(s4d_init(2 * m, init="lin").lam, (h, 1)) * rng.uniform(0.5, 2, (h, 1))
    B = rng.standard_normal((h, m)) + 1j * rng.standard_normal((h, m))
    C = rng.standard_normal((h, m)) + 1j * rng.standard_normal((h, m))
    dt = rng.uniform(0.01, 0.2, h)
    return (jnp.asarray(dt, FLOAT), jnp.asarray(lam, CFLOAT), jnp.asarray(B, CFLOAT),
            jnp.asarray(C, CFLOAT))


def _numpy_kernel(dt, lam, B, C, L, method):
    """Reference kernel in NumPy complex128: discretise by the textbook formulas, then multiply
    by A-bar step by step (no exp-of-log, no blocking)."""
    dt, lam, B, C = (np.asarray(x, np.complex128) for x in (dt, lam, B, C))
    dtl = dt[:, None] * lam
    if method == "zoh":
        A = np.exp(dtl)
        Bb = (A - 1) / lam * B
    else:
        A = (1 + dtl / 2) / (1 - dtl / 2)
        Bb = dt[:, None] / (1 - dtl / 2) * B
    out, power = [], C * Bb
    for _ in range(L):
        out.append(2 * np.sum(power, axis=1).real)
        power = power * A
    return np.stack(out)


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_kernel_golden_and_equals_impulse_response(method):
    dt, lam, B, C = _ssm()
    L = 300
    K = ssm_kernel(dt, lam, B, C, length=L, method=method)
    assert K.shape == (L, 3) and K.dtype == FLOAT
    assert_close(K, _numpy_kernel(dt, lam, B, C, L, method), rtol64=1e-12, rtol32=2e-5,
                 atol64=1e-12, atol32=2e-5)
    impulse = jnp.zeros((L, 3), FLOAT).at[0].set(1.0)
    y = ssm_recurrence(impulse, dt, lam, B, C, method=method).y
    # Issue target: kernel = recurrence impulse response to 1e-12 in float64.
    np.testing.assert_allclose(np.asarray(K), np.asarray(y), atol=1e-12 if X64 else 2e-5)


@pytest.mark.parametrize("block_size", [1, 7, 64, 300])
def test_block_size_does_not_change_kernel(block_size):
    dt, lam, B, C = _ssm()
    ref = ssm_kernel(dt, lam, B, C, length=200)
    out = ssm_kernel(dt, lam, B, C, length=200, block_size=block_size)
    assert_close(out, ref, rtol64=1e-12, rtol32=1e-5, atol64=1e-13, atol32=1e-5)


def test_zoh_and_bilinear_differ_by_tens_of_percent():
    # S4D-Lin, N = 64, dt = 0.1: Im(lambda) dt reaches pi * 31 * 0.1 ~ 10, where the two maps
    # place the discrete poles very differently.
    init = s4d_init(64, init="lin")
    lam = jnp.asarray(init.lam[None], CFLOAT)
    one = jnp.ones_like(lam)
    dt = jnp.asarray([0.1], FLOAT)
    kz = ssm_kernel(dt, lam, one, one, length=256, method="zoh")
    kb = ssm_kernel(dt, lam, one, one, length=256, method="bilinear")
    rel = float(jnp.linalg.norm(kz - kb) / jnp.linalg.norm(kz))
    assert 0.1 < rel < 2.0


def test_discretize_zoh_matches_matrix_exponential():
    # Reference: the zero-order hold from expm of the augmented matrix [[lam, B], [0, 0]] dt
    # (SciPy), whose top-right entry is int_0^dt e^{lam s} ds B.
    lam, b, dt = -0.3 + 2.0j, 0.7 - 0.2j, 0.05
    M = scipy.linalg.expm(np.array([[lam, b], [0, 0]]) * dt)
    d = discretize(jnp.asarray([dt], FLOAT), jnp.asarray([[lam]], CFLOAT),
                   jnp.asarray([[b]], CFLOAT))
    assert_close(jnp.real(d.A), M[0, 0].real, rtol32=1e-6)
    assert_close(jnp.imag(d.B), M[0, 1].imag, rtol32=1e-5)
    assert_close(jnp.real(d.B), M[0, 1].real, rtol32=1e-5)


@pytest.mark.parametrize("z", [0j, -1e-12 + 0j, -1e-7 + 3e-8j, -3e-4 + 1e-3j, -0.5 + 2j, -40 + 1j,
                               1e-3j, 2.5j])
def test_exprel_against_mpmath(z):
    # Reference: (e^z - 1)/z at 40 digits (mpmath), 1 at z = 0.
    with mpmath.workdps(40):
        zz = mpmath.mpc(z.real, z.imag)
        ref = complex((mpmath.expm1(zz) / zz) if z != 0 else 1)
    out = complex(exprel(jnp.asarray(z, CFLOAT)))
    tol = 1e-15 if X64 else 3e-7
    assert abs(out - ref) <= tol * abs(ref) * 4


def test_exprel_gradient_finite_at_zero():
    g = jax.grad(lambda a: jnp.real(exprel(jax.lax.complex(a, jnp.zeros_like(a)))))(
        jnp.asarray(0.0, FLOAT))
    assert_close(g, 0.5)


def test_transfer_function_matches_resolvent():
    # Reference: C (sI - Lambda)^{-1} B of the full 2m-dimensional system, NumPy.
    lam = np.array([-0.5 + 1j, -1.0 + 3j, -2.0 + 0j])
    B = np.array([1.0 + 0.5j, 0.3 - 1j, 0.25])  # the real mode stores half its weight
    C = np.array([0.2 - 1j, 1.5 + 0j, 2.0])
    full_lam = np.concatenate([lam[:2], lam[:2].conj(), lam[2:]])
    full_w = np.concatenate([(C * B)[:2], (C * B)[:2].conj(), 2 * (C * B)[2:]])
    s = 1j * np.linspace(-5, 5, 11)
    ref = np.array([np.sum(full_w / (x - full_lam)) for x in s])
    out = ssm_transfer_function(*(jnp.asarray(v, CFLOAT) for v in (lam, B, C, s)))
    assert_close(out.real, ref.real, rtol32=1e-5, atol32=1e-6)
    assert_close(out.imag, ref.imag, rtol32=1e-5, atol32=1e-6)


def test_kernel_transforms():
    dt, lam, B, C = _ssm(h=2, m=2)
    L = 33
    lr, li = jnp.real(lam), jnp.imag(lam)

    # The step enters as log(dt), as in the layers: float32's finite-difference step (1e-2)
    # is as large as the smallest dt.
    def kernel(log_dt, lr, li, B, C):
        return ssm_kernel(jnp.exp(log_dt), jax.lax.complex(lr, li), B, C, length=L)

    log_dt = jnp.log(dt)
    assert_close(kernel(log_dt, lr, li, B, C), _numpy_kernel(dt, lam, B, C, L, "zoh"),
                 rtol32=2e-5, atol32=2e-5)
    # jit, vmap over the decay rates, and gradients in every input (B and C complex).
    check_transforms(kernel, (log_dt, lr, li, B, C),
                     batch=(log_dt, jnp.stack([lr, 2 * lr]), li, B, C),
                     in_axes=(None, 0, None, None, None), grad_argnums=(0, 1, 2, 3, 4),
                     rtol32=1e-5, atol32=1e-6, rtol64=1e-11, atol64=1e-13)


@pytest.mark.parametrize("method", ["zoh", "bilinear"])
def test_discretize_recurrence_and_transfer_function_transforms(method):
    dt, lam, B, C = _ssm(h=2, m=2)
    log_dt = jnp.log(dt)  # as in test_kernel_transforms
    u = jax.random.normal(jax.random.key(0), (6, 2), FLOAT)
    tol = dict(rtol32=1e-5, atol32=1e-6, rtol64=1e-11, atol64=1e-13)
    # Complex inputs and outputs throughout.
    check_transforms(lambda log_dt, lam, B: discretize(jnp.exp(log_dt), lam, B, method=method),
                     (log_dt, lam, B), batch=(jnp.stack([log_dt, log_dt - 1]), lam, B),
                     in_axes=(0, None, None), grad_argnums=(0, 1, 2), **tol)
    check_transforms(lambda u, log_dt, lam, B, C: ssm_recurrence(u, jnp.exp(log_dt), lam, B, C,
                                                                 method=method),
                     (u, log_dt, lam, B, C), batch=(jnp.stack([u, -u]), log_dt, lam, B, C),
                     in_axes=(0, None, None, None, None), grad_argnums=(0, 1, 2, 3, 4), **tol)
    if method == "zoh":  # the transfer function has no discretisation
        s = 1j * jnp.linspace(-3, 3, 5).astype(CFLOAT)
        check_transforms(ssm_transfer_function, (lam[0], B[0], C[0], s), batch=(lam, B, C, s),
                         in_axes=(0, 0, 0, None), grad_argnums=(0, 1, 2, 3), **tol)


def test_exprel_transforms():
    z = jnp.asarray([0j, -1e-3 + 2e-3j, -0.5 + 2j, -4 + 1j], CFLOAT)
    check_transforms(exprel, (z,), batch=(z,), rtol32=1e-6, rtol64=1e-14)


@pytest.mark.parametrize("block_size", [None, 5, 33])
def test_kernel_does_not_recompile(block_size):
    # Blocks of T steps pad the kernel to a multiple of T and cut it back: new values of the
    # same shapes reuse the compiled kernel.
    f, compiles = count_compiles(
        lambda dt, lam, B, C: ssm_kernel(dt, lam, B, C, length=33, block_size=block_size))
    for seed in (0, 1, 2):
        dt, lam, B, C = _ssm(h=2, m=3, seed=seed)
        assert_close(f(dt, lam, B, C), _numpy_kernel(dt, lam, B, C, 33, "zoh"), rtol32=2e-5,
                     atol32=2e-5, atol64=1e-13)
    assert compiles() == 1


def test_recurrence_continues_from_state():
    dt, lam, B, C = _ssm()
    u = jax.random.normal(jax.random.key(0), (40, 3), FLOAT)
    whole = ssm_recurrence(u, dt, lam, B, C)
    first = ssm_recurrence(u[:25], dt, lam, B, C)
    second = ssm_recurrence(u[25:], dt, lam, B, C, state=first.state)
    assert_close(jnp.concatenate([first.y, second.y]), whole.y, rtol32=1e-5, atol32=1e-6)


@pytest.mark.parametrize("L,Lk", [(50, 50), (50, 7), (20, 64), (1, 1)])
def test_fft_conv_matches_numpy_convolve(getkey, L, Lk):
    u = jax.random.normal(getkey(), (L, 2), FLOAT)
    k = jax.random.normal(getkey(), (Lk, 2), FLOAT)
    full = [np.convolve(np.asarray(u[:, c], np.float64), np.asarray(k[:, c], np.float64))
            for c in range(2)]
    causal = np.stack([f[:L] for f in full], axis=1)
    c0 = (Lk - 1) // 2
    centred = np.stack([f[c0 : c0 + L] for f in full], axis=1)
    if Lk <= L:
        same = np.stack([np.convolve(np.asarray(u[:, c], np.float64),
                                     np.asarray(k[:, c], np.float64), mode="same")
                         for c in range(2)], axis=1)
        np.testing.assert_allclose(centred, same)
    out = fft_conv(u, k)
    assert out.dtype == FLOAT and out.shape == (L, 2)
    assert_close(out, causal, rtol64=1e-10, rtol32=1e-4, atol64=1e-12, atol32=1e-4)
    assert_close(fft_conv(u, k, causal=False), centred, rtol64=1e-10, rtol32=1e-4,
                 atol64=1e-12, atol32=1e-4)


def test_fft_conv_transforms(getkey):
    u = jax.random.normal(getkey(), (16, 2), FLOAT)
    k = jax.random.normal(getkey(), (16, 2), FLOAT)
    ub = jnp.stack([u, 2 * u])
    # jit, vmap over inputs, and gradients in the input and the kernel (full and shorter).
    for causal, kk in ((True, k), (False, k[:7])):
        check_transforms(fft_conv, (u, kk), batch=(ub, kk), in_axes=(0, None),
                         grad_argnums=(0, 1), kwargs=dict(causal=causal), rtol32=1e-5,
                         atol32=1e-5, rtol64=1e-11, atol64=1e-12)


def test_bad_inputs():
    dt, lam, B, C = _ssm()
    with pytest.raises(ValueError, match="length"):
        ssm_kernel(dt, lam, B, C, length=0)
    with pytest.raises(ValueError, match="lam"):
        ssm_kernel(dt[:2], lam, B, C, length=4)
    with pytest.raises(ValueError, match="C"):
        ssm_kernel(dt, lam, B, C[:, :2], length=4)
    with pytest.raises(ValueError, match="method"):
        ssm_kernel(dt, lam, B, C, length=4, method="euler")
    with pytest.raises(ValueError, match="lam"):
        ssm_kernel(dt, jnp.real(lam), B, C, length=4)
    with pytest.raises(ValueError, match="u"):
        ssm_recurrence(jnp.zeros((5, 2), FLOAT), dt, lam, B, C)
    with pytest.raises(ValueError, match="channels"):
        fft_conv(jnp.zeros((5, 2), FLOAT), jnp.zeros((5, 3), FLOAT))
    with pytest.raises(ValueError, match="u"):
        fft_conv(jnp.zeros((5,), FLOAT), jnp.zeros((5, 3), FLOAT))
