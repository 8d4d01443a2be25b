"""Equinox layers over the pure kernels: depthwise, Inception, dilated re-param, factorised conv.

Convolution layers map one image `(H, W, C) -> (H, W, C')` (any leading batch axes work too).
Sizes are checked when a layer is built, so a bad setting fails there and not inside XLA.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_int
from ._conv import (
    DILATED_REPARAM_SETTINGS,
    _check_image,
    _pair,
    check_branches,
    check_odd,
    depthwise_conv2d,
    fuse_batchnorm,
    inception_dwconv2d,
    inception_split,
    merge_dilated_kernels,
)
from ._essa import essa_attention, essa_attention_dense
from ._factorised import CPFactors, conv2d, cp_kernel, factorised_conv2d
from ._rbf import grid_bases, nearest_bases, rbf_field


def _dtype(dtype):
    return jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)


def _uniform(key, shape, fan_in: int, dtype):
    """PyTorch's default Conv2d initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1 / math.sqrt(fan_in)
    return jax.random.uniform(key, shape, dtype, -bound, bound)


class DepthwiseConv2d(eqx.Module):
    """A depthwise convolution layer, direct or FFT (picked by a measured rule by default).

    **Arguments:**

    - `channels`: $C$.
    - `kernel_size`: odd int or pair.
    - `dilation`: int or pair.
    - `use_bias`: add a bias per channel.
    - `method`: `"auto"`, `"direct"` or `"fft"` (see
      [`depthwise_conv2d`][jaxkern.layers.depthwise_conv2d]).
    - `dtype`, `key`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import DepthwiseConv2d
        >>> layer = DepthwiseConv2d(8, 31, key=jax.random.key(0))
        >>> layer(jnp.ones((56, 56, 8))).shape
        (56, 56, 8)
    """

    weight: Float[Array, "kh kw C"]
    bias: Float[Array, " C"] | None
    dilation: tuple[int, int] = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(self, channels: int, kernel_size, *, dilation=1, use_bias: bool = True,
                 method: str = "auto", dtype=None, key: PRNGKeyArray):
        check_int("channels", channels, 1)
        kh, kw = check_odd("kernel_size", kernel_size)
        if method not in ("auto", "direct", "fft"):
            raise ValueError(f"`method` must be 'auto', 'direct' or 'fft', got {method!r}.")
        dtype = _dtype(dtype)
        k_w, k_b = jax.random.split(key)
        self.weight = _uniform(k_w, (kh, kw, channels), kh * kw, dtype)
        self.bias = _uniform(k_b, (channels,), kh * kw, dtype) if use_bias else None
        self.dilation = _pair("dilation", dilation)
        self.method = method

    @property
    def channels(self) -> int:
        return self.weight.shape[-1]

    def __call__(self, x: Float[Array, "*b H W C"]) -> Float[Array, "*b H W C"]:
        _check_image(x, self.channels)
        return depthwise_conv2d(x, self.weight, self.bias, dilation=self.dilation,
                                method=self.method)


