r"""GP-HM: a Gaussian-process PDE solver on a tensor grid with one kernel per dimension.

The unknowns are the solution values $U$ on a grid $X_1 \times \dots \times X_D$. Under the prior
$\mathrm{vec}(U) \sim \mathcal N(0, K_1 \otimes \dots \otimes K_D)$, the derivative along
dimension $d$ at the grid points is the GP conditional mean, $A_d = G_d K_d^{-1}$ applied along
axis $d$ ($G_d$ a derivative Gram matrix). [`solve`][jaxkern.pde.solve] minimises the negative
log joint of the grid values, the kernels and the residual precision by blocks: a Newton
collocation solve for the values (preconditioned by fast diagonalisation through the Kronecker
structure), the exact precision, and L-BFGS on the kernels; then it prunes the mixture
components that carry almost nothing of the solution.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Float

from .._optim import exp_transform, log_transform, run_chunks
from .._validation import check_int, check_ndim
from ..kernels import StudentTMixture, gram
from ..linalg import apply_along_axes
from ._derivatives import derivative_gram


class GridDerivatives(NamedTuple):
    """The solution on the grid and its GP-mean derivatives along each dimension."""

    u: Array
    du: tuple
    d2u: tuple


Residual = Callable[[Array, tuple, tuple, tuple], Array]


class PDESolution(eqx.Module):
    """A fitted GP-HM solution: grid values and per-dimension kernels.

    `losses` holds the objective $J(\theta)$ of [`solve`][jaxkern.pde.solve] at each step taken
    (fewer than `num_steps` where the fit converged early).
    """

    axes: tuple
    values: Array
    kernels: tuple
    losses: Array
    jitter: float = eqx.field(static=True)


def _check_axes(axes) -> tuple:
    if not isinstance(axes, (tuple, list)) or not 1 <= len(axes) <= 3:
        raise ValueError(f"`axes` must be a tuple of 1 to 3 one-dimensional arrays, got {axes!r}.")
    out = []
    for d, a in enumerate(axes):
        check_ndim(f"axes[{d}]", a, 1, "(n_d,)")
        if a.shape[0] < 3:
            raise ValueError(f"`axes[{d}]` needs at least 3 grid points, got shape {a.shape}.")
        steps = np.diff(np.asarray(a, np.float64))
        if not np.all(steps > 0):
            raise ValueError(f"`axes[{d}]` must be strictly increasing.")
        if np.max(np.abs(steps - steps.mean())) > 1e-4 * steps.mean():
            raise ValueError(
                f"`axes[{d}]` must be uniformly spaced (each kernel matrix is built as a Toeplitz "
                f"matrix from the grid's lags); steps range over "
                f"[{steps.min():.3g}, {steps.max():.3g}]."
            )
        out.append(jnp.asarray(a))
    return tuple(out)


def mixture_kernels(
    axes: Sequence[Float[Array, " n"]],
    *,
    num_components: int = 30,
    max_frequency: float | Sequence[float] | None = None,
    lengthscale: float = 1.0,
) -> tuple[StudentTMixture, ...]:
    r"""GP-HM's initial Student-t mixture kernels, one per grid dimension.

    Component $q$ of dimension $d$ starts at weight $1/Q$, lengthscale `lengthscale` and
    frequency $\mu_q = q\, f_{\max} / (Q - 1)$, spreading the mixture evenly over
    $[0, f_{\max}]$ (cycles per unit). The fit then moves the frequencies onto the solution's and
    shrinks the weights of the rest (log weights act as a Jeffreys prior).

    **Arguments:**

    - `axes`: uniformly spaced grid coordinates, one array per dimension.
    - `num_components`: $Q$ (keyword-only, as are the rest).
    - `max_frequency`: $f_{\max}$, a number or one per dimension; defaults to 0.6 times each
      axis's Nyquist frequency $1 / (2h)$.
    - `lengthscale`: initial envelope lengthscale.

    **Returns:** a tuple of [`StudentTMixture`][jaxkern.kernels.StudentTMixture] kernels.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.pde import mixture_kernels
        >>> (k,) = mixture_kernels((jnp.linspace(0, 1, 11),), num_components=3, max_frequency=4.0)
        >>> k.means[:, 0].tolist()
        [0.0, 2.0, 4.0]

    Fang et al., *Solving High Frequency and Multi-Scale PDEs with Gaussian Processes*,
    ICLR 2024, §4.
    """
    axes = _check_axes(axes)
    check_int("num_components", num_components, 1)
    if max_frequency is None:
        max_frequency = [0.6 / (2 * float(a[1] - a[0])) for a in axes]
    elif np.ndim(max_frequency) == 0:
        max_frequency = [float(max_frequency)] * len(axes)
    if len(max_frequency) != len(axes):
        raise ValueError(
            f"`max_frequency` must be a number or one per axis ({len(axes)}), got "
            f"{max_frequency!r}."
        )
    kernels = []
    for a, fmax in zip(axes, max_frequency):
        dtype = a.dtype
        q = num_components
        kernels.append(
            StudentTMixture(
                weights=jnp.full((q,), 1.0 / q, dtype),
                means=jnp.linspace(0.0, fmax, q, dtype=dtype)[:, None],
                lengthscales=jnp.full((q, 1), lengthscale, dtype),
            )
        )
    return tuple(kernels)


def _stationary_gram(k, x, orders):
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
def _inverse_logdet(K):
    r"""$(K^{-1}, \log|K|)$ of a symmetric positive definite matrix, by one Cholesky."""
    # A plain Cholesky: a failed factorisation gives NaN, which a line search rejects, where a
    # raising check would end the whole fit.
    L = jnp.linalg.cholesky(K)
    # One triangular inverse, then matrix products: triangular solves are slow kernels on CPU.
    Linv = solve_triangular(L, jnp.eye(K.shape[0], dtype=K.dtype), lower=True)
    return Linv.T @ Linv, 2 * jnp.sum(jnp.log(jnp.diagonal(L)))


def _inverse_logdet_fwd(K):
    out = _inverse_logdet(K)
    return out, out[0]


def _inverse_logdet_bwd(Kinv, cotangents):
    # d(K^{-1}) = -K^{-1} dK K^{-1} and d log|K| = tr(K^{-1} dK): matrix products only, where
    # autodiff through the Cholesky would need triangular solves.
    B, c = cotangents
    return (c * Kinv - Kinv @ B @ Kinv,)


_inverse_logdet.defvjp(_inverse_logdet_fwd, _inverse_logdet_bwd)


class _FactorOps(NamedTuple):
    logdet: Array  # log|K_d + jitter I|
    inv: Array  # its inverse, K_d^{-1}
    d1: Array  # G1_d K_d^{-1}: grid values -> first derivative
    d2: Array  # G2_d K_d^{-1}: grid values -> second derivative


def _default_jitter(dtype) -> float:
    """Relative diagonal jitter: 1e-6 as in the authors' code, 1e-4 where float32 needs it."""
    return 1e-6 if jnp.finfo(dtype).bits > 32 else 1e-4


