r"""Depthwise convolution kernels: direct and FFT paths, Inception branches, dilated re-param.

Images are channels-last, `(..., H, W, C)`, any number of leading batch axes. Kernels are
cross-correlation kernels (as in PyTorch and `lax.conv_general_dilated`), `(kh, kw, C)` for a
depthwise convolution, with "same" zero padding: the output has the input's spatial size.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from .._validation import check_int

#: The measured crossover of `depthwise_conv2d(method="auto")`: the FFT path is taken when
#: kh * kw > FFT_CROSSOVER * log2(H' W'), H' x W' the padded FFT grid. Measured on XLA:CPU
#: (jax 0.10, 2 shared cores) at 56 x 56 x 96, batch 32 (benchmarks/bench_layers.py): the
#: direct path wins at K <= 5, the FFT path from K = 7 (log2 of the 64 x 64 grid is 12, so the
#: rule switches between K^2 = 25 and 49; ratios in docs/layers.md).
FFT_CROSSOVER = 3.5


def _pair(name: str, value) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else value
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2
            or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in pair)):
        raise ValueError(f"`{name}` must be a positive int or a pair of positive ints, got "
                         f"{value!r}.")
    return int(pair[0]), int(pair[1])


def check_odd(name: str, size) -> tuple[int, int]:
    """A kernel size (int or pair) whose every entry is odd, as a pair; else `ValueError`."""
    pair = _pair(name, size)
    if any(s % 2 == 0 for s in pair):
        raise ValueError(f"`{name}` must be odd (a centred 'same' convolution needs a middle "
                         f"tap), got {size!r}.")
    return pair


def _check_image(x, channels: int | None = None, name: str = "x") -> None:
    if jnp.ndim(x) < 3:
        raise ValueError(f"`{name}` must have shape (..., H, W, C), got shape {jnp.shape(x)}.")
    if channels is not None and jnp.shape(x)[-1] != channels:
        raise ValueError(f"`{name}` must have {channels} channels in its last axis, got shape "
                         f"{jnp.shape(x)}.")


def _check_depthwise(x, w, name: str = "w") -> tuple[int, int]:
    _check_image(x)
    if jnp.ndim(w) != 3:
        raise ValueError(f"`{name}` must have shape (kh, kw, C), got shape {jnp.shape(w)}.")
    if jnp.shape(w)[-1] != jnp.shape(x)[-1]:
        raise ValueError(f"`{name}` has {jnp.shape(w)[-1]} channels but `x` has "
                         f"{jnp.shape(x)[-1]} (shapes {jnp.shape(w)} and {jnp.shape(x)}).")
    return check_odd(f"{name}.shape[:2]", tuple(jnp.shape(w)[:2]))


def _flatten_batch(x):
    lead = x.shape[:-3]
    return x.reshape((-1,) + x.shape[-3:]), lead


@functools.partial(jax.jit, static_argnums=2)
def _depthwise_lax(x, w, dilation):
    xb, lead = _flatten_batch(x)
    kh, kw, c = w.shape
    ph, pw = dilation[0] * (kh - 1) // 2, dilation[1] * (kw - 1) // 2
    y = lax.conv_general_dilated(
        xb, w.astype(x.dtype)[:, :, None, :], window_strides=(1, 1),
        padding=((ph, ph), (pw, pw)), rhs_dilation=dilation,
        dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=c,
        precision=lax.Precision.HIGHEST)
    return y.reshape(lead + y.shape[1:])


@functools.partial(jax.jit, static_argnums=2)
def _depthwise_shift_add(x, w, dilation):
    """Sum of shifted, weighted copies of the padded input: a loop over kernel rows, the
    columns unrolled. XLA:CPU runs this 3-9x faster than its grouped convolution."""
    kh, kw, _ = w.shape
    (rh, rw), (H, W) = dilation, x.shape[-3:-1]
    ph, pw = rh * (kh - 1) // 2, rw * (kw - 1) // 2
    pad = [(0, 0)] * (x.ndim - 3) + [(ph, ph), (pw, pw), (0, 0)]
    xp = jnp.pad(x, pad)
    w = jnp.reshape(w.astype(x.dtype), (kh, kw) + (1,) * (x.ndim - 1) + (w.shape[-1],))

    def row(a, acc):
        xr = lax.dynamic_slice_in_dim(xp, a * rh, H, axis=x.ndim - 3)
        wa = lax.dynamic_index_in_dim(w, a, axis=0, keepdims=False)
        for b in range(kw):
            acc = acc + xr[..., b * rw: b * rw + W, :] * wa[b]
        return acc

    return lax.fori_loop(0, kh, row, jnp.zeros_like(x))


def _depthwise_direct(x, w, dilation):
    if jax.default_backend() == "cpu":
        return _depthwise_shift_add(x, w, dilation)
    return _depthwise_lax(x, w, dilation)


def _fft_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c >= n (sizes the FFT handles fast)."""
    best = 1 << (n - 1).bit_length()
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def dilate_kernel(w: Float[Array, "kh kw C"], dilation) -> Float[Array, "Kh Kw C"]:
    r"""The dense kernel of a dilated one: zeros between the taps, $K = r(k - 1) + 1$.

    A convolution with `w` at dilation $r$ equals a convolution with `dilate_kernel(w, r)`
    at dilation 1 (UniRepLKNet's `convert_dilated_to_nondilated`).

    **Arguments:**

    - `w`: kernel, shape `(kh, kw, C)`.
    - `dilation`: $r$, an int or a pair (rows, columns).

    **Returns:** shape `(r_h (kh - 1) + 1, r_w (kw - 1) + 1, C)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import dilate_kernel
        >>> dilate_kernel(jnp.ones((2, 1, 1)), 3)[:, 0, 0]
        Array([1., 0., 0., 1.], dtype=float32)

    Paper: Ding et al., *UniRepLKNet*, CVPR 2024, section 3 (dilated re-parameterisation).
    """
    rh, rw = _pair("dilation", dilation)
    if jnp.ndim(w) != 3:
        raise ValueError(f"`w` must have shape (kh, kw, C), got shape {jnp.shape(w)}.")
    kh, kw, c = w.shape
    out = jnp.zeros((rh * (kh - 1) + 1, rw * (kw - 1) + 1, c), w.dtype)
    return out.at[::rh, ::rw].set(w)


