"""Equinox sequence layers `(L, h) -> (L, h)` over the pure kernels, and a small residual model.

Each layer maps one sequence; batch with `jax.vmap`. Kernels are computed for the length of the
input on each call (SGConv and LongConv hold a kernel of a fixed length and pad or cut it).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Complex, Float, PRNGKeyArray

from .._validation import check_int, check_ndim
from ._conv import fft_conv
from ._discretize import check_method
from ._hyper import hyper_kernel
from ._init import s4d_init
from ._kernel import ssm_kernel
from ._longconv import longconv_kernel, sgconv_kernel, sgconv_lengths
from ._recurrence import Recurrence, ssm_recurrence


def _dtype(dtype):
    return jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)


def _check_input(u, channels: int) -> None:
    check_ndim("u", u, 2, "(L, h)")
    if u.shape[1] != channels:
        raise ValueError(
            f"`u` must have {channels} channels (the layer's h) in its last axis, got shape "
            f"{u.shape}."
        )
    if u.shape[0] < 1:
        raise ValueError(f"`u` must have at least one step, got shape {u.shape}.")


class _ConvolutionLayer(eqx.Module):
    """A sequence layer $y = K * u + D u$: a causal FFT convolution plus a skip term.

    Subclasses hold their parameters, including a field `D` of shape `(h,)` (the skip
    weights), and define `_conv_kernel(length)`, the kernel applied to an input of `length`
    steps (a kernel of another length is cut or zero-padded by
    [`fft_conv`][jaxkern.ssm.fft_conv]). `D` is not declared here: a base-class field would
    come first in every subclass's field order and so change its pytree leaf order.
    """

    @property
    def channels(self) -> int:
        return self.D.shape[0]

    @abc.abstractmethod
    def _conv_kernel(self, length: int) -> Float[Array, "Lk h"]:
        """The convolution kernel for an input of `length` steps, shape `(Lk, h)`."""

    def _check_input(self, u: Float[Array, "L h"]) -> None:
        _check_input(u, self.channels)

    def _skip(self, u: Float[Array, "L h"]) -> Float[Array, "L h"]:
        """The feed-through term $D u$, in the dtype of `u`."""
        return self.D.astype(u.dtype)[None, :] * u

    def __call__(self, u: Float[Array, "L h"]) -> Float[Array, "L h"]:
        self._check_input(u)
        return fft_conv(u, self._conv_kernel(u.shape[0]).astype(u.dtype)) + self._skip(u)


class S4D(_ConvolutionLayer):
    """A diagonal state-space layer (S4D, or S4-PTD with `init="ptd"`): $y = K * u + D u$.

    Each of the $h$ channels is a diagonal SSM with $m$ stored modes (one per conjugate pair),
    $\\lambda = -e^{\\rho} + i\\omega$ (so $\\operatorname{Re}\\lambda < 0$ for any parameters),
    step $\\Delta = e^{\\log\\Delta}$, and complex $B$, $C$. The kernel comes from
    [`ssm_kernel`][jaxkern.ssm.ssm_kernel] and is applied with
    [`fft_conv`][jaxkern.ssm.fft_conv]; [`recurrence`][jaxkern.ssm.S4D.recurrence] runs the
    same map step by step.

    **Arguments:**

    - `channels`: $h$.
    - `state_size`: $N$, even; $m = N/2$ modes ($N/2 + r/2$ for `"ptd"`, see
      [`ptd_init`][jaxkern.ssm.ptd_init]).
    - `init`: `"lin"`, `"inv"`, `"legs"` or `"ptd"` (see [`s4d_init`][jaxkern.ssm.s4d_init]).
    - `method`: discretisation, `"zoh"` or `"bilinear"`.
    - `dt_min`, `dt_max`: $\\Delta$ is drawn log-uniformly in this range per channel.
    - `dtype`: real parameter dtype (default: JAX's default float).
    - `key`: PRNG key for $\\Delta$, $C$ and $D$.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.ssm import S4D
        >>> layer = S4D(4, 8, key=jax.random.key(0))
        >>> layer(jnp.ones((100, 4))).shape
        (100, 4)

    Paper: Gu, Gupta, Goel, Ré, *On the Parameterization and Initialization of Diagonal State
    Space Models* (S4D), NeurIPS 2022.
    """

    log_dt: Float[Array, " h"]
    log_neg_real: Float[Array, "h m"]
    imag: Float[Array, "h m"]
    B: Float[Array, "h m 2"]
    C: Float[Array, "h m 2"]
    D: Float[Array, " h"]
    method: str = eqx.field(static=True)

    def __init__(
        self,
        channels: int,
        state_size: int = 64,
        *,
        init: str = "lin",
        method: str = "zoh",
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        dtype=None,
        key: PRNGKeyArray,
    ):
        check_int("channels", channels, 1)
        if not 0 < dt_min <= dt_max:
            raise ValueError(f"need 0 < `dt_min` <= `dt_max`, got {dt_min!r} and {dt_max!r}.")
        check_method(method)
        dtype = _dtype(dtype)
        table = s4d_init(state_size, init=init)
        m = table.lam.shape[0]
        k_dt, k_c, k_d = jax.random.split(key, 3)
        u = jax.random.uniform(k_dt, (channels,), dtype=dtype)
        self.log_dt = math.log(dt_min) + u * (math.log(dt_max) - math.log(dt_min))
        lam = np.broadcast_to(table.lam, (channels, m))
        self.log_neg_real = jnp.asarray(np.log(-lam.real), dtype=dtype)
        self.imag = jnp.asarray(lam.imag, dtype=dtype)
        B = np.broadcast_to(table.B, (channels, m))
        self.B = jnp.asarray(np.stack([B.real, B.imag], axis=-1), dtype=dtype)
        if table.V is None:
            # Complex standard normal, as S4D draws C.
            self.C = jax.random.normal(k_c, (channels, m, 2), dtype=dtype) * math.sqrt(0.5)
        else:
            # A random real C of the original N-dim system, seen in the eigenbasis: C V.
            C = np.asarray(jax.random.normal(k_c, (channels, table.V.shape[0])), np.float64)
            CV = C @ table.V
            self.C = jnp.asarray(np.stack([CV.real, CV.imag], axis=-1), dtype=dtype)
        self.D = jax.random.normal(k_d, (channels,), dtype=dtype)
        self.method = method

    def ssm(self) -> tuple[Float[Array, " h"], Complex[Array, "h m"], Complex[Array, "h m"],
                           Complex[Array, "h m"]]:
        """The continuous-time SSM $(\\Delta, \\lambda, B, C)$ the parameters describe."""
        lam = lax.complex(-jnp.exp(self.log_neg_real), self.imag)
        B = lax.complex(self.B[..., 0], self.B[..., 1])
        C = lax.complex(self.C[..., 0], self.C[..., 1])
        return jnp.exp(self.log_dt), lam, B, C

    def kernel(self, length: int) -> Float[Array, "L h"]:
        """The convolution kernel $K$, shape `(length, h)`."""
        dt, lam, B, C = self.ssm()
        return ssm_kernel(dt, lam, B, C, length=length, method=self.method)

    def _conv_kernel(self, length: int) -> Float[Array, "L h"]:
        return self.kernel(length)

    def recurrence(
        self, u: Float[Array, "L h"], state: Complex[Array, "h m"] | None = None
    ) -> Recurrence:
        """The same map run step by step from `state` (default zero); returns outputs and state."""
        self._check_input(u)
        dt, lam, B, C = self.ssm()
        out = ssm_recurrence(u, dt, lam, B, C, method=self.method, state=state)
        return Recurrence(out.y + self._skip(u), out.state)


class SGConv(_ConvolutionLayer):
    """SGConv: a long convolution with a multi-scale, decaying kernel, $y = k * u + D u$.

    The kernel is [`sgconv_kernel`][jaxkern.ssm.sgconv_kernel] of the sub-kernels, divided per
    channel by its norm at initialisation (a constant computed here, not on the first call).

    **Arguments:**

    - `channels`: $h$.
    - `length`: the kernel length $L$ (inputs of other lengths see it cut or zero-padded).
    - `kernel_dim`: $d$, parameters per sub-kernel.
    - `decay`: $\\alpha$, the weight ratio between neighbouring scales.
    - `dtype`: parameter dtype (default: JAX's default float).
    - `key`: PRNG key.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.ssm import SGConv
        >>> layer = SGConv(4, 64, kernel_dim=8, key=jax.random.key(0))
        >>> layer.sub_kernels.shape  # 1 + log2(64 / 8) scales
        (4, 8, 4)

    Paper: Li, Cai, Zhang, Chen, Dey, *What Makes Convolutional Models Great on Long Sequence
    Modeling?*, ICLR 2023.
    """

    sub_kernels: Float[Array, "s d h"]
    D: Float[Array, " h"]
    decay: Float[Array, " h"]
    kernel_norm: Float[Array, " h"]
    length: int = eqx.field(static=True)

    def __init__(
        self,
        channels: int,
        length: int,
        *,
        kernel_dim: int = 32,
        decay: float = 2.0,
        dtype=None,
        key: PRNGKeyArray,
    ):
        check_int("channels", channels, 1)
        if not decay >= 1:
            raise ValueError(f"`decay` must be >= 1, got {decay!r}.")
        dtype = _dtype(dtype)
        scales = len(sgconv_lengths(length, kernel_dim=kernel_dim))
        k_w, k_d = jax.random.split(key)
        self.sub_kernels = jax.random.normal(k_w, (scales, kernel_dim, channels), dtype=dtype)
        self.D = jax.random.normal(k_d, (channels,), dtype=dtype)
        self.decay = jnp.full((channels,), decay, dtype=dtype)
        self.length = length
        k = sgconv_kernel(self.sub_kernels, length=length, decay=self.decay)
        self.kernel_norm = jnp.linalg.norm(k, axis=0)

    def kernel(self) -> Float[Array, "L h"]:
        """The normalised kernel, shape `(length, h)`; `decay` and the norm are constants."""
        decay, norm = lax.stop_gradient(self.decay), lax.stop_gradient(self.kernel_norm)
        return sgconv_kernel(self.sub_kernels, length=self.length, decay=decay) / norm[None, :]

    def _conv_kernel(self, length: int) -> Float[Array, "L h"]:
        return self.kernel()


class LongConv(_ConvolutionLayer):
    """A long convolution with a free kernel, squashed and smoothed: $y = k * u + D u$.

    **Arguments:**

    - `channels`: $h$.
    - `length`: the kernel length $L$.
    - `threshold`: the squash threshold $\\lambda$ (see
      [`longconv_kernel`][jaxkern.ssm.longconv_kernel]).
    - `smooth`: the smoothing width $p$ (odd).
    - `init_scale`: the kernel starts $\\mathcal N(0, \\sigma^2)$ with this $\\sigma$.
    - `dtype`: parameter dtype (default: JAX's default float).
    - `key`: PRNG key.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.ssm import LongConv
        >>> layer = LongConv(4, 128, key=jax.random.key(0))
        >>> layer(jnp.ones((128, 4))).shape
        (128, 4)

    Paper: Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra, Ré, *Simple Hardware-Efficient Long
    Convolutions for Sequence Modeling*, ICML 2023.
    """

    k: Float[Array, "L h"]
    D: Float[Array, " h"]
    threshold: float = eqx.field(static=True)
    smooth: int = eqx.field(static=True)

    def __init__(
        self,
        channels: int,
        length: int,
        *,
        threshold: float = 1e-3,
        smooth: int = 3,
        init_scale: float = 0.02,
        dtype=None,
        key: PRNGKeyArray,
    ):
        check_int("channels", channels, 1)
        check_int("length", length, 1)
        dtype = _dtype(dtype)
        k_k, k_d = jax.random.split(key)
        self.k = init_scale * jax.random.normal(k_k, (length, channels), dtype=dtype)
        self.D = jax.random.normal(k_d, (channels,), dtype=dtype)
        self.threshold = threshold
        self.smooth = smooth
        longconv_kernel(self.k, threshold=threshold, smooth=smooth)  # validates the settings

    def kernel(self) -> Float[Array, "L h"]:
        """The squashed and smoothed kernel, shape `(length, h)`."""
        return longconv_kernel(self.k, threshold=self.threshold, smooth=self.smooth)

    def _conv_kernel(self, length: int) -> Float[Array, "L h"]:
        return self.kernel()


class SequenceModel(eqx.Module):
    """A residual stack of sequence layers, `(L, d_in) -> (L, d_out)`.

    Each block is pre-LayerNorm, the sequence layer, GELU, a GLU position-wise mix, and a
    residual connection. For classification, average the output over positions.

    **Arguments:**

    - `d_input`, `d_output`: feature sizes in and out.
    - `channels`: $h$, the width of every block.
    - `depth`: the number of blocks.
    - `make_layer`: `make_layer(key)` builds one sequence layer on `channels` channels
      (default: `S4D(channels, 64, key=key)`).
    - `dtype`: parameter dtype of the linear maps and norms.
    - `key`: PRNG key.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.ssm import S4D, SequenceModel
        >>> model = SequenceModel(1, 10, channels=8, depth=2, key=jax.random.key(0),
        ...                       make_layer=lambda key: S4D(8, 16, key=key))
        >>> model(jnp.ones((64, 1))).shape
        (64, 10)
    """

    encoder: eqx.nn.Linear
    layers: tuple
    norms: tuple
    mixers: tuple
    decoder: eqx.nn.Linear

    def __init__(
        self,
        d_input: int,
        d_output: int,
        *,
        channels: int,
        depth: int,
        make_layer: Callable[[PRNGKeyArray], eqx.Module] | None = None,
        dtype=None,
        key: PRNGKeyArray,
    ):
        check_int("depth", depth, 1)
        dtype = _dtype(dtype)
        if make_layer is None:
            make_layer = lambda k: S4D(channels, 64, dtype=dtype, key=k)
        keys = jax.random.split(key, 2 * depth + 2)
        self.encoder = eqx.nn.Linear(d_input, channels, dtype=dtype, key=keys[0])
        self.decoder = eqx.nn.Linear(channels, d_output, dtype=dtype, key=keys[1])
        self.layers = tuple(make_layer(k) for k in keys[2 : 2 + depth])
        self.norms = tuple(eqx.nn.LayerNorm(channels, dtype=dtype) for _ in range(depth))
        self.mixers = tuple(
            eqx.nn.Linear(channels, 2 * channels, dtype=dtype, key=k) for k in keys[2 + depth :]
        )

    def __call__(self, u: Float[Array, "L d_in"]) -> Float[Array, "L d_out"]:
        check_ndim("u", u, 2, "(L, d_input)")
        x = jax.vmap(self.encoder)(u)
        for layer, norm, mixer in zip(self.layers, self.norms, self.mixers, strict=True):
            z = jax.nn.gelu(layer(jax.vmap(norm)(x)))
            x = x + jax.nn.glu(jax.vmap(mixer)(z), axis=-1)
        return jax.vmap(self.decoder)(x)


class HyperConv(_ConvolutionLayer):
    """A global convolution whose kernel a coordinate MLP generates: $y = K_\\theta * u + Du$.

    The kernel [`hyper_kernel`][jaxkern.ssm.hyper_kernel] has as many taps as the input
    (causal) or $2L - 1$ (centred, `causal=False`), so one small MLP gives every position
    a full-context kernel; it is applied by FFT.

    **Arguments:**

    - `channels`: $h$.
    - `width`, `depth`: the MLP's hidden width and number of hidden layers.
    - `num_frequencies`: $F$ of the positional features.
    - `decay`: the initial window $\\alpha$ (trained).
    - `causal`: causal or centred kernel.
    - `dtype`, `key`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.ssm import HyperConv
        >>> layer = HyperConv(4, key=jax.random.key(0))
        >>> layer(jnp.ones((4096, 4))).shape
        (4096, 4)

    Paper: Zhang, *HyperZ.Z.W Operator Connects Slow-Fast Networks for Full Context
    Interaction*.
    """

    mlp: eqx.nn.MLP
    decay: Float[Array, " h"]
    D: Float[Array, " h"]
    num_frequencies: int = eqx.field(static=True)
    causal: bool = eqx.field(static=True)

    def __init__(self, channels: int, *, width: int = 32, depth: int = 2,
                 num_frequencies: int = 8, decay: float = 1.0, causal: bool = True,
                 dtype=None, key: PRNGKeyArray):
        check_int("channels", channels, 1)
        check_int("width", width, 1)
        check_int("depth", depth, 1)
        check_int("num_frequencies", num_frequencies, 0)
        if not decay >= 0:
            raise ValueError(f"`decay` must be >= 0, got {decay!r}.")
        dtype = _dtype(dtype)
        k_m, k_d = jax.random.split(key)
        self.mlp = eqx.nn.MLP(2 * num_frequencies + 1, channels, width, depth,
                              activation=jnp.sin, dtype=dtype, key=k_m)
        self.decay = jnp.full((channels,), decay, dtype)
        self.D = jax.random.normal(k_d, (channels,), dtype=dtype)
        self.num_frequencies = num_frequencies
        self.causal = causal

    def kernel(self, length: int) -> Float[Array, "Lk h"]:
        """The generated kernel for an input of `length` steps."""
        return hyper_kernel(self.mlp, length, decay=self.decay,
                            num_frequencies=self.num_frequencies, causal=self.causal,
                            dtype=self.D.dtype)

    def _conv_kernel(self, length: int) -> Float[Array, "Lk h"]:
        return self.kernel(length)

    def __call__(self, u: Float[Array, "L h"]) -> Float[Array, "L h"]:
        self._check_input(u)
        k = self.kernel(u.shape[0]).astype(u.dtype)
        return fft_conv(u, k, causal=self.causal) + self._skip(u)
