r"""Matrix-free exact GP inference: CG solves, SLQ log-determinants, stochastic gradients (BBMM).

With $\hat K = K + (\sigma^2 + \epsilon) I$ applied only through the blocked
`kernel_matvec`, one batched CG run on $[y, z_1, \dots, z_t]$ (probes
$z_i \sim \mathcal N(0, P)$, $P = L L^\top + (\sigma^2+\epsilon) I$ a pivoted-Cholesky
preconditioner) gives

$$\alpha = \hat K^{-1} y, \qquad u_i = \hat K^{-1} z_i, \qquad
\log\det \hat K \approx \log\det P + \frac1t \sum_i (z_i^\top P^{-1} z_i)\,
e_1^\top \log(T_i)\, e_1,$$

the $T_i$ being the Lanczos tridiagonals recovered from CG. The gradient of the log marginal
likelihood with respect to any parameter $\theta$ of $\hat K$ is

$$\frac{\partial}{\partial\theta} \log p(y) = \tfrac12 \alpha^\top \frac{\partial \hat K}
{\partial\theta} \alpha - \tfrac12 \operatorname{tr}\Bigl(\hat K^{-1}
\frac{\partial \hat K}{\partial\theta}\Bigr), \qquad
\operatorname{tr}\Bigl(\hat K^{-1} \frac{\partial \hat K}{\partial\theta}\Bigr) \approx
\frac1t \sum_i u_i^\top \frac{\partial \hat K}{\partial\theta} P^{-1} z_i,$$

unbiased because $\mathbb E[P^{-1} z z^\top] = I$. It is implemented as a `jax.custom_vjp`
whose backward pass differentiates the bilinear forms $a^\top \hat K b$ (through
`kernel_matvec`, in bounded memory), so `jax.grad` works for the kernel's hyperparameters, the
noise, `X` and `y` (Gardner, Pleiss, Bindel, Weinberger & Wilson, *GPyTorch: blackbox
matrix-matrix Gaussian process inference with GPU acceleration*, NeurIPS 2018; Wang et al.,
*Exact Gaussian processes on a million data points*, NeurIPS 2019).

Along a sequence of such evaluations (the steps of `gp.fit`), `warm_log_marginal_likelihood`
starts the solves for $[y, Z]$ from the Galerkin-best combination of the previous solutions
and runs the probes' Lanczos (which must start from the probes) as extra, capped columns of
the same batched CG, so value and gradient stay those of the cold start to CG's tolerance.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from ..kernels import gram, gram_diag, kernel_matvec
from ..linalg import (
    CGResult,
    batched_cg,
    gauss_rules,
    pivoted_cholesky,
    replicated,
    woodbury_logdet,
    woodbury_preconditioner,
    woodbury_sample,
    woodbury_solve,
)
from ._solvers import CG


class _Operator(NamedTuple):
    matmat: object
    precond: object
    pre: object


def _operator(k, X, shift, solver: CG) -> _Operator:
    n = X.shape[0]
    Xr = replicated(X)

    if solver.materialize:
        # formed once per operator (the forward pass); each CG step is then one BLAS product
        K = gram(k, X, Xr)

        def matmat(V):
            return K @ V + shift * V
    else:
        def matmat(V):
            return kernel_matvec(k, X, Xr, V, block_size=solver.block_size) + shift * V

    rank = min(solver.preconditioner_rank, n)
    if rank == 0:
        factor = jnp.zeros((n, 0), X.dtype)
    else:
        factor = pivoted_cholesky(
            gram_diag(k, Xr), lambda i: gram(k, Xr[i][None], Xr)[0], rank=rank
        ).factor
    pre = woodbury_preconditioner(jax.lax.stop_gradient(factor), shift)
    return _Operator(matmat, lambda V: woodbury_solve(pre, V), pre)


def _solve(op: _Operator, B, solver: CG, throw_columns: int, x0=None,
           column_steps=None) -> CGResult:
    res = batched_cg(op.matmat, B, x0=x0, preconditioner=op.precond, rtol=solver.rtol,
                     max_steps=solver.max_steps, column_steps=column_steps)
    if solver.throw:
        sol = eqx.error_if(
            res.solution, ~jnp.all(res.converged[:throw_columns]),
            f"CG did not converge within max_steps = {solver.max_steps}; raise `max_steps`, "
            "`preconditioner_rank` or the noise, or loosen `rtol`.",
        )
        res = res._replace(solution=sol)
    return res


def _slq_from_tridiagonals(tri, weights, steps):
    """weights_i e_1^T log(T_i) e_1 per probe column, from each T_i's leading steps x steps."""
    theta, gauss_weights = gauss_rules(tri.diag[:, :steps], tri.offdiag[:, : steps - 1])
    # Ritz values of an SPD operator are positive; clip round-off before the log.
    theta = jnp.maximum(theta, jnp.finfo(theta.dtype).tiny)
    return weights * jnp.sum(gauss_weights * jnp.log(theta), axis=1)


