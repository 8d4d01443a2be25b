"""Krylov recycling on a sequence of 2-D Darcy problems: matvecs and wall time per system.

The problems (paper #18, SKR, generates its Darcy data this way): $-\\nabla\\cdot(a\\nabla u) = 1$
on the unit square, zero Dirichlet data, a 62 x 62 interior grid, the five-point stencil with
face coefficients the mean of the two nodes' values, and $a = \\exp(1.25\\, g)$ with $g$ a
Gaussian random field of covariance $\\propto(-\\Delta + \\tau^2)^{-\\alpha}$, $\\alpha = 2$,
$\\tau = 3$ (the FNO/SKR Darcy generator's spectrum, sampled on the 64 x 64 node grid with
seeded NumPy; the factor 1.25 puts SciPy's counts where issue 18 quotes them). 60 systems,
rtol 1e-8, float64.

jaxkern (a jitted stencil, the whole sequence one jitted `solve_sequence`):
GCRO-DR(40, 20) recycled in the given order and in SKR's greedy order, GCRO-DR without
recycling, deflated CG (k = 16, window 16, stride 4) recycled, and plain `cg`. SciPy in the same
process on the same CSR matrices: `cg`, `gmres(restart=40)`, `gcrotmk` fresh, and `gcrotmk`
with its `CU` carried from system to system (C discarded and recomputed for each new matrix,
as its docs prescribe). A matvec counts every product with A, the $k$ per system that
recycling spends on $C = AU$ included. Times are per system (median over repeats of the whole
sequence divided by its length; compilation reported apart).

`recycle_fit` rows: `jaxkern.gp.fit` with the CG solver (`CG()` at its defaults, fixed probes),
100 Adam steps from RBF() and noise 0.1 on the data of `bench_scalable._data` (RBF, d = 3,
float64), with `recycle=True` (each step's CG warm-started from the previous step's solutions)
and `recycle=False` (every step from zero): total CG iterations (`FitResult.cg_iterations`),
wall time of the whole fit (compilation included, and reported apart) and the largest loss
difference between the two fits. That part runs alone, merging its rows into
`results/recycle.json`: `python -m benchmarks.bench_recycle fit [N ...] [--steps S]`.
"""

from __future__ import annotations

import os
import sys

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402

from jaxkern.linalg import cg, gcrodr, solve_sequence  # noqa: E402

from . import _harness  # noqa: E402
from .bench_scalable import _data  # noqa: E402

RTOL = 1e-8
SCALE = 1.25
FIT_SIZES = (2000, 4000)
FIT_STEPS = 100
GCRODR = dict(cycle_length=40, recycle_dim=20)
DEFCG = dict(recycle_dim=16, window=16, stride=4)


def grf(rng, s: int, *, alpha: float = 2.0, tau: float = 3.0) -> np.ndarray:
    """A periodic GRF, s x s grid, spectrum (4 pi^2 |k|^2 + tau^2)^-alpha."""
    k = np.fft.fftfreq(s, d=1.0 / s)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    sigma = tau ** (alpha - 1.0)
    sqrt_eig = s * s * np.sqrt(2.0) * sigma * (4 * np.pi**2 * (kx**2 + ky**2) + tau**2) ** (
        -alpha / 2)
    sqrt_eig[0, 0] = 0.0
    xi = rng.standard_normal((s, s)) + 1j * rng.standard_normal((s, s))
    return np.real(np.fft.ifft2(sqrt_eig * xi))


def coefficients(num: int, n: int, seed: int = 0) -> np.ndarray:
    """a on the (n + 2)^2 nodes (boundary included) for `num` problems, float64."""
    rng = np.random.default_rng(seed)
    return np.stack([np.exp(SCALE * grf(rng, n + 2)) for _ in range(num)])


def _faces(a, n):
    h2 = float(n + 1) ** 2
    ax = 0.5 * (a[1:, 1:-1] + a[:-1, 1:-1]) * h2   # (n+1, n): faces between rows i-1, i
    ay = 0.5 * (a[1:-1, 1:] + a[1:-1, :-1]) * h2   # (n, n+1)
    return ax, ay


