r"""Dense and rank-R factorised ("one-way") convolution kernels, and a 2-D wave simulator."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_int
from ._conv import _check_image, check_odd, depthwise_conv2d


def conv2d(
    x: Float[Array, "*batch H W Cin"],
    w: Float[Array, "kh kw Cin Cout"],
    bias: Float[Array, " Cout"] | None = None,
) -> Float[Array, "*batch H W Cout"]:
    r"""Dense 2-D convolution with "same" zero padding (cross-correlation, odd kernels).

    $y_{ij o} = b_o + \sum_{a,b,c} w_{abco}\, x_{i+a-p_h,\, j+b-p_w,\, c}$.

    **Arguments:** `x` `(..., H, W, Cin)`; `w` `(kh, kw, Cin, Cout)`; `bias` `(Cout,)`.

    **Returns:** `(..., H, W, Cout)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import conv2d
        >>> conv2d(jnp.ones((4, 4, 2)), jnp.ones((3, 3, 2, 1)))[1, 1, 0]
        Array(18., dtype=float32)
    """
    _check_image(x)
    if jnp.ndim(w) != 4 or w.shape[2] != x.shape[-1]:
        raise ValueError(f"`w` must have shape (kh, kw, {x.shape[-1]}, Cout) for `x` of shape "
                         f"{x.shape}, got {jnp.shape(w)}.")
    kh, kw = check_odd("w.shape[:2]", tuple(w.shape[:2]))
    lead = x.shape[:-3]
    xb = x.reshape((-1,) + x.shape[-3:])
    y = lax.conv_general_dilated(
        xb, w.astype(x.dtype), (1, 1), ((kh // 2, kh // 2), (kw // 2, kw // 2)),
        dimension_numbers=("NHWC", "HWIO", "NHWC"), precision=lax.Precision.HIGHEST)
    y = y.reshape(lead + y.shape[1:])
    if bias is not None:
        y = y + jnp.reshape(bias.astype(x.dtype), (1,) * (y.ndim - 1) + (-1,))
    return y


class CPFactors(NamedTuple):
    """The one-way filters of a rank-R kernel: rows `(R, kh)`, columns `(R, kw)`, input
    channels `(R, Cin)`, output channels `(R, Cout)`."""

    rows: Float[Array, "R kh"]
    cols: Float[Array, "R kw"]
    inputs: Float[Array, "R Cin"]
    outputs: Float[Array, "R Cout"]


def _check_factors(f: CPFactors) -> int:
    R = None
    for name, a in zip(CPFactors._fields, f):
        if jnp.ndim(a) != 2 or (R is not None and a.shape[0] != R):
            raise ValueError(f"every factor must have shape (R, n) with one R, got `{name}` of "
                             f"shape {jnp.shape(a)} (R = {R}).")
        R = a.shape[0]
    return R


def cp_kernel(factors: CPFactors) -> Float[Array, "kh kw Cin Cout"]:
    r"""The dense kernel a rank-R factorisation stands for (reconstitution).

    $$W_{abco} = \sum_{r=1}^R \alpha_{ra}\, \beta_{rb}\, \gamma_{rc}\, \delta_{ro}:$$
    a 4-way kernel of $k_h k_w C_{in} C_{out}$ entries from $R(k_h + k_w + C_{in} +
    C_{out})$ one-way filters.

    **Arguments:** `factors`: a [`CPFactors`][jaxkern.layers.CPFactors].

    **Returns:** shape `(kh, kw, Cin, Cout)`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.layers import CPFactors, cp_kernel
        >>> f = CPFactors(jnp.ones((1, 3)), jnp.ones((1, 3)), jnp.ones((1, 2)), jnp.ones((1, 4)))
        >>> cp_kernel(f).shape
        (3, 3, 2, 4)

    Paper: *A priori compression of convolutional neural networks for wave simulators*
    (one-way filters replacing 3-way and 2-way kernels).
    """
    _check_factors(factors)
    a, b, c, d = factors
    return jnp.einsum("ra,rb,rc,ro->abco", a, b, c, d)


def factorised_conv2d(
    x: Float[Array, "*batch H W Cin"],
    factors: CPFactors,
    bias: Float[Array, " Cout"] | None = None,
) -> Float[Array, "*batch H W Cout"]:
    r"""Convolution with a rank-R kernel, applied one way at a time.

    $y = \delta^\top\bigl(\beta \star_w (\alpha \star_h (\gamma x))\bigr) + b$: a
    $1\times1$ map to $R$ channels, a $k_h \times 1$ and a $1 \times k_w$ depthwise filter per
    rank, a $1\times 1$ map to $C_{out}$; the cost per pixel is
    $R(C_{in} + k_h + k_w + C_{out})$ instead of $k_h k_w C_{in} C_{out}$. Equals
    [`conv2d`][jaxkern.layers.conv2d] with [`cp_kernel`][jaxkern.layers.cp_kernel].

    **Arguments:** `x` `(..., H, W, Cin)`; `factors`; `bias` `(Cout,)`.

    **Returns:** `(..., H, W, Cout)`.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.layers import CPFactors, conv2d, cp_kernel, factorised_conv2d
        >>> f = CPFactors(*jax.random.normal(jax.random.key(0), (4, 2, 3)))
        >>> x = jax.random.normal(jax.random.key(1), (6, 6, 3))
        >>> bool(jnp.allclose(factorised_conv2d(x, f), conv2d(x, cp_kernel(f)), atol=1e-4))
        True
    """
    _check_image(x)
    R = _check_factors(factors)
    a, b, c, d = (f.astype(x.dtype) for f in factors)
    if c.shape[1] != x.shape[-1]:
        raise ValueError(f"`factors.inputs` has {c.shape[1]} input channels but `x` has "
                         f"{x.shape[-1]} (shape {x.shape}).")
    check_odd("kernel size (factors.rows, factors.cols)", (a.shape[1], b.shape[1]))
    z = x @ c.T
    z = depthwise_conv2d(z, a.T.reshape(-1, 1, R), method="direct")
    z = depthwise_conv2d(z, b.T.reshape(1, -1, R), method="direct")
    y = z @ d
    if bias is not None:
        y = y + jnp.reshape(bias.astype(x.dtype), (1,) * (y.ndim - 1) + (-1,))
    return y


class WaveData(NamedTuple):
    """Pairs for one-step-ahead learning: `inputs` $(u^n, u^{n-1})$ `(n, H, W, 2)`, `targets`
    $u^{n+s}$ `(n, H, W, 1)`."""

    inputs: Float[Array, "n H W 2"]
    targets: Float[Array, "n H W 1"]


def wave_dataset(
    num_samples: int, *, size: int = 24, steps_ahead: int = 2, courant: float = 0.5,
    key: PRNGKeyArray, dtype=None
) -> WaveData:
    r"""Snapshots of the 2-D wave equation $u_{tt} = c^2 \Delta u$, simulated here.

    Leapfrog on a `size` x `size` grid with zero (Dirichlet) boundary:
    $u^{n+1} = 2u^n - u^{n-1} + \lambda^2 \Delta_h u^n$, $\lambda = c\,\Delta t/\Delta x$
    (`courant`, stable for $\lambda \le 1/\sqrt 2$). Each sample starts from three random
    Gaussian pulses at rest and is advanced a random 4-12 steps; the task maps
    $(u^n, u^{n-1})$ to $u^{n + s}$.

    **Arguments:**

    - `num_samples`: $n$.
    - `size`: grid points per side.
    - `steps_ahead`: $s$.
    - `courant`: $\lambda$.
    - `key`, `dtype`.

    **Returns:** a [`WaveData`][jaxkern.layers.WaveData].

    Example:
        >>> import jax
        >>> from jaxkern.layers import wave_dataset
        >>> data = wave_dataset(4, size=16, key=jax.random.key(0))
        >>> data.inputs.shape, data.targets.shape
        ((4, 16, 16, 2), (4, 16, 16, 1))

    Paper: *A priori compression of convolutional neural networks for wave simulators*
    (a finite-element 2-D wave equation; here finite differences).
    """
    check_int("num_samples", num_samples, 1)
    check_int("size", size, 5)
    check_int("steps_ahead", steps_ahead, 1)
    if not 0 < courant <= 2 ** -0.5:
        raise ValueError(f"`courant` must be in (0, 1/sqrt(2)] for a stable leapfrog, got "
                         f"{courant!r}.")
    dtype = jnp.dtype(dtype) if dtype is not None else jnp.result_type(float)
    grid = jnp.linspace(0.0, 1.0, size, dtype=dtype)
    X, Y = jnp.meshgrid(grid, grid, indexing="ij")
    lam2 = courant ** 2

    def step(state, _):
        prev, cur = state
        p = jnp.pad(cur, 1)
        lap = p[2:, 1:-1] + p[:-2, 1:-1] + p[1:-1, 2:] + p[1:-1, :-2] - 4 * cur
        new = 2 * cur - prev + lam2 * lap
        new = new.at[0].set(0).at[-1].set(0).at[:, 0].set(0).at[:, -1].set(0)
        return (cur, new), None

    def sample(key):
        kc, kw, ka, kn = jax.random.split(key, 4)
        centres = jax.random.uniform(kc, (3, 2), dtype, 0.2, 0.8)
        widths = jax.random.uniform(kw, (3,), dtype, 0.05, 0.12)
        amps = jax.random.uniform(ka, (3,), dtype, -1.0, 1.0)
        u0 = sum(amps[i] * jnp.exp(-((X - centres[i, 0]) ** 2 + (Y - centres[i, 1]) ** 2)
                                   / (2 * widths[i] ** 2)) for i in range(3))
        warm = jax.random.randint(kn, (), 4, 13)
        (prev, cur), _ = jax.lax.scan(
            lambda s, i: (jax.lax.cond(i < warm, lambda s: step(s, None)[0], lambda s: s, s),
                          None), (u0, u0), jnp.arange(12))
        (_, ahead), _ = jax.lax.scan(step, (prev, cur), None, length=steps_ahead)
        return jnp.stack([cur, prev], -1), ahead[..., None]

    inputs, targets = jax.vmap(sample)(jax.random.split(key, num_samples))
    return WaveData(inputs, targets)