def _prior_inverse(k, x, jitter):
    r"""Inverse and log-determinant of $K + \epsilon k(0) I$ on one axis.

    The jitter is relative to the kernel's variance $k(0)$, so the conditioning it buys does not
    change as the fit rescales the mixture weights.
    """
    K = _stationary_gram(k, x, (0, 0))
    return _inverse_logdet(K + jitter * K[0, 0] * jnp.eye(x.shape[0], dtype=x.dtype))


def _factor_operators(k, x, jitter) -> _FactorOps:
    r"""$K^{-1}$ and $\log|K|$ of [`_prior_inverse`], and the operators $G_a K^{-1}$."""
    Kinv, logdet = _prior_inverse(k, x, jitter)
    return _FactorOps(
        logdet, Kinv, _stationary_gram(k, x, (1, 0)) @ Kinv, _stationary_gram(k, x, (2, 0)) @ Kinv
    )


def grid_derivatives(
    kernels: Sequence[Callable], axes: Sequence[Float[Array, " n"]], U: Float[Array, "*grid"],
    *, jitter: float | None = None,
) -> GridDerivatives:
    r"""First and second derivatives of the GP interpolant of grid values, along each dimension.

    $$\partial_d U = \big(G^{(1)}_d K_d^{-1}\big) \times_d U, \qquad
      \partial_d^2 U = \big(G^{(2)}_d K_d^{-1}\big) \times_d U,$$
    where $\times_d$ multiplies along axis $d$, $K_d$ is the kernel Gram matrix of axis $d$
    (plus jitter) and $G^{(a)}_d$ the Gram matrix of $\partial_x^a k_d$: the posterior mean of
    the derivative given the grid values, through the Kronecker structure.

    **Arguments:**

    - `kernels`: one 1-D kernel per dimension.
    - `axes`: grid coordinates, one array per dimension.
    - `U`: values on the grid, shape $(n_1, \dots, n_D)$.
    - `jitter`: diagonal added to each $K_d$, relative to $k_d(0)$; defaults to $10^{-6}$
      ($10^{-4}$ in float32).

    **Returns:** a [`GridDerivatives`][jaxkern.pde.GridDerivatives].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.pde import grid_derivatives
        >>> x = jnp.linspace(0, 1, 30)
        >>> d = grid_derivatives([RBF(lengthscale=0.3)], (x,), x**2, jitter=1e-4)
        >>> round(float(jnp.take(d.d2u[0], 15)))  # d^2(x^2)/dx^2 = 2 (float32: ~1 digit)
        2

    Fang et al., ICLR 2024, eq. 10.
    """
    axes = _check_axes(axes)
    shape = tuple(a.shape[0] for a in axes)
    if U.shape != shape:
        raise ValueError(f"`U` must have the grid shape {shape}, got {U.shape}.")
    if len(kernels) != len(axes):
        raise ValueError(
            f"`kernels` must hold one kernel per axis ({len(axes)}), got {len(kernels)}."
        )
    if jitter is None:
        jitter = _default_jitter(U.dtype)
    ops = [_factor_operators(k, a, jitter) for k, a in zip(kernels, axes)]
    return _derivatives(ops, U)