def _galerkin_start(matmat, history, B):
    r"""Per column $j$, the $\hat K$-norm-best start in the span of its past solutions.

    `history` (m, n, s) holds the last m solutions of each of the s columns. Column $j$'s
    start is $S_j c_j$ with $S_j = [x^{(1)}_j, \dots, x^{(m)}_j]$ and
    $(S_j^\top \hat K S_j)\, c_j = S_j^\top b_j$ (Galerkin): no worse, in the energy norm,
    than any of the past solutions or their linear extrapolation, at the cost of one
    `kernel_matvec` over the m s columns. The m x m systems are solved by Gram–Schmidt in the
    $\hat K$ inner product, elementwise over the columns (no batched LAPACK call, which can
    deadlock XLA:CPU's thread pool on sharded inputs); a past solution that adds less than
    $\sqrt{\varepsilon}$ of its energy to the span (zeros at the first steps) is skipped.
    """
    m, n, s = history.shape
    KS = jnp.moveaxis(matmat(jnp.moveaxis(history, 0, 1).reshape(n, m * s)).reshape(n, m, s),
                      1, 0)
    floor = jnp.sqrt(jnp.finfo(B.dtype).eps)
    x0, basis = jnp.zeros_like(B), []
    for v, Kv in zip(history, KS):
        energy = jnp.sum(v * Kv, axis=0)
        for q, Kq in basis:
            c = jnp.sum(Kq * v, axis=0)
            v, Kv = v - c[None] * q, Kv - c[None] * Kq
        left = jnp.sum(v * Kv, axis=0)
        keep = (left > floor * energy) & (left > 0)
        inv = jnp.where(keep, jax.lax.rsqrt(jnp.where(keep, left, 1)), 0)
        q, Kq = v * inv[None], Kv * inv[None]
        basis.append((q, Kq))
        x0 = x0 + q * jnp.sum(q * B, axis=0)[None]
    return x0


def _forward(k, X, y, shift, solver: CG, history=None):
    """The LML, the BBMM residuals (alpha, U, W), the solutions [alpha, U] and CG's steps.

    With past solutions `history` (m, n, 1 + t) the batched CG runs on [y, Z, Z]: the first
    1 + t columns start from their Galerkin start in the span of `history` and give alpha and
    U; the last t start from zero and give the
    probes' Lanczos tridiagonals (a warm start would change the Krylov space, and the
    quadrature needs the one started from each probe), capped at `quadrature_steps`, the most
    steps the quadrature reads, so they do not prolong the loop.
    """
    n = X.shape[0]
    t = solver.num_probes
    op = _operator(k, X, shift, solver)
    Z = woodbury_sample(op.pre, key=solver.key, num_samples=t)
    B = jnp.concatenate([y[:, None], Z], axis=1)
    if history is None:
        res = _solve(op, B, solver, throw_columns=1)
        first = 1
    else:
        x0 = _galerkin_start(op.matmat, history, B)
        lanczos = min(solver.quadrature_steps, solver.max_steps)
        caps = jnp.array([solver.max_steps] * (1 + t) + [lanczos] * t, jnp.int32)
        res = _solve(op, jnp.concatenate([B, Z], axis=1), solver, throw_columns=1,
                     x0=jnp.concatenate([x0, jnp.zeros_like(Z)], axis=1), column_steps=caps)
        first = 1 + t
    tri = res.tridiagonals
    probe_tri = type(tri)(tri.diag[first:], tri.offdiag[first:])
    solutions = res.solution[:, : 1 + t]
    alpha, U = solutions[:, 0], solutions[:, 1:]
    W = op.precond(Z)
    znorm = jnp.sum(Z * W, axis=0)
    samples = woodbury_logdet(op.pre) + _slq_from_tridiagonals(probe_tri, znorm,
                                                                 solver.quadrature_steps)
    logdet = jnp.mean(samples)
    value = -0.5 * jnp.dot(y, alpha) - 0.5 * logdet - 0.5 * n * math.log(2 * math.pi)
    return value, (alpha, U, W), solutions, jnp.max(res.iterations)


def _surrogate(k, X, y, shift, alpha, U, W, block_size):
    """A function of the parameters whose gradient is the BBMM gradient estimate."""
    # CG's iterates come back row-sharded when X is (explicit-axes meshes): gather them, as
    # kernel_matvec gathers its column side anyway
    alpha, U, W = replicated(alpha), replicated(U), replicated(W)
    A = jnp.concatenate([alpha[:, None], U], axis=1)
    V = jnp.concatenate([alpha[:, None], W], axis=1)
    KV = kernel_matvec(k, X, replicated(X), V, block_size=block_size) + shift * V
    forms = jnp.sum(A * KV, axis=0)
    return -jnp.dot(alpha, y) + 0.5 * forms[0] - 0.5 * jnp.mean(forms[1:])


