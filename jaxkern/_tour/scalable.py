"""Tour stops for the matrix-free kernel algebra: Lanczos, SLQ, CG and recycling."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ..kernels import RBF, gram
from ..linalg import batched_cg, lanczos_eigh, slq_logdet, solve_sequence
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


def _recycling() -> Stop:
    # eight reaction-diffusion problems (-Laplacian + c) u = 1 on a 30 x 30 grid, each with its
    # own smooth reaction c: deflated CG carries the slow eigenvectors from one to the next
    m, N = 30, 8
    grid = jnp.linspace(0.0, 1.0, m)
    phase = jax.random.uniform(jax.random.key(3), (N, 2), minval=0.0, maxval=6.0)
    c = 0.02 * jnp.exp(jnp.sin(4.0 * grid[None, :, None] + phase[:, 0, None, None])
                       * jnp.cos(3.0 * grid[None, None, :] + phase[:, 1, None, None]))

    def matvec(c, u):
        U = u.reshape(m, m)
        P = jnp.pad(U, 1)
        lap = 4 * U - P[:-2, 1:-1] - P[2:, 1:-1] - P[1:-1, :-2] - P[1:-1, 2:]
        return (lap + c * U).ravel()

    seq = solve_sequence(matvec, c, jnp.ones((N, m * m), c.dtype), method="deflated_cg",
                         recycle_dim=8, rtol=dtype_tol(c, 1e-12, 1e-5), max_steps=4 * m * m)
    eye = jnp.eye(m * m, dtype=c.dtype)
    # Reference: NumPy solve in float64 of each dense operator.
    ref = np.stack([np.linalg.solve(np.asarray(jax.vmap(lambda e: matvec(ci, e))(eye).T,
                                               np.float64), np.ones(m * m)) for ci in c])
    err = np.max(np.abs(np.asarray(seq.solutions, np.float64) - ref)) / np.max(np.abs(ref))
    if not bool(jnp.all(seq.converged)):
        err = np.inf
    saved = 1 - float(seq.num_matvecs[1:].mean()) / float(seq.num_matvecs[0])
    return Stop("solve_sequence",
                f"8 related SPD systems, 30x30, deflated CG ({saved:.0%} fewer products after "
                "the first) vs numpy solve", float(err), dtype_tol(c, 1e-8, 1e-3))


def stops(outdir):
    return [_lanczos, _slq, _cg, _recycling]