def _along(A, U, d):
    """Multiply axis `d` of the tensor `U` by the matrix `A`."""
    return jnp.moveaxis(jnp.tensordot(A, U, axes=(1, d)), 0, d)


def _derivatives(ops, U) -> GridDerivatives:
    """$U$ and its GP-mean derivatives through each axis's operators $G_a K^{-1}$."""
    return GridDerivatives(
        U,
        tuple(_along(o.d1, U, d) for d, o in enumerate(ops)),
        tuple(_along(o.d2, U, d) for d, o in enumerate(ops)),
    )


class _Problem(NamedTuple):
    residual: Residual
    axes: tuple
    mesh: tuple
    templates: tuple  # the initial kernels: structure and which leaves are fitted on a log scale
    jitter: float


def _positive_filter(kernel):
    """Fit positive hyperparameters on a log scale; spectral means (frequencies) stay linear."""
    spec = jax.tree.map(eqx.is_inexact_array, kernel)
    if hasattr(kernel, "means"):
        spec = eqx.tree_at(lambda k: k.means, spec, False)
    return spec


def _to_log(kernel):
    """The kernel with its positive leaves as logs; all of it is then optimised."""
    return eqx.combine(*log_transform(kernel, _positive_filter(kernel)))


def _from_log(kernel_log, template):
    return exp_transform(*eqx.partition(kernel_log, _positive_filter(template)))


def _operators(log_kernels, prob: _Problem) -> list[_FactorOps]:
    kernels = [_from_log(kl, t) for kl, t in zip(log_kernels, prob.templates)]
    return [_factor_operators(k, a, prob.jitter) for k, a in zip(kernels, prob.axes)]


def _grid_residual(prob: _Problem, ops, U):
    d = _derivatives(ops, U)
    return prob.residual(d.u, d.du, d.d2u, prob.mesh)


