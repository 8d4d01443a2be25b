"""Type-II maximum likelihood: fit a kernel's hyperparameters and the noise."""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from .._validation import as_float, check_ndim, check_positive
from ..optim import constrain, minimize, unconstrain
from ._exact import log_marginal_likelihood


class FitResult(NamedTuple):
    """The fitted kernel and noise, with the fit's record under the names every fit uses."""

    kernel: Any
    noise: Float[Array, ""]
    losses: np.ndarray
    """Negative log marginal likelihood before each step (NumPy)."""
    num_steps: int
    """Steps taken."""
    converged: bool
    """Whether the fit stopped early (`tol` reached); see `message`."""
    message: str
    """Why the fit stopped."""


def fit(
    k: Any,
    X: Float[Array, "n d"],
    y: Float[Array, " n"],
    *,
    noise: Float[ArrayLike, ""],
    num_steps: int = 500,
    optimizer: optax.GradientTransformation | None = None,
    trainable: Any = eqx.is_inexact_array,
    fit_noise: bool = True,
    jitter: float | None = None,
    solver: Any = None,
    tol: float | None = None,
    chunk_size: int = 100,
    progress: bool | None = None,
) -> FitResult:
    r"""Maximise the log marginal likelihood over the kernel's hyperparameters and the noise.

    Each trainable leaf is optimised in the unconstrained space its kernel declares
    ([`jaxkern.optim.unconstrain`][jaxkern.optim.unconstrain]): $\log\theta$ for positive
    hyperparameters (lengthscales, variances, the noise), a softplus for non-negative ones
    (biases), the value itself for real ones (spectral means):
    $$\min_{u,\, \log\sigma^2} \; -\log p(y \mid X, \theta(u), \sigma^2).$$
    The loop is [`jaxkern.optim.minimize`][jaxkern.optim.minimize]: jitted `lax.scan` chunks of
    `chunk_size` steps from Python, so the progress bar updates between chunks without host
    callbacks.

    **Arguments:**

    - `k`: a kernel module (any pytree callable as `k(x, y)`).
    - `X`, `y`: training data, shapes (n, d) and (n,).
    - `noise`: initial noise variance $\sigma^2 > 0$.
    - `num_steps`: the most optimiser steps.
    - `optimizer`: any optax transformation (`optax.lbfgs()` included); default
      `optax.adam(0.05)`.
    - `trainable`: an equinox filter (a callable on leaves, or a pytree of bools shaped like
      `k`) choosing the leaves to fit; the others stay fixed.
    - `fit_noise`: fit the noise as well.
    - `jitter`: diagonal jitter, absolute; dtype-dependent default.
    - `solver`: how each step evaluates the likelihood: [`Cholesky()`][jaxkern.gp.Cholesky]
      (default), [`CG(...)`][jaxkern.gp.CG] (matrix-free, stochastic gradients from fixed
      probes) or [`Auto()`][jaxkern.gp.Auto]; see
      [`log_marginal_likelihood`][jaxkern.gp.log_marginal_likelihood].
    - `tol`: stop after a chunk that moves the loss by at most this, relatively.
    - `chunk_size`: steps per compiled chunk.
    - `progress`: a progress bar (`None`: only when watched and slow; see
      [`minimize`][jaxkern.optim.minimize]).

    **Returns:** a [`FitResult`][jaxkern.gp.FitResult].

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import fit
        >>> X = jnp.linspace(0, 5, 30)[:, None]
        >>> y = jnp.sin(X[:, 0])
        >>> result = fit(RBF(), X, y, noise=0.1, num_steps=200)
        >>> bool(result.losses[-1] < result.losses[0]), result.num_steps
        (True, 200)
    """
    check_ndim("X", X, 2, "(n, d)")
    check_positive("noise", noise)
    X, y = as_float(X, y)  # integer data would make the noise an integer (0)
    raw, frozen = unconstrain((k, jnp.asarray(noise, dtype=X.dtype)), (trainable, fit_noise))

    def loss(raw):
        kernel, noise = constrain(raw, frozen)
        return -log_marginal_likelihood(kernel, X, y, noise=noise, jitter=jitter, solver=solver)

    result = minimize(
        loss,
        raw,
        optimizer=optax.adam(0.05) if optimizer is None else optimizer,
        num_steps=num_steps,
        tol=tol,
        chunk_size=chunk_size,
        progress=progress,
        description="gp.fit",
    )
    kernel, noise = constrain(result.params, frozen)
    return FitResult(
        kernel, noise, result.losses, result.num_steps, result.converged, result.message
    )
