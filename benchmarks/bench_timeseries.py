"""MiniRocket transform: jaxkern (XLA, CPU) against aeon 1.6 (numba), one thread each side.

Both run in one child process started with `NUMBA_NUM_THREADS=1` and
`XLA_FLAGS=--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1` (set before JAX
is imported; aeon's transform also gets `n_jobs=1`), so each side has one thread; the harness's
`cpu_s / median_s` says how many cores each call actually kept busy. aeon fits MiniRocket
(`random_state=0`, 10,000 features) on the training split of its bundled dataset; jaxkern's
transform is given aeon's fitted parameters, and the benchmark checks that the two feature
matrices agree (max |difference|) before timing the test split. Compile time (XLA) and numba's
first call are reported apart from the medians; the timed calls alternate between the two sides
(one aeon call, one jaxkern call, per round), and each records wall and process CPU time. Times
are from a shared 2-core machine that many other jobs use at once: the ratio is the figure
(CPU time, which load inflates least), not the absolute times.

ROCKET: aeon's `Rocket(n_kernels=10_000, random_state=0, n_jobs=1)` against `rocket_transform`
given aeon's kernels (both z-normalise each series), same threads, test split.

LightWaveS (`lightwaves_rows`): accuracy of LightWaveS (500 selected features) and MiniRocket
(10,000) with the LOO ridge on aeon's bundled multivariate splits, and the two transforms'
times on the test split (jaxkern both, same thread). Multivariate MultiRocket
(`multirocket_multivariate_rows`): aeon's `MultiRocket(random_state=0, n_jobs=1)` (49,728
features) on BasicMotions against `multirocket_transform` given aeon's parameters. Both
sections also run alone, into the existing JSON: `python -m benchmarks.bench_timeseries
sections` (a one-thread child, as above).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

DATASETS_QUICK = ["GunPoint"]
DATASETS_FULL = ["GunPoint", "OSULeaf", "ACSF1"]
ONE_THREAD = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
}


def _rocket_rows(names, repeats, num_kernels, max_series):
    import jax.numpy as jnp
    import numpy as np
    from aeon.datasets import load_classification
    from aeon.transformations.collection.convolution_based import Rocket

    from benchmarks import _harness
    from jaxkern.timeseries import RocketParameters, rocket_transform

    rows = []
    for name in names:
        Xtr, _ = load_classification(name, split="train")
        Xte, _ = load_classification(name, split="test")
        Xtr, Xte = Xtr.astype(np.float32), Xte[:max_series].astype(np.float32)
        rocket = Rocket(n_kernels=num_kernels, random_state=0, n_jobs=1).fit(Xtr)
        w, lengths, b, d, p, per_kernel, channels = rocket.kernels
        W = np.zeros((len(lengths), Xtr.shape[1], 11), np.float32)
        a1 = a2 = 0
        for i, (m, ell) in enumerate(zip(per_kernel, lengths, strict=True)):
            W[i, channels[a2: a2 + m], :ell] = w[a1: a1 + m * ell].reshape(m, ell)
            a1, a2 = a1 + m * ell, a2 + m
        params = RocketParameters(jnp.asarray(W), jnp.asarray(b), jnp.asarray(d),
                                  jnp.asarray(p), jnp.asarray(lengths))
        X = jnp.asarray(Xte)
        t_aeon, t_ours, ref, ours = _interleaved(
            lambda: rocket.transform(Xte),  # noqa: B023
            lambda: rocket_transform(params, X), repeats)  # noqa: B023
        ours = np.asarray(ours)
        rows.append({
            "transform": "rocket", "dataset": name, "n_test": Xte.shape[0],
            "length": Xte.shape[2], "kernels": num_kernels,
            "aeon_s": t_aeon["median_s"], "jaxkern_s": t_ours["median_s"],
            "aeon_vs_jaxkern": _harness.ratio(t_aeon, t_ours),
            "aeon_vs_jaxkern_cpu": t_aeon["cpu_s"] / t_ours["cpu_s"],
            "jaxkern_compile_s": t_ours["compile_s"],
            "aeon_cores_busy": t_aeon["cpu_s"] / t_aeon["median_s"],
            "jaxkern_cores_busy": t_ours["cpu_s"] / t_ours["median_s"],
            "max_abs_ppv_diff": float(np.abs(ours[:, ::2] - ref[:, ::2]).max()),
            "max_rel_max_diff": float(np.abs(ours[:, 1::2] - ref[:, 1::2]).max()
                                      / np.abs(ref[:, 1::2]).max()),
        })
        print(_harness.table(rows[-1:], list(rows[-1])), file=sys.stderr, flush=True)
    return rows


def _interleaved(aeon_fn, ours_fn, repeats: int):
    """First calls apart (numba's and XLA's compilation), then `repeats` rounds that time one
    call of each side in turn (wall and process CPU time), so load bursts on the shared
    machine hit both; medians, in `_harness.timed_call`'s keys."""
    import statistics
    import time

    from benchmarks import _harness

    out, results = [], []
    for fn in (aeon_fn, ours_fn):
        start = time.perf_counter()
        results.append(_harness.block(fn()))
        out.append({"first_s": time.perf_counter() - start, "wall": [], "cpu": []})
    for _ in range(repeats):
        for fn, t in zip((aeon_fn, ours_fn), out, strict=True):
            start, start_cpu = time.perf_counter(), time.process_time()
            _harness.block(fn())
            t["wall"].append(time.perf_counter() - start)
            t["cpu"].append(time.process_time() - start_cpu)
    for t in out:
        t["median_s"] = statistics.median(t.pop("wall"))
        t["cpu_s"] = statistics.median(t.pop("cpu"))
        t["compile_s"] = max(t["first_s"] - t["median_s"], 0.0)
        t["repeats"] = repeats
    return out[0], out[1], results[0], results[1]


