"""Floor 2: kernel layers -- large, factorised and dilated depthwise convolution kernels,
adaptive radial bases (NeuRBF), linear spectral-correlation attention (ESSA).

Pure functions build and apply the kernels (`depthwise_conv2d`, `inception_dwconv2d`,
`merge_dilated_kernels`, `cp_kernel`, `rbf_field`, `essa_attention`); the equinox layers in
`_layers.py` hold the parameters. Images are channels-last `(..., H, W, C)`.
"""

from ._conv import DILATED_REPARAM_SETTINGS as DILATED_REPARAM_SETTINGS
from ._conv import FFT_CROSSOVER as FFT_CROSSOVER
from ._conv import depthwise_conv2d as depthwise_conv2d
from ._conv import dilate_kernel as dilate_kernel
from ._conv import fft_is_faster as fft_is_faster
from ._conv import fuse_batchnorm as fuse_batchnorm
from ._conv import inception_dwconv2d as inception_dwconv2d
from ._conv import inception_split as inception_split
from ._conv import merge_dilated_kernels as merge_dilated_kernels
from ._essa import essa_attention as essa_attention
from ._essa import essa_attention_dense as essa_attention_dense
from ._essa import essa_features as essa_features
from ._factorised import CPFactors as CPFactors
from ._factorised import WaveData as WaveData
from ._factorised import conv2d as conv2d
from ._factorised import cp_kernel as cp_kernel
from ._factorised import factorised_conv2d as factorised_conv2d
from ._factorised import wave_dataset as wave_dataset
from ._layers import BatchNormStats as BatchNormStats
from ._layers import Conv2d as Conv2d
from ._layers import DepthwiseConv2d as DepthwiseConv2d
from ._layers import DilatedReparamConv2d as DilatedReparamConv2d
from ._layers import ESSAttention as ESSAttention
from ._layers import FactorisedConv2d as FactorisedConv2d
from ._layers import InceptionDWConv2d as InceptionDWConv2d
from ._layers import NeuRBF as NeuRBF
from ._rbf import grid_bases as grid_bases
from ._rbf import nearest_bases as nearest_bases
from ._rbf import rbf_field as rbf_field

__all__ = [
    "CPFactors",
    "Conv2d",
    "ESSAttention",
    "FactorisedConv2d",
    "NeuRBF",
    "WaveData",
    "conv2d",
    "cp_kernel",
    "essa_attention",
    "essa_attention_dense",
    "essa_features",
    "factorised_conv2d",
    "grid_bases",
    "nearest_bases",
    "rbf_field",
    "wave_dataset",
    "BatchNormStats",
    "DepthwiseConv2d",
    "DilatedReparamConv2d",
    "InceptionDWConv2d",
    "DILATED_REPARAM_SETTINGS",
    "FFT_CROSSOVER",
    "depthwise_conv2d",
    "dilate_kernel",
    "fft_is_faster",
    "fuse_batchnorm",
    "inception_dwconv2d",
    "inception_split",
    "merge_dilated_kernels",
]
