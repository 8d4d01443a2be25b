"""Equinox modules that hold kernel hyperparameters and call the pure kernel functions.

Every module is a pytree whose float leaves are the hyperparameters, so `jax.grad` and optax
see them directly. Modules combine with `+`, `*` and scaling by a number.
"""

from __future__ import annotations

import abc

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_positive
from . import _dot_product as dp
from . import _stationary as st


def as_parameter(name: str, value, *, allow_zero: bool = False) -> Array:
    """Check a hyperparameter and store it as a floating jax array (default dtype for numbers)."""
    check_positive(name, value, allow_zero=allow_zero)
    if isinstance(value, jax.Array) and jnp.issubdtype(value.dtype, jnp.floating):
        return value
    # Python numbers and integer arrays become strongly typed arrays of the default float dtype.
    dtype = getattr(value, "dtype", None)
    if dtype is None or not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    return jnp.asarray(value, dtype=dtype)


class Kernel(eqx.Module):
    """Base class: a kernel on one pair of points, `k(x, y) -> scalar`, that composes.

    `k1 + k2`, `k1 * k2` and `c * k` (a positive number or array `c`) build new kernels.
    """

    @abc.abstractmethod
    def __call__(self, x: Float[Array, " d"], y: Float[Array, " d"]) -> Float[Array, ""]:
        raise NotImplementedError

    def __add__(self, other: Kernel) -> Kernel:
        if not isinstance(other, Kernel):
            return NotImplemented
        return SumKernel(self, other)

    def __mul__(self, other) -> Kernel:
        if isinstance(other, Kernel):
            return ProductKernel(self, other)
        return ScaledKernel(self, scale=other)

    __rmul__ = __mul__


class SumKernel(Kernel):
    """$k(x, y) = k_1(x, y) + k_2(x, y)$."""

    k1: Kernel
    k2: Kernel

    def __call__(self, x, y):
        return self.k1(x, y) + self.k2(x, y)


class ProductKernel(Kernel):
    """$k(x, y) = k_1(x, y)\\, k_2(x, y)$."""

    k1: Kernel
    k2: Kernel

    def __call__(self, x, y):
        return self.k1(x, y) * self.k2(x, y)


class ScaledKernel(Kernel):
    """$k(x, y) = c\\, k_0(x, y)$ with $c > 0$."""

    kernel: Kernel
    scale: Array

    def __init__(self, kernel: Kernel, *, scale: ArrayLike):
        self.kernel = kernel
        self.scale = as_parameter("scale", scale)

    def __call__(self, x, y):
        return self.scale * self.kernel(x, y)


class RadialKernel(Kernel):
    r"""A kernel of the scaled distance alone: $k(x, y) = \sigma^2 f(r^2)$,
    $r^2 = \sum_i (x_i - y_i)^2 / \ell_i^2$.

    Subclasses define the profile $\sigma^2 f(r^2)$ in `profile`. Knowing the kernel is radial
    lets [`gram`][jaxkern.kernels.gram] and [`kernel_matvec`][jaxkern.kernels.kernel_matvec]
    form all squared distances of a block with one matrix product.
    """

    lengthscale: Array
    variance: Array

    def __init__(self, lengthscale: ArrayLike = 1.0, variance: ArrayLike = 1.0):
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)

    @abc.abstractmethod
    def profile(self, r2: Array) -> Array:
        """The kernel as a function of the scaled squared distance (any shape)."""
        raise NotImplementedError

    def __call__(self, x, y):
        return self.profile(st.scaled_sqdist(x, y, self.lengthscale))


class RBF(RadialKernel):
    """Module form of [`rbf`][jaxkern.kernels.rbf]: fields `lengthscale`, `variance`."""

    def profile(self, r2):
        return self.variance * st.rbf_profile(r2)


class Matern12(RadialKernel):
    """Module form of [`matern12`][jaxkern.kernels.matern12]."""

    def profile(self, r2):
        return self.variance * st.matern12_profile(r2)


class Matern32(RadialKernel):
    """Module form of [`matern32`][jaxkern.kernels.matern32]."""

    def profile(self, r2):
        return self.variance * st.matern32_profile(r2)


class Matern52(RadialKernel):
    """Module form of [`matern52`][jaxkern.kernels.matern52]."""

    def profile(self, r2):
        return self.variance * st.matern52_profile(r2)


