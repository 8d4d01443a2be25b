"""GP log marginal likelihood and its gradient: jaxkern against tinygp and GPJax, float64.

One jitted function per library computes the Gram matrix, its Cholesky factor, the log marginal
likelihood, and the gradient with respect to the kernel's lengthscale and variance and the noise,
on the same data, in the same process.

Each function is a fresh `jax.jit` whose first call is the timed one (`_harness.timed_call`):
`compile_s` is that call minus the median, `jax_compile_s` JAX's own account of its tracing,
lowering and compilation, and the reported value comes from that same first call.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from benchmarks import _harness


def _data(n: int, d: int = 3):
    X = jax.random.uniform(jax.random.key(0), (n, d), dtype=jnp.float64) * 10
    y = jnp.sin(X).sum(axis=1) + 0.1 * jax.random.normal(jax.random.key(1), (n,), jnp.float64)
    return X, y


def _jaxkern(X, y):
    from jaxkern.gp import log_marginal_likelihood
    from jaxkern.kernels import RBF

    params = (RBF(lengthscale=1.5, variance=1.2), jnp.asarray(0.1))
    f = jax.jit(jax.value_and_grad(
        lambda p: log_marginal_likelihood(p[0], X, y, noise=p[1], jitter=0.0)))
    return lambda: f(params)


def _tinygp(X, y):
    import tinygp

    def lml(p):
        lengthscale, variance, noise = p
        kernel = variance * tinygp.kernels.ExpSquared(scale=lengthscale)
        return tinygp.GaussianProcess(kernel, X, diag=noise).log_probability(y)

    params = (jnp.asarray(1.5), jnp.asarray(1.2), jnp.asarray(0.1))
    f = jax.jit(jax.value_and_grad(lml))
    return lambda: f(params)


def _gpjax(X, y):
    import equinox as eqx
    import gpjax as gpx

    data = gpx.Dataset(X=X, y=y[:, None])
    prior = gpx.gps.Prior(mean_function=gpx.mean_functions.Zero(),
                          kernel=gpx.kernels.RBF(lengthscale=1.5, variance=1.2), jitter=0.0)
    posterior = prior * gpx.likelihoods.Gaussian(
                                                 obs_stddev=jnp.sqrt(0.1))
    f = eqx.filter_jit(eqx.filter_value_and_grad(
        lambda model: gpx.objectives.conjugate_mll(model, data)))
    return lambda: f(posterior)


PEERS = {"jaxkern": _jaxkern, "tinygp": _tinygp, "gpjax": _gpjax}


def run(quick: bool) -> dict:
    jax.config.update("jax_enable_x64", True)
    sizes = [200] if quick else [1000, 2000, 4000]
    rows = []
    for n in sizes:
        X, y = _data(n)
        values, timings = {}, {}
        for name, make in PEERS.items():
            # the value comes from the first, timed call: calling fn() before the timing would
            # compile the jit there and report a compile time of zero
            timings[name], first = _harness.timed_call(make(X, y), repeats=3 if quick else 7)
            values[name] = float(first[0])
        for name, t in timings.items():
            rows.append({
                "n": n, "library": name, "median_ms": 1e3 * t["median_s"],
                "compile_s": t["compile_s"], "jax_compile_s": t["jax_compile_s"],
                "lml": values[name],
                "jaxkern_speedup": _harness.ratio(t, timings["jaxkern"]),
            })
    print(_harness.table(rows, ["n", "library", "median_ms", "compile_s", "jax_compile_s",
                                "lml", "jaxkern_speedup"]))
    return {"what": "log marginal likelihood + gradient (lengthscale, variance, noise), RBF, "
                    "d=3, float64, jitted, median after warm-up; compile_s = first call of the "
                    "fresh jit - median, jax_compile_s = JAX's account of that call's "
                    "tracing + lowering + compilation",
            "rows": rows}
