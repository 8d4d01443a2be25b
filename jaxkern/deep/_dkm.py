r"""Deep kernel machines: Gram matrices as the learned representation, kept near the NNGP by
KL terms, with the inducing-point scheme that makes them scale."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_ndim, check_positive, default_jitter
from ..kernels import arccos_map
from ..linalg import jittered_cholesky

KERNEL_MAPS = ("relu", "sqexp")


def check_kernel_map(kernel: str) -> None:
    if kernel not in KERNEL_MAPS:
        raise ValueError(f"`kernel` must be one of {KERNEL_MAPS}, got {kernel!r}.")


def _map(kernel: str, lengthscale, g1, g12, g2):
    if kernel == "relu":
        return arccos_map(g1, g12, g2, order=1)
    sqdist = jnp.maximum(g1 + g2 - 2 * g12, 0)
    return jnp.exp(-sqdist / (2 * jnp.square(lengthscale)))


def kernel_map(
    G: Float[Array, "p p"], *, kernel: str = "relu", lengthscale: Float[ArrayLike, ""] = 1.0
) -> Float[Array, "p p"]:
    r"""A kernel acting on a Gram matrix: the next layer's prior covariance, $K(G)$.

    Both maps read only $G_{ii}$, $G_{jj}$ and $G_{ij}$:

    - `"relu"`: $K_{ij} = \frac{1}{\pi}\sqrt{G_{ii}G_{jj}}\,J_1(\theta_{ij})$,
      $\cos\theta_{ij} = G_{ij}/\sqrt{G_{ii}G_{jj}}$
      ([`arccos_map`][jaxkern.kernels.arccos_map]). This is Cho & Saul's normalisation,
      $2\,\mathbb E[\mathrm{relu}(u)\mathrm{relu}(v)]$, which keeps the diagonal; it is
      twice the ReLU step of neural-tangents (`stax.Relu`), i.e. neural-tangents with
      $\sigma_w^2 = 2$.
    - `"sqexp"`: $K_{ij} = \exp\big(-(G_{ii} + G_{jj} - 2G_{ij}) / 2\ell^2\big)$, the
      squared-exponential kernel of features whose Gram matrix is $G$.

    **Arguments:**

    - `G`: a Gram matrix, shape (p, p).
    - `kernel`: `"relu"` or `"sqexp"` (static).
    - `lengthscale`: $\ell > 0$ of `"sqexp"`.

    **Returns:** $K(G)$, shape (p, p).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.deep import kernel_map
        >>> kernel_map(jnp.eye(2)).tolist()
        [[1.0, 0.31830987334251404], [0.31830987334251404, 1.0]]

    Yang et al., *A theory of representation learning gives a deep generalisation of kernel
    methods*, ICML 2023, section 4.
    """
    check_ndim("G", G, 2, "(p, p)")
    check_kernel_map(kernel)
    check_positive("lengthscale", lengthscale)
    g = jnp.diagonal(G)
    return _map(kernel, lengthscale, g[:, None], G, g[None, :])


def kl_gaussian(
    G: Float[Array, "p p"], K: Float[Array, "p p"], *, jitter: float | None = None
) -> Float[Array, ""]:
    r"""$D_{\mathrm{KL}}\big(\mathcal N(0, G)\,\|\,\mathcal N(0, K)\big)$ of one p-variate column.

    $$D_{\mathrm{KL}} = \tfrac12\big(\operatorname{tr}(K^{-1}G) - p + \log\det K
      - \log\det G\big),$$
    through one Cholesky factor of each; it is 0 at $G = K$ with zero gradient in $G$
    ($\partial D / \partial G = \tfrac12 (K^{-1} - G^{-1})$).

    **Arguments:**

    - `G`, `K`: positive-definite matrices, shape (p, p).
    - `jitter`: added to both diagonals; dtype-dependent default.

    **Returns:** the scalar divergence.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.deep import kl_gaussian
        >>> round(float(kl_gaussian(2 * jnp.eye(3), jnp.eye(3), jitter=0.0)), 5)
        0.46028
    """
    check_ndim("G", G, 2, "(p, p)")
    check_ndim("K", K, 2, "(p, p)")
    if G.shape != K.shape or G.shape[0] != G.shape[1]:
        raise ValueError(f"`G` and `K` must be square of one shape, got {G.shape} and "
                         f"{K.shape}.")
    L_G = jittered_cholesky(G, jitter=jitter)
    L_K = jittered_cholesky(K, jitter=jitter)
    M = jsl.solve_triangular(L_K, L_G, lower=True)
    logdets = jnp.sum(jnp.log(jnp.diagonal(L_K))) - jnp.sum(jnp.log(jnp.diagonal(L_G)))
    return 0.5 * (jnp.sum(M * M) - G.shape[0]) + logdets


class GramBlocks(NamedTuple):
    """A Gram matrix over inducing points i and data points t, keeping what the kernel maps
    read: the full (P, P) inducing block, the (n, P) cross block and the (n,) data diagonal."""

    ii: Array
    ti: Array
    t: Array


def map_blocks(kernel: str, lengthscale, G: GramBlocks) -> GramBlocks:
    """The kernel map on each block of a Gram matrix."""
    gi = jnp.diagonal(G.ii)
    return GramBlocks(
        _map(kernel, lengthscale, gi[:, None], G.ii, gi[None, :]),
        _map(kernel, lengthscale, G.t[:, None], G.ti, gi[None, :]),
        _map(kernel, lengthscale, G.t, G.t, G.t),
    )


def condition_blocks(K: GramBlocks, G_ii: Array, jitter) -> GramBlocks:
    r"""The data points' Gram entries given the inducing Gram $G_{ii}$ under the prior $K$.

    $G_{ti} = K_{ti}K_{ii}^{-1}G_{ii}$ and $g_t = k_t - \mathrm{diag}(K_{ti}K_{ii}^{-1}K_{it})
    + \mathrm{diag}(K_{ti}K_{ii}^{-1}G_{ii}K_{ii}^{-1}K_{it})$: the expected Gram matrix of
    features drawn from the prior conditioned on inducing features with Gram $G_{ii}$.
    """
    L = jittered_cholesky(K.ii, jitter=jitter)
    A = jsl.cho_solve((L, True), K.ti.T).T
    AG = A @ G_ii
    return GramBlocks(G_ii, AG, K.t - jnp.sum(A * K.ti, axis=1) + jnp.sum(AG * A, axis=1))


class SGPR(NamedTuple):
    """Factors of the top layer's inducing-point regression, shared by bound and prediction."""

    L: Array  # chol(K_ii)
    L_B: Array  # chol(I + A A^T), A = L^{-1} K_it / sigma
    c: Array  # L_B^{-1} A y / sigma