def stencil(a, v):
    """A(a) v for the five-point operator, v flat of length n^2 (jnp)."""
    n = a.shape[0] - 2
    ax, ay = _faces(a, n)
    u = jnp.pad(v.reshape(n, n), 1)
    fx = ax * (u[1:, 1:-1] - u[:-1, 1:-1])
    fy = ay * (u[1:-1, 1:] - u[1:-1, :-1])
    return (-(fx[1:] - fx[:-1]) - (fy[:, 1:] - fy[:, :-1])).ravel()


def csr(a: np.ndarray) -> sp.csr_matrix:
    """The same operator as a SciPy CSR matrix."""
    n = a.shape[0] - 2
    ax, ay = _faces(a, n)
    idx = np.arange(n * n).reshape(n, n)
    diag = ax[:-1] + ax[1:] + ay[:, :-1] + ay[:, 1:]
    ex, ey = -ax[1:-1], -ay[:, 1:-1]
    rows = [idx.ravel(), idx[:-1].ravel(), idx[1:].ravel(), idx[:, :-1].ravel(), idx[:, 1:].ravel()]
    cols = [idx.ravel(), idx[1:].ravel(), idx[:-1].ravel(), idx[:, 1:].ravel(), idx[:, :-1].ravel()]
    vals = [diag.ravel(), ex.ravel(), ex.ravel(), ey.ravel(), ey.ravel()]
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                         shape=(n * n, n * n))


class _Counted:
    def __init__(self, A):
        self.A, self.count = A, 0

    def __call__(self, v):
        self.count += 1
        return self.A @ v


def _scipy(method: str, mats, b):
    """Solve every system with a SciPy method; per-system matvecs and solutions."""
    counts, xs, infos = [], [], []
    CU: list = []
    for A in mats:
        op = _Counted(A)
        lin = sla.LinearOperator(A.shape, matvec=op, dtype=np.float64)
        if method == "cg":
            x, info = sla.cg(lin, b, rtol=RTOL, maxiter=20_000)
        elif method == "gmres(40)":
            x, info = sla.gmres(lin, b, rtol=RTOL, restart=40, maxiter=2_000)
        elif method == "gcrotmk":
            x, info = sla.gcrotmk(lin, b, rtol=RTOL, maxiter=2_000)
        else:  # gcrotmk, CU recycled: C belongs to the old matrix, so it is dropped
            CU[:] = [(None, u) for _, u in CU]
            x, info = sla.gcrotmk(lin, b, rtol=RTOL, maxiter=2_000, CU=CU, discard_C=True)
        counts.append(op.count)
        xs.append(x)
        infos.append(info)
    return np.array(counts), np.stack(xs), np.array(infos) == 0


def _rel_residual(mats, b, xs) -> float:
    return max(float(np.linalg.norm(b - A @ x) / np.linalg.norm(b)) for A, x in zip(mats, xs))


