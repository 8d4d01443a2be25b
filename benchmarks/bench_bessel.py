"""log I_v / log K_v on random (v, x) pairs: jaxkern (jitted, warm) against SciPy.

v is log-uniform in [1e-3, 1e4] and x log-uniform in [1e-10, 1e5]; 10^6 pairs (10^4 with
--quick), in float64 and float32. SciPy evaluates `log(ive(v, x))` and `log(kve(v, x))` (AMOS),
which is -inf / +inf / nan on part of the sample; the fraction where SciPy is finite is reported.
TensorFlow Probability's JAX substrate (`tfp.math.log_bessel_ive/kve`) is the JAX peer, timed
(jitted, warm) and scored in the same process. TFP 0.25 reads
`jax.interpreters.xla.pytype_aval_mappings` at import, which jax 0.10 moved to `jax._src.core`;
the benchmark sets that one alias before importing it (nothing else is patched).

The accuracy table per region comes from the committed mpmath golden values
(`tests/special/bessel_golden.npz`): max |error| / max(1, |log value|).
"""

from __future__ import annotations

import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special as sc

from jaxkern.special import log_iv, log_ive, log_kv, log_kve

from . import _harness

jax.config.update("jax_enable_x64", True)  # both dtypes, and the float64 accuracy table

GOLDEN = pathlib.Path(__file__).parents[1] / "tests" / "special" / "bessel_golden.npz"


def _tfp():
    """TFP's JAX substrate, or None when it is not installed or does not import."""
    import jax.interpreters.xla as xla
    from jax._src import core

    if not hasattr(xla, "pytype_aval_mappings"):  # moved in jax 0.10; TFP 0.25 reads it here
        xla.pytype_aval_mappings = core.pytype_aval_mappings
    try:
        from tensorflow_probability.substrates import jax as tfp_jax
    except Exception:  # not installed, or an import-time incompatibility with this jax
        return None
    return tfp_jax


