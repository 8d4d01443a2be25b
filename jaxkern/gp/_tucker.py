r"""A functional Tucker model with state-space GP priors on the mode-wise latent functions.

A $K$-mode tensor indexed by continuous coordinates $(x^1, \dots, x^K)$ is modelled as

$$y = \sum_{r_1, \dots, r_K} W_{r_1 \dots r_K} \prod_{k=1}^K u^k_{r_k}(x^k) + \varepsilon,
  \qquad u^k_r \sim \mathcal{GP}(0, \kappa_k), \quad \varepsilon \sim \mathcal N(0, \sigma^2),$$

with a Tucker core $W$ and, per mode, $R_k$ latent functions with a state-space GP prior (any
kernel that declares `state_space()`). The fit is a block-coordinate ascent on the joint
posterior: with everything else fixed, $u^k_r$ enters linearly,
$y_n - (\text{rest})_n = u^k_r(x^k_n)\, c_n + \varepsilon_n$, so its exact conditional posterior
is a GP regression with one pseudo-observation per distinct coordinate value $g$,
$z_g = \sum_{n: x^k_n = g} c_n e_n / \sum c_n^2$ with noise variance
$\sigma^2 / \sum c_n^2$, which [`kalman_posterior`][jaxkern.gp.kalman_posterior] smooths in
$O(I_k)$ — the paper's use of the Kalman filter and RTS smoother on each mode. The core is then
the ridge (prior $\mathcal N(0, 1)$) least-squares solution and $\sigma^2$ the mean squared
residual. FunBaT itself runs conditional expectation propagation over the same factor graph; the
coordinate ascent here is its MAP counterpart.

Fang, Yu, Li, Kirby & Zhe, *Functional Bayesian Tucker Decomposition for Continuous-indexed
Tensor Data*, ICLR (2024) (paper #15).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import check_int, check_positive
from ._statespace import kalman_posterior


class FunctionalTucker(NamedTuple):
    """A fitted functional Tucker model."""

    #: Per mode, the sorted distinct coordinates (I_k,).
    grids: tuple[Array, ...]
    #: Per mode, the latent functions at the grid, (I_k, R_k) (posterior means).
    factors: tuple[Array, ...]
    #: The Tucker core, shape (R_1, ..., R_K).
    core: Array
    #: The noise variance estimate.
    noise: Array
    #: Per mode, the pseudo-observations (I_k, R_k) and their noise variances (I_k, R_k)
    #: whose GP posterior mean is each latent function (used to evaluate it off the grid).
    pseudo_targets: tuple[Array, ...]
    pseudo_noise: tuple[Array, ...]
    #: The kernels of the modes.
    kernels: tuple
    #: Training RMSE after each sweep (NumPy).
    rmse: np.ndarray


@functools.partial(jax.jit, static_argnames="mode")
def _update(factors, core, index, y, sigma2, kernel, grid, r, *, mode):
    """The exact conditional posterior mean of u^mode_r given everything else."""
    c = _coefficients(factors, core, index, mode)  # (N, R_k)
    own = factors[mode][index[:, mode]]
    e = y - jnp.sum(c * own, axis=1) + c[:, r] * own[:, r]
    cr = c[:, r]
    prec = jax.ops.segment_sum(cr * cr, index[:, mode], grid.shape[0])
    rhs = jax.ops.segment_sum(cr * e, index[:, mode], grid.shape[0])
    prec = jnp.maximum(prec, jnp.finfo(prec.dtype).tiny ** 0.5)
    z, v = rhs / prec, sigma2 / prec
    return kalman_posterior(kernel, grid, z, noise=v).mean, z, v


@jax.jit
def _update_core(factors, index, y, sigma2):
    rows = [f[index[:, j]] for j, f in enumerate(factors)]
    design = rows[0]
    for row in rows[1:]:
        design = (design[:, :, None] * row[:, None, :]).reshape(y.shape[0], -1)
    gram = design.T @ design + sigma2 * jnp.eye(design.shape[1], dtype=design.dtype)
    core = jnp.linalg.solve(gram, design.T @ y).reshape(tuple(f.shape[1] for f in factors))
    resid = y - _predict_rows(factors, core, index)
    return core, jnp.mean(resid**2)


def _coefficients(factors, core, index, mode):
    """c[n, r] = sum over the other modes' components of W * prod_j u^j(x_nj)."""
    rows = [f[index[:, j]] for j, f in enumerate(factors)]  # (N, R_j)
    letters = "abcdefgh"[: len(factors)]
    ops, subs = [core], [letters]
    for j, row in enumerate(rows):
        if j != mode:
            ops.append(row)
            subs.append("n" + letters[j])
    return jnp.einsum(",".join(subs) + "->n" + letters[mode], *ops)


