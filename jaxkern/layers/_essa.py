r"""ESSA: spectral-correlation (SCC) kernel attention in linear time, and its dense form."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

_NORM_EPS = 1e-12  # torch.nn.functional.normalize's floor on the norm


def _check_qkv(q, k, v) -> None:
    for name, x in (("q", q), ("k", k), ("v", v)):
        if jnp.ndim(x) != 2:
            raise ValueError(f"`{name}` must have shape (N, C), got shape {jnp.shape(x)}.")
    if q.shape != k.shape or v.shape[0] != k.shape[0]:
        raise ValueError(f"`q` and `k` must have the same shape (N, C) and `v` N rows, got "
                         f"{q.shape}, {k.shape} and {v.shape}.")


def _spectral_weights(x, eps):
    """$\\hat x_c^2 / (\\sum_c \\hat x_c^2 + \\epsilon)$ with $\\hat x$ centred over channels."""
    xc = x - jnp.mean(x, axis=-1, keepdims=True)
    x2 = xc * xc
    return x2 / (jnp.sum(x2, axis=-1, keepdims=True) + eps)


def _unit(x, axis):
    return x / jnp.maximum(jnp.linalg.norm(x, axis=axis, keepdims=True), _NORM_EPS)


def essa_features(
    q: Float[Array, "N C"], k: Float[Array, "N C"], *, eps: float = 1e-7
) -> tuple[Float[Array, "N C"], Float[Array, "N C"]]:
    r"""The feature maps $\phi(q)$, $\psi(k)$ whose inner products are ESSA's attention.

    With $\hat x = x - \bar x$ (centred over the $C$ channels) and
    $s(x)_c = \hat x_c^2 / (\lVert \hat x\rVert^2 + \epsilon)$,
    $\phi(q_i) = s(q_i)/\lVert s(q_i)\rVert$ (unit rows) and
    $\psi(k_j)_c = s(k_j)_c / \lVert s(k_{\cdot})_c\rVert$ (unit columns over the $N$ keys),
    as ESSAformer's `ESSAttn`.

    **Arguments:** `q`, `k`: shape `(N, C)`; `eps`: $\epsilon$.

    **Returns:** `(phi, psi)`, each `(N, C)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import essa_features
        >>> phi, psi = essa_features(jnp.array([[1.0, -1.0, 0.0]]), jnp.ones((1, 3)))
        >>> phi.round(4)
        Array([[0.7071, 0.7071, 0.    ]], dtype=float32)

    Paper: Zhang, Yuan, Jiang, Song, Li, Zhu, *ESSAformer: Efficient Transformer for
    Hyperspectral Image Super-resolution*, ICCV 2023, section 3.
    """
    _check_qkv(q, k, k)
    return _unit(_spectral_weights(q, eps), -1), _unit(_spectral_weights(k, eps), -2)


def essa_attention(
    q: Float[Array, "N C"], k: Float[Array, "N C"], v: Float[Array, "N Cv"], *,
    eps: float = 1e-7
) -> Float[Array, "N Cv"]:
    r"""ESSA attention in linear time: $\phi(Q)\,(\psi(K)^\top V) / \sqrt N$.

    The SCC kernel attention $A_{ij} = \phi(q_i)^\top\psi(k_j)$ (see
    [`essa_features`][jaxkern.layers.essa_features]) is never formed: the $C \times C_v$
    product $\psi(K)^\top V$ comes first, so the cost is $O(N C C_v)$, linear in the number of
    tokens $N$. Equals [`essa_attention_dense`][jaxkern.layers.essa_attention_dense].

    **Arguments:**

    - `q`, `k`: shape `(N, C)`; `v`: shape `(N, Cv)`.
    - `eps`: $\epsilon$ of the spectral weights.

    **Returns:** shape `(N, Cv)`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import essa_attention, essa_attention_dense
        >>> q, k, v = jax.random.normal(jax.random.key(0), (3, 50, 4))
        >>> bool(jnp.allclose(essa_attention(q, k, v), essa_attention_dense(q, k, v), atol=1e-5))
        True

    Paper: Zhang et al., *ESSAformer*, ICCV 2023, section 3.3 (kernelised SCC attention).
    """
    _check_qkv(q, k, v)
    phi, psi = essa_features(q, k, eps=eps)
    return phi @ (psi.T @ v) / math.sqrt(q.shape[0])


def essa_attention_dense(
    q: Float[Array, "N C"], k: Float[Array, "N C"], v: Float[Array, "N Cv"], *,
    eps: float = 1e-7
) -> Float[Array, "N Cv"]:
    r"""ESSA attention in its dense $O(N^2)$ form: the $N \times N$ kernel matrix, then $AV$.

    $A_{ij} = \sum_c \frac{s(q_i)_c\, s(k_j)_c}{\lVert s(q_i)\rVert\,
    \lVert s(k_\cdot)_c\rVert}$, evaluated pair by pair, and $y = A V / \sqrt N$. For tests
    and small $N$; [`essa_attention`][jaxkern.layers.essa_attention] is the same map in
    linear time.

    **Arguments / Returns:** as [`essa_attention`][jaxkern.layers.essa_attention].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import essa_attention_dense
        >>> essa_attention_dense(jnp.ones((4, 3)), jnp.ones((4, 3)), jnp.ones((4, 2))).shape
        (4, 2)
    """
    _check_qkv(q, k, v)
    sq, sk = _spectral_weights(q, eps), _spectral_weights(k, eps)
    col = jnp.maximum(jnp.sqrt(jnp.sum(sk * sk, axis=0)), _NORM_EPS)  # (C,) over keys

    def pair(a, b):
        return jnp.sum(a * b / col) / jnp.maximum(jnp.linalg.norm(a), _NORM_EPS)

    A = jax.vmap(lambda a: jax.vmap(lambda b: pair(a, b))(sk))(sq)
    return A @ v / math.sqrt(q.shape[0])