@functools.partial(jax.jit, static_argnums=2)
def _depthwise_fft(x, w, dilation):
    if dilation != (1, 1):
        w = dilate_kernel(w, dilation)
    kh, kw, _ = w.shape
    H, W = x.shape[-3], x.shape[-2]
    nh, nw = _fft_size(H + kh - 1), _fft_size(W + kw - 1)
    # Correlation = convolution with the flipped kernel; crop the centred "same" window.
    wf = jnp.flip(w.astype(x.dtype), axis=(0, 1))
    X = jnp.fft.rfft2(x, s=(nh, nw), axes=(-3, -2))
    K = jnp.fft.rfft2(wf, s=(nh, nw), axes=(0, 1))
    K = jnp.reshape(K, (1,) * (x.ndim - 3) + K.shape)
    y = jnp.fft.irfft2(X * K, s=(nh, nw), axes=(-3, -2))
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    return y[..., ph:ph + H, pw:pw + W, :].astype(x.dtype)


def fft_is_faster(spatial: tuple[int, int], kernel: tuple[int, int]) -> bool:
    r"""The rule `depthwise_conv2d(method="auto")` uses: FFT when the kernel is large enough.

    Direct depthwise convolution costs $\propto H W C\, k_h k_w$, the FFT path
    $\propto H' W' C \log_2(H' W')$ (plus the kernel's transform), so the FFT path wins once
    $k_h k_w > \gamma \log_2(H' W')$; $\gamma$ = `FFT_CROSSOVER` was measured on XLA:CPU.

    **Arguments:**

    - `spatial`: $(H, W)$.
    - `kernel`: the (dilated) kernel size $(k_h, k_w)$.

    **Returns:** `True` when the FFT path is predicted to be faster.

    Example:
        >>> from jaxkern.layers import fft_is_faster
        >>> fft_is_faster((56, 56), (5, 5)), fft_is_faster((56, 56), (31, 31))
        (False, True)
    """
    (H, W), (kh, kw) = spatial, kernel
    grid = _fft_size(H + kh - 1) * _fft_size(W + kw - 1)
    return kh * kw > FFT_CROSSOVER * math.log2(grid)


