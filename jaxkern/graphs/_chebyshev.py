r"""Chebyshev spectral filters $h(L) x$ by the three-term recurrence, without eigenvectors."""

from __future__ import annotations

import math
from collections.abc import Callable

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int, check_ndim, check_positive

Matvec = Callable[[Array], Array]


def chebyshev_coefficients(
    h: Callable[[Array], Array],
    order: int,
    *,
    lambda_max: Float[ArrayLike, ""],
    num_points: int | None = None,
    dtype=None,
) -> Float[Array, " order+1"]:
    r"""Chebyshev coefficients of a spectral response $h$ on $[0, \lambda_{\max}]$.

    With $\lambda(t) = \tfrac{\lambda_{\max}}{2}(t + 1)$ and the Chebyshev–Gauss nodes
    $\theta_j = \pi (j + \tfrac12)/N$, $j = 0, \dots, N-1$,
    $$c_k = \frac{2}{N} \sum_{j=0}^{N-1} h\big(\lambda(\cos\theta_j)\big) \cos(k\theta_j),
      \qquad h(\lambda) \approx \tfrac12 c_0 + \sum_{k=1}^{K} c_k\,
      T_k\!\big(2\lambda/\lambda_{\max} - 1\big).$$
    The returned vector has $c_0$ already halved, so $h \approx \sum_k c_k T_k$. With
    $N = K + 1$ (the default) this is the polynomial interpolating $h$ at the Chebyshev
    points (PyGSP's `compute_cheby_coeff`).

    **Arguments:**

    - `h`: the response, a function of an array of eigenvalues (elementwise, traceable:
      `lambda lam: jnp.exp(-tau * lam)` stays differentiable in `tau`).
    - `order`: polynomial degree $K \ge 0$.
    - `lambda_max`: upper end of the spectrum (or a bound on it).
    - `num_points`: quadrature nodes $N \ge K + 1$; default $K + 1$.
    - `dtype`: float dtype of the nodes; default the default float dtype.

    **Returns:** shape (order + 1,).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import chebyshev_coefficients
        >>> c = chebyshev_coefficients(lambda lam: lam, 3, lambda_max=2.0)
        >>> [round(float(v), 6) + 0.0 for v in c]  # lambda = 1 + T_1(lambda - 1)
        [1.0, 1.0, 0.0, 0.0]

    Hammond, Vandergheynst & Gribonval (2011), *Wavelets on graphs via spectral graph theory*,
    section 6.
    """
    check_int("order", order, 0)
    n = order + 1 if num_points is None else num_points
    check_int("num_points", n, order + 1)
    check_positive("lambda_max", lambda_max)
    dtype = jnp.result_type(float) if dtype is None else dtype
    theta = jnp.pi * (jnp.arange(n, dtype=dtype) + 0.5) / n
    lam_max = jnp.asarray(lambda_max, dtype=dtype)
    values = h(0.5 * lam_max * (jnp.cos(theta) + 1))
    k = jnp.arange(order + 1, dtype=dtype)
    c = (2.0 / n) * jnp.cos(k[:, None] * theta[None, :]) @ values
    return c.at[0].multiply(0.5)


def _check_filter_args(x, coefficients, lambda_max) -> None:
    if jnp.ndim(x) not in (1, 2):
        raise ValueError(f"`x` must have shape (n,) or (n, c), got shape {jnp.shape(x)}.")
    check_ndim("coefficients", coefficients, 1, "(order + 1,)")
    check_positive("lambda_max", lambda_max)


