"""State-space GP: log marginal likelihood + gradient in O(n), jaxkern against tinygp, float64.

jaxkern's `gp.kalman_log_marginal_likelihood` (Kalman filter as a sequential `lax.scan`, exact
discretisation from the kernel's declared SDE) against tinygp's quasiseparable solver
(`tinygp.GaussianProcess(..., solver=QuasisepSolver)` with `tinygp.kernels.quasisep.MaternXX`),
in the same process, on the same sorted irregular times. Each function is a fresh `jax.jit`
of `value_and_grad` with respect to (lengthscale, variance, noise); the first call is timed
apart and the two libraries are then timed in turns (`_harness.interleaved`), so that load on
the shared machine lands on both; the values of both libraries are reported (they agree to
round-off). jaxkern's parallel-scan path (`parallel=True`, depth O(log n) but O(n log n) work)
is for accelerators and is not timed on this CPU machine. Ran on a shared 2-core machine:
absolute times are noise, ratios are the figure.
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

# Imported before the first array exists, as in a user's script: `import jaxkern` switches
# XLA:CPU's concurrency-optimised scheduler off (jaxkern/_xla_cpu.py), which only works before
# the CPU backend is created. Imported lazily inside `_jaxkern`, as before, the flag came too
# late and both libraries ran under the default scheduler, which costs jaxkern's Kalman scan
# ~1.8x and tinygp ~1.1x here (docs/statespace.md). Both libraries run under the same flags.
import jaxkern  # noqa: F401, E402
from benchmarks import _harness


def _data(n: int):
    rng = np.random.default_rng(0)
    t = np.sort(rng.uniform(0, n / 10, n))
    y = np.sin(t) + 0.1 * rng.standard_normal(n)
    return jnp.asarray(t), jnp.asarray(y)


PARAMS = (1.5, 1.2, 0.1)  # lengthscale, variance, noise


def _jaxkern(nu: str, t, y, parallel: bool = False):
    from jaxkern.gp import kalman_log_marginal_likelihood
    from jaxkern.kernels import Matern32, Matern52

    cls = {"matern32": Matern32, "matern52": Matern52}[nu]

    def lml(p, t, y):
        return kalman_log_marginal_likelihood(cls(p[0], p[1]), t, y, noise=p[2],
                                              parallel=parallel)

    f = jax.jit(jax.value_and_grad(lml))
    p = jnp.asarray(PARAMS)
    return lambda: f(p, t, y)


def _tinygp(nu: str, t, y):
    import tinygp
    from tinygp.solvers import QuasisepSolver

    cls = {"matern32": tinygp.kernels.quasisep.Matern32,
           "matern52": tinygp.kernels.quasisep.Matern52}[nu]

    def lml(p, t, y):
        kernel = cls(scale=p[0], sigma=jnp.sqrt(p[1]))
        gp = tinygp.GaussianProcess(kernel, t, diag=p[2], solver=QuasisepSolver)
        return gp.log_probability(y)

    f = jax.jit(jax.value_and_grad(lml))
    p = jnp.asarray(PARAMS)
    return lambda: f(p, t, y)


def run(quick: bool) -> dict:
    jax.config.update("jax_enable_x64", True)
    sizes = [5_000] if quick else [100_000, 1_000_000]
    rows = []
    for nu in ("matern32", "matern52"):
        for n in sizes:
            t, y = _data(n)
            rounds = 3 if quick or n >= 1_000_000 else 7
            peers = {"jaxkern": _jaxkern(nu, t, y), "tinygp": _tinygp(nu, t, y)}
            # Interleaved: a burst of load on the shared machine lands on both libraries.
            timings, first = _harness.interleaved(peers, rounds=rounds)
            values = {name: float(out[0]) for name, out in first.items()}
            load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
            for name, tm in timings.items():
                rows.append({
                    "kernel": nu, "n": n, "library": name, "median_ms": 1e3 * tm["median_s"],
                    "min_ms": 1e3 * tm["min_s"], "compile_s": tm["compile_s"],
                    "repeats": tm["repeats"], "lml": values[name],
                    "lml_rel_diff_vs_tinygp": abs(values[name] - values["tinygp"])
                    / abs(values["tinygp"]),
                    "tinygp_over_this": _harness.ratio(timings["tinygp"], tm),
                    "load_average_1min": load,
                })
    print(_harness.table(rows, ["kernel", "n", "library", "median_ms", "min_ms", "compile_s",
                                "lml_rel_diff_vs_tinygp", "tinygp_over_this",
                                "load_average_1min"]))
    return {"what": "log marginal likelihood + gradient (lengthscale, variance, noise), "
                    "Matern-3/2 and 5/2 on sorted irregular times, float64, jitted, median "
                    "after warm-up, jaxkern and tinygp timed in turns (interleaved rounds); "
                    "tinygp = tinygp.solvers.QuasisepSolver in the same process; "
                    "tinygp_over_this > 1 means faster than tinygp; shared 2-core machine "
                    "(absolute times are noise, the ratio is the figure; load_average_1min "
                    "is read after each cell)",
            "xla_flags": os.environ.get("XLA_FLAGS", ""),
            "rows": rows}
