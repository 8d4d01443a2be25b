r"""Ridge classification with exact leave-one-out selection of the penalty, all penalties at once.

Features are standardised, $\tilde F = (F - \mu)/\sigma$, labels become $\pm1$ targets $Y$ (one
column for two classes, one per class otherwise) and the intercept is left unpenalised. For the
hat matrix $H_\alpha$ of ridge regression with penalty $\alpha$, the leave-one-out residuals are

$$
e^{(-i)}_\alpha = \frac{[(I - H_\alpha) Y]_i}{1 - (H_\alpha)_{ii}},
$$

and one eigendecomposition gives them for every $\alpha$: of $\tilde F\tilde F^\top$ when
$n \le p$ (as scikit-learn's `RidgeClassifierCV` does), of $\tilde F^\top\tilde F$ otherwise.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int

from .._validation import check_ndim

#: The default penalties, as in the MiniRocket paper and aeon: 10 values from 1e-3 to 1e3.
DEFAULT_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 10))


class RidgeClassifierFit(NamedTuple):
    """A fitted ridge classifier: standardisation, weights and the penalty it chose."""

    #: (p,) feature means.
    mean: Float[Array, " p"]
    #: (p,) feature standard deviations (1 where a feature is constant).
    scale: Float[Array, " p"]
    #: (p, t) weights on standardised features; t = 1 for two classes, else the class count.
    weights: Float[Array, "p t"]
    #: (t,) intercepts.
    intercept: Float[Array, " t"]
    #: The chosen penalty.
    alpha: Float[Array, ""]
    #: (num_alphas,) mean squared leave-one-out error of every penalty.
    loo_errors: Float[Array, " num_alphas"]


def _targets(y, num_classes: int, dtype):
    Y = jnp.where(jax.nn.one_hot(y, num_classes, dtype=bool), 1.0, -1.0).astype(dtype)
    return Y[:, 1:] if num_classes == 2 else Y


def _standardise(F):
    mean = jnp.mean(F, axis=0)
    std = jnp.std(F, axis=0)
    eps = jnp.finfo(F.dtype).eps
    scale = jnp.where(std <= 10 * eps * jnp.maximum(jnp.abs(mean), 1), 1, std)
    return mean, scale, (F - mean[None]) / scale[None]


def ridge_classifier_fit(
    F: Float[Array, "n p"],
    y: Int[Array, " n"],
    *,
    num_classes: int,
    alphas=DEFAULT_ALPHAS,
) -> RidgeClassifierFit:
    r"""Fit a ridge classifier, choosing $\alpha$ by exact leave-one-out cross-validation.

    With $\tilde F = U\Lambda U^\top$-style eigendecompositions, the residual and the hat
    diagonal for every $\alpha$ come from one factorisation: for $n \le p$, $\tilde F\tilde
    F^\top = Q\,\mathrm{diag}(\lambda)Q^\top$ and, with $w_j = \alpha/(\lambda_j + \alpha)$
    (0 on the eigenvector of the constant vector, which the intercept absorbs),

    $$
    (I - H_\alpha)Y = Q\,\mathrm{diag}(w)\,Q^\top Y,\qquad
    1 - (H_\alpha)_{ii} = \textstyle\sum_j w_j Q_{ij}^2 ,
    $$

    so no $1 - h$ is formed by cancellation. The penalty with the smallest mean squared
    leave-one-out error wins (the first on ties), as in scikit-learn's `RidgeClassifierCV`.

    **Arguments:**

    - `F`: (n, p) features.
    - `y`: (n,) integer labels in `[0, num_classes)`.
    - `num_classes`: the number of classes (static), at least 2.
    - `alphas`: the penalties to choose from (positive).

    **Returns:**

    A [`RidgeClassifierFit`][jaxkern.timeseries.RidgeClassifierFit].

    **Example:**

    ```python
    >>> import jax.numpy as jnp
    >>> from jaxkern.timeseries import ridge_classifier_fit, ridge_classifier_predict
    >>> F = jnp.array([[0.0, 1.0], [0.2, 0.9], [1.0, 0.1], [0.9, 0.0]])
    >>> y = jnp.array([0, 0, 1, 1])
    >>> fit = ridge_classifier_fit(F, y, num_classes=2)
    >>> ridge_classifier_predict(fit, F).tolist()
    [0, 0, 1, 1]

    ```

    Dempster, Petitjean and Webb, "ROCKET", Data Min. Knowl. Disc. 2020 (the classifier);
    Golub, Heath and Wahba, "Generalized cross-validation", Technometrics 1979.
    """
    check_ndim("F", F, 2, "(n, p)")
    F = jnp.asarray(F)
    if not jnp.issubdtype(F.dtype, jnp.floating):
        F = F.astype(jnp.result_type(float))
    y = jnp.asarray(y)
    if y.shape != F.shape[:1] or not jnp.issubdtype(y.dtype, jnp.integer):
        raise ValueError(f"`y` must be integer labels of shape ({F.shape[0]},), got "
                         f"{y.dtype} of shape {y.shape}.")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"`num_classes` must be an int >= 2, got {num_classes!r}.")
    a = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if a.size == 0 or not np.all(a > 0):
        raise ValueError(f"`alphas` must be a non-empty list of positive penalties, "
                         f"got {alphas!r}.")
    if not isinstance(F, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(F))):
        raise ValueError("`F` has a NaN or infinite entry.")
    if not isinstance(y, jax.core.Tracer) and (int(y.min()) < 0 or int(y.max()) >= num_classes):
        raise ValueError(f"`y` must lie in [0, {num_classes}), got min {int(y.min())}, "
                         f"max {int(y.max())}.")
    return _fit(F, y, jnp.asarray(a, F.dtype), num_classes)


@partial(jax.jit, static_argnums=3)
def _fit(F, y, alphas, num_classes: int) -> RidgeClassifierFit:
    n, p = F.shape
    mean, scale, Z = _standardise(F)
    Y = _targets(y, num_classes, F.dtype)
    ybar = jnp.mean(Y, axis=0)
    if n <= p:
        lam, Q = jnp.linalg.eigh(Z @ Z.T)
        lam = jnp.maximum(lam, 0)
        # the eigenvector closest to the constant vector: the intercept's, left unpenalised
        ones = jnp.full((n,), 1 / np.sqrt(n), F.dtype)
        free = jnp.arange(n) != jnp.argmax(jnp.abs(ones @ Q))
        QtY = Q.T @ Y
        w = jnp.where(free, alphas[:, None] / (lam[None] + alphas[:, None]), 0)  # (A, n)
        resid = jnp.einsum("ij,aj,jt->ait", Q, w, QtY)
        diag = w @ (Q**2).T  # (A, n)
    else:
        Yc = Y - ybar[None]
        sig, V = jnp.linalg.eigh(Z.T @ Z)
        sig = jnp.maximum(sig, 0)
        U = Z @ V  # (n, p)
        UtY = U.T @ Yc
        g = 1 / (sig[None] + alphas[:, None])  # (A, p)
        resid = Yc[None] - jnp.einsum("ij,aj,jt->ait", U, g, UtY)
        diag = 1 - 1 / n - g @ (U**2).T
    errors = jnp.mean((resid / diag[:, :, None]) ** 2, axis=(1, 2))
    best = jnp.argmin(errors)
    alpha = alphas[best]
    if n <= p:
        dual = Q @ (jnp.where(free, 1 / (lam + alpha), 0)[:, None] * QtY)
        weights = Z.T @ dual
    else:
        weights = V @ ((1 / (sig + alpha))[:, None] * UtY)
    return RidgeClassifierFit(mean, scale, weights, ybar, alpha, errors)


def ridge_classifier_decision(fit: RidgeClassifierFit, F: Float[Array, "m p"]
                              ) -> Float[Array, "m t"]:
    """Scores $((F - \\mu)/\\sigma) W + b$: one column (> 0 means class 1) or one per class."""
    check_ndim("F", F, 2, "(m, p)")
    if F.shape[1] != fit.weights.shape[0]:
        raise ValueError(f"`F` has {F.shape[1]} features but the classifier was fitted on "
                         f"{fit.weights.shape[0]}.")
    return _decision(fit, jnp.asarray(F, fit.weights.dtype))


@jax.jit
def _decision(fit, F):
    return ((F - fit.mean[None]) / fit.scale[None]) @ fit.weights + fit.intercept[None]


def ridge_classifier_predict(fit: RidgeClassifierFit, F: Float[Array, "m p"]) -> Int[Array, " m"]:
    """Predicted labels in `[0, num_classes)` of a [`RidgeClassifierFit`][jaxkern.timeseries.
    RidgeClassifierFit]."""
    return _labels(ridge_classifier_decision(fit, F))


@jax.jit
def _labels(scores):
    if scores.shape[1] == 1:
        return (scores[:, 0] > 0).astype(jnp.int32)
    return jnp.argmax(scores, axis=1).astype(jnp.int32)
