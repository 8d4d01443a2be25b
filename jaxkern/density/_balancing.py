r"""Balancing weights: reweight a source sample so its kernel mean embedding matches a target's.

Weights $w$ on a source sample that make $\sum_i w_i \phi(x_i)$ equal (or close to) the
target mean $\bar\phi_T$ estimate the density ratio $p_T / p_S$ on the features $\phi$:
entropy balancing matches kernel features exactly with the weights closest to uniform in
KL divergence; kernel mean matching minimises the MMD over the simplex.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from .._validation import check_int, check_ndim, check_same_last_dim
from ..kernels import gram

KernelFn = Callable[[Array, Array], Array]


class BalancingWeights(NamedTuple):
    """What the balancing solvers return."""

    weights: Array
    """Weights on the source points, shape (n,), nonnegative, summing to 1."""
    mean_gap: Array
    """$\\sum_i w_i \\phi(x_i) - \\bar\\phi_T$ per feature (entropy balancing) or per point of
    the objective's gradient scale (kernel mean matching: shape ())."""
    feasible: Array
    """Whether the target was reached: the largest gap is within `tol` (a target outside the
    convex hull of the source features cannot be balanced; the weights returned are then the
    best found, finite, and this is False)."""
    num_iters: Array
    """Iterations taken."""


def _checked_base_weights(base_weights, n: int, dtype):
    """`base_weights`, one per row of the features, cast to `dtype`; None stays None."""
    if base_weights is None:
        return None
    check_ndim("base_weights", base_weights, 1, "(n,)")
    if base_weights.shape[0] != n:
        raise ValueError(f"`base_weights` must have one entry per row of `features` "
                         f"({n}), got shape {base_weights.shape}.")
    return base_weights.astype(dtype)


