r"""Nyström features: an explicit finite feature map whose inner products approximate a kernel.

With landmarks $L$ and $K_{LL} = U \Lambda U^\top$, $\phi(x) = \Lambda^{-1/2} U^\top k(L, x)$
gives $\phi(x)^\top\phi(y) = k(x, L) K_{LL}^{+} k(L, y)$, exact whenever $x$ or $y$ is a
landmark. The columns are the kernel principal components of the landmarks, leading first.
"""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, Float

from .._validation import check_ndim, check_positive, check_same_last_dim
from ..kernels import gram

KernelFn = Callable[[Array, Array], Array]


def nystrom_features(
    k: KernelFn,
    X: Float[Array, "n d"],
    landmarks: Float[Array, "m d"],
    *,
    rtol: float | None = None,
) -> Float[Array, "n m"]:
    r"""Nyström features of a kernel, leading kernel principal components first.

    $$K_{LL} = U\Lambda U^\top,\ \lambda_1 \ge \dots \ge \lambda_m, \qquad
      \phi(x) = \Lambda^{-1/2} U^\top k(L, x), \qquad
      \phi(x)^\top \phi(y) = k(x, L)\, K_{LL}^{+}\, k(L, y) \approx k(x, y).$$
    Column $j$ is the $j$-th kernel principal component of the landmarks (an eigenfunction
    of the empirical kernel operator, scaled so that its squared norm on the landmarks is
    $\lambda_j$), so the first columns are the leading kernel functions: balancing the first
    $J$ columns balances the best rank-$J$ approximation of the kernel mean embedding.
    Eigenvalues below `rtol` $\cdot\,\lambda_1$ give zero columns (the shape stays (n, m),
    so the map can be jitted; $K_{LL}^{+}$ is then the truncated pseudo-inverse).

    **Arguments:**

    - `k`: kernel on one pair of points (e.g. `jaxkern.kernels.RBF(lengthscale=2.0)`).
    - `X`: points to map, shape (n, d).
    - `landmarks`: $L$, shape (m, d) (e.g. a random subset of the data).
    - `rtol`: relative eigenvalue cut-off; default $10^{-10}$ in float64, $10^{-5}$ in float32.

    **Returns:** the features, shape (n, m), in the dtype of `X`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.features import nystrom_features
        >>> X = jnp.linspace(-2.0, 2.0, 7)[:, None]
        >>> phi = nystrom_features(RBF(), X, X[::2])
        >>> round(float(phi[0] @ phi[2]), 5)  # two landmarks: exp(-(4/3)^2 / 2), exactly
        0.41111

    Williams & Seeger, *Using the Nyström Method to Speed Up Kernel Machines*, NeurIPS 2001;
    used as balancing functions as in Li et al., *Debiased Collaborative Filtering with
    Kernel-Based Causal Balancing*, ICLR 2024.
    """
    check_ndim("X", X, 2, "(n, d)")
    check_ndim("landmarks", landmarks, 2, "(m, d)")
    check_same_last_dim("X", X, "landmarks", landmarks)
    dtype = X.dtype if jnp.issubdtype(X.dtype, jnp.floating) else jnp.result_type(float)
    if rtol is None:
        rtol = 1e-10 if dtype == jnp.float64 else 1e-5
    check_positive("rtol", rtol)
    L = landmarks.astype(dtype)
    lam, U = jnp.linalg.eigh(gram(k, L))
    lam, U = lam[::-1], U[:, ::-1]
    keep = lam > rtol * lam[0]
    inv_sqrt = jnp.where(keep, 1 / jnp.sqrt(jnp.where(keep, lam, 1)), 0)
    return (gram(k, X.astype(dtype), L) @ U) * inv_sqrt[None, :]
