"""Tour stops for curvature in training loops: M-FAC products and Hessian spectra by Lanczos."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..linalg import (
    mfac_dynamic_init,
    mfac_dynamic_matvec,
    mfac_dynamic_update,
    smoothed_density,
    spectral_density,
)
from ..optim import as_matvec, hvp, top_eigenvalues
from . import Stop, dtype_tol, plotting

ORDER = 35


def _mfac() -> Stop:
    d, m, lam = 400, 16, 0.05
    rng = np.random.default_rng(0)
    stream = rng.standard_normal((3 * m, d)) / np.sqrt(d)
    dtype = jnp.result_type(float)
    state = mfac_dynamic_init(jnp.asarray(stream[:m], dtype), damping=lam)
    update = jax.jit(mfac_dynamic_update)
    for g in stream[m:]:  # 2m updates: every initial gradient is evicted
        state = update(state, jnp.asarray(g, dtype))
    v = rng.standard_normal(d)
    ours = np.asarray(mfac_dynamic_matvec(state, jnp.asarray(v, dtype)), np.float64)
    # Reference: numpy.linalg.solve of the dense damped Fisher of the last m gradients.
    G = stream[-m:]
    ref = np.linalg.solve(lam * np.eye(d) + G.T @ G / m, v)
    err = float(np.max(np.abs(ours - ref)) / np.max(np.abs(ref)))
    return Stop("mfac_dynamic_matvec", "d=400, m=16 after 2m evicting updates vs dense solve",
                 err, dtype_tol(dtype, 1e-10, 1e-4))


def _problem():
    rng = np.random.default_rng(1)
    dtype = jnp.result_type(float)
    X = jnp.asarray(rng.standard_normal((200, 8)), dtype)
    y = jnp.asarray(rng.integers(0, 4, 200))
    params = {"W": jnp.asarray(0.3 * rng.standard_normal((8, 4)), dtype),
              "b": jnp.zeros(4, dtype)}

    def loss(p, X, y):
        z = X @ p["W"] + p["b"][None]
        return jnp.mean(jax.nn.logsumexp(z, axis=1) - jnp.take_along_axis(z, y[:, None], 1)[:, 0])

    return loss, params, X, y


def _spectrum(outdir) -> Stop:
    loss, params, X, y = _problem()
    flat, unravel = ravel_pytree(params)
    d = flat.shape[0]
    mv = as_matvec(lambda v: hvp(loss, params, v, X, y), params)
    top = float(top_eigenvalues(mv, d, k=1, num_steps=20, key=jax.random.key(0))[0])
    # Reference: eigvalsh of the dense jax.hessian, in NumPy float64.
    H = np.asarray(jax.hessian(lambda f: loss(unravel(f), X, y))(flat), np.float64)
    exact = np.linalg.eigvalsh(H)
    plt = plotting()
    if plt is not None:
        sd = spectral_density(mv, d, key=jax.random.key(1), num_probes=8, num_steps=20)
        grid = jnp.linspace(-0.05, 1.2 * exact[-1], 300, dtype=flat.dtype)
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(grid, smoothed_density(sd, grid, width=0.01), label="SLQ density")
        ax.hist(exact, bins=30, density=True, alpha=0.4, label="eigvalsh")
        ax.set(title="Hessian spectrum, softmax regression (d=36)", xlabel="eigenvalue")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(outdir / "curvature_hessian_density.png", dpi=100)
        plt.close(fig)
    return Stop("hvp + top_eigenvalues (Lanczos)",
                "softmax regression d=36: lambda_max vs eigvalsh",
                abs(top - exact[-1]) / exact[-1], dtype_tol(flat, 1e-8, 1e-4))


def stops(outdir):
    return [_mfac, lambda: _spectrum(outdir)]