def entropy_balancing(
    features: Float[Array, "n p"],
    target_mean: Float[Array, " p"],
    *,
    base_weights: Float[Array, " n"] | None = None,
    max_iters: int = 100,
    tol: float | None = None,
) -> BalancingWeights:
    r"""Entropy balancing: the weights closest to uniform (in KL) whose feature mean hits a target.

    $$\min_{w \in \Delta^{n-1}} \sum_i w_i \log(n w_i) \quad \text{s.t.} \quad
      \sum_i w_i \phi(x_i) = \bar\phi_T,$$
    solved in the dual: $w_i \propto \exp(\lambda^\top \phi(x_i))$ with $\lambda$ the
    minimiser of the convex $\log\sum_i \exp\bigl(\lambda^\top(\phi(x_i) - \bar\phi_T)\bigr)$,
    by Newton's method (gradient: the weighted mean gap; Hessian: the weighted covariance of
    the features, Cholesky-factored) with a backtracking line search on the logits, all in
    log space: each step makes three passes over the features (Hessian, gradient, logits).
    With $\phi$ random Fourier or Nyström features of a kernel this balances the kernel mean
    embeddings.

    A target outside the convex hull of the features has no solution (the dual is unbounded):
    the iteration stops when no step decreases the dual any more, or at `max_iters`; the
    weights are finite, and `feasible` is False.

    **Arguments:**

    - `features`: $\phi(x_i)$ of the source points, shape (n, p) (e.g. controls).
    - `target_mean`: $\bar\phi_T$, shape (p,) (e.g. the treated units' feature mean).
    - `base_weights`: $b \ge 0$, shape (n,): minimise KL to $b$ instead of to uniform,
      $w_i \propto b_i e^{\lambda^\top\phi(x_i)}$ (survey weights; zeros drop points, so
      samples of different sizes can be padded to one compiled shape).
    - `max_iters`: Newton iterations at most (static).
    - `tol`: stop when every mean gap is below `tol` (relative to the features' scale);
      default $10^{-10}$ in float64, $10^{-5}$ in float32.

    **Returns:** [`BalancingWeights`][jaxkern.density.BalancingWeights].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.density import entropy_balancing
        >>> phi = jnp.array([[0.0], [1.0], [2.0]])
        >>> out = entropy_balancing(phi, jnp.array([1.5]))
        >>> round(float(out.weights @ phi[:, 0]), 4)
        1.5

    Hainmueller, *Entropy Balancing for Causal Effects*, Political Analysis 2012; Li et al.,
    *Debiased Collaborative Filtering with Kernel-Based Causal Balancing*, ICLR 2024.
    """
    check_ndim("features", features, 2, "(n, p)")
    check_ndim("target_mean", target_mean, 1, "(p,)")
    if target_mean.shape[0] != features.shape[1]:
        raise ValueError(f"`target_mean` must have one entry per column of `features` "
                         f"({features.shape[1]}), got shape {target_mean.shape}.")
    check_int("max_iters", max_iters, 1)
    dtype = features.dtype
    if tol is None:
        tol = 1e-10 if dtype == jnp.float64 else 1e-5
    n, p = features.shape
    scale = jnp.maximum(jnp.max(jnp.abs(features)), jnp.finfo(dtype).tiny)
    # Features centred at the target, scaled, stored (p, n): every product below (the
    # gradient, the logits' change, the Hessian) contracts over the contiguous axis.
    Ct = (features.T - target_mean.astype(dtype)[:, None]) * (1 / scale)  # (no n p divisions)
    b = _checked_base_weights(base_weights, n, dtype)
    if b is None:
        log_b = jnp.zeros(n, dtype)
    else:
        log_b = jnp.where(b > 0, jnp.log(jnp.where(b > 0, b, 1)), -jnp.inf)
    eps = jnp.finfo(dtype).eps

    # Weights below sqrt(tiny) of the largest are set to 0: they add nothing to any sum in
    # this precision, and subnormal weights and products slow every pass over them by 100x.
    cutoff = 0.5 * float(np.log(np.finfo(dtype).tiny))

    def lse(z):
        m = jnp.max(z)
        m = jnp.where(jnp.isfinite(m), m, 0)
        e = jnp.where(z - m > cutoff, jnp.exp(z - m), 0)
        s = jnp.sum(e)
        return m + jnp.log(s), e * (1 / s)

    def cond(state):
        *_, it, gap, moved = state
        return (it < max_iters) & (gap > tol) & moved

    def body(state):
        z, f, w, g, it, _, _ = state
        # Newton step. Hessian: the weighted covariance S S^T of the features centred at
        # their weighted mean, S = (C - g)^T diag(sqrt w), one p x n x p product, symmetric
        # and PSD as formed. Factored divided by its trace, with a ridge of 1e-10 of it: the
        # factor stays finite, and clear of subnormal numbers when the weights concentrate
        # (infeasible targets), which slow a LAPACK Cholesky by 1000x.
        S = (Ct - g[:, None]) * jnp.sqrt(w)[None, :]
        H = S @ S.T
        inv_tr = 1 / jnp.maximum(jnp.trace(H), jnp.finfo(dtype).tiny)
        L = jnp.linalg.cholesky(H * inv_tr + 1e-10 * jnp.eye(p, dtype=dtype))
        step = jsl.cho_solve((L, True), g) * inv_tr
        u = step @ Ct  # the logits' change per unit step, C step: z(t) = z - t u
        slope = jnp.dot(g, step)  # the squared Newton decrement
        # Where the decrement is below the rounding of the dual value (the quadratic region),
        # comparing values says nothing: take the full step.
        flat = slope <= 64 * eps * (1 + jnp.abs(f))

        # Backtracking (Armijo) on the logits alone, no pass over C. The full step comes
        # first and is taken in all but the first few iterations, its weights from that pass.
        def ls_cond(s):
            t, f_t, _, k = s
            return ~((f_t <= f - 0.25 * t * slope) | flat) & (k < 40)

        def ls_body(s):
            t = s[0] / 2
            return (t, *lse(z - t * u), s[3] + 1)

        t, f_new, w_new, _ = lax.while_loop(ls_cond, ls_body,
                                            (jnp.asarray(1.0, dtype), *lse(z - u), 0))
        g_new = Ct @ w_new
        # A step that does not decrease the dual (none found, or a non-finite one) is not
        # taken, and the iteration stops: there is nothing more to gain. In the quadratic
        # region the value may rise by its rounding: the step is taken all the same.
        ok = jnp.isfinite(f_new) & ((f_new <= f) | flat) & jnp.isfinite(slope)
        z, f, w, g = (jnp.where(ok, z - t * u, z), jnp.where(ok, f_new, f),
                      jnp.where(ok, w_new, w), jnp.where(ok, g_new, g))
        return z, f, w, g, it + 1, jnp.max(jnp.abs(g)), ok

    f0, w0 = lse(log_b)
    g0 = Ct @ w0
    init = (log_b, f0, w0, g0, 0, jnp.max(jnp.abs(g0)), True)
    _, _, w, g, it, gap, _ = lax.while_loop(cond, body, init)
    return BalancingWeights(w, g * scale, gap <= tol, it)