def run(quick: bool) -> dict:
    num, n = (6, 62) if quick else (60, 62)
    repeats = 1 if quick else 3
    a_np = coefficients(num, n)
    mats = [csr(a) for a in a_np]
    b_np = np.ones(n * n)
    a = jnp.asarray(a_np)
    bs = jnp.ones((num, n * n), jnp.float64)
    rows = []

    def add(name, family, counts, xs, ok, timing, **extra):
        counts = np.asarray(counts)
        rows.append({
            "method": name, "family": family, "matvecs_per_system": float(counts.mean()),
            "matvecs_after_first": float(counts[1:].mean()) if len(counts) > 1 else None,
            "matvecs_max": int(counts.max()), "all_converged": bool(np.all(ok)),
            "max_rel_residual": _rel_residual(mats, b_np, np.asarray(xs)),
            "s_per_system": timing["median_s"] / num, "compile_s": timing["compile_s"],
            **extra,
        })
        print(f"   {name}: {rows[-1]['matvecs_per_system']:.1f} matvecs/system, "
              f"{rows[-1]['s_per_system'] * 1e3:.2f} ms/system", flush=True)

    # --- SciPy, same process
    for method in ["cg", "gmres(40)", "gcrotmk", "gcrotmk + CU recycled"]:
        reps = repeats if method == "cg" else 1
        timing, (counts, xs, ok) = _harness.timed_call(
            lambda method=method: _scipy(method, mats, b_np), repeats=reps, warmup=0)
        add(f"scipy {method}", "scipy", counts, xs, ok, timing)

    # --- jaxkern
    def sequence(method, order, **kw):
        return jax.jit(lambda a, bs: solve_sequence(stencil, a, bs, method=method, order=order,
                                                    rtol=RTOL, max_steps=3000, **kw))

    for name, fn in [
        ("jaxkern gcrodr(40, 20) recycled", sequence("gcrodr", None, **GCRODR)),
        ("jaxkern gcrodr(40, 20) recycled, greedy order", sequence("gcrodr", "greedy", **GCRODR)),
        ("jaxkern deflated_cg(k=16) recycled", sequence("deflated_cg", None, **DEFCG)),
        ("jaxkern deflated_cg(k=16) recycled, greedy order",
         sequence("deflated_cg", "greedy", **DEFCG)),
    ]:
        timing, res = _harness.timed_call(lambda fn=fn: fn(a, bs), repeats=repeats, warmup=0)
        add(name, "jaxkern", res.num_matvecs, res.solutions, res.converged, timing)

    def each(solve):
        one = jax.jit(solve)

        def all_systems():
            out = [one(a[i], bs[i]) for i in range(num)]
            return jax.tree.map(lambda *x: jnp.stack(x), *out)

        return all_systems

    fresh = each(lambda a, b: gcrodr(lambda v: stencil(a, v), b, rtol=RTOL, max_steps=3000,
                                     **GCRODR))
    timing, res = _harness.timed_call(fresh, repeats=repeats, warmup=0)
    add("jaxkern gcrodr(40, 20) fresh", "jaxkern", res.num_matvecs, res.solution, res.converged,
        timing)
    plain = each(lambda a, b: cg(lambda v: stencil(a, v), b, rtol=RTOL, max_steps=3000))
    timing, res = _harness.timed_call(plain, repeats=repeats, warmup=0)
    add("jaxkern cg", "jaxkern", res.iterations, res.solution, res.converged, timing)

    by = {r["method"]: r for r in rows}
    t_cg = by["scipy cg"]["s_per_system"]
    for r in rows:
        r["time_vs_scipy_cg"] = r["s_per_system"] / t_cg
    gc = by["jaxkern gcrodr(40, 20) recycled"]
    dc = by["jaxkern deflated_cg(k=16) recycled"]
    bars = {
        "gcrodr_recycled_matvecs": gc["matvecs_per_system"],
        "gcrodr_recycled_le_231": gc["matvecs_per_system"] <= 231,
        "gcrodr_recycled_le_scipy_gcrotmk_CU": gc["matvecs_per_system"]
        <= by["scipy gcrotmk + CU recycled"]["matvecs_per_system"],
        "deflated_cg_matvec_reduction_vs_scipy_cg": 1 - dc["matvecs_per_system"]
        / by["scipy cg"]["matvecs_per_system"],
        "deflated_cg_at_least_20pct_fewer": dc["matvecs_per_system"]
        <= 0.8 * by["scipy cg"]["matvecs_per_system"],
        "deflated_cg_time_le_scipy_cg": dc["s_per_system"] <= t_cg,
        "gcrodr_time_vs_scipy_gcrotmk_CU": gc["s_per_system"]
        / by["scipy gcrotmk + CU recycled"]["s_per_system"],
    }
    print(_harness.table(rows, ["method", "matvecs_per_system", "matvecs_after_first",
                                "matvecs_max", "all_converged", "max_rel_residual",
                                "s_per_system", "time_vs_scipy_cg", "compile_s"]))
    print(bars)
    fit_sizes, fit_steps = ((300,), 10) if quick else (FIT_SIZES, FIT_STEPS)
    return {
        "recycle_fit": fit_rows(fit_sizes, fit_steps),
        "what": (f"{num} Darcy systems, {n}x{n} interior, five-point stencil, a = exp({SCALE} "
                 f"GRF(alpha=2, tau=3)), b = 1, rtol {RTOL:g}, float64"),
        "command": "python -m benchmarks.run recycle" + (" --quick" if quick else ""),
        "settings": {"gcrodr": GCRODR, "deflated_cg": DEFCG},
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "argv": sys.argv,
        "rows": rows,
        "bars": bars,
    }


