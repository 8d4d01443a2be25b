r"""State-space (linear SDE) forms of one-dimensional stationary kernels.

A stationary kernel $k(\tau)$ on the real line is, for many families, the covariance of the
output $f(t) = H x(t)$ of a linear time-invariant stochastic differential equation

$$\mathrm{d}x = F x\, \mathrm{d}t + L\, \mathrm{d}\beta, \qquad
  \mathbb E[\mathrm{d}\beta\, \mathrm{d}\beta^\top] = Q_c\, \mathrm{d}t,$$

started in its stationary law $x \sim \mathcal N(0, P_\infty)$, where $P_\infty$ solves the
Lyapunov equation $F P_\infty + P_\infty F^\top + L Q_c L^\top = 0$. Then
$k(\tau) = H e^{F\tau} P_\infty H^\top$ for $\tau \ge 0$, and a GP with that kernel can be
filtered and smoothed in $O(n)$ (`jaxkern.gp.kalman_log_marginal_likelihood`).

Kernels declare their form through `Kernel.state_space()`; this module holds the pure
constructors and the way forms combine (sums are block-diagonal, products are Kronecker sums,
scaling multiplies $P_\infty$ and $Q_c$). Each form also carries its exact transition
$A(\Delta) = e^{F\Delta}$ as a small pytree (`transition`), closed-form for the Matérn,
cosine and constant kernels and composed exactly for sums and products, so that a Kalman filter
never runs a general matrix exponential on the kernels that have a closed one.

Hartikainen & Särkkä, *Kalman filtering and smoothing solutions to temporal Gaussian process
regression models*, MLSP (2010); Solin, *Stochastic differential equation methods for
spatio-temporal Gaussian process regression*, PhD thesis, Aalto (2016), ch. 4; Fang et al.,
*Functional Bayesian Tucker Decomposition for Continuous-indexed Tensor Data*, ICLR (2024).
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import equinox as eqx
import jax.numpy as jnp
import jax.scipy.linalg as jsl
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int, check_positive

__all__ = [
    "StateSpace",
    "constant_state_space",
    "cosine_state_space",
    "matern_state_space",
    "product_state_space",
    "scale_state_space",
    "state_space_from_sde",
    "sum_state_space",
]


# --------------------------------------------------------------------------- transitions


class _Transition(eqx.Module):
    """$\\Delta \\mapsto e^{F \\Delta}$ for a scalar time step $\\Delta$."""

    def __call__(self, dt: Float[Array, ""]) -> Float[Array, "m m"]:
        raise NotImplementedError


class ExpmTransition(_Transition):
    """The general case: `jax.scipy.linalg.expm(F * dt)`."""

    F: Array

    def __call__(self, dt):
        return jsl.expm(self.F * dt)


class MaternTransition(_Transition):
    r"""$e^{\lambda\Delta F_1}$ for the unit companion matrix $F_1$ of $(s + 1)^{p+1}$.

    $N = F_1 + I$ is nilpotent ($N^{p+1} = 0$), so
    $e^{\lambda\Delta F_1} = e^{-\lambda\Delta}\sum_{j=0}^{p} (\lambda\Delta)^j N^j / j!$
    exactly: no Padé approximant, no squaring.
    """

    order: int = eqx.field(static=True)
    rate: Array

    def __call__(self, dt):
        m = self.order + 1
        powers = _nilpotent_powers(self.order)  # (m, m, m) float64 table, N^j / j!
        tau = self.rate * dt
        # tau^j by repeated products: tau ** arange would have a NaN gradient at tau = 0.
        coeffs = jnp.concatenate([jnp.ones((1,), tau.dtype),
                                  jnp.cumprod(jnp.broadcast_to(tau, (m - 1,)))])
        return jnp.exp(-tau) * jnp.tensordot(coeffs, jnp.asarray(powers, tau.dtype), axes=1)


class RotationTransition(_Transition):
    r"""$e^{\Delta F}$, a rotation, for
    $F = \begin{pmatrix}0 & -\omega\\ \omega & 0\end{pmatrix}$."""

    frequency: Array

    def __call__(self, dt):
        c, s = jnp.cos(self.frequency * dt), jnp.sin(self.frequency * dt)
        return jnp.stack([jnp.stack([c, -s]), jnp.stack([s, c])])


class IdentityTransition(_Transition):
    """$F = 0$: the identity of size `size`."""

    size: int = eqx.field(static=True)
    dtype: jnp.dtype = eqx.field(static=True)

    def __call__(self, dt):
        return jnp.eye(self.size, dtype=self.dtype)


class BlockTransition(_Transition):
    """A sum of kernels: the block-diagonal of the parts' transitions."""

    parts: tuple[_Transition, ...]

    def __call__(self, dt):
        return jsl.block_diag(*(part(dt) for part in self.parts))


