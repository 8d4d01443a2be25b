"""Tour stops for infinite-width kernels and deep kernel machines."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from ..deep import (
    dkm_predict,
    empirical_ntk,
    fit_dkm,
    init_dkm,
    init_mlp,
    kernel_map,
    mlp,
    nngp_ntk_gram,
)
from . import Stop, dtype_tol, plotting

ORDER = 80


def _ntk() -> Stop:
    # neural-tangents 0.6.5 values for Dense(1.5, 0.1) -> Relu -> Dense(1.5, 0.1), quoted in
    # jaxkern issue 9: NNGP 0.87831846, NTK 1.42256261 at x1 = [1, 0], x2 = [0.6, 0.8].
    X = jnp.array([[1.0, 0.0], [0.6, 0.8]])
    k = nngp_ntk_gram(X, W_std=1.5, b_std=0.1)
    error = max(abs(float(k.nngp[0, 1]) / 0.87831846 - 1), abs(float(k.ntk[0, 1]) / 1.42256261
                                                               - 1))
    tol = dtype_tol(X, 1e-6, 2e-6)
    return Stop("nngp_ntk_gram (ReLU, 1 hidden)", "vs neural-tangents values", error, tol)


def _empirical() -> Stop:
    X = jnp.array([[1.0, 0.0], [0.6, 0.8], [-0.3, 0.5]])
    params = init_mlp(2, width=20_000, key=jax.random.key(0))
    emp = empirical_ntk(mlp, params, X)
    limit = nngp_ntk_gram(X).ntk
    error = float(jnp.max(jnp.abs(emp - limit) / jnp.abs(limit)))
    return Stop("empirical_ntk (width 2e4 ReLU)", "vs closed form, Monte Carlo ~2e-2", error,
                0.05)


def _dkm(outdir) -> Stop:
    X = jnp.linspace(-3, 3, 40)[:, None]
    y = jnp.sign(X[:, 0]) * (jnp.abs(X[:, 0]) > 1) + 0.05 * jnp.cos(7 * X[:, 0])
    Xa = jnp.concatenate([X, jnp.ones_like(X)], 1)  # constant feature: an input bias
    model = init_dkm(Xa[::4], depth=1, nu=1.0, noise=0.05)
    result = fit_dkm(model, Xa, y, num_steps=150, optimizer=optax.adam(2e-2))
    pred = dkm_predict(result.model, Xa, y, Xa)
    error = float(jnp.sqrt(jnp.mean((pred.mean - y) ** 2)))
    plt = plotting()
    if plt is not None:
        V = result.model.factors[0]
        learned = V @ V.T / V.shape[0]
        Z = result.model.inducing
        prior = kernel_map(Z @ Z.T / Z.shape[1])
        fig, axes = plt.subplots(1, 3, figsize=(9, 3))
        fig.colorbar(axes[0].imshow(prior), ax=axes[0], shrink=0.8)
        axes[0].set(title="NNGP Gram K(G0) at Z")
        fig.colorbar(axes[1].imshow(learned), ax=axes[1], shrink=0.8)
        axes[1].set(title="DKM Gram G1 at Z")
        axes[2].plot(X[:, 0], y, "k.", label="data")
        axes[2].plot(X[:, 0], pred.mean, label="DKM mean")
        axes[2].legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / "deep_dkm_gram.png", dpi=100)
        plt.close(fig)
    return Stop("fit_dkm (sparse, 10 inducing)", "step function, n=40: train RMSE", error, 0.15)


def stops(outdir):
    return [_ntk, _empirical, lambda: _dkm(outdir)]
