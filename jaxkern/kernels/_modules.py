"""Equinox modules that hold kernel hyperparameters and call the pure kernel functions.

Every module is a pytree whose float leaves are the hyperparameters, so `jax.grad` and optax
see them directly. Each module declares what the rest of the package needs to know about it,
so that no room guesses from types or attribute names:

- each hyperparameter's constraint (`parameter("positive")`, `"nonnegative"`, `"real"`), which
  [`jaxkern.optim.unconstrain`][jaxkern.optim.unconstrain] reads to fit it;
- its Gram matrix (`gram`), a fast path where one exists (radial kernels: one matrix product),
  kept through scaling, sums and products;
- its linear structure (`terms`: $k = \\sum_i w_i k_i$), and what each base kernel is
  (`family`, `nu`, `spectrum`), from which closed forms such as kernel means are chosen.

Modules combine with `+`, `*` and scaling by a number.
"""

from __future__ import annotations

import abc
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int

from .._display import readable_repr
from .._validation import as_float, as_parameter, check_int
from ..optim import parameter
from . import _dot_product as dp
from . import _matern as mt
from . import _mixture as mx
from . import _state_space as ss
from . import _stationary as st


class Kernel(eqx.Module):
    """Base class: a kernel on one pair of points, `k(x, y) -> scalar`, that composes.

    `k1 + k2`, `k1 * k2` and `c * k` (a positive number or array `c`) build new kernels.
    Subclasses declare their hyperparameters with [`parameter`][jaxkern.optim.parameter] and
    may override `gram` with a faster batched form.
    """

    #: What the kernel is, for rooms that have closed forms for some kernels (None: unknown).
    family: ClassVar[str | None] = None
    #: The name of its spectral density in
    #: [`spectral_frequencies`][jaxkern.kernels.spectral_frequencies], if it has one there.
    spectrum: ClassVar[str | None] = None

    @abc.abstractmethod
    def __call__(self, x: Float[Array, " d"], y: Float[Array, " d"]) -> Float[Array, ""]:
        raise NotImplementedError

    def gram(self, X: Float[Array, "n d"], Y: Float[Array, "m d"]) -> Float[Array, "n m"]:
        """The (n, m) Gram matrix; the default batches `__call__` with two `vmap`s."""
        return jax.vmap(lambda x: jax.vmap(lambda y: self(x, y))(Y))(X)

    def _at_data_dtype(self, x: Array, y: Array):
        """`(module, x, y)`: the inputs promoted to one float dtype (`as_float`) and the module
        with its real hyperparameters cast to it.

        Hyperparameters stored in the default dtype (float64 under x64) would otherwise promote
        float32 data to a float64 result; with this, every kernel answers in the data's dtype.
        """
        x, y = as_float(x, y)
        if not jnp.issubdtype(x.dtype, jnp.floating):  # complex data: nothing to cast to
            return self, x, y
        module = jax.tree.map(
            lambda p: p.astype(x.dtype) if eqx.is_inexact_array(p) and jnp.isrealobj(p) else p,
            self)
        return module, x, y

    def terms(self) -> tuple[tuple[Array | float, Kernel], ...]:
        r"""The kernel as a weighted sum $\sum_i w_i k_i$ of base kernels: `((w_i, k_i), ...)`."""
        return ((1.0, self),)

    def __repr__(self) -> str:
        return readable_repr(self)

    def state_space(self) -> ss.StateSpace:
        """The kernel's exact state-space (SDE) form on one-dimensional inputs, for the
        $O(n)$ Kalman solvers of [`jaxkern.gp`][jaxkern.gp]; kernels that have one override
        this, the others raise `ValueError`."""
        raise ss.no_state_space(self)

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

    def gram(self, X, Y):
        return self.k1.gram(X, Y) + self.k2.gram(X, Y)

    def terms(self):
        return self.k1.terms() + self.k2.terms()

    def state_space(self):
        return ss.sum_state_space(self.k1.state_space(), self.k2.state_space())


