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
"""

from __future__ import annotations

import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

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


def _solve(op: _Operator, B, solver: CG, throw_columns: int) -> CGResult:
    res = batched_cg(op.matmat, B, preconditioner=op.precond, rtol=solver.rtol,
                     max_steps=solver.max_steps)
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


def _forward(k, X, y, shift, solver: CG):
    n = X.shape[0]
    op = _operator(k, X, shift, solver)
    Z = woodbury_sample(op.pre, key=solver.key, num_samples=solver.num_probes)
    B = jnp.concatenate([y[:, None], Z], axis=1)
    res = _solve(op, B, solver, throw_columns=1)
    alpha, U = res.solution[:, 0], res.solution[:, 1:]
    W = op.precond(Z)
    znorm = jnp.sum(Z * W, axis=0)
    probe_tri = type(res.tridiagonals)(res.tridiagonals.diag[1:], res.tridiagonals.offdiag[1:])
    samples = woodbury_logdet(op.pre) + _slq_from_tridiagonals(probe_tri, znorm,
                                                                 solver.quadrature_steps)
    logdet = jnp.mean(samples)
    value = -0.5 * jnp.dot(y, alpha) - 0.5 * logdet - 0.5 * n * math.log(2 * math.pi)
    return value, (alpha, U, W)


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


def iterative_log_marginal_likelihood(k, X, y, noise, jitter, solver: CG) -> Float[Array, ""]:
    """The CG + SLQ log marginal likelihood with the BBMM gradient (see the module docstring)."""
    dtype = X.dtype
    dyn, static = eqx.partition((k, X, y, jnp.asarray(noise, dtype)), eqx.is_inexact_array)

    def unpack(dyn):
        k, X, y, noise = eqx.combine(dyn, static)
        return k, X, y, noise + jnp.asarray(jitter, dtype)

    @jax.custom_vjp
    def lml(dyn):
        return _forward(*unpack(dyn), solver)[0]

    def fwd(dyn):
        value, res = _forward(*unpack(dyn), solver)
        return value, (dyn, res)

    def bwd(residuals, g):
        dyn, (alpha, U, W) = residuals
        _, vjp = jax.vjp(
            lambda d: _surrogate(*unpack(d), alpha, U, W, solver.block_size), dyn
        )
        return vjp(g)

    lml.defvjp(fwd, bwd)
    return lml(dyn)


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
