"""Binary Laplace GP classification: LML + gradient, jaxkern against scikit-learn, float64.

Both compute the Laplace approximation's log marginal likelihood (Newton's method for the mode
from f = 0, R&W Algorithm 3.1) and its gradient with respect to the log of the kernel's
hyperparameters (amplitude and length scale of 1.0 * RBF), on the same data, in the same
process:

- jaxkern: `jax.jit(jax.value_and_grad(laplace_log_marginal_likelihood))`, the gradient by the
  implicit function theorem (custom_vjp of the mode);
- scikit-learn: `GaussianProcessClassifier(optimizer=None).log_marginal_likelihood(theta,
  eval_gradient=True)` (R&W Algorithm 5.1 in NumPy/SciPy).

jaxkern's function is a fresh `jax.jit` whose first call is the timed one (`_harness.timed_call`):
`compile_s` is that call minus the median. The machine is a shared 2-core one: absolute times
move with its load, the ratio of the two medians (taken in the same process) is the figure.
"""

from __future__ import annotations

import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _harness


def _data(n: int, d: int = 8):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, d))
    y = (np.sin(2 * X[:, 0]) + X[:, 1] + 0.5 * rng.standard_normal(n) > 0).astype(int)
    return X, y


def _jaxkern(X, y):
    from jaxkern.gp import laplace_log_marginal_likelihood
    from jaxkern.kernels import RBF

    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def lml(log_theta):
        k = RBF(lengthscale=jnp.exp(log_theta[1]), variance=jnp.exp(log_theta[0]))
        return laplace_log_marginal_likelihood(k, Xj, yj, jitter=0.0)

    f = jax.jit(jax.value_and_grad(lml))
    theta = jnp.log(jnp.array([1.0, 3.0]))
    return lambda: f(theta)


def _sklearn(X, y):
    from sklearn.gaussian_process import GaussianProcessClassifier
    from sklearn.gaussian_process.kernels import RBF, ConstantKernel

    kernel = ConstantKernel(1.0) * RBF(3.0)
    gpc = GaussianProcessClassifier(kernel, optimizer=None).fit(X, y)
    return lambda: gpc.log_marginal_likelihood(kernel.theta, eval_gradient=True)


def run(quick: bool) -> dict:
    jax.config.update("jax_enable_x64", True)
    sizes = [200] if quick else [2000]
    rows = []
    for n in sizes:
        X, y = _data(n)
        timings, values, calls = {}, {}, {}
        for name, make in (("jaxkern", _jaxkern), ("scikit-learn", _sklearn)):
            calls[name] = make(X, y)
            timings[name], first = _harness.timed_call(calls[name], repeats=1 if quick else 2)
            values[name] = (float(first[0]), np.asarray(first[1], np.float64))
        # the two libraries' calls alternate, so both see the same load on the shared machine;
        # the median of the paired ratios is the figure quoted
        paired = []
        for _ in range(2 if quick else 3):
            pair = {}
            for name in calls:
                start = time.perf_counter()
                _harness.block(calls[name]())
                pair[name] = time.perf_counter() - start
            paired.append(pair["scikit-learn"] / pair["jaxkern"])
        for name, t in timings.items():
            rows.append({
                "n": n, "library": name, "median_s": t["median_s"], "compile_s": t["compile_s"],
                "lml": values[name][0],
                "grad_log_amplitude": float(values[name][1][0]),
                "grad_log_lengthscale": float(values[name][1][1]),
                "jaxkern_speedup": _harness.ratio(t, timings["jaxkern"]),
                "paired_speedup_median": statistics.median(paired),
                "paired_speedups": paired,
            })
        diff = abs(values["jaxkern"][0] - values["scikit-learn"][0]) / abs(values["jaxkern"][0])
        gdiff = np.max(np.abs(values["jaxkern"][1] - values["scikit-learn"][1])
                       / np.abs(values["scikit-learn"][1]))
        rows[-1]["lml_rel_diff"] = rows[-2]["lml_rel_diff"] = diff
        rows[-1]["grad_rel_diff"] = rows[-2]["grad_rel_diff"] = float(gdiff)
    print(_harness.table(rows, ["n", "library", "median_s", "compile_s", "lml",
                                "lml_rel_diff", "grad_rel_diff", "jaxkern_speedup",
                                "paired_speedup_median"]))
    return {"what": "binary Laplace GP classification, log marginal likelihood + gradient wrt "
                    "log(amplitude, length scale) of 1.0 * RBF(3.0), d = 8, float64, median "
                    "after warm-up; jaxkern jitted (compile_s = first call - median); "
                    "scikit-learn GaussianProcessClassifier.log_marginal_likelihood(theta, "
                    "eval_gradient=True); shared 2-core machine: the ratio is the figure, "
                    "paired_speedup_median = median over alternating calls of sklearn time / "
                    "jaxkern time",
            "rows": rows}