def _split(k, X, y, noise, jitter):
    """The differentiable leaves of (k, X, y, noise), and how to rebuild the four from them
    (the noise shifted by the jitter), for the likelihood's custom VJPs."""
    dtype = X.dtype
    dyn, static = eqx.partition((k, X, y, jnp.asarray(noise, dtype)), eqx.is_inexact_array)

    def unpack(dyn):
        k, X, y, noise = eqx.combine(dyn, static)
        return k, X, y, noise + jnp.asarray(jitter, dtype)

    return dyn, unpack


def iterative_log_marginal_likelihood(k, X, y, noise, jitter, solver: CG) -> Float[Array, ""]:
    """The CG + SLQ log marginal likelihood with the BBMM gradient (see the module docstring)."""
    # A single-output custom VJP of its own: the warm path's (value, solutions, iterations)
    # output cannot be lowered under a mesh context (`jax.sharding.use_mesh`) in jaxlib 0.10.
    dyn, unpack = _split(k, X, y, noise, jitter)

    @jax.custom_vjp
    def lml(dyn):
        return _forward(*unpack(dyn), solver)[0]

    def fwd(dyn):
        value, res = _forward(*unpack(dyn), solver)[:2]
        return value, (dyn, res)

    def bwd(residuals, g):
        dyn, (alpha, U, W) = residuals
        _, vjp = jax.vjp(lambda d: _surrogate(*unpack(d), alpha, U, W, solver.block_size), dyn)
        return vjp(g)

    lml.defvjp(fwd, bwd)
    return lml(dyn)


class WarmLML(NamedTuple):
    """The CG log marginal likelihood with what the next solve of a sequence can reuse."""

    value: Float[Array, ""]
    """The log marginal likelihood (BBMM gradient)."""
    solutions: Float[Array, "n s"]
    r"""$[\alpha, U] = \hat K^{-1} [y, Z]$, shape (n, 1 + num_probes): a warm start."""
    iterations: Int[Array, ""]
    """Iterations of the batched CG loop (each one `kernel_matvec` over all columns)."""


def warm_log_marginal_likelihood(k, X, y, noise, jitter, solver: CG,
                                 history=None) -> WarmLML:
    r"""`iterative_log_marginal_likelihood` warm-started from past solutions, returning its own.

    `history` (m, n, 1 + num_probes), e.g. the `solutions` of the last m steps of a fit
    (zeros where there are none yet), gives the solves for $[y, Z]$ their Galerkin start
    (`_galerkin_start`); `None` is the cold path. The value and the gradient are those of the
    cold path to CG's tolerance (the solves reach `rtol` from any start and the quadrature
    runs on probes started from zero, see `_forward`). `solutions` and `iterations` carry no
    gradient.
    """
    dyn, unpack = _split(k, X, y, noise, jitter)

    def run(dyn, history):
        value, res, solutions, iterations = _forward(*unpack(dyn), solver, history)
        return (value, jax.lax.stop_gradient(solutions), iterations), res

    @jax.custom_vjp
    def lml(dyn, history):
        return run(dyn, history)[0]

    def fwd(dyn, history):
        out, res = run(dyn, history)
        return out, (dyn, history, res)

    def bwd(residuals, cotangents):
        dyn, history, (alpha, U, W) = residuals
        _, vjp = jax.vjp(
            lambda d: _surrogate(*unpack(d), alpha, U, W, solver.block_size), dyn
        )
        return vjp(cotangents[0])[0], jax.tree.map(jnp.zeros_like, history)

    lml.defvjp(fwd, bwd)
    return WarmLML(*lml(dyn, history))


def iterative_posterior(k, X, y, X_test, noise, jitter, solver: CG):
    """Posterior mean and latent variance by batched CG (one column per test point)."""
    dtype = X.dtype
    shift = jnp.asarray(noise, dtype) + jnp.asarray(jitter, dtype)
    op = _operator(k, X, shift, solver)
    K_cross = gram(k, X, X_test)  # (n, m): the only kernel block formed
    B = jnp.concatenate([y[:, None], K_cross], axis=1)
    res = _solve(op, B, solver, throw_columns=B.shape[1])
    alpha, V = res.solution[:, 0], res.solution[:, 1:]
    mean = K_cross.T @ alpha
    variance = gram_diag(k, X_test) - jnp.sum(K_cross * V, axis=0)
    return mean, jnp.maximum(variance, 0)