class AdaptiveBalancing(NamedTuple):
    """What [`adaptive_balancing`][jaxkern.density.adaptive_balancing] returns."""

    weights: Array
    """Weights on the source points for the chosen number of balanced functions, shape (n,)."""
    num_balanced: Array
    """The chosen number $J$ of leading kernel functions balanced exactly."""
    order: Array
    """The ranking of the columns of `features`, leading first, shape (p,)."""
    candidates: Array
    """The numbers of leading functions tried, shape (c,)."""
    imbalance: Array
    """$\\|\\sum_i w_i\\phi(x_i) - \\bar\\phi_T\\|^2$ over all p features for each candidate,
    shape (c,): the MMD$^2$ of the kernel the features represent."""
    feasible: Array
    """Whether each candidate's exact balance was reached, shape (c,)."""


def _default_candidates(p: int) -> tuple[int, ...]:
    fracs = (1 / 16, 1 / 8, 3 / 16, 1 / 4, 3 / 8, 1 / 2, 3 / 4, 1)
    return tuple(sorted({min(p, max(1, round(p * f))) for f in fracs}))


def adaptive_balancing(
    features: Float[Array, "n p"],
    target_mean: Float[Array, " p"],
    *,
    num_balanced: tuple[int, ...] | None = None,
    outcome: Float[Array, " n"] | None = None,
    ridge: float = 1e-3,
    base_weights: Float[Array, " n"] | None = None,
    max_iters: int = 100,
    tol: float | None = None,
) -> AdaptiveBalancing:
    r"""Adaptive kernel balancing: balance the leading kernel functions, as many as pays.

    Exact balance of every kernel function is often infeasible (the target mean of many
    features lies outside the convex hull of the source features), and forcing it gives
    extreme weights. Rank the balancing functions $\phi_1, \dots, \phi_p$ (columns of
    `features`), and for each candidate $J$ solve entropy balancing on the first $J$:
    $$w^{(J)} = \arg\min_{w\in\Delta^{n-1}} \mathrm{KL}(w\,\|\,b) \quad\text{s.t.}\quad
      \textstyle\sum_i w_i\phi_j(x_i) = \bar\phi_{T,j},\ j \le J,$$
    each function balanced by its own constraint (not their sum). Keep the feasible $J$
    whose weights leave the smallest imbalance of *all* $p$ functions,
    $$\hat J = \arg\min_{J\ \text{feasible}} \Bigl\|\sum_i w^{(J)}_i\phi(x_i) -
      \bar\phi_T\Bigr\|_2^2,$$
    which for kernel features ($\phi^\top\phi \approx k$) is the weighted MMD$^2$.

    The ranking is the column order given (for
    [`nystrom_features`][jaxkern.features.nystrom_features]: kernel principal components,
    leading first), or, with `outcome`, the paper's adaptive rule: fit the outcome on the
    source by ridge regression in the features, $\hat y = \sum_j \varepsilon_j \phi_j$, and
    balance first the functions with the largest $|\varepsilon_j|\,\mathrm{sd}(\phi_j)$ — those
    an outcome model actually uses, where imbalance biases the estimate most.

    All candidates share one compiled Newton solve (`lax.map` over masks; the unbalanced
    columns are zeroed), so the function jits with a static `num_balanced`.

    **Arguments:**

    - `features`: $\phi(x_i)$ of the source points, shape (n, p).
    - `target_mean`: $\bar\phi_T$, shape (p,).
    - `num_balanced`: the candidates $J$ (static ints in $[1, p]$); default a grid of 1/16
      to all of p.
    - `outcome`: source outcomes, shape (n,), to rank the functions by (default: the given
      order). Points with base weight 0 are ignored.
    - `ridge`: the ridge of that regression, relative to the mean feature variance.
    - `base_weights`, `max_iters`, `tol`: as in
      [`entropy_balancing`][jaxkern.density.entropy_balancing].

    **Returns:** [`AdaptiveBalancing`][jaxkern.density.AdaptiveBalancing]; if no candidate
    is feasible, the one with the smallest imbalance (its `feasible` entry is False).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.density import adaptive_balancing
        >>> from jaxkern.features import nystrom_features
        >>> from jaxkern.kernels import RBF
        >>> X = jax.random.normal(jax.random.key(0), (200, 2))
        >>> treated = X[:, 0] > 0.5
        >>> phi = nystrom_features(RBF(lengthscale=2.0), X, X[:20])
        >>> out = adaptive_balancing(phi[~treated], phi[treated].mean(0), num_balanced=(2, 4, 8))
        >>> int(out.num_balanced) in (2, 4, 8), round(float(out.weights.sum()), 4)
        (True, 1.0)

    Li et al., *Debiased Collaborative Filtering with Kernel-Based Causal Balancing*, ICLR
    2024 (adaptive kernel balancing); Hainmueller, *Entropy Balancing*, Political Analysis
    2012.
    """
    check_ndim("features", features, 2, "(n, p)")
    check_ndim("target_mean", target_mean, 1, "(p,)")
    n, p = features.shape
    if target_mean.shape[0] != p:
        raise ValueError(f"`target_mean` must have one entry per column of `features` "
                         f"({p}), got shape {target_mean.shape}.")
    if num_balanced is None:
        num_balanced = _default_candidates(p)
    num_balanced = tuple(num_balanced)
    if not num_balanced or not all(isinstance(J, (int, np.integer)) and 1 <= J <= p
                                   for J in num_balanced):
        raise ValueError(f"`num_balanced` must be a nonempty sequence of ints in [1, {p}], "
                         f"got {num_balanced}.")
    if not ridge > 0:
        raise ValueError(f"`ridge` must be positive, got {ridge}.")
    dtype = features.dtype
    b = _checked_base_weights(base_weights, n, dtype)
    if b is None:
        b = jnp.ones(n, dtype)
    if outcome is None:
        order = jnp.arange(p)
    else:
        check_ndim("outcome", outcome, 1, "(n,)")
        if outcome.shape[0] != n:
            raise ValueError(f"`outcome` must have one entry per row of `features` ({n}), "
                             f"got shape {outcome.shape}.")
        v = b / jnp.sum(b)
        Fc = features - (v @ features)[None, :]
        yc = outcome.astype(dtype) - v @ outcome.astype(dtype)
        G = (Fc * v[:, None]).T @ Fc
        lam = ridge * jnp.trace(G) / p + jnp.finfo(dtype).tiny
        eps = jnp.linalg.solve(G + lam * jnp.eye(p, dtype=dtype), Fc.T @ (v * yc))
        order = jnp.argsort(-jnp.abs(eps) * jnp.sqrt(jnp.diag(G)))
    F = features[:, order]
    m = target_mean.astype(dtype)[order]
    cols = jnp.arange(p)

    def one(J):
        keep = cols < J
        out = entropy_balancing(jnp.where(keep[None, :], F, 0), jnp.where(keep, m, 0),
                                base_weights=b, max_iters=max_iters, tol=tol)
        gap = out.weights @ F - m
        return out.weights, gap @ gap, out.feasible

    candidates = jnp.asarray(num_balanced)
    W, imbalance, feasible = lax.map(one, candidates)
    score = jnp.where(jnp.any(feasible), jnp.where(feasible, imbalance, jnp.inf), imbalance)
    best = jnp.argmin(score)
    return AdaptiveBalancing(W[best], candidates[best], order, candidates, imbalance, feasible)


