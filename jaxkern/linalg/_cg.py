r"""Conjugate gradients: batched with Lanczos tridiagonals (mBCG), and fixed-iteration.

For a symmetric positive definite $A$ and preconditioner $P$, preconditioned CG builds

$$x_{j+1} = x_j + \alpha_j p_j, \quad r_{j+1} = r_j - \alpha_j A p_j, \quad
z_{j+1} = P^{-1} r_{j+1}, \quad p_{j+1} = z_{j+1} + \beta_j p_j,$$

with $\alpha_j = r_j^\top z_j / p_j^\top A p_j$ and $\beta_j = r_{j+1}^\top z_{j+1} /
r_j^\top z_j$. The same coefficients are the Lanczos tridiagonal of $P^{-1/2} A P^{-1/2}$
started from $P^{-1/2} r_0$ (Saad, *Iterative Methods for Sparse Linear Systems*, 2nd ed.,
section 6.7.3):

$$T_{jj} = \frac{1}{\alpha_j} + \frac{\beta_{j-1}}{\alpha_{j-1}}, \qquad
T_{j,j+1} = \frac{\sqrt{\beta_j}}{\alpha_j},$$

so one batched CG run gives solves and, through the tridiagonals, stochastic Lanczos
quadrature for $\log\det$ (Gardner et al., *GPyTorch: blackbox matrix-matrix Gaussian process
inference with GPU acceleration*, NeurIPS 2018).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from .._validation import check_int, concrete_or_none
from ._blocking import carry_like_body

__all__ = ["CGResult", "Tridiagonals", "batched_cg", "cg", "fixed_cg"]


class Tridiagonals(NamedTuple):
    r"""Lanczos tridiagonals $T$ recovered from CG, one per right-hand side.

    `diag` has shape (..., max_steps) and `offdiag` (..., max_steps - 1). Past a column's
    `iterations` the diagonal is padded with ones and the off-diagonal with zeros: the padded
    block is decoupled from the first row, so its eigenvalues carry zero Gauss weight and the
    full padded matrix can be used as it is (e.g. `jnp.linalg.eigh` under `jit`).
    """

    diag: Float[Array, "... m"]
    offdiag: Float[Array, "... m-1"]


class CGResult(NamedTuple):
    """The outcome of a CG solve; per right-hand side where there are several.

    - `solution`: $x$, shape of the right-hand side.
    - `residual_norms`: $\\|r\\|_2$ of the final recurrence residual, shape (r,) or ().
    - `iterations`: steps taken, shape (r,) or ().
    - `converged`: `residual_norms <= max(rtol * ||b||, atol)` without breakdown.
    - `negative_curvature`: a step met $p^\\top A p \\le 0$: the operator is not positive
      definite (that column stopped there; its solution is not a solve).
    - `tridiagonals`: the [`Tridiagonals`][jaxkern.linalg.Tridiagonals] of each column.
    """

    solution: Float[Array, "n ..."]
    residual_norms: Float[Array, "..."]
    iterations: Int[Array, "..."]
    converged: Bool[Array, "..."]
    negative_curvature: Bool[Array, "..."]
    tridiagonals: Tridiagonals


def _check_rhs(name: str, b, ndim: int, shape_doc: str) -> None:
    if jnp.ndim(b) != ndim:
        raise ValueError(f"`{name}` must have shape {shape_doc}, got shape {jnp.shape(b)}.")
    if not jnp.issubdtype(jnp.result_type(b), jnp.floating):
        raise ValueError(f"`{name}` must be a real floating array, got dtype {jnp.result_type(b)}.")
    arr = concrete_or_none(b)
    if arr is not None and not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite, got an array with inf or nan entries.")


def _check_operator(name: str, op, like) -> None:
    if not callable(op):
        raise ValueError(f"`{name}` must be a callable, got {type(op)}.")
    out = jax.eval_shape(op, like)
    if not hasattr(out, "shape") or tuple(out.shape) != tuple(like.shape):
        got = getattr(out, "shape", type(out))
        raise ValueError(
            f"`{name}` must map an array of shape {tuple(like.shape)} to the same shape, "
            f"got {got}."
        )


def _check_x0(x0, b) -> None:
    if x0 is not None and jnp.shape(x0) != jnp.shape(b):
        raise ValueError(
            f"`x0` must have the shape of the right-hand side {jnp.shape(b)}, got "
            f"{jnp.shape(x0)}."
        )


def _check_tols(rtol, atol) -> None:
    for name, value in (("rtol", rtol), ("atol", atol)):
        arr = concrete_or_none(value)
        if arr is not None and not (np.ndim(arr) == 0 and np.isfinite(arr) and arr >= 0):
            raise ValueError(f"`{name}` must be a finite scalar >= 0, got {value!r}.")


def _safe_div(num, den):
    ok = den != 0
    return jnp.where(ok, num / jnp.where(ok, den, jnp.ones_like(den)), jnp.zeros_like(num))


def _tridiagonals(alphas, betas, iterations, max_steps) -> Tridiagonals:
    """T from CG's (max_steps, r) step sizes and direction updates; padded past `iterations`."""
    steps = jnp.arange(max_steps, dtype=jnp.int32)[:, None]
    live = steps < iterations[None, :]
    inv_a = _safe_div(jnp.ones_like(alphas), alphas)
    shifted = jnp.concatenate([jnp.zeros_like(alphas[:1]), (betas * inv_a)[:-1]], axis=0)
    diag = jnp.where(live, inv_a + shifted, jnp.ones_like(alphas))
    off_live = steps[:-1] < iterations[None, :] - 1
    off = jnp.where(off_live, jnp.sqrt(jnp.maximum(betas[:-1], 0)) * inv_a[:-1],
                    jnp.zeros_like(alphas[:-1]))
    return Tridiagonals(diag=diag.T, offdiag=off.T)


