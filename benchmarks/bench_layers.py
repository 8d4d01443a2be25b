"""Kernel layers: depthwise direct vs FFT vs PyTorch, ESSA scaling, NeuRBF vs RFF, wave CNNs.

1. Depthwise convolution at 56 x 56 x 96, batch 32, K in {7, 13, 31} (float32, CPU):
   jaxkern's direct (shift-add) and FFT paths, the path `method="auto"` picks, and PyTorch's
   depthwise `conv2d(groups=C)` in this process (`torch.set_num_threads` = the cores XLA uses).
2. ESSA attention, linear form, N = 4k ... 64k tokens, C = 32: time per token should stay flat.
3. NeuRBF vs a random-Fourier-feature field of the same parameter count on scikit-learn's
   `china.jpg` (downsampled): NeuRBF trained by Adam with nearest-k evaluation; the RFF field's
   readout solved exactly (least squares) for five lengthscales, best kept, in at least the
   same CPU time.
4. A 2-D wave simulator (`wave_dataset`): a dense 3-layer CNN against the same CNN with rank-R
   one-way (factorised) kernels, same training; test error and parameter counts.
5. The coordinate-MLP hyper-kernel convolution (`ssm.HyperConv`) at L = 64k.

The machine is a shared 2-core CPU: absolute times are noisy, the ratios are the figures.
"""

from __future__ import annotations

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


def _essa(quick: bool) -> list[dict]:
    C = 32
    sizes = (4096, 16384) if quick else (4096, 8192, 16384, 32768, 65536)
    fn = jax.jit(essa_attention)
    rows = []
    for N in sizes:
        q, k, v = jax.random.normal(jax.random.key(N), (3, N, C), F32)
        t = _harness.time_call(lambda q=q, k=k, v=v: fn(q, k, v), repeats=5)
        rows.append({"N": N, "C": C, "essa_s": t["median_s"],
                     "us_per_token": 1e6 * t["median_s"] / N})
    base = rows[0]["us_per_token"]
    for r in rows:
        r["per_token_vs_4k"] = r["us_per_token"] / base
    print(_harness.table(rows, list(rows[0])), flush=True)
    return rows


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


def _params(model) -> int:
    return sum(a.size for a in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))


def train_wave(make, data, test, *, steps, key):
    model = _CNN(make, key)
    opt = optax.adam(3e-3)
    params, static = eqx.partition(model, eqx.is_inexact_array)
    state = opt.init(params)
    x, y = data

    @jax.jit
    def step(params, state):
        loss = lambda p: jnp.mean((eqx.combine(p, static)(x) - y) ** 2)
        value, grads = jax.value_and_grad(loss)(params)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, value

    for _ in range(steps):
        params, state, _ = step(params, state)
    model = eqx.combine(params, static)
    pred = jax.jit(lambda m, x: m(x))(model, test.inputs)
    err = float(jnp.linalg.norm(pred - test.targets) / jnp.linalg.norm(test.targets))
    return model, err


def _wave(quick: bool) -> dict:
    n, steps = (16, 60) if quick else (64, 400)
    data = wave_dataset(n, size=24, key=jax.random.key(0), dtype=F32)
    test = wave_dataset(32, size=24, key=jax.random.key(1), dtype=F32)
    dense_make = lambda i, o, k: Conv2d(i, o, 5, dtype=F32, key=k)
    out = {"grid": "24x24", "train": n, "test": 32, "steps": steps, "kernel": 5}
    dense, err = train_wave(dense_make, data, test, steps=steps, key=jax.random.key(2))
    out["dense"] = {"params": _params(dense), "test_rel_error": err}
    for rank in ((4,) if quick else (4, 8)):
        fact_make = lambda i, o, k, r=rank: FactorisedConv2d(i, o, 5, rank=r, dtype=F32, key=k)
        fact, err = train_wave(fact_make, data, test, steps=steps, key=jax.random.key(2))
        out[f"factorised_rank{rank}"] = {"params": _params(fact), "test_rel_error": err}
    print(out, flush=True)
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


if __name__ == "__main__":
    import sys

    payload = run(quick="--quick" in sys.argv)
    print(_harness.write("layers", payload, quick="--quick" in sys.argv))
