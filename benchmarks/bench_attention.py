"""Kernelized attention with an FFT relative-position bias vs exact softmax attention.

Forward and forward+backward time and XLA's peak-memory account, one head, d = 64, m = 128
random features, for growing sequence length n. Exact attention is
`jax.nn.dot_product_attention` (no bias: the cheapest exact path); kernelized attention carries
a relative-position bias, applied by FFT. Exact attention is only run where its XLA memory
account fits the budget below; beyond it the row reports the memory it would need.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxkern.features import kernelized_attention

from . import _harness

D, M = 64, 128
RUN_LIMIT_MB = 6 * 1024  # the shared 24 GB machine: do not try to allocate more than this


def _fns(n):
    key = jax.random.key(0)
    kq, kk, kv, kb = jax.random.split(key, 4)
    q, k, v = (jax.random.normal(s, (1, n, 1, D), jnp.float32) for s in (kq, kk, kv))
    bias = 0.1 * jax.random.normal(kb, (2 * n - 1,), jnp.float32)

    def ours(q, k, v, bias):
        return kernelized_attention(q, k, v, key=key, num_features=M, rpe_bias=bias)

    def exact(q, k, v, bias):
        return jax.nn.dot_product_attention(q, k, v)

    def backward(f):
        return jax.grad(lambda q, k, v, b: jnp.sum(f(q, k, v, b) ** 2), argnums=(0, 1, 2))

    return (q, k, v, bias), {
        ("kernelized", "forward"): jax.jit(ours),
        ("kernelized", "backward"): jax.jit(backward(ours)),
        ("exact", "forward"): jax.jit(exact),
        ("exact", "backward"): jax.jit(backward(exact)),
    }


def run(quick: bool) -> dict:
    sizes = [256, 1024] if quick else [1024, 4096, 16384, 65536]
    rows = []
    for n in sizes:
        args, fns = _fns(n)
        for (method, pass_), fn in fns.items():
            memory = _harness.xla_memory(fn, *args)
            row = {"n": n, "method": method, "pass": pass_, "peak_mb": memory["peak_mb"]}
            if memory["peak_mb"] <= RUN_LIMIT_MB:
                # xla_memory's compile fills the jit caches; empty them so that the timed first
                # call compiles again and compile_s is not zero
                jax.clear_caches()
                # One timed repeat at the largest sizes: seconds per call on a shared 2-core box.
                t = _harness.time_call(lambda fn=fn: fn(*args), repeats=3 if n <= 4096 else 1)
                row.update(median_s=t["median_s"], compile_s=t["compile_s"])
            else:
                row["median_s"] = "not run (memory)"
            rows.append(row)
            print(row, flush=True)
    crossover = {}
    for pass_ in ("forward", "backward"):
        faster = [n for n in sizes if _faster(rows, n, pass_)]
        crossover[pass_] = min(faster) if faster else None
    print(_harness.table(rows, ["n", "method", "pass", "median_s", "peak_mb", "compile_s"]))
    print("smallest n where kernelized is faster:", crossover)
    return {"d": D, "num_features": M, "rows": rows, "crossover_n": crossover}


def _faster(rows, n, pass_):
    t = {r["method"]: r["median_s"] for r in rows if r["n"] == n and r["pass"] == pass_}
    if isinstance(t["exact"], str):  # exact did not fit
        return True
    return t["kernelized"] < t["exact"]