class InceptionDWConv2d(eqx.Module):
    """InceptionNeXt's token mixer: identity, square, $1\\times K$ and $K\\times 1$ branches.

    See [`inception_dwconv2d`][jaxkern.layers.inception_dwconv2d]; the defaults are timm's
    (`square_kernel_size=3`, `band_kernel_size=11`, `branch_ratio=0.125`), and the weights are
    stored channels-last: timm's `dwconv_hw.weight[c, 0, i, j]` is `w_square[i, j, c]`.

    **Arguments:**

    - `channels`: $C$.
    - `square_kernel_size`, `band_kernel_size`: odd ints.
    - `branch_ratio`: $\\rho$, $g = \\lfloor C\\rho\\rfloor$ channels per branch.
    - `method`, `dtype`, `key`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import InceptionDWConv2d
        >>> layer = InceptionDWConv2d(64, key=jax.random.key(0))
        >>> layer.w_width.shape, layer(jnp.ones((14, 14, 64))).shape
        ((1, 11, 8), (14, 14, 64))

    Paper: Yu, Zhou, Yan, Wang, *InceptionNeXt: When Inception Meets ConvNeXt*, CVPR 2024.
    """

    w_square: Float[Array, "k k g"]
    b_square: Float[Array, " g"]
    w_width: Float[Array, "1 K g"]
    b_width: Float[Array, " g"]
    w_height: Float[Array, "K 1 g"]
    b_height: Float[Array, " g"]
    channels: int = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(self, channels: int, *, square_kernel_size: int = 3, band_kernel_size: int = 11,
                 branch_ratio: float = 0.125, method: str = "auto", dtype=None,
                 key: PRNGKeyArray):
        check_odd("square_kernel_size", square_kernel_size)
        check_odd("band_kernel_size", band_kernel_size)
        if method not in ("auto", "direct", "fft"):
            raise ValueError(f"`method` must be 'auto', 'direct' or 'fft', got {method!r}.")
        _, g, _, _ = inception_split(channels, branch_ratio)
        dtype = _dtype(dtype)
        k, K = square_kernel_size, band_kernel_size
        keys = jax.random.split(key, 6)
        self.w_square = _uniform(keys[0], (k, k, g), k * k, dtype)
        self.b_square = _uniform(keys[1], (g,), k * k, dtype)
        self.w_width = _uniform(keys[2], (1, K, g), K, dtype)
        self.b_width = _uniform(keys[3], (g,), K, dtype)
        self.w_height = _uniform(keys[4], (K, 1, g), K, dtype)
        self.b_height = _uniform(keys[5], (g,), K, dtype)
        self.channels = channels
        self.method = method

    def __call__(self, x: Float[Array, "*b H W C"]) -> Float[Array, "*b H W C"]:
        _check_image(x, self.channels)
        return inception_dwconv2d(x, self.w_square, self.w_width, self.w_height, self.b_square,
                                  self.b_width, self.b_height, method=self.method)


class BatchNormStats(eqx.Module):
    """An inference-mode batch norm's four vectors, $\\gamma, \\beta, \\mu, \\sigma^2$."""

    scale: Float[Array, " C"]
    shift: Float[Array, " C"]
    mean: Float[Array, " C"]
    var: Float[Array, " C"]

    def __call__(self, y, eps: float):
        s = self.scale / jnp.sqrt(self.var + eps)
        shape = (1,) * (y.ndim - 1) + (-1,)
        mean, s, shift = (jnp.reshape(v.astype(y.dtype), shape) for v in (self.mean, s, self.shift))
        return (y - mean) * s + shift


def _random_bn(key, channels, dtype) -> BatchNormStats:
    """Non-trivial statistics, so tests of the fusion see every term."""
    k1, k2, k3, k4 = jax.random.split(key, 4)
    return BatchNormStats(
        scale=1 + 0.1 * jax.random.normal(k1, (channels,), dtype),
        shift=0.1 * jax.random.normal(k2, (channels,), dtype),
        mean=0.1 * jax.random.normal(k3, (channels,), dtype),
        var=jax.random.uniform(k4, (channels,), dtype, 0.5, 1.5),
    )


