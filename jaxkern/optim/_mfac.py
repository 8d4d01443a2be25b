r"""The M-FAC optimiser as an optax transformation, and OBS one-shot pruning on M-FAC.

Both stand on the Woodbury products of [`jaxkern.linalg`][jaxkern.linalg.mfac_static]:

- the optimiser preconditions each gradient with the inverse damped empirical Fisher of the
  last $m$ gradients, $u_t = (\lambda I + G_t^\top G_t / m)^{-1} g_t$ (dynamic algorithm);
- pruning scores each weight by the Optimal Brain Surgeon saliency
  $\rho_j = w_j^2 / (2 [F^{-1}]_{jj})$, drops the lowest, and moves the kept weights by the
  OBS correction $\delta w = -F^{-1} \sum_{q \in Q} e_q\, w_q / [F^{-1}]_{qq}$ (static
  algorithm: $O(m)$ per diagonal entry, one $O(dm)$ product for the correction).

Frantar, Kurtic and Alistarh, "M-FAC: Efficient Matrix-Free Approximations of Second-Order
Information", NeurIPS 2021.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from jaxtyping import Array

from .._validation import check_int, check_positive
from ..linalg import (
    MFACDynamic,
    mfac_dynamic_init,
    mfac_dynamic_update_matvec,
    mfac_inverse_diag,
    mfac_static,
    mfac_static_matvec,
)

__all__ = [
    "PruneResult",
    "ScaleByMFACState",
    "magnitude_prune",
    "mfac",
    "obs_prune",
    "obs_scores",
    "scale_by_mfac",
]

PyTree = Any


class ScaleByMFACState(NamedTuple):
    """The optimiser state: the gradient window and its factorisation."""

    window: MFACDynamic


def scale_by_mfac(window: int = 64, *, damping: float = 1e-4) -> optax.GradientTransformation:
    r"""Precondition updates with the M-FAC inverse empirical Fisher of the last `window` ones.

    At each step the incoming update $g_t$ (flattened over the pytree) replaces the oldest
    gradient of the window $G$ and comes out as

    $$ u_t = \Big(\lambda I + \tfrac{1}{m} G^\top G\Big)^{-1} g_t, $$

    computed by the dynamic Woodbury algorithm in $O(dm + m^3)$ per step and $O(dm)$ memory.
    The window starts with zeros (so the first steps are close to $g_t/\lambda$ along new
    directions, as in the paper's optimiser). Chain it with the rest of optax, e.g.
    `optax.chain(scale_by_mfac(64, damping=1e-4), optax.scale(-lr))`, or use
    [`mfac`][jaxkern.optim.mfac].

    **Arguments:**

    - `window`: $m$, the number of past gradients kept.
    - `damping`: $\lambda > 0$.

    **Returns:**

    An `optax.GradientTransformation` whose state is a
    [`ScaleByMFACState`][jaxkern.optim.ScaleByMFACState]. A NaN or inf gradient raises
    inside jit (`eqx.error_if`).

    **Example:**

    ```python
    >>> import jax.numpy as jnp, optax
    >>> from jaxkern.optim import scale_by_mfac
    >>> opt = optax.chain(scale_by_mfac(4, damping=1.0), optax.scale(-0.5))
    >>> params = {"w": jnp.array([3.0, -1.0])}
    >>> state = opt.init(params)
    >>> grads = {"w": 2 * params["w"]}  # F = I + g g^T / 4, so F^{-1} g = g / (1 + |g|^2 / 4)
    >>> updates, state = opt.update(grads, state)
    >>> [round(float(u), 4) for u in updates["w"]]  # -0.5 * [6, -2] / 11
    [-0.2727, 0.0909]

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021), the M-FAC optimiser.
    """
    check_int("window", window, 1)
    check_positive("damping", damping)

    def init_fn(params):
        flat, _ = ravel_pytree(params)
        dtype = flat.dtype if jnp.issubdtype(flat.dtype, jnp.floating) else jnp.result_type(float)
        zeros = jnp.zeros((window, flat.shape[0]), dtype)
        return ScaleByMFACState(window=mfac_dynamic_init(zeros, damping=damping))

    def update_fn(updates, state, params=None):
        del params
        flat, unravel = ravel_pytree(updates)
        win, step = mfac_dynamic_update_matvec(state.window,
                                               flat.astype(state.window.grads.dtype))
        return unravel(step.astype(flat.dtype)), ScaleByMFACState(window=win)

    return optax.GradientTransformation(init_fn, update_fn)


def mfac(
    learning_rate: float | optax.Schedule,
    *,
    window: int = 64,
    damping: float = 1e-4,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> optax.GradientTransformation:
    r"""The M-FAC optimiser: weight decay, M-FAC preconditioning, momentum, step.

    $$ g_t \leftarrow g_t + \mu_{wd} \theta_t,\quad u_t = F_t^{-1} g_t,\quad
    v_t = \beta v_{t-1} + (1 - \beta) u_t,\quad \theta_{t+1} = \theta_t - \eta v_t, $$

    the update rule of the paper's optimiser (its momentum is an exponential average).

    **Arguments:**

    - `learning_rate`: $\eta$ (a float or an optax schedule).
    - `window`, `damping`: as in [`scale_by_mfac`][jaxkern.optim.scale_by_mfac].
    - `momentum`: $\beta \in [0, 1)$; `weight_decay`: $\mu_{wd} \ge 0$.

    **Returns:**

    An `optax.GradientTransformation`; pass it to [`minimize`][jaxkern.optim.minimize] or use
    it in your own loop.

    **Example:**

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxkern.optim import mfac, minimize
    >>> A = jnp.diag(jnp.array([100.0, 1.0]))  # badly conditioned quadratic
    >>> loss = lambda w: 0.5 * w @ A @ w
    >>> out = minimize(loss, jnp.ones(2), optimizer=mfac(0.5, window=4, damping=1e-2),
    ...                num_steps=50)
    >>> bool(out.losses[-1] < 0.7 * out.losses[0])
    True

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021).
    """
    check_positive("weight_decay", weight_decay, allow_zero=True)
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"`momentum` must lie in [0, 1), got {momentum!r}.")
    parts = []
    if weight_decay > 0:
        parts.append(optax.add_decayed_weights(weight_decay))
    parts.append(scale_by_mfac(window, damping=damping))
    if momentum > 0:
        parts.append(optax.ema(momentum, debias=False))
    parts.append(optax.scale_by_learning_rate(learning_rate))
    return optax.chain(*parts)


def _flat_grads(params: PyTree, grads: PyTree) -> Array:
    flat, _ = ravel_pytree(params)
    if jax.tree.structure(grads) != jax.tree.structure(params):
        raise ValueError("`grads` must be a pytree like `params` with a leading axis of m "
                         f"gradients, got structure {jax.tree.structure(grads)}.")
    leaves_g, leaves_p = jax.tree.leaves(grads), jax.tree.leaves(params)
    m = jnp.shape(leaves_g[0])[0] if jnp.ndim(leaves_g[0]) else None
    for g, p in zip(leaves_g, leaves_p):
        if m is None or jnp.shape(g) != (m, *jnp.shape(p)):
            raise ValueError("`grads` must stack m gradients along a new leading axis: got a "
                             f"leaf of shape {jnp.shape(g)} for a parameter of shape "
                             f"{jnp.shape(p)}.")
    return jax.vmap(lambda g: ravel_pytree(g)[0])(grads).astype(flat.dtype)


def obs_scores(params: PyTree, grads: PyTree, *, damping: float) -> PyTree:
    r"""OBS saliencies $\rho_j = w_j^2 / (2 [F^{-1}]_{jj})$ with the M-FAC inverse Fisher.

    $F = \lambda I + G^\top G / m$ from $m$ gradients (mini-batch gradients at `params`); the
    diagonal of $F^{-1}$ costs $O(dm^2)$ to set up and $O(m)$ per weight. $\rho_j$ is the
    increase of the quadratic model of the loss when weight $j$ is removed and the others
    are moved optimally.

    **Arguments:**

    - `params`: the weights $w$ (any pytree).
    - `grads`: $m$ gradients stacked on a leading axis (a pytree like `params`, each leaf of
      shape (m, *leaf.shape)), e.g. `jax.vmap(jax.grad(loss), (None, 0))(params, batches)`.
    - `damping`: $\lambda > 0$.

    **Returns:**

    $\rho$, a pytree like `params`.

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.optim import obs_scores
    >>> w = jnp.array([1.0, 1.0])
    >>> G = jnp.array([[2.0, 0.0], [0.0, 0.0]])  # curvature only along weight 0
    >>> [round(float(s), 3) for s in obs_scores(w, G, damping=1.0)]
    [1.5, 0.5]

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021); Hassibi & Stork, "Optimal Brain Surgeon", 1993.
    """
    flat, unravel = ravel_pytree(params)
    state = mfac_static(_flat_grads(params, grads), damping=damping)
    return unravel(flat**2 / (2 * mfac_inverse_diag(state)))


class PruneResult(NamedTuple):
    """Pruned parameters and the mask of the weights kept."""

    params: PyTree
    """The pruned parameters (the removed weights exactly zero)."""
    mask: PyTree
    """Boolean pytree like `params`: True where a weight is kept."""


def _keep_count(d: int, sparsity: float) -> int:
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"`sparsity` must lie in [0, 1), got {sparsity!r}.")
    return d - int(round(sparsity * d))


def obs_prune(
    params: PyTree,
    grads: PyTree,
    *,
    sparsity: float,
    damping: float,
    update: bool = True,
    mask: PyTree | None = None,
) -> PruneResult:
    r"""One-shot OBS pruning with the M-FAC inverse Fisher: drop the lowest saliencies.

    Drops the $\lfloor s d \rceil$ weights with the smallest
    $\rho_j = w_j^2 / (2[F^{-1}]_{jj})$ (already-pruned weights count towards it), and with
    `update` moves the kept weights by the OBS correction, summed over the dropped set $Q$ as
    in the paper's pruner:

    $$ \delta w = -F^{-1} \sum_{q\in Q} e_q \frac{w_q}{[F^{-1}]_{qq}}, \qquad
    w \leftarrow (w + \delta w) \odot \text{mask}. $$

    Several calls at increasing sparsity with fresh gradients (the paper's "recomputations")
    follow the loss more closely than one large step.

    **Arguments:**

    - `params`: the weights; `grads`: $m$ stacked gradients as in
      [`obs_scores`][jaxkern.optim.obs_scores].
    - `sparsity`: the fraction of all weights that is zero afterwards, in [0, 1).
    - `damping`: $\lambda > 0$; `update`: apply the OBS correction.
    - `mask`: weights already pruned (False) stay pruned; default none.

    **Returns:**

    A [`PruneResult`][jaxkern.optim.PruneResult].

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.optim import obs_prune
    >>> w = jnp.array([1.0, 1.0, 1.0])
    >>> G = jnp.array([[2.0, 2.0, 0.0], [0.0, 0.0, 1.0]])  # w0 and w1 act together
    >>> out = obs_prune(w, G, sparsity=1 / 3, damping=0.1)
    >>> out.mask.tolist(), [round(float(x), 2) for x in out.params]  # w1 takes over w0's part
    ([False, True, True], [0.0, 1.95, 1.0])

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021), one-shot pruning.
    """
    flat, unravel = ravel_pytree(params)
    d = flat.shape[0]
    keep = _keep_count(d, sparsity)
    state = mfac_static(_flat_grads(params, grads), damping=damping)
    diag = mfac_inverse_diag(state)
    score = flat**2 / (2 * diag)
    old = jnp.ones(d, bool) if mask is None else ravel_pytree(mask)[0].astype(bool)
    score = jnp.where(old, score, -jnp.inf)  # pruned weights go first
    order = jnp.argsort(score)
    kept = jnp.zeros(d, bool).at[order[d - keep:]].set(True)
    new = flat
    if update:
        u = jnp.where(kept, 0, -flat / diag)
        new = flat + mfac_static_matvec(state, u)
    new = jnp.where(kept, new, 0)
    return PruneResult(params=unravel(new), mask=unravel(kept))


def magnitude_prune(params: PyTree, *, sparsity: float) -> PruneResult:
    r"""The baseline: zero the fraction `sparsity` of weights with the smallest $|w_j|$.

    **Arguments:**

    - `params`: the weights; `sparsity`: the fraction zeroed, in [0, 1).

    **Returns:**

    A [`PruneResult`][jaxkern.optim.PruneResult].

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.optim import magnitude_prune
    >>> magnitude_prune(jnp.array([0.5, -2.0, 0.1, 1.0]), sparsity=0.5).params.tolist()
    [0.0, -2.0, 0.0, 1.0]

    ```
    """
    flat, unravel = ravel_pytree(params)
    d = flat.shape[0]
    keep = _keep_count(d, sparsity)
    order = jnp.argsort(jnp.abs(flat))
    kept = jnp.zeros(d, bool).at[order[d - keep:]].set(True)
    return PruneResult(params=unravel(jnp.where(kept, flat, 0)), mask=unravel(kept))
