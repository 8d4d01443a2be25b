r"""Self-distillation of kernel ridge regression: t steps in closed form, the limit, the weight.

Step $t$ refits KRR on a mix of the ground truth and the previous fit,
$$\hat y_t = S\bigl(\alpha y + (1 - \alpha)\hat y_{t-1}\bigr), \qquad \hat y_0 = y, \qquad
  S = K(K + \lambda I)^{-1},$$
a spectral filter on the eigenvalues $d_i$ of $K$: with $s_i = d_i / (d_i + \lambda)$ and
$b^\star_i = \alpha d_i / (\alpha d_i + \lambda)$, the fit after $t$ steps has eigenvalue
$b_{t,i} = b^\star_i + ((1 - \alpha)s_i)^t (1 - b^\star_i)$, and $t \to \infty$ gives KRR
with the regulariser amplified to $\lambda / \alpha$.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_length, check_ndim, check_positive
from ._krr import ridge_solve


class SelfDistillation(NamedTuple):
    """The model after some self-distillation steps: $f_t(x) = k(x, X)^\\top c_t$."""

    coefficients: Array
    """$c_t$, shape (n,): the dual coefficients, so that $f_t(x) = \\sum_i c_{t,i} k(x, x_i)$."""
    fitted: Array
    """$\\hat y_t = K c_t$, shape (n,): the fit at the training points."""


def _check(K, y, ridge, alpha) -> None:
    check_ndim("K", K, 2, "(n, n)")
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"`K` must be square, got shape {K.shape}.")
    check_ndim("y", y, 1, "(n,)")
    check_length("y", y, K.shape[0], "one target per row of `K`")
    check_positive("ridge", ridge)
    check_positive("alpha", alpha)
    if isinstance(alpha, (int, float)) and alpha > 1:
        raise ValueError(f"`alpha` must lie in (0, 1], got {alpha}.")


def self_distillation(
    K: Float[Array, "n n"],
    y: Float[Array, " n"],
    *,
    ridge: Float[ArrayLike, ""],
    alpha: Float[ArrayLike, ""],
    steps: Float[ArrayLike, ""],
) -> SelfDistillation:
    r"""Kernel ridge regression after `steps` rounds of self-distillation, in closed form.

    Each round fits KRR to $\alpha y + (1 - \alpha)\hat y_{t-1}$, the ground truth weighted
    by the imitation weight $\alpha$ and the previous round's fit ($\hat y_0 = y$, so round
    1 is plain KRR). With $K = V \operatorname{diag}(d) V^\top$, $s = d / (d + \lambda)$ and
    $b^\star = \alpha d / (\alpha d + \lambda)$, the fit after $t$ rounds is
    $$\hat y_t = V \operatorname{diag}\bigl(b^\star + ((1 - \alpha)s)^t (1 - b^\star)\bigr)
      V^\top y,$$
    and its coefficients $c_t = V \operatorname{diag}\bigl((\alpha + (1-\alpha) b_{t-1}) /
    (d + \lambda)\bigr) V^\top y$. One eigendecomposition serves any $t$ (a float, `jnp.inf`
    included: the limit [`self_distillation_limit`][jaxkern.gp.self_distillation_limit]).

    **Arguments:**

    - `K`: symmetric PSD kernel matrix of the training inputs, shape (n, n).
    - `y`: training targets, shape (n,).
    - `ridge`: $\lambda > 0$.
    - `alpha`: imitation weight $\alpha \in (0, 1]$ on the ground truth ($1$: no distillation).
    - `steps`: $t \ge 1$ (any real number, `jnp.inf` for the limit).

    **Returns:** a [`SelfDistillation`][jaxkern.gp.SelfDistillation] (coefficients, fitted).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.gp import self_distillation, ridge_solve
        >>> K, y = jnp.array([[2.0, 1.0], [1.0, 2.0]]), jnp.array([1.0, 0.0])
        >>> one = self_distillation(K, y, ridge=0.5, alpha=0.3, steps=1)
        >>> bool(jnp.allclose(one.coefficients, ridge_solve(K, y, ridge=0.5)))  # plain KRR
        True

    Borup & Andersen, *Even your Teacher Needs Guidance: Ground-Truth Targets Dampen
    Regularization Imposed by Self-Distillation*, NeurIPS 2021, Theorem 4.1.
    """
    _check(K, y, ridge, alpha)
    check_positive("steps", steps)
    d, V = jnp.linalg.eigh(K)
    d = jnp.maximum(d, 0)
    dtype = K.dtype
    lam, a, t = (jnp.asarray(v, dtype) for v in (ridge, alpha, steps))
    s = d / (d + lam)
    b_star = a * d / (a * d + lam)
    rate = (1 - a) * s

    def filt(t):  # b_t, with 0 ** inf = 0 and t = 0 giving the identity
        return b_star + jnp.where(rate > 0, rate, 0) ** t * (1 - b_star)

    proj = V.T @ y
    coefficients = V @ ((a + (1 - a) * filt(t - 1)) / (d + lam) * proj)
    fitted = V @ (filt(t) * proj)
    return SelfDistillation(coefficients, fitted)


def self_distillation_limit(
    K: Float[Array, "n n"],
    y: Float[Array, " n"],
    *,
    ridge: Float[ArrayLike, ""],
    alpha: Float[ArrayLike, ""],
) -> SelfDistillation:
    r"""The limit of infinitely many self-distillation rounds: KRR with ridge $\lambda/\alpha$.

    $$\lim_{t\to\infty} \hat y_t = \alpha K(\alpha K + \lambda I)^{-1} y
      = K\bigl(K + \tfrac{\lambda}{\alpha} I\bigr)^{-1} y,$$
    solved by one Cholesky factorisation (no eigendecomposition): distillation with weight
    $\alpha$ on the ground truth amplifies the regulariser by $1/\alpha$ and no more.

    **Arguments:**

    - `K`: symmetric PSD kernel matrix, shape (n, n).
    - `y`: targets, shape (n,).
    - `ridge`: $\lambda > 0$.
    - `alpha`: imitation weight in $(0, 1]$.

    **Returns:** a [`SelfDistillation`][jaxkern.gp.SelfDistillation].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.gp import self_distillation_limit
        >>> lim = self_distillation_limit(jnp.eye(2), jnp.array([1.0, 2.0]), ridge=1.0, alpha=0.5)
        >>> [round(v, 6) for v in lim.fitted.tolist()]  # 1 / (1 + 2)
        [0.333333, 0.666667]

    Borup & Andersen, NeurIPS 2021, Theorem 4.3.
    """
    _check(K, y, ridge, alpha)
    c = ridge_solve(K, y, ridge=jnp.asarray(ridge, K.dtype) / jnp.asarray(alpha, K.dtype))
    return SelfDistillation(c, K @ c)


def optimal_distillation_weight(
    K: Float[Array, "n n"],
    y: Float[Array, " n"],
    previous: Float[Array, " n"],
    target: Float[Array, " n"],
    *,
    ridge: Float[ArrayLike, ""],
) -> Float[Array, ""]:
    r"""The imitation weight of the next round that brings its fit closest to a target.

    The next fit is affine in $\alpha$: $\hat y(\alpha) = S\hat y_{t-1} + \alpha\, S(y -
    \hat y_{t-1})$ with $S = K(K + \lambda I)^{-1}$, so $\|\hat y(\alpha) - z\|^2$ is a
    parabola whose minimiser on $[0, 1]$ is
    $$\alpha^\star = \operatorname{clip}\Bigl(\frac{\langle z - S\hat y_{t-1},\ S(y - \hat
      y_{t-1})\rangle}{\|S(y - \hat y_{t-1})\|^2},\ 0,\ 1\Bigr).$$
    With $z$ the noise-free function at the training points (known in a simulation) it is
    the paper's optimal weight; with held-out data in place of $z$ it is an estimate that
    replaces a grid search.

    **Arguments:**

    - `K`: symmetric PSD kernel matrix, shape (n, n).
    - `y`: the ground-truth targets, shape (n,).
    - `previous`: $\hat y_{t-1}$, the previous round's fit (`y` before the first round).
    - `target`: $z$, the values the next fit should approach, shape (n,).
    - `ridge`: $\lambda > 0$.

    **Returns:** $\alpha^\star \in [0, 1]$ (1 where the rounds no longer move the fit).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.gp import optimal_distillation_weight
        >>> K, y = jnp.eye(2), jnp.array([1.0, 0.0])
        >>> round(float(optimal_distillation_weight(K, y, jnp.zeros(2), 0.25 * y, ridge=1.0)), 6)
        0.5

    Borup & Andersen, NeurIPS 2021, Theorem 4.5.
    """
    check_ndim("previous", previous, 1, "(n,)")
    check_ndim("target", target, 1, "(n,)")
    _check(K, y, ridge, 1.0)
    check_length("previous", previous, K.shape[0], "one value per row of `K`")
    check_length("target", target, K.shape[0], "one value per row of `K`")
    both = jnp.stack([previous, y - previous], axis=1)
    a, b = (K @ ridge_solve(K, both, ridge=ridge)).T
    bb = jnp.dot(b, b)
    raw = jnp.dot(target - a, b) / jnp.where(bb > 0, bb, 1)
    return jnp.where(bb > 0, jnp.clip(raw, 0, 1), 1)
