"""A finite fully connected network in the NTK parameterisation, the one `nngp_ntk` is the
infinite-width limit of."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from .._validation import check_int, check_ndim, is_prng_key, warn_deprecated
from ._activations import activation as make_activation
from ._activations import apply
from ._closed_form import _check_architecture


class DenseParams(NamedTuple):
    """Standard-normal weights (fan_in, fan_out) and biases (fan_out,) of one Dense layer."""

    W: Array
    b: Array


def init_mlp(
    in_dim: int, *args, width: int, depth: int = 1, out_dim: int = 1, dtype=None,
    key: PRNGKeyArray | None = None,
) -> list[DenseParams]:
    r"""Standard-normal parameters of `depth` hidden layers of `width` units and a readout.

    In the NTK parameterisation every weight and bias is $\mathcal N(0, 1)$; the scales
    $\sigma_w/\sqrt{n_{l}}$ and $\sigma_b$ live in [`mlp`][jaxkern.deep.mlp].

    **Arguments:**

    - `in_dim`: input dimension $d$.
    - `key`: PRNG key (keyword-only; the old `init_mlp(key, in_dim, ...)` still works, with a
      `DeprecationWarning`).
    - `width`: hidden width $n$.
    - `depth`: number of hidden layers.
    - `out_dim`: output dimension.
    - `dtype`: float dtype; the default float dtype if None.

    **Returns:** a list of `depth + 1` [`DenseParams`][jaxkern.deep.DenseParams].

    Example:
        >>> import jax
        >>> from jaxkern.deep import init_mlp
        >>> tuple(p.W.shape for p in init_mlp(3, width=8, depth=2, key=jax.random.key(0)))
        ((3, 8), (8, 8), (8, 1))
    """
    if is_prng_key(in_dim) and len(args) == 1 and key is None:
        warn_deprecated("init_mlp(key, in_dim, ...)", "init_mlp(in_dim, ..., key=key)")
        key, in_dim = in_dim, args[0]
    elif args:
        raise TypeError(f"init_mlp takes one positional argument (in_dim), got {1 + len(args)}.")
    if key is None:
        raise ValueError("`key` is required: init_mlp(in_dim, width=..., key=jax.random.key(0)).")
    for name, value in (("in_dim", in_dim), ("width", width), ("out_dim", out_dim)):
        check_int(name, value, 1)
    check_int("depth", depth, 0)
    dtype = jnp.result_type(float) if dtype is None else dtype
    sizes = [in_dim] + [width] * depth + [out_dim]
    keys = jax.random.split(key, len(sizes) - 1)
    params = []
    for k, fan_in, fan_out in zip(keys, sizes[:-1], sizes[1:], strict=True):
        kw, kb = jax.random.split(k)
        params.append(DenseParams(jax.random.normal(kw, (fan_in, fan_out), dtype),
                                  jax.random.normal(kb, (fan_out,), dtype)))
    return params


def mlp(
    params: list[DenseParams],
    x: Float[Array, " d"],
    *,
    activation: str = "relu",
    W_std: Float[ArrayLike, ""] = 1.0,
    b_std: Float[ArrayLike, ""] = 0.0,
    negative_slope: float = 0.01,
    positive_slope: float = 1.0,
) -> Float[Array, " o"]:
    r"""Apply the NTK-parameterised network to one input.

    $$h^{1} = \tfrac{\sigma_w}{\sqrt d} x W^1 + \sigma_b b^1, \quad
      h^{l+1} = \tfrac{\sigma_w}{\sqrt{n_l}} \phi(h^l) W^{l+1} + \sigma_b b^{l+1};$$
    the output is the last $h$. As the width grows, its NNGP and empirical NTK tend to
    [`nngp_ntk`][jaxkern.deep.nngp_ntk] with the same arguments.

    **Arguments:**

    - `params`: from [`init_mlp`][jaxkern.deep.init_mlp].
    - `x`: one input, shape (d,).
    - `activation`, `W_std`, `b_std`, `negative_slope`, `positive_slope`: as in
      [`nngp_ntk`][jaxkern.deep.nngp_ntk].

    **Returns:** the output, shape (out_dim,).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.deep import init_mlp, mlp
        >>> params = init_mlp(2, width=16, key=jax.random.key(0))
        >>> mlp(params, jnp.array([1.0, 0.0])).shape
        (1,)

    Jacot, Gabriel & Hongler, *Neural Tangent Kernel*, NeurIPS 2018, section 2.
    """
    check_ndim("x", x, 1, "(d,)")
    if params[0].W.shape[0] != x.shape[0]:
        raise ValueError(f"`x` has {x.shape[0]} features but `params` expect "
                         f"{params[0].W.shape[0]}.")
    _check_architecture(len(params) - 1, W_std, b_std)
    act = make_activation(activation, negative_slope=negative_slope,
                          positive_slope=positive_slope)
    h = x
    for i, (W, b) in enumerate(params):
        if i > 0:
            h = apply(act, h)
        h = W_std / math.sqrt(W.shape[0]) * (h @ W) + b_std * b
    return h
