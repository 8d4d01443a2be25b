"""The diagonal SSM run as a recurrence, for step-by-step inference."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Complex, Float

from .._validation import check_ndim
from ._discretize import check_modes, discretize


class Recurrence(NamedTuple):
    """Outputs of [`ssm_recurrence`][jaxkern.ssm.ssm_recurrence]."""

    y: Float[Array, "L h"]
    """The outputs $y_k$."""
    state: Complex[Array, "h m"]
    """The final state $x_L$, to continue from."""


def ssm_recurrence(
    u: Float[Array, "L h"],
    dt: Float[Array, " h"],
    lam: Complex[Array, "h m"],
    B: Complex[Array, "h m"],
    C: Complex[Array, "h m"],
    *,
    method: str = "zoh",
    state: Complex[Array, "h m"] | None = None,
) -> Recurrence:
    """Run the discretised diagonal SSM step by step with `lax.scan`.

    $$x_k = \\bar A x_{k-1} + \\bar B u_k, \\qquad y_k = 2\\operatorname{Re}(C x_k),$$

    the recurrent form of the convolution with [`ssm_kernel`][jaxkern.ssm.ssm_kernel]: from a
    zero state, $y = K * u$. $O(m)$ work and memory per step, so it generates sequences one
    step at a time (pass the returned `state` back in to continue).

    **Arguments:**

    - `u`: inputs, shape `(L, h)`.
    - `dt`, `lam`, `B`, `C`: the SSM, as for [`ssm_kernel`][jaxkern.ssm.ssm_kernel].
    - `method`: `"zoh"` or `"bilinear"`.
    - `state`: the state $x_0$ before the first step, complex `(h, m)`; default zero.

    **Returns:** a [`Recurrence`][jaxkern.ssm.Recurrence] with `y` `(L, h)` and the final `state`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.ssm import ssm_kernel, ssm_recurrence
        >>> lam = jnp.array([[-0.5 + 1j]])
        >>> one, dt = jnp.ones_like(lam), jnp.array([0.1])
        >>> impulse = jnp.array([[1.0], [0.0], [0.0]])
        >>> y = ssm_recurrence(impulse, dt, lam, one, one).y
        >>> bool(jnp.allclose(y, ssm_kernel(dt, lam, one, one, length=3), atol=1e-6))
        True

    Paper: Gu, Gupta, Goel, Ré, *On the Parameterization and Initialization of Diagonal State
    Space Models* (S4D), NeurIPS 2022, section 2.
    """
    check_ndim("u", u, 2, "(L, h)")
    check_modes(dt, lam, B)
    if jnp.shape(C) != jnp.shape(lam):
        raise ValueError(f"`C` must have the shape of `lam` {jnp.shape(lam)}, got {jnp.shape(C)}.")
    if jnp.shape(u)[1] != jnp.shape(lam)[0]:
        raise ValueError(
            f"`u` must have one column per channel (h={jnp.shape(lam)[0]}), got shape "
            f"{jnp.shape(u)}."
        )
    disc = discretize(dt, lam, B, method=method)
    if state is None:
        state = jnp.zeros_like(lam)
    elif jnp.shape(state) != jnp.shape(lam):
        raise ValueError(
            f"`state` must have the shape of `lam` {jnp.shape(lam)}, got {jnp.shape(state)}."
        )

    def step(x, u_k):
        x = disc.A * x + disc.B * u_k.astype(lam.dtype)[:, None]
        return x, 2 * jnp.sum(jnp.real(C * x), axis=1)

    state, y = lax.scan(step, state, u)
    return Recurrence(y.astype(u.dtype), state)
