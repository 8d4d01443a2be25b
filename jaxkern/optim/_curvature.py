r"""Curvature of a training loss: Hessian-, GGN- and Fisher-vector products, Hessian spectra.

For a loss $L(\theta)$ of any pytree of parameters $\theta$, every product here is matrix-free
and costs a small constant times one gradient:

- Hessian: $H v = \frac{d}{d\epsilon} \nabla L(\theta + \epsilon v)\big|_{\epsilon=0}$, a JVP
  of the gradient (forward-over-reverse; Pearlmutter 1994);
- generalised Gauss-Newton: $G v = J^\top \nabla_z^2 \ell(z)\, J v$ with $z = f(\theta)$ the
  model outputs and $J = \partial z/\partial\theta$: a JVP of $f$, a Hessian-vector product of
  the loss on the outputs, and a VJP of $f$;
- empirical Fisher: $F v = \frac{1}{n}\sum_i \nabla\ell_i\, (\nabla\ell_i^\top v)$: a JVP of
  the vector of per-example losses $s_i = \nabla\ell_i^\top v$ and one VJP with $s/n$ --
  no per-example gradient is ever stored.

The extremal eigenvalues and the spectral density of these operators come from the Lanczos
and stochastic Lanczos quadrature of [`jaxkern.linalg`][jaxkern.linalg.lanczos]; the batch-size
helper measures $\lambda_{\max}(H_B)/\lambda_{\max}(H)$, the quantity behind the learning-rate
scaling rules of Granziol, Zohren and Roberts, "Learning Rates as a Function of Batch Size: A
Random Matrix Theory Approach to Neural Network Training" (JMLR 2022).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_int
from ..linalg import lanczos_eigh

__all__ = [
    "BatchSizeScaling",
    "ScalingRule",
    "as_matvec",
    "batch_size_scaling",
    "fisher_vp",
    "fit_scaling_rule",
    "ggn_vp",
    "hvp",
    "top_eigenvalues",
]

PyTree = Any


def _check_tangent(params: PyTree, v: PyTree) -> None:
    ps, vs = jax.tree.structure(params), jax.tree.structure(v)
    if ps != vs:
        raise ValueError(f"`v` must have the structure of `params`: got {vs}, expected {ps}.")
    for p, t in zip(jax.tree.leaves(params), jax.tree.leaves(v)):
        if jnp.shape(p) != jnp.shape(t):
            raise ValueError(f"`v` must have the shapes of `params`: got a leaf of shape "
                             f"{jnp.shape(t)} where `params` has {jnp.shape(p)}.")


def _check_scalar(name: str, out) -> None:
    if jnp.shape(out) != ():
        raise ValueError(f"`{name}` must return a scalar, got shape {jnp.shape(out)}.")


def hvp(loss_fn: Callable[..., Array], params: PyTree, v: PyTree, *args: Any) -> PyTree:
    r"""Hessian-vector product $\nabla^2 L(\theta)\, v$ of a scalar loss, forward-over-reverse.

    $$ H v = \frac{d}{d\epsilon}\nabla_\theta L(\theta + \epsilon v, \ldots)\Big|_{\epsilon=0}. $$

    **Arguments:**

    - `loss_fn`: `loss_fn(params, *args) -> scalar`, e.g. the mean loss of a batch.
    - `params`: the parameters $\theta$, any pytree of arrays.
    - `v`: the direction, a pytree with the structure and shapes of `params`.
    - `*args`: passed to `loss_fn` (the data: full data set or a batch).

    **Returns:**

    $H v$, a pytree like `params`.

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.optim import hvp
    >>> loss = lambda p, a: jnp.sum(a * p["w"] ** 3)  # H = diag(6 a w)
    >>> hv = hvp(loss, {"w": jnp.array([1.0, 2.0])}, {"w": jnp.ones(2)}, jnp.array([1.0, 0.5]))
    >>> hv["w"].tolist()
    [6.0, 6.0]

    ```

    Paper: Pearlmutter, "Fast exact multiplication by the Hessian", Neural Computation 1994;
    used for batch Hessians in Granziol et al., JMLR 2022.
    """
    _check_tangent(params, v)
    _check_scalar("loss_fn", jax.eval_shape(loss_fn, params, *args))
    grad = lambda p: jax.grad(loss_fn)(p, *args)
    return jax.jvp(grad, (params,), (v,))[1]


def ggn_vp(
    model_fn: Callable[..., Any],
    output_loss: Callable[..., Array],
    params: PyTree,
    v: PyTree,
    inputs: Any,
    targets: Any,
) -> PyTree:
    r"""Generalised Gauss-Newton-vector product $J^\top \nabla_z^2\ell\, J v$.

    With outputs $z = f(\theta, x)$ and loss $L(\theta) = \ell(f(\theta, x), y)$, the GGN drops
    the term of $H$ that involves the second derivative of $f$:

    $$ G v = J^\top \big(\nabla_z^2 \ell(z, y)\big) J v, \qquad J = \partial z/\partial\theta. $$

    It is positive semi-definite whenever $\ell$ is convex in $z$ (cross-entropy, squared
    error), and for a softmax cross-entropy it equals the Fisher of the model's predictive
    distribution.

    **Arguments:**

    - `model_fn`: `model_fn(params, inputs) -> outputs` (any pytree of arrays).
    - `output_loss`: `output_loss(outputs, targets) -> scalar` (e.g. mean cross-entropy).
    - `params`, `v`: the parameters and the direction (same pytree structure).
    - `inputs`, `targets`: the data (full data set or a batch).

    **Returns:**

    $G v$, a pytree like `params`.

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.optim import ggn_vp
    >>> model = lambda p, x: x @ p            # linear model: GGN = Hessian = X^T X / n
    >>> mse = lambda z, y: 0.5 * jnp.mean((z - y) ** 2)
    >>> X = jnp.array([[1.0, 0.0], [1.0, 2.0]])
    >>> ggn_vp(model, mse, jnp.zeros(2), jnp.array([1.0, 0.0]), X, jnp.zeros(2)).tolist()
    [1.0, 1.0]

    ```

    Paper: Schraudolph, "Fast curvature matrix-vector products for second-order gradient
    descent", Neural Computation 2002; the GGN spectra of Granziol et al., JMLR 2022.
    """
    _check_tangent(params, v)
    z, Jv = jax.jvp(lambda p: model_fn(p, inputs), (params,), (v,))
    _check_scalar("output_loss", jax.eval_shape(output_loss, z, targets))
    HJv = jax.jvp(jax.grad(lambda z: output_loss(z, targets)), (z,), (Jv,))[1]
    _, pullback = jax.vjp(lambda p: model_fn(p, inputs), params)
    return pullback(HJv)[0]


def fisher_vp(
    per_example_loss: Callable[..., Array], params: PyTree, v: PyTree, *args: Any
) -> PyTree:
    r"""Empirical Fisher-vector product $\frac{1}{n}\sum_i \nabla\ell_i\,\nabla\ell_i^\top v$.

    The per-example directional derivatives $s = (\nabla\ell_i^\top v)_i$ are one JVP of the
    vector of losses, and $\frac{1}{n}\sum_i s_i \nabla\ell_i$ is one VJP with $s/n$: the cost
    of two gradients, with no per-example gradient held in memory. This is the matrix that
    M-FAC ([`jaxkern.linalg.mfac_static`][jaxkern.linalg.mfac_static]) inverts.

    **Arguments:**

    - `per_example_loss`: `per_example_loss(params, *args) -> (n,)`, one loss per example.
    - `params`, `v`: the parameters and the direction (same pytree structure).
    - `*args`: the data.

    **Returns:**

    $F v$, a pytree like `params`.

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.optim import fisher_vp
    >>> losses = lambda w, X: X @ w           # gradients are the rows of X
    >>> X = jnp.array([[1.0, 0.0], [1.0, 2.0]])
    >>> fisher_vp(losses, jnp.zeros(2), jnp.array([1.0, 0.0]), X).tolist()  # X^T X v / 2
    [1.0, 1.0]

    ```

    Paper: the empirical Fisher of M-FAC (Frantar et al., NeurIPS 2021).
    """
    _check_tangent(params, v)
    out = jax.eval_shape(per_example_loss, params, *args)
    if len(out.shape) != 1:
        raise ValueError("`per_example_loss` must return one loss per example, shape (n,), got "
                         f"shape {out.shape}.")
    f = lambda p: per_example_loss(p, *args)
    _, s = jax.jvp(f, (params,), (v,))
    _, pullback = jax.vjp(f, params)
    return pullback(s / out.shape[0])[0]


def as_matvec(
    product: Callable[[PyTree], PyTree], params: PyTree
) -> Callable[[Float[Array, " d"]], Float[Array, " d"]]:
    r"""A pytree product `v -> A v` as a flat `(d,) -> (d,)` operator for Lanczos and SLQ.

    **Arguments:**

    - `product`: a function of a direction pytree shaped like `params`, e.g.
      `lambda v: hvp(loss, params, v, X, y)`.
    - `params`: the parameters (fixes the pytree structure and the flat order, that of
      `jax.flatten_util.ravel_pytree`).

    **Returns:**

    `matvec(x)`, with `x` and the result of shape (d,), d the number of parameters.

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.optim import as_matvec, hvp
    >>> params = {"a": jnp.ones(2), "b": jnp.ones(())}
    >>> loss = lambda p: jnp.sum(p["a"] ** 2) + 3 * p["b"] ** 2  # H = diag(2, 2, 6)
    >>> as_matvec(lambda v: hvp(loss, params, v), params)(jnp.ones(3)).tolist()
    [2.0, 2.0, 6.0]

    ```
    """
    _, unravel = ravel_pytree(params)
    return lambda x: ravel_pytree(product(unravel(x)))[0]


def top_eigenvalues(
    matvec: Callable[[Float[Array, " d"]], Float[Array, " d"]],
    dim: int,
    *,
    k: int = 1,
    num_steps: int = 30,
    key: PRNGKeyArray,
    dtype=None,
) -> Float[Array, " k"]:
    r"""The `k` largest eigenvalues of a symmetric operator by Lanczos, largest first.

    Runs `num_steps` steps of (fully reorthogonalised) Lanczos from a random normal start
    vector and returns the top `k` Ritz values of the tridiagonal matrix; the extremal Ritz
    values converge first (Kaniel-Paige), so $k \ll$ `num_steps`.

    **Arguments:**

    - `matvec`: `(dim,) -> (dim,)`, symmetric (e.g. from [`as_matvec`][jaxkern.optim.as_matvec]).
    - `dim`: the dimension d.
    - `k`: how many eigenvalues; `num_steps`: Lanczos steps, `k <= num_steps <= dim`.
    - `key`: PRNG key of the start vector; `dtype`: its dtype (default float).

    **Returns:**

    The `k` largest Ritz values, shape (k,), in decreasing order.

    **Example:**

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxkern.optim import top_eigenvalues
    >>> A = jnp.diag(jnp.arange(1.0, 41.0))
    >>> top = top_eigenvalues(lambda x: A @ x, 40, k=2, num_steps=40, key=jax.random.key(0))
    >>> [round(float(t), 3) for t in top]
    [40.0, 39.0]

    ```

    Paper: Lanczos (1950); the extremal batch-Hessian eigenvalues of Granziol et al., JMLR 2022.
    """
    check_int("dim", dim, 1)
    check_int("k", k, 1)
    check_int("num_steps", num_steps, 1)
    if k > num_steps or num_steps > dim:
        raise ValueError(f"need `k` <= `num_steps` <= `dim`, got k={k}, num_steps={num_steps}, "
                         f"dim={dim}.")
    dtype = jnp.result_type(float) if dtype is None else dtype
    v0 = jax.random.normal(key, (dim,), dtype=dtype)
    ritz = lanczos_eigh(matvec, v0, num_steps=num_steps)
    return ritz.values[::-1][:k]


class ScalingRule(NamedTuple):
    r"""The fitted batch-size rule $\lambda_{\max}(H_B)/\lambda_{\max}(H) = 1 + a B^{-p}$."""

    coefficient: float
    """$a$."""
    exponent: float
    """$p$ ($p = 1$: the spiked-regime law of the paper; $p = 1/2$: the noise edge)."""

    def ratio(self, batch_size):
        """The fitted $\\lambda_{\\max}(H_B)/\\lambda_{\\max}(H)$ at `batch_size`."""
        return 1 + self.coefficient * np.asarray(batch_size, np.float64) ** -self.exponent

    def learning_rate(self, batch_size, full_batch_learning_rate: float):
        r"""The largest stable SGD step at `batch_size`: the full-batch one over the ratio
        (the curvature bound $\eta < 2/\lambda_{\max}$ applied to $H_B$)."""
        return full_batch_learning_rate / self.ratio(batch_size)


def fit_scaling_rule(batch_sizes: Sequence[int], ratios: Sequence[float]) -> ScalingRule:
    r"""Least-squares fit of $r(B) = 1 + a B^{-p}$ to mean ratios $r$ measured at sizes $B$.

    For each $p$ on a grid over $[0.05, 3]$ (step 0.005) the best $a \ge 0$ is linear least
    squares; the pair with the smallest squared error in $r$ wins. NumPy, on the host.

    **Arguments:**

    - `batch_sizes`: the sizes $B$; `ratios`: the mean $\lambda_{\max}(H_B)/\lambda_{\max}(H)$.

    **Returns:**

    A [`ScalingRule`][jaxkern.optim.ScalingRule].

    **Example:**

    ```python
    >>> from jaxkern.optim import fit_scaling_rule
    >>> rule = fit_scaling_rule([8, 32, 128], [1 + 4 / 8, 1 + 4 / 32, 1 + 4 / 128])
    >>> round(rule.coefficient, 3), round(rule.exponent, 3)
    (4.0, 1.0)

    ```

    Paper: Granziol, Zohren, Roberts, JMLR 2022 (batch Hessian outliers grow as $1/B$).
    """
    B = np.asarray(batch_sizes, np.float64)
    r = np.asarray(ratios, np.float64) - 1
    if B.ndim != 1 or B.shape != r.shape or B.size < 2:
        raise ValueError("`batch_sizes` and `ratios` must be 1-D of the same length >= 2, got "
                         f"shapes {B.shape} and {r.shape}.")
    if np.any(B <= 0) or not np.all(np.isfinite(r)):
        raise ValueError("`batch_sizes` must be positive and `ratios` finite.")
    best = (np.inf, 0.0, 1.0)
    for p in np.arange(0.05, 3.0 + 1e-9, 0.005):
        x = B ** -p
        a = max(float(x @ r / (x @ x)), 0.0)
        err = float(np.sum((a * x - r) ** 2))
        if err < best[0]:
            best = (err, a, float(p))
    return ScalingRule(coefficient=best[1], exponent=round(best[2], 6))


class BatchSizeScaling(NamedTuple):
    r"""What [`batch_size_scaling`][jaxkern.optim.batch_size_scaling] measured."""

    batch_sizes: np.ndarray
    """The batch sizes $B$, shape (s,)."""
    ratios: np.ndarray
    r"""$\lambda_{\max}(H_B)/\lambda_{\max}(H)$ for every random batch, shape (s, num_batches)."""
    mean: np.ndarray
    """Mean ratio per size, shape (s,)."""
    standard_error: np.ndarray
    """Standard error of each mean, shape (s,)."""
    lambda_max: float
    r"""$\lambda_{\max}(H)$ of the full-data Hessian."""
    rule: ScalingRule
    """The fitted $1 + a B^{-p}$."""


def batch_size_scaling(
    loss_fn: Callable[[PyTree, PyTree], Array],
    params: PyTree,
    data: PyTree,
    *,
    batch_sizes: Sequence[int],
    num_batches: int = 20,
    num_steps: int = 30,
    key: PRNGKeyArray,
) -> BatchSizeScaling:
    r"""Measure $\lambda_{\max}(H_B)/\lambda_{\max}(H)$ over batch sizes and fit the scaling rule.

    For each $B$, draws `num_batches` batches of $B$ distinct examples, computes the largest
    eigenvalue of each batch Hessian $H_B = \nabla^2 L_B(\theta)$ by Lanczos on Hessian-vector
    products (one compiled, vmapped call per size), divides by $\lambda_{\max}(H)$ of the full
    data, and fits $r(B) = 1 + a B^{-p}$ with
    [`fit_scaling_rule`][jaxkern.optim.fit_scaling_rule]. The largest stable SGD step scales as
    $1/\lambda_{\max}(H_B)$: linearly in $B$ where $a B^{-p} \gg 1$ (the paper's linear rule),
    and not at all once $H_B \approx H$.

    **Arguments:**

    - `loss_fn`: `loss_fn(params, batch) -> scalar`, the MEAN loss over the batch.
    - `params`: the parameters (any pytree).
    - `data`: the full data, a pytree of arrays sharing a leading axis of length n; batches
      are `jax.tree.map(lambda a: a[idx], data)`.
    - `batch_sizes`: the sizes $B$ (each $\le n$).
    - `num_batches`: random batches per size; `num_steps`: Lanczos steps per eigenvalue.
    - `key`: PRNG key (batches and Lanczos start vectors).

    **Returns:**

    A [`BatchSizeScaling`][jaxkern.optim.BatchSizeScaling] (NumPy arrays).

    **Example:**

    ```python
    >>> import jax, jax.numpy as jnp
    >>> from jaxkern.optim import batch_size_scaling
    >>> X = jax.random.normal(jax.random.key(0), (200, 5))
    >>> loss = lambda w, X: 0.5 * jnp.mean((X @ w) ** 2)  # H_B = X_B^T X_B / B
    >>> out = batch_size_scaling(loss, jnp.zeros(5), X, batch_sizes=[4, 50], num_steps=5,
    ...                          key=jax.random.key(1))
    >>> bool(out.mean[0] > out.mean[1] > 1.0)
    True

    ```

    Paper: Granziol, Zohren, Roberts, "Learning Rates as a Function of Batch Size: A Random
    Matrix Theory Approach to Neural Network Training", JMLR 2022.
    """
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("`data` must hold at least one array.")
    n = jnp.shape(leaves[0])[0] if jnp.ndim(leaves[0]) else 0
    if any(jnp.ndim(a) == 0 or jnp.shape(a)[0] != n for a in leaves):
        raise ValueError("every array of `data` must share the leading (example) axis, got "
                         f"shapes {[jnp.shape(a) for a in leaves]}.")
    check_int("num_batches", num_batches, 1)
    check_int("num_steps", num_steps, 1)
    sizes = list(batch_sizes)
    if not sizes:
        raise ValueError("`batch_sizes` must not be empty.")
    for B in sizes:
        check_int("batch_sizes", B, 1)
        if B > n:
            raise ValueError(f"`batch_sizes` must be <= the number of examples {n}, got {B}.")
    flat, _ = ravel_pytree(params)
    dim = flat.shape[0]
    steps = min(num_steps, dim)
    _check_scalar("loss_fn", jax.eval_shape(loss_fn, params, data))

    def lam_max(batch, k):
        mv = as_matvec(lambda v: hvp(loss_fn, params, v, batch), params)
        return top_eigenvalues(mv, dim, k=1, num_steps=steps, key=k, dtype=flat.dtype)[0]

    key_full, key = jax.random.split(key)
    full = float(jax.jit(lam_max)(data, key_full))

    @jax.jit
    def batch_ratios(idx, keys):
        batches = jax.tree.map(lambda a: a[idx], data)  # (num_batches, B, ...)
        return jax.vmap(lam_max)(batches, keys) / full

    ratios = []
    for B in sizes:
        key, k_idx, k_lan = jax.random.split(key, 3)
        idx = jax.vmap(lambda k: jax.random.choice(k, n, (B,), replace=False))(
            jax.random.split(k_idx, num_batches))
        ratios.append(np.asarray(batch_ratios(idx, jax.random.split(k_lan, num_batches))))
    R = np.stack(ratios).astype(np.float64)
    mean = R.mean(axis=1)
    se = R.std(axis=1, ddof=1) / np.sqrt(num_batches) if num_batches > 1 else np.zeros_like(mean)
    rule = fit_scaling_rule(sizes, mean) if len(sizes) >= 2 else ScalingRule(float("nan"),
                                                                             float("nan"))
    return BatchSizeScaling(batch_sizes=np.asarray(sizes), ratios=R, mean=mean,
                            standard_error=se, lambda_max=full, rule=rule)