def _child(names: list[str], repeats: int) -> dict:
    import jax.numpy as jnp
    import numpy as np
    from aeon.datasets import load_classification
    from aeon.transformations.collection.convolution_based import MiniRocket

    from benchmarks import _harness
    from jaxkern.timeseries import MiniRocketParameters, minirocket_transform

    rows = []
    for name in names:
        Xtr, _ = load_classification(name, split="train")
        Xte, _ = load_classification(name, split="test")
        Xtr, Xte = Xtr.astype(np.float32), Xte.astype(np.float32)
        mr = MiniRocket(random_state=0, n_jobs=1).fit(Xtr)
        per_comb, channels, dilations, per_dilation, biases = mr.parameters
        masks = np.zeros((len(per_comb), Xtr.shape[1]), np.float32)
        start = 0
        for i, k in enumerate(per_comb):
            masks[i, channels[start: start + k]] = 1
            start += k
        params = MiniRocketParameters(
            biases=jnp.asarray(biases), channel_masks=jnp.asarray(masks),
            dilations=tuple(int(d) for d in dilations),
            features_per_dilation=tuple(int(c) for c in per_dilation))
        X = jnp.asarray(Xte)
        t_aeon, t_ours, ref, ours = _interleaved(
            lambda: mr.transform(Xte),  # noqa: B023
            lambda: minirocket_transform(params, X), repeats)  # noqa: B023
        row = {
            "dataset": name, "n_test": Xte.shape[0], "channels": Xte.shape[1],
            "length": Xte.shape[2], "features": int(ref.shape[1]),
            "aeon_s": t_aeon["median_s"], "jaxkern_s": t_ours["median_s"],
            "aeon_vs_jaxkern": _harness.ratio(t_aeon, t_ours),
            "aeon_vs_jaxkern_cpu": t_aeon["cpu_s"] / t_ours["cpu_s"],
            "jaxkern_compile_s": t_ours["compile_s"], "aeon_first_s": t_aeon["first_s"],
            "aeon_cores_busy": t_aeon["cpu_s"] / t_aeon["median_s"],
            "jaxkern_cores_busy": t_ours["cpu_s"] / t_ours["median_s"],
            "max_abs_feature_diff": float(np.abs(np.asarray(ours) - ref).max()),
        }
        rows.append(row)
        print(_harness.table([row], list(row)), file=sys.stderr, flush=True)
    quick = names == DATASETS_QUICK
    rocket = _rocket_rows(["GunPoint"], min(repeats, 3), 1_000 if quick else 10_000,
                          16 if quick else 150)
    return {"rows": rows, "rocket_rows": rocket, **_sections(quick, repeats)}


