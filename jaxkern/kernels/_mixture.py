r"""Student-t mixture kernel: Matérn-5/2 envelopes times cosines (GP-HM's spectral prior).

The Matérn-5/2 envelope is written with a custom derivative, so that derivatives of the kernel up
to second order in each argument (the ones a PDE solver needs) are exact at $\tau = 0$, where the
envelope's $|\tau|$ would otherwise send automatic differentiation down a one-sided branch.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_positive
from ._modules import Kernel, as_parameter

_SQRT5 = math.sqrt(5.0)


@jax.custom_jvp
def _matern52_envelope(t):
    """$(1 + \\sqrt5 |t| + 5 t^2 / 3) e^{-\\sqrt5 |t|}$ for a scaled lag $t$."""
    a = _SQRT5 * jnp.abs(t)
    return (1 + a + a * a / 3) * jnp.exp(-a)


def _matern52_envelope_slope(t):
    # -(5/3) t (1 + sqrt5 |t|) e^{-sqrt5 |t|}: the factor t makes |t| harmless to autodiff, so the
    # second derivative at 0 comes out as the true -5/3 (and the third as the true 0).
    a = _SQRT5 * jnp.abs(t)
    return -(5.0 / 3.0) * t * (1 + a) * jnp.exp(-a)


@_matern52_envelope.defjvp
def _matern52_envelope_jvp(primals, tangents):
    (t,), (dt,) = primals, tangents
    return _matern52_envelope(t), _matern52_envelope_slope(t) * dt


def student_t_mixture(
    x: Float[ArrayLike, " d"],
    y: Float[ArrayLike, " d"],
    *,
    weights: Float[ArrayLike, " q"],
    means: Float[ArrayLike, "q d"],
    lengthscales: Float[ArrayLike, "q d"],
) -> Float[Array, ""]:
    r"""Student-t mixture kernel: a mixture of Matérn-5/2 envelopes modulated by cosines.

    With $\tau = x - y$ and $m(t) = (1 + \sqrt5 |t| + \tfrac53 t^2) e^{-\sqrt5 |t|}$,
    $$k(\tau) = \sum_{q=1}^{Q} w_q \cos(2\pi \tau^\top \mu_q)
        \prod_{p=1}^{d} m\!\left(\tau_p / \ell_{qp}\right).$$
    Each term's spectral density is a pair of Student-t densities (5 degrees of freedom, the
    Matérn-5/2 spectrum) centred at $\pm\mu_q$, so the mixture is the heavy-tailed sibling of
    `jaxkern.kernels.spectral_mixture`. Value and
    derivatives up to second order in each argument are exact at $\tau = 0$ (the fourth mixed
    derivative of a Matérn-5/2 is infinite there in the limit; autodiff returns a finite value).

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `weights`: $w_q > 0$, shape (Q,).
    - `means`: frequencies $\mu_q$ in cycles per unit, shape (Q, d).
    - `lengthscales`: envelope lengthscales $\ell_{qp} > 0$, shape (Q, d).

    **Returns:** the scalar $k(x, y)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import student_t_mixture
        >>> k = student_t_mixture(jnp.array([0.0]), jnp.array([0.5]), weights=jnp.array([1.0]),
        ...                       means=jnp.array([[1.0]]), lengthscales=jnp.array([[1.0]]))
        >>> round(float(k), 6)  # cos(pi) * matern52(0.5)
        -0.828649

    Fang, Ye, Pan et al., *Solving High Frequency and Multi-Scale PDEs with Gaussian
    Processes*, ICLR 2024 (the GP-HM kernel), eq. 8.
    """
    check_positive("weights", weights)
    check_positive("lengthscales", lengthscales)
    tau = jnp.asarray(x) - jnp.asarray(y)
    envelope = jnp.prod(_matern52_envelope(tau[None, :] / lengthscales), axis=-1)
    return jnp.sum(weights * envelope * jnp.cos(2 * jnp.pi * (means @ tau)))


class StudentTMixture(Kernel):
    """Module form of [`student_t_mixture`][jaxkern.kernels.student_t_mixture]."""

    weights: Array
    means: Array
    lengthscales: Array

    def __init__(self, weights: ArrayLike, means: ArrayLike, lengthscales: ArrayLike):
        self.weights = as_parameter("weights", weights)
        self.means = as_parameter("means", means, allow_zero=True)
        self.lengthscales = as_parameter("lengthscales", lengthscales)
        if self.weights.ndim != 1 or self.means.shape != self.lengthscales.shape or (
            self.means.ndim != 2 or self.means.shape[0] != self.weights.shape[0]
        ):
            raise ValueError(
                "`weights`, `means`, `lengthscales` must have shapes (Q,), (Q, d), (Q, d); got "
                f"{self.weights.shape}, {self.means.shape}, {self.lengthscales.shape}."
            )

    def __call__(self, x, y):
        return student_t_mixture(
            x, y, weights=self.weights, means=self.means, lengthscales=self.lengthscales
        )

