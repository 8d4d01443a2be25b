"""Floor 1: kernel functions on one pair of points, their modules, and batching.

Where a kernel lives: `_stationary.py` (RBF, rational quadratic, periodic, cosine, the scaled
distances), `_matern.py` (every Matérn kernel), `_mixture.py` (spectral and Student-t
mixtures), `_dot_product.py` and `_arccos_map.py` (linear, polynomial, arc-cosine),
`_spectral.py` (spectral densities as frequency samplers), `_modules.py` (every kernel's
equinox module) and `_gram.py` (batching).

Pure functions (`rbf`, `matern32`, ...) take two points of shape (d,) and keyword-only
hyperparameters; modules (`RBF`, `Matern32`, ...) hold the hyperparameters as pytree leaves,
declare their constraints, fast paths and closed-form families, and compose with `+`, `*` and
scaling. `gram`, `gram_diag` and `kernel_matvec` batch any of them.
"""

from ._arccos_map import arccos_map as arccos_map
from ._dot_product import arccos as arccos
from ._dot_product import linear as linear
from ._dot_product import polynomial as polynomial
from ._gram import gram as gram
from ._gram import gram_diag as gram_diag
from ._gram import kernel_matvec as kernel_matvec
from ._matern import MATERN_PROFILES as MATERN_PROFILES
from ._matern import check_nu as check_nu
from ._matern import matern as matern
from ._matern import matern12 as matern12
from ._matern import matern32 as matern32
from ._matern import matern52 as matern52
from ._matern import matern72 as matern72
from ._matern import product_matern as product_matern
from ._mixture import spectral_mixture as spectral_mixture
from ._mixture import student_t_mixture as student_t_mixture
from ._modules import RBF as RBF
from ._modules import ArcCosine as ArcCosine
from ._modules import Constant as Constant
from ._modules import Cosine as Cosine
from ._modules import Kernel as Kernel
from ._modules import Linear as Linear
from ._modules import Matern as Matern
from ._modules import Matern12 as Matern12
from ._modules import Matern32 as Matern32
from ._modules import Matern52 as Matern52
from ._modules import Matern72 as Matern72
from ._modules import Periodic as Periodic
from ._modules import Polynomial as Polynomial
from ._modules import ProductKernel as ProductKernel
from ._modules import ProductMatern as ProductMatern
from ._modules import RadialKernel as RadialKernel
from ._modules import RationalQuadratic as RationalQuadratic
from ._modules import ScaledKernel as ScaledKernel
from ._modules import SpectralMixture as SpectralMixture
from ._modules import StudentTMixture as StudentTMixture
from ._modules import SumKernel as SumKernel
from ._spectral import spectral_frequencies as spectral_frequencies
from ._state_space import StateSpace as StateSpace
from ._state_space import constant_state_space as constant_state_space
from ._state_space import cosine_state_space as cosine_state_space
from ._state_space import matern_state_space as matern_state_space
from ._state_space import product_state_space as product_state_space
from ._state_space import scale_state_space as scale_state_space
from ._state_space import state_space_from_sde as state_space_from_sde
from ._state_space import sum_state_space as sum_state_space
from ._stationary import cosine as cosine
from ._stationary import periodic as periodic
from ._stationary import rational_quadratic as rational_quadratic
from ._stationary import rbf as rbf
from ._stationary import scaled_sqdist as scaled_sqdist
from ._stationary import scaled_sqdists as scaled_sqdists

__all__ = [
    "ArcCosine",
    "Constant",
    "Cosine",
    "Kernel",
    "Linear",
    "MATERN_PROFILES",
    "Matern",
    "Matern12",
    "Matern32",
    "Matern52",
    "Matern72",
    "Periodic",
    "Polynomial",
    "ProductKernel",
    "ProductMatern",
    "RBF",
    "RadialKernel",
    "RationalQuadratic",
    "ScaledKernel",
    "SpectralMixture",
    "StateSpace",
    "StudentTMixture",
    "SumKernel",
    "arccos",
    "arccos_map",
    "check_nu",
    "constant_state_space",
    "cosine",
    "cosine_state_space",
    "gram",
    "gram_diag",
    "kernel_matvec",
    "linear",
    "matern",
    "matern12",
    "matern32",
    "matern52",
    "matern72",
    "matern_state_space",
    "periodic",
    "polynomial",
    "product_matern",
    "product_state_space",
    "rational_quadratic",
    "rbf",
    "scaled_sqdist",
    "scale_state_space",
    "scaled_sqdists",
    "spectral_frequencies",
    "spectral_mixture",
    "state_space_from_sde",
    "student_t_mixture",
    "sum_state_space",
]
