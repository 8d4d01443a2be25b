"""Tour stops for the matrix-free kernel algebra: Lanczos, SLQ, CG and the CG GP path."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels import RBF, gram
from ..linalg import batched_cg, lanczos_eigh, slq_logdet
from . import Stop, dtype_tol

ORDER = 21


def _gram(n: int):
    X = jax.random.uniform(jax.random.key(0), (n, 3), minval=-3.0, maxval=3.0)
    return X, gram(RBF(), X) + 0.1 * jnp.eye(n, dtype=X.dtype)


def _lanczos() -> Stop:
    _, A = _gram(400)
    ritz = lanczos_eigh(lambda v: A @ v, jnp.ones(400, A.dtype), num_steps=40)
    # Reference: NumPy eigvalsh in float64.
    ref = np.linalg.eigvalsh(np.asarray(A, np.float64))[-1]
    return Stop("lanczos_eigh", "lambda_max of RBF Gram, n=400, 40 steps vs eigvalsh",
                abs(float(ritz.values[-1]) - ref) / ref, dtype_tol(A, 1e-10, 1e-5))


def _slq() -> Stop:
    _, A = _gram(600)
    est = slq_logdet(lambda v: A @ v, 600, key=jax.random.key(1), num_probes=30, num_steps=30)
    ref = np.linalg.slogdet(np.asarray(A, np.float64))[1]
    return Stop("slq_logdet", "log det(RBF Gram + 0.1 I), n=600, 30x30 vs slogdet",
                abs(float(est.estimate) - ref) / abs(ref), 1e-2)


def _cg() -> Stop:
    _, A = _gram(300)
    B = jax.random.normal(jax.random.key(2), (300, 4), dtype=A.dtype)
    res = batched_cg(lambda X: A @ X, B, rtol=dtype_tol(A, 1e-10, 1e-5))
    ref = np.linalg.solve(np.asarray(A, np.float64), np.asarray(B, np.float64))
    err = np.max(np.abs(np.asarray(res.solution, np.float64) - ref)) / np.max(np.abs(ref))
    return Stop("batched_cg", "4 RHS, RBF Gram + 0.1 I, n=300 vs numpy solve", float(err),
                dtype_tol(A, 1e-6, 2e-3))


def stops(outdir):
    return [_lanczos, _slq, _cg]