def _mbcg(matmat, B, X0, precond, rtol, atol, max_steps, column_steps=None):
    dtype = B.dtype
    r = B.shape[1]
    R = B - matmat(X0) if X0 is not None else B
    X = jnp.zeros_like(B) if X0 is None else X0
    Z = precond(R)
    rho = jnp.sum(R * Z, axis=0)
    bnorm = jnp.linalg.norm(B, axis=0)
    tol = jnp.maximum(jnp.asarray(rtol, dtype) * bnorm, jnp.asarray(atol, dtype))
    rnorm = jnp.linalg.norm(R, axis=0)
    cap = jnp.full((r,), max_steps, jnp.int32) if column_steps is None else column_steps
    active = (rnorm > tol) & (cap > 0)
    state = dict(
        k=jnp.zeros((), jnp.int32), X=X, R=R, P=jnp.where(active[None], Z, 0), rho=rho,
        rnorm=rnorm,
        active=active, iters=jnp.zeros((r,), jnp.int32), neg=jnp.zeros((r,), bool),
        alphas=jnp.zeros((max_steps, r), dtype), betas=jnp.zeros((max_steps, r), dtype),
    )

    def cond(s):
        return (s["k"] < max_steps) & jnp.any(s["active"])

    def body(s):
        P, active = s["P"], s["active"]
        AP = matmat(P)
        pAp = jnp.sum(P * AP, axis=0)
        neg = active & ~(pAp > 0)
        active = active & ~neg
        alpha = jnp.where(active, _safe_div(s["rho"], pAp), 0)
        X = s["X"] + alpha[None] * P
        R = s["R"] - alpha[None] * AP
        Z = precond(R)
        rho_new = jnp.sum(R * Z, axis=0)
        beta = jnp.where(active, _safe_div(rho_new, s["rho"]), 0)
        rnorm = jnp.where(active, jnp.linalg.norm(R, axis=0), s["rnorm"])
        P = jnp.where(active[None], Z + beta[None] * P, 0)
        k = s["k"]
        iters = s["iters"] + active.astype(jnp.int32)
        return dict(
            k=k + 1, X=X, R=R, P=P, rho=jnp.where(active, rho_new, s["rho"]), rnorm=rnorm,
            active=active & (rnorm > tol) & (iters < cap), iters=iters,
            neg=s["neg"] | neg, alphas=s["alphas"].at[k].set(alpha),
            betas=s["betas"].at[k].set(beta),
        )

    s = jax.lax.while_loop(cond, body, carry_like_body(body, state))
    converged = (s["rnorm"] <= tol) & ~s["neg"]
    tri = _tridiagonals(s["alphas"], s["betas"], s["iters"], max_steps)
    return CGResult(s["X"], s["rnorm"], s["iters"], converged, s["neg"], tri)


