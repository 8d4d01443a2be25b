"""Type-II maximum likelihood: fit a kernel's hyperparameters and the noise."""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from .._optim import exp_transform, log_transform, minimize
from .._validation import check_ndim, check_positive
from ._exact import log_marginal_likelihood


class FitResult(NamedTuple):
    """The fitted kernel and noise, and the negative log marginal likelihood at every step."""

    kernel: Any
    noise: Float[Array, ""]
    losses: np.ndarray


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
    chunk_size: int = 100,
    progress: bool = False,
) -> FitResult:
    r"""Maximise the log marginal likelihood over the kernel's hyperparameters and the noise.

    Every trainable leaf $\theta$ (all floating leaves of the kernel module by default) is
    optimised as $\log\theta$, so it stays positive:
    $$\min_{\log\theta,\, \log\sigma^2} \; -\log p(y \mid X, \theta, \sigma^2).$$
    The loop runs jitted `lax.scan` chunks of `chunk_size` steps from Python, so `progress`
    prints between chunks without host callbacks.

    **Arguments:**

    - `k`: a kernel module (any pytree callable as `k(x, y)`).
    - `X`, `y`: training data, shapes (n, d) and (n,).
    - `noise`: initial noise variance $\sigma^2 > 0$.
    - `num_steps`: optimiser steps.
    - `optimizer`: an optax transformation; default `optax.adam(0.05)`.
    - `trainable`: an equinox filter (a callable on leaves, or a pytree of bools shaped like
      `k`) choosing the leaves to fit; the others stay fixed.
    - `fit_noise`: fit the noise as well.
    - `jitter`: diagonal jitter; dtype-dependent default.
    - `chunk_size`: steps per compiled chunk.
    - `progress`: print a progress line to stderr.

    **Returns:** a [`FitResult`][jaxkern.gp.FitResult].

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.gp import fit
        >>> X = jnp.linspace(0, 5, 30)[:, None]
        >>> y = jnp.sin(X[:, 0])
        >>> result = fit(RBF(), X, y, noise=0.1, num_steps=200)
        >>> bool(result.losses[-1] < result.losses[0])
        True
    """
    check_ndim("X", X, 2, "(n, d)")
    check_positive("noise", noise)
    log_kernel, frozen = log_transform(k, trainable)
    log_noise = jnp.log(jnp.asarray(noise, dtype=X.dtype))
    if optimizer is None:
        optimizer = optax.adam(0.05)

    def loss(params):
        log_kernel, log_noise = params
        kernel = exp_transform(log_kernel, frozen)
        return -log_marginal_likelihood(kernel, X, y, noise=jnp.exp(log_noise), jitter=jitter)

    if fit_noise:
        result = minimize(
            loss,
            (log_kernel, log_noise),
            optimizer=optimizer,
            num_steps=num_steps,
            chunk_size=chunk_size,
            progress=progress,
            description="gp.fit",
        )
        log_kernel, log_noise = result.params
    else:
        result = minimize(
            lambda p: loss((p, log_noise)),
            log_kernel,
            optimizer=optimizer,
            num_steps=num_steps,
            chunk_size=chunk_size,
            progress=progress,
            description="gp.fit",
        )
        log_kernel = result.params
    return FitResult(exp_transform(log_kernel, frozen), jnp.exp(log_noise), result.losses)
