"""`kernel_matvec` against a dense Gram-matrix product: time and peak memory.

The blocked product never holds more than one (block, block) tile of the Gram matrix; the dense
product forms all of it. At n = m = 200,000 (d = 8) the dense float64 matrix would need 320 GB,
so only the blocked product runs there. Memory is XLA's buffer account of the compiled
computation (arguments + outputs + temporaries) and the child process's peak resident set.
"""

from __future__ import annotations

import resource

import jax
import jax.numpy as jnp

from benchmarks import _harness
from jaxkern.kernels import RBF, gram, kernel_matvec

D = 8
BLOCK = 2048


def _inputs(n: int):
    X = jax.random.normal(jax.random.key(0), (n, D), dtype=jnp.float64)
    v = jax.random.normal(jax.random.key(1), (n,), dtype=jnp.float64)
    return X, v


def run(quick: bool) -> dict:
    jax.config.update("jax_enable_x64", True)
    k = RBF(lengthscale=2.0)
    blocked = jax.jit(lambda X, v: kernel_matvec(k, X, X, v, block_size=BLOCK))
    dense = jax.jit(lambda X, v: gram(k, X) @ v)
    rows = []
    for n in [4000] if quick else [4000, 20_000]:
        X, v = _inputs(n)
        err = float(jnp.max(jnp.abs(blocked(X, v) - dense(X, v))) / jnp.max(jnp.abs(dense(X, v))))
        for name, fn in [("kernel_matvec", blocked), ("dense gram @ v", dense)]:
            t = _harness.time_call(lambda fn=fn: fn(X, v), repeats=3)
            mem = _harness.xla_memory(fn, X, v)
            rows.append({"n": n, "method": name, "median_s": t["median_s"],
                         "evals_per_s": n * n / t["median_s"], "xla_peak_mb": mem["peak_mb"],
                         "max_rel_diff": err})
    big = 200_000
    spec = jax.ShapeDtypeStruct((big, D), jnp.float64), jax.ShapeDtypeStruct((big,), jnp.float64)
    mem = _harness.xla_memory(blocked, *spec)
    row = {"n": big, "method": "kernel_matvec", "xla_peak_mb": mem["peak_mb"],
           "dense_would_need_mb": big * big * 8 / 2**20}
    if not quick:
        X, v = _inputs(big)
        t = _harness.time_call(lambda: blocked(X, v), repeats=1, warmup=0)
        row.update(median_s=t["median_s"], evals_per_s=big * big / t["median_s"],
                   rss_peak_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    rows.append(row)
    print(_harness.table(rows, ["n", "method", "median_s", "evals_per_s", "xla_peak_mb",
                                "rss_peak_mb", "dense_would_need_mb", "max_rel_diff"]))
    return {"what": f"K(X, X) v, RBF, d={D}, float64, block_size={BLOCK}", "rows": rows}
