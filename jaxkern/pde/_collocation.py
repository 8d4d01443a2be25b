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
import lineax as lx
from jaxtyping import Array

from ._operators import FactorOps, derivatives, factor_operators, log_evidence_terms, resolved
from ._precondition import Preconditioner, fast_diagonalisation, interior
from ._problem import Problem


def operators(kernels: Sequence, prob: Problem) -> list[FactorOps]:
    """Each axis's operators for the kernels."""
    return [factor_operators(k, a, prob.relative_jitter) for k, a in zip(kernels, prob.axes)]


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

    Each Newton step solves $J\,\delta = -r$ on the interior by GMRES (lineax) with the
    fast-diagonalisation preconditioner (exact for linear constant-coefficient PDEs, so one
    GMRES iteration); $J$ is applied by a Jacobian-vector product, so nothing of size
    $N \times N$ is formed. The root is wrapped in `lax.custom_root`, so gradients with respect
    to the kernels follow the implicit function theorem (one transposed GMRES solve, with the
    transposed preconditioner) instead of the iterations.
    """
    inner = interior(U.ndim)
    U = jax.lax.stop_gradient(U)

    def interior_residual(V):
        return grid_residual(prob, ops, U.at[inner].set(V))[inner]

    # Library or hand-written: lineax's GMRES replaced jax.scipy's, which needed right
    # preconditioning by hand (its left-preconditioned GMRES compares |M r| with tol |b| and
    # stopped at x = 0 in float32); lineax stops on the residual, forces one real iteration
    # and checks the step too. Measured in one process (issue 17), 1-D Poisson sin(100x) of
    # bench_pde, 400 points, Q = 30, `solve(..., num_steps=20)`, float64, on 2 shared CPU
    # cores, each variant a fresh residual (so each compiles), both orders:
    #   hand-written (jax.scipy GMRES): 45.3 s CPU / 93 s wall run first, 39.1 s / 59 s run
    #     second; rel. L2 8.9e-5, J = -1530.68, 26 of 30 components kept;
    #   lineax GMRES: 44.6 s CPU / 66 s wall run first, 36.7 s / 50 s run second;
    #     rel. L2 1.0e-6, J = -1488.30, 6 kept.
    # No cost, and more accurate here. For fixed kernels the two agree (initial mixture: U to
    # 8e-13, grad J to 2e-9 relative, same collocation residual 3.8e-10 |f|), but the fit is
    # sensitive to round-off and the paths part: on bench_pde's full 100-step run lineax gave
    # 1.4e-7 (hand-written 8.4e-8; both 60 steps, 1 component, 205 s vs 204 s wall under
    # load), on its --quick problem 5.5e-5 (1.1e-5): the near-equal optima of J, not the
    # solves, decide the last digit.
    # optimistix's Newton (with `ImplicitAdjoint`) was tried in place of the loop below and
    # `custom_root`, and not kept: `optx.Newton` takes no preconditioner (the residual had
    # to be right-preconditioned by hand), its tolerances are per element with no stop where
    # steps stop shrinking (round-off), and on the reduced 80-point problem its adjoint's
    # lineax GMRES raised "stagnation" inside jit (per-element tolerances cannot be met where
    # the cotangent has zero entries).
    def linear_solve(matvec, b, transpose=False):
        structure = jax.eval_shape(lambda: b)
        preconditioner = lx.FunctionLinearOperator(
            lambda v: precondition(v, transpose), structure
        )
        # lineax scales its tolerance per element, atol + rtol |b_i|: atol gives the entries
        # where b vanishes the scale of the largest.
        atol = jnp.maximum(tol * jnp.max(jnp.abs(b)), jnp.finfo(b.dtype).tiny)
        # lineax runs every Arnoldi step of a restart cycle and tests convergence between
        # cycles, so the cycle is kept short: with the preconditioner exact for linear PDEs one
        # step does, and nonlinear ones get up to 10 cycles. restart=20 cost 2.2x (forward) and
        # 3.5x (value and gradient of J) the hand-written GMRES on bench_pde's 2-D Poisson
        # 400 x 400 (1.0 s / 2.6 s against 0.47 s / 0.73 s per evaluation; whole solve 362 s
        # against 161 s); restart=2 takes 0.40 s / 0.66 s and 125 s, same J trajectory.
        solver = lx.GMRES(rtol=tol, atol=atol, restart=2, max_steps=10)
        return lx.linear_solve(
            lx.FunctionLinearOperator(matvec, structure), b, solver,
            options={"preconditioner": preconditioner}, throw=False,
        ).value

    def tangent_solve(linearised, b):
        # The transposed solve is given explicitly (lineax's own transpose rule cannot run on
        # the operator `custom_root` hands over, which reaches it as an undefined primal).
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
            return V + step, new_size, size, i + 1

        def not_done(carry):
            _, size, previous, i = carry
            # Stop at the tolerance, or where the steps stop shrinking: round-off level.
            return (i < max_iterations) & (size > tol) & (size < 0.5 * previous)

        big, inf = jnp.asarray(jnp.finfo(V.dtype).max, V.dtype), jnp.asarray(jnp.inf, V.dtype)
        return jax.lax.while_loop(not_done, body, (V, big, inf, jnp.asarray(0)))[0]

    V = jax.lax.custom_root(interior_residual, U[inner], newton, tangent_solve)
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
    precondition = fast_diagonalisation(jax.lax.stop_gradient(ops), U, prob)
    U = collocate(ops, U, prob, precondition, newton_iterations, newton_tol)
    J = jnp.where(resolved(ops, U, prob.axes), log_evidence_terms(ops, U), jnp.inf)
    return J, U


# J and the collocation solution for fixed kernels, compiled apart from the optimiser's chunks.
collocation = eqx.filter_jit(evidence)
