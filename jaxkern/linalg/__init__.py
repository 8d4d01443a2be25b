"""Floor 0 linear algebra: jittered Cholesky, structured solves, blocking and row-sharding."""

from .._validation import default_jitter as default_jitter
from ._blocking import into_blocks as into_blocks
from ._blocking import row_sharding as row_sharding
from ._cholesky import Float32CholeskyWarning as Float32CholeskyWarning
from ._cholesky import jittered_cholesky as jittered_cholesky
from ._kronecker import KroneckerCholesky as KroneckerCholesky
from ._kronecker import KroneckerEigh as KroneckerEigh
from ._kronecker import apply_along_axes as apply_along_axes
from ._kronecker import kron_cholesky as kron_cholesky
from ._kronecker import kron_eigh as kron_eigh
from ._kronecker import kron_logdet as kron_logdet
from ._kronecker import kron_matvec as kron_matvec
from ._kronecker import kron_shifted_logdet as kron_shifted_logdet
from ._kronecker import kron_shifted_solve as kron_shifted_solve
from ._kronecker import kron_solve as kron_solve

__all__ = [
    "Float32CholeskyWarning",
    "KroneckerCholesky",
    "KroneckerEigh",
    "apply_along_axes",
    "default_jitter",
    "into_blocks",
    "jittered_cholesky",
    "kron_cholesky",
    "kron_eigh",
    "kron_logdet",
    "kron_matvec",
    "kron_shifted_logdet",
    "kron_shifted_solve",
    "kron_solve",
    "row_sharding",
]
