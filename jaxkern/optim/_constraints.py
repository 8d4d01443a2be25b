r"""Parameters that declare their own constraint, and the maps to and from unconstrained space.

A module declares each parameter field with [`parameter`][jaxkern.optim.parameter]
(`lengthscale: Array = parameter("positive")`); a fit asks the module for the constraint of each
leaf instead of guessing from names or types, and optimises the unconstrained value:

| constraint | constrained value | unconstrained value |
|---|---|---|
| `"positive"` | $\theta = e^u$ | $u = \log\theta$ |
| `"nonnegative"` | $\theta = \operatorname{softplus}(u)$ | $u = \theta + \log(1 - e^{-\theta})$ |
| `"real"` | $\theta = u$ | $u = \theta$ |

Leaves that no field declares (a bare array, a user's module without declarations) are
taken as positive, the usual case for kernel hyperparameters.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from .._validation import concrete_or_none

CONSTRAINTS = ("positive", "nonnegative", "real")


def parameter(constraint: str = "positive", **field_kwargs):
    """A dataclass field of an eqx.Module that declares its constraint.

    **Arguments:**

    - `constraint`: one of `"positive"`, `"nonnegative"`, `"real"`.
    - `field_kwargs`: passed on to `equinox.field`.

    Example:
        >>> import equinox as eqx, jax
        >>> from jaxkern.optim import constraints, parameter
        >>> class Shifted(eqx.Module):
        ...     scale: jax.Array = parameter("positive")
        ...     shift: jax.Array = parameter("real")
        >>> constraints(Shifted(scale=jax.numpy.ones(()), shift=jax.numpy.zeros(())))
        ['positive', 'real']
    """
    if constraint not in CONSTRAINTS:
        raise ValueError(f"`constraint` must be one of {CONSTRAINTS}, got {constraint!r}.")
    metadata = dict(field_kwargs.pop("metadata", {}), constraint=constraint)
    return eqx.field(metadata=metadata, **field_kwargs)


def constraints(tree: Any, default: str = "positive") -> list[str]:
    """The constraint of every leaf of `tree`, in `jax.tree.leaves` order.

    Read from the fields of the eqx.Modules in `tree` (declared with
    [`parameter`][jaxkern.optim.parameter]); a field without a declaration passes its
    module's own default down, and leaves outside any declaration get `default`.
    """
    if isinstance(tree, eqx.Module):
        out = []
        for field in dataclasses.fields(tree):
            if field.metadata.get("static", False):
                continue
            out += constraints(getattr(tree, field.name), field.metadata.get("constraint", default))
        return out
    children = jax.tree_util.tree_flatten(
        tree, is_leaf=lambda x: x is not tree and isinstance(x, eqx.Module)
    )[0]
    if len(children) == 1 and children[0] is tree:
        return [default]
    return [c for child in children for c in constraints(child, default)]


def _to_unconstrained(constraint: str, path: str, x):
    arr = concrete_or_none(x)
    if constraint == "positive":
        if arr is not None and not np.all(arr > 0):
            raise ValueError(
                f"parameter {path} must be positive to be fitted on a log scale, got {arr}; "
                "freeze it (`trainable`) or start it above zero."
            )
        return jnp.log(x)
    if constraint == "nonnegative":
        if arr is not None and not np.all(arr >= 0):
            raise ValueError(f"parameter {path} must be non-negative, got {arr}.")
        # softplus^{-1}; a start at exactly 0 (where it is -inf) moves to the dtype's epsilon.
        x = jnp.maximum(x, jnp.finfo(x.dtype).eps)
        return x + jnp.log(-jnp.expm1(-x))
    return x


def _to_constrained(constraint: str, u):
    if constraint == "positive":
        return jnp.exp(u)
    if constraint == "nonnegative":
        return jax.nn.softplus(u)
    return u


def unconstrain(tree: Any, filter_spec: Any = eqx.is_inexact_array) -> tuple[Any, Any]:
    """Split `tree` into the unconstrained values of the leaves `filter_spec` selects, and the rest.

    Raises `ValueError` naming the leaf if a selected leaf breaks its constraint.

    **Arguments:**

    - `tree`: a pytree of parameters (usually a kernel module).
    - `filter_spec`: an equinox filter (a callable on leaves or a pytree of bools).

    **Returns:** `(raw, frozen)`; [`constrain`][jaxkern.optim.constrain]`(raw, frozen)` rebuilds
    `tree`.

    Example:
        >>> from jaxkern.kernels import Linear
        >>> from jaxkern.optim import constrain, unconstrain
        >>> raw, frozen = unconstrain(Linear(variance=2.0, bias=0.5))
        >>> round(float(constrain(raw, frozen).bias), 6)
        0.5
    """
    trainable, frozen = eqx.partition(tree, filter_spec)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    kinds = constraints(tree)
    selected = jax.tree.leaves(trainable, is_leaf=lambda x: x is None)
    raw = [
        None if sel is None else _to_unconstrained(kind, jax.tree_util.keystr(path), leaf)
        for (path, leaf), kind, sel in zip(leaves, kinds, selected, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, raw), frozen


def constrain(raw: Any, frozen: Any) -> Any:
    """Inverse of [`unconstrain`][jaxkern.optim.unconstrain]: parameters as the model uses them."""
    tree = eqx.combine(raw, frozen)
    selected = jax.tree.leaves(raw, is_leaf=lambda x: x is None)
    kinds = constraints(tree)
    leaves, treedef = jax.tree_util.tree_flatten(tree)
    values = [
        leaf if sel is None else _to_constrained(kind, leaf)
        for leaf, kind, sel in zip(leaves, kinds, selected, strict=True)
    ]
    return jax.tree_util.tree_unflatten(treedef, values)
