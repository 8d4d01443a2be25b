"""Floor 2: GP-HM, a Kronecker-structured GP solver for high-frequency and multi-scale PDEs."""

from ._derivatives import derivative_gram as derivative_gram
from ._solver import GridDerivatives as GridDerivatives
from ._solver import PDESolution as PDESolution
from ._solver import grid_derivatives as grid_derivatives
from ._solver import mixture_kernels as mixture_kernels
from ._solver import predict as predict
from ._solver import predict_grid as predict_grid
from ._solver import solve as solve

__all__ = [
    "GridDerivatives",
    "PDESolution",
    "derivative_gram",
    "grid_derivatives",
    "mixture_kernels",
    "predict",
    "predict_grid",
    "solve",
]