def _raise_if_indefinite(solution: Array, negative_curvature: Array, name: str) -> Array:
    return eqx.error_if(
        solution, negative_curvature,
        f"{name} met p^T A p <= 0: the operator is not symmetric positive definite.",
    )


def _raise_unless_converged(solution: Array, converged: Array, name: str, max_steps: int,
                            remedy: str = "raise `max_steps` or loosen `rtol`/`atol`") -> Array:
    return eqx.error_if(
        solution, ~converged,
        f"{name} did not converge within max_steps = {max_steps} (or the right-hand side is not "
        f"finite); {remedy}.",
    )


def _throw(result: CGResult, max_steps: int) -> CGResult:
    sol = _raise_if_indefinite(result.solution, jnp.any(result.negative_curvature), "CG")
    sol = _raise_unless_converged(
        sol, jnp.all(result.converged), "CG", max_steps,
        "raise `max_steps`, loosen `rtol`/`atol` or use a preconditioner")
    return result._replace(solution=sol)


def batched_cg(
    matmat: Callable[[Float[Array, "n r"]], Float[Array, "n r"]],
    B: Float[Array, "n r"],
    *,
    x0: Float[Array, "n r"] | None = None,
    preconditioner: Callable[[Float[Array, "n r"]], Float[Array, "n r"]] | None = None,
    rtol: float = 1e-6,
    atol: float = 0.0,
    max_steps: int | None = None,
    column_steps: Int[Array, " r"] | None = None,
    throw: bool = False,
) -> CGResult:
    r"""Preconditioned CG on many right-hand sides at once (BBMM's mBCG).

    Solves $A X = B$ column by column, every step one matrix-matrix product `matmat(P)` for
    all columns (a kernel matvec over (n, r) blocks costs little more than over (n,)). Each
    column has its own $\alpha_j, \beta_j$ and stops when $\|r\| \le \max(\text{rtol}\,
    \|b\|, \text{atol})$; the loop stops when all have. The recorded coefficients give each
    column's Lanczos tridiagonal (see the module docstring), for SLQ log-determinants from the
    same run.

    Failure is reported, never silent: `converged` is False for a column that did not reach
    its tolerance in `max_steps` (or whose right-hand side is not finite), and
    `negative_curvature` is True where $p^\top A p \le 0$ showed that $A$ is not positive
    definite. With `throw=True` either raises (`eqx.error_if`, inside `jit` too).

    The loop is a `lax.while_loop`: differentiate through the solution with
    [`fixed_cg`][jaxkern.linalg.fixed_cg] or an implicit (adjoint) rule, not through this.

    **Arguments:**

    - `matmat`: the SPD operator on blocks, (n, r) -> (n, r).
    - `B`: right-hand sides, shape (n, r), finite.
    - `x0`: initial guess, shape (n, r) (warm start); default zeros.
    - `preconditioner`: applies $P^{-1}$ to a block, (n, r) -> (n, r); default identity.
    - `rtol`, `atol`: relative and absolute residual tolerances, $\ge 0$.
    - `max_steps`: the most iterations (static); default n.
    - `column_steps`: optional per-column caps, integers of shape (r,) (traced is fine): column
      $i$ stops after `column_steps[i]` iterations even if it has not converged (then
      `converged[i]` is False). For columns whose only use is their first Lanczos steps,
      e.g. the probes of a log-determinant's quadrature, so that they do not prolong the loop.
    - `throw`: raise on non-convergence or negative curvature.

    **Returns:** a [`CGResult`][jaxkern.linalg.CGResult] with per-column fields of shape (r,)
    and tridiagonals of shape (r, max_steps).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import batched_cg
        >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        >>> res = batched_cg(lambda X: A @ X, jnp.eye(2))
        >>> bool(jnp.allclose(res.solution, jnp.linalg.inv(A), atol=1e-5)), res.iterations.tolist()
        (True, [2, 2])

    Hestenes & Stiefel, J. Res. Natl. Bur. Stand. 49 (1952); Gardner et al., NeurIPS 2018.
    """
    _check_rhs("B", B, 2, "(n, r)")
    n = B.shape[0]
    _check_x0(x0, B)
    _check_tols(rtol, atol)
    if max_steps is None:
        max_steps = n
    check_int("max_steps", max_steps, 1)
    if column_steps is not None:
        if jnp.shape(column_steps) != (B.shape[1],) or not jnp.issubdtype(
                jnp.result_type(column_steps), jnp.integer):
            raise ValueError(
                f"`column_steps` must be integers of shape ({B.shape[1]},) (one per column of "
                f"`B`), got shape {jnp.shape(column_steps)} and dtype "
                f"{jnp.result_type(column_steps)}."
            )
        column_steps = jnp.asarray(column_steps, jnp.int32)
    _check_operator("matmat", matmat, B)
    if preconditioner is None:
        preconditioner = lambda X: X  # noqa: E731
    else:
        _check_operator("preconditioner", preconditioner, B)
    dtype = B.dtype
    matmat_ = lambda X: jnp.asarray(matmat(X), dtype)  # noqa: E731
    precond_ = lambda X: jnp.asarray(preconditioner(X), dtype)  # noqa: E731
    x0 = None if x0 is None else jnp.asarray(x0, dtype)
    result = _mbcg(matmat_, B, x0, precond_, rtol, atol, max_steps, column_steps)
    return _throw(result, max_steps) if throw else result


