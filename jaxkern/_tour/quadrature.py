"""Tour stops for quadrature: BQ against the trapezoid, and integral RL (task 1 of the paper)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels import Matern72
from ..quadrature import (
    BQRule,
    LebesgueMeasure,
    bayesian_quadrature,
    policy_iteration,
    third_order_system,
    trapezoid,
)
from . import Stop, dtype_tol, plotting

ORDER = 30

_EXACT = (math.e * (math.cos(1) + math.sin(1)) - 1) / 2  # int_0^1 e^t cos t dt


def _bq_vs_trapezoid(outdir) -> Stop:
    ns = [5, 9, 17, 33]
    @jax.jit
    def both(t):
        f = jnp.exp(t) * jnp.cos(t)
        bq = bayesian_quadrature(f, t, Matern72(0.5), LebesgueMeasure(0.0, 1.0))
        return trapezoid(f, t), bq.mean

    errors = {"trapezoid": [], "BQ Matérn-7/2": []}
    for n in ns:
        trap, bq = both(jnp.linspace(0.0, 1.0, n))
        errors["trapezoid"].append(abs(float(trap) - _EXACT))
        errors["BQ Matérn-7/2"].append(abs(float(bq) - _EXACT))
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 3))
        for label, errs in errors.items():
            ax.loglog(ns, errs, "o-", label=label)
        ax.set(xlabel="nodes N", ylabel="|error|", title=r"$\int_0^1 e^t \cos t\, dt$")
        ax.legend()
        fig.tight_layout()
        fig.savefig(outdir / "quadrature_convergence.png", dpi=100)
        plt.close(fig)
    # float32 BQ bottoms out near the jitter (1e-6) level; float64 reaches 1e-9 at N = 17.
    tol = dtype_tol(jnp.result_type(float), 1e-8, 1e-4)
    return Stop("bayesian_quadrature vs trapezoid", "int_0^1 e^t cos t, N=17: BQ error",
                errors["BQ Matérn-7/2"][2], tol)


def _intrl() -> Stop:
    if jnp.result_type(float) != jnp.float64:
        # IntRL's least squares along one trajectory needs float64 (docs: sharp bits).
        with jax.enable_x64(True):
            return _intrl()
    p = third_order_system()
    out = policy_iteration(p, rule=BQRule(Matern72(0.3)), num_nodes=5, num_intervals=20)
    error = float(np.linalg.norm(np.asarray(out.weights - p.w_star)))
    # The paper's trapezoid reaches 1.18e-3 here; BQ must be at least 15x closer.
    return Stop("IntRL policy iteration, BQ", "task 1 (3rd-order LQR), N=5: |w - vec P*|",
                error, 1.18e-3 / 15)


def stops(outdir):
    return [lambda: _bq_vs_trapezoid(outdir), _intrl]
