"""Gaunt tensor product (2D FFT) vs e3nn-jax's full tensor product and its sphere-grid product.

Batch 1024, float32, all in one process. Each contender maps two coefficient batches of degree
`lmax` to the product up to degree 2 lmax:

- `gaunt`: `jaxkern.equivariant.gaunt_product` (2D Fourier basis, zero-padded FFT).
- `e3nn_grid`: e3nn-jax `from_s2grid(to_s2grid(x) * to_s2grid(y))`, the exact (Gauss–Legendre
  2L+1 by 4L+1) grid, i.e. the same Gaunt product computed on a sphere grid.
- `e3nn_full`: e3nn-jax `tensor_product` (every Clebsch–Gordan path, both parities), the
  general product the Gaunt product replaces; its compile time grows steeply with lmax.

Compile time is the first call of a fresh `jax.jit` minus the median run. The runs are
interleaved: every round times a few calls of each contender in turn, so that a burst of load
on a shared machine lands on all of them instead of on whichever was being timed.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from benchmarks import _harness
from jaxkern.equivariant import gaunt_product

BATCH = 1024


def _inputs(lmax: int):
    n = (lmax + 1) ** 2
    x = jax.random.normal(jax.random.key(0), (BATCH, n), jnp.float32)
    y = jax.random.normal(jax.random.key(1), (BATCH, n), jnp.float32)
    return x, y


def _contenders(lmax: int, full_lmax: int):
    import e3nn_jax as e3nn

    irreps = e3nn.s2_irreps(lmax)
    out_irreps = e3nn.s2_irreps(2 * lmax)
    res_beta, res_alpha = 2 * lmax + 1, 4 * lmax + 1

    def grid(x, y):
        def to_grid(c):
            return e3nn.to_s2grid(e3nn.IrrepsArray(irreps, c), res_beta, res_alpha,
                                  quadrature="gausslegendre", normalization="integral",
                                  p_val=1, p_arg=-1)

        return e3nn.from_s2grid(to_grid(x) * to_grid(y), out_irreps,
                                normalization="integral").array

    def full(x, y):
        return e3nn.tensor_product(e3nn.IrrepsArray(irreps, x),
                                   e3nn.IrrepsArray(irreps, y)).array

    out = {"gaunt": jax.jit(gaunt_product), "e3nn_grid": jax.jit(grid)}
    if lmax <= full_lmax:
        out["e3nn_full"] = jax.jit(full)
    return out


def run(quick: bool) -> dict:
    lmaxes = [2] if quick else [2, 4, 6, 8, 12]
    full_lmax = 2 if quick else 8
    rounds, calls = (3, 3) if quick else (7, 5)
    rows = []
    for lmax in lmaxes:
        x, y = _inputs(lmax)
        row = {"lmax": lmax, "batch": BATCH}
        fns = {name: functools.partial(fn, x, y)
               for name, fn in _contenders(lmax, full_lmax).items()}
        times, _ = _harness.interleaved(fns, rounds=rounds, calls=calls)
        for name, t in times.items():
            row[f"{name}_ms"] = 1e3 * t["median_s"]
            row[f"{name}_compile_s"] = t["compile_s"]
        row["speedup_vs_grid"] = _harness.ratio(times["e3nn_grid"], times["gaunt"])
        if "e3nn_full" in times:
            row["speedup_vs_full"] = _harness.ratio(times["e3nn_full"], times["gaunt"])
        rows.append(row)
        print(f"   lmax {lmax}: " + ", ".join(f"{k} {v:.3g}" for k, v in row.items()
                                             if k not in ("lmax", "batch")), flush=True)
    columns = ["lmax", "gaunt_ms", "e3nn_grid_ms", "e3nn_full_ms", "speedup_vs_grid",
               "speedup_vs_full", "gaunt_compile_s", "e3nn_grid_compile_s",
               "e3nn_full_compile_s"]
    print(_harness.table(rows, columns))
    return {
        "description": "Gaunt product of two degree-lmax batches to degree 2 lmax, float32, "
                       f"batch {BATCH}; e3nn_full only up to lmax {full_lmax} (compile time); "
                       f"medians of {rounds} x {calls} interleaved runs.",
        "rows": rows,
    }
