"""Explicit long kernels: SGConv's multi-scale kernels, squashed and smoothed long convolutions."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from .._validation import check_int, check_ndim


def sgconv_lengths(length: int, *, kernel_dim: int) -> list[int]:
    """Lengths of SGConv's sub-kernels: $d$, then $d\\,2^{i-1}$ for $i = 1, \\dots, S - 1$.

    $S = 1 + \\lceil\\log_2(L/d)\\rceil$ scales cover $d\\,2^{S-1} \\ge L$ steps.

    **Arguments:**

    - `length`: the sequence length $L \\ge 1$.
    - `kernel_dim`: $d$, the number of parameters per sub-kernel.

    **Returns:** the list of $S$ lengths.

    Example:
        >>> from jaxkern.ssm import sgconv_lengths
        >>> sgconv_lengths(1024, kernel_dim=32)
        [32, 32, 64, 128, 256, 512]

    Paper: Li, Cai, Zhang, Chen, Dey, *What Makes Convolutional Models Great on Long Sequence
    Modeling?*, ICLR 2023, section 3.
    """
    check_int("length", length, 1)
    check_int("kernel_dim", kernel_dim, 1)
    num_scales = 1 + max(0, math.ceil(math.log2(length / kernel_dim)))
    return [kernel_dim * 2 ** max(0, i - 1) for i in range(num_scales)]


def _upsample_linear(x: Float[Array, "d h"], factor: int) -> Float[Array, "fd h"]:
    """Linear interpolation by an integer factor with half-pixel centres, edges clamped."""
    d = x.shape[0]
    if factor == 1:
        return x
    pos = (np.arange(d * factor) + 0.5) / factor - 0.5
    pos = np.clip(pos, 0, d - 1)
    lo = np.floor(pos).astype(np.int32)
    hi = np.minimum(lo + 1, d - 1)
    frac = jnp.asarray(pos - lo, dtype=x.dtype)[:, None]
    return x[lo] * (1 - frac) + x[hi] * frac


def sgconv_kernel(
    sub_kernels: Float[Array, "s d h"],
    *,
    length: int,
    decay: Float[Array, " h"] | float = 2.0,
) -> Float[Array, "L h"]:
    """SGConv's multi-scale kernel: upsampled sub-kernels with decaying weights, concatenated.

    Sub-kernel $i$ ($d$ parameters per channel) is upsampled by linear interpolation by
    $2^{\\max(0, i-1)}$ and weighted by $\\alpha^{S - 1 - i}$, so the short, near sub-kernels
    weigh most and each further scale $\\alpha$ times less:

    $$k = \\operatorname{concat}_{i=0}^{S-1}\\; \\alpha^{S-1-i}\\,
    \\operatorname{Upsample}_{2^{\\max(0,i-1)}}(w_i),$$

    truncated or zero-padded to $L$. The layer [`SGConv`][jaxkern.ssm.SGConv] divides by the
    kernel's norm at initialisation.

    **Arguments:**

    - `sub_kernels`: $w_i$, shape `(S, d, h)`, $S$ = `len(sgconv_lengths(length, kernel_dim=d))`.
    - `length`: $L$.
    - `decay`: $\\alpha \\ge 1$ per channel `(h,)` or one number.

    **Returns:** the kernel, shape `(length, h)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.ssm import sgconv_kernel
        >>> w = jnp.ones((3, 2, 1))
        >>> sgconv_kernel(w, length=8, decay=2.0).ravel()
        Array([4., 4., 2., 2., 1., 1., 1., 1.], dtype=float32)

    Paper: Li, Cai, Zhang, Chen, Dey, *What Makes Convolutional Models Great on Long Sequence
    Modeling?*, ICLR 2023, section 3.
    """
    check_ndim("sub_kernels", sub_kernels, 3, "(S, d, h)")
    num_scales, d, h = sub_kernels.shape
    lengths = sgconv_lengths(length, kernel_dim=d)
    if num_scales != len(lengths):
        raise ValueError(
            f"`sub_kernels` must have {len(lengths)} scales for length {length} and kernel_dim "
            f"{d} (sub-kernel lengths {lengths}), got shape {sub_kernels.shape}."
        )
    decay = jnp.broadcast_to(jnp.asarray(decay, dtype=sub_kernels.dtype), (h,))
    parts = [
        decay[None, :] ** (num_scales - 1 - i) * _upsample_linear(sub_kernels[i], n // d)
        for i, n in enumerate(lengths)
    ]
    k = jnp.concatenate(parts, axis=0)[:length]
    return jnp.pad(k, ((0, length - k.shape[0]), (0, 0)))


def longconv_kernel(
    k: Float[Array, "L h"], *, threshold: float = 0.0, smooth: int = 1
) -> Float[Array, "L h"]:
    """A long-convolution kernel regularised by squashing, then smoothing.

    Squash (soft threshold): $k \\leftarrow \\operatorname{sign}(k)\\max(|k| - \\lambda, 0)$,
    which makes the kernel sparse. Smooth: a centred moving average of odd width $p$ with zero
    padding, $k_l \\leftarrow \\frac1p \\sum_{|j| \\le (p-1)/2} k_{l+j}$, which damps the high
    frequencies that make free kernels noisy.

    **Arguments:**

    - `k`: the free kernel, shape `(L, h)`.
    - `threshold`: $\\lambda \\ge 0$.
    - `smooth`: $p$, an odd int $\\ge 1$ (1 leaves the kernel alone).

    **Returns:** the regularised kernel, shape `(L, h)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.ssm import longconv_kernel
        >>> longconv_kernel(jnp.array([[0.5], [0.05], [-2.0]]), threshold=0.1).ravel()
        Array([ 0.4,  0. , -1.9], dtype=float32)

    Paper: Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra, Ré, *Simple Hardware-Efficient Long
    Convolutions for Sequence Modeling*, ICML 2023, section 3.1.
    """
    check_ndim("k", k, 2, "(L, h)")
    if not (threshold >= 0):
        raise ValueError(f"`threshold` must be non-negative, got {threshold!r}.")
    check_int("smooth", smooth, 1)
    if smooth % 2 == 0:
        raise ValueError(f"`smooth` must be an odd positive int, got {smooth!r}.")
    k = jnp.sign(k) * jnp.maximum(jnp.abs(k) - threshold, 0)
    if smooth == 1:
        return k
    half = smooth // 2
    c = jnp.cumsum(jnp.pad(k, ((half + 1, half), (0, 0))), axis=0)
    return (c[smooth:] - c[:-smooth]) / smooth