class DilatedReparamConv2d(eqx.Module):
    """UniRepLKNet's dilated re-param block: a large depthwise kernel plus dilated branches.

    Training form: $y = \\mathrm{BN}_0(\\mathrm{DW}_K(x)) + \\sum_i
    \\mathrm{BN}_i(\\mathrm{DW}_{k_i, r_i}(x))$, every batch norm in inference mode (its
    running statistics are leaves of the layer).
    [`merge`][jaxkern.layers.DilatedReparamConv2d.merge] folds each batch norm into its
    kernel ([`fuse_batchnorm`][jaxkern.layers.fuse_batchnorm])
    and the branches into one $K \\times K$ kernel
    ([`merge_dilated_kernels`][jaxkern.layers.merge_dilated_kernels]): a single
    [`DepthwiseConv2d`][jaxkern.layers.DepthwiseConv2d] computing the same map.

    **Arguments:**

    - `channels`: $C$.
    - `kernel_size`: $K$; with no `kernel_sizes`/`dilations` given, one of the reference's
      settings [`DILATED_REPARAM_SETTINGS`][jaxkern.layers.DILATED_REPARAM_SETTINGS]
      (5, 7, 9, 11, 13, 15, 17).
    - `kernel_sizes`, `dilations`: the branches $(k_i, r_i)$, odd $k_i$ with
      $r_i(k_i - 1) + 1 \\le K$.
    - `eps`: the batch norms' $\\epsilon$.
    - `dtype`, `key`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import DilatedReparamConv2d
        >>> block = DilatedReparamConv2d(4, 13, key=jax.random.key(0))
        >>> x = jax.random.normal(jax.random.key(1), (20, 20, 4))
        >>> bool(jnp.allclose(block(x), block.merge()(x), atol=1e-5))
        True

    Paper: Ding, Zhang, Ge, Zhao, Song, Yue, Shan, *UniRepLKNet: A Universal Perception
    Large-Kernel ConvNet*, CVPR 2024.
    """

    large: Float[Array, "K K C"]
    large_bn: BatchNormStats
    branches: tuple
    branch_bns: tuple
    kernel_size: int = eqx.field(static=True)
    kernel_sizes: tuple[int, ...] = eqx.field(static=True)
    dilations: tuple[int, ...] = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    method: str = eqx.field(static=True)

    def __init__(self, channels: int, kernel_size: int, *,
                 kernel_sizes: Sequence[int] | None = None,
                 dilations: Sequence[int] | None = None, eps: float = 1e-5,
                 method: str = "auto", dtype=None, key: PRNGKeyArray):
        check_int("channels", channels, 1)
        check_odd("kernel_size", kernel_size)
        if kernel_sizes is None and dilations is None:
            if kernel_size not in DILATED_REPARAM_SETTINGS:
                raise ValueError(
                    f"`kernel_size` {kernel_size} has no reference setting (one of "
                    f"{sorted(DILATED_REPARAM_SETTINGS)}); pass `kernel_sizes` and `dilations`.")
            kernel_sizes, dilations = DILATED_REPARAM_SETTINGS[kernel_size]
        elif kernel_sizes is None or dilations is None:
            raise ValueError("pass both `kernel_sizes` and `dilations`, or neither.")
        check_branches(kernel_size, kernel_sizes, dilations)
        dtype = _dtype(dtype)
        n = len(kernel_sizes)
        keys = jax.random.split(key, 2 * n + 2)
        K = kernel_size
        self.large = _uniform(keys[0], (K, K, channels), K * K, dtype)
        self.large_bn = _random_bn(keys[1], channels, dtype)
        self.branches = tuple(_uniform(keys[2 + i], (k, k, channels), k * k, dtype)
                              for i, k in enumerate(kernel_sizes))
        self.branch_bns = tuple(_random_bn(keys[2 + n + i], channels, dtype) for i in range(n))
        self.kernel_size = K
        self.kernel_sizes = tuple(int(k) for k in kernel_sizes)
        self.dilations = tuple(int(r) for r in dilations)
        self.eps = eps
        self.method = method

    @property
    def channels(self) -> int:
        return self.large.shape[-1]

    def __call__(self, x: Float[Array, "*b H W C"]) -> Float[Array, "*b H W C"]:
        """The multi-branch (training-form) output."""
        _check_image(x, self.channels)
        y = self.large_bn(depthwise_conv2d(x, self.large, method=self.method), self.eps)
        for w, bn, r in zip(self.branches, self.branch_bns, self.dilations):
            y = y + bn(depthwise_conv2d(x, w, dilation=r, method=self.method), self.eps)
        return y

    def merged_kernel(self) -> tuple[Float[Array, "K K C"], Float[Array, " C"]]:
        """The re-parameterised `(kernel, bias)`."""
        def fused(w, bn):
            return fuse_batchnorm(w, None, bn.scale, bn.shift, bn.mean, bn.var, eps=self.eps)

        large, bias = fused(self.large, self.large_bn)
        ws = []
        for w, bn in zip(self.branches, self.branch_bns):
            wf, bf = fused(w, bn)
            ws.append(wf)
            bias = bias + bf
        return merge_dilated_kernels(large, ws, self.dilations), bias

    def merge(self) -> DepthwiseConv2d:
        """One depthwise convolution computing the same map (inference form)."""
        kernel, bias = self.merged_kernel()
        layer = DepthwiseConv2d(self.channels, self.kernel_size, method=self.method,
                                dtype=kernel.dtype, key=jax.random.key(0))
        return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (kernel, bias))