# ---------------------------------------------------------------- GP fit, recycled CG solves


def _fit_once(X, y, steps, recycle):
    import time

    from jaxkern.gp import CG, fit
    from jaxkern.kernels import RBF

    with _harness.compile_time() as comp:
        start = time.perf_counter()
        result = fit(RBF(), X, y, noise=0.1, num_steps=steps, solver=CG(), recycle=recycle,
                     progress=False)
        wall = time.perf_counter() - start
    return result, wall, comp["compile_s"]


def fit_rows(sizes, steps: int) -> list[dict]:
    """100-step Adam CG fits with and without recycling: CG iterations and wall time."""
    rows = []
    for n in sizes:
        X, y = _data(n)
        out = {}
        for rec in (False, True):
            out[rec] = _fit_once(X, y, steps, rec)
            print(f"   n = {n}, recycle = {rec}: {out[rec][0].cg_iterations} CG iterations, "
                  f"{out[rec][1]:.1f} s", flush=True)
        cold, warm = out[False][0], out[True][0]
        for rec, (res, wall, comp) in out.items():
            rows.append({
                "n": n, "steps": steps, "recycle": rec, "cg_iterations": res.cg_iterations,
                "iterations_per_step": res.cg_iterations / res.num_steps, "wall_s": wall,
                "compile_s": comp, "final_loss": float(res.losses[-1]),
                "final_noise": float(res.noise),
                "final_lengthscale": float(res.kernel.lengthscale),
            })
        diff = np.abs(warm.losses - cold.losses) / np.maximum(1.0, np.abs(cold.losses))
        for r in rows[-2:]:
            r["max_rel_loss_diff"] = float(diff.max())
            r["max_abs_loss_diff"] = float(np.abs(warm.losses - cold.losses).max())
            r["iterations_saved"] = 1 - warm.cg_iterations / cold.cg_iterations
            r["time_ratio_recycled_over_cold"] = out[True][1] / out[False][1]
        print(_harness.table(rows[-2:], ["n", "recycle", "cg_iterations", "wall_s",
                                         "compile_s", "max_abs_loss_diff", "final_noise"]),
              flush=True)
    return rows


def _merge_fit(sizes, steps: int) -> None:
    """Run only the fit rows and merge them into results/recycle.json (other rows kept)."""
    import json

    path = _harness.RESULTS / "recycle.json"
    payload = json.loads(path.read_text()) if path.exists() else {"benchmark": "recycle"}
    rows = fit_rows(sizes, steps)
    kept = [r for r in payload.get("recycle_fit", []) if r["n"] not in sizes]
    payload["recycle_fit"] = sorted(kept + rows, key=lambda r: (r["n"], r["recycle"]))
    payload["recycle_fit_machine"] = _harness.machine()
    payload["recycle_fit_command"] = ("python -m benchmarks.bench_recycle fit "
                                      + " ".join(map(str, sizes)) + f" --steps {steps}")
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    print(f"merged into {path}")


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="recycled GP fit rows only")
    parser.add_argument("part", choices=["fit"])
    parser.add_argument("sizes", nargs="*", type=int, default=list(FIT_SIZES))
    parser.add_argument("--steps", type=int, default=FIT_STEPS)
    cli = parser.parse_args()
    _merge_fit(tuple(cli.sizes), cli.steps)
