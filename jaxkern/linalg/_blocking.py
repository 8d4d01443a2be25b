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
