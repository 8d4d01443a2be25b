r"""Pivoted partial Cholesky and the low-rank-plus-shift (Woodbury) preconditioner.

The partial Cholesky of a symmetric positive semi-definite $K$ picks, at each of $m$ steps,
the largest remaining diagonal entry $\pi$ of the Schur complement, and appends the column

$$\ell = \bigl(K_{:\pi} - L L_{\pi:}^\top\bigr) / \sqrt{d_\pi}, \qquad d \leftarrow d - \ell^2,$$

touching only the diagonal of $K$ and the $m$ chosen rows. $K \approx L L^\top$ with
$\operatorname{tr}(K - L L^\top) = \sum_i d_i$ (Harbrecht, Peters & Schneider, *On the
low-rank approximation by the pivoted Cholesky decomposition*, Appl. Numer. Math. 62, 2012).
$P = L L^\top + \sigma^2 I$ is BBMM's preconditioner for $K + \sigma^2 I$ (Gardner et al.,
NeurIPS 2018), applied through the Woodbury identity

$$P^{-1} v = \sigma^{-2}\bigl(v - L C^{-1} L^\top v\bigr), \quad C = \sigma^2 I_m + L^\top L,
\qquad \log\det P = \log\det C + (n - m)\log\sigma^2.$$
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._validation import check_int, check_ndim, check_positive, is_prng_key

__all__ = [
    "PartialCholesky",
    "WoodburyPreconditioner",
    "pivoted_cholesky",
    "woodbury_logdet",
    "woodbury_preconditioner",
    "woodbury_sample",
    "woodbury_solve",
]


class PartialCholesky(NamedTuple):
    """A rank-m pivoted Cholesky factor $K \\approx L L^\\top$.

    - `factor`: $L$, shape (n, m).
    - `pivots`: the chosen rows, shape (m,), in order.
    - `residual_trace`: $\\operatorname{tr}(K - L L^\\top)$, the trace-norm error.
    """

    factor: Float[Array, "n m"]
    pivots: Int[Array, " m"]
    residual_trace: Float[Array, ""]


def pivoted_cholesky(
    diag: Float[Array, " n"],
    row: Callable[[Int[Array, ""]], Float[Array, " n"]],
    *,
    rank: int,
) -> PartialCholesky:
    r"""Rank-`rank` pivoted partial Cholesky from the diagonal and a row oracle.

    Only `diag` and the `rank` rows `row(i)` of the symmetric PSD matrix are read, so a kernel
    matrix need never be formed: `row = lambda i: jax.vmap(k, (None, 0))(X[i], X)`. When the
    remaining diagonal reaches round-off (below $100\,\varepsilon \max_i K_{ii}$: the matrix
    has rank below `rank`), the later columns are zero rather than ``nan`` or amplified noise.

    **Arguments:**

    - `diag`: the matrix's diagonal, shape (n,).
    - `row`: `row(i)` returns row i, shape (n,), for a traced integer i.
    - `rank`: $m$, the number of columns (static), $1 \le m \le n$.

    **Returns:** a [`PartialCholesky`][jaxkern.linalg.PartialCholesky].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import pivoted_cholesky
        >>> K = jnp.array([[4.0, 2.0], [2.0, 3.0]])
        >>> pc = pivoted_cholesky(jnp.diag(K), lambda i: K[i], rank=2)
        >>> bool(jnp.allclose(pc.factor @ pc.factor.T, K)), pc.pivots.tolist()
        (True, [0, 1])

    Harbrecht, Peters & Schneider, Appl. Numer. Math. 62 (2012).
    """
    check_ndim("diag", diag, 1, "(n,)")
    n = diag.shape[0]
    check_int("rank", rank, 1)
    if rank > n:
        raise ValueError(f"`rank` must be at most n = {n}, got {rank}.")
    if not callable(row):
        raise ValueError(f"`row` must be a callable i -> (n,), got {type(row)}.")
    out = jax.eval_shape(row, jnp.zeros((), jnp.int32))
    if tuple(getattr(out, "shape", ())) != (n,):
        raise ValueError(
            f"`row` must return a row of shape ({n},), got {getattr(out, 'shape', out)}."
        )
    dtype = diag.dtype
    # A remaining pivot below this is round-off of the Schur complement, not rank.
    floor = 100 * jnp.finfo(dtype).eps * jnp.max(jnp.abs(diag))

    def step(carry, i):
        L, d, chosen = carry
        pi = jnp.argmax(jnp.where(chosen, -jnp.inf, d)).astype(jnp.int32)
        piv = d[pi]
        ok = piv > floor
        col = jnp.asarray(row(pi), dtype) - L @ L[pi]
        col = jnp.where(ok, col / jnp.sqrt(jnp.where(ok, piv, 1)), jnp.zeros_like(col))
        col = jnp.where(chosen, 0, col)  # exact zeros at earlier pivots
        L = L.at[:, i].set(col)
        d = jnp.maximum(d - col * col, 0).at[pi].set(0)
        return (L, d, chosen.at[pi].set(True)), pi

    init = (jnp.zeros((n, rank), dtype), jnp.asarray(diag), jnp.zeros((n,), bool))
    (L, d, _), pivots = jax.lax.scan(step, init, jnp.arange(rank))
    return PartialCholesky(factor=L, pivots=pivots, residual_trace=jnp.sum(d))


class WoodburyPreconditioner(NamedTuple):
    r"""$P = L L^\top + \sigma^2 I$ with the Cholesky factor of $C = \sigma^2 I + L^\top L$."""

    factor: Float[Array, "n m"]
    shift: Float[Array, ""]
    inner_cholesky: Float[Array, "m m"]


def woodbury_preconditioner(
    factor: Float[Array, "n m"], shift: Float[Array, ""] | float
) -> WoodburyPreconditioner:
    r"""Prepare $P = L L^\top + \sigma^2 I$ for solves and log-determinants ($O(n m^2)$ once).

    **Arguments:**

    - `factor`: $L$, shape (n, m), e.g. a [`pivoted_cholesky`][jaxkern.linalg.pivoted_cholesky]
      factor.
    - `shift`: $\sigma^2 > 0$.

    **Returns:** a [`WoodburyPreconditioner`][jaxkern.linalg.WoodburyPreconditioner].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import woodbury_preconditioner, woodbury_solve
        >>> pre = woodbury_preconditioner(jnp.array([[1.0], [1.0]]), 1.0)
        >>> [round(x, 4) for x in woodbury_solve(pre, jnp.array([2.0, 2.0])).tolist()]
        [0.6667, 0.6667]
    """
    check_ndim("factor", factor, 2, "(n, m)")
    check_positive("shift", shift)
    dtype = factor.dtype
    shift = jnp.asarray(shift, dtype)
    m = factor.shape[1]
    C = shift * jnp.eye(m, dtype=dtype) + factor.T @ factor
    return WoodburyPreconditioner(factor, shift, jnp.linalg.cholesky(C))


def woodbury_solve(
    pre: WoodburyPreconditioner, v: Float[Array, "n ..."]
) -> Float[Array, "n ..."]:
    r"""$P^{-1} v = \sigma^{-2}(v - L C^{-1} L^\top v)$ for $v$ of shape (n,) or (n, r)."""
    L = pre.factor
    if jnp.ndim(v) not in (1, 2) or jnp.shape(v)[0] != L.shape[0]:
        raise ValueError(
            f"`v` must have shape ({L.shape[0]},) or ({L.shape[0]}, r), got {jnp.shape(v)}."
        )
    w = jsl.cho_solve((pre.inner_cholesky, True), L.T @ v)
    return (v - L @ w) / pre.shift


def woodbury_logdet(pre: WoodburyPreconditioner) -> Float[Array, ""]:
    r"""$\log\det P = \log\det C + (n - m) \log \sigma^2$."""
    n, m = pre.factor.shape
    return 2 * jnp.sum(jnp.log(jnp.diagonal(pre.inner_cholesky))) + (n - m) * jnp.log(pre.shift)


def woodbury_sample(
    pre: WoodburyPreconditioner, *, key: PRNGKeyArray, num_samples: int
) -> Float[Array, "n s"]:
    r"""Draws $z = L \varepsilon_1 + \sigma \varepsilon_2 \sim \mathcal N(0, P)$, shape (n, s).

    BBMM's probes for the preconditioned log-determinant and trace estimates.
    """
    if not is_prng_key(key):
        raise ValueError(f"`key` must be a PRNG key (jax.random.key), got {key!r}.")
    check_int("num_samples", num_samples, 1)
    n, m = pre.factor.shape
    dtype = pre.factor.dtype
    k1, k2 = jax.random.split(key)
    e1 = jax.random.normal(k1, (m, num_samples), dtype)
    e2 = jax.random.normal(k2, (n, num_samples), dtype)
    return pre.factor @ e1 + jnp.sqrt(pre.shift) * e2