def cg(
    matvec: Callable[[Float[Array, " n"]], Float[Array, " n"]],
    b: Float[Array, " n"],
    *,
    x0: Float[Array, " n"] | None = None,
    preconditioner: Callable[[Float[Array, " n"]], Float[Array, " n"]] | None = None,
    rtol: float = 1e-6,
    atol: float = 0.0,
    max_steps: int | None = None,
    throw: bool = False,
) -> CGResult:
    r"""Preconditioned CG for one right-hand side, with its Lanczos tridiagonal.

    [`batched_cg`][jaxkern.linalg.batched_cg] for a single vector: `matvec` and
    `preconditioner` act on (n,) vectors; the result's per-column fields are scalars and the
    tridiagonal has shape (max_steps,).

    **Arguments:** as [`batched_cg`][jaxkern.linalg.batched_cg], with `b` of shape (n,).

    **Returns:** a [`CGResult`][jaxkern.linalg.CGResult].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import cg
        >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        >>> res = cg(lambda v: A @ v, jnp.array([1.0, 2.0]))
        >>> [round(x, 4) for x in res.solution.tolist()], bool(res.converged)
        ([0.0909, 0.6364], True)

    Hestenes & Stiefel, J. Res. Natl. Bur. Stand. 49 (1952).
    """
    _check_rhs("b", b, 1, "(n,)")
    _check_x0(x0, b)
    _check_operator("matvec", matvec, b)
    if preconditioner is not None:
        _check_operator("preconditioner", preconditioner, b)
        pre = lambda X: preconditioner(X[:, 0])[:, None]  # noqa: E731
    else:
        pre = None
    res = batched_cg(
        lambda X: matvec(X[:, 0])[:, None], b[:, None],
        x0=None if x0 is None else x0[:, None], preconditioner=pre, rtol=rtol, atol=atol,
        max_steps=max_steps, throw=throw,
    )
    return CGResult(
        res.solution[:, 0], res.residual_norms[0], res.iterations[0], res.converged[0],
        res.negative_curvature[0], Tridiagonals(res.tridiagonals.diag[0],
                                                res.tridiagonals.offdiag[0]),
    )