class Conv2d(eqx.Module):
    """A dense "same" convolution layer `(H, W, Cin) -> (H, W, Cout)` (PyTorch's init).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import Conv2d
        >>> Conv2d(2, 8, 5, key=jax.random.key(0))(jnp.ones((16, 16, 2))).shape
        (16, 16, 8)
    """

    weight: Float[Array, "kh kw Cin Cout"]
    bias: Float[Array, " Cout"]

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, dtype=None,
                 key: PRNGKeyArray):
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        kh, kw = check_odd("kernel_size", kernel_size)
        dtype = _dtype(dtype)
        k_w, k_b = jax.random.split(key)
        fan_in = kh * kw * in_channels
        self.weight = _uniform(k_w, (kh, kw, in_channels, out_channels), fan_in, dtype)
        self.bias = _uniform(k_b, (out_channels,), fan_in, dtype)

    @property
    def num_parameters(self) -> int:
        return self.weight.size + self.bias.size

    def __call__(self, x: Float[Array, "*b H W Cin"]) -> Float[Array, "*b H W Cout"]:
        _check_image(x, self.weight.shape[2])
        return conv2d(x, self.weight, self.bias)


class FactorisedConv2d(eqx.Module):
    """A rank-R ("one-way") convolution layer; see
    [`factorised_conv2d`][jaxkern.layers.factorised_conv2d].

    Holds $R(k_h + k_w + C_{in} + C_{out}) + C_{out}$ parameters instead of
    $k_h k_w C_{in} C_{out} + C_{out}$; [`kernel`][jaxkern.layers.FactorisedConv2d.kernel]
    reconstitutes the dense kernel.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import FactorisedConv2d
        >>> layer = FactorisedConv2d(8, 8, 5, rank=4, key=jax.random.key(0))
        >>> layer.num_parameters, layer(jnp.ones((16, 16, 8))).shape
        (112, (16, 16, 8))

    Paper: *A priori compression of convolutional neural networks for wave simulators*.
    """

    factors: CPFactors
    bias: Float[Array, " Cout"]

    def __init__(self, in_channels: int, out_channels: int, kernel_size, *, rank: int,
                 dtype=None, key: PRNGKeyArray):
        check_int("in_channels", in_channels, 1)
        check_int("out_channels", out_channels, 1)
        check_int("rank", rank, 1)
        kh, kw = check_odd("kernel_size", kernel_size)
        dtype = _dtype(dtype)
        keys = jax.random.split(key, 5)
        # Each factor ~ U(-s, s), E[u^2] = s^2/3, so a kernel entry (a sum of R products of
        # four) has variance R (s^2/3)^4: s is set to match PyTorch's 1/(3 fan_in).
        fan_in = kh * kw * in_channels
        s = 3 ** 0.5 * (1 / (3 * fan_in * rank)) ** 0.125
        sizes = (kh, kw, in_channels, out_channels)
        self.factors = CPFactors(*(jax.random.uniform(k, (rank, n), dtype, -s, s)
                                   for k, n in zip(keys, sizes)))
        self.bias = _uniform(keys[4], (out_channels,), fan_in, dtype)

    @property
    def num_parameters(self) -> int:
        return sum(f.size for f in self.factors) + self.bias.size

    def kernel(self) -> Float[Array, "kh kw Cin Cout"]:
        """The reconstituted dense kernel."""
        return cp_kernel(self.factors)

    def __call__(self, x: Float[Array, "*b H W Cin"]) -> Float[Array, "*b H W Cout"]:
        _check_image(x, self.factors.inputs.shape[1])
        return factorised_conv2d(x, self.factors, self.bias)


