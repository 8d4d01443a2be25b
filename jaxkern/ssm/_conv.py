"""Long convolutions by FFT."""

from __future__ import annotations

import jax.numpy as jnp
from jaxtyping import Array, Float

from .._validation import as_float, check_ndim


def fft_conv(
    u: Float[Array, "L h"], k: Float[Array, "Lk h"], *, causal: bool = True
) -> Float[Array, "L h"]:
    """Convolve each channel of `u` with its own kernel by FFT, in $O(L \\log L)$.

    Causal: $y_t = \\sum_{s=0}^{t} k_s u_{t-s}$ (the first $L$ entries of the full linear
    convolution). Non-causal: the kernel is centred, $y_t = \\sum_s k_s u_{t + c - s}$ with
    $c = \\lfloor (L_k - 1)/2 \\rfloor$ (NumPy's `np.convolve(..., mode="same")` when
    $L_k \\le L$). Both zero-pad to a power of two $\\ge L + L_k - 1$, so nothing wraps around.

    **Arguments:**

    - `u`: input sequence, shape `(L, h)`.
    - `k`: one kernel per channel, shape `(Lk, h)`; any length $L_k \\ge 1$.
    - `causal`: causal (default) or centred convolution.

    **Returns:** $y$, shape `(L, h)`, the dtype of `u`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.ssm import fft_conv
        >>> u = jnp.array([[1.0], [2.0], [3.0]])
        >>> fft_conv(u, jnp.array([[1.0], [1.0]])).ravel()
        Array([1., 3., 5.], dtype=float32)

    Paper: Fu, Epstein, Nguyen, Thomas, Zhang, Dao, Rudra, Ré, *Simple Hardware-Efficient Long
    Convolutions for Sequence Modeling*, ICML 2023, section 2.
    """
    check_ndim("u", u, 2, "(L, h)")
    check_ndim("k", k, 2, "(Lk, h)")
    (L, h), (Lk, hk) = jnp.shape(u), jnp.shape(k)
    if h != hk:
        raise ValueError(
            f"`u` and `k` must have the same number of channels, got shapes {jnp.shape(u)} and "
            f"{jnp.shape(k)}."
        )
    if L < 1 or Lk < 1:
        raise ValueError(f"`u` and `k` need at least one step, got shapes {(L, h)} and {(Lk, hk)}.")
    u, k = as_float(u, k)  # integer signals: float result, not one truncated to integers
    n = 1 << (L + Lk - 2).bit_length()
    y = jnp.fft.irfft(
        jnp.fft.rfft(u, n=n, axis=0) * jnp.fft.rfft(k.astype(u.dtype), n=n, axis=0), n=n, axis=0
    )
    start = 0 if causal else (Lk - 1) // 2
    return y[start : start + L].astype(u.dtype)