def _log_evidence_terms(ops, U):
    r"""$\tfrac12 \log|K| + \tfrac12 \mathrm{vec}(U)^\top K^{-1} \mathrm{vec}(U)$ by factors.

    $\log|K| = \sum_d (N / n_d) \log|K_d|$, and $K^{-1}$ is one multiplication per axis.
    """
    logdet = sum((U.size // o.inv.shape[0]) * o.logdet for o in ops)
    return 0.5 * logdet + 0.5 * jnp.sum(U * apply_along_axes([o.inv for o in ops], U))


def _interior(ndim):
    return (slice(1, -1),) * ndim


class _Preconditioner(NamedTuple):
    r"""The inverse of a Kronecker-sum operator on the interior.

    In 1-D the operator is one matrix and is LU-factorised; in 2-D and 3-D it is inverted through
    each axis's eigenpairs, $\big(\bigotimes_d V_d\big) \Lambda^{-1} \big(\bigotimes_d
    V_d^{-1}\big)$ with $\Lambda$ the sums of the axes' eigenvalues.
    """

    factors: list  # (lu, pivots) in 1-D; per axis (V_d, V_d^{-1}) otherwise
    denominator: Array | None

    def __call__(self, r, transpose=False):
        if self.denominator is None:
            return jax.scipy.linalg.lu_solve(self.factors[0], r, trans=int(transpose))
        vectors, inverses = zip(*self.factors)
        if transpose:  # (V D V^{-1})^T = V^{-T} D V^T
            vectors, inverses = [w.T for w in inverses], [v.T for v in vectors]
        w = apply_along_axes(inverses, r.astype(self.denominator.dtype)) / self.denominator
        return jnp.real(apply_along_axes(vectors, w)).astype(r.dtype)


def _fast_diagonalisation(ops, U, prob: _Problem) -> _Preconditioner:
    r"""Inverse of the residual's linearisation at $U$, with its coefficients averaged.

    Linearised at $U$, a pointwise residual is $\sum_d (a_d \circ \partial_d^2 + b_d \circ
    \partial_d) + c\,\circ$ with coefficient fields $a_d, b_d, c$. With each field replaced by its
    mean over the interior, the operator on the interior values is a Kronecker sum
    $\sum_d I \otimes \dots \otimes L_d \otimes \dots \otimes I$, which one eigendecomposition
    $L_d = V_d \Lambda_d V_d^{-1}$ per axis inverts exactly (fast diagonalisation; Lynch, Rice &
    Thomas 1964; in 1-D, one LU factorisation). For a linear PDE with constant coefficients this
    is the exact inverse, otherwise a preconditioner.
    """
    D = U.ndim
    inner = _interior(D)
    d = _derivatives(ops, U)
    zeros, ones = jnp.zeros_like(U), jnp.ones_like(U)

    def coefficient(slot, axis=0):
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
        L = coefficient(1, axis) * o.d1[1:-1, 1:-1] + coefficient(2, axis) * o.d2[1:-1, 1:-1]
        if axis == 0:
            L = L + coefficient(0) * jnp.eye(L.shape[0], dtype=L.dtype)
        operators.append(L)
    if D == 1:
        return _Preconditioner([jax.scipy.linalg.lu_factor(operators[0])], None)
    eigenvalues, vectors = zip(*(jnp.linalg.eig(L) for L in operators))
    # The Kronecker sum's eigenvalues are all sums of one eigenvalue per axis.
    return _Preconditioner(
        [(V, jnp.linalg.inv(V)) for V in vectors], functools.reduce(jnp.add.outer, eigenvalues)
    )


def _collocate(ops, U, prob: _Problem, precondition: _Preconditioner, max_iterations, tol):
    r"""Grid values whose interior residual vanishes, boundary values held: Newton–GMRES.

    Each Newton step solves $J\,\delta = -r$ on the interior by GMRES with the
    fast-diagonalisation preconditioner (exact for linear constant-coefficient PDEs, so one
    GMRES iteration); $J$ is applied by a Jacobian-vector product, so nothing of size
    $N \times N$ is formed. The root is wrapped in `lax.custom_root`, so gradients with respect
    to the kernels follow the implicit function theorem (one transposed GMRES solve) instead
    of the iterations.
    """
    inner = _interior(U.ndim)
    U = jax.lax.stop_gradient(U)

    def interior_residual(V):
        return _grid_residual(prob, ops, U.at[inner].set(V))[inner]

    def linear_solve(matvec, b, transpose=False):
        # Right preconditioning, A P y = b with x = P y: GMRES then measures the true residual
        # (jax's left-preconditioned GMRES compares |M r| with tol |b|, and stops at x = 0
        # when M shrinks the residual by more than tol, as it does here in float32).
        def apply(v):
            return precondition(v, transpose)

        y = jax.scipy.sparse.linalg.gmres(
            lambda v: matvec(apply(v)), b, tol=tol, atol=0.0, restart=20, maxiter=2,
            solve_method="incremental",
        )[0]
        return apply(y)

    def tangent_solve(linearised, b):
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


class _Settings(NamedTuple):
    optimizer: optax.GradientTransformationExtraArgs
    num_steps: int
    newton_iterations: int
    newton_tol: float


def _evidence(log_kernels, U, prob: _Problem, newton_iterations: int, newton_tol: float):
    r"""$J(\theta)$ and $U^\ast(\theta)$: the collocation solution's GP evidence (see `solve`).

    `U` holds the boundary values and the Newton starting point inside.
    """
    ops = _operators(log_kernels, prob)
    # Rebuilt at every evaluation: exact for linear PDEs, so each solve is one GMRES iteration
    # and the objective is smooth enough for a line search.
    precondition = _fast_diagonalisation(jax.lax.stop_gradient(ops), U, prob)
    U = _collocate(ops, U, prob, precondition, newton_iterations, newton_tol)
    # Outside the kernels that the grid resolves J is +inf, which line searches step back from.
    J = jnp.where(_resolved(ops, U, prob.axes), _log_evidence_terms(ops, U), jnp.inf)
    return J, U


def _resolved(ops, U, axes):
    r"""Whether the GP derivatives of $U$ stay within what the grid resolves.

    A function band-limited to an axis's Nyquist frequency $\pi / h$ obeys Bernstein's
    inequality $\|\partial^a u\| \le (\pi / h)^a \|u\|$. Kernels whose derivative operators
    break it by far are degenerate: nearly collinear pure cosines whose $G K^{-1}$ has a gain
    near $\omega^2 / \epsilon$, with which a vanishing $U$ meets the PDE and $J$ falls without
    bound.
    """
    d = _derivatives(ops, U)
    size = jnp.linalg.norm(U)
    ok = jnp.asarray(True)
    for du, d2u, x in zip(d.du, d.d2u, axes):
        nyquist = jnp.pi / (x[1] - x[0])
        ok &= (jnp.linalg.norm(du) <= nyquist * size) & (jnp.linalg.norm(d2u) <= nyquist**2 * size)
    return ok


# J and the collocation solution for fixed kernels, without the optimiser step's compilation.
_collocation = eqx.filter_jit(_evidence)


@eqx.filter_jit
def _fit_chunk(log_kernels, opt_state, U, prob: _Problem, settings: _Settings):
    """`settings.num_steps` optimiser steps on the kernels, and the grid values they give."""
    trainable, frozen = eqx.partition(log_kernels, eqx.is_inexact_array)

    def objective(t):
        return _evidence(
            eqx.combine(t, frozen), U, prob, settings.newton_iterations, settings.newton_tol
        )[0]

    value_and_grad = optax.value_and_grad_from_state(objective)

    def step(carry, _):
        t, state = carry
        value, grad = value_and_grad(t, state=state)
        # optax mixes int step counts with float schedules; keep working under strict promotion.
        with jax.numpy_dtype_promotion("standard"):
            updates, new_state = settings.optimizer.update(
                grad, state, t, value=value, grad=grad, value_fn=objective
            )
        new_t = optax.apply_updates(t, updates)
        # A step that does not lower J is refused and the optimiser's memory cleared: a failed
        # line search takes its last trial step whatever its value, and kernels whose
        # factorisation fails give NaN. The fit then stays where it was.
        new_value = optax.tree_utils.tree_get(new_state, "value", value)
        accept = (
            jnp.isfinite(new_value)
            & (new_value <= value)
            & jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(new_t)]))
        )
        keep = functools.partial(jax.tree.map, lambda a, b: jnp.where(accept, a, b))
        return (keep(new_t, t), keep(new_state, settings.optimizer.init(t))), (value, accept)

    (trainable, opt_state), (losses, accepted) = jax.lax.scan(
        step, (trainable, opt_state), None, length=settings.num_steps
    )
    log_kernels = eqx.combine(trainable, frozen)
    U = _evidence(log_kernels, U, prob, settings.newton_iterations, settings.newton_tol)[1]
    return log_kernels, opt_state, U, losses, jnp.any(accepted)


