r"""M-FAC: matrix-free inverse empirical-Fisher vector products by the Woodbury identity.

The damped empirical Fisher of $m$ gradients $g_1, \dots, g_m \in \mathbb{R}^d$ (the rows of
$G \in \mathbb{R}^{m \times d}$) is $F = \lambda I + \frac{1}{m} G^\top G$. Its inverse is never
formed: the Woodbury identity moves the solve into the $m \times m$ Gram matrix,

$$
F^{-1} v = \frac{1}{\lambda}\Big(v - G^\top (m\lambda I_m + G G^\top)^{-1} G v\Big),
$$

so with the Cholesky factor $L L^\top = m\lambda I_m + G G^\top$ a product costs two passes
over $G$ ($O(dm)$) and two triangular solves ($O(m^2)$).

- The **static** algorithm (pruning, a fixed set of gradients) precomputes
  $W = L^{-1} G$ in $O(dm^2)$, after which $F^{-1} = \frac{1}{\lambda}(I - W^\top W)$: a
  product is $O(dm)$ and any single entry $[F^{-1}]_{ij}$ is $O(m)$.
- The **dynamic** algorithm (optimisation, a sliding window of the last $m$ gradients) keeps
  $G$, $G G^\top$ and $L$: replacing the oldest gradient costs one pass over $G$ ($O(dm)$)
  and one $m \times m$ Cholesky ($O(m^3)$), a product $O(dm + m^2)$.

These are the costs of Frantar, Kurtic and Alistarh, "M-FAC: Efficient Matrix-Free
Approximations of Second-Order Information" (NeurIPS 2021). The paper builds the same
factorisation row by row (its recursion $v_i = H_{i-1}^{-1} g_i$, $H_i^{-1} = H_{i-1}^{-1} -
v_i v_i^\top / (m + g_i^\top v_i)$ is Gram-Schmidt on the rows of $G$, so
$v_i/\sqrt{m + g_i^\top v_i} = W_i/\sqrt{\lambda}$); here the $m \times m$ work is one
blocked Cholesky instead of $m$ dependent steps, which is what an accelerator wants.
"""

from __future__ import annotations

from typing import NamedTuple

import equinox as eqx
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._validation import check_ndim, check_positive, concrete_or_none

__all__ = [
    "MFACDynamic",
    "MFACStatic",
    "mfac_dynamic_init",
    "mfac_dynamic_matvec",
    "mfac_dynamic_update",
    "mfac_dynamic_update_matvec",
    "mfac_inverse_diag",
    "mfac_inverse_entry",
    "mfac_static",
    "mfac_static_matvec",
]


class MFACStatic(NamedTuple):
    r"""The static M-FAC factorisation $F^{-1} = \frac{1}{\lambda}(I - W^\top W)$."""

    basis: Float[Array, "m d"]
    r"""$W = L^{-1} G$ with $L L^\top = m\lambda I + G G^\top$."""
    damping: Float[Array, ""]
    r"""$\lambda$."""


class MFACDynamic(NamedTuple):
    r"""A sliding window of $m$ gradients and the factorisation of its damped Fisher."""

    grads: Float[Array, "m d"]
    """The window $G$, one gradient a row (slot order, not age order)."""
    gram: Float[Array, "m m"]
    r"""$G G^\top$."""
    cholesky: Float[Array, "m m"]
    r"""Lower $L$ with $L L^\top = m\lambda I + G G^\top$."""
    damping: Float[Array, ""]
    r"""$\lambda$."""
    next_slot: Int[Array, ""]
    """The slot the next gradient overwrites (the oldest one)."""


def _float_dtype(x) -> jnp.dtype:
    dtype = jnp.result_type(x)
    return dtype if jnp.issubdtype(dtype, jnp.inexact) else jnp.result_type(float)


def _finite(name: str, x: Array, throw: bool) -> Array:
    """``x`` after a NaN/inf check: a ``ValueError`` when concrete, ``eqx.error_if`` in jit."""
    arr = concrete_or_none(x)
    if arr is not None:
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"`{name}` contains NaN or inf (shape {arr.shape}).")
        return x
    if throw:
        return eqx.error_if(x, ~jnp.all(jnp.isfinite(x)), f"`{name}` contains NaN or inf.")
    return x


def _damping(damping, dtype) -> Array:
    if damping is None:
        raise ValueError("`damping` (lambda > 0) is required.")
    check_positive("damping", damping)
    if jnp.ndim(damping) != 0:
        raise ValueError(f"`damping` must be a scalar, got shape {jnp.shape(damping)}.")
    return jnp.asarray(damping, dtype=dtype)