def depthwise_conv2d(
    x: Float[Array, "*batch H W C"],
    w: Float[Array, "kh kw C"],
    bias: Float[Array, " C"] | None = None,
    *,
    dilation=1,
    method: str = "auto",
) -> Float[Array, "*batch H W C"]:
    r"""Depthwise 2-D convolution with "same" zero padding, direct or by FFT.

    $$y_{ij c} = b_c + \sum_{a=0}^{k_h-1}\sum_{b=0}^{k_w-1} w_{ab c}\,
      x_{i + r_h(a - p_h),\; j + r_w(b - p_w),\; c}, \qquad p = (k - 1)/2,$$
    with $x = 0$ outside the image (PyTorch's `Conv2d(groups=C, padding=r(k-1)/2)`).
    `"direct"` runs `lax.conv_general_dilated`; `"fft"` multiplies zero-padded 2-D FFTs
    (no wrap-around), which costs $O(HW\log HW)$ per channel whatever the kernel size;
    `"auto"` picks by [`fft_is_faster`][jaxkern.layers.fft_is_faster].

    **Arguments:**

    - `x`: images, shape `(..., H, W, C)`.
    - `w`: one kernel per channel, shape `(kh, kw, C)`, odd sizes.
    - `bias`: optional, shape `(C,)`.
    - `dilation`: $r$, int or pair.
    - `method`: `"auto"`, `"direct"` or `"fft"`.

    **Returns:** shape of `x`, dtype of `x`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import depthwise_conv2d
        >>> x = jnp.zeros((5, 5, 1)).at[2, 2, 0].set(1.0)
        >>> w = jnp.arange(9.0).reshape(3, 3, 1)
        >>> depthwise_conv2d(x, w, method="fft")[1:4, 1:4, 0].round(4)  # flipped kernel
        Array([[8., 7., 6.],
               [5., 4., 3.],
               [2., 1., 0.]], dtype=float32)

    Paper: Ding et al., *Scaling Up Your Kernels to 31x31* / *UniRepLKNet*, CVPR 2022/2024
    (large depthwise kernels).
    """
    kh, kw = _check_depthwise(x, w)
    dil = _pair("dilation", dilation)
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"`method` must be 'auto', 'direct' or 'fft', got {method!r}.")
    if method == "auto":
        eff = (dil[0] * (kh - 1) + 1, dil[1] * (kw - 1) + 1)
        method = "fft" if fft_is_faster(tuple(x.shape[-3:-1]), eff) else "direct"
    y = _depthwise_fft(x, w, dil) if method == "fft" else _depthwise_direct(x, w, dil)
    if bias is not None:
        if jnp.shape(bias) != (x.shape[-1],):
            raise ValueError(f"`bias` must have shape ({x.shape[-1]},), got {jnp.shape(bias)}.")
        y = y + jnp.reshape(bias.astype(x.dtype), (1,) * (x.ndim - 1) + (-1,))
    return y


def inception_split(channels: int, branch_ratio: float = 0.125) -> tuple[int, int, int, int]:
    r"""Channel counts of the Inception branches: (identity, square, 1 x K, K x 1).

    $g = \lfloor C \rho \rfloor$ channels per convolution branch, the remaining $C - 3g$ pass
    unchanged (timm's `InceptionDWConv2d.split_indexes`).

    **Arguments:**

    - `channels`: $C$.
    - `branch_ratio`: $\rho \in (0, 1/3]$.

    **Returns:** `(C - 3g, g, g, g)`.

    Example:
        >>> from jaxkern.layers import inception_split
        >>> inception_split(96)
        (60, 12, 12, 12)
    """
    check_int("channels", channels, 1)
    if not 0 < branch_ratio <= 1 / 3:
        raise ValueError(f"`branch_ratio` must be in (0, 1/3], got {branch_ratio!r}.")
    g = int(channels * branch_ratio)
    if g < 1:
        raise ValueError(f"`channels` * `branch_ratio` must be >= 1 (one channel per branch), "
                         f"got {channels} * {branch_ratio}.")
    return channels - 3 * g, g, g, g


