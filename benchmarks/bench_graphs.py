"""Graph filters and eigenpairs: jaxkern against PyGSP, torch_geometric and dense eigh.

1. Heat filter e^{-tau L} of 16 signals on PyGSP's Minnesota road graph (2642 nodes, normalised
   Laplacian, Chebyshev order 30): jaxkern's jitted three-term recurrence over the edge list
   against PyGSP's `cheby_op` (SciPy sparse), same coefficients, same process.
2. ChebConv forward (K = 10, 16 -> 16 channels) on the same graph: jaxkern against
   torch_geometric's `ChebConv` (CPU torch), copied weights.
3. The lowest 30 eigenpairs of the connection Laplacian of points on S^2 (k = 12): jaxkern's
   heat-filtered multi-start Lanczos against NumPy's dense eigh of the same matrix.

float64 for 1 and 3, float32 for 2. Ran on a shared 2-core machine: absolute times are noisy,
the ratios are the figure.
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _harness


def _minnesota():
    import pygsp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = pygsp.graphs.Minnesota()
        G.compute_laplacian("normalized")
        G.estimate_lmax()  # PyGSP's cheby_op filters on [0, G.lmax]; we use the same bound
    return G


def _filters(G, rows):
    import pygsp

    from jaxkern.graphs import (
        chebyshev_coefficients,
        chebyshev_filter,
        graph_from_adjacency,
        laplacian,
    )

    x = np.random.default_rng(0).standard_normal((G.N, 16))
    order, tau = 30, 10.0
    lmax = float(G.lmax)
    c = chebyshev_coefficients(lambda lam: jnp.exp(-tau * lam), order, lambda_max=lmax)
    c_pygsp = np.asarray(c).copy()
    c_pygsp[0] *= 2  # PyGSP halves c_0 itself
    L = laplacian(graph_from_adjacency(G.W.astype(np.float64)), normalization="sym")
    f = jax.jit(lambda x: chebyshev_filter(L, x, c, lambda_max=lmax))
    xj = jnp.asarray(x)
    t_ours, y = _harness.timed_call(lambda: f(xj), repeats=7)
    t_ref, y_ref = _harness.timed_call(
        lambda: pygsp.filters.approximations.cheby_op(G, c_pygsp, x), repeats=7)
    diff = float(np.max(np.abs(np.asarray(y) - y_ref)) / np.max(np.abs(y_ref)))
    for name, t in (("jaxkern", t_ours), ("pygsp", t_ref)):
        rows.append({"task": "heat filter, Minnesota, order 30, 16 signals", "library": name,
                     "median_ms": 1e3 * t["median_s"], "compile_s": t["compile_s"],
                     "max_rel_diff": diff, "jaxkern_speedup": _harness.ratio(t, t_ours)})


def _chebconv(G, rows):
    import equinox as eqx
    import torch
    import torch_geometric.nn as tgnn

    from jaxkern.graphs import ChebConv, graph_from_adjacency, laplacian

    torch.manual_seed(0)
    torch.set_num_threads(2)  # the machine's cores; more threads only oversubscribe them
    ref = tgnn.ChebConv(16, 16, K=10, normalization="sym")
    W = G.W.tocoo()
    ei = torch.tensor(np.stack([W.row, W.col]), dtype=torch.long)
    ew = torch.tensor(W.data, dtype=torch.float32)
    x = np.random.default_rng(1).standard_normal((G.N, 16)).astype(np.float32)
    xt = torch.tensor(x)
    layer = ChebConv(16, 16, K=10, key=jax.random.key(0), dtype=jnp.float32)
    weight = jnp.stack([jnp.asarray(lin.weight.detach().numpy().T) for lin in ref.lins])
    layer = eqx.tree_at(lambda m: (m.weight, m.bias), layer,
                        (weight, jnp.asarray(ref.bias.detach().numpy())))
    L = laplacian(graph_from_adjacency(G.W.astype(np.float32)), normalization="sym")
    f = eqx.filter_jit(lambda m, x: m(x, L))
    xj = jnp.asarray(x)
    t_ours, y = _harness.timed_call(lambda: f(layer, xj), repeats=7)

    def torch_call():
        with torch.no_grad():
            return ref(xt, ei, ew, lambda_max=2.0)

    t_ref, y_ref = _harness.timed_call(torch_call, repeats=7)
    diff = float(np.max(np.abs(np.asarray(y) - y_ref.numpy())))
    for name, t in (("jaxkern", t_ours), ("torch_geometric", t_ref)):
        rows.append({"task": "ChebConv K=10, 16->16, Minnesota, float32", "library": name,
                     "median_ms": 1e3 * t["median_s"], "compile_s": t["compile_s"],
                     "max_rel_diff": diff, "jaxkern_speedup": _harness.ratio(t, t_ours)})


def _eigenpairs(n, rows):
    from jaxkern.graphs import (
        chebyshev_coefficients,
        chebyshev_filter,
        connection_laplacian,
        lowest_eigenpairs,
    )

    X = np.random.default_rng(2).standard_normal((n, 3))
    X = jnp.asarray(X / np.linalg.norm(X, axis=1, keepdims=True))
    L = connection_laplacian(X, k=12, dim=2)
    lmax = float(L.lambda_max_bound())
    # tau = 20 at n = 4000; the low eigenvalues grow like 1/n, so tau shrinks with n
    c = chebyshev_coefficients(lambda lam: jnp.exp(-20 * lam * n / 4000), 60, lambda_max=lmax)
    v0 = jax.random.normal(jax.random.key(0), (2, 2 * n), jnp.float64)
    f = jax.jit(lambda v: lowest_eigenpairs(
        L, 30, v0=v, num_steps=60,
        krylov_matvec=lambda u: chebyshev_filter(L, u, c, lambda_max=lmax)))
    t_ours, pairs = _harness.timed_call(lambda: f(v0), repeats=3)
    dense = np.asarray(L.todense())
    t_ref, ref = _harness.timed_call(lambda: np.linalg.eigh(dense)[0], repeats=3)
    diff = float(np.max(np.abs(np.asarray(pairs.values) - ref[:30]) / ref[:30]))
    means = ref[:6].mean(), ref[6:16].mean(), ref[16:30].mean()
    for name, t in (("jaxkern (Lanczos)", t_ours), ("numpy eigh (dense)", t_ref)):
        rows.append({"task": f"lowest 30 eigenpairs, S^2 connection Laplacian, n={n} "
                             f"(N={2 * n})", "library": name,
                     "median_ms": 1e3 * t["median_s"], "compile_s": t["compile_s"],
                     "max_rel_diff": diff, "jaxkern_speedup": _harness.ratio(t, t_ours),
                     "cluster_ratios": [float(m / means[0]) for m in means]})


def run(quick: bool) -> dict:
    jax.config.update("jax_enable_x64", True)
    rows: list[dict] = []
    G = _minnesota()
    _filters(G, rows)
    _chebconv(G, rows)
    for n in ([300] if quick else [1000, 2000]):
        _eigenpairs(n, rows)
    print(_harness.table(rows, ["task", "library", "median_ms", "compile_s", "max_rel_diff",
                                "jaxkern_speedup"]))
    return {"what": "graph filters (vs PyGSP cheby_op), ChebConv (vs torch_geometric), lowest "
                    "eigenpairs (vs dense numpy eigh); medians after warm-up, compile_s = first "
                    "call - median; shared 2-core machine: ratios are the figure",
            "rows": rows}
