"""Readable reprs: a fitted module shows the values it learned, not only their dtypes."""

from __future__ import annotations

import equinox as eqx
import jax
import numpy as np

#: Arrays up to this many elements print their values; larger ones print dtype and shape.
SMALL = 8


class _Shown:
    """A leaf that prints as its value (`0.5`, `[1. 2.]`) in `eqx.tree_pformat`."""

    def __init__(self, value: np.ndarray):
        self.value = value

    def __repr__(self) -> str:
        if self.value.ndim == 0:
            return f"{self.value.item():.6g}"
        return np.array2string(self.value, precision=6, separator=", ")


def readable_repr(module: eqx.Module) -> str:
    """`eqx.tree_pformat` with small concrete arrays shown by value (traced ones as usual)."""

    def show(x):
        if eqx.is_array(x) and not isinstance(x, jax.core.Tracer) and x.size <= SMALL:
            return _Shown(np.asarray(x))
        return x

    return eqx.tree_pformat(jax.tree.map(show, module), short_arrays=True)