class KroneckerTransition(_Transition):
    r"""A product of kernels: $e^{(F_a \oplus F_b)\Delta} = e^{F_a\Delta} \otimes e^{F_b\Delta}$."""

    a: _Transition
    b: _Transition

    def __call__(self, dt):
        return jnp.kron(self.a(dt), self.b(dt))


# --------------------------------------------------------------------------- the form


class StateSpace(eqx.Module):
    r"""A linear time-invariant SDE $\mathrm dx = Fx\,\mathrm dt + L\,\mathrm d\beta$,
    $f = Hx$, in its stationary law.

    **Fields:**

    - `F`: feedback matrix, shape (m, m).
    - `L`: noise effect matrix, shape (m, s).
    - `Qc`: spectral density of the white noise $\beta$, shape (s, s).
    - `H`: observation row, shape (m,): $f(t) = H x(t)$.
    - `Pinf`: stationary covariance $P_\infty$, shape (m, m), with
      $F P_\infty + P_\infty F^\top + L Q_c L^\top = 0$.
    - `transition`: a callable pytree, `transition(dt)` $= e^{F\,\mathrm{dt}}$ exactly.

    The covariance of the output is
    $\operatorname{cov}(f(t + \tau), f(t)) = H e^{F\tau} P_\infty H^\top$ for $\tau \ge 0$.
    """

    F: Float[Array, "m m"]
    L: Float[Array, "m s"]
    Qc: Float[Array, "s s"]
    H: Float[Array, " m"]
    Pinf: Float[Array, "m m"]
    transition: _Transition

    @property
    def dim(self) -> int:
        """The state dimension m."""
        return self.F.shape[0]

    def discretise(self, dt: Float[Array, ""]) -> tuple[Array, Array]:
        r"""The exact discrete step over `dt` $\ge 0$: $A = e^{F\,\mathrm{dt}}$ and
        $Q = P_\infty - A P_\infty A^\top$ (so $A = I$, $Q = 0$ at `dt` = 0)."""
        A = self.transition(dt)
        Q = self.Pinf - A @ self.Pinf @ A.T
        return A, 0.5 * (Q + Q.T)


# --------------------------------------------------------------------------- Matérn


@functools.cache
def _matern_unit(order: int) -> tuple[np.ndarray, np.ndarray, float]:
    r"""The unit ($\lambda = 1$, $\sigma^2 = 1$) Matérn-$(p + \tfrac12)$ tables, exact in
    rationals then rounded once to float64: the companion matrix of $(s + 1)^{p+1}$, the
    stationary covariance of $(f, f', \dots, f^{(p)})$ and the noise density $q_1$.

    $P_\infty[i, j] = (-1)^j k^{(i+j)}(0)$ from the Taylor series at $0^+$ of
    $k(\tau) = e^{-\tau}\sum_{i=0}^{p} \frac{p!}{(2p)!}\frac{(p+i)!}{i!(p-i)!}(2\tau)^{p-i}$
    (Rasmussen & Williams eq. 4.16 with $\sqrt{2\nu}/\ell = 1$);
    $q_1 = 2\cdot 4^p (p!)^2/(2p)!$.
    """
    p, m = order, order + 1
    F = np.zeros((m, m))
    F[np.arange(p), np.arange(1, m)] = 1.0
    F[p, :] = [-math.comb(m, k) for k in range(m)]
    # Polynomial part c_j tau^j of k(tau) e^{tau}.
    poly = [Fraction(0)] * m
    for i in range(m):
        poly[p - i] += Fraction(math.factorial(p) * math.factorial(p + i) * 2 ** (p - i),
                                math.factorial(2 * p) * math.factorial(i) * math.factorial(p - i))
    # Taylor coefficients of k = (sum c_j tau^j)(sum (-tau)^l / l!) up to tau^(2p).
    taylor = [sum((poly[j] * Fraction((-1) ** (r - j), math.factorial(r - j))
                   for j in range(min(r, p) + 1)), Fraction(0)) for r in range(2 * p + 1)]
    P = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            r = i + j
            P[i, j] = float((-1) ** j * taylor[r] * math.factorial(r))
    q = 2.0 * 4.0**p * math.factorial(p) ** 2 / math.factorial(2 * p)
    return F, P, q


