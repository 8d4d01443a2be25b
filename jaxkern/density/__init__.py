"""Floor 2: kernel density estimation, bandwidth rules, high-dimensional regimes, private KDE."""

from ._balancing import AdaptiveBalancing as AdaptiveBalancing
from ._balancing import BalanceDiagnostics as BalanceDiagnostics
from ._balancing import BalancingWeights as BalancingWeights
from ._balancing import KangSchafer as KangSchafer
from ._balancing import adaptive_balancing as adaptive_balancing
from ._balancing import balance_diagnostics as balance_diagnostics
from ._balancing import entropy_balancing as entropy_balancing
from ._balancing import kang_schafer as kang_schafer
from ._balancing import kernel_mean_matching as kernel_mean_matching
from ._bandwidth import LooBandwidth as LooBandwidth
from ._bandwidth import isj_bandwidth as isj_bandwidth
from ._bandwidth import loo_bandwidth as loo_bandwidth
from ._bandwidth import scott_bandwidth as scott_bandwidth
from ._bandwidth import scott_bandwidth_matrix as scott_bandwidth_matrix
from ._bandwidth import silverman_bandwidth as silverman_bandwidth
from ._bandwidth import silverman_bandwidth_matrix as silverman_bandwidth_matrix
from ._kde import KERNEL_ALIASES as KERNEL_ALIASES
from ._kde import KERNELS as KERNELS
from ._kde import kde_log_density as kde_log_density
from ._kde import loo_log_likelihood as loo_log_likelihood
from ._private import FastJL as FastJL
from ._private import PrivateKernelSum as PrivateKernelSum
from ._private import PrivateL1Sum as PrivateL1Sum
from ._private import analytic_gaussian_sigma as analytic_gaussian_sigma
from ._private import fast_jl as fast_jl
from ._private import private_kernel_sum as private_kernel_sum
from ._private import private_l1_sum as private_l1_sum
from ._regimes import Regimes as Regimes
from ._regimes import kde_regimes as kde_regimes
from ._regimes import tilt_entropy as tilt_entropy

__all__ = [
    "KERNELS",
    "KERNEL_ALIASES",
    "AdaptiveBalancing",
    "BalanceDiagnostics",
    "BalancingWeights",
    "FastJL",
    "LooBandwidth",
    "PrivateKernelSum",
    "PrivateL1Sum",
    "Regimes",
    "adaptive_balancing",
    "analytic_gaussian_sigma",
    "balance_diagnostics",
    "entropy_balancing",
    "kang_schafer",
    "KangSchafer",
    "fast_jl",
    "isj_bandwidth",
    "kde_log_density",
    "kde_regimes",
    "kernel_mean_matching",
    "loo_bandwidth",
    "loo_log_likelihood",
    "private_kernel_sum",
    "private_l1_sum",
    "scott_bandwidth",
    "scott_bandwidth_matrix",
    "silverman_bandwidth",
    "silverman_bandwidth_matrix",
    "tilt_entropy",
]
