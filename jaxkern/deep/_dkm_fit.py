"""The deep kernel machine's objective, its fit with optax, and its predictions."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
import optax
from jax import lax
from jaxtyping import Array, Float

from .._marginals import Marginals
from .._validation import check_length, check_ndim, check_same_last_dim, warn_deprecated
from ..optim import minimize
from ._dkm import (
    GramBlocks,
    condition_blocks,
    kl_gaussian,
    map_blocks,
    sgpr_bound,
    sgpr_predict,
)
from ._modules import DKM, input_blocks


class DKMFit(NamedTuple):
    """The fitted machine, with the fit's record under the names every fit uses."""

    model: DKM
    losses: np.ndarray
    """The loss (negative objective per data point) before each step (NumPy)."""
    num_steps: int
    """Steps taken."""
    converged: bool
    """Whether the fit stopped early (`tol` reached); see `message`."""
    message: str
    """Why the fit stopped."""


def _check(model: DKM, X, Y) -> Array:
    check_ndim("X", X, 2, "(n, d)")
    check_same_last_dim("inducing", model.inducing, "X", X)
    if jnp.ndim(Y) not in (1, 2):
        raise ValueError(f"`Y` must have shape (n,) or (n, o), got shape {jnp.shape(Y)}.")
    check_length("Y", Y, X.shape[0], "one target per row of X")
    return Y.reshape(Y.shape[0], -1)


def _propagate(model: DKM, X) -> tuple[GramBlocks, list[Array]]:
    """The output kernel's blocks at the inducing and data points, and each layer's KL."""
    Z = model.inducing if model.learn_inducing else lax.stop_gradient(model.inducing)
    G = input_blocks(Z, X)
    kls = []
    for layer in range(model.depth):
        K = map_blocks(model.kernel, model.lengthscale, G)
        if model.factors is None:
            G = K
            continue
        V = model.factors[layer]
        G_ii = V @ V.T / V.shape[0]
        kls.append(kl_gaussian(G_ii, K.ii, jitter=model.jitter))
        G = condition_blocks(K, G_ii, model.jitter)
    top = map_blocks(model.kernel, model.lengthscale, G)
    scale = jnp.exp(model.log_scale)
    return GramBlocks(scale * top.ii, scale * top.ti, scale * top.t), kls


def dkm_objective(model: DKM, X: Float[Array, "n d"], Y: Float[Array, " n *o"]) -> Array:
    r"""The deep kernel machine objective, a lower bound on the log evidence at its optimum.

    $$\mathcal L = \log \mathrm P\big(Y \mid G^L\big)
      - \sum_{l=1}^{L} \nu_l\, D_{\mathrm{KL}}\big(\mathcal N(0, G^l_{ii})\,\big\|\,
      \mathcal N(0, K(G^{l-1})_{ii})\big),$$
    with $G^0 = X X^\top / d$ and $\log \mathrm P(Y \mid G^L)$ the log density of each
    column of $Y$ under $\mathcal N(0, s K(G^L) + \sigma^2 I)$. With inducing points the
    data's Gram entries follow from $G_{ii}$ (`condition_blocks`: $G_{ti} = K_{ti}K_{ii}^{-1}
    G_{ii}$ and the diagonal $g_t$), and the likelihood term is Titsias' collapsed bound; with
    the training inputs as inducing points both are exact (the full DKM). As every
    $\nu_l \to \infty$ the optimum is $G^l = K(G^{l-1})$: the NNGP with the same kernel maps.

    **Arguments:**

    - `model`: a [`DKM`][jaxkern.deep.DKM].
    - `X`: training inputs, shape (n, d).
    - `Y`: targets, shape (n,) or (n, o) (one-hot rows for classification).

    **Returns:** the scalar objective.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import dkm_objective, init_dkm
        >>> X = jax.random.normal(jax.random.key(0), (6, 2))
        >>> model = init_dkm(X, depth=1, learn_inducing=False)
        >>> bool(jnp.isfinite(dkm_objective(model, X, X[:, 0])))
        True

    Yang et al., *A theory of representation learning gives a deep generalisation of kernel
    methods*, ICML 2023, eqs. 15 and 27.
    """
    Y = _check(model, X, Y)
    top, kls = _propagate(model, X)
    data_fit = sgpr_bound(top, Y, jnp.exp(model.log_noise), model.jitter)
    # zip stops at the shorter: no KL terms at all in NNGP mode (factors None).
    return data_fit - sum((nu * kl for nu, kl in zip(model.nu, kls)),  # noqa: B905
                          start=jnp.zeros((), data_fit.dtype))