class RationalQuadratic(RadialKernel):
    """Module form of [`rational_quadratic`][jaxkern.kernels.rational_quadratic]."""

    alpha: Array

    def __init__(self, lengthscale=1.0, variance=1.0, alpha=1.0):
        super().__init__(lengthscale, variance)
        self.alpha = as_parameter("alpha", alpha)

    def profile(self, r2):
        return self.variance * st.rational_quadratic_profile(r2, self.alpha)


class Periodic(Kernel):
    """Module form of [`periodic`][jaxkern.kernels.periodic]."""

    lengthscale: Array
    variance: Array
    period: Array

    def __init__(self, lengthscale=1.0, variance=1.0, period=1.0):
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)
        self.period = as_parameter("period", period)

    def __call__(self, x, y):
        return st.periodic(
            x, y, lengthscale=self.lengthscale, variance=self.variance, period=self.period
        )


class Cosine(Kernel):
    """Module form of [`cosine`][jaxkern.kernels.cosine]."""

    period: Array
    variance: Array

    def __init__(self, period: ArrayLike = 1.0, variance: ArrayLike = 1.0):
        self.period = as_parameter("period", period)
        self.variance = as_parameter("variance", variance)

    def __call__(self, x, y):
        return st.cosine(x, y, period=self.period, variance=self.variance)


class SpectralMixture(Kernel):
    """Module form of [`spectral_mixture`][jaxkern.kernels.spectral_mixture]."""

    weights: Array
    means: Array
    variances: Array

    def __init__(self, weights: ArrayLike, means: ArrayLike, variances: ArrayLike):
        self.weights = as_parameter("weights", weights)
        self.means = as_parameter("means", means, allow_zero=True)
        self.variances = as_parameter("variances", variances)
        if self.weights.ndim != 1 or self.means.shape != self.variances.shape or (
            self.means.ndim != 2 or self.means.shape[0] != self.weights.shape[0]
        ):
            raise ValueError(
                "`weights`, `means`, `variances` must have shapes (Q,), (Q, d), (Q, d); got "
                f"{self.weights.shape}, {self.means.shape}, {self.variances.shape}."
            )

    def __call__(self, x, y):
        return st.spectral_mixture(
            x, y, weights=self.weights, means=self.means, variances=self.variances
        )


class Linear(Kernel):
    """Module form of [`linear`][jaxkern.kernels.linear]."""

    variance: Array
    bias: Array

    def __init__(self, variance: ArrayLike = 1.0, bias: ArrayLike = 0.0):
        self.variance = as_parameter("variance", variance)
        self.bias = as_parameter("bias", bias, allow_zero=True)

    def __call__(self, x, y):
        return dp.linear(x, y, variance=self.variance, bias=self.bias)


class Polynomial(Kernel):
    """Module form of [`polynomial`][jaxkern.kernels.polynomial]; `degree` is static."""

    degree: int = eqx.field(static=True)
    variance: Array
    bias: Array

    def __init__(self, degree: int, variance: ArrayLike = 1.0, bias: ArrayLike = 1.0):
        if not isinstance(degree, int) or isinstance(degree, bool) or degree < 1:
            raise ValueError(f"`degree` must be a positive Python int, got {degree!r}.")
        self.degree = degree
        self.variance = as_parameter("variance", variance)
        self.bias = as_parameter("bias", bias, allow_zero=True)

    def __call__(self, x, y):
        return dp.polynomial(x, y, degree=self.degree, variance=self.variance, bias=self.bias)


class ArcCosine(Kernel):
    """Module form of [`arccos`][jaxkern.kernels.arccos]; `order` is static."""

    order: int = eqx.field(static=True)
    variance: Array
    weight_variance: Array
    bias_variance: Array

    def __init__(
        self,
        order: int = 1,
        variance: ArrayLike = 1.0,
        weight_variance: ArrayLike = 1.0,
        bias_variance: ArrayLike = 0.0,
    ):
        if order not in (0, 1, 2):
            raise ValueError(f"`order` must be 0, 1 or 2 (step, ReLU, ReQU), got {order!r}.")
        self.order = order
        self.variance = as_parameter("variance", variance)
        self.weight_variance = as_parameter("weight_variance", weight_variance)
        self.bias_variance = as_parameter("bias_variance", bias_variance, allow_zero=True)

    def __call__(self, x, y):
        return dp.arccos(
            x,
            y,
            order=self.order,
            variance=self.variance,
            weight_variance=self.weight_variance,
            bias_variance=self.bias_variance,
        )