def inception_dwconv2d(
    x: Float[Array, "*batch H W C"],
    w_square: Float[Array, "k k g"],
    w_width: Float[Array, "1 K g"],
    w_height: Float[Array, "K 1 g"],
    b_square: Float[Array, " g"] | None = None,
    b_width: Float[Array, " g"] | None = None,
    b_height: Float[Array, " g"] | None = None,
    *,
    method: str = "auto",
) -> Float[Array, "*batch H W C"]:
    r"""Inception depthwise convolution: identity, $k\times k$, $1\times K$ and $K\times 1$.

    The channels split into $[x_{\mathrm{id}}, x_{hw}, x_w, x_h]$ of sizes
    $(C - 3g, g, g, g)$ (in that order) and
    $$y = \bigl[x_{\mathrm{id}},\; \mathrm{DW}_{k\times k}(x_{hw}),\;
      \mathrm{DW}_{1\times K}(x_w),\; \mathrm{DW}_{K\times 1}(x_h)\bigr],$$
    each a depthwise "same" convolution (with bias), as timm's `InceptionDWConv2d`
    (default $k = 3$, $K = 11$, $g = \lfloor C/8 \rfloor$).

    **Arguments:**

    - `x`: images, shape `(..., H, W, C)`.
    - `w_square`: shape `(k, k, g)`; `w_width`: `(1, K, g)`; `w_height`: `(K, 1, g)`.
    - `b_square`, `b_width`, `b_height`: optional biases, shape `(g,)`.
    - `method`: as in [`depthwise_conv2d`][jaxkern.layers.depthwise_conv2d].

    **Returns:** shape of `x`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import inception_dwconv2d
        >>> x = jnp.ones((8, 8, 16))
        >>> y = inception_dwconv2d(x, jnp.ones((3, 3, 2)), jnp.ones((1, 11, 2)),
        ...                        jnp.ones((11, 1, 2)))
        >>> float(y[4, 4, 0]), float(y[4, 4, 10]), float(y[4, 4, 12]), float(y[4, 4, 14])
        (1.0, 9.0, 8.0, 8.0)

    Paper: Yu, Zhou, Yan, Wang, *InceptionNeXt: When Inception Meets ConvNeXt*, CVPR 2024.
    """
    _check_image(x)
    g = jnp.shape(w_square)[-1] if jnp.ndim(w_square) == 3 else -1
    for name, w, shape in (("w_square", w_square, "(k, k, g)"), ("w_width", w_width, "(1, K, g)"),
                           ("w_height", w_height, "(K, 1, g)")):
        if jnp.ndim(w) != 3 or jnp.shape(w)[-1] != g:
            raise ValueError(f"`{name}` must have shape {shape} with the g of `w_square` "
                             f"({g}), got {jnp.shape(w)}.")
    if jnp.shape(w_width)[0] != 1 or jnp.shape(w_height)[1] != 1:
        raise ValueError(f"`w_width` must be (1, K, g) and `w_height` (K, 1, g), got "
                         f"{jnp.shape(w_width)} and {jnp.shape(w_height)}.")
    C = x.shape[-1]
    if 3 * g > C:
        raise ValueError(f"`x` has {C} channels, fewer than the 3 * {g} the branches need.")
    i0 = C - 3 * g
    parts = [x[..., :i0]]
    for j, (w, b) in enumerate(((w_square, b_square), (w_width, b_width),
                                (w_height, b_height))):
        xs = x[..., i0 + j * g: i0 + (j + 1) * g]
        parts.append(depthwise_conv2d(xs, w, b, method=method))
    return jnp.concatenate(parts, axis=-1)


#: UniRepLKNet's `DilatedReparamBlock` settings: large kernel size -> (small kernel sizes,
#: dilations) of the parallel dilated branches (reference code, AILab-CVC/UniRepLKNet).
DILATED_REPARAM_SETTINGS: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {
    17: ((5, 9, 3, 3, 3), (1, 2, 4, 5, 7)),
    15: ((5, 7, 3, 3, 3), (1, 2, 3, 5, 7)),
    13: ((5, 7, 3, 3, 3), (1, 2, 3, 4, 5)),
    11: ((5, 5, 3, 3, 3), (1, 2, 3, 4, 5)),
    9: ((5, 5, 3, 3), (1, 2, 3, 4)),
    7: ((5, 3, 3), (1, 2, 3)),
    5: ((3, 3), (1, 2)),
}


def check_branches(kernel_size: int, kernel_sizes: Sequence[int],
                   dilations: Sequence[int]) -> None:
    """Odd sizes, one dilation per branch, and every dilated branch inside the large kernel."""
    check_odd("kernel_size", kernel_size)
    if len(kernel_sizes) != len(dilations):
        raise ValueError(f"`kernel_sizes` and `dilations` must have the same length, got "
                         f"{tuple(kernel_sizes)} and {tuple(dilations)}.")
    for k, r in zip(kernel_sizes, dilations):
        check_odd("kernel_sizes", k)
        check_int("dilations", r, 1)
        if r * (k - 1) + 1 > kernel_size:
            raise ValueError(
                f"dilation {r} does not fit: a size-{k} kernel at dilation {r} spans "
                f"{r * (k - 1) + 1} taps, more than `kernel_size` = {kernel_size}.")


