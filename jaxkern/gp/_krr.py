r"""Kernel ridge regression heads whose gradients flow through the solve implicitly.

KRR is the GP posterior mean with noise variance $\lambda$: $f(X_*) = K_{*S}(K_{SS} +
\lambda I)^{-1} Y_S$. Used as a differentiable head inside a training loop (dataset
distillation, KIP, KRR-ST), the solve is differentiated by its adjoint, never by unrolling
an iterative solver or back-propagating through the Cholesky factorisation.
"""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_ndim, check_positive
from ..kernels import gram

KernelFn = Callable[[Array, Array], Array]


def _factor(A: Array) -> Array:
    L = jnp.linalg.cholesky(A)
    return eqx.error_if(
        L,
        ~jnp.all(jnp.isfinite(L)),
        "`K + ridge * I` is singular or not positive definite; use `ridge > 0` (a kernel "
        "matrix with repeated or too many points is singular without a regulariser).",
    )


@jax.custom_vjp
def _ridge_solve(K: Array, Y: Array, ridge: Array) -> Array:
    n = K.shape[0]
    L = _factor(K + ridge * jnp.eye(n, dtype=K.dtype))
    return jsl.cho_solve((L, True), Y)


def _ridge_solve_fwd(K, Y, ridge):
    n = K.shape[0]
    L = _factor(K + ridge * jnp.eye(n, dtype=K.dtype))
    A = jsl.cho_solve((L, True), Y)
    return A, (L, A)


def _ridge_solve_bwd(res, A_bar):
    # A = M^{-1} Y with M = K + ridge I symmetric: Y_bar = M^{-1} A_bar, M_bar = -Y_bar A^T.
    L, A = res
    Y_bar = jsl.cho_solve((L, True), A_bar)
    Yb, Ab = Y_bar.reshape(Y_bar.shape[0], -1), A.reshape(A.shape[0], -1)
    M_bar = -(Yb @ Ab.T + Ab @ Yb.T) / 2  # K is symmetric: its cotangent is taken symmetric
    return M_bar, Y_bar, jnp.trace(M_bar)


_ridge_solve.defvjp(_ridge_solve_fwd, _ridge_solve_bwd)


def _check_targets(name: str, Y, n: int, rows: str) -> None:
    if jnp.ndim(Y) not in (1, 2):
        raise ValueError(f"`{name}` must have shape (n,) or (n, c), got shape {jnp.shape(Y)}.")
    if jnp.shape(Y)[0] != n:
        raise ValueError(f"`{name}` must have one row per {rows} ({n}), got shape "
                         f"{jnp.shape(Y)}.")


def ridge_solve(
    K: Float[Array, "n n"],
    Y: Float[Array, "n ..."],
    *,
    ridge: Float[ArrayLike, ""],
) -> Float[Array, "n ..."]:
    r"""The KRR coefficients $A = (K + \lambda I)^{-1} Y$, with gradients by the adjoint solve.

    One Cholesky factor $LL^\top = K + \lambda I$ serves the forward solve and the backward
    pass: for a cotangent $\bar A$,
    $$\bar Y = (K + \lambda I)^{-1} \bar A, \qquad \bar K = -\operatorname{sym}(\bar Y
      A^\top), \qquad \bar\lambda = -\operatorname{tr}(\bar Y A^\top),$$
    the implicit-function-theorem gradient of $(K + \lambda I) A = Y$: the backward pass
    costs two triangular solves and never differentiates the factorisation. $K$ is assumed
    symmetric (its cotangent is symmetrised). A matrix that is not positive definite (e.g.
    $\lambda = 0$ with repeated points) raises through `eqx.error_if`.

    **Arguments:**

    - `K`: symmetric positive semi-definite kernel matrix, shape (n, n).
    - `Y`: right-hand sides, shape (n,) or (n, c).
    - `ridge`: $\lambda \ge 0$.

    **Returns:** $A$, the shape of `Y`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.gp import ridge_solve
        >>> K = jnp.array([[2.0, 1.0], [1.0, 2.0]])
        >>> [round(v, 6) for v in ridge_solve(K, jnp.array([1.0, 1.0]), ridge=1.0).tolist()]
        [0.25, 0.25]
        >>> g = jax.grad(lambda r: ridge_solve(K, jnp.array([1.0, 1.0]), ridge=r).sum())(1.0)
        >>> round(float(g), 6)  # d/dr 2 / (3 + r) at r = 1
        -0.125

    Rasmussen & Williams (2006), eq. 2.25 (the posterior mean with noise $\lambda$).
    """
    check_ndim("K", K, 2, "(n, n)")
    if K.shape[0] != K.shape[1]:
        raise ValueError(f"`K` must be square, got shape {K.shape}.")
    _check_targets("Y", Y, K.shape[0], "row of `K`")
    check_positive("ridge", ridge, allow_zero=True)
    Y = jnp.asarray(Y, K.dtype)
    return _ridge_solve(K, Y, jnp.asarray(ridge, K.dtype))