@functools.cache
def _nilpotent_powers(order: int) -> np.ndarray:
    """$N^j / j!$ for $j = 0..p$ with $N = F_1 + I$, stacked (m, m, m), float64."""
    F, _, _ = _matern_unit(order)
    m = order + 1
    N = F + np.eye(m)
    out, power = np.empty((m, m, m)), np.eye(m)
    for j in range(m):
        out[j] = power / math.factorial(j)
        power = power @ N
    return out


def _scalar(name: str, value) -> Array:
    value = jnp.asarray(value)
    if value.size != 1:
        raise ValueError(
            f"`{name}` must be a scalar (a state-space form is for one-dimensional inputs), "
            f"got shape {value.shape}."
        )
    if not jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.result_type(float))
    return jnp.reshape(value, ())


def matern_state_space(
    order: int, *, lengthscale: ArrayLike = 1.0, variance: ArrayLike = 1.0
) -> StateSpace:
    r"""The Matérn-$(p + \tfrac12)$ kernel as an SDE of dimension $p + 1$, for any integer $p$.

    With $\lambda = \sqrt{2p + 1}/\ell$, $f$ solves
    $(\tfrac{\mathrm d}{\mathrm dt} + \lambda)^{p+1} f = w$, with white noise of density
    $q = 2\sigma^2\lambda^{2p+1}\, 4^p (p!)^2/(2p)!$. The state is scaled,
    $x = (f, f'/\lambda, \dots, f^{(p)}/\lambda^p)$, so that
    $F = \lambda F_1$ with $F_1$ the companion matrix of $(s + 1)^{p+1}$ and
    $P_\infty = \sigma^2 P_1$ with $P_1$ a fixed table (exact rationals rounded once), which
    keeps every entry of order one for any lengthscale; $L = e_{p+1}$,
    $Q_c = \sigma^2\lambda\, q_1$ and $H = e_1$.

    **Arguments:**

    - `order`: $p \ge 0$ (a Python int; $\nu = p + \tfrac12$).
    - `lengthscale`: $\ell > 0$, a scalar.
    - `variance`: $\sigma^2 > 0$, a scalar.

    **Returns:** a [`StateSpace`][jaxkern.kernels.StateSpace].

    Example:
        The Lyapunov equation holds and $H e^{F\tau} P_\infty H^\top$ is the kernel:

        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import matern_state_space, matern32
        >>> ss = matern_state_space(1, lengthscale=0.7)
        >>> float(jnp.abs(ss.F @ ss.Pinf + ss.Pinf @ ss.F.T + ss.L @ ss.Qc @ ss.L.T).max()) < 1e-5
        True
        >>> A, _ = ss.discretise(jnp.asarray(0.4))
        >>> k = ss.H @ A @ ss.Pinf @ ss.H
        >>> bool(jnp.isclose(k, matern32(jnp.zeros(1), jnp.array([0.4]), lengthscale=0.7)))
        True

    Hartikainen & Särkkä (2010), sec. 3; Solin (2016), sec. 4.1.
    """
    check_int("order", order, 0)
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    ell = _scalar("lengthscale", lengthscale)
    var = _scalar("variance", variance).astype(ell.dtype)
    dtype = ell.dtype
    F1, P1, q1 = _matern_unit(order)
    m = order + 1
    rate = math.sqrt(2 * order + 1) / ell
    L = jnp.zeros((m, 1), dtype).at[m - 1, 0].set(1.0)
    return StateSpace(
        F=rate * jnp.asarray(F1, dtype),
        L=L,
        Qc=jnp.reshape(var * rate * q1, (1, 1)),
        H=jnp.zeros(m, dtype).at[0].set(1.0),
        Pinf=var * jnp.asarray(P1, dtype),
        transition=MaternTransition(order, rate),
    )


