"""Solver strategies for exact GP inference, chosen by argument as in lineax."""

from __future__ import annotations

import equinox as eqx
import jax
from jaxtyping import PRNGKeyArray

from .._validation import check_int, check_positive, is_prng_key

__all__ = ["CG", "Auto", "Cholesky", "resolve_solver"]

#: The n above which `Auto` switches from Cholesky to CG. Measured with the log marginal
#: likelihood and its gradient (RBF, d = 3, float64, `python -m benchmarks.run scalable`): CG()
#: at its defaults took 1.27x Cholesky's time at n = 4000 and 0.97x at 8000 on the 2-core CPU.
#: CG's time grows as n^2 against Cholesky's n^3 (and a GPU moves the crossover): re-measure
#: on the target hardware and pass `Auto(crossover=...)`.
CROSSOVER_N = 8000


class Cholesky(eqx.Module):
    r"""Dense Cholesky of $K + \sigma^2 I$: exact, $O(n^3)$ time, $O(n^2)$ memory. The default."""


class CG(eqx.Module):
    r"""Matrix-free CG + stochastic Lanczos quadrature (BBMM) over the blocked `kernel_matvec`.

    $O(n^2)$ time per CG step and $O(n \cdot (t + m))$ memory ($t$ probes, rank-$m$
    preconditioner): the Gram matrix is never formed. The log-determinant and the gradient's
    trace term are stochastic (standard error $\propto 1/\sqrt{t}$); the probes come from
    `key`, so the same key gives the same (differentiable) estimate.

    **Arguments:**

    - `rtol`: relative residual tolerance of the CG solves.
    - `max_steps`: the most CG iterations.
    - `num_probes`: $t$, Gaussian probes for the log-determinant and trace.
    - `preconditioner_rank`: rank of the pivoted-Cholesky preconditioner (0: none).
    - `quadrature_steps`: the most Lanczos steps (Gauss nodes) of each probe's tridiagonal that
      the log-determinant's quadrature reads (a longer CG run contributes its first
      `quadrature_steps`, as GPyTorch's `max_lanczos_quadrature_iterations`, default 20 there):
      the quadrature of the smooth $\log$ converges long before the probes' Monte-Carlo error.
      The default 64 is also where XLA:CPU's `eigh` (jaxlib 0.10) leaves its fast small-matrix
      path: a 100 x 100 eigendecomposition measured 100x slower than a 64 x 64 one.
    - `block_size`: tile size of `kernel_matvec`.
    - `materialize`: form the $n \times n$ Gram matrix once per evaluation and run the CG
      products as dense matrix products (GPyTorch's way) instead of re-evaluating the kernel
      in tiles at every step. Several times faster per step while $n^2$ numbers fit in memory
      (3.2 GB at n = 20,000 in float64); the default keeps memory at $O(n(t + m))$. The
      gradient's backward pass stays tiled either way.
    - `key`: PRNG key of the probes.
    - `throw`: raise (`eqx.error_if`) if the solve for $y$ (or a test column) has not
      converged within `max_steps`.
    """

    rtol: float = eqx.field(static=True, default=1e-4)
    max_steps: int = eqx.field(static=True, default=1000)
    num_probes: int = eqx.field(static=True, default=16)
    preconditioner_rank: int = eqx.field(static=True, default=15)
    quadrature_steps: int = eqx.field(static=True, default=64)
    block_size: int = eqx.field(static=True, default=1024)
    materialize: bool = eqx.field(static=True, default=False)
    key: PRNGKeyArray = eqx.field(default_factory=lambda: jax.random.key(0))
    throw: bool = eqx.field(static=True, default=True)

    def __check_init__(self):
        check_positive("rtol", self.rtol, allow_zero=True)
        check_int("max_steps", self.max_steps, 1)
        check_int("num_probes", self.num_probes, 1)
        check_int("preconditioner_rank", self.preconditioner_rank, 0)
        check_int("quadrature_steps", self.quadrature_steps, 1)
        check_int("block_size", self.block_size, 1)
        if not is_prng_key(self.key):
            raise ValueError(f"`key` must be a PRNG key (jax.random.key), got {self.key!r}.")


class Auto(eqx.Module):
    """[`Cholesky`][jaxkern.gp.Cholesky] up to `crossover` points, [`CG`][jaxkern.gp.CG] above.

    The default crossover (`CROSSOVER_N` = 8000, measured on a 2-core CPU: see
    `docs/scalable.md`) is the n from which CG + SLQ (LML and gradient) at its default settings
    overtakes the dense Cholesky; `cg` configures the iterative side.
    """

    crossover: int = eqx.field(static=True, default=CROSSOVER_N)
    cg: CG = eqx.field(default_factory=CG)

    def __check_init__(self):
        check_int("crossover", self.crossover, 1)


def resolve_solver(solver, n: int):
    """The concrete strategy for n points: Cholesky() for None, Auto resolved by n."""
    if solver is None:
        return Cholesky()
    if isinstance(solver, Auto):
        return solver.cg if n > solver.crossover else Cholesky()
    if isinstance(solver, Cholesky | CG):
        return solver
    raise ValueError(
        "`solver` must be jaxkern.gp.Cholesky(), jaxkern.gp.CG(...) or jaxkern.gp.Auto(...), "
        f"got {solver!r}."
    )
