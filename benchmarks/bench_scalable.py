"""Matrix-free kernel algebra (issue 18): SLQ log-determinants and CG + SLQ GP likelihoods.

1. log det(K + 0.1 I), RBF Gram of x ~ U[-3, 3]^3, 30 Rademacher probes x 30 Lanczos steps:
   `jaxkern.linalg.slq_logdet` vs matfree's SLQ (`funm.monte_carlo_funm_sym_logdet` with
   `decomp.tridiag_sym`, full reorthogonalisation as ours) and imate's `logdet(method="slq")`,
   all on the same dense matrix; relative error against NumPy's slogdet and time ratios.
2. GP log marginal likelihood + gradient (lengthscale, variance, noise), RBF, d = 3, float64:
   `log_marginal_likelihood(..., solver=CG(...))` (CG + SLQ over `kernel_matvec`, BBMM
   gradient) vs the dense Cholesky path, and vs GPyTorch's `ExactMarginalLogLikelihood` in its
   CG/Lanczos mode (`fast_computations`, CPU torch, same process) at the same settings:
   probes, preconditioner rank, CG tolerance and iteration cap.
3. Memory of the CG path at n = 20,000 and 100,000 from XLA's compiled memory account (the
   Gram matrix at n = 100,000 would take 80 GB).

`JAXKERN_BENCH_BIG=100000 python -m benchmarks.run scalable` runs, after a full run, one call
of 2.'s CG at n = 100,000 (no reference can run there: the Gram matrix alone is 80 GB) with
its wall time, the process's peak resident memory and XLA's account, and adds the row.

`JAXKERN_BENCH_BIG=1 python -m benchmarks.run scalable` runs, after a full run, only the
n = 20,000 comparison of 2. (CG at both settings, GPyTorch, and a dense SciPy/LAPACK
reference: jaxlib 0.10.2's CPU Cholesky segfaults in float64 from n = 16,000, and jaxkern's own
dense path would need 15 GB) and adds its rows to `results/scalable.json`.

Every number comes from a shared 2-core machine (about 8 engineers); the ratios are the figure.
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _harness


def _data(n: int, seed: int = 0):
    kx, ky = jax.random.split(jax.random.key(seed))
    X = jax.random.uniform(kx, (n, 3), dtype=jnp.float64, minval=-3.0, maxval=3.0)
    y = jnp.sin(X[:, 0]) * jnp.cos(X[:, 1]) + 0.1 * jax.random.normal(ky, (n,), jnp.float64)
    return X, y


# ---------------------------------------------------------------- 1. SLQ log-determinant


def _slq_rows(n: int, probes: int, steps: int, rounds: int) -> list[dict]:
    from jaxkern.kernels import RBF, gram
    from jaxkern.linalg import slq_logdet

    X, _ = _data(n)
    A = gram(RBF(), X) + 0.1 * jnp.eye(n)
    exact = float(np.linalg.slogdet(np.asarray(A))[1])
    key = jax.random.key(1)
    ours = jax.jit(lambda A, key: slq_logdet(lambda v: A @ v, n, key=key, num_probes=probes,
                                             num_steps=steps))
    fns = {"jaxkern": lambda: ours(A, key)}
    try:
        from matfree import decomp, funm, stochtrace

        integrand = funm.monte_carlo_funm_sym_logdet(decomp.tridiag_sym(steps))
        sampler = stochtrace.sampler_signs(jnp.zeros(n), num=probes)
        estimator = stochtrace.estimator_monte_carlo(integrand, sampler)
        mf = jax.jit(lambda A, key: estimator(lambda v, A: A @ v, key, A))
        fns["matfree"] = lambda: mf(A, key)
    except ImportError:
        pass
    try:
        import imate

        A_np = np.asarray(A)
        fns["imate"] = lambda: imate.logdet(A_np, method="slq", min_num_samples=probes,
                                            max_num_samples=probes, lanczos_degree=steps,
                                            orthogonalize=-1, verbose=False)
    except ImportError:
        pass
    timings, results = _harness.interleaved(fns, rounds=rounds)
    rows = []
    for name, t in timings.items():
        if name == "jaxkern":
            value, se = float(results[name].estimate), float(results[name].standard_error)
        else:
            value, se = results[name], None
            value = float(value[0] if isinstance(value, tuple) else value)
        rows.append(dict(task="slq_logdet", n=n, library=name, median_ms=1e3 * t["median_s"],
                         compile_s=t["compile_s"], value=value,
                         rel_error=abs(value - exact) / abs(exact), standard_error=se,
                         exact=exact, jaxkern_speedup=_harness.ratio(t, timings["jaxkern"])))
    return rows


# ---------------------------------------------------------------- 2. GP LML + gradient

SETTINGS = dict(num_probes=10, preconditioner_rank=15, rtol=1e-2, max_steps=1000)


def _jaxkern_lml(X, y, solver):
    from jaxkern.gp import log_marginal_likelihood
    from jaxkern.kernels import RBF

    params = (RBF(lengthscale=jnp.asarray(1.5), variance=jnp.asarray(1.2)), jnp.asarray(0.1))
    # the solver (static settings and the probe key) is closed over: a constant of the jit
    f = jax.jit(jax.value_and_grad(
        lambda p: log_marginal_likelihood(p[0], X, y, noise=p[1], jitter=0.0, solver=solver)))

    def call():
        value, g = f(params)
        return value, (g[0].lengthscale, g[0].variance, g[1])

    return call, f, params


def _gpytorch_lml(X, y, settings):
    import gpytorch
    import torch

    Xt = torch.tensor(np.asarray(X), dtype=torch.float64)
    yt = torch.tensor(np.asarray(y), dtype=torch.float64)

    class Model(gpytorch.models.ExactGP):
        def __init__(self, lik):
            super().__init__(Xt, yt, lik)
            self.mean_module = gpytorch.means.ZeroMean()
            self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel())

        def forward(self, x):
            return gpytorch.distributions.MultivariateNormal(self.mean_module(x),
                                                             self.covar_module(x))

    lik = gpytorch.likelihoods.GaussianLikelihood().double()
    model = Model(lik).double()
    model.covar_module.base_kernel.lengthscale = 1.5
    model.covar_module.outputscale = 1.2
    lik.noise = 0.1
    model.train()
    lik.train()
    mll = gpytorch.mlls.ExactMarginalLogLikelihood(lik, model)
    params = [model.covar_module.base_kernel.raw_lengthscale,
              model.covar_module.raw_outputscale, lik.noise_covar.raw_noise]

    def call():
        with gpytorch.settings.fast_computations(True, True, True), \
                gpytorch.settings.max_cholesky_size(0), \
                gpytorch.settings.num_trace_samples(settings["num_probes"]), \
                gpytorch.settings.max_preconditioner_size(settings["preconditioner_rank"]), \
                gpytorch.settings.cg_tolerance(settings["rtol"]), \
                gpytorch.settings.max_cg_iterations(settings["max_steps"]), \
                gpytorch.settings.eval_cg_tolerance(settings["rtol"]):
            for p in params:
                p.grad = None
            out = model(Xt)
            # GPyTorch divides by n; multiply back to compare with the total log likelihood
            loss = mll(out, yt) * Xt.shape[0]
            loss.backward()
            return float(loss), [float(p.grad.sum()) for p in params]

    return call


def _dense_reference_lml(X, y, block: int = 2000):
    """The dense reference: LML and its gradient (lengthscale, variance, noise) at the parameters
    of `_jaxkern_lml`, from one Cholesky and the inverse it gives (PyTorch's, on MKL), with the
    kernel and its derivatives built in NumPy row blocks; three n x n arrays at the peak (9.6 GB
    at n = 20,000). Used at n = 20,000, where neither jaxkern's own dense path (15 GB) nor SciPy
    can run it: OpenBLAS 0.3.30's threaded `dpotrf` and `dsyrk` (SciPy's, and jaxlib's CPU
    LAPACK) segfault on float64 matrices from n = 16,000, so jaxlib's Cholesky does too."""
    import torch

    lengthscale, variance, noise = 1.5, 1.2, 0.1
    X, y = np.array(X), np.array(y)  # writable copies, as torch.from_numpy wants
    n, sq = len(y), np.sum(X**2, axis=1)

    def sqdist(s, e, cols):
        D = sq[s:e, None] + sq[None, :cols] - 2.0 * X[s:e] @ X[:cols].T
        return np.maximum(D, 0.0, out=D)

    def call():
        K = np.empty((n, n))
        for s in range(0, n, block):
            K[s:s + block] = variance * np.exp(-0.5 / lengthscale**2 * sqdist(s, s + block, n))
        K[np.diag_indices(n)] += noise
        L = torch.linalg.cholesky(torch.from_numpy(K))
        del K
        alpha = torch.cholesky_solve(torch.from_numpy(y)[:, None], L)[:, 0].numpy()
        value = -0.5 * y @ alpha - torch.log(L.diagonal()).sum().item() - 0.5 * n * np.log(
            2 * np.pi)
        Kinv = torch.cholesky_inverse(L).numpy()
        del L
        quad, trace = np.zeros(2), np.zeros(2)
        for s in range(0, n, block):
            e = min(s + block, n)
            D = sqdist(s, e, n)
            Kb = variance * np.exp(-0.5 / lengthscale**2 * D)
            dl, dv = Kb * D / lengthscale**3, Kb / variance
            quad += [alpha[s:e] @ dl @ alpha, alpha[s:e] @ dv @ alpha]
            M = Kinv[s:e]
            trace += [np.sum(M * dl), np.sum(M * dv)]
        grad = 0.5 * quad - 0.5 * trace
        grad_noise = 0.5 * alpha @ alpha - 0.5 * np.trace(Kinv)
        return value, (grad[0], grad[1], grad_noise)

    return call


