r"""Rayleigh-quotient features and spectral energy summaries of graph signals."""

from __future__ import annotations

from collections.abc import Callable

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int, check_positive
from ._chebyshev import chebyshev_coefficients, chebyshev_moments, jackson_damping

Matvec = Callable[[Array], Array]


def rayleigh_quotient(matvec: Matvec, x: Float[Array, "n ..."]) -> Float[Array, "..."]:
    r"""The Rayleigh quotient $R(x) = x^\top L x / x^\top x$ of every column of a signal.

    For the combinatorial Laplacian $x^\top L x = \tfrac12\sum_{ij} A_{ij}(x_i - x_j)^2$,
    so $R$ is the signal's mean squared variation across edges, a number in
    $[\lambda_{\min}, \lambda_{\max}]$: small for smooth signals, large for high-frequency
    ones (Rayleigh Quotient GNN's graph-level anomaly feature). A zero column gives 0
    (not NaN).

    **Arguments:**

    - `matvec`: $x \mapsto Lx$ (a [`Laplacian`][jaxkern.graphs.Laplacian] or any symmetric
      operator).
    - `x`: shape (n,) or (n, c).

    **Returns:** a scalar for x of shape (n,), shape (c,) for (n, c).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import graph_from_edges, laplacian, rayleigh_quotient
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1], [1, 2]]), num_nodes=3))
        >>> r = rayleigh_quotient(L, jnp.array([[1.0, 1.0], [1.0, -1.0], [1.0, 1.0]]))
        >>> [round(float(v), 5) for v in r]  # a constant signal is smoothest; 8 / 3
        [0.0, 2.66667]

    Dong, Zhang, Zhang & Wang (2024), *Rayleigh Quotient Graph Neural Networks for Graph-level
    Anomaly Detection*, ICLR.
    """
    if jnp.ndim(x) not in (1, 2):
        raise ValueError(f"`x` must have shape (n,) or (n, c), got shape {jnp.shape(x)}.")
    num = jnp.sum(x * matvec(x), axis=0)
    den = jnp.sum(x * x, axis=0)
    safe = jnp.where(den > 0, den, 1)
    return jnp.where(den > 0, num / safe, 0)


def band_coefficients(
    num_bands: int, order: int, *, lambda_max: Float[ArrayLike, ""], dtype=None
) -> Float[Array, "bands order+1"]:
    r"""Jackson-damped Chebyshev coefficients of the indicators of `num_bands` equal bands of
    $[0, \lambda_{\max}]$; the rows sum to the expansion of 1 exactly (only $c_0 = 1$).

    Examples:
        >>> from jaxkern.graphs import band_coefficients
        >>> [abs(round(float(v), 6)) for v in band_coefficients(2, 3, lambda_max=2.0).sum(0)]
        [1.0, 0.0, 0.0, 0.0]
    """
    check_int("num_bands", num_bands, 1)
    check_int("order", order, 0)
    check_positive("lambda_max", lambda_max)
    dtype = jnp.result_type(float) if dtype is None else dtype
    lam_max = jnp.asarray(lambda_max, dtype=dtype)
    # A fine Chebyshev-Gauss grid integrates the step functions; each node belongs to one band,
    # so the rows add up to the coefficients of the constant 1 node by node.
    num_points = max(8 * (order + 1), 64)
    edges = lam_max * jnp.arange(1, num_bands, dtype=dtype) / num_bands

    def band(b):
        def h(lam):
            idx = jnp.searchsorted(edges, lam, side="right")
            return (idx == b).astype(dtype)
        return chebyshev_coefficients(h, order, lambda_max=lam_max, num_points=num_points,
                                      dtype=dtype)

    c = jnp.stack([band(b) for b in range(num_bands)])
    return c * jackson_damping(order, dtype)[None, :]


def spectral_energy(
    matvec: Matvec,
    x: Float[Array, "n ..."],
    *,
    lambda_max: Float[ArrayLike, ""],
    num_bands: int = 4,
    order: int = 30,
) -> Float[Array, "bands ..."]:
    r"""The share of a signal's energy in each of `num_bands` frequency bands.

    With $L = \sum_l \lambda_l u_l u_l^\top$ and band $b$ = $[b, b+1)\,\lambda_{\max}/B$,
    $$E_b(x) = \frac{\sum_{l:\,\lambda_l \in b} (u_l^\top x)^2}{x^\top x}
      \approx \frac{x^\top g_b(L)\, x}{x^\top x},$$
    where $g_b$ is the Jackson-damped Chebyshev expansion of the band's indicator
    ([`band_coefficients`][jaxkern.graphs.band_coefficients]), evaluated from the moments
    $x^\top T_k(\tilde L) x$ of one recurrence ($K$ products with $L$ for all bands). The
    bands sum to 1 exactly; edges between bands are smoothed over a width of about
    $\lambda_{\max}/K$. No eigenvectors are needed.

    **Arguments:**

    - `matvec`: $x \mapsto L x$ (symmetric).
    - `x`: shape (n,) or (n, c); a zero column gives zeros.
    - `lambda_max`: a bound on the spectrum (2 for the normalised Laplacian).
    - `num_bands`: number of equal bands $B$.
    - `order`: polynomial degree $K$.

    **Returns:** shape (num_bands,) or (num_bands, c).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import graph_from_edges, laplacian, spectral_energy
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1], [1, 2]]), num_nodes=3),
        ...               normalization="sym")
        >>> e = spectral_energy(L, jnp.ones(3), lambda_max=2.0, num_bands=2)
        >>> round(float(e.sum()), 6)
        1.0
    """
    if jnp.ndim(x) not in (1, 2):
        raise ValueError(f"`x` must have shape (n,) or (n, c), got shape {jnp.shape(x)}.")
    mu = chebyshev_moments(matvec, x, order, lambda_max=lambda_max)
    c = band_coefficients(num_bands, order, lambda_max=lambda_max, dtype=x.dtype)
    num = c @ mu
    den = mu[:1]
    safe = jnp.where(den > 0, den, 1)
    return jnp.where(den > 0, num / safe, 0)
