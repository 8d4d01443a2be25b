r"""State-space (Kalman) Gaussian-process regression in $O(n)$ on one-dimensional inputs.

A kernel that declares a state-space form (`k.state_space()`, see
[`StateSpace`][jaxkern.kernels.StateSpace]) is the covariance of $f = Hx$ for a linear SDE.
Sorted times $t_1 \le \dots \le t_n$ give the exact discrete model

$$x_k = A_k x_{k-1} + q_k, \quad A_k = e^{F(t_k - t_{k-1})}, \quad
  q_k \sim \mathcal N(0, Q_k),\ Q_k = P_\infty - A_k P_\infty A_k^\top, \qquad
  y_k = H x_k + \varepsilon_k,\ \varepsilon_k \sim \mathcal N(0, \sigma^2_k),$$

with $x_1 \sim \mathcal N(0, P_\infty)$. The Kalman filter gives the log marginal likelihood as
a sum of one-step predictive log densities, and the Rauch–Tung–Striebel smoother the posterior
marginals; both equal the dense GP's to round-off, in $O(n m^3)$ time for state size $m$.
Each runs either as a sequential `lax.scan` or as a parallel associative scan
(`parallel=True`, depth $O(\log n)$: Särkkä & García-Fernández 2021), which agree to
round-off.

Times need not be sorted: they are sorted internally (stably) and results come back in the
caller's order. Repeated times are fine: the step between them is $\Delta = 0$, so $A = I$,
$Q = 0$, and the two observations are conditioned on one after the other, which is the dense
GP's answer for a repeated input.

Hartikainen & Särkkä (2010); Särkkä & García-Fernández, *Temporal parallelization of Bayesian
smoothers*, IEEE TAC 66 (2021); Fang et al., *Functional Bayesian Tucker Decomposition for
Continuous-indexed Tensor Data*, ICLR (2024) (paper #15), which filters the mode-wise latent
functions this way.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float

from .._marginals import Marginals
from .._validation import check_length, check_positive, concrete_or_none, warn_float32
from ..kernels import StateSpace
from ..linalg import small_solve

KernelFn = Callable[[Array, Array], Array]

__all__ = [
    "FilterResult",
    "SmootherResult",
    "kalman_filter",
    "kalman_log_marginal_likelihood",
    "kalman_posterior",
    "rts_smoother",
]


class FilterResult(NamedTuple):
    """What the Kalman filter returns, for sorted times (shapes (n, m) and (n, m, m))."""

    #: Filtered means $m_{k|k}$ and covariances $P_{k|k}$.
    mean: Float[Array, "n m"]
    cov: Float[Array, "n m m"]
    #: One-step predictions $m_{k|k-1}$, $P_{k|k-1}$ (the prior $0$, $P_\infty$ at $k = 1$).
    pred_mean: Float[Array, "n m"]
    pred_cov: Float[Array, "n m m"]
    #: The log marginal likelihood $\sum_k \log \mathcal N(y_k; H m_{k|k-1}, S_k)$.
    log_likelihood: Float[Array, ""]


class SmootherResult(NamedTuple):
    """Smoothed state means $m_{k|n}$ (n, m) and covariances $P_{k|n}$ (n, m, m)."""

    mean: Float[Array, "n m"]
    cov: Float[Array, "n m m"]


# --------------------------------------------------------------------------- checks


def _times(name: str, t) -> Array:
    t = jnp.asarray(t)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 1:
        raise ValueError(
            f"`{name}` must be 1-D times of shape (n,) (or (n, 1)); state-space GPs are for "
            f"one-dimensional inputs, got shape {t.shape}."
        )
    if not jnp.issubdtype(t.dtype, jnp.floating):
        t = t.astype(jnp.result_type(float))
    return t


def _check_finite(name: str, x) -> Array:
    arr = concrete_or_none(x)
    if arr is not None:
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` must be finite; it has {np.sum(~np.isfinite(arr))} "
                             "non-finite entries (NaN or inf).")
        return x
    return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"`{name}` must be finite (NaN or inf).")


def _check_sorted(t) -> None:
    arr = concrete_or_none(t)
    if arr is not None and np.any(np.diff(arr) < 0):
        raise ValueError("`t` must be sorted (non-decreasing) for `kalman_filter` / "
                         "`rts_smoother`; `kalman_log_marginal_likelihood` and "
                         "`kalman_posterior` sort for you.")


def _noise(noise, n: int, dtype) -> Array:
    check_positive("noise", noise)
    noise = jnp.asarray(noise)
    if noise.ndim > 1 or (noise.ndim == 1 and noise.shape[0] != n):
        raise ValueError(f"`noise` must be a scalar or have shape ({n},), one variance per "
                         f"observation, got shape {noise.shape}.")
    return jnp.broadcast_to(noise.astype(dtype), (n,))


def _state_space(k) -> StateSpace:
    if isinstance(k, StateSpace):
        return k
    declare = getattr(k, "state_space", None)
    if declare is None:
        raise ValueError(
            f"`k` ({type(k).__name__}) declares no state-space form: pass a jaxkern kernel "
            "module with `state_space()` (Matern12/32/52/72, Matern with half-integer `nu`, "
            "Cosine, Constant, their sums, products and scalings) or a `StateSpace`."
        )
    return declare()


def _warn32(dtype) -> None:
    if dtype == jnp.float32:
        warn_float32("Kalman filtering", "the step noise Q = Pinf - A Pinf A^T cancels for steps "
                     "much shorter than the lengthscale, so the log marginal likelihood and "
                     "posterior agree with float64 to about 1e-4 relative at best")


# --------------------------------------------------------------------------- steps


def _steps(ss: StateSpace, t: Array) -> tuple[Array, Array]:
    """A_k, Q_k for sorted t, with Δ_1 = 0 (A_1 = I, Q_1 = 0: the first step is the prior)."""
    dt = jnp.concatenate([jnp.zeros((1,), t.dtype), jnp.diff(t)])
    return jax.vmap(ss.discretise)(dt)


def _update(mp, Pp, H, y, r, obs):
    """One measurement update; returns m, P and the log predictive density term."""
    Hp = Pp @ H
    s = H @ Hp + r
    sinv = jnp.where(obs, 1 / s, 0)
    v = y - H @ mp
    K = Hp * sinv
    m = mp + K * v
    P = Pp - jnp.outer(K, Hp)
    ll = jnp.where(obs, -0.5 * (jnp.log(2 * math.pi * s) + v * v * sinv), 0)
    return m, 0.5 * (P + P.T), ll


def _sym(X):
    return 0.5 * (X + jnp.swapaxes(X, -1, -2))


def _unroll(n: int) -> int:
    """Steps per iteration of the sequential scans: unrolling amortises the loop overhead that
    dominates a step on a state of size 2 or 3 on CPU, at the price of a longer compile, so
    only long series are unrolled."""
    return 8 if n >= 8192 else 1


def _log_likelihood_sequential(ss, A, Q, y, r):
    """The log marginal likelihood alone, by a sequential scan built for reverse mode.

    The step is rematerialised (`jax.checkpoint`): the forward pass of `value_and_grad` keeps
    only the carry $(m_{k-1}, P_{k-1})$ per step, and the backward scan recomputes the step's
    intermediates from it, instead of stacking every intermediate (predicted moments, gain,
    innovation, ...) as $n$-long residual arrays that the backward pass reads back. On XLA:CPU
    a step on a state of size 2 or 3 costs a few dozen tiny kernels, so those extra stores and
    loads, not the arithmetic, were the cost; and at n = 1e6 the residuals outgrow the caches.
    Unrolled 4 steps per iteration (8 measured no better and sometimes worse with the
    recomputation)."""
    H = ss.H

    @functools.partial(jax.checkpoint, prevent_cse=False)
    def step(carry, inp):
        m, P = carry
        Ak, Qk, yk, rk = inp
        m, P, ll = _update(Ak @ m, Ak @ P @ Ak.T + Qk, H, yk, rk, True)
        return (m, P), ll

    init = (jnp.zeros(ss.dim, ss.Pinf.dtype), ss.Pinf)
    _, ll = jax.lax.scan(step, init, (A, Q, y, r), unroll=4 if y.shape[0] >= 8192 else 1)
    return jnp.sum(ll)


def _sort_unless_sorted(t, y, r):
    """Stable sort of (t, y, r) by t, skipped at run time when t is already non-decreasing.

    `argsort` and the gathers (and their scatter transposes under `grad`) took 0.2 s at
    n = 1e6 on CPU, against 2.4 s for the filter's value and gradient, and sorted times are the
    common case. Both branches give the same values; gradients flow through either."""
    def sort(t, y, r):
        order = jnp.argsort(t, stable=True)
        return t[order], y[order], r[order]

    if t.shape[0] < 2:
        return t, y, r
    arr = concrete_or_none(t)
    if arr is not None:
        return (t, y, r) if bool(np.all(np.diff(arr) >= 0)) else sort(t, y, r)
    return jax.lax.cond(jnp.all(t[1:] >= t[:-1]), lambda t, y, r: (t, y, r), sort, t, y, r)


def _filter_sequential(ss, A, Q, y, r, obs):
    H = ss.H

    def step(carry, inp):
        m, P = carry
        Ak, Qk, yk, rk, ok = inp
        mp = Ak @ m
        Pp = Ak @ P @ Ak.T + Qk
        m, P, ll = _update(mp, Pp, H, yk, rk, ok)
        return (m, P), (m, P, mp, Pp, ll)

    init = (jnp.zeros(ss.dim, ss.Pinf.dtype), ss.Pinf)
    _, (m, P, mp, Pp, ll) = jax.lax.scan(step, init, (A, Q, y, r, obs),
                                         unroll=_unroll(y.shape[0]))
    return FilterResult(m, P, mp, _sym(Pp), jnp.sum(ll))


def _filter_combine(a, b):
    Ai, bi, Ci, ei, Ji = a
    Aj, bj, Cj, ej, Jj = b
    eye = jnp.broadcast_to(jnp.eye(Ai.shape[-1], dtype=Ai.dtype), Ai.shape)
    M = eye + Ci @ Jj
    T = jnp.swapaxes
    # small_solve, not jnp.linalg.solve: two batched LAPACK solves side by side deadlock
    # XLA:CPU's two-thread pool (jaxkern/linalg/_small.py).
    AjMinv = T(small_solve(T(M, -1, -2), T(Aj, -1, -2)), -1, -2)
    MinvAi = small_solve(M, Ai)  # (I + J_j C_i)^{-1} = M^{-T}; A_i^T M^{-T} = (M^{-1}A_i)^T
    AiMT = T(MinvAi, -1, -2)
    A = AjMinv @ Ai
    b = (AjMinv @ (bi + (Ci @ ej[..., None])[..., 0])[..., None])[..., 0] + bj
    C = _sym(AjMinv @ Ci @ T(Aj, -1, -2) + Cj)
    e = (AiMT @ (ej - (Jj @ bi[..., None])[..., 0])[..., None])[..., 0] + ei
    J = _sym(AiMT @ Jj @ Ai + Ji)
    return A, b, C, e, J


def _parallel_scan(combine, elems, identity, *, reverse: bool = False):
    """Inclusive scan of an associative `combine` in ceil(log2 n) parallel steps.

    Hillis–Steele schedule: at level d every element i >= 2^d becomes
    `combine(x[i - 2^d], x[i])` (the identity stands in below 2^d). Each level is one batched
    call over all n elements, so the levels run as one `lax.scan` and `combine` is traced once:
    depth O(log n), work O(n log n), and a compile time that does not grow with n (the
    work-efficient Blelloch tree of `lax.associative_scan` unrolls 2 log2 n levels of different
    shapes, which compiled for ~10 s at n = 60 here). With `reverse`, from the end backwards.
    """
    if reverse:
        flipped = jax.tree.map(lambda x: jnp.flip(x, 0), elems)
        return jax.tree.map(lambda x: jnp.flip(x, 0),
                            _parallel_scan(combine, flipped, identity))
    n = jax.tree.leaves(elems)[0].shape[0]
    levels = max(1, math.ceil(math.log2(n))) if n > 1 else 0
    index = jnp.arange(n)

    def level(x, d):
        shift = jnp.left_shift(1, d)
        keep = index >= shift

        def earlier(leaf, ident):
            rolled = jnp.roll(leaf, shift, axis=0)
            mask = keep.reshape((n,) + (1,) * (leaf.ndim - 1))
            return jnp.where(mask, rolled, jnp.broadcast_to(ident, leaf.shape))

        return combine(jax.tree.map(earlier, x, identity), x), None

    out, _ = jax.lax.scan(level, elems, jnp.arange(levels))
    return out


def _filter_parallel(ss, A, Q, y, r, obs):
    H = ss.H
    m = ss.dim
    # The first element conditions the prior N(0, Pinf): as a general element with A = 0 and
    # Q = Pinf (Särkkä & García-Fernández 2021, eq. 11-12).
    A0 = A.at[0].set(jnp.zeros((m, m), A.dtype))
    Q0 = Q.at[0].set(ss.Pinf)

    def element(Ak, Qk, yk, rk, ok):
        QH = Qk @ H
        s = H @ QH + rk
        sinv = jnp.where(ok, 1 / s, 0)
        K = QH * sinv
        IKH = jnp.eye(m, dtype=Ak.dtype) - jnp.outer(K, H)
        AH = Ak.T @ H
        return (IKH @ Ak, K * yk, _sym(Qk - jnp.outer(K, QH)), AH * (sinv * yk),
                sinv * jnp.outer(AH, AH))

    elems = jax.vmap(element)(A0, Q0, y, r, obs)
    dtype = A.dtype
    eye, zm, zv = jnp.eye(m, dtype=dtype), jnp.zeros((m, m), dtype), jnp.zeros(m, dtype)
    _, mean, cov, _, _ = _parallel_scan(_filter_combine, elems, (eye, zv, zm, zv, zm))
    prev_m = jnp.concatenate([jnp.zeros((1, m), mean.dtype), mean[:-1]])
    prev_P = jnp.concatenate([ss.Pinf[None], cov[:-1]])
    # The first step has A = I, Q = 0, so its prediction is the prior (0, Pinf).
    mp = jnp.einsum("nij,nj->ni", A, prev_m)
    Pp = _sym(A @ prev_P @ jnp.swapaxes(A, -1, -2) + Q)
    Hp = Pp @ H
    s = Hp @ H + r
    v = y - mp @ H
    ll = jnp.where(obs, -0.5 * (jnp.log(2 * math.pi * s) + v * v / s), 0)
    return FilterResult(mean, cov, mp, Pp, jnp.sum(ll))


def _gains(filtered: FilterResult, A):
    """E_k = P_{k|k} A_{k+1}^T P_{k+1|k}^{-1} for k < n (shape (n-1, m, m))."""
    P, Ap, Pp = filtered.cov[:-1], A[1:], filtered.pred_cov[1:]
    # E^T = Pp^{-1} A P (Pp and P symmetric).
    return jnp.swapaxes(small_solve(Pp, Ap @ P), -1, -2)


def _smoother_sequential(filtered: FilterResult, A):
    E = _gains(filtered, A)

    def step(carry, inp):
        ms, Ps = carry
        m, P, Ek, mp, Pp = inp
        ms = m + Ek @ (ms - mp)
        Ps = _sym(P + Ek @ (Ps - Pp) @ Ek.T)
        return (ms, Ps), (ms, Ps)

    last = (filtered.mean[-1], filtered.cov[-1])
    _, (ms, Ps) = jax.lax.scan(
        step, last,
        (filtered.mean[:-1], filtered.cov[:-1], E, filtered.pred_mean[1:],
         filtered.pred_cov[1:]),
        reverse=True, unroll=_unroll(E.shape[0]))
    return SmootherResult(jnp.concatenate([ms, last[0][None]]),
                          jnp.concatenate([Ps, last[1][None]]))


def _smoother_combine(a, b):
    # Run in reverse: `a` holds the later times (already combined), `b` the earlier ones.
    Ea, ga, La = a
    Eb, gb, Lb = b
    return (Eb @ Ea, (Eb @ ga[..., None])[..., 0] + gb,
            _sym(Eb @ La @ jnp.swapaxes(Eb, -1, -2) + Lb))


def _smoother_parallel(filtered: FilterResult, A):
    E = _gains(filtered, A)
    m, P = filtered.mean, filtered.cov
    g = m[:-1] - jnp.einsum("nij,nj->ni", E, filtered.pred_mean[1:])
    L = _sym(P[:-1] - E @ filtered.pred_cov[1:] @ jnp.swapaxes(E, -1, -2))
    dim = m.shape[-1]
    E = jnp.concatenate([E, jnp.zeros((1, dim, dim), E.dtype)])
    g = jnp.concatenate([g, m[-1:]])
    L = jnp.concatenate([L, P[-1:]])
    identity = (jnp.eye(dim, dtype=E.dtype), jnp.zeros(dim, E.dtype),
                jnp.zeros((dim, dim), E.dtype))
    _, ms, Ps = _parallel_scan(_smoother_combine, (E, g, L), identity, reverse=True)
    return SmootherResult(ms, Ps)


# --------------------------------------------------------------------------- public: low level


def kalman_filter(
    ss: StateSpace,
    t: Float[Array, " n"],
    y: Float[Array, " n"],
    *,
    noise: Float[ArrayLike, "*n"],
    observed: Bool[Array, " n"] | None = None,
    parallel: bool = False,
) -> FilterResult:
    r"""Kalman filter of a state-space GP at sorted times, with the exact discretisation.

    For $k = 1..n$: predict $m_{k|k-1} = A_k m_{k-1|k-1}$,
    $P_{k|k-1} = A_k P_{k-1|k-1} A_k^\top + Q_k$; then with $S_k = H P_{k|k-1} H^\top +
    \sigma^2_k$ and $K_k = P_{k|k-1} H^\top / S_k$, update
    $m_{k|k} = m_{k|k-1} + K_k (y_k - H m_{k|k-1})$, $P_{k|k} = P_{k|k-1} - K_k S_k K_k^\top$,
    and add $\log\mathcal N(y_k; H m_{k|k-1}, S_k)$ to the log likelihood. Points with
    `observed` False are predicted but not conditioned on (how test times are merged in).

    **Arguments:**

    - `ss`: the [`StateSpace`][jaxkern.kernels.StateSpace] form (`k.state_space()`).
    - `t`: sorted times, shape (n,).
    - `y`: observations, shape (n,).
    - `noise`: observation noise variance(s) $\sigma^2 > 0$, scalar or shape (n,).
    - `observed`: optional boolean mask, shape (n,) (default: all observed).
    - `parallel`: run as a parallel associative scan instead of a sequential `lax.scan`.

    **Returns:** a [`FilterResult`][jaxkern.gp.FilterResult].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Matern32
        >>> from jaxkern.gp import kalman_filter
        >>> t = jnp.array([0.0, 0.5, 1.5])
        >>> res = kalman_filter(Matern32().state_space(), t, jnp.array([0.1, 0.3, -0.2]),
        ...                     noise=0.1)
        >>> res.mean.shape, res.cov.shape
        ((3, 2), (3, 2, 2))

    Särkkä, *Bayesian Filtering and Smoothing* (2013), sec. 4.3; the parallel form:
    Särkkä & García-Fernández (2021), sec. IV.
    """
    t = _check_finite("t", _times("t", t))
    check_length("y", y, t.shape[0], "one observation per time")
    _check_sorted(t)
    return _filter(ss, t, jnp.asarray(y, t.dtype), _noise(noise, t.shape[0], t.dtype),
                   observed, parallel)


def _cast(ss: StateSpace, dtype) -> StateSpace:
    return jax.tree.map(lambda leaf: leaf.astype(dtype) if eqx.is_inexact_array(leaf) else leaf,
                        ss)


def _filter(ss, t, y, r, observed, parallel):
    ss = _cast(ss, t.dtype)
    obs = jnp.ones(t.shape, bool) if observed is None else jnp.asarray(observed, bool)
    A, Q = _steps(ss, t)
    run = _filter_parallel if parallel else _filter_sequential
    return run(ss, A, Q, y, r, obs)


def rts_smoother(
    ss: StateSpace,
    t: Float[Array, " n"],
    filtered: FilterResult,
    *,
    parallel: bool = False,
) -> SmootherResult:
    r"""Rauch–Tung–Striebel smoother on a [`kalman_filter`][jaxkern.gp.kalman_filter] result.

    Backwards from $k = n - 1$: $E_k = P_{k|k} A_{k+1}^\top P_{k+1|k}^{-1}$,
    $m_{k|n} = m_{k|k} + E_k(m_{k+1|n} - m_{k+1|k})$,
    $P_{k|n} = P_{k|k} + E_k(P_{k+1|n} - P_{k+1|k})E_k^\top$. The posterior marginal of $f$
    at $t_k$ is $\mathcal N(H m_{k|n}, H P_{k|n} H^\top)$.

    **Arguments:**

    - `ss`: the state-space form used for filtering.
    - `t`: the same sorted times, shape (n,).
    - `filtered`: the filter's result.
    - `parallel`: parallel associative scan instead of a sequential reverse `lax.scan`.

    **Returns:** a [`SmootherResult`][jaxkern.gp.SmootherResult].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Matern12
        >>> from jaxkern.gp import kalman_filter, rts_smoother
        >>> ss, t, y = Matern12().state_space(), jnp.array([0.0, 1.0]), jnp.array([1.0, 1.0])
        >>> sm = rts_smoother(ss, t, kalman_filter(ss, t, y, noise=1e-6))
        >>> [round(v, 4) for v in sm.mean[:, 0].tolist()]
        [1.0, 1.0]

    Särkkä (2013), sec. 8.2; parallel form: Särkkä & García-Fernández (2021), sec. V.
    """
    t = _times("t", t)
    _check_sorted(t)
    ss = _cast(ss, t.dtype)
    A, _ = _steps(ss, t)
    return (_smoother_parallel if parallel else _smoother_sequential)(filtered, A)


# --------------------------------------------------------------------------- public: GP level


def _prepare(k, t, y, noise):
    ss = _state_space(k)
    t = _check_finite("t", _times("t", t))
    check_length("y", y, t.shape[0], "one target per time")
    y = _check_finite("y", jnp.asarray(y, t.dtype))
    r = _noise(noise, t.shape[0], t.dtype)
    _warn32(t.dtype)
    return ss, t, y, r


def kalman_log_marginal_likelihood(
    k: KernelFn | StateSpace,
    t: Float[Array, " n"],
    y: Float[Array, " n"],
    *,
    noise: Float[ArrayLike, "*n"],
    parallel: bool = False,
) -> Float[Array, ""]:
    r"""Log marginal likelihood of a zero-mean GP on the line, in $O(n)$ by Kalman filtering.

    $$\log p(y) = \sum_{k=1}^n \log \mathcal N\big(y_k;\ H m_{k|k-1},\
      H P_{k|k-1} H^\top + \sigma_k^2\big),$$
    which equals the dense $-\tfrac12 y^\top(K + \sigma^2 I)^{-1}y - \tfrac12\log\det(K +
    \sigma^2 I) - \tfrac n2\log 2\pi$ of
    [`log_marginal_likelihood`][jaxkern.gp.log_marginal_likelihood] for the same kernel.
    Differentiable (reverse mode through the scan) in the kernel's hyperparameters, `noise`,
    `t` and `y`. Times are sorted internally; repeated times are allowed.

    **Arguments:**

    - `k`: a kernel module that declares `state_space()` (or a
      [`StateSpace`][jaxkern.kernels.StateSpace]).
    - `t`: times, shape (n,) or (n, 1), any order, finite.
    - `y`: targets, shape (n,), finite.
    - `noise`: noise variance $\sigma^2 > 0$, scalar or one per observation (n,).
    - `parallel`: parallel associative scan (log-depth; for accelerators) instead of a
      sequential `lax.scan` (the faster choice on CPU).

    **Returns:** the scalar log marginal likelihood.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Matern52
        >>> from jaxkern.gp import kalman_log_marginal_likelihood, log_marginal_likelihood
        >>> t = jnp.array([0.3, 0.0, 1.2, 0.7])
        >>> y = jnp.array([0.2, -0.1, 0.4, 0.0])
        >>> a = kalman_log_marginal_likelihood(Matern52(), t, y, noise=0.1)
        >>> b = log_marginal_likelihood(Matern52(), t[:, None], y, noise=0.1, jitter=0.0)
        >>> bool(jnp.isclose(a, b, rtol=1e-5))
        True

    Hartikainen & Särkkä (2010); Fang et al. (2024), sec. 4.
    """
    ss, t, y, r = _prepare(k, t, y, noise)
    t, y, r = _sort_unless_sorted(t, y, r)
    if parallel:
        return _filter(ss, t, y, r, None, True).log_likelihood
    ss = _cast(ss, t.dtype)
    A, Q = _steps(ss, t)
    return _log_likelihood_sequential(ss, A, Q, y, r)


def kalman_posterior(
    k: KernelFn | StateSpace,
    t: Float[Array, " n"],
    y: Float[Array, " n"],
    t_test: Float[Array, " m"] | None = None,
    *,
    noise: Float[ArrayLike, "*n"],
    parallel: bool = False,
) -> Marginals:
    r"""Posterior mean and variance of the latent $f$ at new (or the training) times, in
    $O(n + m)$.

    The test times are merged with the training times as unobserved points (predicted, never
    conditioned on), the merged sequence is filtered and smoothed, and
    $\mu_* = H m_{*|n}$, $\sigma_*^2 = H P_{*|n} H^\top$ are read off — the dense
    [`gp_posterior`][jaxkern.gp.gp_posterior]'s answer, without forming $K$.

    **Arguments:**

    - `k`: a kernel module that declares `state_space()` (or a `StateSpace`).
    - `t`: training times, shape (n,) or (n, 1), any order.
    - `y`: training targets, shape (n,).
    - `t_test`: times to predict at, shape (m,) or (m, 1), any order; `None`: the training
      times.
    - `noise`: noise variance $\sigma^2 > 0$, scalar or shape (n,).
    - `parallel`: parallel associative scans instead of sequential ones.

    **Returns:** [`Marginals`][jaxkern.Marginals] of shape-(m,) arrays (variance of $f$,
    without the noise), in the order of `t_test`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Matern32
        >>> from jaxkern.gp import kalman_posterior
        >>> post = kalman_posterior(Matern32(), jnp.array([0.0, 1.0]), jnp.array([1.0, -1.0]),
        ...                         jnp.array([1.0, 0.0, 50.0]), noise=1e-6)
        >>> [round(v, 3) for v in post.mean[:2].tolist()], round(float(post.variance[2]), 3)
        ([-1.0, 1.0], 1.0)

    Särkkä (2013), sec. 8.2; Särkkä & García-Fernández (2021).
    """
    ss, t, y, r = _prepare(k, t, y, noise)
    n = t.shape[0]
    if t_test is None:
        t_all, y_all, r_all, obs = t, y, r, jnp.ones(n, bool)
    else:
        t_test = _check_finite("t_test", _times("t_test", t_test).astype(t.dtype))
        m = t_test.shape[0]
        t_all = jnp.concatenate([t, t_test])
        y_all = jnp.concatenate([y, jnp.zeros(m, t.dtype)])
        r_all = jnp.concatenate([r, jnp.ones(m, t.dtype)])
        obs = jnp.concatenate([jnp.ones(n, bool), jnp.zeros(m, bool)])
    # Test points go after training points at equal times (stable sort): either order gives
    # the same smoothed marginals, since Δ = 0 between them.
    order = jnp.argsort(t_all, stable=True)
    ts = t_all[order]
    ss = _cast(ss, t.dtype)
    filtered = _filter(ss, ts, y_all[order], r_all[order], obs[order], parallel)
    A, _ = _steps(ss, ts)
    smoothed = (_smoother_parallel if parallel else _smoother_sequential)(filtered, A)
    mean = smoothed.mean @ ss.H
    var = jnp.einsum("i,nij,j->n", ss.H, smoothed.cov, ss.H)
    inverse = jnp.empty_like(order).at[order].set(jnp.arange(order.shape[0]))
    mean, var = mean[inverse], var[inverse]
    if t_test is not None:
        mean, var = mean[n:], var[n:]
    return Marginals(mean, jnp.maximum(var, 0))
