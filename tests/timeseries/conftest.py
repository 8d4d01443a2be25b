"""Shared fixtures: aeon's bundled UCR/UEA splits, loaded from the installed wheel (no download)."""

import functools

import numpy as np
import pytest


@functools.cache
def load(name: str):
    """(X_train, y_train, X_test, y_test) of a bundled dataset, labels as ints 0..K-1."""
    datasets = pytest.importorskip("aeon.datasets")
    Xtr, ytr = datasets.load_classification(name, split="train")
    Xte, yte = datasets.load_classification(name, split="test")
    classes, ytr = np.unique(ytr, return_inverse=True)
    return Xtr, ytr, Xte, np.searchsorted(classes, yte)


def aeon_parameters(minirocket, num_channels: int):
    """aeon's fitted MiniRocket parameters as jaxkern's pytree (channel lists -> 0/1 masks)."""
    import jax.numpy as jnp

    from jaxkern.timeseries import MiniRocketParameters

    per_comb, channels, dilations, per_dilation, biases = minirocket.parameters
    masks = np.zeros((len(per_comb), num_channels), np.float32)
    start = 0
    for i, k in enumerate(per_comb):
        masks[i, channels[start: start + k]] = 1
        start += k
    return MiniRocketParameters(
        biases=jnp.asarray(biases), channel_masks=jnp.asarray(masks),
        dilations=tuple(int(d) for d in dilations),
        features_per_dilation=tuple(int(c) for c in per_dilation))
