"""Floor 0: the one optimisation entry point every fit uses, and declared parameter constraints.

[`minimize`][jaxkern.optim.minimize] runs any optax transformation (L-BFGS included) in compiled
chunks with progress, early stopping and an accept/reject rule; every fitting function in
jaxkern (`gp.fit`, `pde.solve`, `deep.fit_dkm`, `density.loo_bandwidth`) runs on it and returns
`losses` (NumPy), `num_steps`, `converged` and `message` under the same names.
"""

from ._constraints import CONSTRAINTS as CONSTRAINTS
from ._constraints import constrain as constrain
from ._constraints import constraints as constraints
from ._constraints import parameter as parameter
from ._constraints import unconstrain as unconstrain
from ._minimize import OptimResult as OptimResult
from ._minimize import decrease as decrease
from ._minimize import minimize as minimize

__all__ = [
    "CONSTRAINTS",
    "OptimResult",
    "constrain",
    "constraints",
    "decrease",
    "minimize",
    "parameter",
    "unconstrain",
]
