"""Tour stops for time-series classification with MiniRocket features and a ridge classifier."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..timeseries import (
    minirocket_fit,
    minirocket_transform,
    ridge_classifier_fit,
    ridge_classifier_predict,
)
from . import Stop, plotting

ORDER = 95


def _gunpoint(outdir) -> Stop:
    # GunPoint from aeon's bundled UCR splits (no download); the MiniRocket paper's resample-0
    # accuracy is 149/150. Without aeon, a synthetic two-frequency problem (known answer 1).
    try:
        from aeon.datasets import load_classification

        Xtr, ytr = load_classification("GunPoint", split="train")
        Xte, yte = load_classification("GunPoint", split="test")
        classes, ytr = np.unique(ytr, return_inverse=True)
        yte = np.searchsorted(classes, yte)
        problem, target = "GunPoint (aeon's bundled split): test accuracy vs 149/150", 149 / 150
    except ImportError:
        rng = np.random.default_rng(0)
        t = np.linspace(0, 1, 150)
        f = np.r_[rng.uniform(2, 3, 100), rng.uniform(5, 6, 100)]
        X = np.sin(2 * np.pi * f[:, None] * t) + 0.3 * rng.standard_normal((200, 150))
        y = np.r_[np.zeros(100, int), np.ones(100, int)]
        order = rng.permutation(200)
        X, y = X[order, None, :], y[order]
        Xtr, ytr, Xte, yte = X[:50], y[:50], X[50:], y[50:]
        problem, target = "two frequencies (synthetic): test accuracy vs 1", 1.0
    Xtr, Xte = jnp.asarray(Xtr, jnp.float32), jnp.asarray(Xte, jnp.float32)
    params = minirocket_fit(Xtr, seed=0)
    Ftr, Fte = minirocket_transform(params, Xtr), minirocket_transform(params, Xte)
    fit = ridge_classifier_fit(Ftr, jnp.asarray(ytr), num_classes=2)
    accuracy = float(np.mean(np.asarray(ridge_classifier_predict(fit, Fte)) == yte))
    plt = plotting()
    if plt is not None:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.semilogx(np.logspace(-3, 3, 10), np.asarray(fit.loo_errors), "o-")
        ax.axvline(float(fit.alpha), color="k", ls="--", label="chosen")
        ax.set(xlabel="ridge penalty alpha", ylabel="mean squared LOO error",
               title="MiniRocket + ridge: LOO over all alphas")
        ax.legend()
        fig.tight_layout()
        fig.savefig(outdir / "timeseries_loo.png", dpi=100)
        plt.close(fig)
    return Stop("MiniRocket + LOO ridge", problem, abs(accuracy - target), 1e-9)


def stops(outdir):
    return [lambda: _gunpoint(outdir)]
