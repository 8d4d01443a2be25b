"""M-FAC dynamic algorithm, one optimiser step: jaxkern against the authors' PyTorch CPU path.

One step replaces the oldest of the m window gradients with a new one and returns the inverse
empirical-Fisher product with it (the paper's ``update_mul``), float32, at the paper's
optimiser size d = 270,000 (a ResNet-20), m = 512.

The peer is a TRANSCRIPTION, written for this benchmark, of ``HInvFastUpMulti`` in
github.com/IST-DASLab/M-FAC ``optim.py`` on its non-CUDA path (``USE_CUDA = False``, one
device): the m x m set-up by a non-pivoted LU of ``lambda^-1 G G^T + m I`` and a Python loop
over rows for the coefficient matrix (from the replaced slot on), and a Python loop of m - 1
steps in each product. The repository's ``torch.lu(pivot=False)`` (CUDA only, removed from
recent PyTorch) is replaced by the same factor from a Cholesky (U = diag(L) L^T), which for
this symmetric positive definite matrix is the unique non-pivoted LU. jaxkern's step is
``mfac_dynamic_update_matvec`` under ``jax.jit`` with the window donated.

Both run on the same CPU in one process; the machine is a shared 2-core box, so the ratio is
the figure, not the absolute times.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import _harness


class TorchHInvFastUpMulti:
    """Transcription (one device, non-CUDA path) of M-FAC's ``HInvFastUpMulti``."""

    def __init__(self, grads, damp):
        import torch

        self.torch = torch
        self.m, self.d = grads.shape
        self.lambd = 1.0 / damp
        self.grads = grads.clone()
        self.dots = self.grads @ self.grads.T
        self.last = 0
        self.coef = self.lambd * torch.eye(self.m, dtype=grads.dtype)
        self.setup()

    def setup(self):
        torch, m = self.torch, self.m
        eye_m = m * torch.eye(m, dtype=self.dots.dtype)
        chol = torch.linalg.cholesky(self.lambd * self.dots + eye_m)
        upper = torch.diagonal(chol)[:, None] * chol.T  # non-pivoted LU's U factor
        self.giHig = torch.triu(upper - eye_m)
        self.denom = m + torch.diagonal(self.giHig)
        tmp = -self.giHig.t().contiguous() / self.denom.reshape((1, -1))
        for i in range(max(self.last, 1), m):
            self.coef[i, :i] = tmp[i, :i].matmul(self.coef[:i, :i])

    def mul(self, x, dots=None):
        if dots is None:
            dots = self.grads.matmul(x)
        giHix = self.lambd * dots
        for i in range(1, self.m):
            giHix[i:].sub_(self.giHig[i - 1, i:], alpha=float(giHix[i - 1] / self.denom[i - 1]))
        return self.lambd * x - ((giHix / self.denom).matmul(self.coef)).matmul(self.grads)

    def update_mul(self, g):
        self.grads[self.last, :] = g
        tmp = self.grads.matmul(g)
        self.dots[self.last, :] = tmp
        self.dots[:, self.last] = tmp
        self.setup()
        res = self.mul(g, tmp)
        self.last = (self.last + 1) % self.m
        return res


def _stream(n, d, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d), dtype=np.float32) / np.sqrt(d)).astype(np.float32)


def run(quick: bool) -> dict:
    import torch

    from jaxkern.linalg import mfac_dynamic_init, mfac_dynamic_update_matvec

    d, m = (20_000, 64) if quick else (270_000, 512)
    damp = 1e-4
    repeats = 3 if quick else 5
    stream = _stream(m + 4, d)
    new = _stream(8 + repeats * 2 + 4, d, seed=1)

    # jaxkern: the window is donated, so each call consumes the previous state
    step = jax.jit(mfac_dynamic_update_matvec, donate_argnums=0)
    holder = {"state": mfac_dynamic_init(jnp.asarray(stream[:m]), damping=damp), "i": 0}

    def jax_step():
        g = jnp.asarray(new[holder["i"] % len(new)])
        holder["i"] += 1
        holder["state"], out = step(holder["state"], g)
        return out

    peer = TorchHInvFastUpMulti(torch.from_numpy(stream[:m].copy()), damp)
    counter = {"i": 0}

    def torch_step():
        g = torch.from_numpy(new[counter["i"] % len(new)])
        counter["i"] += 1
        return peer.update_mul(g)

    # same inputs, same outputs: one step from the same window
    check_state = mfac_dynamic_init(jnp.asarray(stream[:m]), damping=damp)
    check_peer = TorchHInvFastUpMulti(torch.from_numpy(stream[:m].copy()), damp)
    _, ours = mfac_dynamic_update_matvec(check_state, jnp.asarray(stream[m]))
    theirs = check_peer.update_mul(torch.from_numpy(stream[m])).numpy()
    rel = float(np.max(np.abs(np.asarray(ours) - theirs)) / np.max(np.abs(theirs)))
    del check_state, check_peer

    timings = {"jaxkern": _harness.time_call(jax_step, repeats=repeats),
               "torch transcription": _harness.time_call(torch_step, repeats=repeats)}
    rows = [{"d": d, "m": m, "library": name, "median_ms": 1e3 * t["median_s"],
             "compile_s": t["compile_s"], "jax_compile_s": t["jax_compile_s"],
             "jaxkern_speedup": _harness.ratio(t, timings["jaxkern"])}
            for name, t in timings.items()]
    print(_harness.table(rows, ["d", "m", "library", "median_ms", "compile_s",
                                "jax_compile_s", "jaxkern_speedup"]))
    print(f"max |jaxkern - torch| / max |torch| on one step: {rel:.2e}")
    return {"what": "M-FAC dynamic algorithm, one optimiser step (replace the oldest gradient, "
                    "then the inverse empirical-Fisher product with the new one), float32, "
                    "damping 1e-4; peer: a transcription (written here, labelled) of "
                    "IST-DASLab/M-FAC optim.py HInvFastUpMulti on its non-CUDA path in PyTorch "
                    f"{torch.__version__} CPU; shared 2-core machine: the ratio is the figure",
            "max_relative_difference": rel, "rows": rows}