def cosine_state_space(*, period: ArrayLike = 1.0, variance: ArrayLike = 1.0) -> StateSpace:
    r"""The cosine kernel $\sigma^2\cos(\omega\tau)$, $\omega = 2\pi/p$, as a noiseless
    rotation: $F = \begin{pmatrix}0 & -\omega\\ \omega & 0\end{pmatrix}$, $L = I$, $Q_c = 0$,
    $H = (1, 0)$, $P_\infty = \sigma^2 I$.

    Multiplied by a Matérn form it gives a quasi-periodic kernel whose state process is not
    time-reversible ($F P_\infty \ne P_\infty F^\top$); the stochastic-resonator (SHO-like)
    kernel of Solin & Särkkä (2014) is that product with Matérn-½.

    **Arguments:**

    - `period`: $p > 0$, a scalar.
    - `variance`: $\sigma^2 > 0$, a scalar.

    **Returns:** a [`StateSpace`][jaxkern.kernels.StateSpace].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import cosine_state_space
        >>> ss = cosine_state_space(period=4.0)
        >>> A, Q = ss.discretise(jnp.asarray(1.0))  # a quarter turn, no noise
        >>> [round(abs(float(v)), 6) for v in (ss.H @ A @ ss.Pinf @ ss.H, jnp.abs(Q).max())]
        [0.0, 0.0]

    Solin & Särkkä, *Explicit link between periodic covariance functions and state space
    models*, AISTATS (2014).
    """
    check_positive("period", period)
    check_positive("variance", variance)
    p = _scalar("period", period)
    var = _scalar("variance", variance).astype(p.dtype)
    omega = 2 * jnp.pi / p
    zero = jnp.zeros((), p.dtype)
    F = jnp.stack([jnp.stack([zero, -omega]), jnp.stack([omega, zero])])
    eye = jnp.eye(2, dtype=p.dtype)
    return StateSpace(F=F, L=eye, Qc=jnp.zeros((2, 2), p.dtype),
                      H=jnp.array([1.0, 0.0], p.dtype), Pinf=var * eye,
                      transition=RotationTransition(omega))


def constant_state_space(*, variance: ArrayLike = 1.0) -> StateSpace:
    r"""The constant kernel $k = \sigma^2$: a state that never moves ($F = 0$, $Q_c = 0$,
    $P_\infty = \sigma^2$), i.e. a random offset shared by all times.

    **Arguments:** `variance`: $\sigma^2 > 0$, a scalar.

    **Returns:** a [`StateSpace`][jaxkern.kernels.StateSpace] of dimension 1.

    Example:
        >>> from jaxkern.kernels import constant_state_space
        >>> constant_state_space(variance=2.0).Pinf.tolist()
        [[2.0]]
    """
    check_positive("variance", variance)
    var = _scalar("variance", variance)
    dtype = var.dtype
    return StateSpace(F=jnp.zeros((1, 1), dtype), L=jnp.ones((1, 1), dtype),
                      Qc=jnp.zeros((1, 1), dtype), H=jnp.ones(1, dtype),
                      Pinf=jnp.reshape(var, (1, 1)), transition=IdentityTransition(1, dtype))


def sum_state_space(a: StateSpace, b: StateSpace) -> StateSpace:
    r"""$k_a + k_b$: independent states side by side (block-diagonal $F$, $L$, $Q_c$,
    $P_\infty$; $H = (H_a, H_b)$).

    **Arguments:** `a`, `b`: the two forms.

    **Returns:** a [`StateSpace`][jaxkern.kernels.StateSpace] of dimension $m_a + m_b$.

    Example:
        >>> from jaxkern.kernels import matern_state_space, constant_state_space, sum_state_space
        >>> sum_state_space(matern_state_space(2), constant_state_space()).dim
        4

    Solin (2016), sec. 4.1.5.
    """
    def merge(parts):
        out = []
        for part in parts:
            out.extend(part.parts if isinstance(part, BlockTransition) else (part,))
        return tuple(out)

    return StateSpace(
        F=jsl.block_diag(a.F, b.F),
        L=jsl.block_diag(a.L, b.L),
        Qc=jsl.block_diag(a.Qc, b.Qc),
        H=jnp.concatenate([a.H, b.H]),
        Pinf=jsl.block_diag(a.Pinf, b.Pinf),
        transition=BlockTransition(merge((a.transition, b.transition))),
    )


def product_state_space(a: StateSpace, b: StateSpace) -> StateSpace:
    r"""$k_a k_b$: the Kronecker sum $F = F_a \otimes I + I \otimes F_b$,
    $P_\infty = P_{\infty,a} \otimes P_{\infty,b}$, $H = H_a \otimes H_b$, and the noise
    $L = I$, $Q_c = L_aQ_{c,a}L_a^\top \otimes P_{\infty,b} + P_{\infty,a} \otimes
    L_bQ_{c,b}L_b^\top$, which makes the Lyapunov equation hold by construction.

    **Arguments:** `a`, `b`: the two forms.

    **Returns:** a [`StateSpace`][jaxkern.kernels.StateSpace] of dimension $m_a m_b$.

    Example:
        >>> from jaxkern.kernels import matern_state_space, cosine_state_space
        >>> from jaxkern.kernels import product_state_space
        >>> product_state_space(matern_state_space(1), cosine_state_space()).dim
        4

    Solin (2016), sec. 4.1.5.
    """
    Ia, Ib = jnp.eye(a.dim, dtype=a.F.dtype), jnp.eye(b.dim, dtype=b.F.dtype)
    Qa, Qb = a.L @ a.Qc @ a.L.T, b.L @ b.Qc @ b.L.T
    return StateSpace(
        F=jnp.kron(a.F, Ib) + jnp.kron(Ia, b.F),
        L=jnp.kron(Ia, Ib),
        Qc=jnp.kron(Qa, b.Pinf) + jnp.kron(a.Pinf, Qb),
        H=jnp.kron(a.H, b.H),
        Pinf=jnp.kron(a.Pinf, b.Pinf),
        transition=KroneckerTransition(a.transition, b.transition),
    )


