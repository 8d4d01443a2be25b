"""A flax.nnx view of any jaxkern equinox layer; imports without flax (an optional extra)."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax

try:
    from flax import nnx
except ImportError:  # the adapter is an optional extra; importing jaxkern must not need flax
    nnx = None


class EquinoxModule(nnx.Module if nnx is not None else object):
    """Wrap an equinox layer as a `flax.nnx.Module` whose parameters are `nnx.Param`s.

    The layer's floating-point arrays become `nnx.Param` leaves (so `nnx.grad`,
    `nnx.Optimizer` and `nnx.jit` see and update them); everything else (static fields, the
    pytree structure) is kept aside. Calling the wrapper rebuilds the equinox layer from the
    current parameters and calls it, so both views compute exactly the same function.

    **Arguments:**

    - `module`: any equinox module, e.g. [`S4D`][jaxkern.ssm.S4D].

    Example:
        >>> import pytest; _ = pytest.importorskip("flax")
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.flax import EquinoxModule
        >>> from jaxkern.ssm import S4D
        >>> layer = S4D(4, 8, key=jax.random.key(0))
        >>> wrapped = EquinoxModule(layer)
        >>> u = jnp.ones((16, 4))
        >>> bool(jnp.allclose(wrapped(u), layer(u)))
        True

    Raises `ImportError` when flax is not installed (`pip install 'jaxkern[flax]'`).
    """

    def __init__(self, module: eqx.Module):
        if nnx is None:
            raise ImportError("jaxkern.flax.EquinoxModule needs flax: pip install 'jaxkern[flax]'")
        arrays, static = eqx.partition(module, eqx.is_inexact_array)
        leaves, treedef = jax.tree.flatten(arrays)
        self.params = nnx.List([nnx.Param(leaf) for leaf in leaves])
        self.treedef = treedef
        self.static = static

    def to_equinox(self) -> eqx.Module:
        """The equinox layer with the current parameter values."""
        arrays = jax.tree.unflatten(self.treedef, [p[...] for p in self.params])
        return eqx.combine(arrays, self.static)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.to_equinox()(*args, **kwargs)
