"""Equinox modules: the infinite-width kernels as `Kernel`s, and the deep kernel machine's
parameters."""

from __future__ import annotations

import math

import equinox as eqx
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float

from .._validation import as_parameter, check_int, check_ndim, check_positive
from ..kernels import Kernel
from ..linalg import jittered_cholesky
from ._activations import activation as make_activation
from ._closed_form import _check_architecture, nngp_ntk
from ._dkm import GramBlocks, check_kernel_map, default_dkm_jitter, map_blocks


class _InfiniteWidth(Kernel):
    depth: int = eqx.field(static=True)
    activation: str = eqx.field(static=True)
    negative_slope: float = eqx.field(static=True)
    positive_slope: float = eqx.field(static=True)
    W_std: Array
    b_std: Array

    def __init__(self, depth: int = 1, activation: str = "relu", *, W_std: ArrayLike = 1.0,
                 b_std: ArrayLike = 0.0, negative_slope: float = 0.01,
                 positive_slope: float = 1.0):
        _check_architecture(depth, W_std, b_std)
        make_activation(activation)
        self.depth, self.activation = depth, activation
        self.negative_slope, self.positive_slope = float(negative_slope), float(positive_slope)
        self.W_std = as_parameter("W_std", W_std)
        self.b_std = as_parameter("b_std", b_std, allow_zero=True)

    def _both(self, x, y):
        return nngp_ntk(x, y, depth=self.depth, activation=self.activation, W_std=self.W_std,
                        b_std=self.b_std, negative_slope=self.negative_slope,
                        positive_slope=self.positive_slope)


class NNGP(_InfiniteWidth):
    """The NNGP of [`nngp_ntk`][jaxkern.deep.nngp_ntk] as a `Kernel` (for `gram`,
    `kernel_matvec`, `gp_posterior`); `depth`, `activation` and the slopes are static."""

    def __call__(self, x, y):
        return self._both(x, y).nngp


class NTK(_InfiniteWidth):
    """The NTK of [`nngp_ntk`][jaxkern.deep.nngp_ntk] as a `Kernel`; fields as in
    [`NNGP`][jaxkern.deep.NNGP]."""

    def __call__(self, x, y):
        return self._both(x, y).ntk


class DKM(eqx.Module):
    r"""Parameters of a (sparse) deep kernel machine; build one with
    [`init_dkm`][jaxkern.deep.init_dkm].

    Fields: `inducing` (P, d) inputs $Z$; `factors`, one (P, P) matrix $V_l$ per hidden layer
    with $G^l_{ii} = V_l V_l^\top / P$ (None: every $G^l = K(G^{l-1})$, the NNGP);
    `log_noise`, `log_scale` (output kernel $s\,K(G^L)$); static `kernel`, `lengthscale`,
    `nu` (one $\nu_l$ per layer), `learn_inducing`, `jitter`.
    """

    inducing: Array
    factors: tuple[Array, ...] | None
    log_noise: Array
    log_scale: Array
    kernel: str = eqx.field(static=True)
    lengthscale: float = eqx.field(static=True)
    nu: tuple[float, ...] = eqx.field(static=True)
    learn_inducing: bool = eqx.field(static=True)
    jitter: float = eqx.field(static=True)

    @property
    def depth(self) -> int:
        return len(self.nu)


def input_blocks(Z: Array, X: Array) -> GramBlocks:
    """$G^0 = [Z; X][Z; X]^\\top / d$ in blocks."""
    d = Z.shape[1]
    return GramBlocks(Z @ Z.T / d, X @ Z.T / d, jnp.sum(X * X, axis=1) / d)


def init_dkm(
    inducing: Float[Array, "p d"],
    *,
    depth: int = 2,
    kernel: str = "relu",
    nu: float | tuple[float, ...] = 1.0,
    noise: float = 0.1,
    scale: float = 1.0,
    lengthscale: float = 1.0,
    learn_inducing: bool = True,
    nngp: bool = False,
    jitter: float | None = None,
) -> DKM:
    r"""A deep kernel machine whose Gram matrices start at the NNGP's, $G^l = K(G^{l-1})$.

    Each factor is $V_l = \sqrt{P}\,\mathrm{chol}(K^l_{ii})$, so every KL term starts at 0 and
    the objective starts at the NNGP's log marginal likelihood (the Titsias bound of it for
    inducing points that are not the data). For the full DKM pass the training inputs as
    `inducing` with `learn_inducing=False`: then $G_{ii}$ is the whole training Gram matrix.

    **Arguments:**

    - `inducing`: inducing inputs $Z$, shape (P, d).
    - `depth`: number of learned Gram layers $L \ge 1$.
    - `kernel`: kernel map, `"relu"` or `"sqexp"` (see [`kernel_map`][jaxkern.deep.kernel_map]).
    - `nu`: $\nu_l > 0$, one number for all layers or one per layer.
    - `noise`: initial noise variance $\sigma^2 > 0$.
    - `scale`: initial output-kernel scale $s > 0$.
    - `lengthscale`: $\ell$ of `"sqexp"` (fixed).
    - `learn_inducing`: whether fitting moves $Z$.
    - `nngp`: hold every $G^l = K(G^{l-1})$ (no factors): the NNGP with the same kernel maps.
    - `jitter`: diagonal jitter of every Cholesky; dtype-dependent default.

    **Returns:** a [`DKM`][jaxkern.deep.DKM].

    Example:
        >>> import jax
        >>> from jaxkern.deep import init_dkm
        >>> model = init_dkm(jax.random.normal(jax.random.key(0), (5, 3)), depth=2)
        >>> tuple(V.shape for V in model.factors)
        ((5, 5), (5, 5))

    Yang et al., *A theory of representation learning gives a deep generalisation of kernel
    methods*, ICML 2023, section 4.
    """
    check_ndim("inducing", inducing, 2, "(P, d)")
    check_int("depth", depth, 1)
    check_kernel_map(kernel)
    nus = tuple(nu) if isinstance(nu, tuple | list) else (nu,) * depth
    if len(nus) != depth:
        raise ValueError(f"`nu` must be one number or {depth} numbers (one per layer), got "
                         f"{nu!r}.")
    check_positive("nu", jnp.asarray(nus))
    check_positive("noise", noise)
    check_positive("scale", scale)
    check_positive("lengthscale", lengthscale)
    jitter = default_dkm_jitter(inducing.dtype) if jitter is None else float(jitter)
    P = inducing.shape[0]
    G = input_blocks(inducing, inducing[:0])
    factors = []
    for _ in range(depth):
        G = map_blocks(kernel, lengthscale, G)
        factors.append(math.sqrt(P) * jittered_cholesky(G.ii, jitter=jitter))
    dtype = inducing.dtype
    return DKM(
        inducing=inducing,
        factors=None if nngp else tuple(factors),
        log_noise=jnp.log(jnp.asarray(noise, dtype)),
        log_scale=jnp.log(jnp.asarray(scale, dtype)),
        kernel=kernel,
        lengthscale=float(lengthscale),
        nu=tuple(float(v) for v in nus),
        learn_inducing=learn_inducing,
        jitter=jitter,
    )
