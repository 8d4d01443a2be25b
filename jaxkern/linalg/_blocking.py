"""Blocking and row-sharding: the plumbing every streamed kernel sum shares.

`kernels.kernel_matvec`, `density.kde_log_density` and the blocked NNGP/NTK all walk a large
kernel matrix tile by tile (`into_blocks`) and split rows over a device mesh when the input
is sharded (`row_sharding`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding, PartitionSpec
from jaxtyping import Array


def into_blocks(a: Array, block: int, fill: str) -> Array:
    """Pad the first axis of ``a`` to a multiple of ``block`` and split it into blocks.

    ``fill="edge"`` repeats the last point (so a kernel evaluated on padding stays finite);
    ``fill="zero"`` pads with zeros (so padded weights contribute nothing).
    """
    a = _drop_trivial_sharding(a)
    n, block = a.shape[0], max(block, 1)  # an empty axis gives no blocks, not a 0 / 0
    pad = (-n) % block
    widths = [(0, pad)] + [(0, 0)] * (a.ndim - 1)
    a = jnp.pad(a, widths, mode="edge" if fill == "edge" else "constant")
    return a.reshape((a.shape[0] // block, block) + a.shape[1:])


def _sharding(X):
    """The concrete sharding of an array, or the one in the abstract type of a traced value
    (explicit-sharding meshes keep it there under `jit`)."""
    if isinstance(X, jax.core.Tracer):
        return getattr(jax.typeof(X), "sharding", None)
    return getattr(X, "sharding", None)


def replicated(a: Array) -> Array:
    """``a`` itself, or a replicated copy when its rows are sharded over a mesh.

    The column side of a row-sharded kernel product (the points $Y$ and the vectors $v$ of
    $K(X, Y) v$) must be whole on every device; gathering it is the product's one collective.
    """
    sharding = _sharding(a)
    if not isinstance(sharding, NamedSharding) or not any(sharding.spec):
        return a
    # also over a one-device mesh, where the split means nothing but is still part of the type
    return jax.reshard(a, NamedSharding(sharding.mesh, PartitionSpec()))


def _drop_trivial_sharding(a: Array) -> Array:
    """`a` replicated when it is "sharded" over a one-device explicit mesh.

    `jax.make_mesh` gives explicit axes, whose sharding is part of an array's type: padding or
    concatenating such an array with a plain one is a type error even on one device, where the
    split means nothing (a single-CPU user of a sharding example hits it first).
    """
    sharding = _sharding(a)
    if isinstance(sharding, NamedSharding) and sharding.mesh.size == 1 and any(sharding.spec):
        return jax.reshard(a, NamedSharding(sharding.mesh, PartitionSpec()))
    return a


def row_sharding(X) -> tuple[jax.sharding.Mesh, str | tuple[str, ...]] | None:
    """The mesh and axis name(s) that split the rows of ``X``, if ``X`` is row-sharded.

    Reads the concrete sharding of an array, or the sharding in the abstract type of a traced
    value (explicit-sharding meshes keep it there under `jit`).
    """
    sharding = _sharding(X)
    if not isinstance(sharding, NamedSharding) or len(sharding.spec) == 0:
        return None
    axis = sharding.spec[0]
    if axis is None or sharding.mesh.size == 1:
        return None
    return sharding.mesh, axis


def carry_like_body(body, state):
    """``state`` resharded as ``body(state)`` comes out, for a `lax.while_loop`'s first carry.

    On an explicit-axes mesh sharding is part of an array's type, and a loop's carry must keep
    its type: an iterate that starts replicated (a right-hand side) but is updated by row-sharded
    products would change type in the first step. Elsewhere ``state`` is returned unchanged.
    """
    def match(x, o):
        target = getattr(o, "sharding", None)
        if not isinstance(target, NamedSharding):
            return x
        current = _sharding(x)
        if isinstance(current, NamedSharding) and current.spec == target.spec:
            return x
        return jax.reshard(x, target)

    # a change in one component can move another's (X follows P, which follows R): repeat to
    # the fixed point, one step per link of the chain
    for _ in range(len(jax.tree.leaves(state))):
        matched = jax.tree.map(match, state, jax.eval_shape(body, state))
        if all(a is b for a, b in zip(jax.tree.leaves(matched), jax.tree.leaves(state))):
            break
        state = matched
    return state