# CG()'s defaults, for GPyTorch at the same settings
DEFAULT_SETTINGS = dict(num_probes=16, preconditioner_rank=15, rtol=1e-4, max_steps=1000)


def _lml_rows(sizes, rounds, *, dense, with_gpytorch, with_defaults=True,
              with_materialized=False) -> list[dict]:
    """`dense`: the reference, "jaxkern" (its Cholesky path), "torch" (`_dense_reference_lml`) or
    None. `with_materialized` adds `CG(materialize=True)` at both settings and GPyTorch at
    CG()'s defaults."""
    from jaxkern.gp import CG, Cholesky

    rows = []
    for n in sizes:
        X, y = _data(n)
        fns = {"jaxkern CG": _jaxkern_lml(X, y, CG(**SETTINGS))[0]}
        if with_defaults:
            # Auto's iterative side is CG() with its defaults (tighter rtol, more probes): the
            # crossover against Cholesky is measured with those
            fns["jaxkern CG()"] = _jaxkern_lml(X, y, CG())[0]
        if with_materialized:
            fns["jaxkern CG materialized"] = _jaxkern_lml(X, y, CG(**SETTINGS,
                                                                    materialize=True))[0]
            fns["jaxkern CG() materialized"] = _jaxkern_lml(X, y, CG(materialize=True))[0]
        if dense == "jaxkern":
            fns["jaxkern Cholesky"] = _jaxkern_lml(X, y, Cholesky())[0]
        elif dense == "torch":
            fns["dense Cholesky (PyTorch)"] = _dense_reference_lml(X, y)
        if with_gpytorch:
            try:
                fns["gpytorch CG"] = _gpytorch_lml(X, y, SETTINGS)
                if with_materialized:
                    fns["gpytorch CG()-settings"] = _gpytorch_lml(X, y, DEFAULT_SETTINGS)
            except ImportError:
                pass
        timings, values = _harness.interleaved(fns, rounds=rounds)
        ref = values.get("jaxkern Cholesky", values.get("dense Cholesky (PyTorch)"))
        for name, t in timings.items():
            value, grad = values[name]
            row = dict(task="lml_and_grad", n=n, library=name, median_ms=1e3 * t["median_s"],
                       compile_s=t["compile_s"], lml=float(value),
                       jaxkern_cg_speedup=_harness.ratio(t, timings["jaxkern CG"]))
            if ref is not None:
                row["lml_rel_error"] = abs(float(value) - float(ref[0])) / abs(float(ref[0]))
                if name.startswith("jaxkern"):
                    g, gr = np.array([float(v) for v in grad]), np.array(
                        [float(v) for v in ref[1]])
                    row["grad_rel_error"] = float(np.linalg.norm(g - gr) / np.linalg.norm(gr))
            rows.append(row)
    return rows