def fixed_cg(
    matvec: Callable[[Float[Array, " n"]], Float[Array, " n"]],
    b: Float[Array, " n"],
    x0: Float[Array, " n"] | None = None,
    *,
    num_steps: int,
    preconditioner: Callable[[Float[Array, " n"]], Float[Array, " n"]] | None = None,
    throw: bool = True,
) -> Float[Array, " n"]:
    r"""Exactly `num_steps` CG iterations from a warm start: cheap, differentiable, loop-safe.

    The recurrence of [`batched_cg`][jaxkern.linalg.batched_cg] (and of
    `scipy.sparse.linalg.cg`, which it equals to rounding for the same iterations) unrolled as
    a `lax.scan` of fixed length, with no convergence test: the cost is known in advance, so
    it can sit inside a sampler's or optimiser's loop, warm-started from the previous
    solution (paper #46, the Decomposed Diffusion Sampler, takes a few such steps per
    denoising step), and `jax.grad`, `jax.vmap` and `jax.jit` all pass through it. A residual
    that reaches exactly zero stops the updates (no ``nan``).

    **Arguments:**

    - `matvec`: the SPD operator, (n,) -> (n,).
    - `b`: right-hand side, shape (n,), finite.
    - `x0`: warm start, shape (n,); default zeros.
    - `num_steps`: iterations (static), $\ge 0$.
    - `preconditioner`: applies $P^{-1}$, (n,) -> (n,); default identity.
    - `throw`: raise (`eqx.error_if`) if a step meets $p^\top A p \le 0$ with $p \ne 0$, i.e.
      the operator is not positive definite.

    **Returns:** the iterate $x_{\text{num\_steps}}$, shape (n,).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import fixed_cg
        >>> A = jnp.array([[4.0, 1.0], [1.0, 3.0]])
        >>> [round(x, 4) for x in fixed_cg(lambda v: A @ v, jnp.array([1.0, 2.0]),
        ...                                num_steps=2).tolist()]
        [0.0909, 0.6364]

    Chung, Kim, Ryu & Ye, *Decomposed diffusion sampler for accelerating large-scale inverse
    problems*, ICLR 2024 (paper #46); Hestenes & Stiefel (1952).
    """
    _check_rhs("b", b, 1, "(n,)")
    _check_x0(x0, b)
    check_int("num_steps", num_steps, 0)
    _check_operator("matvec", matvec, b)
    if preconditioner is None:
        preconditioner = lambda v: v  # noqa: E731
    else:
        _check_operator("preconditioner", preconditioner, b)
    dtype = b.dtype
    x = jnp.zeros_like(b) if x0 is None else jnp.asarray(x0, dtype)
    r = b - jnp.asarray(matvec(x), dtype) if x0 is not None else b
    z = jnp.asarray(preconditioner(r), dtype)
    rho = jnp.vdot(r, z)

    def step(carry, _):
        x, r, p, rho, bad = carry
        Ap = jnp.asarray(matvec(p), dtype)
        pAp = jnp.vdot(p, Ap)
        bad = bad | (~(pAp > 0) & (jnp.vdot(p, p) > 0))
        alpha = _safe_div(rho, pAp)
        x = x + alpha * p
        r = r - alpha * Ap
        z = jnp.asarray(preconditioner(r), dtype)
        rho_new = jnp.vdot(r, z)
        p = z + _safe_div(rho_new, rho) * p
        return (x, r, p, rho_new, bad), None

    (x, _, _, _, bad), _ = jax.lax.scan(
        step, (x, r, z, rho, jnp.zeros((), bool)), None, length=num_steps
    )
    if throw:
        x = eqx.error_if(
            x, bad, "fixed_cg met p^T A p <= 0: the operator is not symmetric positive definite."
        )
    return x
