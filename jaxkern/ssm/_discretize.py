"""Discretisation of a diagonal continuous-time SSM: zero-order hold and bilinear."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Complex, Float

from .._validation import check_ndim

METHODS = ("zoh", "bilinear")


class DiscreteSSM(NamedTuple):
    """A diagonal discrete-time SSM $x_k = \\bar A x_{k-1} + \\bar B u_k$, per mode."""

    log_A: Complex[Array, "h m"]
    """$\\log \\bar A$ (powers are $\\exp(l \\log \\bar A)$, never repeated products)."""
    A: Complex[Array, "h m"]
    """$\\bar A$."""
    B: Complex[Array, "h m"]
    """$\\bar B$."""


def check_method(method: str) -> None:
    if method not in METHODS:
        raise ValueError(f"`method` must be one of {METHODS}, got {method!r}.")


def check_modes(dt, lam, B) -> None:
    """Shape checks shared by the kernel, the recurrence and discretisation."""
    check_ndim("dt", dt, 1, "(h,)")
    check_ndim("lam", lam, 2, "(h, m)")
    if jnp.shape(lam)[0] != jnp.shape(dt)[0]:
        raise ValueError(
            f"`lam` must have one row per channel of `dt` (h={jnp.shape(dt)[0]}), "
            f"got shape {jnp.shape(lam)}."
        )
    if jnp.shape(B) != jnp.shape(lam):
        raise ValueError(f"`B` must have the shape of `lam` {jnp.shape(lam)}, got {jnp.shape(B)}.")
    if not jnp.issubdtype(jnp.result_type(lam), jnp.complexfloating):
        raise ValueError(f"`lam` must be complex, got dtype {jnp.result_type(lam)}.")


def exprel(z: Complex[Array, "*shape"]) -> Complex[Array, "*shape"]:
    """$(e^z - 1)/z$ for complex $z$, accurate for $\\operatorname{Re} z \\le 0$ and at $z = 0$.

    $e^z - 1$ is formed as $(\\operatorname{expm1}(a)\\cos b - 2\\sin^2(b/2)) + i e^a \\sin b$ for
    $z = a + ib$, which has no cancellation when $a \\le 0$; near $z = 0$ the Taylor series
    $1 + z/2 + z^2/6$ takes over (a double `where` keeps the gradient finite at $z = 0$).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.ssm import exprel
        >>> exprel(jnp.array([0j, -1e-9 + 0j, -1.0 + 0j])).real  # (1 - 1/e) at z = -1
        Array([1.        , 1.        , 0.63212055], dtype=float32)
    """
    small = jnp.abs(z) < jnp.sqrt(jnp.finfo(jnp.real(z).dtype).eps)
    zs = jnp.where(small, jnp.ones_like(z), z)
    a_s, b_s = jnp.real(zs), jnp.imag(zs)
    re = jnp.expm1(a_s) * jnp.cos(b_s) - 2 * jnp.sin(b_s / 2) ** 2
    im = jnp.exp(a_s) * jnp.sin(b_s)
    ratio = lax.complex(re, im) / zs
    taylor = jnp.ones_like(z) + z / 2 + z * z / 6
    return jnp.where(small, taylor, ratio)


def discretize(
    dt: Float[Array, " h"],
    lam: Complex[Array, "h m"],
    B: Complex[Array, "h m"],
    *,
    method: str = "zoh",
) -> DiscreteSSM:
    """Discretise the diagonal SSM $x' = \\lambda x + B u$ with step $\\Delta$, per channel.

    Zero-order hold (`"zoh"`):
    $\\bar A = e^{\\Delta\\lambda}$,
    $\\bar B = \\Delta\\,\\frac{e^{\\Delta\\lambda} - 1}{\\Delta\\lambda} B$
    (the ratio evaluated stably by [`exprel`][jaxkern.ssm.exprel] as $\\lambda \\to 0$).

    Bilinear (`"bilinear"`, Tustin):
    $\\bar A = \\frac{1 + \\Delta\\lambda/2}{1 - \\Delta\\lambda/2}$,
    $\\bar B = \\frac{\\Delta}{1 - \\Delta\\lambda/2} B$.

    The two differ at first order in $\\Delta\\lambda$: for the step sizes S4D draws
    ($\\Delta \\le 0.1$) and $|\\lambda|$ in the tens, kernels differ by tens of percent.

    **Arguments:**

    - `dt`: step sizes $\\Delta > 0$, one per channel, shape `(h,)`.
    - `lam`: continuous-time eigenvalues, complex, shape `(h, m)`.
    - `B`: input weights, complex, shape `(h, m)`.
    - `method`: `"zoh"` or `"bilinear"`.

    **Returns:** a [`DiscreteSSM`][jaxkern.ssm.DiscreteSSM]: $\\log\\bar A$, $\\bar A$, $\\bar B$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.ssm import discretize
        >>> lam = jnp.array([[-0.5 + 0j]])
        >>> d = discretize(jnp.array([0.1]), lam, jnp.ones_like(lam))
        >>> d.A  # exp(-0.05)
        Array([[0.95122945+0.j]], dtype=complex64)

    Paper: Gu, Gupta, Goel, Ré, *On the Parameterization and Initialization of Diagonal State
    Space Models* (S4D), NeurIPS 2022, section 2.
    """
    check_modes(dt, lam, B)
    check_method(method)
    dtc = jnp.asarray(dt).astype(lam.dtype)[:, None]
    dtl = dtc * lam
    if method == "zoh":
        log_A = dtl
        B_bar = dtc * exprel(dtl) * B
        return DiscreteSSM(log_A, jnp.exp(log_A), B_bar)
    half = dtl / 2
    log_A = jnp.log1p(half) - jnp.log1p(-half)
    return DiscreteSSM(log_A, (1 + half) / (1 - half), dtc / (1 - half) * B)
