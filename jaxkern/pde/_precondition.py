r"""Fast diagonalisation: the inverse of the residual's averaged-coefficient linearisation.

Linearised at $U$, a pointwise residual is $\sum_d (a_d \circ \partial_d^2 + b_d \circ
\partial_d) + c\,\circ$ with coefficient fields $a_d, b_d, c$. With each field replaced by its
mean over the interior, the operator on the interior values is a Kronecker sum
$\sum_d I \otimes \dots \otimes L_d \otimes \dots \otimes I$, which one eigendecomposition
$L_d = V_d \Lambda_d V_d^{-1}$ per axis inverts exactly (Lynch, Rice & Thomas 1964; in 1-D, one
LU factorisation). For a linear PDE with constant coefficients this is the exact inverse of
the collocation Jacobian, otherwise a preconditioner for it.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array

from ..linalg import apply_along_axes
from ._operators import FactorOps, derivatives
from ._problem import Problem


def interior(ndim: int) -> tuple[slice, ...]:
    """The index of the grid's interior points (all but the first and last along each axis)."""
    return (slice(1, -1),) * ndim


class Preconditioner(NamedTuple):
    r"""The inverse of a Kronecker-sum operator on the interior.

    In 1-D the operator is one matrix and is LU-factorised; in 2-D and 3-D it is inverted through
    each axis's eigenpairs, $\big(\bigotimes_d V_d\big) \Lambda^{-1} \big(\bigotimes_d
    V_d^{-1}\big)$ with $\Lambda$ the sums of the axes' eigenvalues.
    """

    factors: list  # (lu, pivots) in 1-D; per axis (V_d, V_d^{-1}) otherwise
    denominator: Array | None

    def __call__(self, r: Array, transpose: bool = False) -> Array:
        if self.denominator is None:
            return jax.scipy.linalg.lu_solve(self.factors[0], r, trans=int(transpose))
        vectors, inverses = zip(*self.factors)
        if transpose:  # (V D V^{-1})^T = V^{-T} D V^T
            vectors, inverses = [w.T for w in inverses], [v.T for v in vectors]
        w = apply_along_axes(inverses, r.astype(self.denominator.dtype)) / self.denominator
        return jnp.real(apply_along_axes(vectors, w)).astype(r.dtype)


def averaged_operators(ops: Sequence[FactorOps], U: Array, prob: Problem) -> list[Array]:
    r"""Each axis's $a_d G^{(2)}_d K_d^{-1} + b_d G^{(1)}_d K_d^{-1}$ (plus $c I$ on the first),
    the linearisation's coefficients at $U$ averaged over the interior; whole $n_d \times n_d$."""
    D = U.ndim
    inner = interior(D)
    d = derivatives(ops, U)
    zeros, ones = jnp.zeros_like(U), jnp.ones_like(U)

    def coefficient(slot, axis=0):
        # The mean over the interior of d r / d(u, du[axis] or d2u[axis]).
        tangent = [zeros, [zeros] * D, [zeros] * D]
        if slot == 0:
            tangent[0] = ones
        else:
            tangent[slot][axis] = ones
        tangent = (tangent[0], tuple(tangent[1]), tuple(tangent[2]))
        _, dr = jax.jvp(lambda *a: prob.residual(*a, prob.mesh), (d.u, d.du, d.d2u), tangent)
        return jnp.mean(dr[inner])

    operators = []
    for axis, o in enumerate(ops):
        L = coefficient(1, axis) * o.d1 + coefficient(2, axis) * o.d2
        if axis == 0:
            L = L + coefficient(0) * jnp.eye(L.shape[0], dtype=L.dtype)
        operators.append(L)
    return operators


def fast_diagonalisation(ops: Sequence[FactorOps], U: Array, prob: Problem) -> Preconditioner:
    r"""Inverse of the residual's linearisation at $U$ on the interior, coefficients averaged."""
    operators = [L[1:-1, 1:-1] for L in averaged_operators(ops, U, prob)]
    if U.ndim == 1:
        return Preconditioner([jax.scipy.linalg.lu_factor(operators[0])], None)
    eigenvalues, vectors = zip(*(jnp.linalg.eig(L) for L in operators))
    # The Kronecker sum's eigenvalues are all sums of one eigenvalue per axis.
    return Preconditioner(
        [(V, jnp.linalg.inv(V)) for V in vectors], functools.reduce(jnp.add.outer, eigenvalues)
    )


def boundary_mean_preconditioner(
    ops: Sequence[FactorOps], U: Array, prob: Problem
) -> Preconditioner:
    r"""1-D, all grid values unknown: the inverse of the averaged linearisation's interior rows
    with, as the first and last rows, those of the posterior mean at the domain's ends
    (`FactorOps.mean`), the boundary conditions on the mean. One LU factorisation; exact for
    linear constant-coefficient PDEs."""
    (L,) = averaged_operators(ops, U, prob)
    M, j = ops[0].mean, prob.ghost_nodes
    A = L.at[0].set(M[j]).at[-1].set(M[-1 - j])
    return Preconditioner([jax.scipy.linalg.lu_factor(A)], None)