class NeuRBF(eqx.Module):
    """A NeuRBF field $x \\mapsto W^\\top h(x) + b$ over adaptive radial bases.

    $h$ is [`rbf_field`][jaxkern.layers.rbf_field]; the centres, shape matrices and weights
    are trained, the frequencies $\\omega$ are fixed (a geometric ladder, as NeuRBF's
    multi-frequency composition). Pass `neighbours` from
    [`nearest_bases`][jaxkern.layers.nearest_bases] (see
    [`neighbours`][jaxkern.layers.NeuRBF.neighbours]) for the $O(nk)$ evaluation.

    **Arguments:**

    - `resolution`: the initial grid of bases per input dimension (see
      [`grid_bases`][jaxkern.layers.grid_bases]).
    - `out_features`: output size (3 for an RGB image).
    - `num_channels`: $M$, the feature channels.
    - `max_frequency`: $\\omega$ runs geometrically from 1 to this.
    - `dtype`, `key`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import NeuRBF
        >>> field = NeuRBF((8, 8), 3, num_channels=4, key=jax.random.key(0))
        >>> x = jnp.array([[0.5, 0.5], [0.1, 0.9]])
        >>> field(x).shape, field(x, field.neighbours(x, k=9)).shape
        ((2, 3), (2, 3))

    Paper: Chen et al., *NeuRBF: A Neural Fields Representation with Adaptive Radial Basis
    Functions*, ICCV 2023.
    """

    centres: Float[Array, "B d"]
    shapes: Float[Array, "B d d"]
    weights: Float[Array, "B M"]
    frequencies: Float[Array, " M"]
    readout: Float[Array, "M out"]
    bias: Float[Array, " out"]

    def __init__(self, resolution: tuple[int, ...], out_features: int, *,
                 num_channels: int = 8, max_frequency: float = 8.0, dtype=None,
                 key: PRNGKeyArray):
        check_int("out_features", out_features, 1)
        check_int("num_channels", num_channels, 1)
        if not max_frequency >= 1:
            raise ValueError(f"`max_frequency` must be >= 1, got {max_frequency!r}.")
        dtype = _dtype(dtype)
        self.centres, self.shapes = grid_bases(tuple(resolution), dtype=dtype)
        k_w, k_r = jax.random.split(key)
        B = self.centres.shape[0]
        self.weights = 0.1 * jax.random.normal(k_w, (B, num_channels), dtype)
        self.frequencies = jnp.geomspace(1.0, max_frequency, num_channels).astype(dtype)
        self.readout = jax.random.normal(k_r, (num_channels, out_features), dtype) / num_channels
        self.bias = jnp.zeros((out_features,), dtype)

    @property
    def num_parameters(self) -> int:
        """Trained parameters: centres, shapes, weights, readout, bias."""
        return sum(a.size for a in (self.centres, self.shapes, self.weights, self.readout,
                                    self.bias))

    def neighbours(self, x: Float[Array, "n d"], *, k: int, block_size: int = 1024):
        """The `k` nearest bases of each point (no gradient)."""
        return nearest_bases(x, self.centres, self.shapes, k=k, block_size=block_size)

    def features(self, x, neighbours=None) -> Float[Array, "n M"]:
        freq = jax.lax.stop_gradient(self.frequencies)
        return rbf_field(x, self.centres, self.shapes, self.weights, freq,
                         neighbours=neighbours)

    def __call__(self, x: Float[Array, "n d"], neighbours=None) -> Float[Array, "n out"]:
        h = self.features(x, neighbours)
        return h @ self.readout.astype(h.dtype) + self.bias.astype(h.dtype)[None, :]


class ESSAttention(eqx.Module):
    """ESSAformer's attention block: $y = W_o\\,(V + \\mathrm{ESSA}(Q, K, V)) + b_o$.

    $Q, K, V$ come from one linear map of the tokens; the attention is
    [`essa_attention`][jaxkern.layers.essa_attention] (linear in the number of tokens), and
    the value path is kept as a residual inside the output map, as the reference `ESSAttn`.

    **Arguments:** `dim`: $C$; `dtype`, `key`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import ESSAttention
        >>> ESSAttention(8, key=jax.random.key(0))(jnp.ones((100, 8))).shape
        (100, 8)

    Paper: Zhang et al., *ESSAformer*, ICCV 2023.
    """

    qkv: eqx.nn.Linear
    out: eqx.nn.Linear
    eps: float = eqx.field(static=True)

    def __init__(self, dim: int, *, eps: float = 1e-7, dtype=None, key: PRNGKeyArray):
        check_int("dim", dim, 1)
        dtype = _dtype(dtype)
        k1, k2 = jax.random.split(key)
        self.qkv = eqx.nn.Linear(dim, 3 * dim, dtype=dtype, key=k1)
        self.out = eqx.nn.Linear(dim, dim, dtype=dtype, key=k2)
        self.eps = eps

    def __call__(self, x: Float[Array, "N C"], *, dense: bool = False) -> Float[Array, "N C"]:
        C = self.out.in_features
        if jnp.ndim(x) != 2 or x.shape[1] != C:
            raise ValueError(f"`x` must have shape (N, {C}), got shape {jnp.shape(x)}.")
        q, k, v = jnp.split(jax.vmap(self.qkv)(x), 3, axis=-1)
        attend = essa_attention_dense if dense else essa_attention
        return jax.vmap(self.out)(v + attend(q, k, v, eps=self.eps))
