r"""Kernel inducing points (KIP): distil a dataset into a few learned points for a wide network.

A support set $(X_S, Y_S)$ is learned so that kernel ridge regression on it with the NNGP or
NTK of a network predicts a large target set: dataset distillation with a closed-form inner
problem, differentiated through the solve implicitly.
"""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int, check_ndim, check_positive
from ..gp import ridge_solve
from ..optim import minimize
from ._closed_form import nngp_ntk_gram


class KIPResult(NamedTuple):
    """What [`kip`][jaxkern.deep.kip] returns."""

    support: Array
    """The learned support inputs, shape (n, d)."""
    labels: Array
    """The learned (or fixed) support labels, shape (n, c)."""
    losses: np.ndarray
    """The KIP loss before each step, as NumPy."""
    num_steps: int
    """Steps taken."""
    converged: bool
    """Whether the fit stopped early (see `message`)."""
    message: str
    """Why the fit stopped."""


def _kernel(which: str):
    if which not in ("nngp", "ntk"):
        raise ValueError(f"`kernel` must be 'nngp' or 'ntk', got {which!r}.")
    return which


def kip_loss(
    X_support: Float[Array, "n d"],
    Y_support: Float[Array, "n c"],
    X_target: Float[Array, "m d"],
    Y_target: Float[Array, "m c"],
    *,
    ridge: Float[ArrayLike, ""] = 1e-6,
    kernel: str = "nngp",
    depth: int = 3,
    activation: str = "relu",
    W_std: Float[ArrayLike, ""] = 1.0,
    b_std: Float[ArrayLike, ""] = 0.0,
) -> Float[Array, ""]:
    r"""The KIP loss: KRR with an infinite network's kernel, fitted on the support set, scored
    on the target set.

    $$\mathcal L = \frac{1}{2m}\bigl\|Y_T - K_{TS}\bigl(K_{SS} + \lambda
      \tfrac{\operatorname{tr} K_{SS}}{n} I\bigr)^{-1} Y_S\bigr\|_F^2,$$
    with $K$ the NNGP or NTK of [`nngp_ntk_gram`][jaxkern.deep.nngp_ntk_gram] (the ridge is
    relative to the mean diagonal, as in the KIP paper, so it does not depend on the kernel's
    scale). The solve is differentiated by its adjoint ([`ridge_solve`][jaxkern.gp.ridge_solve])
    and the ReLU kernels keep finite gradients where a support point meets itself.

    **Arguments:**

    - `X_support`, `Y_support`: support inputs (n, d) and labels (n, c).
    - `X_target`, `Y_target`: target inputs (m, d) and labels (m, c).
    - `ridge`: $\lambda > 0$, relative to $\operatorname{tr}K_{SS}/n$.
    - `kernel`: `"nngp"` or `"ntk"`.
    - `depth`, `activation`, `W_std`, `b_std`: the network, as in
      [`nngp_ntk`][jaxkern.deep.nngp_ntk].

    **Returns:** the scalar loss.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import kip_loss
        >>> X = jax.random.normal(jax.random.key(0), (20, 5))
        >>> Y = jax.nn.one_hot(jnp.arange(20) % 2, 2)
        >>> g = jax.grad(kip_loss)(X[:2], Y[:2], X, Y)
        >>> g.shape, bool(jnp.all(jnp.isfinite(g)))
        ((2, 5), True)

    Nguyen, Chen & Lee, *Dataset Meta-Learning from Kernel Ridge-Regression*, ICLR 2021.
    """
    check_ndim("X_support", X_support, 2, "(n, d)")
    check_ndim("Y_support", Y_support, 2, "(n, c)")
    check_ndim("X_target", X_target, 2, "(m, d)")
    check_ndim("Y_target", Y_target, 2, "(m, c)")
    if Y_support.shape[0] != X_support.shape[0]:
        raise ValueError(f"`Y_support` must have one row per row of `X_support` "
                         f"({X_support.shape[0]}), got shape {Y_support.shape}.")
    if Y_target.shape[0] != X_target.shape[0]:
        raise ValueError(f"`Y_target` must have one row per row of `X_target` "
                         f"({X_target.shape[0]}), got shape {Y_target.shape}.")
    if Y_target.shape[1] != Y_support.shape[1]:
        raise ValueError(f"`Y_target` and `Y_support` must have the same number of columns, "
                         f"got shapes {Y_target.shape} and {Y_support.shape}.")
    check_positive("ridge", ridge)
    field = _kernel(kernel)
    net = dict(depth=depth, activation=activation, W_std=W_std, b_std=b_std)
    K_ss = getattr(nngp_ntk_gram(X_support, **net), field)
    K_ts = getattr(nngp_ntk_gram(X_target, X_support, **net), field)
    scale = jnp.trace(K_ss) / K_ss.shape[0]
    A = ridge_solve(K_ss, Y_support, ridge=ridge * scale)
    return 0.5 * jnp.mean(jnp.sum((K_ts @ A - Y_target) ** 2, axis=1))


