"""Tour stops for the kernel layers: large, dilated, factorised and implicit convolution
kernels, adaptive radial bases and linear spectral-correlation attention."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..layers import (
    CPFactors,
    DilatedReparamConv2d,
    conv2d,
    cp_kernel,
    depthwise_conv2d,
    essa_attention,
    essa_attention_dense,
    factorised_conv2d,
    nearest_bases,
    rbf_field,
)
from ..ssm import HyperConv
from . import Stop, dtype_tol, plotting

ORDER = 65


def _depthwise() -> Stop:
    x = jax.random.normal(jax.random.key(0), (20, 20, 3))
    w = jax.random.normal(jax.random.key(1), (13, 13, 3))
    xn, wn = np.asarray(x, np.float64), np.asarray(w, np.float64)
    xp = np.pad(xn, ((6, 6), (6, 6), (0, 0)))
    ref = sum(xp[a:a + 20, b:b + 20] * wn[a, b] for a in range(13) for b in range(13))
    err = max(float(np.max(np.abs(np.asarray(depthwise_conv2d(x, w, method=m)) - ref)))
              for m in ("direct", "fft")) / float(np.max(np.abs(ref)))
    return Stop("depthwise conv (direct, FFT)", "13x13 kernel vs the defining sum", err,
                dtype_tol(x, 1e-12, 1e-5))


def _reparam(outdir) -> Stop:
    block = DilatedReparamConv2d(4, 13, key=jax.random.key(2))
    x = jax.random.normal(jax.random.key(3), (32, 32, 4))
    multi = eqx.filter_jit(lambda b, x: b(x))(block, x)
    kernel, bias = block.merged_kernel()
    one = depthwise_conv2d(x, kernel, bias)
    err = float(jnp.max(jnp.abs(one - multi)) / jnp.max(jnp.abs(multi)))
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(1, 2, figsize=(6, 3))
        for a, w, title in [(ax[0], block.branches[1][:, :, 0], "7x7 branch (dilation 2)"),
                            (ax[1], kernel[:, :, 0], "merged 13x13 kernel")]:
            w = np.asarray(w)
            top = float(np.abs(w).max())  # a diverging map centred on zero
            fig.colorbar(a.imshow(w, cmap="RdBu", vmin=-top, vmax=top), ax=a, shrink=0.8)
            a.set_title(title)
        fig.tight_layout()
        fig.savefig(outdir / "layers_reparam.png", dpi=100)
        plt.close(fig)
    return Stop("UniRepLKNet dilated re-param", "merged kernel vs 6 branches, K=13", err,
                dtype_tol(x, 1e-12, 1e-6))


def _factorised() -> Stop:
    f = CPFactors(*(jax.random.normal(jax.random.key(4 + i), (3, n))
                    for i, n in enumerate((5, 5, 4, 6))))
    x = jax.random.normal(jax.random.key(9), (16, 16, 4))
    dense = conv2d(x, cp_kernel(f))
    err = float(jnp.max(jnp.abs(factorised_conv2d(x, f) - dense)) / jnp.max(jnp.abs(dense)))
    return Stop("factorised (rank-3 one-way) conv", "vs dense conv with the rebuilt kernel", err,
                dtype_tol(x, 1e-12, 1e-5))


def _neurbf() -> Stop:
    key = jax.random.split(jax.random.key(10), 3)
    c = jax.random.uniform(key[0], (60, 2))
    A = jnp.broadcast_to(20.0 * jnp.eye(2), (60, 2, 2))
    w = jax.random.normal(key[1], (60, 4))
    f = jnp.geomspace(1.0, 8.0, 4).astype(c.dtype)
    x = jax.random.uniform(key[2], (400, 2))
    dense = rbf_field(x, c, A, w, f)
    knn = rbf_field(x, c, A, w, f, neighbours=nearest_bases(x, c, A, k=24))
    return Stop("NeuRBF nearest-k evaluation", "k=24 of 60 bases vs all bases",
                float(jnp.max(jnp.abs(knn - dense))), 1e-6)


def _essa() -> Stop:
    q, k, v = jax.random.normal(jax.random.key(11), (3, 512, 16))
    dense = essa_attention_dense(q, k, v)
    err = float(jnp.max(jnp.abs(essa_attention(q, k, v) - dense)) / jnp.max(jnp.abs(dense)))
    return Stop("ESSA attention (linear form)", "vs dense O(N^2) form, N=512", err,
                dtype_tol(q, 1e-12, 1e-5))


def _hyper() -> Stop:
    L = 1024
    layer = HyperConv(2, key=jax.random.key(12))
    u = jax.random.normal(jax.random.key(13), (L, 2))
    y, k = eqx.filter_jit(lambda m: (m(u), m.kernel(L)))(layer)
    kn, un = np.asarray(k, np.float64), np.asarray(u, np.float64)
    ref = np.stack([np.convolve(un[:, c], kn[:, c])[:L] for c in range(2)], 1)
    ref += np.asarray(layer.D, np.float64) * un
    err = float(np.max(np.abs(np.asarray(y) - ref)) / np.max(np.abs(ref)))
    return Stop("HyperConv (coordinate-MLP kernel)", f"FFT vs direct convolution, L={L}", err,
                dtype_tol(y, 1e-10, 1e-4))


def stops(outdir):
    return [_depthwise, lambda: _reparam(outdir), _factorised, _neurbf, _essa, _hyper]