def _predict_rows(factors, core, index):
    letters = "abcdefgh"[: len(factors)]
    rows = [f[index[:, j]] for j, f in enumerate(factors)]
    return jnp.einsum(",".join([letters] + ["n" + c for c in letters]) + "->n", core, *rows)


def functional_tucker(
    coords: Float[Array, "N K"],
    y: Float[Array, " N"],
    *,
    kernels: Sequence,
    ranks: Sequence[int],
    key: Array,
    num_sweeps: int = 30,
    noise: float | None = None,
) -> FunctionalTucker:
    r"""Fit a functional Tucker model with state-space GP priors on each mode's functions.

    **Arguments:**

    - `coords`: continuous coordinates of the observed entries, shape (N, K); each mode's
      distinct values form its grid (FunBaT's setting: finitely many observed values per mode,
      the functions defined everywhere).
    - `y`: observed values, shape (N,).
    - `kernels`: one kernel per mode with a `state_space()` form (e.g. `Matern32(0.2)`).
    - `ranks`: the Tucker ranks $(R_1, \dots, R_K)$.
    - `key`: PRNG key for the random initial factors.
    - `num_sweeps`: block-coordinate sweeps (each updates every function, the core and
      $\sigma^2$).
    - `noise`: a fixed noise variance; `None` estimates it from the residuals.

    **Returns:** a [`FunctionalTucker`][jaxkern.gp.FunctionalTucker]; evaluate it with
    [`functional_tucker_predict`][jaxkern.gp.functional_tucker_predict].

    Example:
        A rank-1 two-mode tensor $\sin(3x)\cos(2z)$ on a 15 x 12 grid:

        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.kernels import Matern52
        >>> from jaxkern.gp import functional_tucker, functional_tucker_predict
        >>> x, z = jnp.linspace(0, 1, 15), jnp.linspace(0, 1, 12)
        >>> X, Z = jnp.meshgrid(x, z, indexing="ij")
        >>> coords = jnp.stack([X.ravel(), Z.ravel()], 1)
        >>> y = jnp.sin(3 * coords[:, 0]) * jnp.cos(2 * coords[:, 1])
        >>> fit = functional_tucker(coords, y, kernels=[Matern52(0.5)] * 2, ranks=[1, 1],
        ...                         key=jax.random.key(0), num_sweeps=10, noise=1e-4)
        >>> err = jnp.abs(functional_tucker_predict(fit, coords) - y).max()
        >>> bool(err < 0.02)
        True

    Fang et al. (2024), sec. 4 (the model) and sec. 4.2 (Kalman filtering per mode).
    """
    coords = jnp.asarray(coords)
    y = jnp.asarray(y, coords.dtype)
    if coords.ndim != 2:
        raise ValueError(f"`coords` must be 2-D (N, K), got shape {coords.shape}.")
    N, K = coords.shape
    if y.shape != (N,):
        raise ValueError(f"`y` must have shape ({N},), one value per row of `coords`, got "
                         f"{y.shape}.")
    if len(kernels) != K or len(ranks) != K:
        raise ValueError(f"`kernels` and `ranks` need one entry per mode (K = {K}), got "
                         f"{len(kernels)} and {len(ranks)}.")
    if K > 8:
        raise ValueError(f"at most 8 modes are supported, got K = {K}.")
    for r in ranks:
        check_int("ranks", r, 1)
    check_int("num_sweeps", num_sweeps, 1)
    if noise is not None:
        check_positive("noise", noise)
    c_np = np.asarray(coords)
    if not np.all(np.isfinite(c_np)) or not np.all(np.isfinite(np.asarray(y))):
        raise ValueError("`coords` and `y` must be finite.")
    grids, index = [], []
    for k in range(K):
        g, inv = np.unique(c_np[:, k], return_inverse=True)
        grids.append(jnp.asarray(g, coords.dtype))
        index.append(inv)
    index = jnp.asarray(np.stack(index, 1))
    dtype = coords.dtype
    keys = jax.random.split(key, K + 1)
    factors = [jax.random.normal(keys[k], (g.shape[0], r), dtype)
               for k, (g, r) in enumerate(zip(grids, ranks))]
    core = jax.random.normal(keys[K], tuple(ranks), dtype) / np.sqrt(np.prod(ranks))
    sigma2 = jnp.asarray(noise if noise is not None else jnp.var(y), dtype)
    tiny = jnp.finfo(dtype).tiny ** 0.5
    pseudo_z = [jnp.zeros_like(f) for f in factors]
    pseudo_v = [jnp.ones_like(f) for f in factors]
    history = []
    for _ in range(num_sweeps):
        for k in range(K):
            for r in range(ranks[k]):
                u, z, v = _update(tuple(factors), core, index, y, sigma2, kernels[k], grids[k],
                                  jnp.asarray(r), mode=k)
                factors[k] = factors[k].at[:, r].set(u)
                pseudo_z[k] = pseudo_z[k].at[:, r].set(z)
                pseudo_v[k] = pseudo_v[k].at[:, r].set(v)
        core, mse = _update_core(tuple(factors), index, y, sigma2)
        if noise is None:
            sigma2 = jnp.maximum(mse, tiny)
        history.append(float(jnp.sqrt(mse)))
    return FunctionalTucker(tuple(grids), tuple(factors), core, sigma2, tuple(pseudo_z),
                           tuple(pseudo_v), tuple(kernels), np.asarray(history))


