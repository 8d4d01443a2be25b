r"""One axis's GP operators on a uniform grid, and the grid derivatives they give.

Under the prior $\mathrm{vec}(U) \sim \mathcal N(0, K_1 \otimes \dots \otimes K_D)$ the
derivative of the GP interpolant along dimension $d$ at the grid points is
$\partial^a_d U = (G^{(a)}_d K_d^{-1}) \times_d U$, with $G^{(a)}_d$ a derivative Gram matrix
and $\times_d$ a product along axis $d$. Every matrix here is $n_d \times n_d$; nothing of
size $N \times N$ is formed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Float

from ..linalg import apply_along_axes
from ._derivatives import derivative_gram
from ._problem import (
    check_axes,
    check_kernels,
    check_trend_degree,
    default_relative_jitter,
    relative_jitter_argument,
)


def stationary_gram(k, x: Float[Array, " n"], orders: tuple[int, int]) -> Float[Array, "n n"]:
    r"""$\partial_x^a \partial_y^b k(x_i, x_j)$ on a uniform axis, from the $2n - 1$ distinct lags.

    For a stationary kernel the entry depends on $i - j$ only, so the kernel (and its autodiff
    derivatives) is evaluated once per lag and gathered into the Toeplitz matrix: $O(n)$ kernel
    calls instead of $O(n^2)$.
    """
    n = x.shape[0]
    lags = jnp.concatenate([x[0] - x[:0:-1], x - x[0]])  # lag (i - j) at index i - j + n - 1
    values = derivative_gram(k, lags, jnp.zeros((1,), x.dtype), orders=orders)[:, 0]
    idx = jnp.arange(n)
    return values[idx[:, None] - idx[None, :] + n - 1]


@jax.custom_vjp
def inverse_logdet(K: Float[Array, "n n"]) -> tuple[Float[Array, "n n"], Float[Array, ""]]:
    r"""$(K^{-1}, \log|K|)$ of a symmetric positive definite matrix, by one Cholesky."""
    # A plain Cholesky: a failed factorisation gives NaN, which a line search rejects, where a
    # raising check would end the whole fit.
    L = jnp.linalg.cholesky(K)
    # One triangular inverse, then matrix products: triangular solves are slow kernels on CPU.
    Linv = solve_triangular(L, jnp.eye(K.shape[0], dtype=K.dtype), lower=True)
    return Linv.T @ Linv, 2 * jnp.sum(jnp.log(jnp.diagonal(L)))


def _inverse_logdet_fwd(K):
    out = inverse_logdet(K)
    return out, out[0]


def _inverse_logdet_bwd(Kinv, cotangents):
    # d(K^{-1}) = -K^{-1} dK K^{-1} and d log|K| = tr(K^{-1} dK): matrix products only, where
    # autodiff through the Cholesky would need triangular solves.
    B, c = cotangents
    return (c * Kinv - Kinv @ B @ Kinv,)


inverse_logdet.defvjp(_inverse_logdet_fwd, _inverse_logdet_bwd)


def legendre(
    x: Float[Array, " n"], lo, hi, degree: int | None, order: int = 0
) -> Float[Array, "n m"]:
    r"""The `order`-th derivative of the Legendre polynomials $P_0 \dots P_{\text{degree}}$ of
    $t = 2 (x - lo) / (hi - lo) - 1$, the interval $[lo, hi]$ mapped onto $[-1, 1]$.

    Shape $(n, \text{degree} + 1)$; $(n, 0)$ where `degree` is `None` (no trend).
    """
    if degree is None:
        return jnp.zeros((x.shape[0], 0), x.dtype)

    def basis(s):
        t = 2 * (s - lo) / (hi - lo) - 1
        out = [jnp.ones_like(t), t]
        for j in range(1, degree):  # (j + 1) P_{j+1} = (2j + 1) t P_j - j P_{j-1}
            out.append(((2 * j + 1) * t * out[j] - j * out[j - 1]) / (j + 1))
        return jnp.stack(out[: degree + 1])

    f = basis
    for _ in range(order):
        f = jax.jacfwd(f)
    return jax.vmap(f)(x)


class AxisPrior(NamedTuple):
    r"""One axis's prior, inverted: what turns grid values into the posterior mean anywhere.

    Without a trend, `inv` is $K^{-1}$, `logdet` $\log|K|$ and `coef` is empty. With a trend
    of Legendre polynomials $P$ (flat prior on their coefficients, the $\sigma \to \infty$
    limit of $K + \sigma^2 P P^\top$), `inv` is
    $Q = K^{-1} - K^{-1} P (P^\top K^{-1} P)^{-1} P^\top K^{-1}$, `logdet` is
    $\log|K| + \log|P^\top K^{-1} P|$ up to a constant, and `coef` maps grid values to the
    trend's coefficients $\hat\beta = (P^\top K^{-1} P)^{-1} P^\top K^{-1} U$. The posterior
    mean at $x^*$ is then $k(x^*, X)\, Q U + p(x^*)^\top \hat\beta$.
    """

    inv: Array  # (n, n)
    logdet: Array
    coef: Array  # (m, n), m = trend_degree + 1 (0 without a trend)


def prior_inverse(k, x, relative_jitter: float, trend_degree: int | None = None) -> AxisPrior:
    r"""The `AxisPrior` of $K + \epsilon k(0) I$ on one axis, with a Legendre trend of degree
    `trend_degree` (`None`: none).

    The jitter is relative to the kernel's variance $k(0)$, so the conditioning it buys does not
    change as the fit rescales the mixture weights. With a trend the inverse is formed in the
    orthogonal complement $Z$ of the trend on the grid ($[P_o, Z]$ orthogonal, $P = P_o R$):
    $Q = Z (Z^\top K Z)^{-1} Z^\top$, $\log|K| + \log|P^\top K^{-1} P| =
    \log|Z^\top K Z| + \log|R|^2$ (the constant is dropped), and
    $\hat\beta = R^{-1} P_o^\top (I - K Q) U$: no difference of the large matrices
    $K^{-1}$ and $K^{-1} P (\cdot)^{-1} P^\top K^{-1}$ (a polynomial costs a stationary kernel
    weights near $1/\epsilon$).
    """
    K = stationary_gram(k, x, (0, 0))
    K = K + relative_jitter * K[0, 0] * jnp.eye(x.shape[0], dtype=x.dtype)
    if trend_degree is None:
        inv, logdet = inverse_logdet(K)
        return AxisPrior(inv, logdet, jnp.zeros((0, x.shape[0]), x.dtype))
    m = trend_degree + 1
    basis = jax.lax.stop_gradient(legendre(x, x[0], x[-1], trend_degree))
    q, r = jnp.linalg.qr(basis, mode="complete")
    P, Z = q[:, :m], q[:, m:]
    Cinv, logdet = inverse_logdet(Z.T @ K @ Z)
    inv = Z @ Cinv @ Z.T
    coef = solve_triangular(r[:m], P.T - (P.T @ K) @ inv, lower=False)
    return AxisPrior(inv, logdet, coef)


def interpolator(
    k, x, prior: AxisPrior, new: Float[Array, " m"], order: int = 0
) -> Float[Array, "m n"]:
    r"""The matrix taking grid values on `x` to the posterior mean's `order`-th derivative at
    `new`: $\partial^a k(X^*, X)\, Q + \partial^a p(X^*)^\top \hat\beta$ (see `AxisPrior`)."""
    degree = prior.coef.shape[0] - 1 if prior.coef.shape[0] else None
    cross = derivative_gram(k, new, x, orders=(order, 0))
    return cross @ prior.inv + legendre(new, x[0], x[-1], degree, order) @ prior.coef


class FactorOps(NamedTuple):
    """One axis's operators."""

    logdet: Array  # log|K_d + jitter I| (with a trend: + log|P^T K^{-1} P|)
    inv: Array  # its inverse, K_d^{-1} (with a trend: Q_d of `AxisPrior`)
    d1: Array  # G1_d K_d^{-1} (+ trend): grid values -> first derivative
    d2: Array  # G2_d K_d^{-1} (+ trend): grid values -> second derivative
    mean: Array  # I - eps k_d(0) K_d^{-1} (Q_d with a trend): grid values -> posterior mean there


