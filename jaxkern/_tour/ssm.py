"""Tour stops for diagonal state-space and long-convolution layers."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..optim import minimize
from ..ssm import (
    S4D,
    LongConv,
    SequenceModel,
    SGConv,
    hippo_legs,
    ptd_init,
    s4d_init,
    ssm_transfer_function,
)
from . import Stop, dtype_tol, plotting

ORDER = 60


def _kernel_vs_recurrence(init: str, method: str) -> Stop:
    layer = S4D(4, 32, init=init, method=method, key=jax.random.key(0))
    L = 512
    impulse = jnp.zeros((L, 4)).at[0].set(1.0)

    @eqx.filter_jit
    def both(layer):
        return layer.kernel(L), layer.recurrence(impulse).y - layer.D[None, :] * impulse

    K, y = both(layer)
    error = float(jnp.max(jnp.abs(K - y)) / jnp.max(jnp.abs(K)))
    name = "S4-PTD" if init == "ptd" else f"S4D-{init.capitalize()}"
    return Stop(f"{name} kernel ({method})", f"vs recurrence impulse response, L={L}", error,
                dtype_tol(K, 1e-12, 1e-4))


def _ptd_transfer(outdir) -> Stop:
    # The S4-PTD claim (Yu et al., ICLR 2024): |G_PTD - G_HiPPO| <= (2 ln N + 4) eps uniformly.
    N, eps = 64, 1.0
    h = hippo_legs(N)
    C = h.B / np.linalg.norm(h.B)
    w = np.unique(np.concatenate([np.logspace(-2, 4, 400), s4d_init(N, init="legs").lam.imag]))
    s = 1j * w
    G = np.array([C @ np.linalg.solve(x * np.eye(N) - h.A, h.B) for x in s])
    init = ptd_init(N, perturbation=eps)
    G_ptd = np.asarray(ssm_transfer_function(*(jnp.asarray(v) for v in (
        init.lam, init.B, C @ init.V, s))))
    G_s4d = np.array([C @ np.linalg.solve(x * np.eye(N) - h.S, h.B) for x in s])
    error = float(np.abs(G_ptd - G).max())
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.loglog(w, np.abs(G_s4d - G), label="S4D-LegS")
        ax.loglog(w, np.abs(G_ptd - G), label=f"S4-PTD (eps={eps})")
        ax.axhline((2 * np.log(N) + 4) * eps, color="k", ls="--", label="PTD bound")
        ax.set(xlabel="frequency", ylabel="|G - G_HiPPO|", title=f"N={N}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(outdir / "ssm_ptd_transfer.png", dpi=100)
        plt.close(fig)
    return Stop("S4-PTD transfer function", f"vs HiPPO-LegS, worst frequency, N={N}", error,
                (2 * np.log(N) + 4) * eps)


def _conv_layer(which: str) -> Stop:
    L, h = 256, 3
    key = jax.random.key(1)
    layer = (SGConv(h, L, kernel_dim=16, key=key) if which == "SGConv"
             else LongConv(h, L, key=key))
    u = jax.random.normal(jax.random.key(2), (L, h))
    y, k = eqx.filter_jit(lambda m: (m(u), m.kernel()))(layer)
    k = np.asarray(k, np.float64)
    un = np.asarray(u, np.float64)
    direct = np.stack([np.convolve(un[:, c], k[:, c])[:L] for c in range(h)], axis=1)
    direct += np.asarray(layer.D, np.float64)[None, :] * un
    error = float(np.max(np.abs(np.asarray(y) - direct)) / np.max(np.abs(direct)))
    return Stop(f"{which} layer (FFT conv)", f"vs direct convolution, L={L}", error,
                dtype_tol(y, 1e-10, 1e-4))


def _train(outdir) -> Stop:
    # Output the input delayed by 8 steps: a memory task the SSM kernel solves.
    model = SequenceModel(1, 1, channels=8, depth=1, key=jax.random.key(3),
                          make_layer=lambda k: S4D(8, 16, dt_min=0.05, dt_max=0.5, key=k))
    u = jax.random.normal(jax.random.key(4), (16, 64, 1))
    target = jnp.pad(u, ((0, 0), (8, 0), (0, 0)))[:, :64]
    loss = lambda m: jnp.mean((jax.vmap(m)(u) - target) ** 2)
    with jax.numpy_dtype_promotion("standard"):
        result = minimize(loss, model, optimizer=optax.adam(1e-2), num_steps=150,
                          chunk_size=150)
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.semilogy(result.losses)
        ax.set(xlabel="step", ylabel="MSE", title="S4D model: delay-8 copy")
        fig.tight_layout()
        fig.savefig(outdir / "ssm_training.png", dpi=100)
        plt.close(fig)
    ratio = float(result.losses[-1] / result.losses[0])
    return Stop("SequenceModel(S4D) training", "delay-8 copy, 150 steps: final/first loss",
                ratio, 0.2)


def stops(outdir):
    return [
        lambda: _kernel_vs_recurrence("lin", "zoh"),
        lambda: _kernel_vs_recurrence("inv", "bilinear"),
        lambda: _kernel_vs_recurrence("ptd", "zoh"),
        lambda: _ptd_transfer(outdir),
        lambda: _conv_layer("SGConv"),
        lambda: _conv_layer("LongConv"),
        lambda: _train(outdir),
    ]
