"""Floor 1: kernel functions on one pair of points, their modules, and batching.

Pure functions (`rbf`, `matern32`, ...) take two points of shape (d,) and keyword-only
hyperparameters; modules (`RBF`, `Matern32`, ...) hold the hyperparameters as pytree leaves
and compose with `+`, `*` and scaling. `gram`, `gram_diag` and `kernel_matvec` batch any of them.
"""

from ._arccos_map import arccos_map as arccos_map
from ._dot_product import arccos as arccos
from ._dot_product import linear as linear
from ._dot_product import polynomial as polynomial
from ._gram import gram as gram
from ._gram import gram_diag as gram_diag
from ._gram import kernel_matvec as kernel_matvec
from ._matern import Matern as Matern
from ._matern import matern as matern
from ._matern72 import Matern72 as Matern72
from ._matern72 import ProductMatern as ProductMatern
from ._matern72 import matern72 as matern72
from ._matern72 import product_matern as product_matern
from ._mixture import StudentTMixture as StudentTMixture
from ._mixture import student_t_mixture as student_t_mixture
from ._modules import RBF as RBF
from ._modules import ArcCosine as ArcCosine
from ._modules import Cosine as Cosine
from ._modules import Kernel as Kernel
from ._modules import Linear as Linear
from ._modules import Matern12 as Matern12
from ._modules import Matern32 as Matern32
from ._modules import Matern52 as Matern52
from ._modules import Periodic as Periodic
from ._modules import Polynomial as Polynomial
from ._modules import ProductKernel as ProductKernel
from ._modules import RadialKernel as RadialKernel
from ._modules import RationalQuadratic as RationalQuadratic
from ._modules import ScaledKernel as ScaledKernel
from ._modules import SpectralMixture as SpectralMixture
from ._modules import SumKernel as SumKernel
from ._stationary import cosine as cosine
from ._stationary import matern12 as matern12
from ._stationary import matern32 as matern32
from ._stationary import matern52 as matern52
from ._stationary import periodic as periodic
from ._stationary import rational_quadratic as rational_quadratic
from ._stationary import rbf as rbf
from ._stationary import scaled_sqdist as scaled_sqdist
from ._stationary import spectral_mixture as spectral_mixture

__all__ = [
    "ArcCosine",
    "Cosine",
    "Kernel",
    "Linear",
    "Matern",
    "Matern12",
    "Matern32",
    "Matern52",
    "Matern72",
    "Periodic",
    "Polynomial",
    "ProductMatern",
    "ProductKernel",
    "RBF",
    "RadialKernel",
    "RationalQuadratic",
    "ScaledKernel",
    "SpectralMixture",
    "StudentTMixture",
    "SumKernel",
    "arccos",
    "arccos_map",
    "cosine",
    "gram",
    "gram_diag",
    "kernel_matvec",
    "linear",
    "matern",
    "matern12",
    "matern32",
    "matern52",
    "matern72",
    "periodic",
    "polynomial",
    "product_matern",
    "rational_quadratic",
    "rbf",
    "scaled_sqdist",
    "spectral_mixture",
    "student_t_mixture",
]
