"""Binary Laplace GP classification: LML + gradient, jaxkern against scikit-learn, float64.

Both compute the Laplace approximation's log marginal likelihood (Newton's method for the mode
from f = 0, R&W Algorithm 3.1) and its gradient with respect to the log of the kernel's
hyperparameters (amplitude and length scale of 1.0 * RBF), on the same data, in the same
process:

- jaxkern: `jax.jit(jax.value_and_grad(laplace_log_marginal_likelihood))`, the gradient by the
  implicit function theorem (custom_vjp of the mode);
- scikit-learn: `GaussianProcessClassifier(optimizer=None).log_marginal_likelihood(theta,
  eval_gradient=True)` (R&W Algorithm 5.1 in NumPy/SciPy).

jaxkern's function is a fresh `jax.jit` whose first call is timed apart: `compile_s` is that
call minus the median. The two libraries are called in alternating rounds
(`_harness.interleaved`). The machine is a shared 2-core one: absolute times
move with its load, the ratio of the two medians (taken in the same process) is the figure.
"""

from __future__ import annotations

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
    sizes = [200] if quick else [1000, 2000]
    rows = []
    for n in sizes:
        X, y = _data(n)
        # the two libraries' calls alternate, so both see the same load on the shared machine
        timings, first = _harness.interleaved(
            {"jaxkern": _jaxkern(X, y), "scikit-learn": _sklearn(X, y)},
            rounds=2 if quick else 5)
        values = {name: (float(out[0]), np.asarray(out[1], np.float64))
                  for name, out in first.items()}
        diff = abs(values["jaxkern"][0] - values["scikit-learn"][0]) / abs(values["jaxkern"][0])
        gdiff = float(np.max(np.abs(values["jaxkern"][1] - values["scikit-learn"][1])
                             / np.abs(values["scikit-learn"][1])))
        for name, t in timings.items():
            rows.append({
                "n": n, "library": name, "median_s": t["median_s"], "min_s": t["min_s"],
                "compile_s": t["compile_s"], "lml": values[name][0],
                "grad_log_amplitude": float(values[name][1][0]),
                "grad_log_lengthscale": float(values[name][1][1]),
                "sklearn_over_this": _harness.ratio(timings["scikit-learn"], t),
                "lml_rel_diff": diff, "grad_rel_diff": gdiff,
            })
    print(_harness.table(rows, ["n", "library", "median_s", "min_s", "compile_s", "lml",
                                "lml_rel_diff", "grad_rel_diff", "sklearn_over_this"]))
    return {"what": "binary Laplace GP classification, log marginal likelihood + gradient wrt "
                    "log(amplitude, length scale) of 1.0 * RBF(3.0), d = 8, float64; jaxkern "
                    "jitted (compile_s = first call - median); scikit-learn "
                    "GaussianProcessClassifier.log_marginal_likelihood(theta, "
                    "eval_gradient=True); the two called in alternating rounds in one process "
                    "(benchmarks/_harness.interleaved); sklearn_over_this > 1 means jaxkern is "
                    "faster; shared 2-core machine: the ratio is the figure",
            "rows": rows}