def kip(
    X_support: Float[Array, "n d"],
    Y_support: Float[Array, "n c"],
    X_target: Float[Array, "m d"],
    Y_target: Float[Array, "m c"],
    *,
    num_steps: int,
    learning_rate: float = 0.01,
    learn_labels: bool = True,
    ridge: Float[ArrayLike, ""] = 1e-6,
    kernel: str = "nngp",
    depth: int = 3,
    activation: str = "relu",
    W_std: Float[ArrayLike, ""] = 1.0,
    b_std: Float[ArrayLike, ""] = 0.0,
    chunk_size: int = 50,
    progress: bool = False,
) -> KIPResult:
    r"""Learn a support set (and its labels) by Adam on the [`kip_loss`][jaxkern.deep.kip_loss].

    Starting from `X_support`, `Y_support` (typically a few real examples per class and their
    one-hot labels), Adam moves the support inputs and, with `learn_labels`, the labels, so
    that KRR on the support set with the network's kernel predicts the whole target set. Runs
    on [`minimize`][jaxkern.optim.minimize] in compiled chunks.

    **Arguments:**

    - `X_support`, `Y_support`: the initial support set, shapes (n, d) and (n, c).
    - `X_target`, `Y_target`: the data to distil, shapes (m, d) and (m, c).
    - `num_steps`: Adam steps.
    - `learning_rate`: Adam's step size.
    - `learn_labels`: learn the support labels too (else they stay fixed).
    - `ridge`, `kernel`, `depth`, `activation`, `W_std`, `b_std`: as in
      [`kip_loss`][jaxkern.deep.kip_loss].
    - `chunk_size`: steps per compiled chunk; `progress`: print a progress line.

    **Returns:** a [`KIPResult`][jaxkern.deep.KIPResult].

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import kip, kip_loss
        >>> X = jax.random.normal(jax.random.key(0), (40, 5))
        >>> Y = jax.nn.one_hot((X[:, 0] > 0).astype(int), 2)
        >>> result = kip(X[:2], Y[:2], X, Y, num_steps=20)
        >>> bool(result.losses[-1] < result.losses[0])
        True

    Nguyen, Chen & Lee, *Dataset Meta-Learning from Kernel Ridge-Regression*, ICLR 2021.
    """
    check_int("num_steps", num_steps, 0)
    check_positive("learning_rate", learning_rate)
    net = dict(ridge=ridge, kernel=kernel, depth=depth, activation=activation, W_std=W_std,
               b_std=b_std)
    kip_loss(X_support, Y_support, X_target, Y_target, **net)  # every check, before compiling

    if learn_labels:
        def loss(params):
            return kip_loss(params[0], params[1], X_target, Y_target, **net)
        params = (X_support, Y_support)
    else:
        def loss(params):
            return kip_loss(params[0], Y_support, X_target, Y_target, **net)
        params = (X_support,)
    result = minimize(loss, params, optimizer=optax.adam(learning_rate), num_steps=num_steps,
                      chunk_size=chunk_size, progress=progress, description="kip")
    labels = result.params[1] if learn_labels else Y_support
    return KIPResult(result.params[0], labels, result.losses, result.num_steps,
                     result.converged, result.message)
