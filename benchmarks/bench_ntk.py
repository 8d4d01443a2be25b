"""Closed-form NTK in blocks against a plain full-matrix JAX recursion; empirical NTK by
Jacobian contraction against NTK-vector products.

neural-tangents 0.6.5 installs here (it pulls in tensorflow 2.21) but does not import under
jax 0.10: it needs `jax.core.Jaxpr`, `jax.util` and `jax.interpreters.ad.zeros_like_p`, all
removed from jax. So the peer is a plain JAX version of the same recursion: the whole
(n, n) matrices at once, as neural-tangents' `kernel_fn` computes them without `batch`.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from jaxkern.deep import empirical_ntk, init_mlp, mlp, nngp_ntk_gram

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


def _empirical(quick: bool) -> list[dict]:
    n = 16 if quick else 64
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
        fns = {m: jax.jit(functools.partial(empirical_ntk, f, method=m, block_size=16))
               for m in ("jacobian", "ntvp")}
        times = {m: _harness.time_call(lambda fn=fn: fn(params, X), repeats=3)
                 for m, fn in fns.items()}
        diff = float(jnp.max(jnp.abs(fns["jacobian"](params, X) - fns["ntvp"](params, X))))
        rows.append({"network": name, "n": n,
                     "jacobian_s": times["jacobian"]["median_s"],
                     "ntvp_s": times["ntvp"]["median_s"],
                     "ratio_ntvp_over_jacobian": _harness.ratio(times["ntvp"],
                                                                times["jacobian"]),
                     "max_abs_diff": diff})
    print(_harness.table(rows, ["network", "n", "jacobian_s", "ntvp_s",
                                "ratio_ntvp_over_jacobian", "max_abs_diff"]))
    return rows


def run(quick: bool) -> dict:
    return {"closed_form": _closed_form(quick), "empirical": _empirical(quick)}
