"""Floor 2: real spherical harmonics and Gaunt tensor products in the 2D Fourier basis.

Conventions (z polar, real harmonics without Condon–Shortley phase, flat index l^2 + l + m)
are in `_harmonics.py`; `to_e3nn` / `from_e3nn` convert to and from e3nn-jax's basis.
"""

from ._fourier import fourier_to_sh as fourier_to_sh
from ._fourier import sh_to_fourier as sh_to_fourier
from ._gaunt import gaunt_coefficients as gaunt_coefficients
from ._gaunt import gaunt_powers as gaunt_powers
from ._gaunt import gaunt_product as gaunt_product
from ._harmonics import from_e3nn as from_e3nn
from ._harmonics import spherical_harmonics as spherical_harmonics
from ._harmonics import to_e3nn as to_e3nn
from ._harmonics import wigner_d as wigner_d
from ._layers import GauntConvolution as GauntConvolution
from ._layers import GauntInteraction as GauntInteraction
from ._layers import GauntManyBody as GauntManyBody
from ._layers import gaunt_convolution as gaunt_convolution
from ._layers import scale_degrees as scale_degrees

__all__ = [
    "GauntConvolution",
    "GauntInteraction",
    "GauntManyBody",
    "gaunt_convolution",
    "scale_degrees",
    "fourier_to_sh",
    "from_e3nn",
    "gaunt_coefficients",
    "gaunt_powers",
    "gaunt_product",
    "sh_to_fourier",
    "spherical_harmonics",
    "to_e3nn",
    "wigner_d",
]