def merge_dilated_kernels(
    large: Float[Array, "K K C"],
    branches: Sequence[Float[Array, "k k C"]],
    dilations: Sequence[int],
) -> Float[Array, "K K C"]:
    r"""Re-parameterise parallel dilated depthwise kernels into one large kernel.

    Since convolution is linear and every branch is centred,
    $$\sum_i \mathrm{DW}(x; w_i, r_i) = \mathrm{DW}\Bigl(x;\; W + \sum_i
      \mathrm{pad}\bigl(\mathrm{dilate}(w_i, r_i)\bigr)\Bigr)$$
    where $\mathrm{dilate}$ is [`dilate_kernel`][jaxkern.layers.dilate_kernel] and the pad
    centres the $r_i(k_i - 1) + 1$ taps inside $K \times K$.

    **Arguments:**

    - `large`: $W$, shape `(K, K, C)`, $K$ odd.
    - `branches`: the kernels $w_i$, each `(k_i, k_i, C)`, $k_i$ odd.
    - `dilations`: $r_i$, with $r_i(k_i - 1) + 1 \le K$.

    **Returns:** the merged kernel, shape `(K, K, C)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import merge_dilated_kernels
        >>> m = merge_dilated_kernels(jnp.zeros((5, 5, 1)), [jnp.ones((3, 3, 1))], [2])
        >>> m[:, :, 0]
        Array([[1., 0., 1., 0., 1.],
               [0., 0., 0., 0., 0.],
               [1., 0., 1., 0., 1.],
               [0., 0., 0., 0., 0.],
               [1., 0., 1., 0., 1.]], dtype=float32)

    Paper: Ding et al., *UniRepLKNet*, CVPR 2024, section 3.
    """
    if jnp.ndim(large) != 3 or large.shape[0] != large.shape[1]:
        raise ValueError(f"`large` must have shape (K, K, C), got {jnp.shape(large)}.")
    K = large.shape[0]
    check_branches(K, [jnp.shape(w)[0] for w in branches], dilations)
    merged = large
    for w, r in zip(branches, dilations):
        if jnp.ndim(w) != 3 or w.shape[0] != w.shape[1] or w.shape[2] != large.shape[2]:
            raise ValueError(f"every branch must have shape (k, k, {large.shape[2]}), got "
                             f"{jnp.shape(w)}.")
        d = dilate_kernel(w, r)
        p = (K - d.shape[0]) // 2
        merged = merged + jnp.pad(d.astype(large.dtype), ((p, p), (p, p), (0, 0)))
    return merged


def fuse_batchnorm(
    w: Float[Array, "kh kw C"],
    bias: Float[Array, " C"] | None,
    scale: Float[Array, " C"],
    shift: Float[Array, " C"],
    mean: Float[Array, " C"],
    var: Float[Array, " C"],
    *,
    eps: float = 1e-5,
) -> tuple[Float[Array, "kh kw C"], Float[Array, " C"]]:
    r"""Fold an inference-mode batch norm into the depthwise convolution before it.

    $\mathrm{BN}(\mathrm{DW}(x; w) + b) = \mathrm{DW}(x; w\,s) + \beta + (b - \mu)\,s$ with
    $s = \gamma / \sqrt{\sigma^2 + \epsilon}$ (UniRepLKNet's `fuse_bn`).

    **Arguments:**

    - `w`, `bias`: the convolution (bias may be `None`).
    - `scale`, `shift`, `mean`, `var`: $\gamma, \beta, \mu, \sigma^2$, each `(C,)`.
    - `eps`: $\epsilon$ (PyTorch's default 1e-5).

    **Returns:** `(kernel, bias)` of the fused convolution.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import fuse_batchnorm
        >>> one = jnp.ones(1)
        >>> w, b = fuse_batchnorm(jnp.ones((1, 1, 1)), None, 2 * one, one, one, 3 * one, eps=1.0)
        >>> float(w[0, 0, 0]), float(b[0])
        (1.0, 0.0)
    """
    s = scale / jnp.sqrt(var + eps)
    b = jnp.zeros_like(mean) if bias is None else bias
    return w * jnp.reshape(s, (1, 1, -1)), shift + (b - mean) * s

