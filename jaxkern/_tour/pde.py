"""Tour stop for the GP-HM PDE solver."""

from __future__ import annotations

import math

import jax.numpy as jnp

from ..pde import mixture_kernels, predict_grid, solve
from . import Stop, plotting

ORDER = 40


def _poisson(outdir) -> Stop:
    # u'' = -400 sin(20 x) on [0, pi/2] with u = sin(20 x) on the ends: five periods, 40 points,
    # 30 L-BFGS steps on the kernels.
    x = jnp.linspace(0.0, math.pi / 2, 40)
    sol = solve(lambda u, du, d2u, X: d2u[0] + 400.0 * jnp.sin(20.0 * X[0]), (x,),
                [(jnp.sin(20.0 * x[0]), jnp.sin(20.0 * x[-1]))],
                mixture_kernels((x,), num_components=10), num_steps=30, chunk_size=30)
    xt = jnp.linspace(0.0, math.pi / 2, 300)
    pred, truth = predict_grid(sol, (xt,)), jnp.sin(20.0 * xt)
    error = float(jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth))
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(xt, truth, "k--", label="sin(20x)")
        ax.plot(xt, pred, label="GP-HM")
        ax.plot(x, sol.values, "k.", ms=3, label="grid values")
        ax.set(title=f"GP-HM, 1-D Poisson: relative L2 error {error:.1e}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / "pde_poisson1d.png", dpi=100)
        plt.close(fig)
    tol = 1e-5 if x.dtype == jnp.float64 else 5e-2
    return Stop("pde.solve (GP-HM)", "Poisson u = sin(20x), 40 points: rel L2", error, tol)


def stops(outdir):
    return [lambda: _poisson(outdir)]
