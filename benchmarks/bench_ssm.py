"""S4D kernel generation + FFT convolution, forward and backward, float32 on CPU.

Three implementations of the same map (u, SSM parameters) -> y = K * u, with K the S4D kernel
(ZOH, S4D-Lin init) and sum(y^2) as the loss for the backward pass:

- jaxkern: `ssm_kernel` (blocked Vandermonde product) + `fft_conv`, batched by `vmap`;
- naive JAX: the kernel from the materialised (h, m, L) Vandermonde tensor exp(dt lam l);
- PyTorch: our own transcription of the Vandermonde path of state-spaces/s4 `models/s4/s4d.py`
  (S4DKernel.forward + the rfft convolution of S4D.forward), run in this process with
  `torch.set_num_threads` equal to the CPU cores XLA uses.

Times are fwd+bwd medians (`_harness.time_call`); memory for the JAX versions is XLA's own
account of the compiled fwd+bwd (`_harness.xla_memory`); for PyTorch it is the size of one
(h, m, L) complex64 tensor its Vandermonde path materialises (it holds two, and autograd keeps
one for the backward pass).
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _harness
from jaxkern.ssm import fft_conv, s4d_init, ssm_kernel

F32, C64 = jnp.float32, jnp.complex64


def _params(h, n, seed=0):
    rng = np.random.default_rng(seed)
    lam = np.tile(s4d_init(n, method="lin").lam, (h, 1))
    log_dt = rng.uniform(math.log(1e-3), math.log(1e-1), h)
    C = rng.standard_normal((h, n // 2, 2)) * math.sqrt(0.5)
    return {"log_dt": log_dt, "log_neg_real": np.log(-lam.real), "imag": lam.imag, "C": C}


def _ssm(p):
    lam = jax.lax.complex(-jnp.exp(p["log_neg_real"]), p["imag"])
    C = jax.lax.complex(p["C"][..., 0], p["C"][..., 1])
    return jnp.exp(p["log_dt"]), lam, jnp.ones_like(lam), C


def jaxkern_forward(p, u):
    dt, lam, B, C = _ssm(p)
    K = ssm_kernel(dt, lam, B, C, length=u.shape[1])
    return jax.vmap(fft_conv, in_axes=(0, None))(u, K)


def naive_forward(p, u):
    dt, lam, B, C = _ssm(p)
    L = u.shape[1]
    dtl = dt.astype(C64)[:, None] * lam
    W = C * B * (jnp.exp(dtl) - 1) / lam
    V = jnp.exp(dtl[:, :, None] * jnp.arange(L).astype(C64)[None, None, :])  # (h, m, L)
    K = 2 * jnp.real(jnp.einsum("hm,hml->hl", W, V)).T
    return jax.vmap(fft_conv, in_axes=(0, None))(u, K)


def _fwd_bwd(forward):
    loss = lambda p, u: jnp.sum(forward(p, u) ** 2)
    return jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))


def _torch_fwd_bwd(torch, p, u_bhl):
    """The s4d.py Vandermonde path (our transcription), forward and backward."""
    t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
    u = torch.tensor(u_bhl, requires_grad=True)

    def step():
        for x in [*t.values(), u]:
            x.grad = None
        L = u.shape[-1]
        dt = torch.exp(t["log_dt"])
        C = torch.view_as_complex(t["C"])
        A = -torch.exp(t["log_neg_real"]) + 1j * t["imag"]
        dtA = A * dt.unsqueeze(-1)
        K = dtA.unsqueeze(-1) * torch.arange(L)
        C = C * (torch.exp(dtA) - 1.0) / A
        k = 2 * torch.einsum("hn,hnl->hl", C, torch.exp(K)).real
        k_f = torch.fft.rfft(k, n=2 * L)
        u_f = torch.fft.rfft(u, n=2 * L)
        y = torch.fft.irfft(u_f * k_f, n=2 * L)[..., :L]
        loss = torch.sum(y**2)
        loss.backward()
        return loss, y

    return step


def run(quick: bool) -> dict:
    h, n, batch = (32, 16, 2) if quick else (256, 64, 8)
    lengths = [512] if quick else [1024, 4096, 16384]
    repeats = 3 if quick else 5
    threads = os.cpu_count()  # XLA's CPU backend runs one intra-op thread per core
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:
        torch = None
    p32 = {k: v.astype(np.float32) for k, v in _params(h, n).items()}
    p = {k: jnp.asarray(v) for k, v in p32.items()}
    rows = []
    for L in lengths:
        u = jax.random.normal(jax.random.key(L), (batch, L, h), F32)
        row = {"L": L, "h": h, "N": n, "batch": batch}
        ours, naive = _fwd_bwd(jaxkern_forward), _fwd_bwd(naive_forward)
        t_ours = _harness.time_call(lambda: ours(p, u), repeats=repeats)  # noqa: B023
        t_naive = _harness.time_call(lambda: naive(p, u), repeats=repeats)  # noqa: B023
        row.update(jaxkern_s=t_ours["median_s"], naive_s=t_naive["median_s"],
                   jaxkern_compile_s=t_ours["compile_s"],
                   naive_vs_jaxkern=_harness.ratio(t_naive, t_ours),
                   jaxkern_peak_mb=_harness.xla_memory(ours, p, u)["peak_mb"],
                   naive_peak_mb=_harness.xla_memory(naive, p, u)["peak_mb"])
        if torch is not None:
            u_bhl = np.ascontiguousarray(np.asarray(u).transpose(0, 2, 1))
            step = _torch_fwd_bwd(torch, p32, u_bhl)
            t_torch = _harness.time_call(step, repeats=repeats)
            y_ref = step()[1].detach().numpy()
            y_ours = np.asarray(jax.jit(jaxkern_forward)(p, u)).transpose(0, 2, 1)
            row.update(torch_s=t_torch["median_s"],
                       torch_vs_jaxkern=_harness.ratio(t_torch, t_ours),
                       torch_vandermonde_mb=h * (n // 2) * L * 8 / 1024**2,
                       rel_diff_vs_torch=float(np.linalg.norm(y_ours - y_ref)
                                               / np.linalg.norm(y_ref)))
        rows.append(row)
        print(_harness.table([row], list(row)), flush=True)
    columns = ["L", "jaxkern_s", "naive_s", "torch_s", "naive_vs_jaxkern", "torch_vs_jaxkern",
               "jaxkern_peak_mb", "naive_peak_mb", "torch_vandermonde_mb", "rel_diff_vs_torch"]
    print(_harness.table(rows, columns))
    return {"rows": rows, "torch_threads": threads,
            "torch": None if torch is None else torch.__version__,
            "note": "fwd+bwd of kernel generation + FFT conv, float32, CPU; torch = our "
                    "transcription of state-spaces/s4 models/s4/s4d.py (Vandermonde path)"}
