"""Floor 0 linear algebra: jittered Cholesky and structured solves."""

from .._validation import default_jitter as default_jitter
from ._cholesky import Float32CholeskyWarning as Float32CholeskyWarning
from ._cholesky import jittered_cholesky as jittered_cholesky

__all__ = ["Float32CholeskyWarning", "default_jitter", "jittered_cholesky"]
