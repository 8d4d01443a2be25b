"""Floor 2: classical and Bayesian quadrature, kernel means, and integral reinforcement learning."""

from ._bayes import Integral as Integral
from ._bayes import QuadratureRule as QuadratureRule
from ._bayes import bayesian_quadrature as bayesian_quadrature
from ._bayes import bq_weights as bq_weights
from ._classical import NodesWeights as NodesWeights
from ._classical import gauss_legendre as gauss_legendre
from ._classical import simpson as simpson
from ._classical import trapezoid as trapezoid
from ._embeddings import initial_variance as initial_variance
from ._embeddings import kernel_mean as kernel_mean
from ._embeddings import matern_lebesgue_mean as matern_lebesgue_mean
from ._embeddings import matern_lebesgue_variance as matern_lebesgue_variance
from ._embeddings import rbf_gaussian_mean as rbf_gaussian_mean
from ._embeddings import rbf_gaussian_variance as rbf_gaussian_variance
from ._embeddings import rbf_lebesgue_mean as rbf_lebesgue_mean
from ._embeddings import rbf_lebesgue_variance as rbf_lebesgue_variance
from ._intrl import BQRule as BQRule
from ._intrl import ControlAffineProblem as ControlAffineProblem
from ._intrl import PolicyEvaluation as PolicyEvaluation
from ._intrl import PolicyIterationResult as PolicyIterationResult
from ._intrl import improved_policy as improved_policy
from ._intrl import policy_evaluation as policy_evaluation
from ._intrl import policy_iteration as policy_iteration
from ._intrl import sin_system as sin_system
from ._intrl import third_order_system as third_order_system
from ._measures import GaussianMeasure as GaussianMeasure
from ._measures import LebesgueMeasure as LebesgueMeasure

__all__ = [
    "BQRule",
    "ControlAffineProblem",
    "PolicyEvaluation",
    "PolicyIterationResult",
    "improved_policy",
    "policy_evaluation",
    "policy_iteration",
    "sin_system",
    "third_order_system",
    "GaussianMeasure",
    "Integral",
    "LebesgueMeasure",
    "NodesWeights",
    "QuadratureRule",
    "bayesian_quadrature",
    "bq_weights",
    "gauss_legendre",
    "initial_variance",
    "kernel_mean",
    "matern_lebesgue_mean",
    "matern_lebesgue_variance",
    "rbf_gaussian_mean",
    "rbf_gaussian_variance",
    "rbf_lebesgue_mean",
    "rbf_lebesgue_variance",
    "simpson",
    "trapezoid",
]