def dkm_predict(
    model: DKM, X: Float[Array, "n d"], Y: Float[Array, " n *o"], X_test: Float[Array, "m d"]
) -> Marginals:
    r"""Predictive mean and latent variance of a deep kernel machine at test inputs.

    Test points enter every layer as data points do: their Gram entries with the inducing
    points and their diagonal follow from $G^l_{ii}$ (`condition_blocks`), and the top layer
    is inducing-point regression under $s K(G^L)$. For classification, fit one-hot targets
    and take the arg-max of `mean` (classification as regression, as in Lee et al. 2018).

    **Arguments:**

    - `model`: a fitted [`DKM`][jaxkern.deep.DKM].
    - `X`, `Y`: the training data it was fitted on.
    - `X_test`: test inputs, shape (m, d).

    **Returns:** [`Marginals`][jaxkern.Marginals] (mean (m,) or (m, o), latent
    variance (m,); add $\sigma^2$ = `exp(model.log_noise)` for a new observation).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import dkm_predict, init_dkm
        >>> X = jax.random.normal(jax.random.key(0), (6, 2))
        >>> model = init_dkm(X, depth=1, learn_inducing=False)
        >>> dkm_predict(model, X, X[:, 0], X[:2]).mean.shape
        (2,)
    """
    Y2 = _check(model, X, Y)
    check_ndim("X_test", X_test, 2, "(m, d)")
    check_same_last_dim("X", X, "X_test", X_test)
    n = X.shape[0]
    top, _ = _propagate(model, jnp.concatenate([X, X_test]))
    train = GramBlocks(top.ii, top.ti[:n], top.t[:n])
    test = GramBlocks(top.ii, top.ti[n:], top.t[n:])
    mean, variance = sgpr_predict(train, test, Y2, jnp.exp(model.log_noise), model.jitter)
    return Marginals(mean.reshape((X_test.shape[0],) + Y.shape[1:]), variance)


def fit_dkm(
    model: DKM,
    X: Float[Array, "n d"],
    Y: Float[Array, " n *o"],
    *,
    num_steps: int = 500,
    optimizer: optax.GradientTransformation | None = None,
    tol: float | None = None,
    chunk_size: int = 100,
    progress: bool | None = None,
    learning_rate: float | None = None,
) -> DKMFit:
    r"""Maximise [`dkm_objective`][jaxkern.deep.dkm_objective] with any optax transformation.

    Trains the factors $V_l$, the noise, the output scale and (if `model.learn_inducing`) the
    inducing inputs, full batch, through [`jaxkern.optim.minimize`][jaxkern.optim.minimize]
    (jitted `lax.scan` chunks).

    **Arguments:**

    - `model`: the starting [`DKM`][jaxkern.deep.DKM], usually from
      [`init_dkm`][jaxkern.deep.init_dkm].
    - `X`, `Y`: training data, as in [`dkm_objective`][jaxkern.deep.dkm_objective].
    - `num_steps`: the most optimiser steps.
    - `optimizer`: any optax transformation; default `optax.adam(1e-2)`.
    - `tol`: stop after a chunk that moves the loss by at most this, relatively.
    - `chunk_size`: steps per compiled chunk.
    - `progress`: a progress bar (`None`: only when watched and slow; see
      [`minimize`][jaxkern.optim.minimize]).
    - `learning_rate`: deprecated; use `optimizer=optax.adam(learning_rate)`.

    **Returns:** a [`DKMFit`][jaxkern.deep.DKMFit].

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import fit_dkm, init_dkm
        >>> X = jax.random.normal(jax.random.key(0), (8, 2))
        >>> result = fit_dkm(init_dkm(X, depth=1, learn_inducing=False), X, X[:, 0],
        ...                  num_steps=20)
        >>> bool(result.losses[-1] < result.losses[0]), result.num_steps
        (True, 20)
    """
    _check(model, X, Y)
    if learning_rate is not None:
        warn_deprecated("fit_dkm(learning_rate=...)", "optimizer=optax.adam(learning_rate)")
        if optimizer is not None:
            raise ValueError("give `optimizer` or the deprecated `learning_rate`, not both.")
        optimizer = optax.adam(learning_rate)
    n = X.shape[0]
    result = minimize(
        lambda m: -dkm_objective(m, X, Y) / n,
        model,
        optimizer=optax.adam(1e-2) if optimizer is None else optimizer,
        num_steps=num_steps,
        tol=tol,
        chunk_size=chunk_size,
        progress=progress,
        description="fit_dkm",
    )
    return DKMFit(result.params, result.losses, result.num_steps, result.converged, result.message)
