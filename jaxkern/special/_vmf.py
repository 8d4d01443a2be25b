r"""The von Mises–Fisher distribution on the unit sphere $S^{d-1} \subset \mathbb{R}^d$.

$$f(x; \mu, \kappa) = C_d(\kappa) \exp(\kappa \mu^\top x), \qquad
  C_d(\kappa) = \frac{\kappa^{d/2-1}}{(2\pi)^{d/2} I_{d/2-1}(\kappa)},$$
a density with respect to the surface measure of $S^{d-1}$. Every Bessel function goes through
[`log_ive`][jaxkern.special.log_ive], so dimensions in the tens of thousands and $\kappa$ up
to $10^6$ stay finite where $I_{d/2-1}(\kappa)$ itself over- or underflows.
"""

from __future__ import annotations

import math

import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_positive
from ._bessel import log_ive


def _check_dim(dim) -> int:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 2:
        raise ValueError(f"`dim` must be a Python int >= 2 (the ambient dimension), got {dim!r}.")
    return dim


def vmf_log_normalizer(kappa: Float[ArrayLike, "*batch"], dim: int) -> Float[Array, "*batch"]:
    r"""$\log C_d(\kappa)$, the log normaliser of the von Mises–Fisher density on $S^{d-1}$.

    $$\log C_d(\kappa) = (\tfrac d2 - 1)\log\kappa - \tfrac d2 \log(2\pi)
      - \log I_{d/2-1}(\kappa),$$
    with respect to the surface measure of the unit sphere in $\mathbb{R}^d$. At $\kappa = 0$
    it is the uniform density, $-\log|S^{d-1}| = \log\Gamma(d/2) - \log 2 - \tfrac d2\log\pi$.
    Its derivative is $-A_d(\kappa) = -I_{d/2}(\kappa)/I_{d/2-1}(\kappa)$.

    **Arguments:**

    - `kappa`: concentration $\kappa \ge 0$ (any shape).
    - `dim`: the ambient dimension $d \ge 2$, a Python int.

    **Returns:** $\log C_d(\kappa)$, same shape and dtype as `kappa`.

    Example:
        >>> import math
        >>> from jaxkern.special import vmf_log_normalizer
        >>> k = 2.0  # on S^2: C_3(k) = k / (4 pi sinh k)
        >>> exact = math.log(k / (4 * math.pi * math.sinh(k)))
        >>> round(float(vmf_log_normalizer(k, 3)), 5), round(exact, 5)
        (-3.12624, -3.12624)

    Mardia & Jupp, *Directional Statistics* (2000), §9.3.2; Plesner, Sørensen & Hauberg (2024).
    """
    d = _check_dim(dim)
    check_positive("kappa", kappa, allow_zero=True)
    kappa = jnp.asarray(kappa)
    if not jnp.issubdtype(kappa.dtype, jnp.floating):
        kappa = kappa.astype(jnp.result_type(float))
    nu = d / 2 - 1
    positive = kappa > 0
    k = jnp.where(positive, kappa, 1)
    general = nu * jnp.log(k) - (d / 2) * math.log(2 * math.pi) - log_ive(nu, k) - k
    uniform = math.lgamma(d / 2) - math.log(2) - (d / 2) * math.log(math.pi)
    return jnp.where(positive, general, jnp.where(kappa == 0, uniform, jnp.nan))
