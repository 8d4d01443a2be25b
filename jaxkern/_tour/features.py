"""Tour stops for random features, kernelized attention and quantum kernels."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from ..features import (
    ad_hoc_data,
    fidelity_gram,
    fourier_features,
    kernelized_attention,
    neural_network_kernel,
    snnk_features,
    softmax_features,
    spectral_frequencies,
)
from ..kernels import gram, matern32, rbf
from . import Stop, dtype_tol, plotting

ORDER = 90


def _fourier(spectrum, kernel, orthogonal) -> Stop:
    X = jax.random.normal(jax.random.key(0), (50, 3))
    W = spectral_frequencies(3, key=jax.random.key(1), num_features=4096, spectrum=spectrum,
                             orthogonal=orthogonal, dtype=X.dtype)
    phi = fourier_features(X, W, lengthscale=1.5)
    exact = gram(functools.partial(kernel, lengthscale=1.5), X)
    error = float(jnp.max(jnp.abs(phi @ phi.T - exact)))
    kind = "orthogonal" if orthogonal else "iid"
    return Stop(f"random Fourier features ({kind})", f"{spectrum}, m=4096, 50 points vs exact",
                error, 0.06)


def _favor() -> Stop:
    X = 0.2 * jax.random.normal(jax.random.key(2), (30, 4))
    W = spectral_frequencies(4, key=jax.random.key(3), num_features=4096, orthogonal=True,
                             dtype=X.dtype)
    phi = softmax_features(X, W, hyperbolic=True)
    exact = jnp.exp(X @ X.T)
    # The estimator's variance grows like exp(3 |x|^2): a mean error, on small-norm points.
    error = float(jnp.mean(jnp.abs(phi @ phi.T - exact)) / jnp.mean(exact))
    return Stop("FAVOR+ (hyperbolic)", "exp(x.y), m=4096, 30 points, mean rel. error", error,
                0.05)


def _snnk() -> Stop:
    X = jax.random.normal(jax.random.key(4), (20, 5))
    Wt = jax.random.normal(jax.random.key(5), (8, 5)) / jnp.sqrt(5.0)
    b = jnp.zeros(8, X.dtype)
    om = spectral_frequencies(6, key=jax.random.key(6), num_features=8192, orthogonal=True,
                              dtype=X.dtype)
    f = snnk_features(X, Wt, b, om, activation="relu")
    exact = neural_network_kernel(X, Wt, b, activation="relu")
    error = float(jnp.max(jnp.abs(f.inputs @ f.weights.T - exact)) / jnp.max(exact))
    return Stop("SNNK (ReLU) features", "arc-cosine layer, m=8192, rel. error", error, 0.05)


def _attention() -> Stop:
    n, h, d = 100, 2, 8
    ks = jax.random.split(jax.random.key(7), 5)
    q, k, v = (0.5 * jax.random.normal(s, (n, h, d)) for s in ks[:3])
    bias = 0.3 * jax.random.normal(ks[3], (2 * n - 1,), q.dtype)
    out = kernelized_attention(q, k, v, key=ks[4], num_features=16, rpe_bias=bias,
                               causal=True)
    # Dense O(n^2) reference with the same random features.
    om = spectral_frequencies(d, key=ks[4], num_features=16, orthogonal=True, dtype=q.dtype)
    i, j = np.arange(n)[:, None], np.arange(n)[None, :]
    mask = jnp.where(j <= i, jnp.exp(bias[n - 1 + j - i]), 0)
    error = 0.0
    for head in range(h):
        A = softmax_features(q[:, head] * d**-0.25, om) @ softmax_features(
            k[:, head] * d**-0.25, om).T * mask
        ref = A @ v[:, head] / jnp.sum(A, axis=1, keepdims=True)
        error = max(error, float(jnp.max(jnp.abs(out[:, head] - ref))))
    return Stop("kernelized attention (FFT RPE)", "causal, n=100, vs dense n x n", error,
                dtype_tol(q, 1e-10, 1e-4))


def _quantum() -> Stop:
    X = jnp.array([[3.07876080, 1.75929189], [6.03185789, 5.27787566],
                   [6.22035345, 2.70176968], [0.18849556, 2.82743339]])
    K = fidelity_gram(X)
    # qiskit-machine-learning FidelityQuantumKernel(ZZFeatureMap(2), reps 2, full).
    ref = [1.0, 0.81376617, 0.05102078, 0.06033439, 0.14750292, 0.26196463]
    ours = [*K[0].tolist(), float(K[1, 2]), float(K[2, 3])]
    error = float(np.max(np.abs(np.array(ours) - ref)))
    return Stop("ZZ fidelity kernel", "2 qubits vs qiskit-machine-learning", error,
                dtype_tol(X, 1e-8, 1e-5))


def _classification(outdir) -> Stop:
    data = ad_hoc_data(80, key=jax.random.key(0), gap=0.3)
    xtr, ytr, xte, yte = data.x[:40], data.y[:40], data.x[40:], data.y[40:]
    Ktr = fidelity_gram(xtr)
    alpha = jnp.linalg.solve(Ktr + 1e-3 * jnp.eye(40, dtype=Ktr.dtype), ytr.astype(Ktr.dtype))
    pred = jnp.sign(fidelity_gram(xte, xtr) @ alpha)
    accuracy = float(jnp.mean(pred == yte.astype(pred.dtype)))
    plt = plotting()
    if plt is not None:
        g = jnp.linspace(0, 2 * np.pi, 40, dtype=xtr.dtype)
        grid = jnp.stack(jnp.meshgrid(g, g), axis=-1).reshape(-1, 2)
        score = (fidelity_gram(grid, xtr) @ alpha).reshape(40, 40)
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.contourf(g, g, score, levels=[-1e9, 0, 1e9], colors=["#f4cccc", "#cfe2f3"])
        ax.scatter(*data.x.T, c=data.y, cmap="coolwarm", edgecolors="k", s=20)
        ax.set(title=f"ad hoc data, ZZ kernel: test accuracy {accuracy:.2f}", xlabel="x1",
               ylabel="x2")
        fig.tight_layout()
        fig.savefig(outdir / "features_quantum.png", dpi=100)
        plt.close(fig)
    return Stop("quantum kernel classifier", "ad hoc data, 40 train / 40 test: error rate",
                1 - accuracy, 0.1)


def stops(outdir):
    return [
        lambda: _fourier("rbf", rbf, False),
        lambda: _fourier("matern32", matern32, True),
        _favor,
        _snnk,
        _attention,
        _quantum,
        lambda: _classification(outdir),
    ]
