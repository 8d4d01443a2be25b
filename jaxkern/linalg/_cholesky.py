"""Cholesky factorisation with explicit jitter and a clear failure."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._validation import Float32PrecisionWarning, check_ndim, default_jitter, warn_float32


class Float32CholeskyWarning(Float32PrecisionWarning):
    """A float32 matrix is being factorised: ill-conditioned kernels lose most of their digits."""


def jittered_cholesky(
    A: Float[Array, "n n"], *, jitter: float | None = None, throw: bool = True
) -> Float[Array, "n n"]:
    r"""Lower Cholesky factor of $A + \epsilon I$, failing loudly if that is not positive definite.

    $$L L^\top = A + \epsilon I.$$

    LAPACK (and its XLA ports) return a factor full of ``nan`` when $A + \epsilon I$ is not
    positive definite; this checks the factor and raises with ``eqx.error_if`` (inside
    ``jit`` too) instead of letting ``nan`` flow on. float32 inputs warn once per trace with
    [`Float32CholeskyWarning`][jaxkern.linalg.Float32CholeskyWarning]; nothing is cast.

    **Arguments:**

    - `A`: symmetric matrix, shape (n, n).
    - `jitter`: $\epsilon$; defaults to [`default_jitter`][jaxkern.linalg.default_jitter] of
      the dtype (1e-6 in float32, 1e-10 in float64).
    - `throw`: if False, skip the check and return the ``nan`` factor (for callers that
      handle failure themselves, e.g. a line search).

    **Returns:** the lower-triangular factor $L$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import jittered_cholesky
        >>> jittered_cholesky(jnp.array([[4.0, 2.0], [2.0, 3.0]]), jitter=0.0).tolist()
        [[2.0, 0.0], [1.0, 1.4142135381698608]]
    """
    check_ndim("A", A, 2, "(n, n)")
    if A.shape[0] != A.shape[1]:
        raise ValueError(f"`A` must be square, got shape {A.shape}.")
    if jitter is None:
        jitter = default_jitter(A.dtype)
    if A.dtype == jnp.float32:
        warn_float32("Cholesky factorisation",
                     "kernel matrices are often ill-conditioned and lose most of their digits",
                     Float32CholeskyWarning)
    n = A.shape[0]
    L = jnp.linalg.cholesky(A + jnp.asarray(jitter, A.dtype) * jnp.eye(n, dtype=A.dtype))
    if throw:
        L = eqx.error_if(
            L,
            ~jnp.all(jnp.isfinite(L)),
            "matrix is not positive definite after adding jitter; increase `jitter` or the "
            "noise, or check the kernel's hyperparameters.",
        )
    return L
