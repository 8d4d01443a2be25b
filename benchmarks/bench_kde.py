"""Exact KDE against scikit-learn, SciPy and KDEpy; memory at n = m = 10^6; private KDE.

Speed: n = m = 20,000 points in d = 8, Gaussian kernel, all peers in this process.
scikit-learn's `KernelDensity(rtol=0)` (a tree, exact), `scipy.stats.gaussian_kde.logpdf`
(given the same bandwidth matrix) and KDEpy's `TreeKDE` (a tree, Gaussian cut at its
practical support; approximate, and slow in d = 8, so timed at n = m = 1,500) against
`kde_log_density`. The headline ratios are float64 against float64 (both peers compute in
float64); float32 is timed beside them and labelled as such. Accuracy of every answer against
a float64 NumPy log-sum-exp on the first queries.

Threads: the peers' kernel sums are single-threaded loops (SciPy's Cython
`gaussian_kernel_estimate_log`, scikit-learn's tree `kernel_density`; only the whitening in SciPy
touches BLAS), while XLA's CPU backend runs one intra-op thread per schedulable core. The
results record the cores, the relevant environment variables, the BLAS/OpenMP pools
(threadpoolctl), each timing's CPU time over wall time (how many cores it kept busy), and
jaxkern float64 again in a child process pinned to one core.

Memory: XLA's account of `kde_log_density` at n = m = 10^6, d = 16 (compiled, not run: the
full sum is 10^12 kernel evaluations), and of the configuration that is run (10^6 data points,
64 queries, float32), with its time. No resident-set figure: the process peak RSS
(`ru_maxrss`) only grows, so it reads the high-water mark of the JAX runtime, imports and
inputs rather than the computation (in the earlier run it did not move at all).

Privacy: error against epsilon and n of each private structure, query time, and DP
classification of scikit-learn's digits by average similarity next to non-private KDE and a
DP-SGD linear classifier (full batch, per-example clipping, Gaussian noise, optax) at the
same epsilon, with the RDP accountant below.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from scipy.special import logsumexp

from benchmarks import _harness
from jaxkern.density import kde_log_density, private_kernel_sum, private_l1_sum

jax.config.update("jax_enable_x64", True)


# ------------------------------------------------------------------------- exact KDE speed


def _numpy_reference(X, Y, H):
    """Float64 NumPy log-sum-exp of the Gaussian KDE with bandwidth matrix H."""
    L = np.linalg.cholesky(H)
    zx, zy = np.linalg.solve(L, X.T).T, np.linalg.solve(L, Y.T).T
    d2 = ((zy[:, None, :] - zx[None, :, :]) ** 2).sum(-1)
    d = X.shape[1]
    log_norm = np.log(len(X)) + np.sum(np.log(np.diag(L))) + 0.5 * d * np.log(2 * np.pi)
    return logsumexp(-0.5 * d2, axis=1) - log_norm


PEERS = ("scipy gaussian_kde", "scikit-learn KernelDensity(rtol=0)")

_ENV = ("XLA_FLAGS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS", "JAX_PLATFORMS")


def _threads() -> dict:
    """How many threads each side could use: cores, environment, XLA's pool, BLAS/OpenMP pools."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    xla_flags = os.environ.get("XLA_FLAGS", "")
    single = "--xla_cpu_multi_thread_eigen=false" in xla_flags
    try:
        from threadpoolctl import threadpool_info

        pools = [{k: info.get(k) for k in ("user_api", "internal_api", "prefix", "num_threads",
                                            "version")} for info in threadpool_info()]
    except ImportError:
        pools = "threadpoolctl not installed"
    return {
        "os_cpu_count": os.cpu_count(),
        "schedulable_cores": cores,
        "env": {k: os.environ.get(k) for k in _ENV},
        "jaxkern_xla_cpu_threads": 1 if single else cores,
        "jaxkern_note": "XLA's CPU backend: one intra-op thread per schedulable core unless "
                        "XLA_FLAGS says otherwise",
        "numpy_scipy_sklearn_thread_pools": pools,
        "scipy_gaussian_kde_threads": 1,
        "scipy_note": "the kernel sum is SciPy's single-threaded Cython loop "
                      "(gaussian_kernel_estimate_log); BLAS only whitens the points",
        "sklearn_kernel_density_threads": 1,
        "sklearn_note": "KernelDensity.score_samples walks its tree in one thread (no n_jobs)",
    }


