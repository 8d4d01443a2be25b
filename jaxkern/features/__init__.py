"""Floor 2: random features, kernelized attention with relative positions, quantum kernels.

Random Fourier features of stationary kernels (iid and orthogonal), Nyström features, FAVOR+
positive features of the softmax kernel, universal random features and SNNK layers,
random-feature attention whose relative-position bias is applied by FFT, and ZZ-feature-map
fidelity kernels by exact statevector simulation.
"""

from ._attention import kernelized_attention as kernelized_attention
from ._coding_rate import coding_rate as coding_rate
from ._coding_rate import coding_rate_clusters as coding_rate_clusters
from ._coding_rate import mlc_loss as mlc_loss
from ._coding_rate import mlc_membership as mlc_membership
from ._coding_rate import sinkhorn as sinkhorn
from ._coding_rate import spectral_clustering as spectral_clustering
from ._fourier import fourier_features as fourier_features
from ._fourier import softmax_features as softmax_features
from ._fourier import spectral_frequencies as spectral_frequencies
from ._modules import SNNK as SNNK
from ._modules import KernelizedAttention as KernelizedAttention
from ._modules import QuantumKernel as QuantumKernel
from ._nystrom import nystrom_features as nystrom_features
from ._quantum import AdHocData as AdHocData
from ._quantum import ad_hoc_data as ad_hoc_data
from ._quantum import feature_map_state as feature_map_state
from ._quantum import fidelity_gram as fidelity_gram
from ._quantum import fidelity_kernel as fidelity_kernel
from ._snnk import SNNKFeatures as SNNKFeatures
from ._snnk import neural_network_kernel as neural_network_kernel
from ._snnk import snnk_features as snnk_features

__all__ = [
    "AdHocData",
    "KernelizedAttention",
    "QuantumKernel",
    "SNNK",
    "SNNKFeatures",
    "ad_hoc_data",
    "coding_rate",
    "coding_rate_clusters",
    "feature_map_state",
    "fidelity_gram",
    "fidelity_kernel",
    "fourier_features",
    "kernelized_attention",
    "mlc_loss",
    "mlc_membership",
    "neural_network_kernel",
    "nystrom_features",
    "sinkhorn",
    "snnk_features",
    "softmax_features",
    "spectral_clustering",
    "spectral_frequencies",
]
