r"""Spectral-mixture kernels: stationary kernels whose spectral density is a mixture.

`spectral_mixture` has Gaussian components (Wilson & Adams), `student_t_mixture` Student-t ones
(Matérn-5/2 envelopes times cosines, GP-HM's prior). The envelope is the Matérn-5/2 profile of
`_matern.py`, whose exact slope makes the kernel's derivatives up to second order in each
argument (the ones a PDE solver needs) exact at $\tau = 0$, where $|\tau|$ would otherwise send
automatic differentiation down a one-sided branch.
"""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_positive
from ._matern import matern52_profile

Point = Float[ArrayLike, " d"]
Scalar = Float[Array, ""]


def check_components(weights, means, width_name: str, widths, x=None) -> None:
    """Raise `ValueError` unless the shapes are (Q,), (Q, d), (Q, d), d that of the point `x`.

    A width of another length than the points would broadcast into a different kernel.
    """
    w, m, v = jnp.shape(weights), jnp.shape(means), jnp.shape(widths)
    d = None if x is None else (jnp.shape(x)[-1] if jnp.ndim(x) else 1)
    if len(w) != 1 or len(m) != 2 or v != m or m[0] != w[0] or d not in (None, m[1]):
        of = "" if d is None else f" with d = {d}, the dimension of `x` (shape {jnp.shape(x)})"
        raise ValueError(
            f"`weights`, `means`, `{width_name}` must have shapes (Q,), (Q, d), (Q, d){of}; "
            f"got {w}, {m}, {v}."
        )


def _sum_components(weights: Array, terms: Array) -> Array:
    r"""$\sum_q w_q t_q$, as a dot product rather than a sum of products.

    A Gram matrix of these kernels that feeds a matrix product in the same compiled program
    (the PDE solver's interpolators, $k(X^*, X) K^{-1}$) is otherwise fused into that product
    by XLA's CPU backend (jaxlib 0.10, its YNNPACK reduce fusion), and the fused product is
    about 90 times slower: 22.6 s against 0.24 s for a 900 x 900 Gram of 30 components times
    a 900 x 900 matrix (float64, 2 cores; docs/sharp_bits.md).
    """
    return jnp.dot(weights, terms)


def spectral_mixture(
    x: Point,
    y: Point,
    *,
    weights: Float[ArrayLike, " q"],
    means: Float[ArrayLike, "q d"],
    variances: Float[ArrayLike, "q d"],
) -> Scalar:
    r"""Spectral-mixture kernel: a Gaussian mixture spectral density, transformed.

    With $\tau = x - y$,
    $$k(\tau) = \sum_{q=1}^{Q} w_q \cos(2\pi \tau^\top \mu_q)
        \prod_{p=1}^{d} \exp\left(-2\pi^2 \tau_p^2 v_{q p}\right),$$
    the Fourier transform of $\sum_q w_q [\mathcal N(\mu_q, V_q) + \mathcal N(-\mu_q, V_q)] / 2$.

    **Arguments:**

    - `x`, `y`: points of shape (d,).
    - `weights`: $w_q > 0$, shape (Q,).
    - `means`: spectral means (frequencies) $\mu_q$, shape (Q, d).
    - `variances`: spectral variances $v_{qp} > 0$ (inverse squared lengthscales over
      $4\pi^2$), shape (Q, d).

    **Returns:** the scalar $k(x, y)$.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import spectral_mixture
        >>> x = jnp.array([0.3])
        >>> float(spectral_mixture(x, x, weights=jnp.array([0.5, 1.5]),
        ...       means=jnp.array([[1.0], [3.0]]), variances=jnp.array([[0.1], [0.2]])))
        2.0

    Wilson & Adams, *Gaussian Process Kernels for Pattern Discovery and Extrapolation*,
    ICML 2013, eq. 12.
    """
    check_positive("weights", weights)
    check_positive("variances", variances)
    check_components(weights, means, "variances", variances, x)
    tau = jnp.asarray(x) - jnp.asarray(y)
    envelope = jnp.exp(-2 * jnp.pi**2 * jnp.sum(tau[None, :] ** 2 * variances, axis=-1))
    return _sum_components(weights, envelope * jnp.cos(2 * jnp.pi * (means @ tau)))


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
    check_components(weights, means, "lengthscales", lengthscales, x)
    tau = jnp.asarray(x) - jnp.asarray(y)
    scaled = tau[None, :] / lengthscales
    envelope = jnp.prod(matern52_profile(scaled * scaled), axis=-1)
    return _sum_components(weights, envelope * jnp.cos(2 * jnp.pi * (means @ tau)))
