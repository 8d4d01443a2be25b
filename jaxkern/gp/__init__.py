"""Floor 2: exact Gaussian-process regression and type-II maximum-likelihood fitting."""

from ._classification import ClassifierFitResult as ClassifierFitResult
from ._classification import ClassMarginals as ClassMarginals
from ._classification import EPApproximation as EPApproximation
from ._classification import LaplaceApproximation as LaplaceApproximation
from ._classification import ep_log_marginal_likelihood as ep_log_marginal_likelihood
from ._classification import expectation_propagation as expectation_propagation
from ._classification import fit_classifier as fit_classifier
from ._classification import laplace as laplace
from ._classification import laplace_log_marginal_likelihood as laplace_log_marginal_likelihood
from ._classification import latent_predict as latent_predict
from ._classification import predict_proba as predict_proba
from ._exact import Posterior as Posterior
from ._exact import gp_posterior as gp_posterior
from ._exact import log_marginal_likelihood as log_marginal_likelihood
from ._fit import FitResult as FitResult
from ._fit import fit as fit
from ._krr import krr_loss as krr_loss
from ._krr import krr_predict as krr_predict
from ._krr import ridge_solve as ridge_solve
from ._likelihoods import BernoulliLogit as BernoulliLogit
from ._likelihoods import BernoulliProbit as BernoulliProbit
from ._likelihoods import Likelihood as Likelihood
from ._likelihoods import Softmax as Softmax
from ._pathwise import pathwise_samples as pathwise_samples
from ._self_distillation import SelfDistillation as SelfDistillation
from ._self_distillation import optimal_distillation_weight as optimal_distillation_weight
from ._self_distillation import self_distillation as self_distillation
from ._self_distillation import self_distillation_limit as self_distillation_limit
from ._solvers import CG as CG
from ._solvers import Auto as Auto
from ._solvers import Cholesky as Cholesky
from ._statespace import FilterResult as FilterResult
from ._statespace import SmootherResult as SmootherResult
from ._statespace import kalman_filter as kalman_filter
from ._statespace import kalman_log_marginal_likelihood as kalman_log_marginal_likelihood
from ._statespace import kalman_posterior as kalman_posterior
from ._statespace import rts_smoother as rts_smoother
from ._tucker import FunctionalTucker as FunctionalTucker
from ._tucker import functional_tucker as functional_tucker
from ._tucker import functional_tucker_predict as functional_tucker_predict
from ._variational import VariationalFitResult as VariationalFitResult
from ._variational import expected_log_likelihood as expected_log_likelihood
from ._variational import fit_variational as fit_variational
from ._variational import svgp_elbo as svgp_elbo
from ._variational import variational_predict as variational_predict
from ._variational import vgp_elbo as vgp_elbo

__all__ = [
    "Auto",
    "BernoulliLogit",
    "BernoulliProbit",
    "CG",
    "Cholesky",
    "ClassMarginals",
    "ClassifierFitResult",
    "EPApproximation",
    "FilterResult",
    "FitResult",
    "FunctionalTucker",
    "LaplaceApproximation",
    "Likelihood",
    "Posterior",
    "SelfDistillation",
    "SmootherResult",
    "Softmax",
    "VariationalFitResult",
    "ep_log_marginal_likelihood",
    "expectation_propagation",
    "expected_log_likelihood",
    "fit",
    "fit_classifier",
    "fit_variational",
    "functional_tucker",
    "functional_tucker_predict",
    "gp_posterior",
    "kalman_filter",
    "kalman_log_marginal_likelihood",
    "kalman_posterior",
    "krr_loss",
    "krr_predict",
    "laplace",
    "laplace_log_marginal_likelihood",
    "latent_predict",
    "log_marginal_likelihood",
    "optimal_distillation_weight",
    "pathwise_samples",
    "predict_proba",
    "ridge_solve",
    "rts_smoother",
    "self_distillation",
    "self_distillation_limit",
    "svgp_elbo",
    "variational_predict",
    "vgp_elbo",
]
