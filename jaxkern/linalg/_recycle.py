r"""Krylov subspace recycling: GCRO-DR, deflated CG, and sequences of related systems.

A sequence of systems $A^{(i)} x^{(i)} = b^{(i)}$ whose operators change little from one to the
next (PDE coefficients drawn from one distribution, a GP's Gram matrix along a
hyper-parameter path) shares its slow directions: the eigenvectors of the smallest eigenvalues,
which restarted or plain Krylov methods rediscover at full cost in every solve. Recycling keeps
a $k$-dimensional space $U$ from one solve and removes it from the next.

**GCRO-DR** (Parks, de Sturler, Mackey, Johnson & Maiti, *Recycling Krylov subspaces for
sequences of linear systems*, SIAM J. Sci. Comput. 28, 2006), any nonsingular $A$. With
$C = AU$ orthonormal, every cycle runs $m - k$ Arnoldi steps with the projected operator
$(I - CC^\top)A$,

$$A V_{m-k} = C B_k + V_{m-k+1} \bar H_{m-k}, \qquad B_k = C^\top A V_{m-k},$$

takes the minimum-residual correction $x \leftarrow x + V y - U B_k y$,
$y = \arg\min\|\beta e_1 - \bar H y\|$ (the residual stays orthogonal to $C$), and replaces $U$
by the $k$ harmonic Ritz vectors of $A$ from $\hat W = [U D, V_{m-k}]$ of smallest harmonic Ritz
value: with $A\hat W = \hat V \bar G$, $\hat V = [C, V_{m-k+1}]$,
$\bar G = \begin{pmatrix} D & B_k \\ 0 & \bar H\end{pmatrix}$,

$$\bar G^\top \bar G\, z = \theta\, \bar G^\top \hat V^\top \hat W z .$$

The new pair is $U = \hat W P_k$, $C = \hat V \bar G P_k$ made orthonormal. For the next
system $C = A^{(i+1)} U$ is recomputed ($k$ matrix-vector products).

**Deflated CG** (Saad, Yeung, Erhel & Guyomarc'h, *A deflated version of the conjugate
gradient algorithm*, SIAM J. Sci. Comput. 21, 2000), symmetric positive definite $A$. With $W$
made $A$-orthonormal, CG starts from the $A$-projection $x_0 = x_{-1} + W W^\top r_{-1}$ and
keeps every search direction $A$-orthogonal to $W$,

$$p_{j+1} = r_{j+1} + \beta_j p_j - W (AW)^\top r_{j+1},$$

so it runs as CG on $A$ restricted to the $A$-complement of $\operatorname{span} W$, whose
condition number no longer sees the eigenvalues $W$ captures. The space for the next system is
harvested as in recycled CG (Wang, de Sturler & Paulino, *Large-scale topology optimization
using preconditioned Krylov subspace methods with recycling*, IJNME 69, 2007): every
`stride`-th search direction enters a window, and each full window is merged with the
current harvest $Y$ by a Rayleigh–Ritz step on $[Y, P_{\text{window}}]$ that keeps the $k$
Ritz vectors of smallest Ritz value. The directions' products with $A$ are CG's own, so
harvesting costs no extra matrix-vector products; the stride only thins the dense work (on the
Darcy benchmark a stride of 4 to 8 harvests as well as 1).

**Ordering** (paper #18, SKR: Wang et al., *Accelerating data generation for neural operators
via Krylov subspace recycling*, ICLR 2024): recycling pays most when neighbours in the
sequence are similar, so the systems are first sorted greedily, each followed by the nearest
unvisited one in parameter space.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Bool, Float, Int

from .._validation import check_int, concrete_or_none
from ._cg import (
    _check_operator,
    _check_rhs,
    _check_tols,
    _check_x0,
    _raise_if_indefinite,
    _raise_unless_converged,
    _safe_div,
)

__all__ = [
    "RecycleSpace",
    "GMRESResult",
    "RecycledSolve",
    "SequenceSolve",
    "deflated_cg",
    "gcrodr",
    "gmres",
    "greedy_order",
    "solve_sequence",
]

Matvec = Callable[[Float[Array, " n"]], Float[Array, " n"]]


class RecycleSpace(NamedTuple):
    r"""A recycle (deflation) space $U$ and, when it belongs to the current operator, $C = AU$.

    - `U`: shape (n, k). Columns that are exactly zero are unused ("dead") slots.
    - `C`: $AU$ for the operator of the solve that produced it, or None. Pass `C` only when
      the next solve has the same operator (several right-hand sides); for a new operator leave
      it None and the solver recomputes $AU$ ($k$ products).

    [`gcrodr`][jaxkern.linalg.gcrodr] returns $C$ with orthonormal columns,
    [`deflated_cg`][jaxkern.linalg.deflated_cg] returns $U$ with $U^\top C = I$; either space
    seeds either solver.
    """

    U: Float[Array, "n k"]
    C: Float[Array, "n k"] | None = None


class RecycledSolve(NamedTuple):
    """The outcome of one recycled solve.

    - `solution`: $x$, shape (n,).
    - `recycle`: the updated [`RecycleSpace`][jaxkern.linalg.RecycleSpace] (with `C` for this
      operator), to pass (as `RecycleSpace(U)`) to the next solve.
    - `num_matvecs`: products with $A$ this solve made, the $k$ for $C = AU$ included.
    - `iterations`: Krylov steps (Arnoldi steps for GCRO-DR, CG steps for deflated CG).
    - `residual_norm`: $\\|b - Ax\\|$ of the returned solution (the recurrence's value; GCRO-DR
      recomputes it explicitly before declaring convergence).
    - `residual_history`: residual norm after each Krylov step, shape (max_steps + 1,); entry
      0 is the start (after the projection onto the recycle space), entries past `iterations`
      repeat the last one.
    - `converged`: `residual_norm <= max(rtol * ||b||, atol)`, without breakdown.
    - `negative_curvature`: deflated CG met $p^\\top A p \\le 0$ (the operator is not
      positive definite); always False for GCRO-DR.
    """

    solution: Float[Array, " n"]
    recycle: RecycleSpace
    num_matvecs: Int[Array, ""]
    iterations: Int[Array, ""]
    residual_norm: Float[Array, ""]
    residual_history: Float[Array, " h"]
    converged: Bool[Array, ""]
    negative_curvature: Bool[Array, ""]


class SequenceSolve(NamedTuple):
    """The outcome of [`solve_sequence`][jaxkern.linalg.solve_sequence], per system in the
    ORIGINAL order of the inputs.

    - `solutions`: shape (N, n).
    - `order`: the order the systems were solved in (a permutation of range(N)).
    - `num_matvecs`, `iterations`, `residual_norms`, `converged`: shape (N,), as in
      [`RecycledSolve`][jaxkern.linalg.RecycledSolve].
    - `recycle`: the recycle space after the last solve.
    """

    solutions: Float[Array, "N n"]
    order: Int[Array, " N"]
    num_matvecs: Int[Array, " N"]
    iterations: Int[Array, " N"]
    residual_norms: Float[Array, " N"]
    converged: Bool[Array, " N"]
    recycle: RecycleSpace


# ------------------------------------------------------------------------------------------
# shared pieces. Inside the solvers every basis is stored as ROWS, shape (k, n): on XLA:CPU the
# products "kn,n->k" and "kn,k->n" over contiguous rows run several times faster than the
# same products over the columns of an (n, k) array.


def _dot_rows(M, w):
    """M w for rows M (k, n) and w (n,): the k inner products."""
    return jnp.einsum("kn,n->k", M, w)


def _combine_rows(M, c):
    """M^T c for rows M (k, n) and coefficients c (k,): a combination of the rows."""
    return jnp.einsum("kn,k->n", M, c)


def _gram_rows(M, N):
    """M N^T, shape (k, l), for rows M (k, n) and N (l, n)."""
    return jnp.einsum("kn,ln->kl", M, N)


def _live_threshold(dtype) -> float:
    return 100.0 * float(jnp.finfo(dtype).eps)


def _orthonormal_pair(U, C):
    r"""Rotate rows (U, C = AU) so that the rows of C are orthonormal; near-dependent ones die.

    Twice: eigh of the k x k Gram $CC^\top = Q \Lambda Q^\top$, then $C \leftarrow T C$,
    $U \leftarrow T U$ with $T = \Lambda^{-1/2} Q^\top$ on the eigenvalues above a round-off
    threshold; the other rows of both become zero ($A\,0 = 0$ keeps the pair consistent).
    The second pass restores the orthonormality the first loses to the Gram's conditioning.
    (An SVD of the k x n matrix would do it in one pass, but XLA:CPU's is far slower.)
    """
    for _ in range(2):
        E = _gram_rows(C, C)
        lam, Q = jnp.linalg.eigh(0.5 * (E + E.T))
        live = lam > _live_threshold(C.dtype) * jnp.max(lam, initial=0.0)
        scale = jnp.where(live, jax.lax.rsqrt(jnp.where(live, lam, jnp.ones_like(lam))),
                          jnp.zeros_like(lam))
        T = (Q * scale[None, :]).T
        U, C = T @ U, T @ C
    return U, C


def _a_orthonormal_pair(W, AW):
    """Rotate rows (W, AW) so that $W A W^\top = I$ on the live rows (eigh of the k x k Gram)."""
    E = _gram_rows(W, AW)
    lam, Q = jnp.linalg.eigh(0.5 * (E + E.T))
    live = lam > _live_threshold(W.dtype) * jnp.max(jnp.abs(lam), initial=0.0)
    scale = jnp.where(live, jax.lax.rsqrt(jnp.where(live, lam, jnp.ones_like(lam))),
                      jnp.zeros_like(lam))
    T = (Q * scale[None, :]).T
    return T @ W, T @ AW


def _apply_to_rows(matvec, U, live_any):
    """The products A u for the rows u of U; skipped (zeros) when U has no live row."""
    return jax.lax.cond(live_any, lambda U: jax.vmap(matvec)(U), jnp.zeros_like, U)


def _pad_history(hist, steps):
    idx = jnp.arange(hist.shape[0], dtype=jnp.int32)
    return jnp.where(idx > steps, hist[steps], hist)


def _check_common(b, x0, rtol, atol, max_steps, matvec):
    _check_rhs("b", b, 1, "(n,)")
    _check_x0(x0, b)
    _check_tols(rtol, atol)
    if max_steps is not None:
        check_int("max_steps", max_steps, 1)
    _check_operator("matvec", matvec, b)


def _check_recycle(recycle, b, k_name: str, k) -> tuple[Any, Any, int]:
    """Normalise `recycle` to (U or None, C or None, k)."""
    n = b.shape[0]
    if recycle is None:
        if k is None:
            raise ValueError(f"`{k_name}` must be given when `recycle` is None.")
        check_int(k_name, k, 1)
        return None, None, k
    if isinstance(recycle, RecycleSpace):
        U, C = recycle.U, recycle.C
    else:
        U, C = recycle, None
    if jnp.ndim(U) != 2 or jnp.shape(U)[0] != n:
        raise ValueError(
            f"`recycle` must be an array of shape (n, k) = ({n}, k) or a RecycleSpace with U of "
            f"that shape, got U of shape {jnp.shape(U)}."
        )
    if C is not None and jnp.shape(C) != jnp.shape(U):
        raise ValueError(
            f"`recycle.C` must have the shape of `recycle.U` {jnp.shape(U)}, got {jnp.shape(C)}."
        )
    for name, arr in (("recycle.U", U), ("recycle.C", C)):
        val = concrete_or_none(arr) if arr is not None else None
        if val is not None and not np.all(np.isfinite(val)):
            raise ValueError(f"`{name}` must be finite, got an array with inf or nan entries.")
    kk = jnp.shape(U)[1]
    if k is not None and k != kk:
        raise ValueError(f"`{k_name}` = {k} does not match the recycle space's {kk} columns.")
    check_int(k_name, kk, 1)
    return U, C, kk


def _start(matvec, b, x0, U, C, k, dtype):
    """x, r, rows (U, C), matvecs spent."""
    n = b.shape[0]
    matvecs = jnp.zeros((), jnp.int32)
    if x0 is None:
        x, r = jnp.zeros_like(b), b
    else:
        x = jnp.asarray(x0, dtype)
        r = b - matvec(x)
        matvecs = matvecs + 1
    if U is None:
        U = jnp.zeros((k, n), dtype)
        C = jnp.zeros((k, n), dtype)
    else:
        U = jnp.asarray(U, dtype).T
        if C is None:
            live_any = jnp.any(U != 0)
            C = _apply_to_rows(matvec, U, live_any)
            matvecs = matvecs + k * live_any.astype(jnp.int32)
        else:
            C = jnp.asarray(C, dtype).T
    return x, r, U, C, matvecs


# ------------------------------------------------------------------------------------------
# GCRO-DR


def _givens(a, b):
    r = jnp.sqrt(a * a + b * b)
    ok = r > 0
    c = jnp.where(ok, a / jnp.where(ok, r, jnp.ones_like(r)), jnp.ones_like(r))
    s = jnp.where(ok, b / jnp.where(ok, r, jnp.ones_like(r)), jnp.zeros_like(r))
    return c, s, r


def _arnoldi_cycle(matvec, r, C, p, tol, steps0, max_steps, hist):
    """p steps (fewer on convergence) of Arnoldi on (I - C^T C)A from r, with Givens QR.

    Rows: V (p+1, n), C (k, n). H is the Hessenberg matrix, R its Givens-triangularised form,
    g the rotated right-hand side whose last entry is the residual norm.
    """
    k, n = C.shape
    dtype = r.dtype
    beta = jnp.linalg.norm(r)
    V = jnp.zeros((p + 1, n), dtype).at[0].set(_safe_div(r, beta))
    eps = float(jnp.finfo(dtype).eps)
    init = dict(
        j=jnp.zeros((), jnp.int32), V=V, H=jnp.zeros((p + 1, p), dtype),
        R=jnp.zeros((p + 1, p), dtype), B=jnp.zeros((k, p), dtype),
        cs=jnp.ones((p,), dtype), sn=jnp.zeros((p,), dtype),
        g=jnp.zeros((p + 1,), dtype).at[0].set(beta), est=beta, steps=steps0, hist=hist,
    )

    def cond(s):
        return (s["j"] < p) & (s["est"] > tol) & (s["steps"] < max_steps)

    def body(s):
        j, V = s["j"], s["V"]
        w = matvec(V[j])
        wnorm0 = jnp.linalg.norm(w)
        bj = _dot_rows(C, w)
        w = w - _combine_rows(C, bj)
        # classical Gram-Schmidt twice; rows of V not yet filled are zero
        h = _dot_rows(V, w)
        w = w - _combine_rows(V, h)
        h2 = _dot_rows(V, w)
        w = w - _combine_rows(V, h2)
        h = h + h2
        hn = jnp.linalg.norm(w)
        ok = hn > 10.0 * eps * wnorm0
        V = V.at[j + 1].set(jnp.where(ok, w / jnp.where(ok, hn, 1.0), 0.0))
        col = h.at[j + 1].set(jnp.where(ok, hn, 0.0))
        H = s["H"].at[:, j].set(col)
        B = s["B"].at[:, j].set(bj)
        cs, sn = s["cs"], s["sn"]

        def rot(i, c):
            a, bb = c[i], c[i + 1]
            return c.at[i].set(cs[i] * a + sn[i] * bb).at[i + 1].set(-sn[i] * a + cs[i] * bb)

        col = jax.lax.fori_loop(0, j, rot, col)
        c, sg, rr = _givens(col[j], col[j + 1])
        col = col.at[j].set(rr).at[j + 1].set(0.0)
        g = s["g"]
        gj = g[j]
        g = g.at[j].set(c * gj).at[j + 1].set(-sg * gj)
        est = jnp.abs(g[j + 1])
        steps = s["steps"] + 1
        return dict(
            j=j + 1, V=V, H=H, R=s["R"].at[:, j].set(col), B=B, cs=cs.at[j].set(c),
            sn=sn.at[j].set(sg), g=g, est=est, steps=steps, hist=s["hist"].at[steps].set(est),
        )

    return jax.lax.while_loop(cond, body, init)


def _harmonic_update(U, C, V, H, B, j, k_out):
    """k harmonic Ritz vectors of smallest harmonic Ritz value from [U D, V_j]: new rows (U, C)."""
    k, n = C.shape
    p = H.shape[1]
    dtype = V.dtype
    unorm = jnp.linalg.norm(U, axis=1)
    live = unorm > 0
    d = jnp.where(live, 1.0 / jnp.where(live, unorm, 1.0), 1.0)
    Ut = U * jnp.where(live, d, 0.0)[:, None]
    used = jnp.arange(p, dtype=jnp.int32) < j
    usedf = used.astype(dtype)
    # G = [[D, B], [0, H]]; an unused Arnoldi column i >= j gets a 1 in (unused) row i+1, so G
    # keeps full column rank and those directions map to zero rows of W_hat and V_hat.
    pad = jnp.eye(p + 1, p, k=-1, dtype=dtype) * (1.0 - usedf)[None, :]
    G = jnp.concatenate([
        jnp.concatenate([jnp.diag(d), B * usedf[None, :]], axis=1),
        jnp.concatenate([jnp.zeros((p + 1, k), dtype), H + pad], axis=1),
    ], axis=0)                                                         # (k+p+1) x (k+p)
    # V_hat^T W_hat, using C^T V = 0 and V^T V = I.
    top = jnp.concatenate([_gram_rows(C, Ut), jnp.zeros((k, p), dtype)], axis=1)
    bottom = jnp.concatenate([_gram_rows(V, Ut), jnp.eye(p + 1, p, dtype=dtype)
                              * usedf[None, :]], axis=1)
    VtW = jnp.concatenate([top, bottom], axis=0)
    # G^T G z = theta G^T VtW z  <=>  M z = mu z with M = G^+ VtW, mu = 1/theta: largest |mu|.
    # (lstsq, an SVD: XLA:CPU's triangular solve with a matrix right-hand side is ~100x slower)
    M = jnp.linalg.lstsq(G, VtW)[0]
    mu, Z = jnp.linalg.eig(M)
    pick = jnp.argsort(-jnp.abs(mu))[:k_out]
    Zk = Z[:, pick]
    # A real basis of the span of the chosen (possibly complex-conjugate) eigenvectors.
    Zr = jnp.concatenate([jnp.real(Zk), jnp.imag(Zk)], axis=1).astype(dtype)
    Pk = jnp.linalg.svd(Zr, full_matrices=False)[0][:, :k_out]
    # C_new = V_hat^T X with X = G P_k: orthonormalise X in the small space, as the rows of
    # V_hat are orthonormal (zero rows aside, whose entries of X are dropped).
    vlive = jnp.concatenate([jnp.any(C != 0, axis=1), jnp.arange(p + 1, dtype=jnp.int32) <= j])
    X = (G @ Pk) * vlive[:, None].astype(dtype)
    E = X.T @ X
    lam, Q = jnp.linalg.eigh(0.5 * (E + E.T))
    keep = lam > _live_threshold(dtype) * jnp.max(lam, initial=0.0)
    T = Q * jnp.where(keep, jax.lax.rsqrt(jnp.where(keep, lam, 1.0)), 0.0)[None, :]
    PT, XT = (Pk @ T).T, (X @ T).T                         # (k_out, k+p), (k_out, k+p+1)
    U_new = PT[:, :k] @ Ut + PT[:, k:] @ (V[:p] * usedf[:, None])
    C_new = XT[:, :k] @ C + XT[:, k:] @ V
    return U_new, C_new


def _gcrodr(matvec, b, x, r, U, C, matvecs, *, p, tol, max_steps):
    dtype = b.dtype
    U, C = _orthonormal_pair(U, C)
    proj = _dot_rows(C, r)
    x = x + _combine_rows(U, proj)
    r = r - _combine_rows(C, proj)
    rnorm = jnp.linalg.norm(r)
    hist = jnp.zeros((max_steps + 1,), dtype).at[0].set(rnorm)
    state = dict(x=x, r=r, U=U, C=C, rnorm=rnorm, steps=jnp.zeros((), jnp.int32),
                 matvecs=matvecs, hist=hist)

    def cond(s):
        return (s["rnorm"] > tol) & (s["steps"] < max_steps)

    def body(s):
        U, C, r, x = s["U"], s["C"], s["r"], s["x"]
        a = _arnoldi_cycle(matvec, r, C, p, tol, s["steps"], max_steps, s["hist"])
        j = a["j"]
        used = jnp.arange(p, dtype=jnp.int32) < j
        Rm = jnp.where(used[None, :] & used[:, None], a["R"][:p], jnp.eye(p, dtype=dtype))
        y = solve_triangular(jnp.triu(Rm), jnp.where(used, a["g"][:p], 0.0), lower=False)
        V = a["V"]
        x = x + _combine_rows(V[:p], y) - _combine_rows(U, a["B"] @ y)
        r = r - _combine_rows(V, a["H"] @ y)
        U_new, C_new = _harmonic_update(U, C, V, a["H"], a["B"], j, U.shape[0])
        matvecs = s["matvecs"] + j
        # On apparent convergence, replace the recurrence residual by the true one.
        done = jnp.linalg.norm(r) <= tol
        r = jax.lax.cond(done, lambda x, r: b - matvec(x), lambda x, r: r, x, r)
        matvecs = matvecs + done.astype(jnp.int32)
        proj = _dot_rows(C_new, r)
        x = x + _combine_rows(U_new, proj)
        r = r - _combine_rows(C_new, proj)
        return dict(x=x, r=r, U=U_new, C=C_new, rnorm=jnp.linalg.norm(r), steps=a["steps"],
                    matvecs=matvecs, hist=a["hist"])

    return jax.lax.while_loop(cond, body, state)


def gcrodr(
    matvec: Matvec,
    b: Float[Array, " n"],
    recycle: RecycleSpace | Float[Array, "n k"] | None = None,
    *,
    x0: Float[Array, " n"] | None = None,
    cycle_length: int = 40,
    recycle_dim: int | None = None,
    rtol: float = 1e-6,
    atol: float = 0.0,
    max_steps: int | None = None,
    throw: bool = False,
) -> RecycledSolve:
    r"""Solve $Ax = b$ by GCRO-DR($m$, $k$), recycling a $k$-dimensional space in and out.

    Restarted minimum-residual cycles of $m - k$ Arnoldi steps on $(I - CC^\top)A$, each
    followed by the replacement of $U$ by the $k$ harmonic Ritz vectors of smallest harmonic
    Ritz value (see the module docstring for the equations). The returned space goes into the
    next solve: `RecycleSpace(result.recycle.U)` for a new operator ($C = AU$ is recomputed,
    $k$ products), `result.recycle` as it is for the same operator. Without a recycle space
    the first cycle starts from nothing (GMRES($m - k$)) and builds one.

    Cycles stop early when the recurrence residual reaches $\max(\text{rtol}\,\|b\|,
    \text{atol})$; the residual is then recomputed as $b - Ax$ (one product) and the solve
    goes on if that one has not converged. Pure JAX (`lax.while_loop`s; the small
    Hessenberg least-squares and harmonic Ritz eigenproblems are unbatched LAPACK calls, so
    do not `vmap` this on XLA:CPU), `jit`-compatible, float32 and float64.

    **Arguments:**

    - `matvec`: the operator, (n,) -> (n,).
    - `b`: right-hand side, shape (n,), finite.
    - `recycle`: None, an (n, k) array $U$, or a
      [`RecycleSpace`][jaxkern.linalg.RecycleSpace].
    - `x0`: initial guess, shape (n,); default zeros.
    - `cycle_length`: $m$, Krylov dimension of a cycle including the $k$ recycled vectors
      (static, $> k$).
    - `recycle_dim`: $k$ (static); default the recycle space's width, required without one.
    - `rtol`, `atol`: residual tolerances, $\ge 0$.
    - `max_steps`: the most Arnoldi steps over all cycles (static); default n.
    - `throw`: raise (`eqx.error_if`) if not converged.

    **Returns:** a [`RecycledSolve`][jaxkern.linalg.RecycledSolve].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import gcrodr
        >>> A = jnp.diag(jnp.arange(1.0, 31.0)) + jnp.diag(jnp.ones(29), 1)
        >>> res = gcrodr(lambda v: A @ v, jnp.ones(30), cycle_length=10, recycle_dim=4,
        ...              rtol=1e-5)
        >>> bool(res.converged), bool(jnp.allclose(A @ res.solution, 1.0, atol=1e-3))
        (True, True)
        >>> res2 = gcrodr(lambda v: A @ v, jnp.arange(30.0), res.recycle, rtol=1e-5,
        ...               cycle_length=10)  # same operator: C reused, no extra products
        >>> bool(res2.converged)
        True

    Parks, de Sturler, Mackey, Johnson & Maiti, SIAM J. Sci. Comput. 28 (2006); paper #18
    (SKR, ICLR 2024) uses it for sequences of PDE systems.
    """
    _check_common(b, x0, rtol, atol, max_steps, matvec)
    U, C, k = _check_recycle(recycle, b, "recycle_dim", recycle_dim)
    check_int("cycle_length", cycle_length, k + 1)
    n = b.shape[0]
    max_steps = n if max_steps is None else max_steps
    dtype = b.dtype
    mv = lambda v: jnp.asarray(matvec(v), dtype)  # noqa: E731
    x, r, U, C, matvecs = _start(mv, b, x0, U, C, k, dtype)
    tol = jnp.maximum(jnp.asarray(rtol, dtype) * jnp.linalg.norm(b), jnp.asarray(atol, dtype))
    s = _gcrodr(mv, b, x, r, U, C, matvecs, p=cycle_length - k, tol=tol, max_steps=max_steps)
    converged = s["rnorm"] <= tol
    result = RecycledSolve(
        solution=s["x"], recycle=RecycleSpace(s["U"].T, s["C"].T), num_matvecs=s["matvecs"],
        iterations=s["steps"], residual_norm=s["rnorm"],
        residual_history=_pad_history(s["hist"], s["steps"]), converged=converged,
        negative_curvature=jnp.zeros((), bool),
    )
    return _throw(result, "gcrodr", max_steps) if throw else result


def _throw(result: RecycledSolve, name: str, max_steps: int) -> RecycledSolve:
    sol = _raise_if_indefinite(result.solution, result.negative_curvature, name)
    return result._replace(solution=_raise_unless_converged(sol, result.converged, name,
                                                            max_steps))


# ------------------------------------------------------------------------------------------
# GMRES(m): GCRO-DR without a recycle space, and without its bookkeeping products


class GMRESResult(NamedTuple):
    """The outcome of a [`gmres`][jaxkern.linalg.gmres] solve.

    - `solution`: $x$, shape (n,).
    - `num_matvecs`: products with $A$: one per Arnoldi step, one per cycle for the true
      residual (but the last with `verify=False`), one for a non-zero `x0`.
    - `iterations`: Arnoldi steps over all cycles.
    - `residual_norm`: $\\|b - Ax\\|$, recomputed (the recurrence's after the last cycle
      with `verify=False`).
    - `residual_history`: the residual norm after each Arnoldi step, shape (max_steps + 1,);
      entries past `iterations` repeat the last one.
    - `converged`: `residual_norm <= max(rtol * ||b||, atol)`.
    """

    solution: Float[Array, " n"]
    num_matvecs: Int[Array, ""]
    iterations: Int[Array, ""]
    residual_norm: Float[Array, ""]
    residual_history: Float[Array, " h"]
    converged: Bool[Array, ""]


def gmres(
    matvec: Matvec,
    b: Float[Array, " n"],
    *,
    x0: Float[Array, " n"] | None = None,
    restart: int = 20,
    rtol: float = 1e-6,
    atol: float = 0.0,
    max_steps: int | None = None,
    verify: bool = True,
    throw: bool = False,
) -> GMRESResult:
    r"""Solve $Ax = b$ by restarted GMRES($m$), spending one product per Arnoldi step.

    Each cycle runs up to $m$ = `restart` Arnoldi steps (classical Gram–Schmidt, twice) with
    Givens rotations, so the residual norm $\|\beta e_1 - \bar H y\|$ is known after every
    step and the cycle stops at the first step that meets the tolerance; then
    $x \leftarrow x + V_j y$. This is GCRO-DR's cycle with no recycle space (`gcrodr`).
    Each cycle ends with the true residual $b - Ax$ (one product), which starts the next
    cycle and decides convergence: the recurrence's is exact only up to round-off, and
    optimistic where Arnoldi nearly breaks down on a nearly singular operator. With
    `verify=False` the last cycle's recurrence residual is trusted instead (one product
    fewer per solve, for callers that check the true residual themselves). Unlike
    `jax.scipy.sparse.linalg.gmres`, no product is spent on a zero start ($r_0 = b$). With a
    preconditioner $P$, pass $v \mapsto A P v$ and map the solution $y$ back as $x = P y$
    (right preconditioning: the residual is the true system's).

    Pure JAX, `jit`-compatible. Per cycle it solves one $j \times j$ triangular system.

    **Arguments:**

    - `matvec`: the operator, (n,) -> (n,).
    - `b`: right-hand side, shape (n,), finite.
    - `x0`: initial guess, shape (n,); default zeros (no product).
    - `restart`: $m$, Arnoldi steps per cycle (static, $\ge 1$).
    - `rtol`, `atol`: stop when the residual norm is at most $\max(\text{rtol}\,\|b\|,
      \text{atol})$, both $\ge 0$.
    - `max_steps`: the most Arnoldi steps over all cycles (static); default n.
    - `verify`: end every cycle with the true residual (static; default True).
    - `throw`: raise (`eqx.error_if`) if not converged.

    **Returns:** a [`GMRESResult`][jaxkern.linalg.GMRESResult].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import gmres
        >>> A = jnp.diag(jnp.arange(1.0, 31.0)) + jnp.diag(jnp.ones(29), 1)
        >>> res = gmres(lambda v: A @ v, jnp.ones(30), restart=10, rtol=1e-5)
        >>> bool(res.converged), bool(jnp.allclose(A @ res.solution, 1.0, atol=1e-4))
        (True, True)

    Saad & Schultz, *GMRES: a generalized minimal residual algorithm for solving nonsymmetric
    linear systems*, SIAM J. Sci. Stat. Comput. 7 (1986).
    """
    _check_common(b, x0, rtol, atol, max_steps, matvec)
    check_int("restart", restart, 1)
    n = b.shape[0]
    max_steps = n if max_steps is None else max_steps
    dtype = b.dtype
    mv = lambda v: jnp.asarray(matvec(v), dtype)  # noqa: E731
    x, r, _, C, matvecs = _start(mv, b, x0, None, None, 0, dtype)
    tol = jnp.maximum(jnp.asarray(rtol, dtype) * jnp.linalg.norm(b), jnp.asarray(atol, dtype))
    rnorm = jnp.linalg.norm(r)
    state = dict(x=x, r=r, rnorm=rnorm, steps=jnp.zeros((), jnp.int32), matvecs=matvecs,
                 hist=jnp.zeros((max_steps + 1,), dtype).at[0].set(rnorm))

    def cond(s):
        return (s["rnorm"] > tol) & (s["steps"] < max_steps)

    def body(s):
        a = _arnoldi_cycle(mv, s["r"], C, restart, tol, s["steps"], max_steps, s["hist"])
        used = jnp.arange(restart, dtype=jnp.int32) < a["j"]
        R = jnp.where(used[None, :] & used[:, None], a["R"][:restart], jnp.eye(restart,
                                                                                dtype=dtype))
        y = solve_triangular(jnp.triu(R), jnp.where(used, a["g"][:restart], 0.0), lower=False)
        x = s["x"] + _combine_rows(a["V"][:restart], y)
        # The true residual starts the next cycle and, with `verify`, decides convergence.
        if verify:
            true = jnp.asarray(True)
            r = b - mv(x)
        else:  # only a cycle that stopped short needs it, to start the next one
            true = (a["est"] > tol) & (a["steps"] < max_steps)
            r = jax.lax.cond(true, lambda x: b - mv(x), lambda x: s["r"], x)
        rnorm = jnp.where(true, jnp.linalg.norm(r), a["est"])
        return dict(x=x, r=r, rnorm=rnorm, steps=a["steps"],
                    matvecs=s["matvecs"] + a["j"] + true.astype(jnp.int32), hist=a["hist"])

    s = jax.lax.while_loop(cond, body, state)
    converged = s["rnorm"] <= tol
    result = GMRESResult(s["x"], s["matvecs"], s["steps"], s["rnorm"],
                         _pad_history(s["hist"], s["steps"]), converged)
    if throw:
        result = result._replace(solution=_raise_unless_converged(result.solution, converged,
                                                                  "gmres", max_steps))
    return result


# ------------------------------------------------------------------------------------------
# deflated CG


def _ritz_harvest(Y, AY, YY, YAY, P, AP, used):
    """Rayleigh-Ritz on the rows of [Y; P_used]: the k Ritz vectors of smallest Ritz value.

    Uses what CG already guarantees: the window's directions (scaled to unit A-norm) are
    A-orthonormal, so $P A P^\top = I$; and $YY^\top$, $YAY^\top$ come from the previous
    harvest. Only $YP^\top$, $(AY)P^\top$ and $PP^\top$ are new products.
    Returns (Y, AY, YY, YAY) for the new harvest.
    """
    k = Y.shape[0]
    dtype = Y.dtype
    s = P.shape[0]
    m = used.astype(dtype)
    P = P * m[:, None]
    AP = AP * m[:, None]
    YP = _gram_rows(Y, P)
    G = jnp.block([[YY, YP], [YP.T, _gram_rows(P, P)]])
    AYP = _gram_rows(AY, P)
    F = jnp.block([[YAY, AYP], [AYP.T, jnp.diag(m)]])
    lam, Q = jnp.linalg.eigh(0.5 * (G + G.T))
    live = lam > _live_threshold(dtype) * jnp.max(lam, initial=0.0)
    T = Q * jnp.where(live, jax.lax.rsqrt(jnp.where(live, lam, 1.0)), 0.0)[None, :]
    Fp = T.T @ (0.5 * (F + F.T)) @ T
    big = 2.0 * jnp.max(jnp.abs(Fp), initial=0.0) + 1.0
    theta, S = jnp.linalg.eigh(Fp + jnp.diag(jnp.where(live, 0.0, big)))
    g = (T @ S[:, :k]).T                                   # (k, k + s)
    gY, gP = g[:, :k], g[:, k:]
    Y = gY @ Y + gP @ P
    AY = gY @ AY + gP @ AP
    del s
    return Y, AY, g @ G @ g.T, g @ F @ g.T


def _defcg(matvec, b, x, r, W, AW, matvecs, *, tol, max_steps, window, stride):
    k, n = W.shape
    dtype = b.dtype
    W, AW = _a_orthonormal_pair(W, AW)

    def _coarse(x, r):
        # x <- x + W (W^T A W)^{-1} W^T r = x + W W^T r, and the residual with it
        c = _dot_rows(W, r)
        x = x + _combine_rows(W, c)
        r = r - _combine_rows(AW, c)
        rr = jnp.vdot(r, r)
        return x, r, rr, jnp.sqrt(rr)

    x, r, rr, rnorm = _coarse(x, r)
    p = r - _combine_rows(W, _dot_rows(AW, r))
    hist = jnp.zeros((max_steps + 1,), dtype).at[0].set(rnorm)
    state = dict(
        x=x, r=r, p=p, rr=rr, rnorm=rnorm, it=jnp.zeros((), jnp.int32), neg=jnp.zeros((), bool),
        hist=hist, Y=W, AY=AW, YY=_gram_rows(W, W), YAY=_gram_rows(W, AW),
        P=jnp.zeros((window + 1, n), dtype), AP=jnp.zeros((window + 1, n), dtype), rref=rnorm,
    )

    def cond(s):
        return (s["rnorm"] > tol) & (s["it"] < max_steps) & ~s["neg"]

    def body(s):
        p = s["p"]
        Ap = matvec(p)
        pAp = jnp.vdot(p, Ap)
        neg = ~(pAp > 0)
        alpha = jnp.where(neg, 0.0, _safe_div(s["rr"], pAp))
        x = s["x"] + alpha * p
        r = s["r"] - alpha * Ap
        rr = jnp.vdot(r, r)
        beta = _safe_div(rr, s["rr"])
        p_new = r + beta * p - _combine_rows(W, _dot_rows(AW, r))
        # The window keeps the directions scaled to unit A-norm; a full window is harvested.
        scale = jnp.where(neg, 0.0, jax.lax.rsqrt(jnp.where(neg, 1.0, pAp)))
        it = s["it"]
        # every `stride`-th direction enters the window (the others go to scratch row `window`)
        store = it % stride == 0
        slot = jnp.where(store, (it // stride) % window, window)
        P = s["P"].at[slot].set(scale * p)
        AP = s["AP"].at[slot].set(scale * Ap)
        # Rounding leaves r a component in span(W) that CG cannot reduce; once ||r|| has
        # fallen 100-fold since the last removal, remove it (a coarse correction), or CG
        # breaks down when ||r|| reaches it (float32 at tight tolerances).
        rnorm = jnp.sqrt(rr)
        x, r, rr, rref = jax.lax.cond(rnorm < 1e-2 * s["rref"], _coarse, lambda x, r: (
            x, r, rr, s["rref"]), x, r)
        harvest = (s["Y"], s["AY"], s["YY"], s["YAY"])
        harvest = jax.lax.cond(
            slot == window - 1,
            lambda h: _ritz_harvest(*h, P[:window], AP[:window], jnp.ones((window,), bool)),
            lambda h: h, harvest)
        rnorm = jnp.sqrt(rr)
        Y, AY, YY, YAY = harvest
        return dict(x=x, r=r, p=p_new, rr=rr, rnorm=rnorm, it=it + 1, neg=neg,
                    hist=s["hist"].at[it + 1].set(rnorm), Y=Y, AY=AY, YY=YY, YAY=YAY, P=P,
                    AP=AP, rref=rref)

    s = jax.lax.while_loop(cond, body, state)
    s["x"], s["r"], _, rnorm = _coarse(s["x"], s["r"])
    s["rnorm"] = jnp.where(s["neg"], s["rnorm"], rnorm)
    used = jnp.arange(window, dtype=jnp.int32) < ((s["it"] + stride - 1) // stride) % window
    harvest = (s["Y"], s["AY"], s["YY"], s["YAY"])
    Y, AY, _, _ = jax.lax.cond(jnp.any(used),
                               lambda h: _ritz_harvest(*h, s["P"][:window], s["AP"][:window],
                                                       used),
                               lambda h: h, harvest)
    Y, AY = _a_orthonormal_pair(Y, AY)
    s["Y"], s["AY"] = Y, AY
    s["matvecs"] = matvecs + s["it"]
    return s


def deflated_cg(
    matvec: Matvec,
    b: Float[Array, " n"],
    deflation: RecycleSpace | Float[Array, "n k"] | None = None,
    *,
    x0: Float[Array, " n"] | None = None,
    deflation_dim: int | None = None,
    window: int = 16,
    stride: int = 4,
    rtol: float = 1e-6,
    atol: float = 0.0,
    max_steps: int | None = None,
    throw: bool = False,
) -> RecycledSolve:
    r"""Deflated CG (Saad et al. 2000) for SPD $A$, harvesting the deflation space for the next.

    CG started from the $A$-projection onto $W$ with search directions kept $A$-orthogonal to
    $W$ (see the module docstring): the eigenvalues $W$ captures drop out of the condition
    number. During the solve the $k$ Ritz vectors of smallest Ritz value of
    $\operatorname{span}[W, p_0, p_s, p_{2s}, \dots]$ ($s$ = `stride`) are accumulated
    window by window (Rayleigh–Ritz on the previous harvest and the last `window` stored
    directions, whose products CG already has), and come back as `result.recycle` for the next
    system; no extra products. For a new operator pass `RecycleSpace(result.recycle.U)` ($AW$
    is recomputed, $k$ products).

    Each step costs one product plus $4nk$ flops for the deflation; every `window * stride`
    steps a Rayleigh–Ritz step costs $O(n(k + \text{window})^2)$. Pure JAX,
    `jit`-compatible, float32 and float64; do not `vmap` it on XLA:CPU (unbatched LAPACK eigh
    inside the loop).

    **Arguments:**

    - `matvec`: the SPD operator, (n,) -> (n,).
    - `b`: right-hand side, shape (n,), finite.
    - `deflation`: None, an (n, k) array $W$, or a
      [`RecycleSpace`][jaxkern.linalg.RecycleSpace].
    - `x0`: initial guess, shape (n,); default zeros.
    - `deflation_dim`: $k$ (static); default the deflation space's width, required without
      one.
    - `window`: stored directions per Rayleigh–Ritz harvest (static, $\ge 1$; keep
      $k + $ `window` $\le 64$, above which XLA:CPU's `eigh` slows down sharply).
    - `stride`: store every `stride`-th direction (static, $\ge 1$).
    - `rtol`, `atol`: residual tolerances, $\ge 0$.
    - `max_steps`: the most CG steps (static); default n.
    - `throw`: raise (`eqx.error_if`) if not converged or not positive definite.

    **Returns:** a [`RecycledSolve`][jaxkern.linalg.RecycledSolve]; `recycle.U` is
    $A$-orthonormal and `recycle.C` $= A\,$`recycle.U`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import deflated_cg, RecycleSpace
        >>> A = jnp.diag(jnp.array([1e-3, 1e-2] + [1.0 + 0.1 * i for i in range(28)]))
        >>> first = deflated_cg(lambda v: A @ v, jnp.ones(30), deflation_dim=2, window=5,
        ...                     rtol=1e-6)
        >>> again = deflated_cg(lambda v: A @ v, jnp.ones(30), RecycleSpace(first.recycle.U),
        ...                     window=5, rtol=1e-6)
        >>> bool(again.converged), bool(again.iterations < first.iterations)
        (True, True)

    Saad, Yeung, Erhel & Guyomarc'h, SIAM J. Sci. Comput. 21 (2000); Wang, de Sturler &
    Paulino, IJNME 69 (2007).
    """
    _check_common(b, x0, rtol, atol, max_steps, matvec)
    W, AW, k = _check_recycle(deflation, b, "deflation_dim", deflation_dim)
    check_int("window", window, 1)
    check_int("stride", stride, 1)
    n = b.shape[0]
    max_steps = n if max_steps is None else max_steps
    dtype = b.dtype
    mv = lambda v: jnp.asarray(matvec(v), dtype)  # noqa: E731
    x, r, W, AW, matvecs = _start(mv, b, x0, W, AW, k, dtype)
    tol = jnp.maximum(jnp.asarray(rtol, dtype) * jnp.linalg.norm(b), jnp.asarray(atol, dtype))
    s = _defcg(mv, b, x, r, W, AW, matvecs, tol=tol, max_steps=max_steps, window=window,
               stride=stride)
    converged = (s["rnorm"] <= tol) & ~s["neg"]
    result = RecycledSolve(
        solution=s["x"], recycle=RecycleSpace(s["Y"].T, s["AY"].T), num_matvecs=s["matvecs"],
        iterations=s["it"], residual_norm=s["rnorm"],
        residual_history=_pad_history(s["hist"], s["it"]), converged=converged,
        negative_curvature=s["neg"],
    )
    return _throw(result, "deflated_cg", max_steps) if throw else result


# ------------------------------------------------------------------------------------------
# sequences


def greedy_order(params: Any, *, start: int = 0) -> Int[Array, " N"]:
    r"""Order N systems so that each is followed by its nearest unvisited neighbour (SKR).

    The parameters of system $i$ (every leaf of the pytree `params`, leading axis N,
    flattened and concatenated) form a vector $\theta_i$; from `start`, the next system is
    $\arg\min_{j \text{ unvisited}} \|\theta_j - \theta_{\text{current}}\|$. $O(N^2 D)$.

    **Returns:** a permutation of range(N), int32, shape (N,).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import greedy_order
        >>> greedy_order(jnp.array([[0.0], [3.0], [1.0], [2.0]])).tolist()
        [0, 2, 3, 1]

    Paper #18: Wang et al., *Accelerating data generation for neural operators via Krylov
    subspace recycling* (SKR), ICLR 2024.
    """
    leaves = jax.tree.leaves(params)
    if not leaves:
        raise ValueError("`params` must hold at least one array with a leading axis N.")
    N = jnp.shape(leaves[0])[0] if jnp.ndim(leaves[0]) else None
    if N is None or any(jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != N for leaf in leaves):
        raise ValueError(
            "`params` leaves must share a leading axis N, got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}."
        )
    check_int("start", start, 0)
    if start >= N:
        raise ValueError(f"`start` must be < N = {N}, got {start}.")
    X = jnp.concatenate([jnp.reshape(leaf, (N, -1)) for leaf in leaves], axis=1)
    sq = jnp.sum(X * X, axis=1)
    D = sq[:, None] + sq[None, :] - 2.0 * (X @ X.T)

    def step(i, carry):
        order, visited = carry
        cur = order[i - 1]
        d = jnp.where(visited, jnp.inf, D[cur])
        nxt = jnp.argmin(d).astype(jnp.int32)
        return order.at[i].set(nxt), visited.at[nxt].set(True)

    order = jnp.zeros((N,), jnp.int32).at[0].set(start)
    visited = jnp.zeros((N,), bool).at[start].set(True)
    order, _ = jax.lax.fori_loop(1, N, step, (order, visited))
    return order


_METHODS = ("gcrodr", "deflated_cg")


def solve_sequence(
    matvec: Callable[[Any, Float[Array, " n"]], Float[Array, " n"]],
    params: Any,
    bs: Float[Array, "N n"],
    *,
    method: str = "gcrodr",
    order: str | Int[Array, " N"] | None = "greedy",
    recycle: RecycleSpace | Float[Array, "n k"] | None = None,
    recycle_dim: int | None = None,
    cycle_length: int = 40,
    window: int = 16,
    stride: int = 4,
    rtol: float = 1e-6,
    atol: float = 0.0,
    max_steps: int | None = None,
) -> SequenceSolve:
    r"""Solve $A(\theta_i)\, x_i = b_i$, $i = 1..N$, carrying a recycle space through them.

    The systems are put in `order` (default: [`greedy_order`][jaxkern.linalg.greedy_order] of
    `params`, as SKR sorts them), then solved one after the other by
    [`gcrodr`][jaxkern.linalg.gcrodr] (any operator) or
    [`deflated_cg`][jaxkern.linalg.deflated_cg] (SPD), each starting from the space the
    previous solve left ($AU$ recomputed for the new operator). One `lax.scan`: the whole
    sequence is a single `jit`-compatible computation with one compilation.

    **Arguments:**

    - `matvec`: `matvec(theta, v)`, the product with $A(\theta)$; `theta` is one slice of
      `params`.
    - `params`: a pytree whose leaves have a leading axis N (the systems' parameters).
    - `bs`: right-hand sides, shape (N, n).
    - `method`: `"gcrodr"` or `"deflated_cg"`.
    - `order`: `"greedy"`, None (the given order) or a permutation of range(N).
    - `recycle`: an initial space (as in `gcrodr`); default none.
    - `recycle_dim`: $k$ (static); default the initial space's width, required without one.
    - `cycle_length` (GCRO-DR), `window` and `stride` (deflated CG): as in those solvers.
    - `rtol`, `atol`, `max_steps`: per system, as in those solvers.

    **Returns:** a [`SequenceSolve`][jaxkern.linalg.SequenceSolve], per system in the input
    order.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import solve_sequence
        >>> L = 2 * jnp.eye(40) - jnp.eye(40, k=1) - jnp.eye(40, k=-1)
        >>> shifts = jnp.array([0.03, 0.01, 0.02])
        >>> res = solve_sequence(lambda s, v: L @ v + s * v, shifts, jnp.ones((3, 40)),
        ...                      method="deflated_cg", recycle_dim=4, rtol=1e-6)
        >>> res.order.tolist(), res.converged.tolist()
        ([0, 2, 1], [True, True, True])

    Paper #18: SKR (Wang et al., ICLR 2024); Parks et al. (2006); Saad et al. (2000).
    """
    if method not in _METHODS:
        raise ValueError(f"`method` must be one of {_METHODS}, got {method!r}.")
    if jnp.ndim(bs) != 2:
        raise ValueError(f"`bs` must have shape (N, n), got shape {jnp.shape(bs)}.")
    N, n = jnp.shape(bs)
    leaves = jax.tree.leaves(params)
    if not leaves or any(jnp.ndim(leaf) == 0 or jnp.shape(leaf)[0] != N for leaf in leaves):
        raise ValueError(
            f"`params` leaves must have the leading axis N = {N} of `bs`, got shapes "
            f"{[jnp.shape(leaf) for leaf in leaves]}."
        )
    _check_rhs("bs", bs, 2, "(N, n)")
    _check_tols(rtol, atol)
    dtype = bs.dtype
    b0 = bs[0]
    theta0 = jax.tree.map(lambda leaf: leaf[0], params)
    _check_operator("matvec", lambda v: matvec(theta0, v), b0)
    U0, _, k = _check_recycle(recycle, b0, "recycle_dim", recycle_dim)
    if method == "gcrodr":
        check_int("cycle_length", cycle_length, k + 1)
    else:
        check_int("window", window, 1)
        check_int("stride", stride, 1)
    if max_steps is not None:
        check_int("max_steps", max_steps, 1)
    if isinstance(order, str):
        if order != "greedy":
            raise ValueError(f"`order` must be 'greedy', None or a permutation, got {order!r}.")
        perm = greedy_order(params)
    elif order is None:
        perm = jnp.arange(N, dtype=jnp.int32)
    else:
        if jnp.shape(order) != (N,):
            raise ValueError(f"`order` must have shape ({N},), got {jnp.shape(order)}.")
        val = concrete_or_none(order)
        if val is not None and sorted(np.asarray(val).tolist()) != list(range(N)):
            raise ValueError(f"`order` must be a permutation of range({N}), got {val}.")
        perm = jnp.asarray(order, jnp.int32)
    U0 = jnp.zeros((n, k), dtype) if U0 is None else jnp.asarray(U0, dtype)

    def one(carry, i):
        U, _ = carry
        theta = jax.tree.map(lambda leaf: leaf[i], params)
        mv = lambda v: matvec(theta, v)  # noqa: E731
        if method == "gcrodr":
            res = gcrodr(mv, bs[i], RecycleSpace(U), cycle_length=cycle_length, rtol=rtol,
                         atol=atol, max_steps=max_steps)
        else:
            res = deflated_cg(mv, bs[i], RecycleSpace(U), window=window, stride=stride,
                              rtol=rtol, atol=atol, max_steps=max_steps)
        out = (res.solution, res.num_matvecs, res.iterations, res.residual_norm, res.converged)
        return (res.recycle.U, res.recycle.C), out

    (U, C), (X, mvs, its, rn, conv) = jax.lax.scan(one, (U0, jnp.zeros_like(U0)), perm)
    inv = jnp.argsort(perm)
    return SequenceSolve(
        solutions=X[inv], order=perm, num_matvecs=mvs[inv], iterations=its[inv],
        residual_norms=rn[inv], converged=conv[inv], recycle=RecycleSpace(U, C),
    )