def _panel(X):
    """aeon's series as (n, channels, L) float32 and lengths (None when of equal length)."""
    from jaxkern.timeseries import padded_panel

    X, lengths = padded_panel(X)
    return X.astype("float32"), lengths


#: (dataset, series masked to their own lengths): JapaneseVowels also zero-padded to its
#: longest series, as the LightWaveS paper's equal-length copies of the UEA sets are.
LIGHTWAVES_CASES = [("BasicMotions", True), ("JapaneseVowels", True), ("JapaneseVowels", False)]


def lightwaves_rows(cases, repeats: int, num_features: int = 500) -> list[dict]:
    """LightWaveS against MiniRocket (10,000 features): accuracy with the LOO ridge, feature
    counts, and the test-split transform times (fitting apart)."""
    import time

    import jax
    import jax.numpy as jnp
    import numpy as np
    from aeon.datasets import load_classification

    from benchmarks import _harness
    from jaxkern.timeseries import (
        lightwaves_fit,
        lightwaves_transform,
        minirocket_fit,
        minirocket_transform,
        ridge_classifier_fit,
        ridge_classifier_predict,
    )

    rows = []
    for name, masked in cases:
        Xtr, ytr = load_classification(name, split="train")
        Xte, yte = load_classification(name, split="test")
        classes, ytr = np.unique(ytr, return_inverse=True)
        (Xa, la), (Xb, lb) = _panel(Xtr), _panel(Xte)
        lengths = "equal" if lb is None else "masked" if masked else "zero-padded"
        if not masked:
            la = lb = None
        start = time.perf_counter()
        lw = lightwaves_fit(Xa, ytr, lengths=la, num_features=num_features,
                            key=jax.random.key(0))
        fit_s = time.perf_counter() - start
        mr = minirocket_fit(Xa, lengths=la, seed=0)
        acc = {}
        for label, p, tr in (("minirocket", mr, minirocket_transform),
                             ("lightwaves", lw, lightwaves_transform)):
            fit = ridge_classifier_fit(tr(p, Xa, lengths=la), jnp.asarray(ytr),
                                       num_classes=len(classes))
            pred = np.asarray(ridge_classifier_predict(fit, tr(p, Xb, lengths=lb)))
            acc[label] = float(np.mean(classes[pred] == yte))
        t_mr, t_lw, _, _ = _interleaved(
            lambda: minirocket_transform(mr, Xb, lengths=lb),  # noqa: B023
            lambda: lightwaves_transform(lw, Xb, lengths=lb), repeats)  # noqa: B023
        rows.append({
            "dataset": name, "lengths": lengths,
            "n_test": int(Xb.shape[0]), "channels": int(Xb.shape[1]),
            "length": int(Xb.shape[2]),
            "minirocket_accuracy": acc["minirocket"], "lightwaves_accuracy": acc["lightwaves"],
            "minirocket_features": mr.num_features, "lightwaves_features": lw.num_features,
            "feature_fraction": lw.num_features / mr.num_features,
            "lightwaves_triples": int(lw.channels.shape[0]),
            "minirocket_s": t_mr["median_s"], "lightwaves_s": t_lw["median_s"],
            "speedup": _harness.ratio(t_mr, t_lw),
            "speedup_cpu": t_mr["cpu_s"] / t_lw["cpu_s"],
            "lightwaves_fit_s": fit_s,
        })
        print(_harness.table(rows[-1:], list(rows[-1])), file=sys.stderr, flush=True)
    return rows


