r"""Bayesian quadrature: weights and posterior variance from closed-form kernel means."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl
from jaxtyping import Array, ArrayLike, Float

from .._marginals import Marginals
from .._validation import as_float, check_finite, check_length
from ..kernels import gram
from ..linalg import jittered_cholesky
from ._embeddings import initial_variance, kernel_mean


class QuadratureRule(NamedTuple):
    """Bayesian-quadrature weights and the posterior variance of the integral they give.

    **Fields:** `weights` $w$, shape (n,), so that $\\mathbb E[\\int f\\, d\\mu] = w^\\top f(X)$;
    `variance`, the posterior variance $v_0 - z^\\top w$ of the integral (the same meaning as
    [`Marginals`][jaxkern.Marginals]' `variance`).
    """

    weights: Float[Array, " n"]
    variance: Float[Array, ""]


#: Deprecated alias of [`Marginals`][jaxkern.Marginals] (the same class, so no warning):
#: [`bayesian_quadrature`][jaxkern.quadrature.bayesian_quadrature] returns a `Marginals`.
Integral = Marginals


def _as_points(nodes) -> Array:
    nodes = as_float(nodes)
    check_finite("nodes", nodes)
    if nodes.ndim == 1:
        nodes = nodes[:, None]
    if nodes.ndim != 2:
        raise ValueError(f"`nodes` must have shape (n,) or (n, d), got shape {nodes.shape}.")
    if nodes.shape[0] < 2:
        raise ValueError(f"`nodes` must hold at least 2 points, got shape {nodes.shape}.")
    return nodes


def bq_weights(
    kernel, nodes: Float[ArrayLike, "n ..."], measure, *, jitter: float | None = None
) -> QuadratureRule:
    r"""Bayesian-quadrature weights for a kernel, nodes and measure.

    With a GP prior $f \sim \mathcal{GP}(0, k)$ observed at nodes $X$, the integral
    $\int f\, d\mu$ is Gaussian with
    $$\mathbb E = w^\top f(X), \quad w = (K + \epsilon I)^{-1} z, \qquad
      \mathbb V = v_0 - z^\top w,$$
    where $K = k(X, X)$, $z_i = \int k(x_i, t)\, d\mu(t)$
    ([`kernel_mean`][jaxkern.quadrature.kernel_mean]) and $v_0 = \iint k\, d\mu\, d\mu$
    ([`initial_variance`][jaxkern.quadrature.initial_variance]). These weights minimise the
    worst-case error over the unit ball of $k$'s RKHS. The variance is clipped at 0 against
    round-off. Jit- and vmap-able (build the measure inside the mapped function to batch
    over intervals) and differentiable in the hyperparameters.

    **Arguments:**

    - `kernel`: a kernel module whose terms have closed-form means, e.g. `RBF()`,
      `2.0 * RBF()` or `RBF() + Matern32()` (see
      [`kernel_mean`][jaxkern.quadrature.kernel_mean]).
    - `nodes`: shape (n, d), or (n,) for an interval; $n \ge 2$.
    - `measure`: a [`LebesgueMeasure`][jaxkern.quadrature.LebesgueMeasure] or
      [`GaussianMeasure`][jaxkern.quadrature.GaussianMeasure].
    - `jitter`: $\epsilon$, absolute (added to the diagonal as is); defaults to
      `jaxkern.linalg.default_jitter` of the dtype.

    **Returns:** a [`QuadratureRule`][jaxkern.quadrature.QuadratureRule].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Matern12
        >>> from jaxkern.quadrature import LebesgueMeasure, bq_weights
        >>> rule = bq_weights(Matern12(), jnp.linspace(0.0, 1.0, 5), LebesgueMeasure(0.0, 1.0))
        >>> round(float(rule.weights.sum()), 4)
        0.9948

    O'Hagan, *Bayes–Hermite quadrature*, J. Statist. Plann. Inference 29 (1991); Briol et al.,
    *Probabilistic integration*, Statist. Sci. 34 (2019).
    """
    nodes = _as_points(nodes)
    if nodes.shape[1] != measure.dim:
        raise ValueError(
            f"`nodes` must have the measure's dimension {measure.dim}, got shape {nodes.shape}."
        )
    z = jax.vmap(lambda x: kernel_mean(kernel, x, measure))(nodes)
    L = jittered_cholesky(gram(kernel, nodes), jitter=jitter)
    weights = jsl.cho_solve((L, True), z)
    variance = jnp.maximum(initial_variance(kernel, measure) - z @ weights, 0)
    return QuadratureRule(weights, variance)


def bayesian_quadrature(
    values: Float[ArrayLike, "n ..."],
    nodes: Float[ArrayLike, "n ..."],
    kernel,
    measure,
    *,
    jitter: float | None = None,
) -> Marginals:
    r"""The Bayesian-quadrature posterior of $\int f\, d\mu$ from values $f(x_i)$ at the nodes.

    $\mathbb E = w^\top f(X)$ and $\mathbb V = v_0 - z^\top w$ with the weights of
    [`bq_weights`][jaxkern.quadrature.bq_weights]. For a Matérn-$\nu$ kernel and evenly spaced
    nodes on an interval the error of the mean falls as $O(n^{-(\nu + 1/2)})$ for integrands in
    the kernel's Sobolev space.

    **Arguments:**

    - `values`: $f(x_i)$, shape (n,) or (n, ...) for several integrands at once.
    - `nodes`, `kernel`, `measure`, `jitter`: as in [`bq_weights`][jaxkern.quadrature.bq_weights].

    **Returns:** [`Marginals`][jaxkern.Marginals] with the posterior mean (shape
    `values.shape[1:]`) and variance.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Matern72
        >>> from jaxkern.quadrature import LebesgueMeasure, bayesian_quadrature
        >>> t = jnp.linspace(0.0, 1.0, 9)
        >>> F = bayesian_quadrature(jnp.exp(t), t, Matern72(0.5), LebesgueMeasure(0.0, 1.0))
        >>> round(float(F.mean), 3)  # e - 1 = 1.71828...
        1.719

    Briol et al., *Probabilistic integration*, Statist. Sci. 34 (2019); Cao & Pan, *Impact of
    computation in integral reinforcement learning for continuous-time control*, ICLR 2024.
    """
    values = as_float(values)
    nodes = _as_points(nodes)
    if values.ndim < 1:
        raise ValueError(f"`values` must have shape (n, ...), got shape {values.shape}.")
    check_length("values", values, nodes.shape[0], "one value per node")
    rule = bq_weights(kernel, nodes, measure, jitter=jitter)
    return Marginals(jnp.tensordot(rule.weights, values, axes=1), rule.variance)
