r"""Integral reinforcement learning (IntRL) with a pluggable quadrature rule.

Policy iteration for a control-affine system $\dot x = f(x) + g(x) u$ with running cost
$l(x, u) = x^\top Q x + u^\top R u$ and a linear value model $V(x) = w^\top \phi(x)$:

- *policy evaluation* solves, by least squares over $N$ consecutive intervals of length $T$,
  the integral Bellman equation
  $$w^\top\bigl[\phi(x(t)) - \phi(x(t + T))\bigr] = \int_t^{t+T} l(x(s), u(s))\, ds,$$
  with the integral computed by a quadrature rule on samples of $l$ (the computation the
  paper studies);
- *policy improvement* sets $u(x) = -\tfrac12 R^{-1} g(x)^\top \nabla\phi(x)^\top w$.

Trajectories come from an adaptive Dormand–Prince 5(4) solver (tolerances $10^{-8}$ in float64,
as in the paper).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float, Int

from .._validation import check_int
from ._bayes import bayesian_quadrature
from ._measures import LebesgueMeasure

Rule = Callable[[Array, Array], Array]


class ControlAffineProblem(eqx.Module):
    r"""An optimal-control problem for IntRL, with its start and (known) optimum.

    $\dot x = f(x) + g(x) u$, cost $\int_0^\infty x^\top Q x + u^\top R u\, dt$, value
    model $V(x) = w^\top \phi(x)$.

    **Fields:** `drift` $f$, `input_matrix` $g$ (returns shape (n, m)), `features` $\phi$
    (static callables); `Q` (n, n), `R` (m, m), `x0` the start state, `w0` the weights of
    the initial (stabilising) policy, `w_star` the optimal weights.
    """

    drift: Callable = eqx.field(static=True)
    input_matrix: Callable = eqx.field(static=True)
    features: Callable = eqx.field(static=True)
    Q: Float[Array, "n n"]
    R: Float[Array, "m m"]
    x0: Float[Array, " n"]
    w0: Float[Array, " p"]
    w_star: Float[Array, " p"]


# Task 1 of Cao & Pan (2024): a third-order linear system; P* solves the Riccati equation
# A'P + PA - PBR^{-1}B'P + Q = 0 (values from the paper's code; the tests re-solve it with SciPy).
_A = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [-0.1, -0.5, -0.7]])
_B = np.array([[0.0], [0.0], [1.0]])
_P_STAR = np.array(
    [
        [2.355030933091255, 2.238452370854351, 0.904987562112089],
        [2.238452370854351, 4.241942496771635, 1.893095222031228],
        [0.904987562112089, 1.893095222031228, 1.596995960828503],
    ]
)


def _kron_features(x):
    return jnp.kron(x, x)


def third_order_system(dtype=None) -> ControlAffineProblem:
    r"""Task 1 of the paper: $\dot x = A x + B u$, $Q = I$, $R = 1$, $\phi(x) = x \otimes x$.

    $A = \begin{bmatrix}0&1&0\\0&0&1\\-0.1&-0.5&-0.7\end{bmatrix}$, $B = (0, 0, 1)^\top$,
    $x_0 = (2, -2, 3)$, initial gain 0 ($w_0 = 0$), and $w^* = \operatorname{vec} P^*$ with
    $P^*$ the stabilising solution of the algebraic Riccati equation.

    **Arguments:**

    - `dtype`: float dtype of the arrays; the default float dtype if None.

    **Returns:** a [`ControlAffineProblem`][jaxkern.quadrature.ControlAffineProblem].

    Example:
        >>> from jaxkern.quadrature import third_order_system
        >>> third_order_system().w_star.shape
        (9,)

    Cao & Pan, ICLR 2024, §6 (after Vrabie et al., Automatica 45, 2009).
    """
    dtype = dtype or jnp.result_type(float)
    A, B = jnp.asarray(_A, dtype), jnp.asarray(_B, dtype)
    return ControlAffineProblem(
        drift=lambda x: A @ x,
        input_matrix=lambda x: B,
        features=_kron_features,
        Q=jnp.eye(3, dtype=dtype),
        R=jnp.eye(1, dtype=dtype),
        x0=jnp.asarray([2.0, -2.0, 3.0], dtype),
        w0=jnp.zeros(9, dtype),
        w_star=jnp.asarray(_P_STAR.ravel(), dtype),
    )


def _sin_drift(x):
    s = jnp.sin(x[0])
    return jnp.stack([-x[0] + x[1], -(x[0] + x[1]) / 2 + x[1] * s * s / 2])


def _sin_input(x):
    return jnp.stack([jnp.zeros_like(x[0]), jnp.sin(x[0])])[:, None]


def _sin_features(x):
    return jnp.stack([x[0] ** 2, x[0] * x[1], x[1] ** 2])


def sin_system(dtype=None) -> ControlAffineProblem:
    r"""Task 2 of the paper: a nonlinear system with a known optimal value.

    $\dot x_1 = -x_1 + x_2$,
    $\dot x_2 = -\tfrac12(x_1 + x_2) + \tfrac12 x_2 \sin^2 x_1 + \sin(x_1)\, u$, $Q = I$,
    $R = 1$, $\phi(x) = (x_1^2, x_1 x_2, x_2^2)$; $V^* = \tfrac12 x_1^2 + x_2^2$
    ($w^* = (0.5, 0, 1)$) and $u^* = -\sin(x_1)\, x_2$. Start $x_0 = (1, 1)$, initial weights
    $w_0 = (-1, 3, 1.5)$, i.e. $u_0 = -\tfrac32 \sin(x_1)(x_1 + x_2)$.

    **Arguments:**

    - `dtype`: float dtype of the arrays; the default float dtype if None.

    **Returns:** a [`ControlAffineProblem`][jaxkern.quadrature.ControlAffineProblem].

    Example:
        >>> from jaxkern.quadrature import sin_system
        >>> sin_system().w_star.tolist()
        [0.5, 0.0, 1.0]

    Cao & Pan, ICLR 2024, §6 (after Vamvoudakis & Lewis, Automatica 46, 2010).
    """
    dtype = dtype or jnp.result_type(float)
    return ControlAffineProblem(
        drift=_sin_drift,
        input_matrix=_sin_input,
        features=_sin_features,
        Q=jnp.eye(2, dtype=dtype),
        R=jnp.eye(1, dtype=dtype),
        x0=jnp.asarray([1.0, 1.0], dtype),
        w0=jnp.asarray([-1.0, 3.0, 1.5], dtype),
        w_star=jnp.asarray([0.5, 0.0, 1.0], dtype),
    )


def improved_policy(problem: ControlAffineProblem, w: Float[Array, " p"], x: Float[Array, " n"]):
    r"""Policy improvement: $u(x) = -\tfrac12 R^{-1} g(x)^\top \nabla\phi(x)^\top w$.

    **Arguments:**

    - `problem`: the control problem.
    - `w`: value weights, shape (p,).
    - `x`: the state, shape (n,).

    **Returns:** the control, shape (m,).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.quadrature import improved_policy, sin_system
        >>> p = sin_system()
        >>> u = improved_policy(p, p.w_star, jnp.array([0.5, 2.0]))
        >>> round(float(u[0]), 6)  # u* = -sin(x1) x2
        -0.958851

    Vrabie et al., *Adaptive optimal control for continuous-time linear systems based on
    policy iteration*, Automatica 45 (2009).
    """
    return _policy(problem, w, x, jnp.linalg.inv(problem.R))


def _policy(problem, w, x, R_inv):
    # R^{-1} comes in precomputed: the ODE right-hand side calls this at every stage.
    grad_v = jax.jacfwd(problem.features)(x).T @ w
    return -0.5 * R_inv @ (problem.input_matrix(x).T @ grad_v)


class BQRule(eqx.Module):
    r"""Bayesian quadrature with a fixed kernel on the interval the nodes span.

    Called as `rule(values, nodes)` with nodes of shape (n,), it returns the posterior mean
    of $\int_{t_0}^{t_{n-1}} f$
    (see [`bayesian_quadrature`][jaxkern.quadrature.bayesian_quadrature]).
    A pytree, so it passes through `jit` with its kernel's hyperparameters as leaves.

    **Fields:** `kernel`, a supported kernel module; `jitter` (static), as in
    [`bq_weights`][jaxkern.quadrature.bq_weights].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Matern72
        >>> from jaxkern.quadrature import BQRule
        >>> t = jnp.linspace(0.0, 1.0, 9)
        >>> round(float(BQRule(Matern72(0.5))(t**2, t)), 3)  # int_0^1 t^2 = 1/3
        0.334
    """

    kernel: eqx.Module
    jitter: float | None = eqx.field(static=True, default=None)

    def __call__(self, values, nodes):
        measure = LebesgueMeasure(nodes[0], nodes[-1])
        return bayesian_quadrature(values, nodes, self.kernel, measure, jitter=self.jitter).mean


def _default_tolerance(dtype) -> float:
    # The paper's 1e-8; float32 cannot hold that, so a step controller would stall there.
    return 1e-8 if jnp.finfo(dtype).bits > 32 else 1e-5


class PolicyEvaluation(NamedTuple):
    """The least-squares value weights, the state where the data collection ended, and how
    well the data determine the weights."""

    weights: Float[Array, " p"]
    state: Float[Array, " n"]
    rank: Int[Array, ""]
    r"""Numerical rank of the least-squares matrix (singular values above
    $\varepsilon \max(N, p)\, \sigma_1$); repeated features (as in $x \otimes x$) lower it."""
    standard_error: Float[Array, ""]
    r"""Estimated RMS error $\|\delta \hat w\|$ of the weights from the noise in the data:
    $\sqrt{\sum_i \sigma_i^{-2}\,(\hat s^2 + (\varepsilon \sigma_1 \|\hat w\|)^2)}$, with
    $\hat s^2$ the residual's sum of squares over the $N - \text{rank}$ spare rows (without
    spare rows only round-off is seen) and the second term the round-off of the solve."""


# Dormand–Prince 5(4) tableau: stages, 5th-order weights, and (5th - 4th)-order error weights.
_DP_A = (
    (),
    (1 / 5,),
    (3 / 40, 9 / 40),
    (44 / 45, -56 / 15, 32 / 9),
    (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
    (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
    (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84),
)
_DP_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_DP_E = (
    35 / 384 - 5179 / 57600, 0.0, 500 / 1113 - 7571 / 16695, 125 / 192 - 393 / 640,
    -2187 / 6784 + 92097 / 339200, 11 / 84 - 187 / 2100, -1 / 40,
)


def _dopri5(field, y0, ts, rtol, atol, max_steps=100_000):
    """States of the autonomous ODE y' = field(y) at the times `ts`, by adaptive Dormand–Prince.

    Each step keeps the local error below atol + rtol |y| (RMS norm), as SciPy's RK45 and
    diffrax's Dopri5 do; steps end exactly on every node. This small loop compiles about 4x
    faster than the same solve through diffrax (2.4 s against 9.3 s measured on the shared CI
    machine), which matters because every policy-evaluation shape compiles anew; the tests
    check it against the matrix exponential and against diffrax.
    """

    tableau = np.zeros((7, 7))
    for i, row in enumerate(_DP_A):
        tableau[i, : len(row)] = row
    A, B, E = (jnp.asarray(c, y0.dtype) for c in (tableau, _DP_B, _DP_E))

    def step(y, h):
        # One call site for `field` (in a fori_loop over the stages) keeps the compiled code small.
        def stage(i, ks):
            return ks.at[i].set(field(y + h * (A[i] @ ks)))

        ks = lax.fori_loop(0, 7, stage, jnp.zeros((7,) + y.shape, y.dtype))
        y_new = y + h * (B @ ks)
        scale = atol + rtol * jnp.maximum(jnp.abs(y), jnp.abs(y_new))
        return y_new, jnp.sqrt(jnp.mean((h * (E @ ks) / scale) ** 2))

    def segment(carry, t_end):
        y, t, h = carry

        def cond(state):
            _, t, _, n = state
            return (t < t_end) & (n < max_steps)

        def body(state):
            y, t, h, n = state
            h_try = jnp.minimum(h, t_end - t)
            y_new, err = step(y, h_try)
            accept = err <= 1
            factor = jnp.clip(0.9 * jnp.where(err > 0, err, 1e-10) ** -0.2, 0.2, 5.0)
            t_new = jnp.where(h_try >= t_end - t, t_end, t + h_try)
            return (
                jnp.where(accept, y_new, y),
                jnp.where(accept, t_new, t),
                h_try * factor,
                n + 1,
            )

        y, t, h, n = lax.while_loop(cond, body, (y, t, h, 0))
        y = eqx.error_if(y, n >= max_steps, "ODE solver: too many steps; loosen rtol/atol.")
        return (y, t, h), y

    h0 = (ts[-1] - ts[0]) / 10
    _, ys = lax.scan(segment, (y0, ts[0], h0), ts[1:])
    return jnp.concatenate([y0[None], ys])


def _simulate(problem, w, x, ts, rtol, atol):
    """States at `ts` (from `x` at ts[0]) under u = improved_policy(w), and the exact cost."""

    R_inv = jnp.linalg.inv(problem.R)

    def field(y):
        state = y[:-1]
        u = _policy(problem, w, state, R_inv)
        dx = problem.drift(state) + problem.input_matrix(state) @ u
        return jnp.concatenate([dx, _cost(problem, state, u)[None]])

    ys = _dopri5(field, jnp.concatenate([x, jnp.zeros((1,), x.dtype)]), ts, rtol, atol)
    return ys[:, :-1], ys[-1, -1]


def _cost(problem, x, u):
    return x @ problem.Q @ x + u @ problem.R @ u


@eqx.filter_jit
def policy_evaluation(
    problem: ControlAffineProblem,
    w: Float[Array, " p"],
    x: Float[Array, " n"],
    *,
    rule: Rule | None,
    num_nodes: int,
    interval: float = 0.1,
    num_intervals: int = 10,
    rtol: float | None = None,
    atol: float | None = None,
) -> PolicyEvaluation:
    r"""One IntRL policy evaluation: least squares on the integral Bellman equation.

    Runs the policy $u = $ [`improved_policy`][jaxkern.quadrature.improved_policy]`(w)` from
    `x` over `num_intervals` consecutive intervals of length $T$, samples each at `num_nodes`
    evenly spaced times, integrates the running cost with `rule`, and returns the
    minimum-norm least-squares solution $\hat w$ of
    $\hat w^\top[\phi(x_{k}) - \phi(x_{k+1})] = \int_{kT}^{(k+1)T} l\, dt$ (by SVD, singular
    values below $\varepsilon \max(N, p)\, \sigma_1$ dropped as round-off), with the
    system's numerical rank and the weights' estimated standard error.

    **Arguments:**

    - `problem`: the control problem.
    - `w`: weights defining the policy to evaluate, shape (p,).
    - `x`: the state at which data collection starts, shape (n,).
    - `rule`: `rule(values, nodes) -> integral`, e.g.
      [`trapezoid`][jaxkern.quadrature.trapezoid] or a [`BQRule`][jaxkern.quadrature.BQRule];
      None uses the exact integral (the cost integrated with the ODE).
    - `num_nodes`: samples per interval (a Python int, $\ge 2$).
    - `interval`: $T$.
    - `num_intervals`: rows of the least-squares problem, at least the number of features.
    - `rtol`, `atol`: ODE tolerances; $10^{-8}$ in float64, $10^{-5}$ in float32 by default.

    **Returns:** a [`PolicyEvaluation`][jaxkern.quadrature.PolicyEvaluation].

    Cao & Pan, ICLR 2024, Algorithm 1 (after Vrabie et al., Automatica 45, 2009).
    """
    check_int("num_nodes", num_nodes, 2)
    check_int("num_intervals", num_intervals, 1)
    tol = _default_tolerance(x.dtype)
    rtol, atol = rtol or tol, atol or tol
    ts = jnp.linspace(0.0, interval, num_nodes, dtype=x.dtype)

    def one_interval(state, _):
        xs, exact = _simulate(problem, w, state, ts, rtol, atol)
        if rule is None:
            integral = exact
        else:
            us = jax.vmap(lambda s: improved_policy(problem, w, s))(xs)
            integral = rule(jax.vmap(lambda s, u: _cost(problem, s, u))(xs, us), ts)
        row = problem.features(xs[0]) - problem.features(xs[-1])
        return xs[-1], (row, integral)

    state, (Phi, targets) = lax.scan(one_interval, x, None, length=num_intervals)
    return PolicyEvaluation(state=state, **_least_squares(Phi, targets))


def _least_squares(Phi, targets):
    """Minimum-norm least squares, its numerical rank, and the weights' standard error.

    The cutoff is LAPACK's (numpy.linalg.lstsq's rcond): singular values below
    eps max(N, p) sigma_1 are round-off. The standard error is the regression one: targets
    with independent noise of variance s^2 move the weights by s^2 sum_i sigma_i^-2 in mean
    square, and s^2 is estimated by the residual per spare row (N - rank of them); a
    backward-stable solve adds a perturbation of eps sigma_1 |w| to the targets. As the
    trajectory decays it stops exciting every feature (sigma_min falls) and the ODE's absolute
    tolerance dominates the data (s grows): this is what grows when the least-squares system
    becomes ill-conditioned.
    """
    # pinv, whose derivative stays finite where features repeat (the SVD's own divides by
    # differences of the zero singular values). It forms Phi^+ explicitly, whose round-off
    # (eps cond |y|) would swamp the residual the noise is read from: one step of iterative
    # refinement brings the residual down to that of an SVD solve (5 orders on task 1).
    eps = jnp.finfo(Phi.dtype).eps
    cutoff = eps * max(Phi.shape)
    inverse_matrix = jnp.linalg.pinv(Phi, rtol=cutoff)
    weights = inverse_matrix @ targets
    weights = weights + inverse_matrix @ (targets - Phi @ weights)
    s = jnp.linalg.svd(Phi, compute_uv=False)
    keep = s > cutoff * s[0]
    inverse = jnp.where(keep, 1 / jnp.where(keep, s, 1), 0)
    rank = jnp.sum(keep)
    spare = (Phi.shape[0] - rank).astype(Phi.dtype)
    noise = jnp.sum((Phi @ weights - targets) ** 2) / jnp.maximum(spare, 1)
    roundoff = eps * s[0] * jnp.linalg.norm(weights)
    standard_error = jnp.sqrt(jnp.sum(inverse**2) * (noise + roundoff**2))
    return dict(weights=weights, rank=rank, standard_error=standard_error)


class PolicyIterationResult(NamedTuple):
    """The chosen weights, the weights after every iteration, and why the iteration stopped."""

    weights: Float[Array, " p"]
    """The last iterate when `tol` or `max_iterations` stopped the iteration, else the iterate
    with the smallest estimated error."""
    history: Float[Array, "iterations p"]
    """The weights after every evaluation that ran, a rank-deficient last one included."""
    num_iterations: int
    converged: bool
    """Whether the weights moved by less than `tol` before `max_iterations` ran out."""
    message: str
    """Why it stopped: `"tol reached"`, `"max_iterations reached"`, `"noise floor reached"`
    (a step no larger than the least-squares noise: `tol` is below what the data resolve) or
    `"least-squares rank lost"` (the trajectory stopped exciting a combination of features)."""
    standard_error: float
    """The estimated error of `weights`: its evaluation's
    [`standard_error`][jaxkern.quadrature.PolicyEvaluation], or, if larger, the step that
    followed it (for the last iterate: its step times $q / (1 - q)$, $q$ the ratio of the last
    two steps). It does not see the bias a quadrature rule puts in the fixed point."""


def policy_iteration(
    problem: ControlAffineProblem,
    *,
    rule: Rule | None,
    num_nodes: int,
    interval: float = 0.1,
    num_intervals: int = 10,
    tol: float = 1e-3,
    max_iterations: int = 120,
    rtol: float | None = None,
    atol: float | None = None,
) -> PolicyIterationResult:
    r"""IntRL policy iteration until the weights move less than `tol`.

    Alternates [`policy_evaluation`][jaxkern.quadrature.policy_evaluation] (one jitted
    computation per iteration, data collection continuing along one trajectory from
    `problem.x0`) and policy improvement, starting from `problem.w0`, and stops when
    $\|\hat w^{(i)} - \hat w^{(i-1)}\| < $ `tol` or after `max_iterations`. With an exact
    integral this is Newton's method on the HJB equation; a quadrature error adds a bounded
    term that moves the fixed point, by $O(N^{-2})$ for the trapezoid and $O(N^{-b})$ for
    Bayesian quadrature with a Matérn kernel of smoothness $b$.

    The data limit the accuracy: as the trajectory decays it stops exciting every feature and
    the ODE's absolute tolerance dominates the samples, so the least-squares system grows
    ill-conditioned and its solution noisy. The iteration therefore also stops when a step is
    no larger than the noise of the two solves it joins,
    $\|\hat w^{(i)} - \hat w^{(i-1)}\| \le \sqrt{s_i^2 + s_{i-1}^2}$ with $s_i$ the
    [`standard_error`][jaxkern.quadrature.PolicyEvaluation] of evaluation $i$
    (`"noise floor reached"`), or when the least-squares matrix loses rank
    (`"least-squares rank lost"`), and then returns the iterate with the smallest estimated
    error, $\max(s_i, \|\hat w^{(i+1)} - \hat w^{(i)}\|)$ (the next Newton step measures an
    iterate's error), instead of the last: a `tol` below the noise floor no longer walks away
    from the optimum.

    **Arguments:**

    - `problem`: the control problem.
    - `rule`, `num_nodes`, `interval`, `num_intervals`, `rtol`, `atol`: as in
      [`policy_evaluation`][jaxkern.quadrature.policy_evaluation].
    - `tol`: stopping threshold on the change of the weights (absolute); below the noise
      floor the iteration stops there instead, with `converged=False`.
    - `max_iterations`: at most this many evaluations.

    **Returns:** a [`PolicyIterationResult`][jaxkern.quadrature.PolicyIterationResult].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.quadrature import policy_iteration, third_order_system, trapezoid
        >>> p = third_order_system()
        >>> out = policy_iteration(p, rule=trapezoid, num_nodes=5)  # doctest: +SKIP
        >>> float(jnp.linalg.norm(out.weights - p.w_star))  # doctest: +SKIP
        0.00117...

    Cao & Pan, *Impact of computation in integral reinforcement learning for continuous-time
    control*, ICLR 2024, Algorithm 1.
    """
    check_int("max_iterations", max_iterations, 1)
    w, x = problem.w0, problem.x0
    history, changes, errors = [], [], []  # per iterate: the step to it, its standard error
    message, max_rank = "max_iterations reached", 0
    while len(history) < max_iterations:
        out = policy_evaluation(
            problem, w, x, rule=rule, num_nodes=num_nodes, interval=interval,
            num_intervals=num_intervals, rtol=rtol, atol=atol,
        )
        history.append(out.weights)
        if int(out.rank) < max_rank:
            # A combination of features the data determined before is now undetermined: its
            # component of these weights (and so this step) is arbitrary.
            message = "least-squares rank lost"
            break
        changes.append(float(jnp.linalg.norm(out.weights - w)))
        errors.append(float(out.standard_error))
        w, x, max_rank = out.weights, out.state, int(out.rank)
        if changes[-1] < tol:
            message = "tol reached"
            break
        if changes[-1] <= math.hypot(*errors[-2:]):
            message = "noise floor reached"
            break
    estimates = _error_estimates(changes, errors, at_noise_floor=message == "noise floor reached")
    best = len(changes) - 1
    if message in ("noise floor reached", "least-squares rank lost"):
        best = int(np.argmin(estimates))
    return PolicyIterationResult(
        history[best], jnp.stack(history), len(history), message == "tol reached", message,
        estimates[best],
    )


def _error_estimates(changes, errors, *, at_noise_floor):
    """Estimated errors of the iterates, from their standard errors and the steps around them.

    Newton's method moves most of the way to the fixed point, so an iterate is about as far
    from it as the next step. The last iterate has no next step: at the noise floor the step
    to it was noise, so it is a Newton step from an iterate already at the fixed point and
    only its own noise is left; otherwise, in a contraction with ratio
    q = (its step) / (the step before), it is within q / (1 - q) of its step (inf for q >= 1;
    the step itself for a first iterate, which has no ratio).
    """
    if at_noise_floor:
        last = 0.0
    elif len(changes) == 1:
        last = changes[0]
    else:
        q = changes[-1] / changes[-2]
        last = q / (1 - q) * changes[-1] if q < 1 else math.inf
    return [max(error, step) for error, step in zip(errors, changes[1:] + [last])]