class ProductKernel(Kernel):
    """$k(x, y) = k_1(x, y)\\, k_2(x, y)$."""

    k1: Kernel
    k2: Kernel

    def __call__(self, x, y):
        return self.k1(x, y) * self.k2(x, y)

    def gram(self, X, Y):
        return self.k1.gram(X, Y) * self.k2.gram(X, Y)

    def state_space(self):
        return ss.product_state_space(self.k1.state_space(), self.k2.state_space())


class ScaledKernel(Kernel):
    """$k(x, y) = c\\, k_0(x, y)$ with $c > 0$."""

    kernel: Kernel
    scale: Array = parameter("positive")

    def __init__(self, kernel: Kernel, *, scale: ArrayLike):
        self.kernel = kernel
        self.scale = as_parameter("scale", scale)

    def __call__(self, x, y):
        k = self.kernel(x, y)
        return self.scale.astype(k.dtype) * k

    def gram(self, X, Y):
        K = self.kernel.gram(X, Y)
        return self.scale.astype(K.dtype) * K

    def terms(self):
        return tuple((self.scale * w, k) for w, k in self.kernel.terms())

    def state_space(self):
        return ss.scale_state_space(self.kernel.state_space(), self.scale)


class RadialKernel(Kernel):
    r"""A kernel of the scaled distance alone: $k(x, y) = \sigma^2 f(r^2)$,
    $r^2 = \sum_i (x_i - y_i)^2 / \ell_i^2$.

    Subclasses define the unit profile $f(r^2)$ in `profile`. Knowing the kernel is radial
    lets `gram` (and so [`gram`][jaxkern.kernels.gram] and
    [`kernel_matvec`][jaxkern.kernels.kernel_matvec]) form all squared distances of a block
    with one matrix product.
    """

    lengthscale: Array = parameter("positive")
    variance: Array = parameter("positive")

    def __init__(self, lengthscale: ArrayLike = 1.0, variance: ArrayLike = 1.0):
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)

    @abc.abstractmethod
    def profile(self, r2: Array) -> Array:
        """The unit kernel $f$ as a function of the scaled squared distance (any shape)."""
        raise NotImplementedError

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return k.variance * k.profile(st.scaled_sqdist(x, y, k.lengthscale))

    def gram(self, X, Y):
        k, X, Y = self._at_data_dtype(X, Y)
        return k.variance * k.profile(st.scaled_sqdists(X, Y, k.lengthscale))


class RBF(RadialKernel):
    """Module form of [`rbf`][jaxkern.kernels.rbf]: fields `lengthscale`, `variance`."""

    family: ClassVar[str] = "rbf"
    spectrum: ClassVar[str] = "rbf"

    def profile(self, r2):
        return st.rbf_profile(r2)


class _HalfIntegerMatern(RadialKernel):
    """A Matérn kernel of a fixed half-integer order `nu` (a class constant)."""

    family: ClassVar[str] = "matern"
    nu: ClassVar[float]

    def profile(self, r2):
        return mt.MATERN_PROFILES[self.nu](r2)

    def state_space(self):
        return ss.matern_state_space(int(self.nu - 0.5), lengthscale=self.lengthscale,
                                     variance=self.variance)


class Matern12(_HalfIntegerMatern):
    """Module form of [`matern12`][jaxkern.kernels.matern12]."""

    nu: ClassVar[float] = 0.5
    spectrum: ClassVar[str] = "matern12"


class Matern32(_HalfIntegerMatern):
    """Module form of [`matern32`][jaxkern.kernels.matern32]."""

    nu: ClassVar[float] = 1.5
    spectrum: ClassVar[str] = "matern32"


class Matern52(_HalfIntegerMatern):
    """Module form of [`matern52`][jaxkern.kernels.matern52]."""

    nu: ClassVar[float] = 2.5
    spectrum: ClassVar[str] = "matern52"


class Matern72(_HalfIntegerMatern):
    """Module form of [`matern72`][jaxkern.kernels.matern72]: fields `lengthscale`, `variance`."""

    nu: ClassVar[float] = 3.5