def chebyshev_filter(
    matvec: Matvec,
    x: Float[Array, "n ..."],
    coefficients: Float[Array, " order+1"],
    *,
    lambda_max: Float[ArrayLike, ""],
) -> Float[Array, "n ..."]:
    r"""Apply the spectral filter $h(L) x \approx \sum_k c_k T_k(\tilde L) x$.

    With $\tilde L = 2L/\lambda_{\max} - I$ (spectrum in $[-1, 1]$) and
    $T_0 x = x$, $T_1 x = \tilde L x$, $T_{k+1} x = 2 \tilde L\, T_k x - T_{k-1} x$: $K$
    products with $L$ and three vectors of memory, so $O(K |E|)$ for a sparse graph. The
    error is bounded by $\sum_{k > K} |c_k|$ of $h$'s expansion times $\lVert x\rVert$ once
    $\lambda_{\max}$ bounds the spectrum; eigenvalues above `lambda_max` fall outside
    $[-1, 1]$, where $T_k$ grows, so pass a bound, not an estimate from below.

    **Arguments:**

    - `matvec`: $x \mapsto L x$ for a symmetric positive semi-definite $L$ (a
      [`Laplacian`][jaxkern.graphs.Laplacian] or any callable), on shape (n,) or (n, c).
    - `x`: signal, shape (n,) or (n, c) (each column filtered).
    - `coefficients`: from [`chebyshev_coefficients`][jaxkern.graphs.chebyshev_coefficients].
    - `lambda_max`: the $\lambda_{\max}$ the coefficients were computed for.

    **Returns:** the filtered signal, the shape of `x`.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import (chebyshev_coefficients, chebyshev_filter,
        ...                             graph_from_edges, laplacian)
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1], [1, 2]]), num_nodes=3),
        ...               normalization="sym")
        >>> c = chebyshev_coefficients(lambda lam: jnp.exp(-lam), 20, lambda_max=2.0)
        >>> y = chebyshev_filter(L, jnp.array([1.0, 0.0, 0.0]), c, lambda_max=2.0)
        >>> exact = jnp.linalg.eigh(L.todense())
        >>> ref = exact[1] @ (jnp.exp(-exact[0]) * exact[1][0])
        >>> bool(jnp.allclose(y, ref, atol=1e-6))
        True

    Hammond, Vandergheynst & Gribonval (2011); Defferrard, Bresson & Vandergheynst (2016),
    *ChebNet*; Rayleigh Quotient GNN (Dong et al., 2024) uses these filters.
    """
    _check_filter_args(x, coefficients, lambda_max)
    c = jnp.asarray(coefficients).astype(x.dtype)
    scale = 2.0 / jnp.asarray(lambda_max, dtype=x.dtype)

    def op(v):
        return scale * matvec(v) - v

    out = c[0] * x
    if c.shape[0] == 1:
        return out
    t1 = op(x)
    out = out + c[1] * t1

    def step(carry, ck):
        t0, t1, acc = carry
        t2 = 2 * op(t1) - t0
        return (t1, t2, acc + ck * t2), None

    (_, _, out), _ = lax.scan(step, (x, t1, out), c[2:])
    return out


def chebyshev_moments(
    matvec: Matvec,
    x: Float[Array, "n ..."],
    order: int,
    *,
    lambda_max: Float[ArrayLike, ""],
) -> Float[Array, "order+1 ..."]:
    r"""The moments $\mu_k = x^\top T_k(\tilde L)\, x$, $k = 0, \dots, K$, per column of x.

    Any filter's quadratic form follows without another pass over the graph:
    $x^\top h(L) x \approx \sum_k c_k \mu_k$. Uses $K$ products with $L$.

    **Arguments:**

    - `matvec`: $x \mapsto Lx$ (symmetric).
    - `x`: shape (n,) or (n, c).
    - `order`: $K \ge 0$.
    - `lambda_max`: a bound on the largest eigenvalue.

    **Returns:** shape (order + 1,) or (order + 1, c).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import chebyshev_moments, graph_from_edges, laplacian
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1]]), num_nodes=2))
        >>> x = jnp.array([1.0, -1.0])  # L x = 2 x, so T_k(2 L / 4 - I) x = T_k(0) x
        >>> chebyshev_moments(L, x, 2, lambda_max=4.0).tolist()
        [2.0, 0.0, -2.0]
    """
    if jnp.ndim(x) not in (1, 2):
        raise ValueError(f"`x` must have shape (n,) or (n, c), got shape {jnp.shape(x)}.")
    check_int("order", order, 0)
    check_positive("lambda_max", lambda_max)
    scale = 2.0 / jnp.asarray(lambda_max, dtype=x.dtype)

    def op(v):
        return scale * matvec(v) - v

    def dot(a, b):
        return jnp.sum(a * b, axis=0)

    mu0 = dot(x, x)
    if order == 0:
        return mu0[None]
    t1 = op(x)

    def step(carry, _):
        t0, t1 = carry
        t2 = 2 * op(t1) - t0
        return (t1, t2), dot(x, t2)

    _, rest = lax.scan(step, (x, t1), None, length=order - 1)
    return jnp.concatenate([mu0[None], dot(x, t1)[None], rest], axis=0)


def jackson_damping(order: int, dtype=None) -> Float[Array, " order+1"]:
    r"""Jackson damping factors $g_k$, $k = 0..K$, that suppress Gibbs oscillations of a
    truncated Chebyshev series of a discontinuous response ($g_0 = 1$, so constants stay).

    $$g_k = \frac{(K - k + 2)\cos\frac{\pi k}{K+2} + \sin\frac{\pi k}{K+2}\cot\frac{\pi}{K+2}}
      {K + 2}.$$

    Weiße, Wellein, Alvermann & Fehske (2006), *The kernel polynomial method*, eq. (71).

    Examples:
        >>> from jaxkern.graphs import jackson_damping
        >>> round(float(jackson_damping(4)[0]), 12)
        1.0
    """
    check_int("order", order, 0)
    dtype = jnp.result_type(float) if dtype is None else dtype
    m = order + 2
    k = jnp.arange(order + 1, dtype=dtype)
    a = math.pi / m
    return ((m - k) * jnp.cos(a * k) + jnp.sin(a * k) / math.tan(a)) / m
