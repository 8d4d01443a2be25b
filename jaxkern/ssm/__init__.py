"""Diagonal state-space and long-convolution kernels: S4D, S4-PTD, SGConv, long convolutions.

Pure functions build the convolution kernels (`ssm_kernel`, `sgconv_kernel`, `longconv_kernel`)
and apply them (`fft_conv`, `ssm_recurrence`); the equinox layers in `_layers.py` hold the
parameters and map sequences `(L, h) -> (L, h)`.
"""

from ._conv import fft_conv as fft_conv
from ._discretize import DiscreteSSM as DiscreteSSM
from ._discretize import discretize as discretize
from ._discretize import exprel as exprel
from ._hyper import hyper_kernel as hyper_kernel
from ._hyper import kernel_coordinates as kernel_coordinates
from ._init import DiagonalInit as DiagonalInit
from ._init import HiPPO as HiPPO
from ._init import hippo_legs as hippo_legs
from ._init import ptd_init as ptd_init
from ._init import s4d_init as s4d_init
from ._kernel import ssm_kernel as ssm_kernel
from ._kernel import ssm_transfer_function as ssm_transfer_function
from ._layers import S4D as S4D
from ._layers import HyperConv as HyperConv
from ._layers import LongConv as LongConv
from ._layers import SequenceModel as SequenceModel
from ._layers import SGConv as SGConv
from ._longconv import longconv_kernel as longconv_kernel
from ._longconv import sgconv_kernel as sgconv_kernel
from ._longconv import sgconv_lengths as sgconv_lengths
from ._recurrence import Recurrence as Recurrence
from ._recurrence import ssm_recurrence as ssm_recurrence

__all__ = [
    "S4D",
    "HyperConv",
    "hyper_kernel",
    "kernel_coordinates",
    "LongConv",
    "SGConv",
    "SequenceModel",
    "longconv_kernel",
    "sgconv_kernel",
    "sgconv_lengths",
    "DiagonalInit",
    "DiscreteSSM",
    "HiPPO",
    "Recurrence",
    "discretize",
    "exprel",
    "fft_conv",
    "hippo_legs",
    "ptd_init",
    "s4d_init",
    "ssm_kernel",
    "ssm_recurrence",
    "ssm_transfer_function",
]
