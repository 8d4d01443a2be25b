r"""GP-HM: a Gaussian-process PDE solver on a tensor grid with one kernel per dimension.

The unknowns are the solution values $U$ on a grid $X_1 \times \dots \times X_D$. Under the prior
$\mathrm{vec}(U) \sim \mathcal N(0, K_1 \otimes \dots \otimes K_D)$, the derivative along
dimension $d$ at the grid points is the GP conditional mean, $A_d = G_d K_d^{-1}$ applied along
axis $d$ ($G_d$ a derivative Gram matrix). The solver minimises the negative log joint

$$\mathcal L = \tfrac12 \log|K| + \tfrac12 \mathrm{vec}(U)^\top K^{-1} \mathrm{vec}(U)
  + w\Big(\tfrac{\tau}{2}\|U_{\partial} - g\|^2 - \tfrac{N_b}{2}\log\tau\Big)
  + \tfrac{v}{2}\|r(U)\|^2 - \tfrac{N}{2}\log v$$

over $U$, the kernels' hyperparameters and the noise precisions $\tau, v$.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.scipy.linalg import solve_triangular
from jaxtyping import Array, Float

from .._optim import minimize
from .._validation import check_ndim, default_jitter
from ..kernels import StudentTMixture
from ..linalg import apply_along_axes, jittered_cholesky
from ._derivatives import derivative_gram


class GridDerivatives(NamedTuple):
    """The solution on the grid and its GP-mean derivatives along each dimension."""

    u: Array
    du: tuple
    d2u: tuple


Residual = Callable[[Array, tuple, tuple, tuple], Array]


class PDESolution(eqx.Module):
    """A fitted GP-HM solution: grid values, per-dimension kernels and noise precisions."""

    axes: tuple
    values: Array
    kernels: tuple
    boundary_precision: Array
    residual_precision: Array
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
    if not isinstance(num_components, int) or num_components < 1:
        raise ValueError(f"`num_components` must be a positive int, got {num_components!r}.")
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
    L = jittered_cholesky(K, jitter=0.0)
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


def _factor_operators(k, x, jitter) -> _FactorOps:
    r"""Cholesky and inverse of $K + \epsilon I$, and the derivative operators $G_a K^{-1}$."""
    n = x.shape[0]
    K = _stationary_gram(k, x, (0, 0)) + jitter * jnp.eye(n, dtype=x.dtype)
    Kinv, logdet = _inverse_logdet(K)
    return _FactorOps(
        logdet, Kinv, _stationary_gram(k, x, (1, 0)) @ Kinv, _stationary_gram(k, x, (2, 0)) @ Kinv
    )


def _boundary_values(U):
    faces = []
    for d in range(U.ndim):
        faces.append(jnp.take(U, 0, axis=d).reshape(-1))
        faces.append(jnp.take(U, -1, axis=d).reshape(-1))
    return jnp.concatenate(faces)


def _check_boundary(boundary, shape, dtype):
    if not isinstance(boundary, (tuple, list)) or len(boundary) != len(shape):
        raise ValueError(
            f"`boundary` must hold one (low, high) pair of face values per grid dimension "
            f"({len(shape)}), got {type(boundary).__name__} of length "
            f"{len(boundary) if isinstance(boundary, (tuple, list)) else '?'}."
        )
    flat = []
    for d, pair in enumerate(boundary):
        face = shape[:d] + shape[d + 1 :]
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(f"`boundary[{d}]` must be a (low, high) pair of face values.")
        for side, g in zip(("low", "high"), pair):
            g = jnp.asarray(g, dtype)
            if g.shape != face:
                raise ValueError(
                    f"`boundary[{d}]` {side} face must have shape {face} (the grid without axis "
                    f"{d}), got {g.shape}."
                )
            flat.append(g.reshape(-1))
    return jnp.concatenate(flat)


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
    - `jitter`: diagonal added to each $K_d$; defaults to
      `jaxkern.linalg.default_jitter`.

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
        jitter = default_jitter(U.dtype)
    ops = [_factor_operators(k, a, jitter) for k, a in zip(kernels, axes)]
    return _derivatives(U, [o.d1 for o in ops], [o.d2 for o in ops])


def _derivatives(U, A1s, A2s) -> GridDerivatives:
    D = U.ndim

    def along(d, A):
        return jnp.moveaxis(jnp.tensordot(A, U, axes=(1, d)), 0, d)

    return GridDerivatives(
        U, tuple(along(d, A1s[d]) for d in range(D)), tuple(along(d, A2s[d]) for d in range(D))
    )


class _Params(eqx.Module):
    U: Array
    log_kernels: Any
    log_tau: Array
    log_v: Array


def _trainable_filter(kernel):
    """Fit positive hyperparameters on a log scale; spectral means (frequencies) stay linear."""
    spec = jax.tree.map(eqx.is_inexact_array, kernel)
    if hasattr(kernel, "means"):
        spec = eqx.tree_at(lambda k: k.means, spec, False)
    return spec


def _to_log(kernel):
    spec = _trainable_filter(kernel)
    positive, rest = eqx.partition(kernel, spec)
    return eqx.combine(jax.tree.map(jnp.log, positive), rest)


def _from_log(kernel_log, template):
    spec = _trainable_filter(template)
    positive, rest = eqx.partition(kernel_log, spec)
    return eqx.combine(jax.tree.map(jnp.exp, positive), rest)


class _Problem(NamedTuple):
    residual: Residual
    axes: tuple
    mesh: tuple
    g: Array
    templates: tuple
    jitter: float
    boundary_weight: float


def _negative_log_joint(params: _Params, prob: _Problem):
    kernels = [_from_log(kl, t) for kl, t in zip(params.log_kernels, prob.templates)]
    ops = [_factor_operators(k, a, prob.jitter) for k, a in zip(kernels, prob.axes)]
    U = params.U
    N = U.size
    # Prior: log|K| = sum_d (N / n_d) log|K_d|;  U^T K^{-1} U via one solve per axis.
    logdet = sum((N // o.inv.shape[0]) * o.logdet for o in ops)
    alpha = apply_along_axes([o.inv for o in ops], U)
    prior = 0.5 * logdet + 0.5 * jnp.sum(U * alpha)
    derivs = _derivatives(U, [o.d1 for o in ops], [o.d2 for o in ops])
    r = prob.residual(derivs.u, derivs.du, derivs.d2u, prob.mesh)
    gap_b = jnp.sum((_boundary_values(U) - prob.g) ** 2)
    gap_r = jnp.sum(r**2)
    nb = prob.g.shape[0]
    tau, v = jnp.exp(params.log_tau), jnp.exp(params.log_v)
    boundary = prob.boundary_weight * (0.5 * tau * gap_b - 0.5 * nb * params.log_tau)
    residual = 0.5 * v * gap_r - 0.5 * N * params.log_v
    return prior + boundary + residual


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


def _warm_start(prob: _Problem, params: _Params, iterations: int) -> _Params:
    """Gauss-Newton on the grid values with the initial kernels (dense: small grids only).

    Between steps the precisions take their exact maximisers
    $\\tau = N_b / \\|U_\\partial - g\\|^2$, $v = N / \\|r\\|^2$, so the
    collocation and boundary fits tighten together.
    """

    def loss_u(U, p):
        return _negative_log_joint(eqx.tree_at(lambda q: q.U, p, U), prob)

    @jax.jit
    def step(p):
        U = p.U
        flat = U.reshape(-1)
        g = jax.grad(lambda f: loss_u(f.reshape(U.shape), p))(flat)
        kernels = [_from_log(kl, t) for kl, t in zip(p.log_kernels, prob.templates)]
        ops = [_factor_operators(k, a, prob.jitter) for k, a in zip(kernels, prob.axes)]

        def res(f):
            d = _derivatives(f.reshape(U.shape), [o.d1 for o in ops], [o.d2 for o in ops])
            return prob.residual(d.u, d.du, d.d2u, prob.mesh).reshape(-1)

        def bnd(f):
            return _boundary_values(f.reshape(U.shape))

        J = jax.jacfwd(res)(flat)
        B = jax.jacfwd(bnd)(flat)
        Kinv = jnp.eye(1, dtype=U.dtype)
        for o in ops:
            Kinv = jnp.kron(Kinv, o.inv)
        tau, v = jnp.exp(p.log_tau), jnp.exp(p.log_v)
        H = Kinv + prob.boundary_weight * tau * B.T @ B + v * J.T @ J
        flat = flat - jnp.linalg.solve(H, g)
        U = flat.reshape(U.shape)
        gap_b = jnp.sum((bnd(flat) - prob.g) ** 2)
        gap_r = jnp.sum(res(flat) ** 2)
        return _Params(
            U,
            p.log_kernels,
            jnp.log(prob.g.shape[0] / gap_b),
            jnp.log(U.size / gap_r),
        )

    for _ in range(iterations):
        params = step(params)
    return params


def solve(
    residual: Residual,
    axes: Sequence[Float[Array, " n"]],
    boundary: Sequence[tuple[Array, Array]],
    kernels: Sequence[Callable] | None = None,
    *,
    num_steps: int = 5000,
    optimizer: optax.GradientTransformation | None = None,
    boundary_weight: float = 200.0,
    jitter: float | None = None,
    warm_start: int | None = None,
    chunk_size: int = 200,
    progress: bool = False,
) -> PDESolution:
    r"""Solve a PDE on a tensor grid with GP-HM: a GP prior, boundary and residual likelihoods.

    The PDE is given as a residual $r(u, \partial u, \partial^2 u, x)$ that vanishes at the
    solution; the solver fits the grid values $U$, one kernel per dimension and the precisions
    $\tau, v$ by minimising

    $$\tfrac12 \log|K| + \tfrac12 \mathrm{vec}(U)^\top K^{-1}\mathrm{vec}(U)
      + w\big(\tfrac\tau2 \|U_\partial - g\|^2 - \tfrac{N_b}{2}\log\tau\big)
      + \tfrac v2 \|r\|^2 - \tfrac N2 \log v,$$
    with $K = K_1 \otimes \dots \otimes K_D$ handled one factor at a time (never the full
    matrix), derivatives as GP conditional means
    ([`grid_derivatives`][jaxkern.pde.grid_derivatives]) and
    `jaxkern._optim.minimize` (jitted `lax.scan` chunks) for the optimisation.
    Positive kernel hyperparameters (weights, lengthscales) are fitted in log space, which
    for the mixture weights is a Jeffreys prior that prunes unused components.

    Before the gradient steps, on grids of at most 4096 points, a Gauss–Newton warm start
    solves for $U$ under the initial kernels (exact for a linear PDE in one step), so the
    optimiser starts from the collocation solution rather than from zero.

    **Arguments:**

    - `residual`: `residual(u, du, d2u, x) -> r`, all grid-shaped: `u` the values, `du[d]` and
      `d2u[d]` the first and second derivatives along dimension `d`, `x[d]` the coordinates of
      dimension `d` on the grid (`meshgrid(..., indexing="ij")`).
    - `axes`: a tuple of 1 to 3 strictly increasing coordinate arrays.
    - `boundary`: per dimension a `(low, high)` pair: the values on the faces where that
      coordinate is first / last, each of the grid shape without that axis (in 1-D, two
      scalars).
    - `kernels`: one 1-D kernel (eqx.Module) per dimension; defaults to
      [`mixture_kernels`][jaxkern.pde.mixture_kernels]`(axes)`.
    - `num_steps`: optimiser steps (keyword-only, as are the rest).
    - `optimizer`: an optax transformation; defaults to Adam with learning rate 0.01
      decaying exponentially to 1e-4 over the steps.
    - `boundary_weight`: $w$, the weight of the boundary likelihood (200 in the paper).
    - `jitter`: diagonal added to each $K_d$; defaults to 1e-6 in float64 as in the
      authors' code (and float32).
    - `warm_start`: Gauss–Newton iterations before the optimiser; default 3 on grids of at
      most 4096 points, else 0.
    - `chunk_size`, `progress`: passed to `jaxkern._optim.minimize`.

    **Returns:** a [`PDESolution`][jaxkern.pde.PDESolution]; evaluate it anywhere with
    [`predict`][jaxkern.pde.predict] or [`predict_grid`][jaxkern.pde.predict_grid].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.pde import solve, predict_grid
        >>> x = jnp.linspace(0.0, 1.0, 20)
        >>> sol = solve(lambda u, du, d2u, X: d2u[0] + jnp.pi**2 * jnp.sin(jnp.pi * X[0]),
        ...             (x,), [(0.0, 0.0)], [RBF(lengthscale=0.5)], num_steps=0, jitter=1e-4)
        >>> err = predict_grid(sol, (x,)) - jnp.sin(jnp.pi * x)
        >>> bool(jnp.max(jnp.abs(err)) < 1e-2)
        True

    Fang, Ye, Pan et al., *Solving High Frequency and Multi-Scale PDEs with Gaussian
    Processes*, ICLR 2024.
    """
    axes = _check_axes(axes)
    shape = tuple(a.shape[0] for a in axes)
    dtype = axes[0].dtype
    if any(a.dtype != dtype for a in axes):
        raise ValueError(f"`axes` must share one dtype, got {[str(a.dtype) for a in axes]}.")
    g = _check_boundary(boundary, shape, dtype)
    if kernels is None:
        kernels = mixture_kernels(axes)
    kernels = tuple(kernels)
    if len(kernels) != len(axes):
        raise ValueError(
            f"`kernels` must hold one kernel per axis ({len(axes)}), got {len(kernels)}."
        )
    if jitter is None:
        jitter = max(default_jitter(dtype), 1e-6)
    mesh = tuple(jnp.meshgrid(*axes, indexing="ij"))
    U0 = jnp.zeros(shape, dtype)
    _check_residual(residual, U0, mesh)
    prob = _Problem(residual, axes, mesh, g, kernels, jitter, boundary_weight)
    params = _Params(
        U0, tuple(_to_log(k) for k in kernels), jnp.zeros((), dtype), jnp.zeros((), dtype)
    )
    if warm_start is None:
        warm_start = 3 if math.prod(shape) <= 4096 else 0
    if warm_start:
        params = _warm_start(prob, params, warm_start)
    if optimizer is None:
        optimizer = optax.adam(optax.exponential_decay(1e-2, max(num_steps, 1), 1e-2))
    result = minimize(
        lambda p: _negative_log_joint(p, prob),
        params,
        optimizer=optimizer,
        num_steps=num_steps,
        chunk_size=chunk_size,
        progress=progress,
        description="pde.solve",
    )
    p = result.params
    return PDESolution(
        axes,
        p.U,
        tuple(_from_log(kl, t) for kl, t in zip(p.log_kernels, kernels)),
        jnp.exp(p.log_tau),
        jnp.exp(p.log_v),
        jnp.asarray(result.losses),
        jitter,
    )


def _weights(sol: PDESolution, jitter):
    """$K^{-1} \\mathrm{vec}(U)$ as a grid tensor."""
    ops = [_factor_operators(k, a, jitter) for k, a in zip(sol.kernels, sol.axes)]
    return apply_along_axes([o.inv for o in ops], sol.values)


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
        >>> sol = solve(lambda u, du, d2u, X: d2u[0], (x,), [(1.0, 3.0)], [RBF(lengthscale=0.5)],
        ...             num_steps=0, jitter=1e-4)
        >>> round(float(predict_grid(sol, (jnp.array([0.5]),)).sum()), 1)
        2.0
    """
    if len(axes) != len(solution.axes):
        raise ValueError(
            f"`axes` must hold {len(solution.axes)} arrays (one per dimension), got {len(axes)}."
        )
    for d, a in enumerate(axes):
        check_ndim(f"axes[{d}]", a, 1, "(m_d,)")
    jitter = solution.jitter if jitter is None else jitter
    return _predict_grid(solution, tuple(jnp.asarray(a) for a in axes), jitter)


@eqx.filter_jit
def _predict_grid(solution, axes, jitter):
    alpha = _weights(solution, jitter)
    cross = [_cross_gram(k, a, x) for k, a, x in zip(solution.kernels, axes, solution.axes)]
    return apply_along_axes(cross, alpha)


def _cross_gram(k, a, x):
    return jax.vmap(lambda s: jax.vmap(lambda t: k(s[None], t[None]))(x))(a)


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
        >>> sol = solve(lambda u, du, d2u, X: d2u[0], (x,), [(1.0, 3.0)], [RBF(lengthscale=0.5)],
        ...             num_steps=0, jitter=1e-4)
        >>> round(float(predict(sol, jnp.full((1, 1), 0.25)).sum()), 1)
        1.5
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
    alpha = _weights(solution, jitter)

    def one(p):
        vecs = [_cross_gram(k, p[d][None], x)[0]
                for d, (k, x) in enumerate(zip(solution.kernels, solution.axes))]
        out = alpha
        for w in vecs:
            out = jnp.tensordot(w, out, axes=(0, 0))
        return out

    return jax.lax.map(one, points)
