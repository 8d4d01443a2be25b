"""Type-II maximum likelihood: fit a kernel's hyperparameters and the noise."""

from __future__ import annotations

from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float

from .._validation import as_float, check_ndim, check_positive, default_jitter
from ..optim import constrain, minimize, unconstrain
from ._exact import _check_data, log_marginal_likelihood
from ._iterative import warm_log_marginal_likelihood
from ._solvers import CG, resolve_solver


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
    cg_iterations: int | None = None
    """CG solver: iterations of the batched CG loop summed over the fit's steps (one
    `kernel_matvec` each); `None` for the Cholesky solver and for line-search optimisers."""


#: Past solutions a recycled CG fit keeps per column (see `_iterative._galerkin_start`):
#: measured on a 6-step fit (n = 150, noise 1e-3), 1, 2 and 3 saved 17 %, 18 % and 19.5 % of
#: the iterations; more costs memory (HISTORY x n x (1 + num_probes)) for little.
HISTORY = 3


class _CGState(NamedTuple):
    """What a CG fit carries from step to step (through `minimize`'s `aux`)."""

    solutions: Any  # the last HISTORY steps' [alpha, U], newest first; None without recycling
    iterations: Any  # CG iterations so far


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
    recycle: bool = True,
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

    With the CG solver the fit solves a sequence of nearby systems
    $\hat K(\theta_j) [\alpha_j, U_j] = [y, Z_j]$, one per step, and by default recycles
    the previous ones: each column of step $j$'s batched CG starts from the
    $\hat K_j$-norm-best combination of that column's last three solutions (a Galerkin
    projection, one `kernel_matvec` over their 3 (1 + t) columns; it contains the previous
    solution and its linear extrapolation along the optimiser's path). The solutions travel
    explicitly through `minimize`'s `aux`, so the loop stays one pure compiled scan. The
    probes' Lanczos tridiagonals, which the log-determinant needs from a start at zero, run
    alongside as t more columns of the same batched CG (nearly free: a `kernel_matvec` costs
    the kernel evaluations, not the columns), capped at `quadrature_steps`. Every solve still
    reaches `rtol`, so values and gradients are those of the cold fit to CG's tolerance, in
    fewer CG iterations where the solves need more than `quadrature_steps` of them (small
    noise; measured in `docs/scalable.md`). Warm starts across hyper-parameter steps: Lin et
    al., *Improving linear system solvers for hyperparameter optimisation in iterative
    Gaussian processes*, NeurIPS 2024; Krylov recycling over a sequence: paper #18 (SKR).

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
    - `recycle`: CG solver only: warm-start each step's CG from the previous steps'
      solutions (see above); `False` starts every step from zero. Optimisers with a line
      search (`optax.lbfgs()`) run cold (their line search evaluates the likelihood at
      points the carried state does not follow) and report no `cg_iterations`.

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
    if not isinstance(recycle, bool):
        raise ValueError(f"`recycle` must be True or False, got {recycle!r}.")
    raw, frozen = unconstrain((k, jnp.asarray(noise, dtype=X.dtype)), (trainable, fit_noise))
    optimizer = optax.adam(0.05) if optimizer is None else optimizer
    options = dict(optimizer=optimizer, num_steps=num_steps, tol=tol, chunk_size=chunk_size,
                   progress=progress, description="gp.fit")
    solver = resolve_solver(solver, X.shape[0])
    # (a non-optax `optimizer` is refused by name in `minimize`)
    line_search = isinstance(optimizer, optax.GradientTransformation) and optax.tree_utils.tree_get(
        optimizer.init(eqx.filter(raw, eqx.is_array)), "value", None) is not None
    # Under a mesh context (`jax.sharding.use_mesh`) jaxlib 0.10 cannot lower the carried
    # solutions' compiled loop (it asks for lowering platforms): such fits run cold.
    under_mesh = not jax.sharding.get_abstract_mesh().empty
    if not isinstance(solver, CG) or line_search or under_mesh:

        def loss(raw):
            kernel, noise = constrain(raw, frozen)
            return -log_marginal_likelihood(kernel, X, y, noise=noise, jitter=jitter,
                                            solver=solver)

        result = minimize(loss, raw, **options)
        kernel, noise = constrain(result.params, frozen)
        return FitResult(
            kernel, noise, result.losses, result.num_steps, result.converged, result.message
        )

    _check_data(X, y, noise)
    jitter = default_jitter(X.dtype) if jitter is None else jitter

    def cg_loss(raw, state):
        kernel, noise = constrain(raw, frozen)
        out = warm_log_marginal_likelihood(kernel, X, y, noise, jitter, solver,
                                           state.solutions)
        history = None
        if recycle:
            history = jnp.concatenate([out.solutions[None], state.solutions[:-1]])
        return -out.value, _CGState(history, state.iterations + out.iterations)

    warm = jnp.zeros((HISTORY, X.shape[0], 1 + solver.num_probes), X.dtype) if recycle else None
    start = _CGState(warm, jnp.zeros((), jnp.int32))
    result = minimize(cg_loss, raw, aux=start, **options)
    kernel, noise = constrain(result.params, frozen)
    return FitResult(
        kernel, noise, result.losses, result.num_steps, result.converged, result.message,
        int(jax.device_get(result.aux.iterations)),
    )
