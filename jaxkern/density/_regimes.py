r"""The statistical regimes of a Gaussian KDE when $\log n$ and $d$ grow together.

Data $y_i \sim \mathcal{N}(0, I_d)$, a query $x$ drawn from the same law, and the Gaussian
kernel of width $h$. With $\alpha = \log(n)/d$ fixed, the sum $\sum_i e^{-\|x - y_i\|^2/2h^2}$
behaves like the partition function of a random energy model: its $q$-th moment is carried by
points from the $q/h^2$-tilted law, which a sample of size $n = e^{\alpha d}$ contains only
while the tilt's relative entropy per dimension stays below $\alpha$.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int, check_positive


def tilt_entropy(b: Float[ArrayLike, "*s"]) -> Float[Array, "*s"]:
    r"""Relative entropy per dimension of the $b$-tilted Gaussian data law.

    For $y \sim \mathcal{N}(0, I_d)$ and a typical query ($\|x\|^2 = d$), the law
    $\propto e^{-\|y\|^2/2 - b\|x-y\|^2/2}$ is $\mathcal{N}\big(\tfrac{b}{1+b}x,
    \tfrac{1}{1+b} I\big)$, and
    $$\frac{1}{d}\,\mathrm{KL}\big(\text{tilted} \,\|\, \mathcal{N}(0, I)\big)
      = \frac12\Big[\log(1+b) - \frac{b}{(1+b)^2}\Big],$$
    increasing from 0 at $b = 0$. A sample of $n = e^{\alpha d}$ points reaches the tilted
    region while this is below $\alpha$.

    **Arguments:**

    - `b`: tilt $q/h^2 \ge 0$ ($q = 1$ for the mean of the KDE, $q = 2$ for its variance).

    **Returns:** the entropy per dimension, same shape as `b`.

    Example:
        >>> from jaxkern.density import tilt_entropy
        >>> round(float(tilt_entropy(1.0)), 6)
        0.221574

    Biroli & Mézard, *Kernel density estimators in large dimensions* (2024).
    """
    check_positive("b", b, allow_zero=True)
    b = jnp.asarray(b)
    return 0.5 * (jnp.log1p(b) - b / (1 + b) ** 2)


class Regimes(NamedTuple):
    r"""Bandwidth thresholds of the Gaussian KDE at $\alpha = \log(n)/d$."""

    h_g: Array
    r"""Below $h_G$ the estimate is an extreme-value sum: a few nearest points dominate."""
    h_clt: Array
    r"""Above $h_{CLT} = \sqrt{2}\, h_G$ the estimate is Gaussian (CLT); between, it is
    $\mu$-stable with $\mu = (h/h_G)^2 \in (1, 2)$."""


def kde_regimes(alpha: Float[ArrayLike, ""], *, iterations: int = 200) -> Regimes:
    r"""The thresholds $h_G(\alpha)$ and $h_{CLT}(\alpha)$ of a Gaussian KDE on Gaussian data.

    With data $\mathcal{N}(0, I_d)$, $n = e^{\alpha d}$ points and a Gaussian kernel of
    width $h$, the $q$-th moment of $\hat\rho_h(x)$ over the sample is carried by the
    $q/h^2$-tilted law ([`tilt_entropy`][jaxkern.density.tilt_entropy]). The sample holds
    such points while $\mathrm{KL}(q/h^2) < \alpha$, so
    $$\mathrm{KL}\big(1/h_G^2\big) = \alpha \quad\text{(the mean is reached: law of large
      numbers)}, \qquad \mathrm{KL}\big(2/h_{CLT}^2\big) = \alpha \quad\text{(the variance is
      reached: CLT)},$$
    giving $h_{CLT} = \sqrt{2}\,h_G$. For $h < h_G$ the estimate is governed by extreme
    values; for $h_G < h < h_{CLT}$ its fluctuations are heavy-tailed (stable with index
    $(h/h_G)^2$); above $h_{CLT}$ they are Gaussian. Data of covariance $\sigma^2 I$ scale
    both thresholds by $\sigma$. $\mathrm{KL}(b) = \alpha$ is solved by bisection in
    $\log b$.

    **Arguments:**

    - `alpha`: $\log(n)/d > 0$.
    - `iterations`: bisection steps on $\log b \in [-40, 40]$.

    **Returns:** [`Regimes`][jaxkern.density.Regimes] with `h_g` and `h_clt`.

    Example:
        >>> from jaxkern.density import kde_regimes
        >>> r = kde_regimes(0.5)
        >>> round(float(r.h_g), 4), round(float(r.h_clt), 4)
        (0.6521, 0.9223)

    Biroli & Mézard, *Kernel density estimators in large dimensions* (2024); the moment
    argument is the random-energy-model analysis of Ben Arous, Bogachev & Molchanov,
    *Limit theorems for sums of random exponentials*, PTRF 132 (2005).
    """
    check_positive("alpha", alpha)
    check_int("iterations", iterations, 1)
    alpha = jnp.asarray(alpha, dtype=jnp.result_type(float))

    def step(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        below = tilt_entropy(jnp.exp(mid)) < alpha
        return jnp.where(below, mid, lo), jnp.where(below, hi, mid)

    lo, hi = lax.fori_loop(
        0, iterations, step, (jnp.full_like(alpha, -40.0), jnp.full_like(alpha, 40.0))
    )
    b_g = jnp.exp(0.5 * (lo + hi))
    h_g = 1 / jnp.sqrt(b_g)
    return Regimes(h_g, math.sqrt(2) * h_g)
