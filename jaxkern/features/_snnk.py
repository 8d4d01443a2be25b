r"""Scalable neural network kernels: a dense layer $f(Wx + b)$ as $\Phi(x)^\top \Psi(W, b)$.

The bias is folded into an extra input, $\tilde x = (x, 1)$ and $\tilde w = (w, b)$, so every
unit is a function of one dot product $\tilde w^\top \tilde x$, and both sides get random
features from the same Gaussian frequencies $\omega_i \in \mathbb R^{d+1}$.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from .._validation import check_length, check_ndim
from ..kernels import arccos, gram

ACTIVATIONS = ("relu", "exp", "cos", "sin")


class SNNKFeatures(NamedTuple):
    """Input features $\\Phi(X)$ and weight features $\\Psi(W, b)$; the layer is their product."""

    inputs: Float[Array, "n M"]
    weights: Float[Array, "p M"]


def _augment(X, W, b):
    check_ndim("X", X, 2, "(n, d)")
    check_ndim("W", W, 2, "(p, d)")
    if X.shape[-1] != W.shape[-1]:
        raise ValueError(f"`X` and `W` must have the same input dimension, got shapes "
                         f"{X.shape} and {W.shape}.")
    check_ndim("b", b, 1, "(p,)")
    check_length("b", b, W.shape[0], "one bias per row of W")
    Xa = jnp.concatenate([X, jnp.ones_like(X[:, :1])], axis=-1)
    Wa = jnp.concatenate([W, b[:, None].astype(W.dtype)], axis=-1)
    return Xa, Wa


def _check_activation(activation) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(f"`activation` must be one of {ACTIVATIONS}, got {activation!r}.")


def neural_network_kernel(
    X: Float[Array, "n d"], W: Float[Array, "p d"], b: Float[Array, " p"], *, activation: str
) -> Float[Array, "n p"]:
    r"""The layer that an SNNK approximates, computed exactly in $O(n p d)$.

    For `activation` in `"exp"`, `"cos"`, `"sin"` this is the dense layer itself,
    $K_{ij} = f(w_j^\top x_i + b_j)$. For `"relu"` it is the arc-cosine kernel of order 1
    between $\tilde x_i = (x_i, 1)$ and $\tilde w_j = (w_j, b_j)$,
    $K_{ij} = 2\,\mathbb E_\omega[\mathrm{relu}(\omega^\top \tilde x_i)\,
    \mathrm{relu}(\omega^\top \tilde w_j)]$ = `jaxkern.kernels.arccos(order=1)`:
    the ReLU-SNNK of the paper, a kernel between input and weight rather than
    $\mathrm{relu}(w^\top x + b)$.

    **Arguments:**

    - `X`: inputs, shape (n, d).
    - `W`: weights, shape (p, d), one row per output unit.
    - `b`: biases, shape (p,).
    - `activation`: `"relu"`, `"exp"`, `"cos"` or `"sin"`.

    **Returns:** shape (n, p).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.features import neural_network_kernel
        >>> X, W, b = jnp.array([[1.0, 2.0]]), jnp.array([[0.5, -0.25]]), jnp.array([0.5])
        >>> round(float(neural_network_kernel(X, W, b, activation="exp")[0, 0]), 6)
        1.648721

    Sehanobish et al., *Scalable Neural Network Kernels*, ICLR 2024.
    """
    _check_activation(activation)
    Xa, Wa = _augment(X, W, b)
    if activation == "relu":
        return gram(lambda x, w: arccos(x, w, order=1), Xa, Wa)
    z = Xa @ Wa.T
    return {"exp": jnp.exp, "cos": jnp.cos, "sin": jnp.sin}[activation](z)


def snnk_features(
    X: Float[Array, "n d"],
    W: Float[Array, "p d"],
    b: Float[Array, " p"],
    frequencies: Float[Array, "m d+1"],
    *,
    activation: str,
) -> SNNKFeatures:
    r"""Universal random features that disentangle a layer's inputs from its weights.

    With $\omega_i \sim \mathcal N(0, I_{d+1})$ and $z = \tilde w^\top \tilde x$:

    - `"exp"`: $\Phi_i = e^{\omega_i^\top \tilde x - |\tilde x|^2/2}/\sqrt m$,
      $\Psi_i = e^{\omega_i^\top \tilde w - |\tilde w|^2/2}/\sqrt m$, so
      $\mathbb E[\Phi^\top\Psi] = e^{z}$ (positive random features).
    - `"cos"`, `"sin"` ($f(z) = \cos(z + c)$, $c = 0$ or $-\pi/2$): the Gaussian identity
      $\mathbb E_\omega[e^{\omega^\top(u + v)}] = e^{(u+v)^\top(u+v)/2}$ taken at the complex
      point $u = i\tilde x$, $v = \tilde w$ gives $\Phi_i = e^{|\tilde x|^2/2}
      \cos(\omega_i^\top \tilde x + c)/\sqrt m$ and the same $\Psi$ as `"exp"`, so
      $\mathbb E[\Phi^\top\Psi] = \cos(z + c)$. This is the URF construction: the Fourier
      expansion of $f$ followed by Gaussian features of $e^{i\xi z}$ (here at $\xi = 1$).
      The variance grows like $e^{|\tilde x|^2 + |\tilde w|^2}$: keep inputs and weights small.
    - `"relu"`: $\Phi = \sqrt{2/m}\,\mathrm{relu}(\Omega\tilde x)$, $\Psi = \sqrt{2/m}\,
      \mathrm{relu}(\Omega\tilde w)$, so $\mathbb E[\Phi^\top\Psi]$ is the order-1
      arc-cosine kernel of `jaxkern.kernels.arccos` (the factor 2 of Cho & Saul's
      normalisation is split as $\sqrt 2$ on each side).

    In every case $\mathbb E[\Phi(X)\Psi(W, b)^\top]$ =
    [`neural_network_kernel`][jaxkern.features.neural_network_kernel]`(X, W, b)`.

    **Arguments:**

    - `X`: inputs, shape (n, d).
    - `W`, `b`: weights (p, d) and biases (p,).
    - `frequencies`: shape (m, d + 1), from
      `spectral_frequencies(d + 1, spectrum="rbf", ...)` (iid or orthogonal).
    - `activation`: `"relu"`, `"exp"`, `"cos"` or `"sin"`.

    **Returns:** [`SNNKFeatures`][jaxkern.features.SNNKFeatures] with `inputs` (n, m) and
    `weights` (p, m).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import snnk_features, spectral_frequencies
        >>> om = spectral_frequencies(3, key=jax.random.key(0), num_features=16)
        >>> f = snnk_features(jnp.ones((4, 2)), jnp.ones((5, 2)), jnp.zeros(5), om,
        ...                   activation="relu")
        >>> (f.inputs @ f.weights.T).shape
        (4, 5)

    Sehanobish et al., *Scalable Neural Network Kernels*, ICLR 2024, section 3.
    """
    _check_activation(activation)
    Xa, Wa = _augment(X, W, b)
    check_ndim("frequencies", frequencies, 2, "(m, d + 1)")
    if frequencies.shape[-1] != Xa.shape[-1]:
        raise ValueError(f"`frequencies` must have d + 1 = {Xa.shape[-1]} columns (the bias is "
                         f"an extra input), got shape {frequencies.shape}.")
    m = frequencies.shape[0]
    px = Xa @ frequencies.astype(X.dtype).T
    pw = Wa @ frequencies.astype(W.dtype).T
    if activation == "relu":
        scale = math.sqrt(2 / m)
        return SNNKFeatures(scale * jax.nn.relu(px), scale * jax.nn.relu(pw))
    sq_x = jnp.sum(Xa * Xa, axis=-1, keepdims=True)
    sq_w = jnp.sum(Wa * Wa, axis=-1, keepdims=True)
    psi = jnp.exp(pw - sq_w / 2) / math.sqrt(m)
    if activation == "exp":
        return SNNKFeatures(jnp.exp(px - sq_x / 2) / math.sqrt(m), psi)
    shift = 0.0 if activation == "cos" else -math.pi / 2
    return SNNKFeatures(jnp.exp(sq_x / 2) * jnp.cos(px + shift) / math.sqrt(m), psi)
