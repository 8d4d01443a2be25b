r"""Quantum feature-map kernels by exact statevector simulation (Havlíček et al. 2019).

A ZZ feature-map circuit is layers of Hadamards and diagonal phase gates: $P(\phi)$ on qubit
$i$ multiplies basis state $|z\rangle$ by $e^{i\phi z_i}$, and $CX_{ij}\,P_j(\phi)\,CX_{ij}$
multiplies it by $e^{i\phi (z_i \oplus z_j)}$. So each repetition is a fast Walsh–Hadamard
transform followed by one elementwise phase $e^{i\theta(z)}$ with $\theta = T a(x)$, where
$T$ is a constant 0/1 table of bits and pair parities and $a(x)$ are the gate angles.
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Complex, Float, Int, PRNGKeyArray

from .._validation import check_int, check_ndim, check_same_last_dim

ENTANGLEMENTS = ("full", "linear", "circular")
FEATURE_MAPS = ("zz", "z")
MAX_QUBITS = 24  # a statevector of 2^24 complex numbers is already 128 MiB in complex64


@functools.cache
def _pairs(num_qubits: int, entanglement: str) -> tuple[tuple[int, int], ...]:
    """Entangled qubit pairs, as qiskit's `ZZFeatureMap` lists them (their order is immaterial:
    all the entangling blocks are diagonal and commute)."""
    if entanglement == "full":
        return tuple(itertools.combinations(range(num_qubits), 2))
    linear = tuple((i, i + 1) for i in range(num_qubits - 1))
    if entanglement == "linear" or num_qubits <= 2:
        return linear
    return ((num_qubits - 1, 0),) + linear


@functools.cache
def _phase_table(num_qubits: int, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    """T[z, g] = 1 when gate g adds its angle to basis state z (little-endian, as qiskit)."""
    z = (np.arange(2**num_qubits)[:, None] >> np.arange(num_qubits)[None, :]) & 1
    parities = [z[:, i] ^ z[:, j] for i, j in pairs]
    return np.column_stack([z] + parities).astype(np.float64)


def _check_config(x, num_qubits, reps, entanglement, feature_map):
    if feature_map not in FEATURE_MAPS:
        raise ValueError(f"`feature_map` must be one of {FEATURE_MAPS}, got {feature_map!r}.")
    if entanglement not in ENTANGLEMENTS:
        raise ValueError(f"`entanglement` must be one of {ENTANGLEMENTS}, got {entanglement!r}.")
    check_int("reps", reps, 1)
    d = jnp.shape(x)[-1]
    if num_qubits is not None and num_qubits != d:
        raise ValueError(f"`num_qubits` = {num_qubits} does not match the feature dimension "
                         f"of the data, shape {jnp.shape(x)}: the circuit encodes one feature "
                         f"per qubit.")
    if not 1 <= d <= MAX_QUBITS:
        raise ValueError(f"the feature dimension (number of qubits) must be 1..{MAX_QUBITS}, "
                         f"got data of shape {jnp.shape(x)}.")


def _hadamard_all(psi: Array, num_qubits: int) -> Array:
    """H on every qubit: an unnormalised Walsh–Hadamard transform of the last axis, O(q 2^q)."""
    lead = psi.shape[:-1]
    psi = psi.reshape(lead + (2,) * num_qubits)
    for axis in range(len(lead), psi.ndim):
        a = lax.index_in_dim(psi, 0, axis, keepdims=False)
        b = lax.index_in_dim(psi, 1, axis, keepdims=False)
        psi = jnp.stack([a + b, a - b], axis=axis)
    return psi.reshape(lead + (2**num_qubits,))


def _states(X, reps, entanglement, feature_map, alpha):
    """Statevectors of a batch of points X (n, q)."""
    q = X.shape[-1]
    pairs = _pairs(q, entanglement) if feature_map == "zz" else ()
    angles = [X]
    if pairs:
        i, j = np.array(pairs).T
        angles.append((jnp.pi - X[:, i]) * (jnp.pi - X[:, j]))
    angles = alpha * jnp.concatenate(angles, axis=-1)
    theta = angles @ jnp.asarray(_phase_table(q, pairs), X.dtype).T  # (n, 2^q)
    phase = lax.complex(jnp.cos(theta), jnp.sin(theta))  # e^{i theta}, complex of X's width
    norm = 1 / math.sqrt(2**q)
    psi = norm * phase  # first repetition: H on |0...0> is the uniform state
    for _ in range(reps - 1):
        psi = phase * (norm * _hadamard_all(psi, q))
    return psi


def feature_map_state(
    x: Float[Array, " q"],
    *,
    reps: int = 2,
    entanglement: str = "full",
    feature_map: str = "zz",
    alpha: float = 2.0,
    num_qubits: int | None = None,
) -> Complex[Array, " 2**q"]:
    r"""The statevector $|\Phi(x)\rangle$ of qiskit's `ZZFeatureMap` / `ZFeatureMap` circuit.

    Each of `reps` repetitions applies H to every qubit, $P(\alpha x_i)$ to qubit $i$ and, for
    every entangled pair $(i, j)$ (ZZ map only), $CX_{ij}\, P_j(\alpha (\pi - x_i)(\pi - x_j))\,
    CX_{ij}$, starting from $|0\cdots0\rangle$. The amplitudes are in qiskit's little-endian
    order (qubit 0 is the least significant bit of the index), so the vector equals
    `qiskit.quantum_info.Statevector(circuit).data`.

    **Arguments:**

    - `x`: one point, shape (q,): one feature per qubit.
    - `reps`: number of repetitions of the layer.
    - `entanglement`: `"full"` (every pair), `"linear"` ($(i, i+1)$) or `"circular"`
      (linear plus $(q-1, 0)$).
    - `feature_map`: `"zz"` (with entangling pairs) or `"z"` (none).
    - `alpha`: qiskit's angle prefactor (2 by default: $P(2 x_i)$).
    - `num_qubits`: if given, checked against `q`.

    **Returns:** shape ($2^q$,), complex, of unit norm.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.features import feature_map_state
        >>> psi = feature_map_state(jnp.array([0.3, 1.2]))
        >>> round(float(jnp.vdot(psi, psi).real), 6)
        1.0

    Havlíček et al., *Supervised learning with quantum-enhanced feature spaces*, Nature 567
    (2019), eq. 2.
    """
    check_ndim("x", x, 1, "(q,)")
    _check_config(x, num_qubits, reps, entanglement, feature_map)
    return _states(x[None], reps, entanglement, feature_map, alpha)[0]


def fidelity_kernel(
    x: Float[Array, " q"],
    y: Float[Array, " q"],
    *,
    reps: int = 2,
    entanglement: str = "full",
    feature_map: str = "zz",
    alpha: float = 2.0,
    num_qubits: int | None = None,
) -> Float[Array, ""]:
    r"""The fidelity quantum kernel $k(x, y) = |\langle\Phi(x)|\Phi(y)\rangle|^2$ on one pair.

    A pairwise kernel like those of `jaxkern.kernels`, so it works with
    `jaxkern.kernels.gram` and the GP code; for whole Gram matrices
    [`fidelity_gram`][jaxkern.features.fidelity_gram] simulates each point once.

    **Arguments:** `x`, `y` of shape (q,), and the circuit as in
    [`feature_map_state`][jaxkern.features.feature_map_state].

    **Returns:** the scalar $k(x, y) \in [0, 1]$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.features import fidelity_kernel
        >>> x = jnp.array([3.0787608, 1.75929189]); y = jnp.array([6.03185789, 5.27787566])
        >>> round(float(fidelity_kernel(x, y)), 4)
        0.8138

    Havlíček et al., Nature 567 (2019), eq. 3.
    """
    check_ndim("x", x, 1, "(q,)")
    check_ndim("y", y, 1, "(q,)")
    check_same_last_dim("x", x, "y", y)
    _check_config(x, num_qubits, reps, entanglement, feature_map)
    s = _states(jnp.stack([x, y]), reps, entanglement, feature_map, alpha)
    return jnp.abs(jnp.vdot(s[0], s[1])) ** 2


def fidelity_gram(
    X: Float[Array, "n q"],
    Y: Float[Array, "p q"] | None = None,
    *,
    reps: int = 2,
    entanglement: str = "full",
    feature_map: str = "zz",
    alpha: float = 2.0,
    num_qubits: int | None = None,
) -> Float[Array, "n p"]:
    r"""The fidelity-kernel Gram matrix $K_{ij} = |\langle\Phi(x_i)|\Phi(y_j)\rangle|^2$.

    Simulates each point once, $O((n + p)\, q\, 2^q)$, then one complex matrix product,
    $O(n p 2^q)$: the same values as qiskit-machine-learning's `FidelityStatevectorKernel`.

    **Arguments:**

    - `X`: points, shape (n, q).
    - `Y`: points, shape (p, q); defaults to `X`.
    - `reps`, `entanglement`, `feature_map`, `alpha`, `num_qubits`: the circuit, as in
      [`feature_map_state`][jaxkern.features.feature_map_state].

    **Returns:** shape (n, p), in the float dtype of `X`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.features import fidelity_gram
        >>> K = fidelity_gram(jnp.array([[0.1, 0.2], [1.0, 2.0]]))
        >>> jnp.diag(K).round(4).tolist()
        [1.0, 1.0]

    Havlíček et al., Nature 567 (2019), eq. 3.
    """
    check_ndim("X", X, 2, "(n, q)")
    _check_config(X, num_qubits, reps, entanglement, feature_map)
    sx = _states(X, reps, entanglement, feature_map, alpha)
    if Y is None:
        sy = sx
    else:
        check_ndim("Y", Y, 2, "(p, q)")
        check_same_last_dim("X", X, "Y", Y)
        sy = _states(Y, reps, entanglement, feature_map, alpha)
    overlap = jnp.conj(sx) @ sy.T
    return overlap.real**2 + overlap.imag**2


class AdHocData(NamedTuple):
    """Points in $[0, 2\\pi)^q$ and their labels in $\\{-1, +1\\}$ (half of each)."""

    x: Float[Array, "n q"]
    y: Int[Array, " n"]


def ad_hoc_data(
    num_points: int,
    *,
    key: PRNGKeyArray,
    num_qubits: int = 2,
    gap: float = 0.3,
    dtype=None,
) -> AdHocData:
    r"""The paper's "ad hoc" data set: labels that a ZZ-feature-map kernel separates exactly.

    Draw $x$ uniformly in $[0, 2\pi)^q$ and a Haar-random unitary $V$ (fixed by `key`); with
    $|\Phi(x)\rangle$ the ZZ map (2 repetitions, full entanglement) and $\Pi = Z^{\otimes q}$
    the parity, label $x$ by $+1$ if $\langle\Phi(x)|V^\dagger \Pi V|\Phi(x)\rangle \ge \Delta$
    and $-1$ if it is $\le -\Delta$; points inside the gap are rejected. The first
    `num_points // 2` accepted points of each class are returned, shuffled.

    **Arguments:**

    - `num_points`: total number of points (even, $\ge 2$).
    - `key`: PRNG key (fixes $V$ and the points).
    - `num_qubits`: $q$, the dimension of $x$.
    - `gap`: $\Delta \in [0, 1)$, the margin between the classes.
    - `dtype`: float dtype of `x` (default: JAX's default float).

    **Returns:** [`AdHocData`][jaxkern.features.AdHocData] with `x` (n, q) and `y` (n,).

    Example:
        >>> import jax
        >>> from jaxkern.features import ad_hoc_data
        >>> data = ad_hoc_data(20, key=jax.random.key(0))
        >>> data.x.shape, int(data.y.sum())
        ((20, 2), 0)

    Havlíček et al., Nature 567 (2019), "Classification" and Methods.
    """
    check_int("num_points", num_points, 2)
    if num_points % 2:
        raise ValueError(f"`num_points` must be an even int >= 2, got {num_points!r}.")
    if not 0 <= gap < 1:
        raise ValueError(f"`gap` must be in [0, 1), got {gap!r}.")
    _check_config(jnp.zeros(num_qubits), None, 1, "full", "zz")
    dtype = jnp.result_type(float) if dtype is None else dtype
    k_v, k_x, k_perm = jax.random.split(key, 3)
    dim = 2**num_qubits
    g = jax.random.normal(k_v, (2, dim, dim), dtype)
    qmat, r = jnp.linalg.qr(lax.complex(g[0], g[1]))
    angle = jnp.angle(jnp.diagonal(r))
    V = qmat * lax.complex(jnp.cos(angle), jnp.sin(angle))[None, :]  # Haar unitary
    parity = (-1.0) ** _phase_table(num_qubits, ())[:, :num_qubits].sum(axis=1)

    pool = 20 * num_points  # acceptance is about 1 - gap; 20x leaves a wide margin
    x = jax.random.uniform(k_x, (pool, num_qubits), dtype, 0, 2 * jnp.pi)
    amp = _states(x, 2, "full", "zz", 2.0) @ V.T
    value = (jnp.abs(amp) ** 2) @ jnp.asarray(parity, dtype)
    half = num_points // 2
    # Indices of the first `half` accepted points of each class (stable sort on "rejected").
    plus = jnp.argsort(value < gap, stable=True)[:half]
    minus = jnp.argsort(value > -gap, stable=True)[:half]
    enough = (jnp.sum(value >= gap) >= half) & (jnp.sum(value <= -gap) >= half)
    x = eqx.error_if(x, ~enough, "ad_hoc_data: too few points outside the gap; lower `gap`.")
    labels = jnp.concatenate([jnp.ones(half, jnp.int32), -jnp.ones(half, jnp.int32)])
    order = jax.random.permutation(k_perm, num_points)
    return AdHocData(x[jnp.concatenate([plus, minus])][order], labels[order])
