"""Floor 2: exact Gaussian-process regression and type-II maximum-likelihood fitting."""

from ._exact import Posterior as Posterior
from ._exact import gp_posterior as gp_posterior
from ._exact import log_marginal_likelihood as log_marginal_likelihood
from ._fit import FitResult as FitResult
from ._fit import fit as fit

__all__ = ["FitResult", "Posterior", "fit", "gp_posterior", "log_marginal_likelihood"]