def _sgpr(K: GramBlocks, Y, noise, jitter) -> tuple[SGPR, Array]:
    L = jittered_cholesky(K.ii, jitter=jitter)
    sigma = jnp.sqrt(noise)
    A = jsl.solve_triangular(L, K.ti.T, lower=True) / sigma
    B = jnp.eye(A.shape[0], dtype=A.dtype) + A @ A.T
    L_B = jnp.linalg.cholesky(B)
    c = jsl.solve_triangular(L_B, A @ Y, lower=True) / sigma
    return SGPR(L, L_B, c), A


def sgpr_bound(K: GramBlocks, Y: Array, noise, jitter) -> Array:
    r"""Titsias' collapsed bound on $\log \mathcal N(Y; 0, K_{tt} + \sigma^2 I)$, per column
    summed; exact when the inducing points are the data points."""
    n, o = Y.shape
    f, A = _sgpr(K, Y, noise, jitter)
    trace_gap = jnp.sum(K.t) / noise - jnp.sum(A * A)
    return (-0.5 * n * o * (math.log(2 * math.pi) + jnp.log(noise))
            - o * jnp.sum(jnp.log(jnp.diagonal(f.L_B)))
            - 0.5 * jnp.sum(Y * Y) / noise + 0.5 * jnp.sum(f.c * f.c) - 0.5 * o * trace_gap)


def sgpr_predict(K_train: GramBlocks, K_test: GramBlocks, Y, noise, jitter):
    """Latent mean (m, o) and variance (m,) of the inducing-point regression at test points."""
    f, _ = _sgpr(K_train, Y, noise, jitter)
    t1 = jsl.solve_triangular(f.L, K_test.ti.T, lower=True)
    t2 = jsl.solve_triangular(f.L_B, t1, lower=True)
    mean = t2.T @ f.c
    variance = K_test.t - jnp.sum(t1 * t1, axis=0) + jnp.sum(t2 * t2, axis=0)
    return mean, jnp.maximum(variance, 0)


def default_dkm_jitter(dtype) -> float:
    # Inducing Gram matrices of a ReLU kernel are near-singular when inducing points cluster;
    # a larger floor than the Cholesky default keeps float32 fits stable.
    return 1e-4 if jnp.finfo(dtype).bits <= 32 else 100 * default_jitter(dtype)
