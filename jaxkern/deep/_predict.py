"""Predictions of the infinite-width network trained by gradient flow on the squared error."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._marginals import Marginals
from .._validation import check_length, check_ndim, check_positive
from ._closed_form import NNGPNTK

#: Deprecated name of [`Marginals`][jaxkern.Marginals] (the same class).
Prediction = Marginals


def ntk_predict(
    k_train: NNGPNTK,
    k_test_train: NNGPNTK,
    k_test_diag: Float[Array, " m"],
    y_train: Float[Array, " n *o"],
    *,
    t: Float[ArrayLike, ""] | None = None,
    learning_rate: Float[ArrayLike, ""] = 1.0,
    diag_reg: Float[ArrayLike, ""] = 0.0,
) -> Marginals:
    r"""Mean and variance over initialisations of an infinitely wide network after gradient flow.

    Training $\tfrac12 \sum_i \|f(x_i) - y_i\|^2$ by gradient flow with rate $\eta$ keeps
    the network linear in its parameters at infinite width, so with $\Theta = \Theta(X, X) +
    \lambda I$, $\Theta_* = \Theta(X_*, X)$, $K$, $K_*$ the NNGP blocks and
    $A_t = \Theta_* \Theta^{-1}(I - e^{-\eta\Theta t})$,
    $$\mu_t = A_t\, y, \qquad \sigma_t^2 = k_{**} - 2\,\mathrm{diag}(A_t K_*^\top)
      + \mathrm{diag}(A_t K A_t^\top)$$
    (Lee et al. 2019, eq. 16); `t=None` is $t = \infty$, where $A_\infty = \Theta_*
    \Theta^{-1}$. Everything goes through one eigendecomposition of $\Theta$, with
    $(1 - e^{-\eta \lambda_i t})/\lambda_i$ written with `expm1` so small eigenvalues stay
    accurate. The NNGP posterior (the network with only its readout trained) is
    `jaxkern.gp.gp_posterior` with the
    [`NNGP`][jaxkern.deep.NNGP] kernel.

    **Arguments:**

    - `k_train`: NNGP and NTK on the training inputs, (n, n) each.
    - `k_test_train`: NNGP and NTK between test and training inputs, (m, n) each.
    - `k_test_diag`: the NNGP at each test input with itself, shape (m,).
    - `y_train`: targets, shape (n,) or (n, o).
    - `t`: training time $\ge 0$; None for $t = \infty$.
    - `learning_rate`: $\eta > 0$.
    - `diag_reg`: $\lambda \ge 0$ added to the NTK's diagonal (ridge).

    **Returns:** [`Marginals`][jaxkern.Marginals].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.deep import nngp_ntk_gram, ntk_predict
        >>> X = jnp.array([[1.0, 0.0], [0.6, 0.8]])
        >>> k = nngp_ntk_gram(X)
        >>> pred = ntk_predict(k, k, jnp.diagonal(k.nngp), jnp.array([1.0, -1.0]))
        >>> pred.mean.round(4).tolist()
        [1.0, -1.0]

    Lee et al., *Wide Neural Networks of Any Depth Evolve as Linear Models Under Gradient
    Descent*, NeurIPS 2019.
    """
    n = y_train.shape[0] if jnp.ndim(y_train) else 0
    for name, k, shape in (("k_train", k_train, (n, n)),
                           ("k_test_train", k_test_train, (None, n))):
        for field in (k.nngp, k.ntk):
            check_ndim(name, field, 2, "(rows, n)")
            if field.shape[1] != n or (shape[0] is not None and field.shape[0] != n):
                raise ValueError(f"`{name}` must have {n} columns (one per training target)"
                                 f"{' and rows' if shape[0] else ''}, got shape {field.shape}.")
    check_ndim("k_test_diag", k_test_diag, 1, "(m,)")
    check_length("k_test_diag", k_test_diag, k_test_train.ntk.shape[0], "one per test input")
    check_positive("learning_rate", learning_rate)
    check_positive("diag_reg", diag_reg, allow_zero=True)
    if t is not None:
        check_positive("t", t, allow_zero=True)
    theta = k_train.ntk + diag_reg * jnp.eye(n, dtype=k_train.ntk.dtype)
    evals, evecs = jnp.linalg.eigh((theta + theta.T) / 2)
    if t is None:
        weights = 1 / evals
    else:
        rate = learning_rate * t
        # -expm1(-rate l) / l -> rate as l -> 0; the guard keeps the unused branch finite.
        safe = jnp.where(evals == 0, 1, evals)
        weights = jnp.where(evals == 0, rate, -jnp.expm1(-rate * safe) / safe)
    A = (k_test_train.ntk @ evecs) * weights[None, :] @ evecs.T
    mean = A @ y_train
    variance = (k_test_diag - 2 * jnp.sum(A * k_test_train.nngp, axis=1)
                + jnp.sum((A @ k_train.nngp) * A, axis=1))
    return Marginals(mean, jnp.maximum(variance, 0))
