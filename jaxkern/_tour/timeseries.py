"""Tour stops for time-series classification: MiniRocket and LightWaveS, ridge classifier."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..timeseries import (
    lightwaves_fit,
    lightwaves_transform,
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


def _basic_motions() -> Stop:
    # BasicMotions (6 channels, aeon's bundled split): MiniRocket and the LightWaveS paper both
    # classify all 40 test series; LightWaveS keeps 500 features where MiniRocket computes
    # 9,996. Without aeon, three synthetic channels of which one carries the class.
    try:
        from aeon.datasets import load_classification

        Xtr, ytr = load_classification("BasicMotions", split="train")
        Xte, yte = load_classification("BasicMotions", split="test")
        classes, ytr = np.unique(ytr, return_inverse=True)
        yte = np.searchsorted(classes, yte)
        problem = "BasicMotions (6 channels, aeon's split): test accuracy with 500 features vs 1"
    except ImportError:
        rng = np.random.default_rng(1)
        t = np.linspace(0, 1, 100)
        f = np.r_[rng.uniform(2, 3, 60), rng.uniform(6, 7, 60)]
        X = 0.3 * rng.standard_normal((120, 3, 100))
        X[:, 1] += np.sin(2 * np.pi * f[:, None] * t)
        y = np.r_[np.zeros(60, int), np.ones(60, int)]
        order = rng.permutation(120)
        X, y = X[order], y[order]
        Xtr, ytr, Xte, yte = X[:40], y[:40], X[40:], y[40:]
        problem = "three channels (synthetic): test accuracy with 500 features vs 1"
    Xtr, Xte = jnp.asarray(Xtr, jnp.float32), jnp.asarray(Xte, jnp.float32)
    params = lightwaves_fit(Xtr, jnp.asarray(ytr), key=jax.random.key(0))
    Ftr, Fte = lightwaves_transform(params, Xtr), lightwaves_transform(params, Xte)
    fit = ridge_classifier_fit(Ftr, jnp.asarray(ytr), num_classes=int(np.max(ytr)) + 1)
    accuracy = float(np.mean(np.asarray(ridge_classifier_predict(fit, Fte)) == yte))
    return Stop("LightWaveS + LOO ridge", problem, abs(accuracy - 1.0), 1e-9)


def stops(outdir):
    return [lambda: _gunpoint(outdir), _basic_motions]
