"""Kernel layers: depthwise direct vs FFT vs PyTorch, ESSA scaling, NeuRBF vs RFF, wave CNNs.

1. Depthwise convolution at 56 x 56 x 96, batch 32, K in {7, 13, 31} (float32, CPU):
   jaxkern's direct (shift-add) and FFT paths, the path `method="auto"` picks, and PyTorch's
   depthwise `conv2d(groups=C)` in this process (`torch.set_num_threads` = the cores XLA uses).
2. ESSA attention, linear form, N = 4k ... 128k tokens, C = 32, sizes interleaved in turns:
   time per token should stay flat.
3. NeuRBF vs a random-Fourier-feature field of the same parameter count on scikit-learn's
   `china.jpg` (downsampled): NeuRBF trained by Adam with nearest-k evaluation; the RFF field's
   readout solved exactly (least squares) for five lengthscales, best kept, in at least the
   same CPU time.
4. A 2-D wave simulator (`wave_dataset`): a dense 3-layer CNN against the same CNN with rank-R
   one-way (factorised) kernels, R = 4 ... 32 (all fewer parameters than dense). Every model
   gets the same budget and the same search: full-batch Adam with cosine decay, peak learning
   rate picked from a grid of three on a validation set, then several seeds; mean test error
   on a fixed test set and parameter counts. `--part wave_cnn` reruns this part alone.
5. The coordinate-MLP hyper-kernel convolution (`ssm.HyperConv`) at L = 64k.

The machine is a shared 2-core CPU: absolute times are noisy, the ratios are the figures.
"""

from __future__ import annotations

import functools
import json
import os
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import _harness
from jaxkern.features import fourier_features, spectral_frequencies
from jaxkern.layers import (
    Conv2d,
    FactorisedConv2d,
    NeuRBF,
    depthwise_conv2d,
    essa_attention,
    fft_is_faster,
    wave_dataset,
)
from jaxkern.ssm import HyperConv

F32 = jnp.float32


