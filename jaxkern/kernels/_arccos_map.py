r"""The arc-cosine kernel as a map on second moments: the step that deep kernels repeat."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from ..special import safe_sqrt
from ._dot_product import _angular_part


def arccos_map(
    kxx: Float[ArrayLike, "*b"],
    kxy: Float[ArrayLike, "*b"],
    kyy: Float[ArrayLike, "*b"],
    *,
    order: int = 1,
) -> Float[Array, "*b"]:
    r"""Arc-cosine kernel of order 0, 1 or 2 from the inner products it acts on, elementwise.

    With $\cos\theta = k_{xy} / \sqrt{k_{xx} k_{yy}}$,
    $$\kappa_n(k_{xx}, k_{xy}, k_{yy}) = \frac{1}{\pi} (k_{xx} k_{yy})^{n/2} J_n(\theta)
      = 2\,\mathbb E\big[\Theta(u)\Theta(v)\, u^n v^n\big],\quad
      (u, v) \sim \mathcal N\Big(0, \begin{pmatrix} k_{xx} & k_{xy} \\ k_{xy} & k_{yy}
      \end{pmatrix}\Big),$$
    Cho & Saul's normalisation, under which order 1 (ReLU) keeps the diagonal:
    $\kappa_1(k, k, k) = k$. `jaxkern.kernels.arccos` is this map applied to
    $\langle x, y\rangle = \sigma_w^2 x^\top y + \sigma_b^2$; repeated on a Gram matrix it is
    the ReLU network's NNGP recursion (up to the factor 2 of He initialisation) and the
    deep kernel machine's kernel map. Gradients stay finite at $k_{xy}^2 = k_{xx}k_{yy}$;
    where $k_{xx} k_{yy} = 0$, $\theta$ is taken as $\pi/2$.

    **Arguments:**

    - `kxx`, `kxy`, `kyy`: second moments, arrays of one broadcastable shape.
    - `order`: 0, 1 or 2 (static).

    **Returns:** $\kappa_n$ with the broadcast shape.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import arccos_map
        >>> arccos_map(jnp.array([2.0, 1.0]), jnp.array([2.0, 0.0]), jnp.array([2.0, 1.0])).tolist()
        [2.0, 0.31830987334251404]

    Cho & Saul, *Kernel Methods for Deep Learning*, NeurIPS 2009, eqs. 1-4.
    """
    if order not in (0, 1, 2):
        raise ValueError(f"`order` must be 0, 1 or 2 (step, ReLU, ReQU), got {order!r}.")
    if jnp.shape(kxx) == jnp.shape(kyy):
        norm_product = safe_sqrt(kxx * kyy)  # exact on the diagonal: kappa_1(k, k, k) = k
    else:  # a Gram tile's diagonals are a column and a row: n + m square roots, not n * m
        norm_product = safe_sqrt(kxx) * safe_sqrt(kyy)
    nonzero = norm_product > 0
    c = jnp.clip(jnp.where(nonzero, kxy / jnp.where(nonzero, norm_product, 1), 0), -1, 1)
    return norm_product**order * _angular_part(order, c) / jnp.pi
