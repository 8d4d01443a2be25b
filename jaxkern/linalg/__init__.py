"""Floor 0 linear algebra: jittered Cholesky, structured solves, blocking and row-sharding,
M-FAC inverse-Fisher products, GMRES and Krylov recycling (GCRO-DR, deflated CG)."""

from .._validation import default_jitter as default_jitter
from ._blocking import into_blocks as into_blocks
from ._blocking import replicated as replicated
from ._blocking import row_sharding as row_sharding
from ._cg import CGResult as CGResult
from ._cg import Tridiagonals as Tridiagonals
from ._cg import batched_cg as batched_cg
from ._cg import cg as cg
from ._cg import fixed_cg as fixed_cg
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
from ._lanczos import LanczosDecomposition as LanczosDecomposition
from ._lanczos import RitzPairs as RitzPairs
from ._lanczos import SpectralDensity as SpectralDensity
from ._lanczos import TraceEstimate as TraceEstimate
from ._lanczos import gauss_rules as gauss_rules
from ._lanczos import lanczos as lanczos
from ._lanczos import lanczos_eigh as lanczos_eigh
from ._lanczos import slq_logdet as slq_logdet
from ._lanczos import smoothed_density as smoothed_density
from ._lanczos import spectral_density as spectral_density
from ._lanczos import stochastic_trace as stochastic_trace
from ._mfac import MFACDynamic as MFACDynamic
from ._mfac import MFACStatic as MFACStatic
from ._mfac import mfac_dynamic_init as mfac_dynamic_init
from ._mfac import mfac_dynamic_matvec as mfac_dynamic_matvec
from ._mfac import mfac_dynamic_update as mfac_dynamic_update
from ._mfac import mfac_dynamic_update_matvec as mfac_dynamic_update_matvec
from ._mfac import mfac_inverse_diag as mfac_inverse_diag
from ._mfac import mfac_inverse_entry as mfac_inverse_entry
from ._mfac import mfac_static as mfac_static
from ._mfac import mfac_static_matvec as mfac_static_matvec
from ._pivoted import PartialCholesky as PartialCholesky
from ._pivoted import WoodburyPreconditioner as WoodburyPreconditioner
from ._pivoted import pivoted_cholesky as pivoted_cholesky
from ._pivoted import woodbury_logdet as woodbury_logdet
from ._pivoted import woodbury_preconditioner as woodbury_preconditioner
from ._pivoted import woodbury_sample as woodbury_sample
from ._pivoted import woodbury_solve as woodbury_solve
from ._recycle import GMRESResult as GMRESResult
from ._recycle import RecycledSolve as RecycledSolve
from ._recycle import RecycleSpace as RecycleSpace
from ._recycle import SequenceSolve as SequenceSolve
from ._recycle import deflated_cg as deflated_cg
from ._recycle import gcrodr as gcrodr
from ._recycle import gmres as gmres
from ._recycle import greedy_order as greedy_order
from ._recycle import solve_sequence as solve_sequence
from ._small import small_solve as small_solve

__all__ = [
    "CGResult",
    "Float32CholeskyWarning",
    "GMRESResult",
    "KroneckerCholesky",
    "KroneckerEigh",
    "LanczosDecomposition",
    "PartialCholesky",
    "MFACDynamic",
    "MFACStatic",
    "RecycleSpace",
    "RecycledSolve",
    "RitzPairs",
    "SequenceSolve",
    "SpectralDensity",
    "TraceEstimate",
    "Tridiagonals",
    "WoodburyPreconditioner",
    "apply_along_axes",
    "batched_cg",
    "cg",
    "deflated_cg",
    "default_jitter",
    "fixed_cg",
    "gauss_rules",
    "gcrodr",
    "gmres",
    "greedy_order",
    "into_blocks",
    "jittered_cholesky",
    "kron_cholesky",
    "kron_eigh",
    "kron_logdet",
    "kron_matvec",
    "kron_shifted_logdet",
    "kron_shifted_solve",
    "kron_solve",
    "lanczos",
    "lanczos_eigh",
    "pivoted_cholesky",
    "mfac_dynamic_init",
    "mfac_dynamic_matvec",
    "mfac_dynamic_update",
    "mfac_dynamic_update_matvec",
    "mfac_inverse_diag",
    "mfac_inverse_entry",
    "mfac_static",
    "mfac_static_matvec",
    "replicated",
    "row_sharding",
    "slq_logdet",
    "small_solve",
    "smoothed_density",
    "solve_sequence",
    "spectral_density",
    "stochastic_trace",
    "woodbury_logdet",
    "woodbury_preconditioner",
    "woodbury_sample",
    "woodbury_solve",
]
