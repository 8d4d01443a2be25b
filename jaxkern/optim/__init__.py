"""Floor 0: the one optimisation entry point every fit uses, and declared parameter constraints.

[`minimize`][jaxkern.optim.minimize] runs any optax transformation (L-BFGS included) in compiled
chunks with progress, early stopping and an accept/reject rule; every fitting function in
jaxkern (`gp.fit`, `pde.solve`, `deep.fit_dkm`, `density.loo_bandwidth`) runs on it and returns
`losses` (NumPy), `num_steps`, `converged` and `message` under the same names.

Curvature for training loops sits beside it: Hessian-, GGN- and Fisher-vector products of any
pytree loss, top eigenvalues by Lanczos, the batch-size scaling of the top Hessian eigenvalue,
the M-FAC optimiser as an optax transformation, and OBS pruning on M-FAC.
"""

from ._constraints import CONSTRAINTS as CONSTRAINTS
from ._constraints import constrain as constrain
from ._constraints import constraints as constraints
from ._constraints import parameter as parameter
from ._constraints import unconstrain as unconstrain
from ._curvature import BatchSizeScaling as BatchSizeScaling
from ._curvature import ScalingRule as ScalingRule
from ._curvature import as_matvec as as_matvec
from ._curvature import batch_size_scaling as batch_size_scaling
from ._curvature import fisher_vp as fisher_vp
from ._curvature import fit_scaling_rule as fit_scaling_rule
from ._curvature import ggn_vp as ggn_vp
from ._curvature import hvp as hvp
from ._curvature import top_eigenvalues as top_eigenvalues
from ._mfac import PruneResult as PruneResult
from ._mfac import ScaleByMFACState as ScaleByMFACState
from ._mfac import magnitude_prune as magnitude_prune
from ._mfac import mfac as mfac
from ._mfac import obs_prune as obs_prune
from ._mfac import obs_scores as obs_scores
from ._mfac import scale_by_mfac as scale_by_mfac
from ._minimize import OptimResult as OptimResult
from ._minimize import decrease as decrease
from ._minimize import minimize as minimize

__all__ = [
    "BatchSizeScaling",
    "CONSTRAINTS",
    "OptimResult",
    "PruneResult",
    "ScaleByMFACState",
    "ScalingRule",
    "as_matvec",
    "batch_size_scaling",
    "constrain",
    "constraints",
    "decrease",
    "fisher_vp",
    "fit_scaling_rule",
    "ggn_vp",
    "hvp",
    "magnitude_prune",
    "mfac",
    "minimize",
    "obs_prune",
    "obs_scores",
    "parameter",
    "scale_by_mfac",
    "top_eigenvalues",
    "unconstrain",
]