def functional_tucker_predict(
    model: FunctionalTucker, coords: Float[Array, "M K"]
) -> Float[Array, " M"]:
    r"""The fitted tensor at any coordinates: each $u^k_r$ is its GP posterior mean (smoothed
    by the Kalman filter at new coordinates), then contracted with the core.

    **Arguments:** `model`: a fitted [`FunctionalTucker`][jaxkern.gp.FunctionalTucker];
    `coords`: shape (M, K), any real values (between or beyond the training grid).

    **Returns:** the predicted values, shape (M,).

    Example: see [`functional_tucker`][jaxkern.gp.functional_tucker].
    """
    coords = jnp.asarray(coords, model.core.dtype)
    K = len(model.grids)
    if coords.ndim != 2 or coords.shape[1] != K:
        raise ValueError(f"`coords` must have shape (M, {K}), got {coords.shape}.")
    c_np = np.asarray(coords)
    if not np.all(np.isfinite(c_np)):
        raise ValueError("`coords` must be finite.")
    # Each latent function is smoothed at the distinct query values of its mode only.
    values, index = zip(*(np.unique(c_np[:, k], return_inverse=True) for k in range(K)))
    rows = _predict_factors(model.kernels, model.grids, model.pseudo_targets,
                            model.pseudo_noise, tuple(jnp.asarray(v, coords.dtype)
                                                      for v in values))
    return _predict_rows(rows, model.core, jnp.asarray(np.stack(index, 1)))


@jax.jit
def _predict_factors(kernels, grids, pseudo_targets, pseudo_noise, values):
    rows = []
    for kernel, grid, z, v, at in zip(kernels, grids, pseudo_targets, pseudo_noise, values):
        def one(z, v, kernel=kernel, grid=grid, at=at):
            return kalman_posterior(kernel, grid, z, at, noise=v).mean

        rows.append(jax.vmap(one, in_axes=1, out_axes=1)(z, v))
    return tuple(rows)


__all__ = ["FunctionalTucker", "functional_tucker", "functional_tucker_predict"]