def _is_mixture(kernel) -> bool:
    """Whether the kernel is a sum of components: a `weights` vector, every leaf per component."""
    weights = getattr(kernel, "weights", None)
    if not (eqx.is_array(weights) and weights.ndim == 1):
        return False
    leaves = jax.tree.leaves(eqx.filter(kernel, eqx.is_array))
    return all(leaf.shape[:1] == weights.shape for leaf in leaves)


def _component(kernel, keep):
    """The mixture restricted to the components at the indices `keep`."""
    return jax.tree.map(lambda leaf: leaf[keep] if eqx.is_array(leaf) else leaf, kernel)


@eqx.filter_jit
def _component_shares(kernel, x, U, axis, jitter):
    r"""Each mixture component's share of the posterior mean on the grid, along one axis.

    With $K_d = \sum_q K_{d,q}$ the posterior mean splits into the parts
    $K_{d,q} \times_d (K_d^{-1} \times_d U)$, one per component of axis $d$ (the other axes'
    factors cancel against their inverses, up to the jitter). Returns each part's norm relative
    to $\|U\|$.
    """
    alpha = _along(_prior_inverse(kernel, x, jitter)[0], U, axis)

    def share(q):
        part = _along(_stationary_gram(_component(kernel, q[None]), x, (0, 0)), alpha, axis)
        return jnp.linalg.norm(part)

    return jax.lax.map(share, jnp.arange(kernel.weights.shape[0])) / jnp.linalg.norm(U)


def _prune(kernels, U, prob: _Problem, tol, newton_iterations, newton_tol, progress):
    r"""Drop mixture components whose share of the solution is below `tol`, where that is safe.

    The remaining kernels give a new collocation solution, which is kept only where $J$ stays
    finite and the posterior mean between the grid points moves by less than `tol` (relative):
    the dropped components carried nothing that the solution needs.
    """
    pruned, sizes, new_sizes = [], [], []
    for d, (k, x) in enumerate(zip(kernels, prob.axes)):
        if _is_mixture(k):
            shares = np.asarray(_component_shares(k, x, U, d, prob.jitter))
            keep = shares >= tol
            keep[np.argmax(shares)] = True
            sizes.append(keep.size)
            new_sizes.append(int(keep.sum()))
            k = _component(k, jnp.asarray(np.flatnonzero(keep)))
        pruned.append(k)
    pruned = tuple(pruned)
    if sizes == new_sizes:
        return kernels, U
    J, new_U = _collocation(
        tuple(_to_log(k) for k in pruned), U, prob._replace(templates=pruned),
        newton_iterations, newton_tol,
    )
    midpoints = tuple((x[1:] + x[:-1]) / 2 for x in prob.axes)
    before = _posterior_mean(kernels, prob.axes, U, midpoints, prob.jitter)
    after = _posterior_mean(pruned, prob.axes, new_U, midpoints, prob.jitter)
    change = float(jnp.linalg.norm(after - before) / jnp.linalg.norm(before))
    accepted = bool(jnp.isfinite(J)) and change <= tol
    if progress:
        print(
            f"pde.solve: pruning mixture components {sizes} -> {new_sizes} moves the solution "
            f"by {change:.2e}: {'kept' if accepted else 'undone'}",
            file=sys.stderr,
        )
    return (pruned, new_U) if accepted else (kernels, U)


