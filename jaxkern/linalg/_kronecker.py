r"""Kronecker-product algebra over $D$ factors, never forming the full matrix.

A vector of length $\prod_d n_d$ is viewed as a tensor of shape $(n_1, \dots, n_D)$ in row-major
(C) order, so $(A_1 \otimes \dots \otimes A_D) v$ is $A_d$ applied along axis $d$ of that tensor,
for each $d$: $O(N \sum_d n_d)$ work instead of $O(N^2)$.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import jax.numpy as jnp
from jax.scipy.linalg import cho_solve
from jaxtyping import Array, Float

from .._validation import check_ndim, check_positive
from ._cholesky import jittered_cholesky

Factors = Sequence[Float[Array, "n n"]]


def _check_factors(factors, *, square: bool) -> None:
    if len(factors) == 0:
        raise ValueError("`factors` must hold at least one matrix, got an empty sequence.")
    for i, A in enumerate(factors):
        check_ndim(f"factors[{i}]", A, 2, "(n, m)")
        if square and A.shape[0] != A.shape[1]:
            raise ValueError(f"`factors[{i}]` must be square, got shape {A.shape}.")


def apply_along_axes(
    matrices: Sequence[Float[Array, "n m"]], X: Float[Array, "*m"]
) -> Float[Array, "*n"]:
    r"""Multiply axis $d$ of the tensor `X` by `matrices[d]`: the tensor form of a Kronecker matvec.

    **Arguments:**

    - `matrices`: $A_d$ of shapes $(n_d, m_d)$, one per axis of `X`.
    - `X`: tensor of shape $(m_1, \dots, m_D)$.

    **Returns:** the tensor of shape $(n_1, \dots, n_D)$, i.e. $(\bigotimes_d A_d)\,
    \mathrm{vec}(X)$ reshaped.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import apply_along_axes
        >>> apply_along_axes([2.0 * jnp.eye(2), jnp.ones((1, 3))], jnp.ones((2, 3))).tolist()
        [[6.0], [6.0]]
    """
    if len(matrices) != jnp.ndim(X):
        raise ValueError(
            f"`matrices` must hold one matrix per axis of `X`, got {len(matrices)} for shape "
            f"{jnp.shape(X)}."
        )
    for d, A in enumerate(matrices):
        X = jnp.moveaxis(jnp.tensordot(A, X, axes=(1, d)), 0, d)
    return X


def _as_tensor(name: str, v, sizes: Sequence[int]):
    check_ndim(name, v, 1, "(N,)")
    if v.shape[0] != math.prod(sizes):
        raise ValueError(
            f"`{name}` must have length {math.prod(sizes)} = prod of the factor sizes "
            f"{tuple(sizes)}, got shape {v.shape}."
        )
    return v.reshape(tuple(sizes))


def kron_matvec(
    factors: Sequence[Float[Array, "n m"]], v: Float[Array, " M"]
) -> Float[Array, " N"]:
    r"""$(A_1 \otimes \dots \otimes A_D)\, v$ without forming the product.

    **Arguments:**

    - `factors`: matrices $A_d$ of shapes $(n_d, m_d)$.
    - `v`: vector of length $\prod_d m_d$ (row-major over the factors).

    **Returns:** the vector of length $\prod_d n_d$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import kron_matvec
        >>> A, B = jnp.array([[1.0, 2.0], [0.0, 1.0]]), jnp.array([[2.0, 0.0], [1.0, 1.0]])
        >>> v = jnp.arange(4.0)
        >>> kron_matvec([A, B], v).tolist() == (jnp.kron(A, B) @ v).tolist()
        True

    Van Loan, *The ubiquitous Kronecker product*, J. Comput. Appl. Math. 123 (2000).
    """
    _check_factors(factors, square=False)
    X = _as_tensor("v", v, [A.shape[1] for A in factors])
    return apply_along_axes(factors, X).reshape(-1)


class KroneckerCholesky(NamedTuple):
    """Lower Cholesky factors $L_d$ of each (jittered) factor $K_d + \\epsilon I$."""

    factors: tuple


def kron_cholesky(factors: Factors, *, jitter: float | None = None) -> KroneckerCholesky:
    r"""Cholesky factors of each symmetric positive definite Kronecker factor.

    $L = L_1 \otimes \dots \otimes L_D$ is the Cholesky factor of $K = \bigotimes_d K_d$, so
    solves and the log-determinant need only the $D$ small factors.

    **Arguments:**

    - `factors`: symmetric positive definite matrices $K_d$, shapes $(n_d, n_d)$.
    - `jitter`: added to each factor's diagonal; see
      `jaxkern.linalg.jittered_cholesky`.

    **Returns:** a [`KroneckerCholesky`][jaxkern.linalg.KroneckerCholesky].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import kron_cholesky
        >>> kron_cholesky([4.0 * jnp.eye(2)], jitter=0.0).factors[0].tolist()
        [[2.0, 0.0], [0.0, 2.0]]
    """
    _check_factors(factors, square=True)
    return KroneckerCholesky(tuple(jittered_cholesky(K, jitter=jitter) for K in factors))


def kron_solve(chol: KroneckerCholesky, v: Float[Array, " N"]) -> Float[Array, " N"]:
    r"""$(K_1 \otimes \dots \otimes K_D)^{-1} v$ from the factors' Cholesky factors.

    Uses $(\bigotimes_d K_d)^{-1} = \bigotimes_d K_d^{-1}$: one triangular pair per factor.

    **Arguments:**

    - `chol`: from [`kron_cholesky`][jaxkern.linalg.kron_cholesky].
    - `v`: vector of length $\prod_d n_d$.

    **Returns:** the solution, same shape as `v`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import kron_cholesky, kron_solve
        >>> c = kron_cholesky([2.0 * jnp.eye(2), 4.0 * jnp.eye(2)], jitter=0.0)
        >>> bool(jnp.allclose(kron_solve(c, jnp.ones(4)), 0.125))
        True

    Saatçi, *Scalable inference for structured Gaussian process models*, PhD thesis (2012), §5.2.
    """
    X = _as_tensor("v", v, [L.shape[0] for L in chol.factors])
    for d, L in enumerate(chol.factors):
        front = jnp.moveaxis(X, d, 0)
        solved = cho_solve((L, True), front.reshape(front.shape[0], -1)).reshape(front.shape)
        X = jnp.moveaxis(solved, 0, d)
    return X.reshape(-1)


def kron_logdet(chol: KroneckerCholesky) -> Float[Array, ""]:
    r"""$\log\det(K_1 \otimes \dots \otimes K_D) = \sum_d \frac{N}{n_d} \log\det K_d$.

    **Arguments:**

    - `chol`: from [`kron_cholesky`][jaxkern.linalg.kron_cholesky].

    **Returns:** the scalar log-determinant, $N = \prod_d n_d$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import kron_cholesky, kron_logdet
        >>> c = kron_cholesky([2.0 * jnp.eye(2), 3.0 * jnp.eye(3)], jitter=0.0)
        >>> round(float(kron_logdet(c)), 6)  # 3 log det(2 I_2) + 2 log det(3 I_3) = 6 log 6
        10.750557

    Saatçi (2012), §5.2.
    """
    sizes = [L.shape[0] for L in chol.factors]
    total = math.prod(sizes)
    return sum(
        (total // n) * 2 * jnp.sum(jnp.log(jnp.diagonal(L))) for n, L in zip(sizes, chol.factors)
    )


class KroneckerEigh(NamedTuple):
    """Eigendecompositions $K_d = Q_d \\operatorname{diag}(\\lambda_d) Q_d^\\top$ of each factor."""

    eigenvalues: tuple
    eigenvectors: tuple


def kron_eigh(factors: Factors) -> KroneckerEigh:
    r"""Eigendecompose each symmetric Kronecker factor.

    The eigenvalues of $\bigotimes_d K_d$ are all products $\prod_d \lambda_{d, i_d}$ and its
    eigenvectors are $\bigotimes_d Q_d$, so $\bigotimes_d K_d + \sigma^2 I$ is diagonal in that
    basis.

    **Arguments:**

    - `factors`: symmetric matrices $K_d$, shapes $(n_d, n_d)$.

    **Returns:** a [`KroneckerEigh`][jaxkern.linalg.KroneckerEigh].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import kron_eigh
        >>> kron_eigh([jnp.diag(jnp.array([3.0, 1.0]))]).eigenvalues[0].tolist()
        [1.0, 3.0]
    """
    _check_factors(factors, square=True)
    pairs = [jnp.linalg.eigh(K) for K in factors]
    return KroneckerEigh(tuple(p[0] for p in pairs), tuple(p[1] for p in pairs))


def _outer_eigenvalues(eig: KroneckerEigh):
    lam = eig.eigenvalues[0]
    for other in eig.eigenvalues[1:]:
        lam = jnp.multiply.outer(lam, other)
    return lam


def kron_shifted_solve(
    eig: KroneckerEigh, v: Float[Array, " N"], *, shift: Float[Array, ""] | float
) -> Float[Array, " N"]:
    r"""$(K_1 \otimes \dots \otimes K_D + \sigma^2 I)^{-1} v$ through the factors' eigenbases.

    $$\Big(\bigotimes_d K_d + \sigma^2 I\Big)^{-1} v = \Big(\bigotimes_d Q_d\Big)
      \operatorname{diag}\Big(\frac{1}{\prod_d \lambda_{d} + \sigma^2}\Big)
      \Big(\bigotimes_d Q_d\Big)^{\top} v.$$

    **Arguments:**

    - `eig`: from [`kron_eigh`][jaxkern.linalg.kron_eigh] of positive semi-definite factors.
    - `v`: vector of length $\prod_d n_d$.
    - `shift`: $\sigma^2 > 0$ (keyword-only).

    **Returns:** the solution, same shape as `v`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import kron_eigh, kron_shifted_solve
        >>> e = kron_eigh([jnp.eye(2), 3.0 * jnp.eye(2)])
        >>> kron_shifted_solve(e, jnp.ones(4), shift=1.0).tolist()
        [0.25, 0.25, 0.25, 0.25]

    Saatçi (2012), §5.2.1; Wilson, Gilboa, Nehorai & Cunningham, *Fast kernel learning for
    multidimensional pattern extrapolation*, NeurIPS 2014.
    """
    check_positive("shift", shift)
    Q = eig.eigenvectors
    X = _as_tensor("v", v, [q.shape[0] for q in Q])
    X = apply_along_axes([q.T for q in Q], X)
    X = X / (_outer_eigenvalues(eig) + shift)
    return apply_along_axes(Q, X).reshape(-1)


def kron_shifted_logdet(eig: KroneckerEigh, *, shift: Float[Array, ""] | float) -> Float[Array, ""]:
    r"""$\log\det(\bigotimes_d K_d + \sigma^2 I) = \sum \log(\prod_d \lambda_d + \sigma^2)$.

    **Arguments:**

    - `eig`: from [`kron_eigh`][jaxkern.linalg.kron_eigh].
    - `shift`: $\sigma^2 > 0$ (keyword-only).

    **Returns:** the scalar log-determinant.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import kron_eigh, kron_shifted_logdet
        >>> round(float(kron_shifted_logdet(kron_eigh([jnp.eye(2), jnp.eye(3)]), shift=1.0)), 6)
        4.158883

    Saatçi (2012), §5.2.1.
    """
    check_positive("shift", shift)
    return jnp.sum(jnp.log(_outer_eigenvalues(eig) + shift))