def krr_predict(
    k: KernelFn,
    X_support: Float[Array, "n d"],
    Y_support: Float[Array, "n ..."],
    X_query: Float[Array, "m d"],
    *,
    ridge: Float[ArrayLike, ""],
) -> Float[Array, "m ..."]:
    r"""Kernel ridge regression fitted on a support set and evaluated on query points.

    $$\hat f(X_q) = K_{qS}\,(K_{SS} + \lambda I)^{-1} Y_S,$$
    the [`gp_posterior`][jaxkern.gp.gp_posterior] mean with noise variance $\lambda$, for any
    kernel (an RBF, a deep kernel such as [`NNGP`][jaxkern.deep.NNGP], a partial of a kernel
    function). Differentiable in `X_support`, `Y_support`, `X_query`, `ridge` and the kernel's
    parameters; the solve is differentiated implicitly ([`ridge_solve`][jaxkern.gp.ridge_solve]).

    **Arguments:**

    - `k`: kernel on one pair of points.
    - `X_support`: support inputs, shape (n, d).
    - `Y_support`: support targets, shape (n,) or (n, c) (e.g. one-hot labels).
    - `X_query`: query inputs, shape (m, d).
    - `ridge`: $\lambda \ge 0$.

    **Returns:** predictions, shape (m,) or (m, c).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import krr_predict
        >>> X = jnp.array([[0.0], [1.0]])
        >>> [round(v, 3) for v in krr_predict(RBF(), X, jnp.array([1.0, -1.0]), X,
        ...                                   ridge=1e-6).tolist()]
        [1.0, -1.0]

    Saunders, Gammerman & Vovk, *Ridge Regression Learning Algorithm in Dual Variables*,
    ICML 1998.
    """
    check_ndim("X_support", X_support, 2, "(n, d)")
    check_ndim("X_query", X_query, 2, "(m, d)")
    if X_support.shape[1] != X_query.shape[1]:
        raise ValueError(f"`X_support` and `X_query` must have the same number of columns, got "
                         f"shapes {X_support.shape} and {X_query.shape}.")
    _check_targets("Y_support", Y_support, X_support.shape[0], "row of `X_support`")
    A = ridge_solve(gram(k, X_support), Y_support, ridge=ridge)
    return gram(k, X_query, X_support) @ A


def krr_loss(
    k: KernelFn,
    X_support: Float[Array, "n d"],
    Y_support: Float[Array, "n ..."],
    X_target: Float[Array, "m d"],
    Y_target: Float[Array, "m ..."],
    *,
    ridge: Float[ArrayLike, ""],
) -> Float[Array, ""]:
    r"""The KRR-head loss of dataset distillation: how well KRR on a support set fits a target.

    $$\mathcal L(X_S, Y_S) = \frac{1}{2m}\,\bigl\|Y_T - K_{TS}(K_{SS} + \lambda I)^{-1} Y_S
      \bigr\|_F^2 .$$
    With labels as $Y$ this is the KIP objective (Nguyen et al.); with $Y_T$ the
    representations of a target model and $k$ a kernel on a trained network's features it is
    the outer loss of KRR-ST (Lee et al.). Gradients with respect to the support set come from
    the adjoint of the solve.

    **Arguments:**

    - `k`: kernel on one pair of points.
    - `X_support`, `Y_support`: the support set, shapes (n, d) and (n,) or (n, c).
    - `X_target`, `Y_target`: the target set, shapes (m, d) and (m,) or (m, c).
    - `ridge`: $\lambda \ge 0$.

    **Returns:** the scalar loss.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import krr_loss
        >>> X = jnp.linspace(0, 3, 20)[:, None]
        >>> loss = lambda S: krr_loss(RBF(), S, jnp.sin(S[:, 0]), X, jnp.sin(X[:, 0]),
        ...                           ridge=1e-3)
        >>> S = jnp.array([[0.5], [2.5]])
        >>> bool(jnp.all(jnp.isfinite(jax.grad(loss)(S))))
        True

    Nguyen, Chen & Lee, *Dataset Meta-Learning from Kernel Ridge-Regression*, ICLR 2021;
    Lee et al., *Self-Supervised Dataset Distillation for Transfer Learning*, ICLR 2024.
    """
    check_ndim("X_target", X_target, 2, "(m, d)")
    _check_targets("Y_target", Y_target, X_target.shape[0], "row of `X_target`")
    if jnp.ndim(Y_target) != jnp.ndim(Y_support) or jnp.shape(Y_target)[1:] != jnp.shape(
            Y_support)[1:]:
        raise ValueError(f"`Y_target` and `Y_support` must have the same trailing shape, got "
                         f"{jnp.shape(Y_target)} and {jnp.shape(Y_support)}.")
    pred = krr_predict(k, X_support, Y_support, X_target, ridge=ridge)
    return 0.5 * jnp.mean(jnp.sum(jnp.reshape(pred - Y_target, (X_target.shape[0], -1)) ** 2,
                                  axis=1))