def _sample(n: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    v = 10.0 ** rng.uniform(-3, 4, n)
    x = 10.0 ** rng.uniform(-10, 5, n)
    return v.astype(dtype), x.astype(dtype)


def _accuracy(tfp, points: int | None) -> list[dict]:
    golden = np.load(GOLDEN)
    data = {k: golden[k][:points] for k in ("v", "x", "log_iv", "log_kv")}
    v, x = data["v"], data["x"]
    far = np.hypot(v, x) >= 30
    regions = {
        "Debye / Hankel (sqrt(v^2+x^2) >= 30)": far,
        "series + Temme (< 30, x <= 2)": ~far & (x <= 2),
        "series + Steed CF2 (< 30, x > 2)": ~far & (x > 2),
        "all": np.ones_like(far),
    }
    rows = []
    with np.errstate(all="ignore"):
        scipy_vals = {"log_iv": np.log(sc.ive(v, x)) + x, "log_kv": np.log(sc.kve(v, x)) - x}
    # float32 rounds the inputs (relative 6e-8), which alone moves log I and log K by up to
    # 6e-8 * (v asinh(v/x) + ...); the reference at the rounded inputs, to first order through
    # the float64 derivatives, separates that from the error of the float32 evaluation itself
    v32, x32 = v.astype(np.float32).astype(np.float64), x.astype(np.float32).astype(np.float64)
    fns = {"log_iv": log_iv, "log_kv": log_kv}
    peers = {} if tfp is None else {
        "log_iv": lambda v, x: tfp.math.log_bessel_ive(v, x) + x,
        "log_kv": lambda v, x: tfp.math.log_bessel_kve(v, x) - x,
    }
    at_rounded = {}
    for name, fn in fns.items():
        dv = np.asarray(jax.vmap(jax.grad(fn, 0))(jnp.asarray(v), jnp.asarray(x)))
        dx = np.asarray(jax.vmap(jax.grad(fn, 1))(jnp.asarray(v), jnp.asarray(x)))
        at_rounded[name] = data[name] + np.where(v == 0, 0, dv) * (v32 - v) + dx * (x32 - x)
    for dtype_name, dtype in (("float64", jnp.float64), ("float32", jnp.float32)):
        vj, xj = jnp.asarray(v, dtype), jnp.asarray(x, dtype)
        ours = {name: np.asarray(fn(vj, xj), np.float64) for name, fn in fns.items()}
        theirs = {name: np.asarray(jax.jit(fn)(vj, xj), np.float64) for name, fn in peers.items()}
        for name in ("log_iv", "log_kv"):
            ref = data[name]
            scale = np.maximum(1.0, np.abs(ref))
            for region, mask in regions.items():
                err = np.abs(ours[name][mask] - ref[mask]) / scale[mask]
                row = {"function": name, "dtype": dtype_name, "region": region,
                       "points": int(mask.sum()), "jaxkern_max_rel": float(err.max())}
                if dtype_name == "float32":
                    err32 = np.abs(ours[name][mask] - at_rounded[name][mask]) / scale[mask]
                    row["jaxkern_max_rel_at_rounded_inputs"] = float(err32.max())
                    row["jaxkern_frac_within_1e-5"] = float(np.mean(err32 <= 1e-5))
                if theirs:
                    t = theirs[name][mask]
                    finite = np.isfinite(t)
                    row["tfp_finite_frac"] = float(finite.mean())
                    t_err = np.abs(t[finite] - ref[mask][finite]) / scale[mask][finite]
                    row["tfp_max_rel_where_finite"] = float(t_err.max()) if finite.any() else None
                if dtype_name == "float64":
                    s = scipy_vals[name][mask]
                    finite = np.isfinite(s)
                    row["scipy_finite_frac"] = float(finite.mean())
                    s_err = np.abs(s[finite] - ref[mask][finite]) / scale[mask][finite]
                    row["scipy_max_rel_where_finite"] = float(s_err.max()) if finite.any() else None
                rows.append(row)
    return rows


def run(quick: bool) -> dict:
    n = 10_000 if quick else 1_000_000
    repeats = 3 if quick else 5
    rows = []
    tfp = _tfp()
    for dtype in (np.float64, np.float32):
        v_np, x_np = _sample(n, dtype)
        v, x = jnp.asarray(v_np), jnp.asarray(x_np)
        for name, ours, peer, tfp_fn in (
            ("log_ive", log_ive, lambda a, b: np.log(sc.ive(a, b)),
             tfp and tfp.math.log_bessel_ive),
            ("log_kve", log_kve, lambda a, b: np.log(sc.kve(a, b)),
             tfp and tfp.math.log_bessel_kve),
        ):
            fn = jax.jit(ours)
            t_ours = _harness.time_call(lambda fn=fn: fn(v, x), repeats=repeats)
            with np.errstate(all="ignore"):
                t_scipy = _harness.time_call(lambda p=peer: p(v_np, x_np), repeats=repeats)
                finite = float(np.isfinite(peer(v_np, x_np)).mean())
            row = {
                "function": name, "dtype": np.dtype(dtype).name, "n": n,
                "jaxkern_ms": 1e3 * t_ours["median_s"], "compile_s": t_ours["compile_s"],
                "scipy_ms": 1e3 * t_scipy["median_s"],
                "speedup_vs_scipy": _harness.ratio(t_scipy, t_ours),
                "jaxkern_finite_frac": float(np.isfinite(np.asarray(fn(v, x))).mean()),
                "scipy_finite_frac": finite,
            }
            if tfp_fn is not None:
                peer_jit = jax.jit(tfp_fn)
                t_tfp = _harness.time_call(lambda f=peer_jit: f(v, x), repeats=repeats)
                row.update({
                    "tfp_ms": 1e3 * t_tfp["median_s"], "tfp_compile_s": t_tfp["compile_s"],
                    "speedup_vs_tfp": _harness.ratio(t_tfp, t_ours),
                    "tfp_finite_frac": float(np.isfinite(np.asarray(peer_jit(v, x))).mean()),
                })
            rows.append(row)
    print(_harness.table(rows, ["function", "dtype", "n", "jaxkern_ms", "scipy_ms", "tfp_ms",
                                "speedup_vs_scipy", "speedup_vs_tfp", "jaxkern_finite_frac",
                                "scipy_finite_frac", "tfp_finite_frac"]))
    payload = {"timing": rows, "tfp_jax": "timed" if tfp else "not importable"}
    if GOLDEN.exists():
        payload["accuracy"] = _accuracy(tfp, 500 if quick else None)
        print(_harness.table(payload["accuracy"], ["function", "dtype", "region", "points",
                                                   "jaxkern_max_rel", "scipy_finite_frac",
                                                   "scipy_max_rel_where_finite",
                                                   "tfp_finite_frac", "tfp_max_rel_where_finite",
                                                   "jaxkern_max_rel_at_rounded_inputs",
                                                   "jaxkern_frac_within_1e-5"]))
    return payload
