"""log I_v / log K_v on random (v, x) pairs: jaxkern (jitted, warm) against SciPy.

v is log-uniform in [1e-3, 1e4] and x log-uniform in [1e-10, 1e5]; 10^6 pairs (10^4 with
--quick), in float64 and float32. SciPy evaluates `log(ive(v, x))` and `log(kve(v, x))` (AMOS),
which is -inf / +inf / nan on part of the sample; the fraction where SciPy is finite is reported.
TensorFlow Probability's JAX substrate (`log_bessel_ive/kve`) would be the JAX peer, but TFP
0.25 does not import with jax 0.10 (`jax.interpreters.xla.pytype_aval_mappings` was removed), so
it is recorded as unavailable rather than timed.

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

GOLDEN = pathlib.Path(__file__).parents[1] / "tests" / "special" / "bessel_golden.npz"


def _tfp_status() -> str:
    try:
        from tensorflow_probability.substrates import jax as tfp_jax  # noqa: F401
    except Exception as err:  # the import itself is what fails with jax 0.10
        return f"unavailable: {type(err).__name__}: {err}"
    return "importable (not timed)"


def _sample(n: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    v = 10.0 ** rng.uniform(-3, 4, n)
    x = 10.0 ** rng.uniform(-10, 5, n)
    return v.astype(dtype), x.astype(dtype)


def _accuracy() -> list[dict]:
    data = np.load(GOLDEN)
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
    for dtype_name, dtype in (("float64", jnp.float64), ("float32", jnp.float32)):
        ours = {
            "log_iv": np.asarray(log_iv(jnp.asarray(v, dtype), jnp.asarray(x, dtype)), np.float64),
            "log_kv": np.asarray(log_kv(jnp.asarray(v, dtype), jnp.asarray(x, dtype)), np.float64),
        }
        for name in ("log_iv", "log_kv"):
            ref = data[name]
            scale = np.maximum(1.0, np.abs(ref))
            for region, mask in regions.items():
                err = np.abs(ours[name][mask] - ref[mask]) / scale[mask]
                row = {"function": name, "dtype": dtype_name, "region": region,
                       "points": int(mask.sum()), "jaxkern_max_rel": float(err.max())}
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
    dtypes = (np.float64, np.float32) if jax.config.jax_enable_x64 else (np.float32,)
    for dtype in dtypes:
        v_np, x_np = _sample(n, dtype)
        v, x = jnp.asarray(v_np), jnp.asarray(x_np)
        for name, ours, peer in (
            ("log_ive", log_ive, lambda a, b: np.log(sc.ive(a, b))),
            ("log_kve", log_kve, lambda a, b: np.log(sc.kve(a, b))),
        ):
            fn = jax.jit(ours)
            t_ours = _harness.time_call(lambda fn=fn: fn(v, x), repeats=repeats)
            with np.errstate(all="ignore"):
                t_scipy = _harness.time_call(lambda p=peer: p(v_np, x_np), repeats=repeats)
                finite = float(np.isfinite(peer(v_np, x_np)).mean())
            rows.append({
                "function": name, "dtype": np.dtype(dtype).name, "n": n,
                "jaxkern_ms": 1e3 * t_ours["median_s"], "compile_s": t_ours["compile_s"],
                "scipy_ms": 1e3 * t_scipy["median_s"],
                "speedup_vs_scipy": _harness.ratio(t_scipy, t_ours),
                "jaxkern_finite_frac": float(np.isfinite(np.asarray(fn(v, x))).mean()),
                "scipy_finite_frac": finite,
            })
    print(_harness.table(rows, ["function", "dtype", "n", "jaxkern_ms", "scipy_ms",
                                "speedup_vs_scipy", "jaxkern_finite_frac", "scipy_finite_frac"]))
    payload = {"timing": rows, "tfp_jax": _tfp_status()}
    if GOLDEN.exists() and jax.config.jax_enable_x64:
        payload["accuracy"] = _accuracy()
        print(_harness.table(payload["accuracy"], ["function", "dtype", "region", "points",
                                                   "jaxkern_max_rel", "scipy_finite_frac",
                                                   "scipy_max_rel_where_finite"]))
    return payload