def _boundary_grid(boundary, shape, dtype):
    """The grid with the boundary faces filled in (zeros inside), checking each face's shape."""
    if not isinstance(boundary, (tuple, list)) or len(boundary) != len(shape):
        raise ValueError(
            f"`boundary` must hold one (low, high) pair of face values per grid dimension "
            f"({len(shape)}), got {type(boundary).__name__} of length "
            f"{len(boundary) if isinstance(boundary, (tuple, list)) else '?'}."
        )
    U = jnp.zeros(shape, dtype)
    for d, pair in enumerate(boundary):
        face = shape[:d] + shape[d + 1 :]
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"`boundary[{d}]` must be a (low, high) pair of face values.")
        for side, index, g in zip(("low", "high"), (0, -1), pair):
            g = jnp.asarray(g, dtype)
            if g.shape != face:
                raise ValueError(
                    f"`boundary[{d}]` {side} face must have shape {face} (the grid without axis "
                    f"{d}), got {g.shape}."
                )
            U = U.at[(slice(None),) * d + (index,)].set(g)
    return U


def _check_residual(residual, U, mesh):
    n = len(mesh)
    try:
        out = jax.eval_shape(residual, U, (U,) * n, (U,) * n, mesh)
    except Exception as err:  # noqa: BLE001 - re-raised with the argument's name
        raise ValueError(
            f"`residual` failed on grid-shaped inputs of shape {U.shape}: {err}"
        ) from err
    if getattr(out, "shape", None) != U.shape:
        raise ValueError(
            f"`residual` must return an array of the grid shape {U.shape}, got "
            f"{getattr(out, 'shape', type(out))}."
        )