def factor_operators(k, x, relative_jitter: float, trend_degree: int | None = None) -> FactorOps:
    r"""$K^{-1}$ and $\log|K|$ of `prior_inverse`, and the operators $G_a K^{-1}$.

    With a trend, $G_a Q + \partial^a P\, \hat\beta$: the GP part's derivative plus the
    trend's. The posterior mean at the grid points themselves is $(K - \epsilon k(0) I) Q +
    P \hat\beta = I - \epsilon k(0) Q$ (as $(K + \epsilon k(0) I) Q + P\hat\beta = I$): not
    $U$ where $Q$ is as large as $1 / (\epsilon k(0))$, along directions the kernel barely holds.
    """
    prior = prior_inverse(k, x, relative_jitter, trend_degree)

    def operator(order):
        deriv = legendre(x, x[0], x[-1], trend_degree, order)
        return stationary_gram(k, x, (order, 0)) @ prior.inv + deriv @ prior.coef

    k0 = derivative_gram(k, x[:1], x[:1])[0, 0]
    mean = jnp.eye(x.shape[0], dtype=x.dtype) - relative_jitter * k0 * prior.inv
    return FactorOps(prior.logdet, prior.inv, operator(1), operator(2), mean)


def along(A: Array, U: Array, d: int) -> Array:
    """Multiply axis `d` of the tensor `U` by the matrix `A`."""
    return jnp.moveaxis(jnp.tensordot(A, U, axes=(1, d)), 0, d)


