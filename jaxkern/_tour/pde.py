"""Tour stop for the GP-HM PDE solver."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ..pde import mixture_kernels, predict_grid, prune, solve
from . import Stop, plotting

ORDER = 40


def _poisson(outdir) -> Stop:
    # The paper's u'' = -1e4 sin(100 x) with u = sin(100 x) on the ends, on a fifth of its domain
    # [0, 2 pi] and grid (80 points, 4 a period): 30 L-BFGS steps on a 10-component mixture
    # (prune_tol=0), then the public pruning step keeps the components that carry the
    # solution (about 2e-8, two of ten kept). The solver needs float64 (it warns in float32 and
    # ends near 1e-1), so this stop runs in float64 whatever the tour's default.
    with jax.enable_x64(True):
        return _poisson_float64(outdir)


def _poisson_float64(outdir) -> Stop:
    length = 2 * math.pi / 5
    x = jnp.linspace(0.0, length, 80)
    full = solve(lambda u, du, d2u, X: d2u[0] + 1e4 * jnp.sin(100.0 * X[0]), (x,),
                 [(jnp.sin(100.0 * x[0]), jnp.sin(100.0 * x[-1]))],
                 mixture_kernels((x,), num_components=10, max_frequency=20.0), num_steps=30,
                 chunk_size=30, prune_tol=0.0)
    sol = prune(full, tol=1e-3)
    xt = jnp.linspace(0.0, length, 300)
    pred, truth = predict_grid(sol, (xt,)), jnp.sin(100.0 * xt)
    error = float(jnp.linalg.norm(pred - truth) / jnp.linalg.norm(truth))
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(xt, truth, "k--", label="sin(100x)")
        ax.plot(xt, pred, label="GP-HM")
        ax.plot(x, sol.values, "k.", ms=3, label="grid values")
        ax.set(title=f"GP-HM, 1-D Poisson: relative L2 error {error:.1e}")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / "pde_poisson1d.png", dpi=100)
        plt.close(fig)
    return Stop("pde.solve + prune (GP-HM)", "Poisson sin(100x), 80 pts, float64: rel L2",
                error, 1e-6)


def stops(outdir):
    return [lambda: _poisson(outdir)]