def _memory_rows(sizes) -> list[dict]:
    """XLA's compiled memory account of CG LML + gradient vs the Gram matrix's own size."""
    rows = []
    from jaxkern.gp import CG

    for n in sizes:
        X, y = _data(n)
        _, f, params = _jaxkern_lml(X, y, CG(**SETTINGS))
        mem = _harness.xla_memory(f, params)
        rows.append(dict(task="memory", n=n, library="jaxkern CG", **mem,
                         gram_matrix_mb=n * n * 8 / 2**20))
    jax.clear_caches()
    return rows


def _crossover(lml_rows) -> int | None:
    """The smallest timed n from which on CG() (Auto's iterative side) beats the dense Cholesky
    at every larger timed n too (one lucky size on a loaded machine is not a crossover)."""
    times = {(r["n"], r["library"]): r["median_ms"] for r in lml_rows}
    sizes = sorted(n for (n, lib) in times if lib == "jaxkern CG()"
                   and (n, "jaxkern Cholesky") in times)
    faster = [times[n, "jaxkern CG()"] < times[n, "jaxkern Cholesky"] for n in sizes]
    for i, n in enumerate(sizes):
        if all(faster[i:]):
            return n
    return None


def _add_big_rows() -> dict:
    """The full run's results with the n = 20,000 LML rows (re)measured."""
    path = _harness.RESULTS / "scalable.json"
    if not path.exists():
        raise RuntimeError("JAXKERN_BENCH_BIG=1 adds to a full run's results: run "
                           "`python -m benchmarks.run scalable` first.")
    previous = json.loads(path.read_text())
    start = time.perf_counter()
    big = _lml_rows([20_000], rounds=1, dense="torch", with_gpytorch=True,
                    with_materialized=True)
    print(_harness.table(big, ["n", "library", "median_ms", "compile_s", "lml", "lml_rel_error",
                               "grad_rel_error", "jaxkern_cg_speedup"]))
    payload = {k: v for k, v in previous.items() if k not in ("benchmark", "quick", "machine")}
    payload["lml"] = [r for r in payload["lml"] if r["n"] != 20_000] + big
    payload["big_wall_s"] = time.perf_counter() - start
    return payload


