"""Optional flax.nnx adapters of the equinox layers (floor 3); needs the `flax` extra to use."""

from ._nnx import EquinoxModule as EquinoxModule

__all__ = ["EquinoxModule"]
