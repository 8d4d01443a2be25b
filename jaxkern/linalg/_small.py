r"""Batched solves with small matrices in plain XLA operations, no LAPACK custom call.

A batch of $n$ tiny systems (state-space models solve one $m \times m$ system per time step,
$m \le 10$ or so) is where LAPACK custom calls do worst: one call per matrix, and on XLA:CPU
(jaxlib 0.10) the batched LAPACK kernels fan the batch out over the intra-op thread pool and
block until it is done. Two such calls running side by side on a two-thread pool wait for each
other forever (the process hangs, using no CPU). Gauss–Jordan elimination written with array
operations over the batch has neither problem and vectorises on every backend.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float


def small_solve(
    A: Float[Array, "*batch m m"], B: Float[Array, "*batch m k"]
) -> Float[Array, "*batch m k"]:
    r"""Solve $A X = B$ for a batch of small square matrices, in plain XLA operations.

    Gauss–Jordan elimination with partial pivoting, unrolled over the $m$ columns
    ($m$ static): $O(m^2 (m + k))$ work per system, every step one array operation across the
    batch. Meant for $m$ up to a few tens (state-space models, small Gram blocks); for larger
    $m$ use `jnp.linalg.solve`. Differentiable by ordinary autodiff (the pivot choice is
    piecewise constant).

    - `A`: (..., m, m), nonsingular.
    - `B`: (..., m, k), the same batch shape as `A`.

    **Returns:** $X$ of shape (..., m, k).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import small_solve
        >>> A = jnp.array([[[0.0, 2.0], [1.0, 1.0]]])  # needs a row swap
        >>> small_solve(A, jnp.array([[[2.0], [3.0]]]))[0, :, 0].tolist()
        [2.0, 1.0]
    """
    if A.ndim < 2 or A.shape[-1] != A.shape[-2]:
        raise ValueError(f"small_solve: `A` must be a batch of square matrices, got {A.shape}")
    if B.shape[:-1] != A.shape[:-1]:
        raise ValueError(f"small_solve: `B` must have shape {A.shape[:-1]} + (k,), got {B.shape}")
    m = A.shape[-1]
    aug = jnp.concatenate([A, B], axis=-1)
    rows = jnp.broadcast_to(jnp.arange(m), A.shape[:-1])
    for j in range(m):
        # Partial pivoting: bring the largest |entry| at or below row j of column j to row j.
        pivot = j + jnp.argmax(jnp.abs(aug[..., j:, j]), axis=-1)
        order = jnp.where(rows == j, pivot[..., None],
                          jnp.where(rows == pivot[..., None], j, rows))
        aug = jnp.take_along_axis(aug, order[..., None], axis=-2)
        row = aug[..., j, :] / aug[..., j, j][..., None]
        factor = jnp.where(rows == j, 0, aug[..., :, j])
        aug = aug - factor[..., :, None] * row[..., None, :]
        aug = aug.at[..., j, :].set(row)
    return aug[..., m:]