def state_space_from_sde(
    F: Float[ArrayLike, "m m"],
    L: Float[ArrayLike, "m s"],
    Qc: Float[ArrayLike, "s s"],
    H: Float[ArrayLike, " m"],
) -> StateSpace:
    r"""A state-space form from any stable SDE: $P_\infty$ by solving the Lyapunov equation
    $F P_\infty + P_\infty F^\top + L Q_c L^\top = 0$ (as an $m^2 \times m^2$ linear system)
    and the transition by `jax.scipy.linalg.expm`.

    For kernels outside the built-in families, including non-reversible systems (a latent
    process driving a response through a one-way filter), whose $F P_\infty \ne P_\infty
    F^\top$: only the forward transition $e^{F\Delta}$ and $Q = P_\infty - AP_\infty A^\top$
    are ever used, so no reversibility is assumed.

    **Arguments:** `F` (m, m) with eigenvalues in the open left half-plane, `L` (m, s),
    `Qc` (s, s) and `H` (m,).

    **Returns:** a [`StateSpace`][jaxkern.kernels.StateSpace].

    Example:
        An Ornstein–Uhlenbeck process $\mathrm dx = -x\,\mathrm dt + \sqrt2\,\mathrm d\beta$
        has $P_\infty = 1$:

        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import state_space_from_sde
        >>> ss = state_space_from_sde(-jnp.ones((1, 1)), jnp.ones((1, 1)), 2 * jnp.ones((1, 1)),
        ...                           jnp.ones(1))
        >>> round(float(ss.Pinf[0, 0]), 6)
        1.0

    Solin (2016), sec. 4.1.
    """
    F, L, Qc, H = (jnp.asarray(a) for a in (F, L, Qc, H))
    m = F.shape[0]
    if F.ndim != 2 or F.shape != (m, m):
        raise ValueError(f"`F` must be square (m, m), got shape {F.shape}.")
    if L.ndim != 2 or L.shape[0] != m or Qc.shape != (L.shape[1], L.shape[1]) or H.shape != (m,):
        raise ValueError(f"`L` must be (m, s), `Qc` (s, s) and `H` (m,) with m = {m}; got "
                         f"{L.shape}, {Qc.shape} and {H.shape}.")
    dtype = jnp.result_type(F, L, Qc, H, float)
    F, L, Qc, H = (a.astype(dtype) for a in (F, L, Qc, H))
    eye = jnp.eye(m, dtype=dtype)
    rhs = -(L @ Qc @ L.T).reshape(-1)
    P = jnp.linalg.solve(jnp.kron(F, eye) + jnp.kron(eye, F), rhs).reshape(m, m)
    return StateSpace(F=F, L=L, Qc=Qc, H=H, Pinf=0.5 * (P + P.T), transition=ExpmTransition(F))


def scale_state_space(ss: StateSpace, scale: ArrayLike) -> StateSpace:
    r"""$c\,k$ for $c > 0$: $P_\infty$ and $Q_c$ times $c$, the dynamics unchanged.

    **Arguments:** `ss`: the form; `scale`: $c > 0$.

    **Returns:** a [`StateSpace`][jaxkern.kernels.StateSpace].

    Example:
        >>> from jaxkern.kernels import constant_state_space, scale_state_space
        >>> scale_state_space(constant_state_space(), 3.0).Pinf.tolist()
        [[3.0]]
    """
    check_positive("scale", scale)
    c = _scalar("scale", scale).astype(ss.Pinf.dtype)
    return eqx.tree_at(lambda s: (s.Qc, s.Pinf), ss, (c * ss.Qc, c * ss.Pinf))


def no_state_space(kernel) -> ValueError:
    """The error a kernel without a state-space form raises."""
    return ValueError(
        f"{type(kernel).__name__} has no exact state-space (SDE) form; state-space GPs take "
        "Matern12/32/52/72, Matern with a half-integer `nu`, Cosine, Constant, and their "
        "sums, products and positive scalings (one-dimensional inputs)."
    )