def solve(
    residual: Residual,
    axes: Sequence[Float[Array, " n"]],
    boundary: Sequence[tuple[Array, Array]],
    kernels: Sequence[Callable] | None = None,
    *,
    num_steps: int = 100,
    optimizer: optax.GradientTransformation | None = None,
    jitter: float | None = None,
    newton_iterations: int = 20,
    newton_tol: float | None = None,
    chunk_size: int = 10,
    prune_tol: float = 1e-3,
    progress: bool = False,
) -> PDESolution:
    r"""Solve a PDE on a tensor grid with GP-HM: a GP prior on the grid values, the PDE as data.

    The PDE is a residual $r(u, \partial u, \partial^2 u, x)$ that vanishes at the solution,
    with Dirichlet values $g$ on the boundary faces. $K_\theta = K_1 \otimes \dots \otimes K_D$
    is the grid's prior covariance (one kernel per dimension, never formed whole), and
    derivatives are GP conditional means ([`grid_derivatives`][jaxkern.pde.grid_derivatives]).
    GP-HM's negative log joint of the grid values $U$, the kernels $\theta$ and the precisions
    $\tau, v$ of the boundary and residual likelihoods is

    $$\tfrac12 \log|K_\theta| + \tfrac12 \mathrm{vec}(U)^\top K_\theta^{-1}\mathrm{vec}(U)
      + \tfrac\tau2 \|U_\partial - g\|^2 + \tfrac v2 \|r_\theta(U)\|^2
      - \tfrac{N_b}2 \log\tau - \tfrac N2 \log v .$$

    Where the PDE and boundary can be met exactly on the grid, the learned precisions grow
    without bound (as they do through the paper's $10^5$ Adam steps); this solver takes that
    limit exactly. The likelihoods become constraints, $U_\partial = g$ and $r_\theta(U) = 0$
    at the interior points, met by $U^\ast(\theta)$, and what remains to minimise is the GP
    evidence of the constrained solution,

    $$J(\theta) = \tfrac12 \log|K_\theta| + \tfrac12\, \mathrm{vec}(U^\ast(\theta))^\top
      K_\theta^{-1} \mathrm{vec}(U^\ast(\theta)).$$

    - $U^\ast(\theta)$ is found by Newton's method, each step by GMRES preconditioned with the
      inverse of the averaged-coefficient operator: a Kronecker sum that one eigendecomposition
      per axis inverts (exact for linear constant-coefficient PDEs such as Poisson and
      advection). Cost $O(N \sum_d n_d)$ per iteration.
    - $\nabla J$ differentiates through $U^\ast$ by the implicit function theorem
      (`lax.custom_root`): one transposed GMRES solve, not the Newton iterations.
    - $J$ is minimised over $\theta$ by `optimizer` (L-BFGS by default). Positive
      hyperparameters (weights, lengthscales) are fitted in log space, which for the mixture
      weights is the Jeffreys prior that prunes unused components; frequencies move on a
      linear scale. A step that does not lower $J$ (a failed line search) is refused and the
      optimiser's memory cleared; the fit ends after a chunk of steps with none accepted.
    - $J = +\infty$ where the derivatives of $U^\ast$ break Bernstein's inequality for the
      grid, $\|\partial_d^a U\| \le (\pi / h_d)^a \|U\|$: there the kernels are degenerate
      (derivative operators of unbounded gain, with which $U^\ast \to 0$ meets the PDE and
      $J \to -\infty$).
    - Then mixture components whose share of the posterior mean is below `prune_tol` are
      dropped and the collocation solved again with the rest: the sparsity that the paper's
      Jeffreys prior on the weights aims at. Minimising $J$ leaves faint components (shares
      near $10^{-4}$) that absorb the part of $U^\ast$ the collocation leaves ill-determined,
      and they show as smooth error in the solution. The pruned solution is kept only where
      $J$ stays finite and the posterior mean between the grid points moves by less than
      `prune_tol` (relative).

    **Arguments:**

    - `residual`: `residual(u, du, d2u, x) -> r`, all grid-shaped and pointwise: `u` the
      values, `du[d]` and `d2u[d]` the first and second derivatives along dimension `d`,
      `x[d]` the coordinates of dimension `d` on the grid (`meshgrid(..., indexing="ij")`).
    - `axes`: a tuple of 1 to 3 strictly increasing, uniformly spaced coordinate arrays.
    - `boundary`: per dimension a `(low, high)` pair: the values on the faces where that
      coordinate is first / last, each of the grid shape without that axis (in 1-D, two
      scalars). Where faces meet, the later dimension's values are kept.
    - `kernels`: one 1-D stationary kernel (eqx.Module) per dimension; defaults to
      [`mixture_kernels`][jaxkern.pde.mixture_kernels]`(axes)`.
    - `num_steps`: the most optimiser steps on the kernels (keyword-only, as are the rest);
      0 solves once with the given kernels.
    - `optimizer`: an optax transformation; defaults to `optax.lbfgs()`.
    - `jitter`: diagonal added to each $K_d$, relative to $k_d(0)$; defaults to $10^{-6}$
      ($10^{-4}$ in float32).
    - `newton_iterations`, `newton_tol`: the most Newton steps per solve, and the relative
      size of step (and GMRES residual) that ends them; default $10^3$ times the dtype's
      epsilon. Newton also stops where its steps stop shrinking (round-off).
    - `chunk_size`: optimiser steps per compiled chunk. Each chunk starts Newton from the
      last chunk's grid values.
    - `prune_tol`: after the fit, mixture components whose share of the solution is below
      this are dropped (see above); 0 keeps them all.
    - `progress`: print the objective after each chunk to stderr.

    **Returns:** a [`PDESolution`][jaxkern.pde.PDESolution]; evaluate it anywhere with
    [`predict`][jaxkern.pde.predict] or [`predict_grid`][jaxkern.pde.predict_grid].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.pde import solve, predict_grid
        >>> x = jnp.linspace(0.0, 1.0, 40)
        >>> sol = solve(lambda u, du, d2u, X: d2u[0] + 100 * jnp.sin(10 * X[0]), (x,),
        ...             [(0.0, jnp.sin(10.0))], num_steps=20)
        >>> err = predict_grid(sol, (x,)) - jnp.sin(10 * x)
        >>> bool(jnp.max(jnp.abs(err)) < 1e-2)  # about 7e-3 in float32
        True

    Fang, Ye, Pan et al., *Solving High Frequency and Multi-Scale PDEs with Gaussian
    Processes*, ICLR 2024.
    """
    axes = _check_axes(axes)
    shape = tuple(a.shape[0] for a in axes)
    dtype = axes[0].dtype
    if any(a.dtype != dtype for a in axes):
        raise ValueError(f"`axes` must share one dtype, got {[str(a.dtype) for a in axes]}.")
    U = _boundary_grid(boundary, shape, dtype)
    if kernels is None:
        kernels = mixture_kernels(axes)
    kernels = tuple(kernels)
    if len(kernels) != len(axes):
        raise ValueError(
            f"`kernels` must hold one kernel per axis ({len(axes)}), got {len(kernels)}."
        )
    check_int("num_steps", num_steps, 0)
    check_int("newton_iterations", newton_iterations, 1)
    check_int("chunk_size", chunk_size, 1)
    if not 0 <= prune_tol < 1:
        raise ValueError(f"`prune_tol` must be in [0, 1), got {prune_tol!r}.")
    if jitter is None:
        jitter = _default_jitter(dtype)
    if newton_tol is None:
        newton_tol = 1e3 * float(jnp.finfo(dtype).eps)
    optimizer = optax.with_extra_args_support(optax.lbfgs() if optimizer is None else optimizer)
    mesh = tuple(jnp.meshgrid(*axes, indexing="ij"))
    _check_residual(residual, U, mesh)
    prob = _Problem(residual, axes, mesh, kernels, jitter)
    log_kernels = tuple(_to_log(k) for k in kernels)
    opt_state = optimizer.init(eqx.filter(log_kernels, eqx.is_inexact_array))

    def chunk(carry, length):
        settings = _Settings(optimizer, length, newton_iterations, newton_tol)
        *carry, losses, moved = _fit_chunk(*carry[:3], prob, settings)
        return (*carry, moved), losses

    U = _collocation(log_kernels, U, prob, newton_iterations, newton_tol)[1]
    (log_kernels, _, U, _), losses = run_chunks(
        chunk, (log_kernels, opt_state, U, True), num_steps=num_steps, chunk_size=chunk_size,
        progress=progress, description="pde.solve", converged=lambda carry: not bool(carry[3]),
    )
    fitted = tuple(_from_log(kl, t) for kl, t in zip(log_kernels, kernels))
    if num_steps > 0 and prune_tol > 0:
        fitted, U = _prune(fitted, U, prob, prune_tol, newton_iterations, newton_tol, progress)
    if not bool(jnp.all(jnp.isfinite(U))):
        raise FloatingPointError(
            "pde.solve: the grid values are not finite; the kernels became singular or the "
            "Newton iterations diverged. Try a larger `jitter`, fewer `num_steps`, or other "
            "initial kernels."
        )
    return PDESolution(axes, U, fitted, jnp.asarray(losses, dtype), jitter)