class GridDerivatives(NamedTuple):
    """The solution on the grid and its GP-mean derivatives along each dimension."""

    u: Array
    du: tuple
    d2u: tuple


def derivatives(ops: Sequence[FactorOps], U: Array) -> GridDerivatives:
    r"""$U$ and its GP-mean derivatives through each axis's operators $G_a K^{-1}$."""
    return GridDerivatives(
        U,
        tuple(along(o.d1, U, d) for d, o in enumerate(ops)),
        tuple(along(o.d2, U, d) for d, o in enumerate(ops)),
    )


def log_evidence_terms(ops: Sequence[FactorOps], U: Array) -> Array:
    r"""$\tfrac12 \log|K| + \tfrac12 \mathrm{vec}(U)^\top K^{-1} \mathrm{vec}(U)$ by factors.

    $\log|K| = \sum_d (N / n_d) \log|K_d|$, and $K^{-1}$ is one multiplication per axis.
    """
    logdet = sum((U.size // o.inv.shape[0]) * o.logdet for o in ops)
    return 0.5 * logdet + 0.5 * jnp.sum(U * apply_along_axes([o.inv for o in ops], U))


def resolved(ops: Sequence[FactorOps], U: Array, axes: Sequence[Array]) -> Array:
    r"""Whether the GP derivatives of $U$ stay within what the grid resolves.

    A function band-limited to an axis's Nyquist frequency $\pi / h$ obeys Bernstein's
    inequality $\|\partial^a u\| \le (\pi / h)^a \|u\|$. Kernels whose derivative operators
    break it by far are degenerate: nearly collinear pure cosines whose $G K^{-1}$ has a gain
    near $\omega^2 / \epsilon$, with which a vanishing $U$ meets the PDE and $J$ falls without
    bound.
    """
    d = derivatives(ops, U)
    size = jnp.linalg.norm(U)
    ok = jnp.asarray(True)
    for du, d2u, x in zip(d.du, d.d2u, axes):
        nyquist = jnp.pi / (x[1] - x[0])
        ok &= (jnp.linalg.norm(du) <= nyquist * size) & (jnp.linalg.norm(d2u) <= nyquist**2 * size)
    return ok


def grid_derivatives(
    kernels: Sequence[Callable],
    axes: Sequence[Float[Array, " n"]],
    U: Float[Array, "*grid"],
    *,
    relative_jitter: float | None = None,
    trend_degree: int | None = None,
    jitter: float | None = None,
) -> GridDerivatives:
    r"""First and second derivatives of the GP interpolant of grid values, along each dimension.

    $$\partial_d U = \big(G^{(1)}_d K_d^{-1}\big) \times_d U, \qquad
      \partial_d^2 U = \big(G^{(2)}_d K_d^{-1}\big) \times_d U,$$
    where $\times_d$ multiplies along axis $d$, $K_d$ is the kernel Gram matrix of axis $d$
    plus $\epsilon\, k_d(0) I$, and $G^{(a)}_d$ the Gram matrix of $\partial_x^a k_d$: the
    posterior mean of the derivative given the grid values, through the Kronecker structure.

    **Arguments:**

    - `kernels`: one 1-D kernel per dimension.
    - `axes`: grid coordinates, one array per dimension.
    - `U`: values on the grid, shape $(n_1, \dots, n_D)$.
    - `relative_jitter`: $\epsilon$, the diagonal added to each $K_d$ relative to $k_d(0)$;
      defaults to $10^{-6}$ ($10^{-4}$ in float32).
    - `trend_degree`: with a degree, each axis's prior also holds Legendre polynomials up to
      that degree with a flat prior on their coefficients (universal kriging, as
      [`solve`][jaxkern.pde.solve] uses), so they are differentiated exactly; `None` (the
      default here): the stationary kernel alone.
    - `jitter`: deprecated name of `relative_jitter` (same meaning).

    **Returns:** a [`GridDerivatives`][jaxkern.pde.GridDerivatives].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.pde import grid_derivatives
        >>> x = jnp.linspace(0, 1, 30)
        >>> d = grid_derivatives([RBF(lengthscale=0.3)], (x,), x**2, relative_jitter=1e-4)
        >>> round(float(jnp.take(d.d2u[0], 15)))  # d^2(x^2)/dx^2 = 2 (float32: ~1 digit)
        2

    Fang et al., ICLR 2024, eq. 10.
    """
    relative_jitter = relative_jitter_argument(relative_jitter, jitter, "grid_derivatives")
    axes = check_axes(axes)
    shape = tuple(a.shape[0] for a in axes)
    if U.shape != shape:
        raise ValueError(f"`U` must have the grid shape {shape}, got {U.shape}.")
    kernels = check_kernels(kernels, axes)
    if relative_jitter is None:
        relative_jitter = default_relative_jitter(U.dtype)
    check_trend_degree(trend_degree, shape)
    ops = [factor_operators(k, a, relative_jitter, trend_degree) for k, a in zip(kernels, axes)]
    return derivatives(ops, U)
