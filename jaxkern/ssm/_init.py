"""Initial eigenvalues and input weights: S4D-Lin, S4D-Inv, S4D-LegS, and S4-PTD from HiPPO-LegS.

Everything here is a constant table built once per static size in NumPy float64/complex128 and
cached (read-only); layers cast it to their dtype.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

from .._validation import check_int, warn_deprecated

INITS = ("lin", "inv", "legs", "ptd")


class HiPPO(NamedTuple):
    """HiPPO-LegS and its normal-plus-low-rank split $A = S - P P^\\top$."""

    A: np.ndarray
    """$A$, shape `(N, N)`."""
    B: np.ndarray
    """$B$, shape `(N,)`."""
    S: np.ndarray
    """The normal part $S = -\\tfrac12 I + $ (skew-symmetric), shape `(N, N)`."""
    P: np.ndarray
    """The low-rank factor $P$, shape `(N,)`."""


class DiagonalInit(NamedTuple):
    """Modes of a diagonal SSM, one per conjugate pair."""

    lam: np.ndarray
    """Eigenvalues with $\\operatorname{Im}\\lambda \\ge 0$, complex128, shape `(m,)`."""
    B: np.ndarray
    """Input weights in the eigenbasis, complex128, shape `(m,)`."""
    V: np.ndarray | None
    """Eigenvectors `(N, m)` for S4D-LegS and S4-PTD: output weights $C$ of the original system
    become $C V$; `None` for S4D-Lin and S4D-Inv, which come from no matrix."""


def _freeze(*arrays):
    for a in arrays:
        if a is not None:
            a.setflags(write=False)
    return arrays


def check_state_size(state_size) -> None:
    check_int("state_size", state_size, 2)
    if state_size % 2:
        raise ValueError(
            "`state_size` must be an even int >= 2 (modes come in conjugate pairs and one of each "
            f"pair is stored), got {state_size!r}."
        )


@functools.cache
def hippo_legs(state_size: int) -> HiPPO:
    """The HiPPO-LegS matrices and their normal-plus-low-rank parts, in NumPy float64.

    $$A_{nk} = -\\begin{cases} \\sqrt{(2n+1)(2k+1)} & n > k \\\\ n + 1 & n = k \\\\ 0 & n < k
    \\end{cases}, \\qquad B_n = \\sqrt{2n+1},$$

    and $A = S - P P^\\top$ with $P_n = \\sqrt{n + 1/2}$, where $S = A + PP^\\top$ is
    $-\\tfrac12 I$ plus a skew-symmetric matrix (so normal, unitarily diagonalisable). $A$ itself
    is lower triangular with eigenvalues $-1, \\dots, -N$ but exponentially ill-conditioned
    eigenvectors.

    **Arguments:**

    - `state_size`: $N \\ge 1$.

    **Returns:** a [`HiPPO`][jaxkern.ssm.HiPPO] of read-only float64 arrays (cached per $N$).

    Example:
        >>> from jaxkern.ssm import hippo_legs
        >>> hippo_legs(3).A
        array([[-1.        ,  0.        ,  0.        ],
               [-1.73205081, -2.        ,  0.        ],
               [-2.23606798, -3.87298335, -3.        ]])

    Paper: Gu, Dao, Ermon, Rudra, Ré, *HiPPO: Recurrent Memory with Optimal Polynomial
    Projections*, NeurIPS 2020; the split is from S4 (Gu, Goel, Ré, ICLR 2022).
    """
    check_int("state_size", state_size, 1)
    n = np.arange(state_size, dtype=np.float64)
    r = np.sqrt(2 * n + 1)
    A = np.tril(-np.outer(r, r), -1) - np.diag(n + 1)
    P = np.sqrt(n + 0.5)
    S = A + np.outer(P, P)
    return HiPPO(*_freeze(A, r, S, P))


def _upper_half(lam: np.ndarray, V: np.ndarray, B: np.ndarray) -> DiagonalInit:
    """Keep one eigenvalue of each conjugate pair; a real eigenvalue keeps half its weight."""
    tol = 1e-9 * max(1.0, float(np.abs(lam).max()))
    real = np.abs(lam.imag) <= tol
    keep = (lam.imag > tol) | real
    weight = np.where(real, 0.5, 1.0)
    lam = np.where(real, lam.real + 0j, lam)
    order = np.argsort(-lam[keep].real)
    return DiagonalInit(*_freeze(lam[keep][order], (weight * B)[keep][order], V[:, keep][:, order]))


def s4d_init(state_size: int, *, init: str = "lin", method: str | None = None) -> DiagonalInit:
    """Initial modes of S4D: $N/2$ eigenvalues (one per conjugate pair) and input weights.

    - `"lin"` (S4D-Lin): $\\lambda_n = -\\tfrac12 + i\\pi n$, $B_n = 1$.
    - `"inv"` (S4D-Inv):
      $\\lambda_n = -\\tfrac12 + i\\frac{N}{\\pi}\\left(\\frac{N}{2n+1} - 1\\right)$, $B_n = 1$.
    - `"legs"` (S4D-LegS): the eigenvalues of the normal part $S$ of HiPPO-LegS, with
      $B = V^{-1} B_{\\text{HiPPO}}$ for its eigenvectors $V$ (the low-rank part is dropped).
    - `"ptd"`: see [`ptd_init`][jaxkern.ssm.ptd_init] (default perturbation).

    **Arguments:**

    - `state_size`: $N$, even.
    - `init`: one of `"lin"`, `"inv"`, `"legs"`, `"ptd"` (the name the layers use; `method`
      is its deprecated spelling, since `method` means the discretisation everywhere else).

    **Returns:** a [`DiagonalInit`][jaxkern.ssm.DiagonalInit] (cached, read-only).

    Example:
        >>> from jaxkern.ssm import s4d_init
        >>> s4d_init(4, init="lin").lam
        array([-0.5+0.j        , -0.5+3.14159265j])

    Paper: Gu, Gupta, Goel, Ré, *On the Parameterization and Initialization of Diagonal State
    Space Models* (S4D), NeurIPS 2022, section 4.
    """
    if method is not None:
        warn_deprecated("s4d_init(method=...)", "s4d_init(init=...)")
        init = method
    check_state_size(state_size)
    if init not in INITS:
        raise ValueError(f"`init` must be one of {INITS}, got {init!r}.")
    return _s4d_init(state_size, init)


@functools.cache
def _s4d_init(state_size: int, method: str) -> DiagonalInit:
    m = state_size // 2
    n = np.arange(m, dtype=np.float64)
    if method == "lin":
        lam = -0.5 + 1j * np.pi * n
    elif method == "inv":
        lam = -0.5 + 1j * state_size / np.pi * (state_size / (2 * n + 1) - 1)
    elif method == "legs":
        hippo = hippo_legs(state_size)
        # S = -I/2 + skew: diagonalise the Hermitian matrix iS' of the skew part for orthonormal V.
        skew = hippo.S + 0.5 * np.eye(state_size)
        w, V = np.linalg.eigh(-1j * skew)
        lam = -0.5 + 1j * w
        return _upper_half(lam, V, V.conj().T @ hippo.B)
    else:
        return ptd_init(state_size)
    return DiagonalInit(*_freeze(lam, np.ones(m, np.complex128), None))


@functools.cache
def ptd_init(
    state_size: int, *, perturbation: float = 1.0, num_draws: int = 8, seed: int = 0
) -> DiagonalInit:
    """S4-PTD: perturb HiPPO-LegS by a small $E$, then diagonalise, in NumPy float64.

    $A + E = V \\Lambda V^{-1}$ with $\\|E\\|_2 = \\varepsilon$ (`perturbation`). Diagonalising $A$
    itself is ill-posed (eigenvector condition number exponential in $N$); a random $E$ of norm
    $\\varepsilon$ spreads the eigenvalues over the $\\varepsilon$-pseudospectrum and makes
    $\\kappa(V)$ polynomial. Of `num_draws` Gaussian draws of $E$ (real, so the eigenvalues stay
    in conjugate pairs), the one with the smallest $\\kappa(V)$ is kept -- a cheap stand-in for
    the paper's $\\min_E \\kappa(V) + \\gamma\\|E\\|$ at fixed $\\|E\\|$. The diagonal system
    $(\\Lambda, V^{-1}B)$ with output weights $CV$ has the transfer function of $A + E$, which
    is within $O(\\varepsilon)$ of HiPPO's uniformly on the imaginary axis.

    A real $A + E$ of even size also has a few (an even number $r$ of) real eigenvalues; each
    is stored as one mode with half its input weight, so $m = N/2 + r/2$ modes are returned.

    **Arguments:**

    - `state_size`: $N$, even.
    - `perturbation`: $\\varepsilon = \\|E\\|_2 > 0$ (HiPPO-LegS has $\\|A\\|_2 \\approx N^2/1.6$).
    - `num_draws`: how many random $E$ to try.
    - `seed`: NumPy seed of the draws (the result is deterministic and cached).

    **Returns:** a [`DiagonalInit`][jaxkern.ssm.DiagonalInit] with eigenvectors `V` `(N, m)`.

    Example:
        >>> import numpy as np
        >>> from jaxkern.ssm import ptd_init
        >>> init = ptd_init(16)
        >>> bool(np.all(init.lam.real < 0)), bool(np.all(init.lam.imag >= 0))
        (True, True)

    Paper: Yu, Nigmetov, Morozov, Mahoney, Erichson, *Robustifying State-space Models for Long
    Sequences via Approximate Diagonalization*, ICLR 2024, section 4.
    """
    check_state_size(state_size)
    if not (np.isfinite(perturbation) and perturbation > 0):
        raise ValueError(f"`perturbation` must be positive, got {perturbation!r}.")
    check_int("num_draws", num_draws, 1)
    hippo = hippo_legs(state_size)
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(num_draws):
        E = rng.standard_normal((state_size, state_size))
        E *= perturbation / np.linalg.norm(E, 2)
        lam, V = np.linalg.eig(hippo.A + E)
        kappa = np.linalg.cond(V)
        if best is None or kappa < best[0]:
            best = (kappa, lam, V)
    _, lam, V = best
    return _upper_half(lam, V, np.linalg.solve(V, hippo.B))