def _weights(kernels, axes, U, jitter):
    """$K^{-1} \\mathrm{vec}(U)$ as a grid tensor."""
    return apply_along_axes([_prior_inverse(k, a, jitter)[0] for k, a in zip(kernels, axes)], U)


@eqx.filter_jit
def _posterior_mean(kernels, axes, U, new_axes, jitter):
    """The posterior mean of grid values `U` on the tensor grid `new_axes`."""
    alpha = _weights(kernels, axes, U, jitter)
    cross = [gram(k, a[:, None], x[:, None]) for k, a, x in zip(kernels, new_axes, axes)]
    return apply_along_axes(cross, alpha)


def predict_grid(
    solution: PDESolution, axes: Sequence[Float[Array, " m"]], *, jitter: float | None = None
) -> Float[Array, "*grid"]:
    r"""The GP-HM solution's posterior mean on a new tensor grid.

    $$\hat U = \Big(\bigotimes_d k_d(X^*_d, X_d)\Big) K^{-1} \mathrm{vec}(U),$$
    one factor at a time.

    **Arguments:**

    - `solution`: from [`solve`][jaxkern.pde.solve].
    - `axes`: coordinates of the new grid, one array per dimension.
    - `jitter`: defaults to the one the solution was fitted with.

    **Returns:** the values, shape $(m_1, \dots, m_D)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.pde import solve, predict_grid
        >>> x = jnp.linspace(0.0, 1.0, 20)
        >>> residual = lambda u, du, d2u, X: d2u[0] + jnp.pi**2 * jnp.sin(jnp.pi * X[0])
        >>> sol = solve(residual, (x,), [(0.0, 0.0)], [RBF(lengthscale=0.1)], num_steps=0)
        >>> round(float(predict_grid(sol, (jnp.array([0.5]),)).sum()), 1)  # sin(pi / 2)
        1.0
    """
    if len(axes) != len(solution.axes):
        raise ValueError(
            f"`axes` must hold {len(solution.axes)} arrays (one per dimension), got {len(axes)}."
        )
    for d, a in enumerate(axes):
        check_ndim(f"axes[{d}]", a, 1, "(m_d,)")
    jitter = solution.jitter if jitter is None else jitter
    return _posterior_mean(
        solution.kernels, solution.axes, solution.values, tuple(jnp.asarray(a) for a in axes),
        jitter,
    )


def predict(
    solution: PDESolution, points: Float[Array, "n D"], *, jitter: float | None = None
) -> Float[Array, " n"]:
    r"""The GP-HM solution's posterior mean at scattered points.

    $$\hat u(x^*) = \sum_{i_1 \dots i_D} \prod_d k_d(x^*_d, X_{d, i_d})\,
      [K^{-1}\mathrm{vec}(U)]_{i_1 \dots i_D}.$$

    **Arguments:**

    - `solution`: from [`solve`][jaxkern.pde.solve].
    - `points`: shape (n, D).
    - `jitter`: defaults to the one the solution was fitted with.

    **Returns:** shape (n,).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.pde import solve, predict
        >>> x = jnp.linspace(0.0, 1.0, 20)
        >>> residual = lambda u, du, d2u, X: d2u[0] + jnp.pi**2 * jnp.sin(jnp.pi * X[0])
        >>> sol = solve(residual, (x,), [(0.0, 0.0)], [RBF(lengthscale=0.1)], num_steps=0)
        >>> round(float(predict(sol, jnp.full((1, 1), 0.25)).sum()), 1)  # sin(pi / 4)
        0.7
    """
    check_ndim("points", points, 2, "(n, D)")
    if points.shape[1] != len(solution.axes):
        raise ValueError(
            f"`points` must have {len(solution.axes)} columns (one per dimension), got shape "
            f"{points.shape}."
        )
    jitter = solution.jitter if jitter is None else jitter
    return _predict_points(solution, points, jitter)


@eqx.filter_jit
def _predict_points(solution, points, jitter):
    alpha = _weights(solution.kernels, solution.axes, solution.values, jitter)

    def one(p):
        vecs = [gram(k, p[d][None, None], x[:, None])[0]
                for d, (k, x) in enumerate(zip(solution.kernels, solution.axes))]
        out = alpha
        for w in vecs:
            out = jnp.tensordot(w, out, axes=(0, 0))
        return out

    return jax.lax.map(one, points)
