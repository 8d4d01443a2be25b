"""A flax.nnx view of any jaxkern equinox layer; imports without flax (an optional extra)."""

from __future__ import annotations

import re
from typing import Any

import equinox as eqx
import jax

try:
    from flax import nnx
except ImportError:  # the adapter is an optional extra; importing jaxkern must not need flax
    nnx = None

#: Attribute names the wrapper itself uses; a parameter with one of these names gets a "_" suffix.
_RESERVED = frozenset({"treedef", "static", "param_names", "to_equinox"})


def _attribute_name(path, taken: set[str]) -> str:
    """`.kernel.lengthscale` -> `kernel_lengthscale`, `.layers[0].B` -> `layers_0_B`."""
    name = re.sub(r"\W+", "_", jax.tree_util.keystr(path)).strip("_") or "param"
    if name[0].isdigit():
        name = f"p_{name}"
    while name in taken or name in _RESERVED or name.startswith("_"):
        name += "_"
    taken.add(name)
    return name


class EquinoxModule(nnx.Module if nnx is not None else object):
    """Wrap an equinox layer as a `flax.nnx.Module` whose parameters are `nnx.Param`s.

    The layer's floating-point arrays become `nnx.Param` attributes named after their fields
    (an S4D layer's are `log_dt`, `log_neg_real`, `imag`, `B`, `C`, `D`; nested fields are
    joined with `_`, as `kernel_lengthscale`), so `nnx.grad`, `nnx.Optimizer` and `nnx.jit`
    see and update them and an optimiser can treat each by name. Everything else (static
    fields, the pytree structure) is kept aside. Calling the wrapper rebuilds the equinox
    layer from the current parameters and calls it, so both views compute the same function.

    **Arguments:**

    - `module`: any equinox module, e.g. [`S4D`][jaxkern.ssm.S4D].

    Example:
        >>> import pytest; _ = pytest.importorskip("flax")
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.flax import EquinoxModule
        >>> from jaxkern.ssm import S4D
        >>> layer = S4D(4, 8, key=jax.random.key(0))
        >>> wrapped = EquinoxModule(layer)
        >>> wrapped.param_names
        ('log_dt', 'log_neg_real', 'imag', 'B', 'C', 'D')
        >>> u = jnp.ones((16, 4))
        >>> bool(jnp.allclose(wrapped(u), layer(u)))
        True

    A learning rate per parameter, as SSM users give the step size its own (optax's
    `multi_transform` labels the parameters by name):

        >>> import optax
        >>> from flax import nnx
        >>> labels = lambda state: jax.tree.map_with_path(
        ...     lambda path, _: "dt" if "log_dt" in jax.tree_util.keystr(path) else "rest", state)
        >>> tx = optax.multi_transform({"dt": optax.adam(1e-3), "rest": optax.adam(1e-2)}, labels)
        >>> optimizer = nnx.Optimizer(wrapped, tx, wrt=nnx.Param)

    Raises `ImportError` when flax is not installed (`pip install 'jaxkern-toolkit[flax]'`).
    """

    def __init__(self, module: eqx.Module):
        if nnx is None:
            raise ImportError(
                "jaxkern.flax.EquinoxModule needs flax: pip install 'jaxkern-toolkit[flax]'"
            )
        arrays, static = eqx.partition(module, eqx.is_inexact_array)
        with_paths, treedef = jax.tree_util.tree_flatten_with_path(arrays)
        taken: set[str] = set()
        names = tuple(_attribute_name(path, taken) for path, _ in with_paths)
        for name, (_, leaf) in zip(names, with_paths, strict=True):
            setattr(self, name, nnx.Param(leaf))
        self.param_names = names
        self.treedef = treedef
        self.static = static

    def to_equinox(self) -> eqx.Module:
        """The equinox layer with the current parameter values."""
        leaves = [getattr(self, name)[...] for name in self.param_names]
        return eqx.combine(jax.tree.unflatten(self.treedef, leaves), self.static)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.to_equinox()(*args, **kwargs)