def _project_simplex(v: Array) -> Array:
    """Euclidean projection onto the probability simplex (sort-based)."""
    u = jnp.sort(v)[::-1]
    css = jnp.cumsum(u) - 1
    idx = jnp.arange(1, v.shape[0] + 1, dtype=v.dtype)
    rho = jnp.sum(u - css / idx > 0)
    theta = css[rho - 1] / rho.astype(v.dtype)
    return jnp.maximum(v - theta, 0)


def kernel_mean_matching(
    k: KernelFn,
    X_source: Float[Array, "n d"],
    X_target: Float[Array, "m d"],
    *,
    num_iters: int = 500,
) -> BalancingWeights:
    r"""Kernel mean matching: simplex weights minimising the MMD to a target sample.

    $$\min_{w \in \Delta^{n-1}} \Bigl\|\sum_i w_i k(x_i, \cdot) - \frac1m \sum_j k(t_j,
      \cdot)\Bigr\|_{\mathcal H}^2 = w^\top K_{SS} w - 2 w^\top \kappa + \bar K_{TT},
      \qquad \kappa_i = \frac1m\sum_j k(x_i, t_j),$$
    a convex quadratic on the simplex, solved by accelerated projected gradient (FISTA with
    step $1/\lambda_{\max}(K_{SS})$ and sort-based projection).

    **Arguments:**

    - `k`: kernel on one pair of points.
    - `X_source`: points to weight, shape (n, d).
    - `X_target`: target sample, shape (m, d).
    - `num_iters`: FISTA iterations (static).

    **Returns:** [`BalancingWeights`][jaxkern.density.BalancingWeights] with `mean_gap` the
    weighted MMD$^2$ and `feasible` True (the simplex is never empty).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.density import kernel_mean_matching
        >>> X = jnp.array([[0.0], [1.0], [5.0]])
        >>> out = kernel_mean_matching(RBF(), X, jnp.array([[0.0], [1.0]]))
        >>> round(float(out.weights[2]), 4)  # the far point gets no weight
        0.0

    Huang et al., *Correcting Sample Selection Bias by Unlabeled Data*, NeurIPS 2006;
    Gretton et al., *Covariate Shift by Kernel Mean Matching*, 2009.
    """
    check_ndim("X_source", X_source, 2, "(n, d)")
    check_ndim("X_target", X_target, 2, "(m, d)")
    check_same_last_dim("X_source", X_source, "X_target", X_target)
    check_int("num_iters", num_iters, 1)
    K = gram(k, X_source)
    kappa = jnp.mean(gram(k, X_source, X_target), axis=1)
    ktt = jnp.mean(gram(k, X_target))
    L = jnp.maximum(jnp.linalg.eigvalsh(K)[-1], jnp.finfo(K.dtype).tiny)
    n = K.shape[0]

    def step(state, _):
        w, z, t = state
        w_new = _project_simplex(z - (K @ z - kappa) / L)
        t_new = (1 + jnp.sqrt(1 + 4 * t * t)) / 2
        z_new = w_new + (t - 1) / t_new * (w_new - w)
        return (w_new, z_new, t_new), None

    w0 = jnp.full(n, 1 / n, K.dtype)
    (w, _, _), _ = lax.scan(step, (w0, w0, jnp.asarray(1.0, K.dtype)), None, length=num_iters)
    mmd2 = jnp.maximum(w @ K @ w - 2 * w @ kappa + ktt, 0)
    return BalancingWeights(w, mmd2, jnp.asarray(True), jnp.asarray(num_iters))


