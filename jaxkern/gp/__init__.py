"""Floor 2: exact Gaussian-process regression and type-II maximum-likelihood fitting."""

from ._exact import Posterior as Posterior
from ._exact import gp_posterior as gp_posterior
from ._exact import log_marginal_likelihood as log_marginal_likelihood
from ._fit import FitResult as FitResult
from ._fit import fit as fit
from ._krr import krr_loss as krr_loss
from ._krr import krr_predict as krr_predict
from ._krr import ridge_solve as ridge_solve
from ._self_distillation import SelfDistillation as SelfDistillation
from ._self_distillation import optimal_distillation_weight as optimal_distillation_weight
from ._self_distillation import self_distillation as self_distillation
from ._self_distillation import self_distillation_limit as self_distillation_limit

__all__ = [
    "FitResult",
    "Posterior",
    "SelfDistillation",
    "fit",
    "gp_posterior",
    "krr_loss",
    "krr_predict",
    "log_marginal_likelihood",
    "optimal_distillation_weight",
    "ridge_solve",
    "self_distillation",
    "self_distillation_limit",
]