class RationalQuadratic(RadialKernel):
    """Module form of [`rational_quadratic`][jaxkern.kernels.rational_quadratic]."""

    alpha: Array = parameter("positive")

    def __init__(self, lengthscale=1.0, variance=1.0, alpha=1.0):
        super().__init__(lengthscale, variance)
        self.alpha = as_parameter("alpha", alpha)

    def profile(self, r2):
        return st.rational_quadratic_profile(r2, self.alpha)


class Matern(Kernel):
    """Module form of [`matern`][jaxkern.kernels.matern]: fields `nu`, `lengthscale`, `variance`."""

    nu: Array = parameter("positive")
    lengthscale: Array = parameter("positive")
    variance: Array = parameter("positive")

    def __init__(self, nu: ArrayLike, lengthscale: ArrayLike = 1.0, variance: ArrayLike = 1.0):
        self.nu = as_parameter("nu", nu)
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return mt.matern(x, y, nu=k.nu, lengthscale=k.lengthscale, variance=k.variance)

    def state_space(self):
        """The SDE form of order $p = \nu - \tfrac12$; needs a concrete half-integer `nu`
        (its order fixes the state's size, so `nu` cannot be traced here)."""
        from .._validation import concrete_or_none

        nu = concrete_or_none(self.nu)
        if nu is None:
            raise ValueError(
                "Matern.state_space() needs a concrete `nu` (the order fixes the state size), "
                "but `nu` is traced here; keep `nu` out of the differentiated/jitted leaves "
                "(e.g. eqx.partition) or use Matern12/32/52/72."
            )
        p = float(nu) - 0.5
        if nu.size != 1 or p < 0 or p != round(p):
            raise ValueError(
                f"Matern.state_space() needs a half-integer `nu` (1/2, 3/2, 5/2, ...), got {nu}."
            )
        return ss.matern_state_space(int(round(p)), lengthscale=self.lengthscale,
                                     variance=self.variance)


class ProductMatern(Kernel):
    """Module form of [`product_matern`][jaxkern.kernels.product_matern]; `nu` is static."""

    family: ClassVar[str] = "product_matern"

    nu: float = eqx.field(static=True)
    lengthscale: Array = parameter("positive")
    variance: Array = parameter("positive")

    def __init__(self, nu: float, lengthscale: ArrayLike = 1.0, variance: ArrayLike = 1.0):
        self.nu = mt.check_nu(nu)
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return mt.product_matern(x, y, nu=k.nu, lengthscale=k.lengthscale, variance=k.variance)


class Periodic(Kernel):
    """Module form of [`periodic`][jaxkern.kernels.periodic]."""

    lengthscale: Array = parameter("positive")
    variance: Array = parameter("positive")
    period: Array = parameter("positive")

    def __init__(self, lengthscale=1.0, variance=1.0, period=1.0):
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)
        self.period = as_parameter("period", period)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return st.periodic(x, y, lengthscale=k.lengthscale, variance=k.variance, period=k.period)


class Cosine(Kernel):
    """Module form of [`cosine`][jaxkern.kernels.cosine]."""

    period: Array = parameter("positive")
    variance: Array = parameter("positive")

    def __init__(self, period: ArrayLike = 1.0, variance: ArrayLike = 1.0):
        self.period = as_parameter("period", period)
        self.variance = as_parameter("variance", variance)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return st.cosine(x, y, period=k.period, variance=k.variance)

    def state_space(self):
        return ss.cosine_state_space(period=self.period, variance=self.variance)


class Constant(Kernel):
    r"""The constant kernel $k(x, y) = \sigma^2$: a random offset shared by all inputs.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.kernels import Constant, Matern32
        >>> k = Matern32() + Constant(variance=0.5)
        >>> round(float(k(jnp.zeros(1), jnp.full(1, 100.0))), 6)
        0.5
    """

    variance: Array = parameter("positive")

    def __init__(self, variance: ArrayLike = 1.0):
        self.variance = as_parameter("variance", variance)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return jnp.broadcast_to(k.variance, ())

    def gram(self, X, Y):
        k, X, Y = self._at_data_dtype(X, Y)
        return jnp.broadcast_to(k.variance, (X.shape[0], Y.shape[0]))

    def state_space(self):
        return ss.constant_state_space(variance=self.variance)