def _depthwise(quick: bool, threads: int) -> list[dict]:
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    B, H, W, C = (2, 56, 56, 96) if quick else (32, 56, 56, 96)
    repeats = 2 if quick else 3
    x = jax.random.normal(jax.random.key(0), (B, H, W, C), F32)
    rows = []
    for K in (7, 13, 31):
        w = jax.random.normal(jax.random.key(K), (K, K, C), F32) / K
        row = {"K": K, "batch": B}
        for method in ("direct", "fft"):
            fn = jax.jit(lambda x, w, m=method: depthwise_conv2d(x, w, method=m))
            t = _harness.time_call(lambda fn=fn: fn(x, w), repeats=repeats)  # noqa: B023
            row[f"{method}_s"], row[f"{method}_compile_s"] = t["median_s"], t["compile_s"]
        row["auto_picks"] = "fft" if fft_is_faster((H, W), (K, K)) else "direct"
        row["faster"] = "fft" if row["fft_s"] < row["direct_s"] else "direct"
        row["auto_s"] = row[f"{row['auto_picks']}_s"]
        if torch is not None:
            xt = torch.from_numpy(np.array(x).transpose(0, 3, 1, 2).copy())
            wt = torch.from_numpy(np.array(w).transpose(2, 0, 1)[:, None].copy())
            with torch.no_grad():
                t = _harness.time_call(lambda xt=xt, wt=wt: torch.nn.functional.conv2d(
                    xt, wt, padding=K // 2, groups=C), repeats=repeats)
                ref = torch.nn.functional.conv2d(xt, wt, padding=K // 2, groups=C)
            ours = np.asarray(depthwise_conv2d(x, w)).transpose(0, 3, 1, 2)
            row.update(torch_s=t["median_s"], torch_vs_auto=t["median_s"] / row["auto_s"],
                       max_abs_diff_vs_torch=float(np.max(np.abs(ours - ref.numpy()))))
        row["direct_vs_fft"] = row["direct_s"] / row["fft_s"]
        rows.append(row)
        print(_harness.table([row], list(row)), flush=True)
    return rows


def _essa_times(quick: bool) -> tuple[list[dict], tuple[float, float]]:
    C = 32
    sizes = (4096, 16384) if quick else (4096, 8192, 16384, 32768, 65536, 131072)
    fn = jax.jit(essa_attention)
    data = {N: jax.random.normal(jax.random.key(N), (3, N, C), F32) for N in sizes}
    fns = {N: (lambda qkv=data[N]: fn(*qkv)) for N in sizes}
    load_before = os.getloadavg()[0]
    t, _ = _harness.interleaved(fns, rounds=3 if quick else 21,
                                calls={N: max(1, 65536 // N) for N in sizes})
    load = (load_before, os.getloadavg()[0])
    rows = [{"N": N, "C": C, "essa_s": t[N]["median_s"],
             "us_per_token": 1e6 * t[N]["median_s"] / N,
             "min_us_per_token": 1e6 * t[N]["min_s"] / N, "calls": t[N]["repeats"]}
            for N in sizes]
    for r in rows:
        r["per_token_vs_4k"] = r["us_per_token"] / rows[0]["us_per_token"]
    return rows, load


# glibc gives freed blocks above its (adaptive) mmap/trim thresholds back to the OS, so every
# call at 128k tokens faults ~12k fresh pages in again for XLA's output and temporaries; these
# fixed thresholds keep the pages (the same effect as running under jemalloc or tcmalloc).
_KEEP_PAGES = {"MALLOC_MMAP_THRESHOLD_": str(1 << 30), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}


def _essa(quick: bool) -> dict:
    """Linear-form ESSA at N = 4k ... 128k tokens, C = 32, the sizes timed in turns.

    Every round times each size (calls scaled to about 64k tokens per size and round), so a
    burst of load on the shared machine lands on every size rather than on whichever was being
    timed; medians over the rounds. Twice: in this process (glibc's default malloc), and in a
    child process whose glibc keeps freed pages (`_KEEP_PAGES`), which separates the page-fault
    cost of large fresh buffers from the computation.
    """
    import subprocess
    import sys

    rows, load = _essa_times(quick)
    code = ("import json; from benchmarks.bench_layers import _essa_times; "
            f"print(json.dumps(_essa_times({quick})))")
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, env={**os.environ, **_KEEP_PAGES},
                           cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    kept, load_kept = json.loads(child.stdout.strip().splitlines()[-1])
    for r, k in zip(rows, kept):
        r["us_per_token_pages_kept"] = k["us_per_token"]
        r["per_token_vs_4k_pages_kept"] = k["per_token_vs_4k"]
    print(_harness.table(rows, list(rows[0])), flush=True)
    return {"rows": rows, "load_1min_before_after": (load[0], load_kept[1]),
            "pages_kept_env": _KEEP_PAGES,
            "note": "float32, CPU, medians over 21 rounds in which every size is timed in turn; "
                    "*_pages_kept: the same in a child process with glibc's malloc told to keep "
                    "freed pages (no page faults per call)."}


def _image(factor: int):
    from sklearn.datasets import load_sample_image

    img = load_sample_image("china.jpg").astype(np.float64) / 255
    H, W = img.shape[0] // factor, img.shape[1] // factor
    img = img[: H * factor, : W * factor].reshape(H, factor, W, factor, 3).mean((1, 3))
    ys, xs = np.meshgrid(np.linspace(0, 1, H), np.linspace(0, 1, W), indexing="ij")
    X = jnp.asarray(np.stack([ys.ravel(), xs.ravel()], 1), F32)
    return X, jnp.asarray(img.reshape(-1, 3), F32), (H, W)


def _psnr(pred, Y) -> float:
    return float(10 * np.log10(1 / np.mean((np.asarray(pred, np.float64) - np.asarray(Y)) ** 2)))


def fit_neurbf(X, Y, *, resolution, num_channels, steps, lr, k=16, refresh=100,
               max_frequency=16.0):
    """Adam on every NeuRBF leaf, nearest-k evaluation, neighbours refreshed every `refresh`."""
    field = NeuRBF(resolution, Y.shape[1], num_channels=num_channels,
                   max_frequency=max_frequency, key=jax.random.key(0))
    field = eqx.tree_at(lambda m: m.bias, field, jnp.mean(Y, 0))
    params, static = eqx.partition(field, eqx.is_inexact_array)
    opt = optax.adam(lr)
    state = opt.init(params)

    @jax.jit
    def step(params, state, idx):
        loss = lambda p: jnp.mean((eqx.combine(p, static)(X, idx) - Y) ** 2)
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    start, start_cpu = time.perf_counter(), time.process_time()
    for i in range(steps):
        if i % refresh == 0:
            idx = eqx.combine(params, static).neighbours(X, k=k)
        params, state, _ = step(params, state, idx)
    field = eqx.combine(params, static)
    pred = jax.block_until_ready(field(X, field.neighbours(X, k=k)))
    return field, pred, time.perf_counter() - start, time.process_time() - start_cpu


def fit_rff(X, Y, num_features, lengthscales):
    """The RFF field's readout by least squares (float64), best lengthscale kept."""
    start, start_cpu = time.perf_counter(), time.process_time()
    best = (-np.inf, None, None)
    Om = spectral_frequencies(2, key=jax.random.key(1), num_features=num_features)
    for ls in lengthscales:
        Phi = np.asarray(fourier_features(X, Om, lengthscale=ls), np.float64)
        Phi = np.concatenate([Phi, np.ones((Phi.shape[0], 1))], 1)
        coef = np.linalg.lstsq(Phi, np.asarray(Y, np.float64), rcond=None)[0]
        pred = Phi @ coef
        best = max(best, (_psnr(pred, Y), ls, pred), key=lambda b: b[0])
    return best, time.perf_counter() - start, time.process_time() - start_cpu


def _neurbf_vs_rff(quick: bool) -> dict:
    X, Y, (H, W) = _image(16 if quick else 8)
    res, M = ((8, 12), 4) if quick else ((16, 24), 4)
    steps = 80 if quick else 1500
    field, pred, wall, cpu = fit_neurbf(X, Y, resolution=res, num_channels=M, steps=steps,
                                        lr=2e-2, max_frequency=8.0)
    P = field.num_parameters
    m = (P - 3) // 6  # 2m features x 3 outputs + 3 biases = P
    (rff_psnr, ls, _), rff_wall, rff_cpu = fit_rff(X, Y, m, (0.01, 0.02, 0.03, 0.05, 0.08))
    out = {"image": f"china.jpg downsampled to {H}x{W}", "params": P,
           "neurbf": {"resolution": res, "channels": M, "steps": steps, "psnr": _psnr(pred, Y),
                      "wall_s": wall, "cpu_s": cpu},
           "rff": {"features": m, "params": 6 * m + 3, "psnr": rff_psnr, "lengthscale": ls,
                   "wall_s": rff_wall, "cpu_s": rff_cpu}}
    out["psnr_gain_db"] = out["neurbf"]["psnr"] - rff_psnr
    print(out, flush=True)
    return out


class _CNN(eqx.Module):
    layers: tuple

    def __init__(self, make, key):
        k = jax.random.split(key, 3)
        self.layers = (make(2, 8, k[0]), make(8, 8, k[1]), make(8, 1, k[2]))

    def __call__(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = jnp.tanh(x)
        return x


def _kernel(layer):
    return layer.kernel() if isinstance(layer, FactorisedConv2d) else layer.weight


def _im2col_forward(model: _CNN, x):
    """The same CNN as `model(x)`, each layer as one patches-times-kernel product with its
    (reconstituted) dense kernel. Equal to the layers' own paths (checked before training);
    on XLA:CPU at 8 channels it trains ~3x faster than `lax.conv`, and it gives every model the
    same cost per step, so the comparison is of parameters, not of kernels' speeds."""
    for i, layer in enumerate(model.layers):
        w = _kernel(layer)
        kh, kw = w.shape[:2]
        H, W = x.shape[-3:-1]
        p = jnp.pad(x, ((0, 0), (kh // 2,) * 2, (kw // 2,) * 2, (0, 0)))
        cols = jnp.concatenate([p[:, a:a + H, c:c + W, :] for a in range(kh)
                                for c in range(kw)], -1)
        x = cols @ w.reshape(-1, w.shape[-1]) + layer.bias
        if i < len(model.layers) - 1:
            x = jnp.tanh(x)
    return x


def _params(model) -> int:
    return sum(a.size for a in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))


def _rel_error(pred, target):
    return jnp.linalg.norm(pred - target) / jnp.linalg.norm(target)


def train_wave(make, data, evals, *, runs, steps, chunk=500):
    """Train one CNN per `(learning rate, seed)` in `runs`: full-batch Adam with a cosine
    decay to 1% of the peak learning rate, the same budget for every model.

    Returns the parameter count and, per run, the relative error on each set in `evals`.
    """
    static = eqx.partition(_CNN(make, jax.random.key(0)), eqx.is_inexact_array)[1]
    apply = lambda p, x: _im2col_forward(eqx.combine(p, static), x)
    # Adam's update is linear in the step size: a unit-peak schedule, scaled per run, so that
    # one compiled chunk serves every learning rate.
    opt = optax.chain(optax.scale_by_adam(),
                      optax.scale_by_schedule(optax.cosine_decay_schedule(1.0, steps, 0.01)))
    x, y = data

    @functools.partial(jax.jit, static_argnums=3)
    def run_chunk(params, state, lr, n):
        def body(carry, _):
            p, s = carry
            value, g = jax.value_and_grad(lambda p: jnp.mean((apply(p, x) - y) ** 2))(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, jax.tree.map(lambda v: -lr * v, u)), s), value
        (params, state), losses = jax.lax.scan(body, (params, state), None, length=n)
        return params, state, losses

    evaluate = jax.jit(lambda p, d: _rel_error(apply(p, d.inputs), d.targets))
    model, errors = _CNN(make, jax.random.key(0)), []
    for lr, seed in runs:
        model = _CNN(make, jax.random.key(seed))
        fast, own = _im2col_forward(model, x[:2]), model(x[:2])
        assert jnp.allclose(fast, own, atol=1e-4 * float(jnp.abs(own).max()) + 1e-6)
        params = eqx.filter(model, eqx.is_inexact_array)
        state = opt.init(params)
        done = 0
        while done < steps:
            n = min(chunk, steps - done)
            params, state, _ = run_chunk(params, state, jnp.asarray(lr, F32), n)
            done += n
        errors.append([float(evaluate(params, d)) for d in evals])
    return _params(model), errors


def _wave(quick: bool) -> dict:
    if quick:
        n, steps, lrs, seeds, ranks = 8, 30, (3e-3,), (0,), (4,)
    else:
        n, steps, lrs, seeds, ranks = 64, 1000, (1e-3, 3e-3, 1e-2), (0, 1), (4, 8, 16, 32)
    data = wave_dataset(n, size=24, key=jax.random.key(0), dtype=F32)
    val = wave_dataset(32, size=24, key=jax.random.key(3), dtype=F32)
    test = wave_dataset(32, size=24, key=jax.random.key(1), dtype=F32)  # the fixed test set
    out = {"grid": "24x24", "train": n, "validation": 32, "test": 32, "steps": steps,
           "kernel": 5, "lrs": list(lrs), "seeds": list(seeds),
           "training": "full-batch Adam, cosine decay to 1% of the peak lr over the steps; the "
                       "peak lr picked from `lrs` on the validation set with seed 0, then every "
                       "seed trained at that lr; test error = mean over seeds"}
    makes = {"dense": lambda i, o, k: Conv2d(i, o, 5, dtype=F32, key=k)}
    for rank in ranks:
        makes[f"factorised_rank{rank}"] = (
            lambda i, o, k, r=rank: FactorisedConv2d(i, o, 5, rank=r, dtype=F32, key=k))
    for name, make in makes.items():
        t0 = time.perf_counter()
        params, search = train_wave(make, data, (val, test),
                                    runs=[(lr, seeds[0]) for lr in lrs], steps=steps)
        best = int(np.argmin([e[0] for e in search]))
        _, rest = train_wave(make, data, (test,), runs=[(lrs[best], s) for s in seeds[1:]],
                             steps=steps)
        test_err = np.array([search[best][1]] + [e[0] for e in rest])
        out[name] = {"params": params, "lr": lrs[best],
                     "val_rel_error_per_lr": [e[0] for e in search],
                     "test_rel_error": float(test_err.mean()),
                     "test_rel_error_std": float(test_err.std()),
                     "test_rel_error_per_seed": test_err.tolist(),
                     "train_s": time.perf_counter() - t0}
        print(name, out[name], flush=True)
    return out


def _hyper(quick: bool) -> dict:
    L = 16384 if quick else 65536
    layer = HyperConv(8, key=jax.random.key(0))
    u = jax.random.normal(jax.random.key(1), (L, 8), F32)
    fn = eqx.filter_jit(lambda m, u: m(u))
    t = _harness.time_call(lambda: fn(layer, u), repeats=3)
    out = {"L": L, "channels": 8, "forward_s": t["median_s"], "compile_s": t["compile_s"]}
    print(out, flush=True)
    return out


def run(quick: bool = False) -> dict:
    threads = os.cpu_count() or 1
    return {
        "depthwise": _depthwise(quick, threads),
        "essa": _essa(quick),
        "neurbf_vs_rff": _neurbf_vs_rff(quick),
        "wave_cnn": _wave(quick),
        "hyper_conv": _hyper(quick),
        "torch_threads": threads,
        "note": "float32, CPU, a shared 2-core machine (other jobs running): absolute times are "
                "noise, ratios in one process are the figures. torch = torch.nn.functional."
                "conv2d(groups=C), PyTorch's own depthwise convolution.",
    }


PARTS = {"depthwise": lambda quick: _depthwise(quick, os.cpu_count() or 1), "essa": _essa,
         "neurbf_vs_rff": _neurbf_vs_rff, "wave_cnn": _wave, "hyper_conv": _hyper}


def rerun_part(part: str, quick: bool = False):
    """Rerun one part and replace only its entry in `results/layers.json`, the other parts'
    figures kept: `python -m benchmarks.bench_layers --part wave_cnn [--quick]`."""
    path = _harness.RESULTS / ("quick" if quick else "") / "layers.json"
    payload = json.loads(path.read_text())
    payload[part] = PARTS[part](quick)
    payload[part]["machine"] = _harness.machine()
    path.write_text(json.dumps(payload, indent=2, default=float) + "\n")
    return path


if __name__ == "__main__":
    import sys

    quick = "--quick" in sys.argv
    if "--part" in sys.argv:
        print(rerun_part(sys.argv[sys.argv.index("--part") + 1], quick))
    else:
        print(_harness.write("layers", run(quick=quick), quick=quick))
