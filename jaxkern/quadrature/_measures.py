"""Integration measures: the Lebesgue measure on a box and a diagonal Gaussian measure."""

from __future__ import annotations

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_ndim, check_positive, concrete_or_none, warn_deprecated


def _as_float_vector(name: str, value) -> Array:
    # Python numbers become the default float dtype; float arrays keep theirs; shape (d,).
    dtype = getattr(value, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    out = jnp.atleast_1d(jnp.asarray(value, dtype=dtype))
    check_ndim(name, out, 1, "() or (d,)")
    return out


class LebesgueMeasure(eqx.Module):
    r"""The (unnormalised) Lebesgue measure on the box $\prod_i [a_i, b_i]$.

    $\int f\, d\mu = \int_{a_1}^{b_1} \cdots \int_{a_d}^{b_d} f(t)\, dt$: the plain integral,
    not the average (divide by the volume for that).

    **Arguments:**

    - `lower`: $a$, a scalar (an interval) or shape (d,).
    - `upper`: $b > a$, same shape as `lower`.

    Example:
        >>> from jaxkern.quadrature import LebesgueMeasure
        >>> LebesgueMeasure(0.0, 2.0).dim
        1
    """

    lower: Float[Array, " d"]
    upper: Float[Array, " d"]

    def __init__(self, lower: Float[ArrayLike, "*d"], upper: Float[ArrayLike, "*d"]):
        self.lower = _as_float_vector("lower", lower)
        self.upper = _as_float_vector("upper", upper)
        if self.lower.shape != self.upper.shape:
            raise ValueError(
                f"`lower` and `upper` must have the same shape, got {self.lower.shape} and "
                f"{self.upper.shape}."
            )
        lo, hi = concrete_or_none(self.lower), concrete_or_none(self.upper)
        if lo is not None and hi is not None and not np.all(hi > lo):
            raise ValueError(f"`upper` must exceed `lower`, got lower={lo} and upper={hi}.")

    @property
    def dim(self) -> int:
        return self.lower.shape[0]


class GaussianMeasure(eqx.Module):
    r"""The Gaussian measure $\mathcal N(\mu, \operatorname{diag}(s^2))$ on $\mathbb R^d$.

    **Arguments:**

    - `mean`: $\mu$, a scalar or shape (d,).
    - `cov`: the covariance, diagonal: a scalar $s^2 > 0$ (isotropic,
      $s^2 I$) or shape (d,) (the diagonal $s_1^2, \dots, s_d^2$). A full (d, d) covariance
      is not supported (raises); rotate the problem to the covariance's eigenbasis instead.
      Stored as the field `cov`, shape (d,).
    - `variance`: deprecated keyword for `cov` (the same value; it warns). The read-only
      property `measure.variance` returns `cov` and warns too. The name `variance` is kept
      for a kernel's amplitude $\sigma^2$ and a posterior's variance
      ([`Marginals`][jaxkern.Marginals]).

    Example:
        >>> from jaxkern.quadrature import GaussianMeasure
        >>> GaussianMeasure([0.0, 1.0], cov=2.0).cov.tolist()
        [2.0, 2.0]
    """

    mean: Float[Array, " d"]
    cov: Float[Array, " d"]

    def __init__(
        self,
        mean: Float[ArrayLike, "*d"],
        cov: Float[ArrayLike, "*d"] | None = None,
        *,
        variance: Float[ArrayLike, "*d"] | None = None,
    ):
        if variance is not None:
            if cov is not None:
                raise ValueError(
                    "Give the covariance once, as `cov` (`variance` is its deprecated name)."
                )
            warn_deprecated("GaussianMeasure(variance=...)", "`cov=` (the same value)")
            cov = variance
        if cov is None:
            raise ValueError("`cov` is required: the (diagonal) covariance of the measure.")
        self.mean = _as_float_vector("mean", mean)
        if jnp.ndim(cov) > 1:
            raise ValueError(
                "`cov` must be a scalar or the diagonal of the covariance, shape (d,); a full "
                f"covariance is not supported, got shape {jnp.shape(cov)}."
            )
        check_positive("cov", cov)
        cov = _as_float_vector("cov", cov)
        if cov.shape not in ((1,), self.mean.shape):
            raise ValueError(
                f"`cov` must be a scalar or match `mean`'s shape {self.mean.shape}, got "
                f"shape {cov.shape}."
            )
        self.cov = jnp.broadcast_to(cov.astype(self.mean.dtype), self.mean.shape)

    @property
    def variance(self) -> Float[Array, " d"]:
        """Deprecated name of `cov` (read-only; warns)."""
        warn_deprecated("GaussianMeasure.variance", "`.cov` (the same array)")
        return self.cov

    @property
    def dim(self) -> int:
        return self.mean.shape[0]