class _Mixture(Kernel):
    """A spectral mixture: `weights` (Q,), `means` (Q, d) and one (Q, d) width field.

    A mixture is a sum of components that can be told apart: `num_components` and
    `select(keep)` let a room (e.g. `pde`'s pruning) keep some of them.
    """

    weights: Array = parameter("positive")
    means: Array = parameter("real")

    @property
    def num_components(self) -> int:
        return self.weights.shape[0]

    def select(self, keep: Int[ArrayLike, " k"]) -> _Mixture:
        """The mixture restricted to the components at the indices `keep`."""
        return jax.tree.map(lambda leaf: leaf[jnp.asarray(keep)], self)


class SpectralMixture(_Mixture):
    """Module form of [`spectral_mixture`][jaxkern.kernels.spectral_mixture]."""

    variances: Array = parameter("positive")

    def __init__(self, weights: ArrayLike, means: ArrayLike, variances: ArrayLike):
        self.weights = as_parameter("weights", weights)
        self.means = as_parameter("means", means, real=True)
        self.variances = as_parameter("variances", variances)
        mx.check_components(self.weights, self.means, "variances", self.variances)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return mx.spectral_mixture(x, y, weights=k.weights, means=k.means, variances=k.variances)


class StudentTMixture(_Mixture):
    """Module form of [`student_t_mixture`][jaxkern.kernels.student_t_mixture]."""

    lengthscales: Array = parameter("positive")

    def __init__(self, weights: ArrayLike, means: ArrayLike, lengthscales: ArrayLike):
        self.weights = as_parameter("weights", weights)
        self.means = as_parameter("means", means, real=True)
        self.lengthscales = as_parameter("lengthscales", lengthscales)
        mx.check_components(self.weights, self.means, "lengthscales", self.lengthscales)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return mx.student_t_mixture(x, y, weights=k.weights, means=k.means,
                                    lengthscales=k.lengthscales)


class Linear(Kernel):
    """Module form of [`linear`][jaxkern.kernels.linear]."""

    variance: Array = parameter("positive")
    bias: Array = parameter("nonnegative")

    def __init__(self, variance: ArrayLike = 1.0, bias: ArrayLike = 0.0):
        self.variance = as_parameter("variance", variance)
        self.bias = as_parameter("bias", bias, allow_zero=True)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return dp.linear(x, y, variance=k.variance, bias=k.bias)

    def gram(self, X, Y):
        k, X, Y = self._at_data_dtype(X, Y)
        return k.bias + k.variance * (X @ Y.T)


class Polynomial(Kernel):
    """Module form of [`polynomial`][jaxkern.kernels.polynomial]; `degree` is static."""

    degree: int = eqx.field(static=True)
    variance: Array = parameter("positive")
    bias: Array = parameter("nonnegative")

    def __init__(self, degree: int, variance: ArrayLike = 1.0, bias: ArrayLike = 1.0):
        check_int("degree", degree, 1)
        self.degree = degree
        self.variance = as_parameter("variance", variance)
        self.bias = as_parameter("bias", bias, allow_zero=True)

    def __call__(self, x, y):
        k, x, y = self._at_data_dtype(x, y)
        return dp.polynomial(x, y, degree=k.degree, variance=k.variance, bias=k.bias)


class ArcCosine(Kernel):
    """Module form of [`arccos`][jaxkern.kernels.arccos]; `order` is static."""

    order: int = eqx.field(static=True)
    variance: Array = parameter("positive")
    weight_variance: Array = parameter("positive")
    bias_variance: Array = parameter("nonnegative")

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
        k, x, y = self._at_data_dtype(x, y)
        return dp.arccos(x, y, order=k.order, variance=k.variance,
                         weight_variance=k.weight_variance, bias_variance=k.bias_variance)