def _add_huge_row(n: int) -> dict:
    """The full run's results with one n-point CG LML + gradient call (compilation included)."""
    import resource

    from jaxkern.gp import CG

    path = _harness.RESULTS / "scalable.json"
    if not path.exists():
        raise RuntimeError("JAXKERN_BENCH_BIG=n adds to a full run's results: run "
                           "`python -m benchmarks.run scalable` first.")
    previous = json.loads(path.read_text())
    X, y = _data(n)
    call, f, params = _jaxkern_lml(X, y, CG(**SETTINGS))
    memory = _harness.xla_memory(f, params)
    start = time.perf_counter()
    value, grad = jax.block_until_ready(call())
    row = dict(task="lml_and_grad_one_call", n=n, library="jaxkern CG", settings=SETTINGS,
               wall_s_incl_compile=time.perf_counter() - start, lml=float(value),
               grad=[float(g) for g in grad], xla_memory=memory,
               # ru_maxrss is in KiB on Linux: the whole process, data and JAX included
               peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
               gram_matrix_mb=n * n * 8 / 2**20, load=os.getloadavg())
    print(row)
    payload = {k: v for k, v in previous.items() if k not in ("benchmark", "quick", "machine")}
    payload["huge"] = [r for r in payload.get("huge", []) if r["n"] != n] + [row]
    return payload


def run(quick: bool) -> dict:
    jax.config.update("jax_enable_x64", True)
    big = os.environ.get("JAXKERN_BENCH_BIG")
    if not quick and big == "1":
        return _add_big_rows()
    if not quick and big:
        return _add_huge_row(int(big))
    start = time.perf_counter()
    if quick:
        slq = _slq_rows(300, probes=30, steps=30, rounds=2)
        lml = _lml_rows([500], rounds=2, dense="jaxkern", with_gpytorch=True)
        mem = _memory_rows([1000])
    else:
        slq = _slq_rows(4000, probes=30, steps=30, rounds=5)
        lml = _lml_rows([1000, 2000, 4000, 8000], rounds=3, dense="jaxkern",
                        with_gpytorch=True)
        mem = _memory_rows([20_000, 100_000])
    crossover = _crossover(lml)
    print(f"measured crossover (CG() LML + gradient faster than Cholesky): n = {crossover}")
    print(_harness.table(slq, ["n", "library", "median_ms", "compile_s", "value", "rel_error",
                               "jaxkern_speedup"]))
    print(_harness.table(lml, ["n", "library", "median_ms", "compile_s", "lml", "lml_rel_error",
                               "grad_rel_error", "jaxkern_cg_speedup"]))
    print(_harness.table(mem, list(mem[0].keys())))
    return {
        "what": "1) SLQ log det(RBF Gram + 0.1 I), x ~ U[-3,3]^3, 30 Rademacher probes x 30 "
                "steps, same dense matrix for every library; 2) GP log marginal likelihood + "
                "gradient (lengthscale, variance, noise), RBF, d=3, float64: jaxkern CG+SLQ "
                f"(settings {SETTINGS}) vs dense Cholesky vs GPyTorch ExactMarginalLogLikelihood "
                "in CG mode at the same settings (CPU torch, same process); 3) XLA memory of "
                "the compiled CG LML + gradient. Shared 2-core machine (~8 engineers): ratios "
                "are the figure, absolute times are noisy.",
        "wall_s": time.perf_counter() - start,
        "crossover_n": crossover,
        "slq": slq, "lml": lml, "memory": mem,
    }
