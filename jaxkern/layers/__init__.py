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
from ._layers import BatchNormStats as BatchNormStats
from ._layers import DepthwiseConv2d as DepthwiseConv2d
from ._layers import DilatedReparamConv2d as DilatedReparamConv2d
from ._layers import InceptionDWConv2d as InceptionDWConv2d

__all__ = [
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