def multirocket_multivariate_rows(repeats: int, num_kernels: int = 6_250,
                                  max_series: int = 40) -> list[dict]:
    """aeon's multivariate MultiRocket against `multirocket_transform` given aeon's fitted
    parameters (channel lists as ranks; the difference summed over the series' lists, as
    aeon's transform does), BasicMotions test split."""
    import jax.numpy as jnp
    import numpy as np
    from aeon.datasets import load_classification
    from aeon.transformations.collection.convolution_based import MultiRocket

    from benchmarks import _harness
    from jaxkern.timeseries import (
        MiniRocketParameters,
        MultiRocketParameters,
        multirocket_transform,
    )

    Xtr, _ = load_classification("BasicMotions", split="train")
    Xte, _ = load_classification("BasicMotions", split="test")
    Xtr, Xte = Xtr.astype(np.float32), Xte[:max_series].astype(np.float32)
    c = Xtr.shape[1]
    mr = MultiRocket(n_kernels=num_kernels, random_state=0, n_jobs=1).fit(Xtr)
    per_comb, channels = mr.parameter[0], mr.parameter[1]
    ranks = np.zeros((len(per_comb), c), np.float32)
    start = 0
    for i, k in enumerate(per_comb):
        ranks[i, channels[start: start + k]] = np.arange(1, k + 1)
        start += k

    def one(p):
        dilations, per_dilation, biases = p[-3:]
        return MiniRocketParameters(
            biases=jnp.asarray(biases), channel_masks=jnp.asarray(ranks[:84 * len(dilations)]),
            dilations=tuple(int(d) for d in dilations),
            features_per_dilation=tuple(int(x) for x in per_dilation))

    params = MultiRocketParameters(base=one(mr.parameter), diff=one(mr.parameter1))
    X = jnp.asarray(Xte)
    t_aeon, t_ours, ref, ours = _interleaved(
        lambda: mr.transform(Xte), lambda: multirocket_transform(params, X), repeats)
    diff = np.abs(np.asarray(ours) - ref)
    row = {
        "dataset": "BasicMotions", "n_test": Xte.shape[0], "channels": c,
        "length": Xte.shape[2], "features": int(ref.shape[1]),
        "aeon_s": t_aeon["median_s"], "jaxkern_s": t_ours["median_s"],
        "aeon_vs_jaxkern": _harness.ratio(t_aeon, t_ours),
        "aeon_vs_jaxkern_cpu": t_aeon["cpu_s"] / t_ours["cpu_s"],
        "jaxkern_compile_s": t_ours["compile_s"],
        "max_abs_feature_diff": float(diff.max()),
        "max_rel_feature_diff": float((diff / np.maximum(np.abs(ref), 1.0)).max()),
    }
    print(_harness.table([row], list(row)), file=sys.stderr, flush=True)
    return [row]


def _sections(quick: bool, repeats: int) -> dict:
    cases = LIGHTWAVES_CASES[:1] if quick else LIGHTWAVES_CASES
    return {
        "lightwaves_rows": lightwaves_rows(cases, min(repeats, 5),
                                           num_features=100 if quick else 500),
        "multirocket_multivariate_rows": multirocket_multivariate_rows(
            min(repeats, 3), num_kernels=84 * 4 if quick else 6_250,
            max_series=8 if quick else 40),
    }


def run(quick: bool) -> dict:
    from benchmarks import _harness

    names = DATASETS_QUICK if quick else DATASETS_FULL
    repeats = 2 if quick else 7
    env = {**os.environ, **ONE_THREAD}
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_timeseries", json.dumps(names), str(repeats)],
        env=env, check=True, stdout=subprocess.PIPE, text=True)
    payload = json.loads(out.stdout.strip().splitlines()[-1])
    columns = ["dataset", "n_test", "length", "aeon_s", "jaxkern_s", "aeon_vs_jaxkern",
               "aeon_vs_jaxkern_cpu",
               "jaxkern_compile_s", "aeon_cores_busy", "jaxkern_cores_busy",
               "max_abs_feature_diff"]
    print(_harness.table(payload["rows"], columns))
    print(_harness.table(payload["rocket_rows"], ["dataset", "n_test", "kernels", "aeon_s",
                                                  "jaxkern_s", "aeon_vs_jaxkern",
                                                  "aeon_vs_jaxkern_cpu", "max_abs_ppv_diff",
                                                  "max_rel_max_diff"]))
    _print_sections(payload)
    return {**payload, "threads": ONE_THREAD,
            "note": "MiniRocket transform of the test split, 10,000 features, float32, one "
                    "thread each side (child process with the env above); jaxkern given "
                    "aeon's fitted parameters; shared 2-core machine, ratios are the figure"}