class BalanceDiagnostics(NamedTuple):
    """Balance before and after weighting, from
    [`balance_diagnostics`][jaxkern.density.balance_diagnostics]."""

    mmd2_before: Array
    """MMD$^2$ between the uniformly weighted source and the target."""
    mmd2_after: Array
    """MMD$^2$ between the weighted source and the target."""
    mean_gap_before: Array
    """Standardised mean differences per covariate, uniform weights, shape (d,)."""
    mean_gap_after: Array
    """Standardised mean differences per covariate, with the weights, shape (d,)."""
    effective_sample_size: Array
    """$1 / \\sum_i w_i^2$."""


def balance_diagnostics(
    k: KernelFn,
    X_source: Float[Array, "n d"],
    weights: Float[Array, " n"],
    X_target: Float[Array, "m d"],
) -> BalanceDiagnostics:
    r"""How well weights balance a source sample to a target: MMD$^2$ and mean gaps.

    $$\mathrm{MMD}^2_w = w^\top K_{SS} w - \tfrac2m w^\top K_{ST}\mathbf 1 + \tfrac1{m^2}
      \mathbf 1^\top K_{TT} \mathbf 1,$$
    (V-statistic), before ($w = \mathbf 1/n$) and after; and per covariate the standardised
    mean difference $(\sum_i w_i x_{id} - \bar t_d) / s_d$ with $s_d$ the pooled standard
    deviation.

    **Arguments:**

    - `k`: kernel on one pair of points.
    - `X_source`: shape (n, d); `weights`: shape (n,), summing to 1; `X_target`: shape (m, d).

    **Returns:** [`BalanceDiagnostics`][jaxkern.density.BalanceDiagnostics].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.density import balance_diagnostics
        >>> X = jnp.array([[0.0], [2.0]])
        >>> d = balance_diagnostics(RBF(), X, jnp.array([0.5, 0.5]), jnp.array([[1.0]]))
        >>> round(float(d.mean_gap_after[0]), 6)
        0.0

    Gretton et al., *A Kernel Two-Sample Test*, JMLR 2012.
    """
    check_ndim("X_source", X_source, 2, "(n, d)")
    check_ndim("X_target", X_target, 2, "(m, d)")
    check_same_last_dim("X_source", X_source, "X_target", X_target)
    check_ndim("weights", weights, 1, "(n,)")
    if weights.shape[0] != X_source.shape[0]:
        raise ValueError(f"`weights` must have one entry per row of `X_source` "
                         f"({X_source.shape[0]}), got shape {weights.shape}.")
    n = X_source.shape[0]
    K = gram(k, X_source)
    kappa = jnp.mean(gram(k, X_source, X_target), axis=1)
    ktt = jnp.mean(gram(k, X_target))
    u = jnp.full(n, 1 / n, K.dtype)

    def mmd2(w):
        return jnp.maximum(w @ K @ w - 2 * w @ kappa + ktt, 0)

    sd = jnp.sqrt(0.5 * (jnp.var(X_source, axis=0) + jnp.var(X_target, axis=0)))
    sd = jnp.where(sd > 0, sd, 1)
    t = jnp.mean(X_target, axis=0)
    return BalanceDiagnostics(mmd2(u), mmd2(weights), (u @ X_source - t) / sd,
                              (weights @ X_source - t) / sd, 1 / jnp.sum(weights**2))



