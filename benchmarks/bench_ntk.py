"""Closed-form NTK in blocks against a plain full-matrix JAX recursion; the empirical NTK's
three strategies (Jacobian contraction, NTK-vector products, structured derivatives) and
`method="auto"` against neural-tangents' `empirical_ntk_fn`, on an MLP and a CNN.

neural-tangents 0.6.5 installs here (it pulls in tensorflow 2.21) but does not import under
jax 0.10: it needs `jax.core.Jaxpr`, `jax.util` and `jax.interpreters.ad.zeros_like_p`, all
removed from jax (`from neural_tangents._src import empirical` fails at
`from jax.core import Jaxpr`). So the peers are transcriptions: for the closed form, a plain
JAX version of the same recursion (the whole (n, n) matrices at once, as its `kernel_fn`
computes them without `batch`); for the empirical NTK, its default Jacobian contraction
(`nt_jacobian_contraction` below), timed in the same process, interleaved with ours.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxkern.deep import empirical_ntk, empirical_ntk_costs, init_mlp, mlp, nngp_ntk_gram

from . import _harness

DEPTH = 3


def plain_relu_ntk(X: jax.Array, depth: int = DEPTH) -> jax.Array:
    """The ReLU NTK recursion (W_std = 1, b_std = 0) on full matrices, no blocking."""
    nngp = X @ X.T / X.shape[1]
    ntk = nngp
    for _ in range(depth):
        d = jnp.sqrt(jnp.diagonal(nngp))
        c = jnp.clip(nngp / (d[:, None] * d[None, :]), -1, 1)
        theta = jnp.arccos(c)
        dot = (math.pi - theta) / (2 * math.pi)
        nngp = d[:, None] * d[None, :] * (jnp.sin(theta) + (math.pi - theta) * c) / (2 * math.pi)
        ntk = nngp + dot * ntk
    return ntk


def _closed_form(quick: bool) -> dict:
    n, d = (500, 64) if quick else (4000, 64)
    X = jax.random.normal(jax.random.key(0), (n, d), dtype=jnp.result_type(float))
    plain = jax.jit(plain_relu_ntk)
    # values from the first, timed call of each fresh jit (an earlier call would compile it
    # outside the timing and report compile_s = 0)
    t_plain, b = _harness.timed_call(lambda: plain(X), repeats=3)
    b = np.asarray(b, np.float64)
    off = ~np.eye(n, dtype=bool)  # the diagonal carries the sqrt(eps) arccos rounding
    m_plain = _harness.xla_memory(plain, X)
    rows, rel = [], 0.0
    # one tile (block = n) is the plain recursion's memory; 512 bounds it at O(block^2), but
    # XLA:CPU runs the loop body's fusions on one thread, which costs the second core
    for block in (512, n):
        ours = jax.jit(lambda X, block=block: nngp_ntk_gram(X, depth=DEPTH, block_size=block).ntk)
        t_ours, a = _harness.timed_call(lambda: ours(X), repeats=3)
        a = np.asarray(a, np.float64)
        rel = max(rel, float(np.max(np.abs(a - b)[off]) / np.max(np.abs(b))))
        m_ours = _harness.xla_memory(ours, X)
        rows.append({"method": f"jaxkern nngp_ntk_gram (block {block})",
                     "median_s": t_ours["median_s"], "compile_s": t_ours["compile_s"],
                     "peak_mb": m_ours["peak_mb"], "temp_mb": m_ours["temp_mb"],
                     "speed_ratio_plain_over_ours": _harness.ratio(t_plain, t_ours),
                     "temp_ratio_plain_over_ours": m_plain["temp_mb"] / m_ours["temp_mb"]})
    rows.append({"method": "plain JAX full-matrix recursion", "median_s": t_plain["median_s"],
                 "compile_s": t_plain["compile_s"], "peak_mb": m_plain["peak_mb"],
                 "temp_mb": m_plain["temp_mb"]})
    print(f"closed-form ReLU NTK, depth {DEPTH}, n={n}, d={d}")
    print(_harness.table(rows, ["method", "median_s", "compile_s", "peak_mb", "temp_mb",
                                "speed_ratio_plain_over_ours"]))
    return {"n": n, "d": d, "depth": DEPTH, "rows": rows, "max_rel_diff_offdiag": rel}


def _cnn(params, img):
    h = jax.lax.conv_general_dilated(img[None], params[0], (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    h = jax.nn.relu(h)
    h = jax.lax.conv_general_dilated(h, params[1], (1, 1), "SAME",
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jnp.mean(jax.nn.relu(h), axis=(0, 1, 2)) @ params[2]


def nt_jacobian_contraction(f, params, X1, X2=None):
    """A transcription of neural-tangents 0.6.5 `empirical_ntk_fn(f, trace_axes=(-1,),
    vmap_axes=0)` with its default `implementation=JACOBIAN_CONTRACTION`
    (`_jacobian_contraction_ntk_fn`): the Jacobians of the whole batch at once
    (`vmap(jacobian(f))`), each leaf contracted over the traced output axis and its parameter
    axes by one `dot_general`, divided by the traced size, summed over leaves. No tiling."""
    j_fn = jax.vmap(jax.jacrev(f), in_axes=(None, 0))
    j1 = j_fn(params, X1)
    j2 = j1 if X2 is None else j_fn(params, X2)
    size = jax.eval_shape(f, params, X1[0]).size

    def contract(a, b):
        axes = tuple(range(1, a.ndim))
        return jax.lax.dot_general(a, b, ((axes, axes), ((), ()))) / size

    return functools.reduce(jnp.add, jax.tree.leaves(jax.tree.map(contract, j1, j2)))


STRATEGIES = ("jacobian_contraction", "ntk_vector_products", "structured_derivatives", "auto")
NT = "neural-tangents JC (transcription)"


def _empirical(quick: bool) -> list[dict]:
    n = 16 if quick else 64
    rounds = 2 if quick else 5
    dtype = jnp.result_type(float)
    keys = jax.random.split(jax.random.key(1), 6)
    mlp_params = init_mlp(32, width=256, depth=2, out_dim=10, dtype=dtype, key=keys[0])
    cnn_params = (jax.random.normal(keys[1], (3, 3, 3, 16), dtype) / 5,
                  jax.random.normal(keys[2], (3, 3, 16, 16), dtype) / 12,
                  jax.random.normal(keys[3], (16, 10), dtype) / 4)
    cases = {
        "MLP 32-256-256-10": (functools.partial(mlp), mlp_params,
                              jax.random.normal(keys[4], (n, 32), dtype)),
        "CNN 8x8x3, 2 conv 16ch, 10 out": (_cnn, cnn_params,
                                           jax.random.normal(keys[5], (n, 8, 8, 3), dtype)),
    }
    rows = []
    for name, (f, params, X) in cases.items():
        fns = {s: jax.jit(functools.partial(empirical_ntk, f, method=s)) for s in STRATEGIES}
        fns[NT] = jax.jit(functools.partial(nt_jacobian_contraction, f))
        ref = np.asarray(fns["jacobian_contraction"](params, X), np.float64)
        diff = max(float(np.max(np.abs(np.asarray(fn(params, X), np.float64) - ref)))
                   for fn in fns.values()) / float(np.max(np.abs(ref)))
        # NTK-vector products run one forward-and-backward pass per pair and output: a few
        # seconds here, so one call per round; the others several
        calls = {k: (1 if k == "ntk_vector_products" else 3) for k in fns}
        times, _ = _harness.interleaved(
            {name: functools.partial(fn, params, X) for name, fn in fns.items()},
            rounds=rounds, calls=calls)
        costs = empirical_ntk_costs(f, params, X)
        ms = {k: 1e3 * v["median_s"] for k, v in times.items()}
        fastest = min(STRATEGIES[:3], key=lambda k: ms[k])
        row = {"network": name, "n": n, "block_size": 64}
        row.update({f"{k}_ms": ms[k] for k in STRATEGIES})
        row.update({"neural_tangents_ms": ms[NT], "auto_choice": costs.choice,
                    "fastest": fastest, "auto_over_fastest": ms["auto"] / ms[fastest],
                    "neural_tangents_over_auto": ms[NT] / ms["auto"],
                    "estimated_gflop": {k: getattr(costs, k) / 1e9 for k in STRATEGIES[:3]},
                    "max_rel_diff": diff, "timings": times})
        rows.append(row)
    print(f"empirical NTK, medians of {rounds} interleaved rounds (ms)")
    print(_harness.table(rows, ["network", "n"] + [f"{k}_ms" for k in STRATEGIES]
                         + ["neural_tangents_ms", "auto_choice", "auto_over_fastest",
                            "max_rel_diff"]))
    return rows


def run(quick: bool) -> dict:
    return {"closed_form": _closed_form(quick), "empirical": _empirical(quick)}
