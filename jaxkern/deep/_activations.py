r"""Activations and their Gaussian dual kernels: the one table both the finite network and
its infinite-width limit read.

For $(u, v) \sim \mathcal N(0, \Sigma)$, $\Sigma = \begin{pmatrix} k_{11} & k_{12} \\ k_{12} &
k_{22}\end{pmatrix}$, each activation $\phi$ supplies $\mathbb E[\phi(u)\phi(v)]$ (the NNGP
step) and $\mathbb E[\phi'(u)\phi'(v)]$ (the NTK step).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import jax.numpy as jnp
import jax.scipy.special as jss
from jax import lax
from jaxtyping import Array

from ..kernels import arccos_map


class Activation(NamedTuple):
    """An activation by name with the slopes that `ab_relu` and `leaky_relu` read."""

    name: str
    negative_slope: float
    positive_slope: float


def _ab_relu(a, b, x):
    return jnp.where(x > 0, b * x, a * x)


def _ab_relu_dual(a, b, k11, k12, k22):
    # phi = a x + (b - a) relu(x); E[x relu(y)] = k/2 and E[relu relu] = arccos_map / 2.
    nngp = a * b * k12 + (b - a) ** 2 / 2 * arccos_map(k11, k12, k22, order=1)
    dot = a * b + (b - a) ** 2 / 2 * arccos_map(k11, k12, k22, order=0)
    return nngp, dot


def _erf_dual(a, b, k11, k12, k22):
    # E[erf u erf v] = (2/pi) asin(2 k12 / sqrt((1+2k11)(1+2k22))) (Williams 1997);
    # E[erf' u erf' v] = (4/pi) det(I + 2 Sigma)^(-1/2).
    p = (1 + 2 * k11) * (1 + 2 * k22)
    nngp = 2 / math.pi * jnp.arcsin(jnp.clip(2 * k12 / jnp.sqrt(p), -1, 1))
    dot = 4 / math.pi * lax.rsqrt(p - 4 * k12 * k12)
    return nngp, dot


def _identity_dual(a, b, k11, k12, k22):
    return k12, jnp.ones_like(k12)


_TABLE: dict[str, tuple[Callable, Callable]] = {
    "relu": (lambda a, b, x: jnp.maximum(x, 0), lambda a, b, *k: _ab_relu_dual(0.0, 1.0, *k)),
    "leaky_relu": (_ab_relu, _ab_relu_dual),
    "ab_relu": (_ab_relu, _ab_relu_dual),
    "erf": (lambda a, b, x: jss.erf(x), _erf_dual),
    "identity": (lambda a, b, x: x, _identity_dual),
}
ACTIVATIONS = tuple(_TABLE)


def activation(name: str, *, negative_slope: float = 0.01, positive_slope: float = 1.0
               ) -> Activation:
    """Check an activation name and its slopes; `leaky_relu` has positive slope 1."""
    if name not in _TABLE:
        raise ValueError(f"`activation` must be one of {ACTIVATIONS}, got {name!r}.")
    if name == "leaky_relu":
        positive_slope = 1.0
    return Activation(name, float(negative_slope), float(positive_slope))


def apply(act: Activation, x: Array) -> Array:
    """The activation elementwise."""
    return _TABLE[act.name][0](act.negative_slope, act.positive_slope, x)


def dual(act: Activation, k11: Array, k12: Array, k22: Array) -> tuple[Array, Array]:
    """$(\\mathbb E[\\phi(u)\\phi(v)], \\mathbb E[\\phi'(u)\\phi'(v)])$, elementwise."""
    return _TABLE[act.name][1](act.negative_slope, act.positive_slope, k11, k12, k22)


def variance(act: Activation, k: Array) -> Array:
    r"""$\mathbb E[\phi(u)^2]$ for $u \sim \mathcal N(0, k)$ (the diagonal of the NNGP step)."""
    return dual(act, k, k, k)[0]