_ONE_CORE = textwrap.dedent(
    """
    import json, os, sys
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # before XLA sizes its pool
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import numpy as np
    from benchmarks import _harness
    from jaxkern.density import kde_log_density
    n, d, h = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    rng = np.random.default_rng(0)
    X, Y = jnp.asarray(rng.normal(size=(n, d))), jnp.asarray(rng.normal(size=(n, d)))
    f = jax.jit(lambda X, Y: kde_log_density(X, Y, bandwidth=h))
    print(json.dumps(_harness.time_call(lambda: f(X, Y), repeats=2)))
    """
)


def _one_core(n: int, d: int, h: float) -> dict:
    """jaxkern float64 on the same data in a child process pinned to one core."""
    if not hasattr(os, "sched_setaffinity"):
        return {"error": "no os.sched_setaffinity on this platform"}
    proc = subprocess.run([sys.executable, "-c", _ONE_CORE, str(n), str(d), str(h)],
                          capture_output=True, text=True, timeout=900,
                          cwd=Path(__file__).resolve().parent.parent)
    if proc.returncode:
        return {"error": proc.stderr[-500:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _speed(n: int, d: int, h: float) -> dict:
    from scipy.stats import gaussian_kde
    from sklearn.neighbors import KernelDensity

    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    ref = _numpy_reference(X, Y[:500], h**2 * np.eye(d))
    rows, answers = [], {}

    ours = jax.jit(lambda X, Y: kde_log_density(X, Y, bandwidth=h))
    for name, dtype in (("jaxkern float64", jnp.float64), ("jaxkern float32", jnp.float32)):
        Xj, Yj = jnp.asarray(X, dtype), jnp.asarray(Y, dtype)
        # a fresh compile per dtype; the answer is the first (timed) call's
        t, out = _harness.timed_call(lambda Xj=Xj, Yj=Yj: ours(Xj, Yj), repeats=2)
        answers[name] = np.asarray(out, np.float64)
        rows.append({"method": name, "dtype": np.dtype(dtype).name, **t})
    one = _one_core(n, d, h)
    if "error" not in one:
        rows.append({"method": "jaxkern float64, one core", "dtype": "float64", **one})

    kd = KernelDensity(bandwidth=h, rtol=0, atol=0).fit(X)
    t = _harness.time_call(lambda: kd.score_samples(Y), repeats=1)
    answers["scikit-learn KernelDensity(rtol=0)"] = kd.score_samples(Y[:500])
    rows.append({"method": "scikit-learn KernelDensity(rtol=0)", "dtype": "float64", **t})

    # gaussian_kde uses its own (Scott) bandwidth matrix; the cost does not depend on it, and
    # its error is measured against the NumPy reference with that matrix.
    g = gaussian_kde(X.T)
    t = _harness.time_call(lambda: g.logpdf(Y.T), repeats=1)
    scipy_err = float(np.max(np.abs(g.logpdf(Y[:500].T) - _numpy_reference(X, Y[:500],
                                                                          g.covariance))))
    rows.append({"method": "scipy gaussian_kde", "dtype": "float64", **t})

    evals = float(n) * n
    errors = {k: float(np.max(np.abs(v[:500] - ref))) for k, v in answers.items()}
    errors["scipy gaussian_kde"] = scipy_err
    for row in rows:
        if row["method"] in errors:  # the one-core child times the same call, unscored
            row["max_abs_err_vs_numpy64"] = errors[row["method"]]
        row["kernel_evals_per_s"] = evals / row["median_s"]
        row["cores_busy"] = row["cpu_s"] / row["median_s"]
    by = {r["method"]: r for r in rows}

    def ratios(fast):
        return {f"{fast} vs {slow}": _harness.ratio(by[slow], by[fast]) for slow in PEERS
                if fast in by}

    return {"n": n, "m": n, "d": d, "bandwidth": h, "rows": rows,
            # wall-time ratios (medians), jaxkern on every core, the peers on one thread
            "headline_float64_vs_float64": ratios("jaxkern float64"),
            "float32_not_like_for_like": ratios("jaxkern float32"),
            "one_core_float64_vs_float64": ratios("jaxkern float64, one core"),
            "threads": _threads()}


def _kdepy(n: int, d: int, h: float) -> dict:
    """KDEpy's TreeKDE (a k-d tree over the kernel's cut-off support: approximate) at small n."""
    from KDEpy import TreeKDE

    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    ref = _numpy_reference(X, Y[:500], h**2 * np.eye(d))
    tree = TreeKDE(kernel="gaussian", bw=h).fit(X)
    t_tree = _harness.time_call(lambda: tree.evaluate(Y), repeats=1)
    ours = jax.jit(lambda X, Y: kde_log_density(X, Y, bandwidth=h))
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    t_ours, out = _harness.timed_call(lambda: ours(Xj, Yj), repeats=3)
    rows = [
        {"method": "KDEpy TreeKDE", **t_tree,
         "max_abs_err_vs_numpy64": float(np.max(np.abs(np.log(tree.evaluate(Y[:500])) - ref)))},
        {"method": "jaxkern float64", **t_ours,
         "max_abs_err_vs_numpy64": float(np.max(np.abs(np.asarray(out)[:500] - ref)))},
    ]
    return {"n": n, "m": n, "d": d, "rows": rows, "ratio": _harness.ratio(t_tree, t_ours)}


# ------------------------------------------------------------------------------ memory


RSS_DROPPED = ("no resident-set figure: the process peak RSS (ru_maxrss) only grows, so it reads "
               "the high-water mark of the JAX runtime, imports and inputs, not the computation "
               "(the earlier run reported 1072 MB before and after); XLA's account below is the "
               "computation's own")


def _memory(n: int, d: int, run_queries: int | None) -> dict:
    out = {}
    f = jax.jit(lambda X, Y: kde_log_density(X, Y, bandwidth=0.5))
    for name, dtype in (("float32", jnp.float32), ("float64", jnp.float64)):
        spec = jax.ShapeDtypeStruct((n, d), dtype)
        out[f"xla_{name}"] = _harness.xla_memory(f, spec, spec)
    out["rss"] = RSS_DROPPED
    if run_queries is None:
        return out
    X = jax.random.normal(jax.random.key(0), (n, d), jnp.float32)
    Y = jax.random.normal(jax.random.key(1), (run_queries, d), jnp.float32)
    run = jax.jit(lambda X, Y: kde_log_density(X, Y, bandwidth=0.5))
    t = _harness.time_call(lambda: run(X, Y), repeats=1)
    out["run"] = {"n": n, "m": run_queries, "d": d, "dtype": "float32",
                  "median_s": t["median_s"], "first_s": t["first_s"],
                  "xla": _harness.xla_memory(run, X, Y)}
    return out


# ------------------------------------------------------------------------ private sums


def _dp_errors(n: int, epsilons, ns, key, reps: int) -> list[dict]:
    rows = []
    kx, ky, kn = jax.random.split(key, 3)
    Y4 = jax.random.uniform(ky, (200, 4))
    Yg = jax.random.normal(ky, (200, 128)) / math.sqrt(128)

    def l1(size, eps, k):
        X = jax.random.uniform(kx, (size, 4))
        exact = jax.lax.map(lambda y: jnp.abs(X - y[None, :]).sum(), Y4)
        tree = private_l1_sum(X, epsilon=eps, key=k, lo=0.0, hi=1.0, depth=8)
        return tree, Y4, exact

    def kern(kernel, proj, delta=None):
        def build(size, eps, k):
            X = jax.random.normal(kx, (size, 128)) / math.sqrt(128)
            r2 = jax.lax.map(lambda y: jnp.sum((X - y[None, :]) ** 2, -1), Yg)
            exact = (jnp.exp(-r2 / 2) if kernel == "rbf" else jnp.exp(-jnp.sqrt(r2))).sum(1)
            dp = private_kernel_sum(X, epsilon=eps, key=k, kernel=kernel, bandwidth=1.0,
                                    num_features=1024, project_to=proj, delta=delta)
            return dp, Yg, exact
        return build

    mechanisms = {
        "l1 distance: noisy dyadic trees (d=4, depth 8)": l1,
        "rbf h=1: random features (d=128, D=1024)": kern("rbf", None),
        "rbf h=1: JL to 32 + random features": kern("rbf", 32),
        "rbf h=1: random features, Gaussian noise (delta=1e-5)": kern("rbf", None, 1e-5),
        "matern12 h=1: random features (d=128, D=1024)": kern("matern12", None),
        "matern12 h=1: JL to 32 + random features": kern("matern12", 32),
    }
    if reps == 1:  # quick: one structure of each kind
        mechanisms = dict(list(mechanisms.items())[::2])
    for name, build in mechanisms.items():
        for size, eps in [(n, e) for e in epsilons] + [(s, 1.0) for s in ns if s != n]:
            errs = []
            for rep in range(reps):
                structure, Y, exact = build(size, eps, jax.random.fold_in(kn, rep))
                errs.append(float(jnp.mean(jnp.abs(structure(Y) - exact)) / jnp.mean(exact)))
            query = jax.jit(lambda s, Y: s(Y))
            t = _harness.time_call(lambda s=structure, Y=Y: query(s, Y), repeats=5)
            rows.append({"mechanism": name, "n": size, "epsilon": eps,
                         "mean_rel_error": float(np.mean(errs)),
                         "query_us_per_point": 1e6 * t["median_s"] / Y.shape[0]})
    return rows


# ----------------------------------------------- DP classification: KDE vs DP-SGD (optax)


def gaussian_rdp_epsilon(noise_multiplier: float, steps: int, delta: float) -> float:
    r"""(epsilon, delta) of `steps` full-batch Gaussian-mechanism steps, by Renyi DP.

    One step adds $\mathcal{N}(0, \sigma^2 C^2)$ to a sum of gradients clipped to norm $C$
    (l2 sensitivity $C$ under adding/removing one example): RDP $\lambda / (2\sigma^2)$ at every
    order $\lambda > 1$ (Mironov, *Renyi differential privacy*, CSF 2017, Prop. 7); $T$ steps
    compose additively (Prop. 1); and $(\lambda, \rho)$-RDP implies
    $(\rho + \log(1/\delta)/(\lambda - 1), \delta)$-DP (Prop. 3). Minimised over a grid of
    orders. No subsampling amplification is claimed (every step uses the full batch).
    """
    orders = np.concatenate([np.linspace(1.01, 10, 400), np.linspace(10, 2000, 4000)])
    rho = steps * orders / (2 * noise_multiplier**2)
    return float(np.min(rho + np.log(1 / delta) / (orders - 1)))


def noise_for_epsilon(epsilon: float, steps: int, delta: float) -> float:
    """The smallest noise multiplier whose RDP account stays within (epsilon, delta)."""
    lo, hi = 1e-2, 1e4
    for _ in range(100):
        mid = math.sqrt(lo * hi)
        lo, hi = (mid, hi) if gaussian_rdp_epsilon(mid, steps, delta) > epsilon else (lo, mid)
    return hi


def dp_sgd_linear(X, y, *, epsilon, delta, steps, clip, learning_rate, key, classes=10):
    """Softmax regression trained by full-batch DP-SGD: per-example clipping, Gaussian noise."""
    sigma = noise_for_epsilon(epsilon, steps, delta)
    tx = optax.chain(
        optax.contrib.differentially_private_aggregate(clip, sigma, int(key)),
        optax.sgd(learning_rate),
    )
    params = (jnp.zeros((X.shape[1], classes), X.dtype), jnp.zeros((classes,), X.dtype))

    def loss(p, x, t):
        logits = x @ p[0] + p[1]
        return -jax.nn.log_softmax(logits)[t]

    @jax.jit
    def train(params):
        state = tx.init(params)

        def step(carry, _):
            params, state = carry
            grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, X, y)
            updates, state = tx.update(grads, state, params)
            return (optax.apply_updates(params, updates), state), None

        (params, _), _ = jax.lax.scan(step, (params, state), None, length=steps)
        return params

    with jax.numpy_dtype_promotion("standard"):
        return train(params), sigma


def _digits_split():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.default_rng(0).permutation(len(y))
    cut = int(0.7 * len(y))
    tr, te = order[:cut], order[cut:]
    return X[tr], y[tr], X[te], y[te]


def private_kde_classify(Xtr, ytr, Xte, *, epsilon, key, bandwidth, num_features, project_to,
                         delta=None):
    """Average-similarity classifier from one private kernel sum and one noisy count per class.

    Classes are disjoint, so per-class budgets compose in parallel: the whole model is
    epsilon-DP (or (epsilon, delta)-DP with Gaussian noise on the sums). 90% of the budget goes
    to the kernel sums, 10% to the Laplace counts.
    """
    scores = []
    for c in range(10):
        kc = jax.random.fold_in(key, c)
        Xc = jnp.asarray(Xtr[ytr == c])
        dp = private_kernel_sum(Xc, epsilon=0.9 * epsilon, key=kc, bandwidth=bandwidth,
                                num_features=num_features, project_to=project_to, delta=delta)
        count = Xc.shape[0] + jax.random.laplace(jax.random.fold_in(kc, 99)) / (0.1 * epsilon)
        scores.append(dp(jnp.asarray(Xte)) / jnp.maximum(count, 1.0))
    return np.argmax(np.stack(scores, 1), axis=1)


def _classification(epsilons, quick: bool) -> dict:
    reps = 1 if quick else 2
    Xtr, ytr, Xte, yte = _digits_split()
    h = 0.5 * math.sqrt(Xtr.shape[1] * Xtr.var())
    exact = np.stack([np.asarray(kde_log_density(jnp.asarray(Xtr[ytr == c]), jnp.asarray(Xte),
                                                 bandwidth=h)) for c in range(10)], 1)
    rows = [{"method": "KDE (non-private)", "epsilon": math.inf,
             "accuracy": float(np.mean(np.argmax(exact, 1) == yte))}]
    steps = 30 if quick else 200
    for eps in epsilons:
        variants = [(None, None)] if quick else [(None, None), (None, 1e-5), (16, 1e-5)]
        for proj, delta in variants:
            accs, secs = [], []
            for rep in range(reps):
                start = time.perf_counter()
                pred = private_kde_classify(Xtr, ytr, Xte, epsilon=eps, key=jax.random.key(rep),
                                            bandwidth=h, num_features=512, project_to=proj,
                                            delta=delta)
                secs.append(time.perf_counter() - start)
                accs.append(np.mean(pred == yte))
            name = ("DP-KDE, random features" + ("" if proj is None else f", JL to {proj}")
                    + ("" if delta is None else f", Gaussian noise (delta={delta:g})"))
            rows.append({"method": name, "epsilon": eps, "accuracy": float(np.mean(accs)),
                         "train_and_predict_s": min(secs)})
        accs, secs = [], []
        for rep in range(reps):
            start = time.perf_counter()
            (W, b), sigma = dp_sgd_linear(jnp.asarray(Xtr), jnp.asarray(ytr), epsilon=eps,
                                          delta=1e-5, steps=steps, clip=1.0, learning_rate=2.0,
                                          key=rep)
            accs.append(np.mean(np.argmax(np.asarray(Xte @ W + b), 1) == yte))
            secs.append(time.perf_counter() - start)
        rows.append({"method": f"DP-SGD linear (delta=1e-5, sigma={sigma:.2f})", "epsilon": eps,
                     "accuracy": float(np.mean(accs)), "train_and_predict_s": min(secs)})
    return {"train": len(ytr), "test": len(yte), "bandwidth": h, "rows": rows}


def run(quick: bool) -> dict:
    n = 1000 if quick else 20_000
    speed = _speed(n, 8, 0.5)
    print(_harness.table(speed["rows"], ["method", "median_s", "cores_busy", "compile_s",
                                         "max_abs_err_vs_numpy64", "kernel_evals_per_s"]))
    threads = speed["threads"]
    print(f"   threads: jaxkern (XLA CPU) {threads['jaxkern_xla_cpu_threads']} of "
          f"{threads['schedulable_cores']} cores; scipy gaussian_kde "
          f"{threads['scipy_gaussian_kde_threads']}; scikit-learn KernelDensity "
          f"{threads['sklearn_kernel_density_threads']}")
    for label, key in (("headline, float64 vs float64", "headline_float64_vs_float64"),
                       ("jaxkern one core, float64 vs float64", "one_core_float64_vs_float64"),
                       ("float32 jaxkern vs float64 peers (not like for like)",
                        "float32_not_like_for_like")):
        for k, v in speed[key].items():
            print(f"   {label}: {k}: {v:.1f}x")
    kdepy = _kdepy(500 if quick else 1500, 8, 0.5)
    print(_harness.table(kdepy["rows"], ["method", "median_s", "max_abs_err_vs_numpy64"]))
    memory = _memory(10**6 if not quick else 10**4, 16, 64)
    print("   memory (XLA, MB):", {k: v["peak_mb"] for k, v in memory.items()
                                      if k.startswith("xla_")})
    if "run" in memory:
        print(f"   run n={memory['run']['n']}, m={memory['run']['m']}: "
              f"{memory['run']['median_s']:.2f} s, XLA {memory['run']['xla']['peak_mb']:.0f} MB")
    eps = [1.0] if quick else [0.1, 0.3, 1.0, 3.0, 10.0]
    ns = [] if quick else [1000, 10_000, 100_000]
    dp = _dp_errors(1000 if quick else 10_000, eps, ns, jax.random.key(0), 1 if quick else 2)
    print(_harness.table(dp, ["mechanism", "n", "epsilon", "mean_rel_error",
                              "query_us_per_point"]))
    clf = _classification([1.0] if quick else [0.5, 1.0, 2.0, 4.0, 8.0], quick)
    print(_harness.table(clf["rows"], ["method", "epsilon", "accuracy", "train_and_predict_s"]))
    return {"speed": speed, "kdepy": kdepy, "memory": memory, "private_errors": dp,
            "classification": clf}
