r"""Kernel means $z(x) = \int k(x, t)\, d\mu(t)$ and initial variances $\iint k\, d\mu\, d\mu$.

Closed forms for the RBF kernel (Lebesgue measure on a box, diagonal Gaussian measure) and the
Matérn-$\nu$ kernels, $\nu \in \{1/2, 3/2, 5/2, 7/2\}$ (Lebesgue measure on an interval, and as
products on a box). Every function is pure and differentiable in the points, the measure and
the hyperparameters. [`kernel_mean`][jaxkern.quadrature.kernel_mean] and
[`initial_variance`][jaxkern.quadrature.initial_variance] ask the kernel module what it is
(`terms()`, and each term's `family` and `nu`) and sum the closed forms of its terms.
"""

from __future__ import annotations

import functools
import math

import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf, erfc
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_ndim, check_per_dim, check_positive
from ..kernels import check_nu
from ._measures import GaussianMeasure, LebesgueMeasure

Point = Float[ArrayLike, " d"]
PerDim = Float[ArrayLike, "*d"]


def _per_dim(**parts) -> tuple[Array, ...]:
    """The point and per-coordinate parameters as arrays of one shape (d,), in the first's dtype.

    Each is a scalar or shape (d,), with d the point's length where there is a point `x`;
    anything else (a 2-D point, a full (d, d) covariance, a lengthscale for another number of
    dimensions) is a ValueError naming it, rather than a broadcast that would silently
    multiply wrong factors.
    """
    arrays = {}
    for name, value in parts.items():
        value = jnp.asarray(value)
        if value.ndim > 1:
            raise ValueError(
                f"`{name}` must be a scalar or have shape (d,), got shape {value.shape}."
            )
        if name != "x" and "x" in parts:
            check_per_dim(name, value, jnp.shape(parts["x"]))
        arrays[name] = jnp.atleast_1d(value)
    dtype = next(iter(arrays.values())).dtype
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    try:
        shape = jnp.broadcast_shapes(*(v.shape for v in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{name} {v.shape}" for name, v in arrays.items())
        raise ValueError(
            f"per-coordinate arguments must share one length d, got {shapes}."
        ) from None
    return tuple(jnp.broadcast_to(v.astype(dtype), shape) for v in arrays.values())


def _erf_difference(lo: Array, hi: Array) -> Array:
    """$\\operatorname{erf}(hi) - \\operatorname{erf}(lo)$ for lo < hi, via erfc in the tails.

    Both erf values are near $\\pm 1$ when the point is far outside the box; the erfc form keeps
    the (tiny) difference to full relative accuracy there.
    """
    right = erfc(jnp.maximum(lo, 0)) - erfc(jnp.maximum(hi, 0))
    left = erfc(jnp.maximum(-hi, 0)) - erfc(jnp.maximum(-lo, 0))
    return jnp.where(lo >= 0, right, jnp.where(hi <= 0, left, erf(hi) - erf(lo)))


def rbf_lebesgue_mean(
    x: Point, *, lower: PerDim, upper: PerDim, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Float[Array, ""]:
    r"""Kernel mean of the RBF kernel under the Lebesgue measure on a box.

    $$z(x) = \sigma^2 \prod_{i=1}^d \ell_i \sqrt{\tfrac{\pi}{2}}\left[
        \operatorname{erf}\Bigl(\tfrac{b_i - x_i}{\sqrt2\, \ell_i}\Bigr)
        - \operatorname{erf}\Bigl(\tfrac{a_i - x_i}{\sqrt2\, \ell_i}\Bigr)\right].$$

    **Arguments:**

    - `x`: the point, shape (d,).
    - `lower`, `upper`: the box $\prod_i [a_i, b_i]$, scalars or shape (d,).
    - `lengthscale`: $\ell > 0$, scalar or (d,).
    - `variance`: $\sigma^2 > 0$.

    **Returns:** the scalar $z(x)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.quadrature import rbf_lebesgue_mean
        >>> round(float(rbf_lebesgue_mean(jnp.array([0.0]), lower=-1.0, upper=1.0)), 6)
        1.711249

    Briol et al., *Probabilistic integration*, Statist. Sci. 34 (2019), Table 1.
    """
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    x, a, b, ell = _per_dim(x=x, lower=lower, upper=upper, lengthscale=lengthscale)
    s = math.sqrt(2.0) * ell
    per_dim = ell * math.sqrt(math.pi / 2) * _erf_difference((a - x) / s, (b - x) / s)
    return variance * jnp.prod(per_dim)


def rbf_lebesgue_variance(
    *, lower: PerDim, upper: PerDim, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Float[Array, ""]:
    r"""Initial variance $\iint k(x, t)\, dx\, dt$ of the RBF kernel over a box.

    With $L_i = b_i - a_i$,
    $$v_0 = \sigma^2 \prod_{i=1}^d \left[2 \ell_i^2 \bigl(e^{-L_i^2 / 2\ell_i^2} - 1\bigr)
        + \sqrt{2\pi}\, \ell_i L_i
        \operatorname{erf}\Bigl(\tfrac{L_i}{\sqrt2\, \ell_i}\Bigr)\right].$$

    **Arguments:** as [`rbf_lebesgue_mean`][jaxkern.quadrature.rbf_lebesgue_mean], less `x`.

    **Returns:** the scalar $v_0$.

    Example:
        >>> from jaxkern.quadrature import rbf_lebesgue_variance
        >>> round(float(rbf_lebesgue_variance(lower=0.0, upper=1.0)), 6)
        0.92431

    Briol et al. (2019), Table 1.
    """
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    a, b, ell = _per_dim(lower=lower, upper=upper, lengthscale=lengthscale)
    L = b - a
    per_dim = 2 * ell**2 * jnp.expm1(-(L**2) / (2 * ell**2)) + math.sqrt(
        2 * math.pi
    ) * ell * L * erf(L / (math.sqrt(2.0) * ell))
    return variance * jnp.prod(per_dim)


def rbf_gaussian_mean(
    x: Point, *, mean: PerDim, cov: PerDim, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Float[Array, ""]:
    r"""Kernel mean of the RBF kernel under a diagonal Gaussian measure $\mathcal N(\mu, s^2)$.

    $$z(x) = \sigma^2 \prod_{i=1}^d \frac{\ell_i}{\sqrt{\ell_i^2 + s_i^2}}
        \exp\left(-\frac{(x_i - \mu_i)^2}{2(\ell_i^2 + s_i^2)}\right).$$

    **Arguments:**

    - `x`: the point, shape (d,).
    - `mean`: $\mu$, scalar or (d,).
    - `cov`: the measure's covariance, diagonal: $s^2 > 0$ as a scalar (isotropic) or shape
      (d,) (the diagonal), as [`GaussianMeasure`][jaxkern.quadrature.GaussianMeasure]'s `cov`;
      a full (d, d) covariance raises.
    - `lengthscale`, `variance`: the kernel's ($\ell$ and the amplitude $\sigma^2$).

    **Returns:** the scalar $z(x)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.quadrature import rbf_gaussian_mean
        >>> round(float(rbf_gaussian_mean(jnp.array([0.0]), mean=0.0, cov=3.0)), 6)
        0.5

    Briol et al. (2019), Table 1; Rasmussen & Ghahramani, *Bayesian Monte Carlo*, NeurIPS 2002.
    """
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    x, mu, s2, ell = _per_dim(x=x, mean=mean, cov=cov, lengthscale=lengthscale)
    check_positive("cov", cov)
    t = ell**2 + s2
    return variance * jnp.prod(ell / jnp.sqrt(t) * jnp.exp(-((x - mu) ** 2) / (2 * t)))


def rbf_gaussian_variance(
    *, cov: PerDim, lengthscale: PerDim = 1.0, variance: ArrayLike = 1.0
) -> Float[Array, ""]:
    r"""Initial variance of the RBF kernel under $\mathcal N(\mu, \operatorname{diag}(s^2))$.

    $$v_0 = \sigma^2 \prod_{i=1}^d \frac{\ell_i}{\sqrt{\ell_i^2 + 2 s_i^2}}$$
    (it does not depend on $\mu$).

    **Arguments:** `cov`, `lengthscale`, `variance` as in
    [`rbf_gaussian_mean`][jaxkern.quadrature.rbf_gaussian_mean].

    **Returns:** the scalar $v_0$.

    Example:
        >>> from jaxkern.quadrature import rbf_gaussian_variance
        >>> round(float(rbf_gaussian_variance(cov=1.5)), 6)
        0.5

    Briol et al. (2019), Table 1.
    """
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    s2, ell = _per_dim(cov=cov, lengthscale=lengthscale)
    check_positive("cov", cov)
    return variance * jnp.prod(ell / jnp.sqrt(ell**2 + 2 * s2))


@functools.cache
def _matern_tables(nu: float) -> tuple[float, np.ndarray, float, np.ndarray]:
    """Constants of $G(u) = \\int_0^u p(s) e^{-s} ds$ and $H(U) = \\int_0^U G$ for Matérn-nu.

    With $m_\\nu(s) = p(s) e^{-s}$ ($s = \\sqrt{2\\nu}\\, r / \\ell$), $G(u) = A - e^{-u} q(u)$
    and $H(U) = A U - B + e^{-U} h(U)$. Returned as float64 (A, q, B, h), coefficients in
    increasing powers, built once per order.
    """
    m = int(nu - 0.5)
    f = math.factorial
    p = np.array(
        [f(m) / f(2 * m) * f(2 * m - j) / (f(m - j) * f(j)) * 2.0**j for j in range(m + 1)]
    )

    def integrate(c):
        # int_0^U c(u) e^{-u} du = sum_j c_j j! - e^{-U} sum_i U^i/i! sum_{j>=i} c_j j!
        tail = np.cumsum((c * [f(j) for j in range(len(c))])[::-1])[::-1]
        return tail[0], tail / [f(i) for i in range(len(c))]

    A, q = integrate(p)
    B, h = integrate(q)
    return float(A), q, float(B), h


def _polyval(coeffs: np.ndarray, u: Array) -> Array:
    return jnp.polyval(jnp.asarray(coeffs[::-1], u.dtype), u)


def _matern_interval(nu: float, u1: Array, u2: Array) -> Array:
    """$G(u_1) + G(u_2)$ for $G$ extended oddly, where $G(u) = A - E(u)$, $E(u) = e^{-u} q(u)$.

    Inside the interval ($u_1, u_2 \\ge 0$) this is $2A - E(u_1) - E(u_2)$; outside, one
    $u_i$ is negative and the constants cancel analytically, leaving $\\pm(E(|u_1|) - E(|u_2|))$
    at full relative accuracy in the far tail. Smooth through $u_i = 0$ (slope 1 there).
    """
    A, q, _, _ = _matern_tables(nu)

    def E(u):
        u = jnp.where(u >= 0, u, -u)
        return jnp.exp(-u) * _polyval(q, u)

    e1, e2 = E(u1), E(u2)
    return jnp.where(u1 < 0, e1 - e2, jnp.where(u2 < 0, e2 - e1, 2 * A - e1 - e2))


def _check_matern(nu, lengthscale, variance) -> float:
    nu = check_nu(nu)
    check_positive("lengthscale", lengthscale)
    check_positive("variance", variance)
    return nu


def matern_lebesgue_mean(
    x: Point,
    *,
    nu: float,
    lower: PerDim,
    upper: PerDim,
    lengthscale: PerDim = 1.0,
    variance: ArrayLike = 1.0,
) -> Float[Array, ""]:
    r"""Kernel mean of the (product) Matérn-$\nu$ kernel under the Lebesgue measure on a box.

    Write the unit Matérn correlation as $m_\nu(s) = p_\nu(s) e^{-s}$ with
    $s = c\,|x - t|$, $c = \sqrt{2\nu} / \ell$ ($p_{1/2} = 1$, $p_{3/2} = 1 + s$,
    $p_{5/2} = 1 + s + s^2/3$, $p_{7/2} = 1 + s + 2s^2/5 + s^3/15$), and
    $G(u) = \int_0^u p_\nu(s) e^{-s} ds = A - e^{-u} q(u)$, extended oddly to $u < 0$. Then on
    an interval
    $$\int_a^b k(x, t)\, dt = \frac{\sigma^2}{c}\bigl[G(c(x - a)) + G(c(b - x))\bigr],$$
    valid for $x$ inside or outside $[a, b]$, and on a box the product of these over coordinates
    (for [`ProductMatern`][jaxkern.kernels.ProductMatern]).

    **Arguments:**

    - `x`: the point, shape (d,).
    - `nu`: 0.5, 1.5, 2.5 or 3.5 (a Python float).
    - `lower`, `upper`: the box, scalars or shape (d,).
    - `lengthscale`: $\ell > 0$, scalar or (d,).
    - `variance`: $\sigma^2 > 0$.

    **Returns:** the scalar $z(x)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.quadrature import matern_lebesgue_mean
        >>> round(float(matern_lebesgue_mean(jnp.array([0.0]), nu=0.5, lower=0.0, upper=1.0)), 6)
        0.632121

    Briol et al. (2019), Table 1; the polynomial form as in ProbNum's Matérn–Lebesgue
    embeddings (Wenger et al., 2021).
    """
    nu = _check_matern(nu, lengthscale, variance)
    x, a, b, ell = _per_dim(x=x, lower=lower, upper=upper, lengthscale=lengthscale)
    c = math.sqrt(2 * nu) / ell
    per_dim = _matern_interval(nu, c * (x - a), c * (b - x)) / c
    return variance * jnp.prod(per_dim)


def matern_lebesgue_variance(
    *,
    nu: float,
    lower: PerDim,
    upper: PerDim,
    lengthscale: PerDim = 1.0,
    variance: ArrayLike = 1.0,
) -> Float[Array, ""]:
    r"""Initial variance $\iint k(x, t)\, dx\, dt$ of the (product) Matérn-$\nu$ kernel on a box.

    With $G$ as in [`matern_lebesgue_mean`][jaxkern.quadrature.matern_lebesgue_mean],
    $H(U) = \int_0^U G(u)\, du$ and $L_i = b_i - a_i$,
    $$v_0 = \sigma^2 \prod_{i=1}^d \frac{2}{c_i^2} H(c_i L_i).$$

    **Arguments:** as [`matern_lebesgue_mean`][jaxkern.quadrature.matern_lebesgue_mean],
    less `x`.

    **Returns:** the scalar $v_0$.

    Example:
        >>> from jaxkern.quadrature import matern_lebesgue_variance
        >>> round(float(matern_lebesgue_variance(nu=0.5, lower=0.0, upper=1.0)), 6)
        0.735759

    Briol et al. (2019), Table 1.
    """
    nu = _check_matern(nu, lengthscale, variance)
    a, b, ell = _per_dim(lower=lower, upper=upper, lengthscale=lengthscale)
    c = math.sqrt(2 * nu) / ell
    U = c * (b - a)
    A, _, B, h = _matern_tables(nu)
    H = A * U - B + jnp.exp(-U) * _polyval(h, U)
    return variance * jnp.prod(2 * H / c**2)


_SUPPORTED = (
    "kernels whose terms are RBF, Matern12/32/52/72, ProductMatern, scaled and summed"
)


def _closed_form_terms(kernel, measure) -> tuple[tuple, ...]:
    """The kernel as ((weight, family, nu, base kernel), ...), each term with a closed form.

    Asks the kernel, never its type: `kernel.terms()` gives $k = \\sum_i w_i k_i$ and each base
    kernel's `family` ("rbf", "matern", "product_matern") and `nu` choose the formula. Raises a
    ValueError naming what is supported when a term has none for this measure.
    """
    if not isinstance(measure, LebesgueMeasure | GaussianMeasure):
        raise ValueError(
            "`measure` must be a LebesgueMeasure or a GaussianMeasure, got "
            f"{type(measure).__name__}."
        )
    terms = getattr(kernel, "terms", None)
    if not callable(terms):
        raise ValueError(
            f"`kernel`: closed-form kernel means exist for jaxkern kernel modules, {_SUPPORTED}; "
            f"got {type(kernel).__name__}."
        )
    out = []
    for weight, base in terms():
        family = getattr(base, "family", None)
        if family not in ("rbf", "matern", "product_matern"):
            what = type(kernel).__name__
            if base is not kernel:
                what = f"{what} with a term {type(base).__name__}"
            raise ValueError(
                f"`kernel`: closed-form kernel means exist for {_SUPPORTED}; got {what}."
            )
        nu = None if family == "rbf" else check_nu(base.nu)
        check_per_dim("lengthscale", base.lengthscale, (measure.dim,), "the measure")
        if family != "rbf" and not isinstance(measure, LebesgueMeasure):
            raise ValueError(
                "`measure`: Matérn kernel means are available under the Lebesgue measure only "
                f"(got a {type(base).__name__} term); use RBF for a GaussianMeasure."
            )
        if family == "matern" and measure.dim != 1:
            raise ValueError(
                f"`kernel`: the isotropic {type(base).__name__} has no closed-form mean on a "
                f"{measure.dim}-D box; use ProductMatern(nu={nu}) there."
            )
        out.append((weight, family, nu, base))
    return tuple(out)


def _weighted_sum(pairs) -> Array:
    """$\\sum_i w_i v_i$ over (weight, value) pairs: kernel means are linear in the kernel."""
    values = [w * v for w, v in pairs]
    return sum(values[1:], values[0])


def _term_mean(family, nu, base, x, measure) -> Array:
    ell, var = base.lengthscale, base.variance
    if family != "rbf":
        return matern_lebesgue_mean(
            x, nu=nu, lower=measure.lower, upper=measure.upper, lengthscale=ell, variance=var
        )
    if isinstance(measure, LebesgueMeasure):
        return rbf_lebesgue_mean(
            x, lower=measure.lower, upper=measure.upper, lengthscale=ell, variance=var
        )
    return rbf_gaussian_mean(x, mean=measure.mean, cov=measure.cov, lengthscale=ell, variance=var)


def _term_variance(family, nu, base, measure) -> Array:
    ell, var = base.lengthscale, base.variance
    if family != "rbf":
        return matern_lebesgue_variance(
            nu=nu, lower=measure.lower, upper=measure.upper, lengthscale=ell, variance=var
        )
    if isinstance(measure, LebesgueMeasure):
        return rbf_lebesgue_variance(
            lower=measure.lower, upper=measure.upper, lengthscale=ell, variance=var
        )
    return rbf_gaussian_variance(cov=measure.cov, lengthscale=ell, variance=var)


def kernel_mean(kernel, x: Point, measure) -> Float[Array, ""]:
    r"""The kernel mean $z(x) = \int k(x, t)\, d\mu(t)$ of a kernel module.

    Asks the kernel what it is: `kernel.terms()` writes it as $k = \sum_i w_i k_i$ (scaling
    `c * k` and sums `k1 + k2` of kernel modules), and each base kernel's `family`, `nu`,
    `lengthscale` and `variance` choose a closed form; the mean is linear,
    $z(x) = \sum_i w_i z_i(x)$. Closed forms: `RBF` under a
    [`LebesgueMeasure`][jaxkern.quadrature.LebesgueMeasure] or a
    [`GaussianMeasure`][jaxkern.quadrature.GaussianMeasure]; `Matern12`, `Matern32`,
    `Matern52`, `Matern72` under a one-dimensional `LebesgueMeasure`; `ProductMatern` under a
    `LebesgueMeasure` on a box of any dimension. Products of kernels and other families raise.

    **Arguments:**

    - `kernel`: a kernel module whose terms are among those above, scaled and summed.
    - `x`: the point, shape (d,) with d the measure's dimension.
    - `measure`: the integration measure.

    **Returns:** the scalar $z(x)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import RBF, Matern12
        >>> from jaxkern.quadrature import LebesgueMeasure, kernel_mean
        >>> m, x = LebesgueMeasure(0.0, 1.0), jnp.array([0.0])
        >>> round(float(kernel_mean(Matern12(), x, m)), 6)
        0.632121
        >>> round(float(kernel_mean(2.0 * Matern12() + RBF(), x, m)), 4)  # 2 (0.632121) + 0.855624
        2.1199
    """
    terms = _closed_form_terms(kernel, measure)
    check_ndim("x", x, 1, "(d,)")
    if jnp.shape(x)[0] != measure.dim:
        raise ValueError(
            f"`x` must have the measure's dimension {measure.dim}, got shape {jnp.shape(x)}."
        )
    return _weighted_sum((w, _term_mean(fam, nu, k, x, measure)) for w, fam, nu, k in terms)


def initial_variance(kernel, measure) -> Float[Array, ""]:
    r"""The initial variance $v_0 = \iint k(x, t)\, d\mu(x)\, d\mu(t)$ of a kernel module.

    The prior variance of the integral; linear in the kernel,
    $v_0 = \sum_i w_i v_{0,i}$ over `kernel.terms()`; supported kernels and measures as for
    [`kernel_mean`][jaxkern.quadrature.kernel_mean].

    **Arguments:**

    - `kernel`: a supported kernel module (see [`kernel_mean`][jaxkern.quadrature.kernel_mean]).
    - `measure`: the integration measure.

    **Returns:** the scalar $v_0$.

    Example:
        >>> from jaxkern.kernels import RBF
        >>> from jaxkern.quadrature import GaussianMeasure, initial_variance
        >>> round(float(initial_variance(RBF(), GaussianMeasure(0.0, 1.5))), 6)
        0.5
        >>> round(float(initial_variance(3.0 * RBF(), GaussianMeasure(0.0, 1.5))), 6)
        1.5
    """
    terms = _closed_form_terms(kernel, measure)
    return _weighted_sum((w, _term_variance(fam, nu, k, measure)) for w, fam, nu, k in terms)