def _check_grads(grads, name: str = "grads") -> Array:
    check_ndim(name, grads, 2, "(m, d): one gradient a row")
    if jnp.shape(grads)[0] < 1:
        raise ValueError(f"`{name}` must hold at least one gradient, got shape {jnp.shape(grads)}.")
    return jnp.asarray(grads, dtype=_float_dtype(grads))


def _check_vector(name: str, v, d: int, dtype) -> Array:
    if jnp.shape(v) != (d,):
        raise ValueError(f"`{name}` must have shape ({d},) (the gradient dimension), got shape "
                         f"{jnp.shape(v)}.")
    return jnp.asarray(v, dtype=dtype)


def _factor(gram: Array, damping: Array) -> Array:
    m = gram.shape[0]
    return jnp.linalg.cholesky(gram + (m * damping) * jnp.eye(m, dtype=gram.dtype))


def mfac_static(
    grads: Float[ArrayLike, "m d"], *, damping: float | Float[ArrayLike, ""], throw: bool = True
) -> MFACStatic:
    r"""Precompute the static M-FAC factorisation of $(\lambda I + G^\top G/m)^{-1}$ in $O(dm^2)$.

    With $L L^\top = m\lambda I + G G^\top$ and $W = L^{-1} G$,

    $$
    \Big(\lambda I + \tfrac{1}{m} G^\top G\Big)^{-1} = \frac{1}{\lambda}\big(I - W^\top W\big),
    $$

    after which [`mfac_static_matvec`][jaxkern.linalg.mfac_static_matvec] costs $O(dm)$ and
    [`mfac_inverse_entry`][jaxkern.linalg.mfac_inverse_entry] $O(m)$ per entry.

    **Arguments:**

    - `grads`: the $m$ gradients $G$, shape (m, d), one a row.
    - `damping`: $\lambda > 0$, keyword-only.
    - `throw`: inside `jax.jit`, check `grads` for NaN/inf with `eqx.error_if` (concrete
      inputs are always checked and raise `ValueError`).

    **Returns:**

    An [`MFACStatic`][jaxkern.linalg.MFACStatic] (`basis` $W$, `damping`).

    **Example:**

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxkern.linalg import mfac_static, mfac_static_matvec
    >>> G = jax.random.normal(jax.random.key(0), (8, 50))
    >>> state = mfac_static(G, damping=0.1)
    >>> v = jnp.ones(50)
    >>> F = 0.1 * jnp.eye(50) + G.T @ G / 8
    >>> bool(jnp.allclose(F @ mfac_static_matvec(state, v), v, atol=1e-3))
    True

    ```

    Paper: Frantar, Kurtic, Alistarh, "M-FAC: Efficient Matrix-Free Approximations of
    Second-Order Information", NeurIPS 2021 (static algorithm).
    """
    G = _finite("grads", _check_grads(grads), throw)
    lam = _damping(damping, G.dtype)
    L = _factor(G @ G.T, lam)
    W = jsl.solve_triangular(L, G, lower=True)
    return MFACStatic(basis=W, damping=lam)


