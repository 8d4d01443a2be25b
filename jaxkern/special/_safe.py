"""Square roots and norms whose gradients stay finite at zero."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float


def safe_sqrt(x: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    r"""Square root with a zero (not infinite) derivative at $x = 0$.

    $\sqrt{x}$ has derivative $1 / (2\sqrt{x})$, which is infinite at 0 and turns a chain rule
    through a distance into ``nan``. This returns $\sqrt{x}$ for $x > 0$ and 0 otherwise, using
    the double-``where`` so that the untaken branch never sees $x = 0$.

    **Arguments:**

    - `x`: non-negative values; negative inputs (round-off) are treated as 0, NaN stays NaN.

    **Returns:** $\sqrt{\max(x, 0)}$, with gradient 0 where $x \le 0$.

    Examples:
        >>> import jax
        >>> from jaxkern.special import safe_sqrt
        >>> float(jax.grad(safe_sqrt)(0.0))
        0.0
    """
    x = jnp.asarray(x)
    keep = ~(x <= 0)  # positive or NaN: NaN propagates instead of becoming 0
    return jnp.where(keep, jnp.sqrt(jnp.where(keep, x, 1)), 0)


def safe_norm(x: Float[ArrayLike, "... d"], axis: int = -1) -> Float[Array, "..."]:
    r"""Euclidean norm $\|x\|_2$ along ``axis`` with gradient 0 (not ``nan``) at $x = 0$.

    **Arguments:**

    - `x`: array of vectors.
    - `axis`: the axis to reduce.

    **Returns:** the norms, with the reduced axis removed.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.special import safe_norm
        >>> jax.grad(safe_norm)(jnp.zeros(3)).tolist()
        [0.0, 0.0, 0.0]
    """
    x = jnp.asarray(x)
    return safe_sqrt(jnp.sum(x * x, axis=axis))
