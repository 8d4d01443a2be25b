"""Floor 2: GP-HM, a Kronecker-structured GP solver for high-frequency and multi-scale PDEs.

Where things live, maths first: `_derivatives.py` (derivative Gram matrices of a 1-D kernel),
`_operators.py` (one axis's Toeplitz Gram matrices, $K^{-1}$ with its custom VJP, the
derivative operators $G K^{-1}$ and `grid_derivatives`), `_precondition.py` (fast
diagonalisation), `_collocation.py` (Newton–GMRES for the grid values and the objective $J$),
`_mixture.py` (the initial mixture kernels), `_solve.py` (the fit, on `jaxkern.optim.minimize`),
`_prune.py` (dropping faint mixture components), `_resolution.py` (the residual between the
grid points, which flags under-resolved grids), `_predict.py` (the posterior mean off the
grid), `_solution.py` (`PDESolution`) and `_problem.py` (argument checks).
"""

from ._derivatives import derivative_gram as derivative_gram
from ._mixture import mixture_kernels as mixture_kernels
from ._operators import GridDerivatives as GridDerivatives
from ._operators import grid_derivatives as grid_derivatives
from ._predict import predict as predict
from ._predict import predict_grid as predict_grid
from ._prune import prune as prune
from ._resolution import UnderResolvedWarning as UnderResolvedWarning
from ._solution import PDESolution as PDESolution
from ._solve import solve as solve

__all__ = [
    "GridDerivatives",
    "PDESolution",
    "UnderResolvedWarning",
    "derivative_gram",
    "grid_derivatives",
    "mixture_kernels",
    "predict",
    "predict_grid",
    "prune",
    "solve",
]
