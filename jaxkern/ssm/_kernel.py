"""The diagonal SSM convolution kernel (a blocked Vandermonde product) and transfer function."""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, Complex, Float

from .._validation import check_int, check_positive
from ._discretize import check_modes, discretize


def ssm_kernel(
    dt: Float[Array, " h"],
    lam: Complex[Array, "h m"],
    B: Complex[Array, "h m"],
    C: Complex[Array, "h m"],
    *,
    length: int,
    method: str = "zoh",
    block_size: int | None = None,
) -> Float[Array, "L h"]:
    """The convolution kernel of a diagonal SSM whose modes come in conjugate pairs.

    $$K_l = 2\\,\\operatorname{Re} \\sum_{n=1}^{m} C_n \\bar B_n \\bar A_n^{\\,l},
    \\qquad l = 0, \\dots, L-1,$$

    for each of $h$ channels, with $(\\bar A, \\bar B)$ from
    [`discretize`][jaxkern.ssm.discretize]. Only one mode of each conjugate pair is stored
    ($m = N/2$ for state size $N$); the factor 2 and the real part add its conjugate, so $K$ is
    the impulse response of a real $N$-dimensional system.

    The Vandermonde matrix $\\bar A_n^l$ is never formed. With a block size $T$ and
    $l = jT + t$, $\\bar A^l = \\bar A^{jT} \\bar A^{t}$, so
    $K_{jT + t} = 2\\operatorname{Re}\\sum_n (C_n \\bar B_n \\bar A_n^{jT}) \\bar A_n^t$ is one real
    matrix product of shapes $(L/T, 2m) \\times (2m, T)$ per channel: memory
    $O(m(L/T + T) + L)$ per channel ($O(m\\sqrt L + L)$ at the default $T = \\lceil\\sqrt L\\rceil$)
    instead of $O(mL)$, and $O(m\\sqrt L)$ exponentials instead of $O(mL)$. Powers are
    $e^{p \\log \\bar A}$ with $\\operatorname{Re}\\log\\bar A < 0$, so nothing overflows.

    **Arguments:**

    - `dt`: step sizes $\\Delta > 0$, shape `(h,)`.
    - `lam`: eigenvalues $\\lambda$ (real part negative for a stable kernel), complex `(h, m)`.
    - `B`, `C`: input and output weights, complex `(h, m)`.
    - `length`: kernel length $L \\ge 1$.
    - `method`: discretisation, `"zoh"` or `"bilinear"`.
    - `block_size`: $T$; default $\\lceil\\sqrt L\\rceil$. `block_size=length` is the plain
      Vandermonde product.

    **Returns:** the kernel, real, shape `(length, h)` (the real dtype of `lam`).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.ssm import ssm_kernel
        >>> lam = jnp.array([[-0.5 + 1j]])
        >>> one = jnp.ones_like(lam)
        >>> ssm_kernel(jnp.array([0.1]), lam, one, one, length=3).ravel()
        Array([0.19476138, 0.18341942, 0.17097719], dtype=float32)

    Paper: Gu, Gupta, Goel, Ré, *On the Parameterization and Initialization of Diagonal State
    Space Models* (S4D), NeurIPS 2022, section 3 (the Vandermonde kernel).
    """
    check_modes(dt, lam, B)
    check_positive("dt", dt)
    if jnp.shape(C) != jnp.shape(lam):
        raise ValueError(f"`C` must have the shape of `lam` {jnp.shape(lam)}, got {jnp.shape(C)}.")
    check_int("length", length, 1)
    if block_size is None:
        block_size = math.isqrt(length - 1) + 1
    check_int("block_size", block_size, 1)
    block_size = min(block_size, length)
    num_blocks = -(-length // block_size)
    disc = discretize(dt, lam, B, method=method)
    log_A = disc.log_A[:, :, None]
    # Outer factor 2 C B A^{jT} stacked as [Re, -Im]; inner factor A^t stacked as [Re; Im], so
    # one real product gives Re(outer @ inner).
    j = jnp.arange(num_blocks).astype(lam.dtype)[None, None, :]
    t = jnp.arange(block_size).astype(lam.dtype)[None, None, :]
    outer = 2 * (C * disc.B)[:, :, None] * jnp.exp(log_A * (block_size * j))
    outer = jnp.concatenate([jnp.real(outer), -jnp.imag(outer)], axis=1)
    inner = jnp.exp(log_A * t)
    inner = jnp.concatenate([jnp.real(inner), jnp.imag(inner)], axis=1)
    K = jnp.einsum("hmj,hmt->hjt", outer, inner).reshape(lam.shape[0], -1)[:, :length]
    return K.T


def ssm_transfer_function(
    lam: Complex[Array, " m"],
    B: Complex[Array, " m"],
    C: Complex[Array, " m"],
    s: Complex[Array, " f"],
) -> Complex[Array, " f"]:
    """Transfer function of a continuous-time diagonal SSM stored as one mode per conjugate pair.

    $$G(s) = \\sum_{n=1}^{m} \\left(\\frac{C_n B_n}{s - \\lambda_n}
    + \\frac{\\overline{C_n B_n}}{s - \\bar\\lambda_n}\\right),$$

    the transfer function $C(sI - \\Lambda)^{-1}B$ of the real $2m$-dimensional system. A mode
    with real $\\lambda_n$ and real $C_n B_n$ counts twice, so store half its weight.

    **Arguments:**

    - `lam`, `B`, `C`: the modes, complex, shape `(m,)`.
    - `s`: points of the complex plane, shape `(f,)` (e.g. $s = i\\omega$).

    **Returns:** $G(s)$, complex, shape `(f,)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.ssm import ssm_transfer_function
        >>> one = jnp.ones((1,), jnp.complex64)
        >>> ssm_transfer_function(-one, one / 2, one, jnp.zeros((1,), jnp.complex64))
        Array([1.+0.j], dtype=complex64)

    Paper: Yu, Nigmetov, Morozov, Mahoney, Erichson, *Robustifying State-space Models for Long
    Sequences via Approximate Diagonalization*, ICLR 2024, section 2.
    """
    for name, x in (("lam", lam), ("B", B), ("C", C), ("s", s)):
        if jnp.ndim(x) != 1:
            raise ValueError(f"`{name}` must be 1-D, got shape {jnp.shape(x)}.")
    if not jnp.shape(lam) == jnp.shape(B) == jnp.shape(C):
        raise ValueError(
            f"`lam`, `B` and `C` must have one entry per mode, got shapes {jnp.shape(lam)}, "
            f"{jnp.shape(B)} and {jnp.shape(C)}."
        )
    w, lam, s = (C * B)[None, :], lam[None, :], s[:, None]
    return jnp.sum(w / (s - lam) + jnp.conj(w) / (s - jnp.conj(lam)), axis=1)