def mfac_static_matvec(state: MFACStatic, v: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
    r"""$(\lambda I + G^\top G/m)^{-1} v = (v - W^\top W v)/\lambda$ in $O(dm)$.

    **Arguments:**

    - `state`: from [`mfac_static`][jaxkern.linalg.mfac_static].
    - `v`: the vector, shape (d,).

    **Returns:**

    $F^{-1} v$, shape (d,).

    **Example:**

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxkern.linalg import mfac_static, mfac_static_matvec
    >>> state = mfac_static(jnp.zeros((4, 3)), damping=0.5)  # no gradients: F = 0.5 I
    >>> mfac_static_matvec(state, jnp.array([1.0, 2.0, 3.0])).tolist()
    [2.0, 4.0, 6.0]

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021).
    """
    W = state.basis
    v = _check_vector("v", v, W.shape[1], W.dtype)
    return (v - W.T @ (W @ v)) / state.damping


def mfac_inverse_entry(
    state: MFACStatic, i: Int[ArrayLike, "..."], j: Int[ArrayLike, "..."] | None = None
) -> Float[Array, "..."]:
    r"""Single entries $[F^{-1}]_{ij} = (\delta_{ij} - W_{:,i}^\top W_{:,j})/\lambda$, $O(m)$ each.

    **Arguments:**

    - `state`: from [`mfac_static`][jaxkern.linalg.mfac_static].
    - `i`: row indices (int or int array).
    - `j`: column indices broadcasting with `i`; `None` gives the diagonal entries $(i, i)$.

    **Returns:**

    The entries, shape `broadcast(i, j)`.

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.linalg import mfac_static, mfac_inverse_entry
    >>> G = jnp.array([[1.0, 0.0], [0.0, 2.0]])  # F = 0.5 I + diag(1, 4) / 2
    >>> entries = mfac_inverse_entry(mfac_static(G, damping=0.5), jnp.array([0, 1]))
    >>> [round(float(e), 5) for e in entries]
    [1.0, 0.4]

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021), $O(m)$ element queries of the static algorithm.
    """
    W = state.basis
    d = W.shape[1]
    for name, idx in (("i", i), ("j", j)):
        if idx is None:
            continue
        if not jnp.issubdtype(jnp.result_type(idx), jnp.integer):
            raise ValueError(f"`{name}` must be integer indices, got dtype {jnp.result_type(idx)}.")
        arr = concrete_or_none(idx)
        if arr is not None and np.any((arr < 0) | (arr >= d)):
            raise ValueError(f"`{name}` must lie in [0, {d}), got {idx!r}.")
    i = jnp.asarray(i)
    j = i if j is None else jnp.asarray(j)
    i, j = jnp.broadcast_arrays(i, j)
    delta = (i == j).astype(W.dtype)
    return (delta - jnp.sum(W[:, i] * W[:, j], axis=0)) / state.damping


def mfac_inverse_diag(state: MFACStatic) -> Float[Array, " d"]:
    r"""The whole diagonal of $F^{-1}$, $(1 - \sum_k W_{k,:}^2)/\lambda$, in $O(dm)$.

    **Arguments:**

    - `state`: from [`mfac_static`][jaxkern.linalg.mfac_static].

    **Returns:**

    $\operatorname{diag} F^{-1}$, shape (d,).

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.linalg import mfac_static, mfac_inverse_diag
    >>> G = jnp.array([[1.0, 0.0], [0.0, 2.0]])
    >>> [round(float(e), 5) for e in mfac_inverse_diag(mfac_static(G, damping=0.5))]
    [1.0, 0.4]

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021).
    """
    W = state.basis
    return (1 - jnp.sum(W * W, axis=0)) / state.damping


def mfac_dynamic_init(
    grads: Float[ArrayLike, "n d"],
    *,
    damping: float | Float[ArrayLike, ""],
    window: int | None = None,
    throw: bool = True,
) -> MFACDynamic:
    r"""Start a sliding window of the last `window` gradients of `grads` and factor its Fisher.

    The window holds $m$ = `window` gradients; the damped empirical Fisher is always
    $\lambda I + G^\top G / m$ with this fixed $m$ (as in the paper's optimiser, which starts
    from a window of zeros: pass `jnp.zeros((m, d))` to start empty). Set-up costs
    $O(dm^2 + m^3)$.

    **Arguments:**

    - `grads`: shape (n, d), oldest first; the last `window` rows start the window.
    - `damping`: $\lambda > 0$, keyword-only.
    - `window`: $m \le n$; default $n$.
    - `throw`: inside `jax.jit`, check `grads` for NaN/inf with `eqx.error_if`.

    **Returns:**

    An [`MFACDynamic`][jaxkern.linalg.MFACDynamic] whose `next_slot` is the oldest gradient.

    **Example:**

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxkern.linalg import mfac_dynamic_init, mfac_dynamic_update, mfac_dynamic_matvec
    >>> state = mfac_dynamic_init(jnp.zeros((4, 10)), damping=1.0)  # an empty window of 4
    >>> for g in jax.random.normal(jax.random.key(0), (6, 10)):  # the first two are evicted
    ...     state = mfac_dynamic_update(state, g)
    >>> mfac_dynamic_matvec(state, jnp.ones(10)).shape
    (10,)

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021), dynamic algorithm.
    """
    G = _check_grads(grads)
    n = G.shape[0]
    if window is not None:
        if not isinstance(window, int) or isinstance(window, bool) or window < 1:
            raise ValueError(f"`window` must be an int >= 1, got {window!r}.")
        if window > n:
            raise ValueError(
                f"`window` ({window}) is larger than the number of gradients in `grads` ({n}); "
                f"pass at least {window} rows (jnp.zeros((window, d)) starts an empty window)."
            )
        G = G[n - window:]
    G = _finite("grads", G, throw)
    lam = _damping(damping, G.dtype)
    gram = G @ G.T
    return MFACDynamic(grads=G, gram=gram, cholesky=_factor(gram, lam), damping=lam,
                       next_slot=jnp.zeros((), jnp.int32))


def mfac_dynamic_update(
    state: MFACDynamic, grad: Float[ArrayLike, " d"], *, throw: bool = True
) -> MFACDynamic:
    r"""Replace the oldest gradient of the window with `grad`, in $O(dm + m^3)$.

    One pass over the window gives the new row and column $G g$ of $G G^\top$, then the
    $m \times m$ matrix $m\lambda I + G G^\top$ is factored again.

    **Arguments:**

    - `state`: the window, from [`mfac_dynamic_init`][jaxkern.linalg.mfac_dynamic_init] or an
      earlier update.
    - `grad`: the new gradient, shape (d,).
    - `throw`: inside `jax.jit`, check `grad` for NaN/inf with `eqx.error_if` (a concrete
      `grad` is always checked and raises `ValueError`).

    **Returns:**

    The updated [`MFACDynamic`][jaxkern.linalg.MFACDynamic].

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.linalg import mfac_dynamic_init, mfac_dynamic_update
    >>> state = mfac_dynamic_init(jnp.eye(3, 5), damping=1.0)
    >>> state = mfac_dynamic_update(state, jnp.ones(5))  # evicts the first row
    >>> state.grads[0].tolist(), int(state.next_slot)
    ([1.0, 1.0, 1.0, 1.0, 1.0], 1)

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021), dynamic algorithm.
    """
    G = state.grads
    m, d = G.shape
    g = _finite("grad", _check_vector("grad", grad, d, G.dtype), throw)
    slot = state.next_slot
    G = G.at[slot].set(g)
    row = G @ g
    gram = state.gram.at[slot, :].set(row).at[:, slot].set(row)
    return MFACDynamic(grads=G, gram=gram, cholesky=_factor(gram, state.damping),
                       damping=state.damping, next_slot=(slot + 1) % m)


def _dynamic_apply(state: MFACDynamic, v: Array, Gv: Array) -> Array:
    c = jsl.cho_solve((state.cholesky, True), Gv)
    return (v - state.grads.T @ c) / state.damping


def mfac_dynamic_matvec(state: MFACDynamic, v: Float[ArrayLike, " d"]) -> Float[Array, " d"]:
    r"""$(\lambda I + G^\top G/m)^{-1} v$ for the current window, in $O(dm + m^2)$.

    $$
    F^{-1} v = \frac{1}{\lambda}\Big(v - G^\top L^{-\top} L^{-1} G v\Big).
    $$

    **Arguments:**

    - `state`: the window ([`MFACDynamic`][jaxkern.linalg.MFACDynamic]).
    - `v`: the vector, shape (d,).

    **Returns:**

    $F^{-1} v$, shape (d,).

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.linalg import mfac_dynamic_init, mfac_dynamic_matvec
    >>> state = mfac_dynamic_init(jnp.array([[2.0, 0.0]]), damping=1.0)  # F = I + diag(4, 0)
    >>> mfac_dynamic_matvec(state, jnp.array([5.0, 1.0])).tolist()
    [1.0, 1.0]

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021), dynamic algorithm.
    """
    G = state.grads
    v = _check_vector("v", v, G.shape[1], G.dtype)
    return _dynamic_apply(state, v, G @ v)


def mfac_dynamic_update_matvec(
    state: MFACDynamic, grad: Float[ArrayLike, " d"], *, throw: bool = True
) -> tuple[MFACDynamic, Float[Array, " d"]]:
    r"""Replace the oldest gradient with `grad` and return $F^{-1} g$ for the new window.

    The optimiser's step (the paper's ``update_mul``): the pass $G g$ of
    [`mfac_dynamic_update`][jaxkern.linalg.mfac_dynamic_update] is reused by the product, so
    the step costs one pass over $G$ fewer than an update followed by
    [`mfac_dynamic_matvec`][jaxkern.linalg.mfac_dynamic_matvec].

    **Arguments:**

    - `state`: the window; `grad`: the new gradient, shape (d,); `throw` as in
      [`mfac_dynamic_update`][jaxkern.linalg.mfac_dynamic_update].

    **Returns:**

    `(state, F^{-1} grad)`: the updated window and the product, shape (d,).

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.linalg import mfac_dynamic_init, mfac_dynamic_update_matvec
    >>> state = mfac_dynamic_init(jnp.zeros((1, 2)), damping=1.0)
    >>> state, step = mfac_dynamic_update_matvec(state, jnp.array([2.0, 0.0]))  # F = I + gg^T
    >>> [round(float(s), 5) for s in step]
    [0.4, 0.0]

    ```

    Paper: M-FAC (Frantar et al., NeurIPS 2021), dynamic algorithm.
    """
    new = mfac_dynamic_update(state, grad, throw=throw)
    g = jnp.asarray(grad, dtype=new.grads.dtype)
    return new, _dynamic_apply(new, g, new.gram[state.next_slot])
