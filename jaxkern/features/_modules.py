"""Equinox layers over the feature maps: an SNNK layer, an attention layer, a quantum kernel."""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_int
from ..kernels import Kernel, spectral_frequencies
from ._attention import kernelized_attention
from ._quantum import _check_config, fidelity_kernel
from ._snnk import _check_activation, neural_network_kernel, snnk_features


class SNNK(eqx.Module):
    r"""A dense layer $x \mapsto f(Wx + b)$ replaced by $\Phi(x)^\top \Psi(W, b)$.

    Holds `weight` (p, d) and `bias` (p,) as trainable leaves and a fixed draw of
    `frequencies` (m, d + 1); see [`snnk_features`][jaxkern.features.snnk_features] for the
    feature maps and [`neural_network_kernel`][jaxkern.features.neural_network_kernel] for
    what the layer converges to as $m \to \infty$ (`exact`). Once $\Psi(W, b)$ is formed, a
    forward pass costs $O(m(d + p))$ per input instead of $O(dp)$.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import SNNK
        >>> layer = SNNK(3, 2, activation="relu", num_features=64, key=jax.random.key(0))
        >>> layer(jnp.ones(3)).shape
        (2,)

    Sehanobish et al., *Scalable Neural Network Kernels*, ICLR 2024.
    """

    weight: Float[Array, "p d"]
    bias: Float[Array, " p"]
    frequencies: Float[Array, "m d+1"]
    activation: str = eqx.field(static=True)

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        activation: str,
        num_features: int,
        key: PRNGKeyArray,
        orthogonal: bool = False,
        weight: Float[Array, "p d"] | None = None,
        bias: Float[Array, " p"] | None = None,
    ):
        _check_activation(activation)
        check_int("num_features", num_features, 1)
        k_w, k_f = jax.random.split(key)
        if weight is None:
            weight = jax.random.normal(k_w, (out_features, in_features)) / in_features**0.5
        if bias is None:
            bias = jnp.zeros(out_features, weight.dtype)
        if weight.shape != (out_features, in_features) or bias.shape != (out_features,):
            raise ValueError(f"`weight` and `bias` must have shapes {(out_features, in_features)}"
                             f" and {(out_features,)}, got {weight.shape} and {bias.shape}.")
        self.weight, self.bias, self.activation = weight, bias, activation
        # The random frequencies are a fixed draw, not a parameter.
        self.frequencies = spectral_frequencies(in_features + 1, key=k_f,
                                                num_features=num_features,
                                                orthogonal=orthogonal, dtype=weight.dtype)

    @classmethod
    def from_linear(cls, linear: eqx.nn.Linear, *, activation: str, num_features: int,
                    key: PRNGKeyArray, orthogonal: bool = False) -> SNNK:
        """The SNNK of a trained `eqx.nn.Linear` layer (zero bias if it has none)."""
        p, d = linear.weight.shape
        return cls(d, p, activation=activation, num_features=num_features, key=key,
                   orthogonal=orthogonal, weight=linear.weight, bias=linear.bias)

    def __call__(self, x: Float[Array, " d"]) -> Float[Array, " p"]:
        freq = jax.lax.stop_gradient(self.frequencies)
        f = snnk_features(x[None], self.weight, self.bias, freq, activation=self.activation)
        return (f.inputs @ f.weights.T)[0]

    def exact(self, x: Float[Array, " d"]) -> Float[Array, " p"]:
        """The layer the features estimate, in closed form."""
        return neural_network_kernel(x[None], self.weight, self.bias,
                                     activation=self.activation)[0]


class KernelizedAttention(eqx.Module):
    r"""Multi-head self-attention with random features and a learnable relative-position bias.

    Projects $x$ (n, d_model) to queries, keys and values with `num_heads` heads, attends
    with random features and a learnable relative-position bias per head (`rpe_bias`, shape
    (num_heads, 2 max_length - 1); a sequence of length $n \le$ `max_length` uses its
    central $2n - 1$ entries), and projects back to d_model.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import KernelizedAttention
        >>> layer = KernelizedAttention(8, num_heads=2, num_features=16, max_length=32,
        ...                             key=jax.random.key(0))
        >>> layer(jnp.ones((10, 8)), key=jax.random.key(1)).shape
        (10, 8)

    Luo et al., *Stable, Fast and Accurate: Kernelized Attention with Relative Positional
    Encoding*, NeurIPS 2021.
    """

    query: eqx.nn.Linear
    key_proj: eqx.nn.Linear
    value: eqx.nn.Linear
    output: eqx.nn.Linear
    rpe_bias: Float[Array, "h 2L-1"]
    num_heads: int = eqx.field(static=True)
    num_features: int = eqx.field(static=True)
    causal: bool = eqx.field(static=True)

    def __init__(self, d_model: int, *, num_heads: int, num_features: int, max_length: int,
                 key: PRNGKeyArray, causal: bool = False):
        check_int("num_features", num_features, 1)
        if d_model % num_heads:
            raise ValueError(f"`d_model` = {d_model} must be a multiple of `num_heads` = "
                             f"{num_heads}.")
        kq, kk, kv, ko = jax.random.split(key, 4)
        self.query = eqx.nn.Linear(d_model, d_model, key=kq)
        self.key_proj = eqx.nn.Linear(d_model, d_model, key=kk)
        self.value = eqx.nn.Linear(d_model, d_model, key=kv)
        self.output = eqx.nn.Linear(d_model, d_model, key=ko)
        self.rpe_bias = jnp.zeros((num_heads, 2 * max_length - 1))
        self.num_heads, self.num_features, self.causal = num_heads, num_features, causal

    def __call__(self, x: Float[Array, "n d_model"], *, key: PRNGKeyArray
                 ) -> Float[Array, "n d_model"]:
        n, d_model = x.shape
        max_length = (self.rpe_bias.shape[-1] + 1) // 2
        if n > max_length:
            raise ValueError(f"the sequence length {n} exceeds `max_length` = {max_length}.")

        def heads(lin):
            return jax.vmap(lin)(x).reshape(n, self.num_heads, d_model // self.num_heads)

        bias = self.rpe_bias[:, max_length - n: max_length + n - 1]
        out = kernelized_attention(heads(self.query), heads(self.key_proj), heads(self.value),
                                   key=key, num_features=self.num_features, rpe_bias=bias,
                                   causal=self.causal)
        return jax.vmap(self.output)(out.reshape(n, d_model))


class QuantumKernel(Kernel):
    r"""Module form of [`fidelity_kernel`][jaxkern.features.fidelity_kernel] for `num_qubits`.

    A `jaxkern.kernels.Kernel`, so it composes and plugs into `gram` and the GP
    code; points whose dimension is not `num_qubits` raise `ValueError`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.features import QuantumKernel
        >>> from jaxkern.kernels import gram
        >>> gram(QuantumKernel(2), jnp.zeros((3, 2))).shape
        (3, 3)
    """

    num_qubits: int = eqx.field(static=True)
    reps: int = eqx.field(static=True, default=2)
    entanglement: str = eqx.field(static=True, default="full")
    feature_map: str = eqx.field(static=True, default="zz")

    def __check_init__(self):
        _check_config(jnp.zeros(self.num_qubits), None, self.reps, self.entanglement,
                      self.feature_map)

    def __call__(self, x, y):
        return fidelity_kernel(x, y, reps=self.reps, entanglement=self.entanglement,
                               feature_map=self.feature_map, num_qubits=self.num_qubits)