ACCURACY_DATASETS = ["GunPoint", "ArrowHead", "OSULeaf", "ItalyPowerDemand", "ACSF1",
                     "BasicMotions", "JapaneseVowels"]


def accuracy_table() -> list[dict]:
    """Test accuracy of MiniRocket (10,000 features, seed 0) + LOO ridge on aeon's bundled
    splits, float32; variable-length sets padded and masked. `python -m
    benchmarks.bench_timeseries accuracy` prints the table of docs/timeseries.md."""
    import jax.numpy as jnp
    import numpy as np
    from aeon.datasets import load_classification

    from benchmarks import _harness
    from jaxkern.timeseries import (
        minirocket_fit,
        minirocket_transform,
        ridge_classifier_fit,
        ridge_classifier_predict,
    )

    rows = []
    for name in ACCURACY_DATASETS:
        Xtr, ytr = load_classification(name, split="train")
        Xte, yte = load_classification(name, split="test")
        classes, ytr = np.unique(ytr, return_inverse=True)
        (Xa, la), (Xb, lb) = _panel(Xtr), _panel(Xte)
        params = minirocket_fit(Xa, lengths=la, seed=0)
        fit = ridge_classifier_fit(minirocket_transform(params, Xa, lengths=la),
                                   jnp.asarray(ytr), num_classes=len(classes))
        pred = np.asarray(ridge_classifier_predict(fit, minirocket_transform(params, Xb,
                                                                             lengths=lb)))
        rows.append({"dataset": name, "channels": Xa.shape[1], "length": Xa.shape[2],
                     "accuracy": float(np.mean(classes[pred] == yte)),
                     "alpha": float(fit.alpha)})
        print(_harness.table(rows[-1:], list(rows[-1])), flush=True)
    print(_harness.table(rows, list(rows[0])))
    return rows


def _print_sections(payload: dict) -> None:
    from benchmarks import _harness

    print(_harness.table(payload["lightwaves_rows"], [
        "dataset", "lengths", "minirocket_accuracy", "lightwaves_accuracy",
        "minirocket_features", "lightwaves_features", "lightwaves_triples", "minirocket_s",
        "lightwaves_s", "speedup", "speedup_cpu"]))
    print(_harness.table(payload["multirocket_multivariate_rows"], [
        "dataset", "n_test", "features", "aeon_s", "jaxkern_s", "aeon_vs_jaxkern",
        "aeon_vs_jaxkern_cpu", "max_abs_feature_diff", "max_rel_feature_diff"]))


def run_sections() -> None:
    """The LightWaveS and multivariate MultiRocket sections alone (one-thread child), merged
    into the existing `benchmarks/results/timeseries.json` (other rows kept)."""
    from benchmarks import _harness

    env = {**os.environ, **ONE_THREAD}
    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_timeseries", "_sections"],
                         env=env, check=True, stdout=subprocess.PIPE, text=True)
    sections = json.loads(out.stdout.strip().splitlines()[-1])
    _print_sections(sections)
    path = _harness.RESULTS / "timeseries.json"
    payload = json.loads(path.read_text()) if path.exists() else {}
    payload.update(sections)
    payload["sections_machine"] = _harness.machine()
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    if sys.argv[1] == "accuracy":
        accuracy_table()
    elif sys.argv[1] == "sections":
        run_sections()
    elif sys.argv[1] == "_sections":
        print(json.dumps(_sections(False, 7), default=float))
    else:
        result = _child(json.loads(sys.argv[1]), int(sys.argv[2]))
        print(json.dumps(result, default=float))