class KangSchafer(NamedTuple):
    """One draw of the Kang–Schafer simulation (NumPy arrays)."""

    covariates: np.ndarray
    """The misspecified (transformed) covariates, standardised, shape (n, 4)."""
    treated: np.ndarray
    """Treatment indicators, shape (n,), bool."""
    outcome: np.ndarray
    """Outcomes, shape (n,); the treatment effect is 0."""


def kang_schafer(seed: int, n: int = 1000) -> KangSchafer:
    r"""The Kang–Schafer simulation with misspecified covariates, the balancing benchmark.

    $x \sim \mathcal N(0, I_4)$, treatment with probability
    $\sigma(-x_1 + \tfrac12 x_2 - \tfrac14 x_3 - \tfrac1{10} x_4)$, outcome
    $210 + 27.4 x_1 + 13.7 (x_2 + x_3 + x_4) + \varepsilon$ (no treatment effect), and the
    analyst sees only $(e^{x_1/2},\, x_2/(1 + e^{x_1}) + 10,\, (x_1 x_3/25 + 0.6)^3,\,
    (x_2 + x_4 + 20)^2)$, standardised.

    Example:
        >>> from jaxkern.density import kang_schafer
        >>> kang_schafer(0, n=5).covariates.shape
        (5, 4)

    Kang & Schafer, *Demystifying double robustness*, Statistical Science 22 (2007), as in
    `empirical_calibration.data.kang_schafer`.
    """
    check_int("n", n, 1)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 4))
    t = rng.binomial(1, 1 / (1 + np.exp(-X @ np.array([-1.0, 0.5, -0.25, -0.1])))) == 1
    y = 210 + X @ np.array([27.4, 13.7, 13.7, 13.7]) + rng.standard_normal(n)
    x1, x2, x3, x4 = X.T
    Z = np.stack([np.exp(x1 / 2), x2 / (1 + np.exp(x1)) + 10, (x1 * x3 / 25 + 0.6) ** 3,
                  (x2 + x4 + 20) ** 2], axis=1)
    return KangSchafer((Z - Z.mean(0)) / Z.std(0), t, y)
