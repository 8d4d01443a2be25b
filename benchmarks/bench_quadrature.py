"""Bayesian quadrature over many intervals (jaxkern, jit + vmap) against ProbNum looping in NumPy.

Also, in the full run, the integral-RL tables of Cao & Pan (ICLR 2024): the final
||w - w*|| after policy iteration, trapezoid vs BQ (Matérn-7/2, lengthscale 0.3), N = 5..10.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxkern.kernels import RBF, Matern72
from jaxkern.quadrature import (
    BQRule,
    LebesgueMeasure,
    bayesian_quadrature,
    policy_iteration,
    sin_system,
    third_order_system,
    trapezoid,
)

from . import _harness


def probnum_bq():
    """ProbNum's `bayesquad_from_data`, importable under NumPy 2.

    ProbNum 0.1.25 still reads `np.Inf` and `np.float_`, which NumPy 2 removed; restoring the two
    aliases is enough for the Lebesgue-measure path used here.
    """
    for name, value in (("Inf", np.inf), ("float_", np.float64)):
        if not hasattr(np, name):
            setattr(np, name, value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from probnum.quad import bayesquad_from_data
        from probnum.randprocs.kernels import ExpQuad, Matern
    return bayesquad_from_data, {"matern72": lambda ell: Matern(1, nu=3.5, lengthscales=ell),
                                 "rbf": lambda ell: ExpQuad(1, lengthscales=ell)}


def _integrand(t):
    return np.sin(3 * t) + t**2


def _bq_speed(num_intervals: int, num_nodes: int, repeats: int) -> list[dict]:
    bayesquad_from_data, pn_kernels = probnum_bq()
    rng = np.random.default_rng(0)
    lower = rng.uniform(0, 5, num_intervals)
    upper = lower + rng.uniform(0.05, 0.5, num_intervals)
    nodes = np.linspace(lower, upper, num_nodes, axis=1)
    values = _integrand(nodes)
    lo, hi, X, V = (jnp.asarray(a) for a in (lower, upper, nodes, values))
    rows = []
    for name, kernel in (("matern72", Matern72(0.3)), ("rbf", RBF(0.3))):
        @jax.jit
        def batched(lo, hi, X, V, kernel=kernel):
            def one(a, b, x, v):
                return bayesian_quadrature(v, x, kernel, LebesgueMeasure(a, b))

            return jax.vmap(one)(lo, hi, X, V)

        ours = _harness.time_call(lambda: batched(lo, hi, X, V), repeats=repeats)
        means = np.asarray(batched(lo, hi, X, V).mean)
        pn_kernel = pn_kernels[name](0.3)

        def peer():
            out = np.empty(num_intervals)
            for i in range(num_intervals):
                F, _ = bayesquad_from_data(
                    nodes=nodes[i][:, None], fun_evals=values[i], kernel=pn_kernel,
                    domain=(lower[i], upper[i]), options={"jitter": 1e-10},
                )
                out[i] = F.mean
            return out

        theirs = _harness.time_call(peer, repeats=max(1, repeats // 3), warmup=1)
        exact = (-np.cos(3 * upper) + np.cos(3 * lower)) / 3 + (upper**3 - lower**3) / 3
        rows.append({
            "kernel": name,
            "intervals x nodes": f"{num_intervals} x {num_nodes}",
            "jaxkern_s": ours["median_s"],
            "jaxkern_compile_s": ours["compile_s"],
            "probnum_s": theirs["median_s"],
            "ratio": _harness.ratio(theirs, ours),
            "max |jaxkern - probnum|": float(np.max(np.abs(means - peer()))),
            "max rel. error vs exact": float(np.max(np.abs(means - exact) / np.abs(exact))),
            **_harness.xla_memory(batched, lo, hi, X, V),
        })
    return rows


def intrl_tables(nodes: range) -> list[dict]:
    """The paper's experiment: final ||w - w*|| for each task, rule and number of nodes N.

    Settings from the paper's code: intervals of 0.1 along one trajectory, stop when the weights
    move less than 1e-3; task 1 with 10 intervals per evaluation for the trapezoid and 20 for BQ
    (at most 120 iterations), task 2 with 20 intervals (at most 20 / 100 iterations).
    """
    bq = BQRule(Matern72(0.3))
    settings = [
        ("task 1", third_order_system(), "trapezoid", trapezoid, 10, 120),
        ("task 1", third_order_system(), "BQ Matern-7/2", bq, 20, 120),
        ("task 2", sin_system(), "trapezoid", trapezoid, 20, 20),
        ("task 2", sin_system(), "BQ Matern-7/2", bq, 20, 100),
    ]
    rows = []
    for task, problem, label, rule, intervals, max_iterations in settings:
        row = {"task": task, "rule": label}
        for n in nodes:
            out = policy_iteration(problem, rule=rule, num_nodes=n, num_intervals=intervals,
                                   max_iterations=max_iterations)
            row[f"N={n}"] = float(jnp.linalg.norm(out.weights - problem.w_star))
        rows.append(row)
    return rows


def run(quick: bool) -> dict:
    # float64 throughout (as the peer computes), without changing the mode for other benchmarks.
    with jax.enable_x64(True):
        return _run(quick)


def _run(quick: bool) -> dict:
    speed = _bq_speed(50 if quick else 1000, 15, 3 if quick else 9)
    print(_harness.table(speed, ["kernel", "intervals x nodes", "jaxkern_s", "probnum_s",
                                 "ratio", "max |jaxkern - probnum|", "max rel. error vs exact"]))
    payload = {"dtype": "float64", "bq_speed": speed}
    if not quick:
        nodes = range(5, 11)
        tables = intrl_tables(nodes)
        print(_harness.table(tables, ["task", "rule"] + [f"N={n}" for n in nodes]))
        payload["intrl"] = tables
    return payload
