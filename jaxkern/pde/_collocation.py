r"""The grid values for given kernels, and the objective $J$ that `solve` minimises over them.

For fixed kernels, the collocation solution $U^\ast$ holds the boundary values and makes the
PDE residual vanish at the interior points; it is found by Newton–GMRES and differentiated by
the implicit function theorem. $J(\theta)$ is the GP evidence of $U^\ast(\theta)$.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..linalg import gmres
from ._operators import FactorOps, derivatives, factor_operators, log_evidence_terms, resolved
from ._precondition import (
    Preconditioner,
    boundary_mean_preconditioner,
    fast_diagonalisation,
    interior,
)
from ._problem import Problem


def operators(kernels: Sequence, prob: Problem) -> list[FactorOps]:
    """Each axis's operators for the kernels."""
    return [
        factor_operators(k, a, prob.relative_jitter, prob.trend_degree)
        for k, a in zip(kernels, prob.axes)
    ]


def grid_residual(prob: Problem, ops: Sequence[FactorOps], U: Array) -> Array:
    """The PDE residual on the whole grid, derivatives through the operators."""
    d = derivatives(ops, U)
    return prob.residual(d.u, d.du, d.d2u, prob.mesh)


def collocate(
    ops: Sequence[FactorOps],
    U: Array,
    prob: Problem,
    precondition: Preconditioner,
    max_iterations: int,
    tol: float,
) -> Array:
    r"""Grid values whose interior residual vanishes, boundary values held: Newton–GMRES.

    Each Newton step solves $J\,\delta = -r$ on the interior by GMRES with the
    fast-diagonalisation preconditioner (exact for linear constant-coefficient PDEs, so one
    GMRES iteration); $J$ is applied by a Jacobian-vector product, so nothing of size
    $N \times N$ is formed. The root is wrapped in `lax.custom_root`, so gradients with respect
    to the kernels follow the implicit function theorem (one transposed GMRES solve, with the
    transposed preconditioner) instead of the iterations.

    With `prob.boundary` (a trend, in 1-D) all grid values are unknown: the interior rows are
    the PDE and the two boundary rows ask the posterior mean at the grid points,
    $(I - \epsilon k(0) Q) U$, to equal the boundary values; the preconditioner's boundary rows
    are those of the same matrix (`boundary_mean_preconditioner`). With `prob.ghost_nodes` the
    grid extends one node beyond each end: the PDE is collocated at every point of the domain,
    its ends included, and the ghost nodes' rows hold the boundary conditions on the mean at the
    ends (collocation of the PDE on the boundary, as in Fedoseyev, Friedman & Kansa 2002).
    """
    U = jax.lax.stop_gradient(U)
    if prob.boundary is None:
        inner = interior(U.ndim)

        def equations(V):
            return grid_residual(prob, ops, U.at[inner].set(V))[inner]
    else:
        # With a trend (1-D): every grid value is unknown, and the boundary rows ask the
        # posterior mean, not U, to meet the boundary values. U's own boundary values leave the
        # trend's coefficients to directions of U that the kernel barely holds (weight
        # 1 / epsilon) and that nothing else pins once pruning leaves near-pure cosines.
        # With a ghost node beyond each end (`prob.ghost_nodes`), the PDE rows cover the
        # domain's boundary points too, and the first and last rows (the ghost nodes') carry
        # the boundary conditions instead.
        inner = (slice(None),)
        M, g, j = ops[0].mean, prob.boundary, prob.ghost_nodes

        def equations(V):
            r = grid_residual(prob, ops, V)
            return r.at[0].set(M[j] @ V - g[0]).at[-1].set(M[-1 - j] @ V - g[-1])

    # Library or hand-written, measured in one process (issue 17, float64, 2 CPU cores, each
    # run alone). lineax's GMRES runs every Arnoldi step of a restart cycle and tests
    # convergence only between cycles; jax.scipy's "incremental" GMRES stops inside a cycle.
    # On bench_pde's 2-D Poisson 400 x 400, one evaluation of J (value and gradient) took
    # 0.47 s / 0.73 s hand-written, 1.0 s / 2.6 s with lineax at restart=20 (whole solve 161 s
    # against 362 s), and 0.40 s / 0.66 s at restart=2 (125 s). But two-step cycles stall where
    # the preconditioner is inexact: the nonlinear 2-D Allen-Cahn 200 x 200 took 223 s to
    # 7.6e-5 against 68 s to 3.1e-5. On 1-D problems the two agree (initial mixture: U to
    # 8e-13, grad J to 2e-9); the last digit of a fit is decided by near-equal optima of J.
    # So: GMRES that stops inside a cycle, right-preconditioned by hand, A P y = b with
    # x = P y, so that it measures the true residual (jax.scipy's left-preconditioned form
    # compares |M r| with tol |b| and stopped at x = 0 in float32). jaxkern's own
    # (`linalg.gmres`) rather than jax.scipy's: with the exact preconditioner a solve is two
    # Arnoldi steps, and jax.scipy's spends two more products on bookkeeping (A x0 for x0 = 0,
    # and b - A x after the cycle), half of the PDE solver's products (issue 18).
    # optimistix's Newton (with `ImplicitAdjoint`) was tried in place of the loop below and
    # `custom_root`, and not kept: `optx.Newton` takes no preconditioner (the residual had
    # to be right-preconditioned by hand), its tolerances are per element with no stop where
    # steps stop shrinking (round-off), and on the reduced 80-point problem its adjoint's
    # lineax GMRES raised "stagnation" inside jit (per-element tolerances cannot be met where
    # the cotangent has zero entries).
    def linear_solve(matvec, b, transpose=False):
        def apply(v):
            return precondition(v, transpose)

        shape = b.shape
        # Without a trend the recurrence residual is trusted (verify=False): the true
        # residual's floor (K's conditioning times round-off) lies above `tol`, and checking it
        # ran every solve to max_steps (31 products a solve against 1.7, 100 x 100 Poisson);
        # Newton's next residual is the true one anyway. With a trend (nearly singular
        # directions of U, pinned only through the boundary rows) trusting it sent the fit on
        # 0.1x^2 to 0.57, against 1.3e-7 checked (docs/pde.md).
        y = gmres(
            lambda v: matvec(apply(v.reshape(shape))).ravel(), b.ravel(), rtol=tol, restart=20,
            max_steps=40, verify=prob.trend_degree is not None,
        ).solution
        return apply(y.reshape(shape))

    def tangent_solve(linearised, b):
        # The implicit-function-theorem solve and its transpose (the adjoint) share the
        # preconditioner, transposed.
        return jax.lax.custom_linear_solve(
            linearised, b, solve=linear_solve,
            transpose_solve=lambda matvec, c: linear_solve(matvec, c, transpose=True),
        )

    def newton(f, V):
        def body(carry):
            V, size, _, i = carry
            r, linearised = jax.linearize(f, V)
            step = linear_solve(linearised, -r)
            new_size = jnp.linalg.norm(step) / jnp.maximum(jnp.linalg.norm(V + step), 1e-30)
            # Once the steps are tiny, one that does not shrink solves for round-off (the
            # residual is noise, and GMRES returns it amplified by the condition number): it
            # ends the loop without being taken. Left in, it moved U along directions the
            # kernels barely hold, and J (through K^{-1}) with them.
            noise = (size < jnp.sqrt(tol)) & ~(new_size < 0.5 * size)
            return jnp.where(noise, V, V + step), new_size, size, i + 1

        def not_done(carry):
            _, size, previous, i = carry
            # Stop at the tolerance, or where the steps stop shrinking: round-off level.
            return (i < max_iterations) & (size > tol) & (size < 0.5 * previous)

        big, inf = jnp.asarray(jnp.finfo(V.dtype).max, V.dtype), jnp.asarray(jnp.inf, V.dtype)
        return jax.lax.while_loop(not_done, body, (V, big, inf, jnp.asarray(0)))[0]

    V = jax.lax.custom_root(equations, U[inner], newton, tangent_solve)
    return U.at[inner].set(V)


def evidence(
    kernels: Sequence, U: Array, prob: Problem, newton_iterations: int, newton_tol: float
) -> tuple[Array, Array]:
    r"""$J(\theta)$ and $U^\ast(\theta)$: the collocation solution's GP evidence (see `solve`).

    `U` holds the boundary values and the Newton starting point inside. $J = +\infty$ where
    $U^\ast$ breaks Bernstein's inequality for the grid (see `resolved`), which line searches
    step back from.
    """
    ops = operators(kernels, prob)
    # Rebuilt at every evaluation: exact for linear PDEs, so each solve is one GMRES iteration
    # and the objective is smooth enough for a line search.
    build = fast_diagonalisation if prob.boundary is None else boundary_mean_preconditioner
    precondition = build(jax.lax.stop_gradient(ops), U, prob)
    U = collocate(ops, U, prob, precondition, newton_iterations, newton_tol)
    J = jnp.where(resolved(ops, U, prob.axes), log_evidence_terms(ops, U), jnp.inf)
    return J, U


# J and the collocation solution for fixed kernels, compiled apart from the optimiser's chunks.
collocation = eqx.filter_jit(evidence)
