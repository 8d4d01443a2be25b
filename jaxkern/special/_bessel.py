r"""Logarithms of the modified Bessel functions $I_v(x)$ and $K_v(x)$ for real $v \ge 0$, $x > 0$.

Every element is evaluated on each branch and the branch is chosen per element with the
double-``where`` idiom (so no ``nan`` of an untaken branch reaches a value or a gradient).
Write $s = \sqrt{v^2 + x^2}$. The regions are

- $s \ge R$ ($R = 30$): the uniform large-order (Debye) expansion, written in $1/s$ so that the
  same formula covers large $x$ at small $v$ (where it becomes the Hankel series);
- $s < R$, $I_v$: the power series, summed relative to its first term;
- $s < R$, $K_v$: Temme's series ($x \le 2$) or Steed's continued fraction ($x > 2$) for
  $K_\mu, K_{\mu+1}$ with $\mu = v - \mathrm{round}(v) \in [-\tfrac12, \tfrac12]$, then the
  (stable) forward recurrence in the order up to $v$.

The Debye polynomials $u_k(p)$ are generated once in exact rational arithmetic.

Evaluating every branch on every element is what differentiation needs (a fixed number of
loop steps transposes; the derivative in $v$ runs that way). A plain evaluation is
*adaptive* instead: large inputs are sorted by region, each block runs only the branches its
elements use (`lax.cond`), and the series and continued fractions stop once the whole block has
converged. The answer is the same; the cost falls to that of the branch each element needs.
"""

from __future__ import annotations

import functools
from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

_RADIUS = 30.0  # Debye for sqrt(v^2 + x^2) >= _RADIUS: the 17th term is below 1e-17 there
_DEBYE_TERMS = 17
_SERIES_TERMS = 52  # power series of I_v for x < 30: the terms fall below 1e-18 of the sum
_TEMME_TERMS = 20  # Temme's series for x <= 2: (x^2/4)^k / k!^2 < 1e-18 by k = 20
_CF_TERMS = 80  # Steed's continued fraction for 2 < x < 30 (slowest at x = 2: 1e-15 by 80)
_TEMME_SPLIT = 2.0
_BLOCK = 1024  # elements per block of the blocked evaluation
_UNROLL = 4  # adaptive loops take this many steps between two tests of convergence

# Taylor coefficients of 1 / Gamma(1 + z) about z = 0 (mpmath 1.3, 40 digits:
# mpmath.taylor(mpmath.rgamma, 1, 21)); |z| <= 1/2 leaves a tail below 1e-18.
_RGAMMA1P = (
    1.0,
    0.57721566490153286061,
    -0.65587807152025388108,
    -0.042002635034095235529,
    0.1665386113822914895,
    -0.042197734555544336748,
    -0.0096219715278769735621,
    0.0072189432466630995424,
    -0.0011651675918590651121,
    -0.00021524167411495097282,
    0.00012805028238811618615,
    -0.000020134854780788238656,
    -1.2504934821426706573e-6,
    1.1330272319816958824e-6,
    -2.0563384169776071035e-7,
    6.1160951044814158179e-9,
    5.0020076444692229301e-9,
    -1.1812745704870201446e-9,
    1.0434267116911005105e-10,
    7.782263439905071254e-12,
    -3.6968056186422057082e-12,
    5.100370287454475979e-13,
)


@functools.cache
def _debye_table(terms: int) -> np.ndarray:
    r"""Coefficients $w_{k,j}$ of $u_k(p) / p^k = \sum_j w_{k,j} p^{2j}$, shape (terms, terms).

    $u_{k+1}(p) = \tfrac12 p^2 (1 - p^2) u_k'(p) + \tfrac18 \int_0^p (1 - 5t^2) u_k(t)\,dt$
    (DLMF 10.41.10), run in exact rationals and rounded once to float64.
    """
    polys = [[Fraction(1)]]
    for _ in range(terms - 1):
        u = polys[-1]
        new = [Fraction(0)] * (len(u) + 3)
        for i, c in enumerate(u):
            if i:
                new[i + 1] += i * c / 2
                new[i + 3] -= i * c / 2
            new[i + 1] += c / (8 * (i + 1))
            new[i + 3] -= 5 * c / (8 * (i + 3))
        while new[-1] == 0:
            new.pop()
        polys.append(new)
    table = np.zeros((terms, terms))
    for k, u in enumerate(polys):
        for j in range(k + 1):
            table[k, j] = float(u[k + 2 * j])
    return table


def _loop(lower, upper, body, init, *, adaptive: bool, until=None):
    """``fori_loop(lower, upper, body, init)``, or (``adaptive``) a while loop that may take a
    traced ``upper`` and also stops once ``until(carry)`` holds for the whole block, tested
    every ``_UNROLL`` steps (a step past convergence or past ``upper`` changes nothing in
    these loops: their increments are negligible or guarded)."""
    if not adaptive:  # not unrolled: unrolling made the gradient both slower to compile and to run
        return jax.lax.fori_loop(lower, upper, body, init)

    def cond(state):
        k, carry = state
        go = k < upper
        return go if until is None else go & ~until(carry)

    def step(state):
        k, carry = state
        for i in range(_UNROLL):
            carry = body(k + i, carry)
        return k + _UNROLL, carry

    # a weakly typed counter, like fori_loop's, so that bodies may compare it with floats
    return jax.lax.while_loop(cond, step, (jnp.asarray(lower), init))[1]


def _converged(delta, total, dtype):
    """Every increment below a quarter ulp of its sum: the stopping test of the adaptive loops."""
    return jnp.all(jnp.abs(delta) <= 0.25 * jnp.finfo(dtype).eps * jnp.abs(total))


def _where(mask, value, safe):
    """``value`` where ``mask``, else the harmless ``safe`` (the first half of a double-where)."""
    return jnp.where(mask, value, safe)


def _log_debye(v, x, *, k_kind: bool):
    r"""Debye expansion: $\log I_v(x) - x$, or $\log K_v(x) + x$ when ``k_kind``.

    With $s = \sqrt{v^2 + x^2}$, $p = v/s$, $v\eta - x = v^2/(s + x) - v\,\mathrm{asinh}(v/x)$:
    $\log I_v e^{-x} = v\eta - x - \tfrac12\log(2\pi s) + \log\sum_k u_k(p)/v^k$, and
    $u_k(p)/v^k = (u_k(p)/p^k)/s^k$ stays finite as $v \to 0$.
    """
    table = _debye_table(_DEBYE_TERMS)
    s = jnp.sqrt(v * v + x * x)
    q = (v / s) ** 2
    inv_s = 1 / s
    total = jnp.zeros_like(s)
    for k in reversed(range(_DEBYE_TERMS)):
        w = jnp.zeros_like(s)
        for j in reversed(range(k + 1)):
            w = w * q + float(table[k, j])
        if k_kind and k % 2:
            w = -w
        total = total * inv_s + w
    # asinh(v / x): XLA's asinh (within 2 ulp; the exponent below cancels its two terms to
    # within a factor of a few, so their ulps are what float32 keeps), and log(v + s) - log(x)
    # only where v / x could overflow, when asinh > 9.9 and the difference of logs is as good
    huge = v > 1e4 * x
    asinh = jnp.where(
        huge,
        jnp.log(v + s) - jnp.log(x),
        jnp.arcsinh(_where(huge, 1, v) / _where(huge, 1, x)),
    )
    expo = v * v / (s + x) - v * asinh
    if k_kind:
        return -expo + 0.5 * jnp.log(jnp.pi / (2 * s)) + jnp.log(total)
    return expo - 0.5 * jnp.log(2 * jnp.pi * s) + jnp.log(total)


def _log_ive_series(v, x, *, adaptive: bool):
    r"""$\log I_v(x) - x$ from $I_v(x) = (x/2)^v \sum_k (x^2/4)^k / (k!\,\Gamma(v + k + 1))$."""
    q = x * x / 4

    def body(k, carry):
        term, total = carry
        k = k.astype(x.dtype)
        term = term * q / (k * (v + k))
        return term, total + term

    # the sum without its leading 1, so log1p keeps log I_0(x) ~ x^2/4 accurate for tiny x
    init = (jnp.ones_like(x), jnp.zeros_like(x))
    _, rest = _loop(1, _SERIES_TERMS, body, init, adaptive=adaptive,
                    until=lambda c: _converged(c[0], 1 + c[1], x.dtype))
    return v * jnp.log(x / 2) - jax.lax.lgamma(v + 1) + jnp.log1p(rest) - x


def _temme(mu, x, *, adaptive: bool):
    r"""$(\log K_\mu(x) + x,\ K_{\mu+1}/K_\mu)$ by Temme's series, $|\mu| \le 1/2$, $x \le 2$."""
    coeffs = _RGAMMA1P
    # 1/Gamma(1 + mu) and 1/Gamma(1 - mu); gamma1 = (1/G(1-mu) - 1/G(1+mu)) / (2 mu) exactly
    odd = jnp.zeros_like(mu)
    even = jnp.zeros_like(mu)
    mu2 = mu * mu
    for n in reversed(range(len(coeffs))):
        if n % 2:
            odd = odd * mu2 + float(coeffs[n])
        else:
            even = even * mu2 + float(coeffs[n])
    gamma1 = -odd
    gamma2 = even
    rg_plus = even + mu * odd  # 1/Gamma(1 + mu)
    rg_minus = even - mu * odd  # 1/Gamma(1 - mu)
    log2x = jnp.log(2 / x)
    sigma = mu * log2x
    small = jnp.abs(sigma) < 1e-3
    sigma_safe = _where(small, 1, sigma)
    sinhc = jnp.where(small, 1 + sigma * sigma / 6, jnp.sinh(sigma_safe) / sigma_safe)
    pm = jnp.pi * mu
    tiny_mu = jnp.abs(pm) < 1e-3
    pm_safe = _where(tiny_mu, 1, pm)
    pm_over_sin = jnp.where(tiny_mu, 1 + pm * pm / 6, pm_safe / jnp.sin(pm_safe))
    f = pm_over_sin * (gamma1 * jnp.cosh(sigma) + gamma2 * log2x * sinhc)
    p = 0.5 * jnp.exp(sigma) / rg_plus
    qq = 0.5 * jnp.exp(-sigma) / rg_minus
    quarter_x2 = x * x / 4

    def body(k, carry):
        f, p, qq, c, sum_k, sum_k1, _, _ = carry
        k = k.astype(x.dtype)
        f = (k * f + p + qq) / (k * k - mu2)
        c = c * quarter_x2 / k
        p = p / (k - mu)
        qq = qq / (k + mu)
        term, term1 = c * f, c * (p - k * f)
        return f, p, qq, c, sum_k + term, sum_k1 + term1, term, term1

    carry = (f, p, qq, jnp.ones_like(x), f, p, f, p)
    *_, sum_k, sum_k1, _, _ = _loop(
        1, _TEMME_TERMS, body, carry, adaptive=adaptive,
        until=lambda c: _converged(c[6], c[4], x.dtype) & _converged(c[7], c[5], x.dtype),
    )
    return jnp.log(sum_k) + x, (2 / x) * sum_k1 / sum_k


def _steed(mu, x, *, adaptive: bool):
    r"""$(\log K_\mu(x) + x,\ K_{\mu+1}/K_\mu)$ by Steed's continued fraction (CF2), $x > 2$.

    Temme, J. Comput. Phys. 19 (1975) 324; the form of Press et al., *Numerical Recipes*, §6.7.
    """
    a1 = 0.25 - mu * mu
    b = 2 * (1 + x)
    d = 1 / b
    h = d
    delh = d
    q1 = jnp.zeros_like(x)
    q2 = jnp.ones_like(x)
    q = a1
    c = a1
    a = -a1
    s = 1 + q * delh

    def body(i, carry):
        a, b, c, d, h, delh, q, q1, q2, s = carry
        i = i.astype(x.dtype)
        a = a - 2 * (i - 1)
        c = -a * c / i
        q1, q2 = q2, (q1 - b * q2) / a
        q = q + c * q2
        # c grows like i! and q2 falls like 1/i!: only c * q2 matters, so rescale to q2 = 1
        c, q1, q2 = c * q2, q1 / q2, jnp.ones_like(q2)
        b = b + 2
        d = 1 / (b + a * d)
        delh = (b * d - 1) * delh
        return a, b, c, d, h + delh, delh, q, q1, q2, s + q * delh

    carry = (a, b, c, d, h, delh, q, q1, q2, s)
    # float32 converges in 32 terms; more would overflow the growing sum q at x near 30
    terms = _CF_TERMS if jnp.finfo(x.dtype).bits > 32 else 32
    carry = _loop(2, terms + 2, body, carry, adaptive=adaptive,
                  until=lambda c: _converged(c[5], c[4], x.dtype)
                  & _converged(c[6] * c[5], c[9], x.dtype))
    h, s = carry[4], carry[9]
    log_kve = 0.5 * jnp.log(jnp.pi / (2 * x)) - jnp.log(s)
    return log_kve, (mu + x + 0.5 - a1 * h) / x


def _log_kve_small(v, x, *, adaptive: bool):
    r"""$\log K_v(x) + x$ for $\sqrt{v^2 + x^2} < R$: Temme or Steed at $\mu$, then recurrence.

    $K_{\mu+k+1} = K_{\mu+k-1} + 2(\mu+k)/x \cdot K_{\mu+k}$ grows with $k$, so the forward
    recurrence of the ratios $r_k = K_{\mu+k+1}/K_{\mu+k}$ is stable.
    """
    n = jnp.round(v)
    mu = v - n
    near = x <= _TEMME_SPLIT
    t_log, t_ratio = _branch(
        adaptive, near, lambda: _temme(mu, _where(near, x, 1), adaptive=adaptive)
    )
    s_log, s_ratio = _branch(
        adaptive, ~near, lambda: _steed(mu, _where(near, 3, x), adaptive=adaptive)
    )
    log_kve = jnp.where(near, t_log, s_log)
    ratio = jnp.where(near, t_ratio, s_ratio)

    def body(k, carry):
        log_kve, ratio = carry
        step = k < n
        k = k.astype(x.dtype)
        log_kve = log_kve + jnp.where(step, jnp.log(ratio), 0)
        ratio = jnp.where(step, 2 * (mu + k + 1) / x + 1 / ratio, ratio)
        return log_kve, ratio

    steps = jnp.max(n).astype(jnp.int32) if adaptive else int(_RADIUS) + 1
    log_kve, _ = _loop(0, steps, body, (log_kve, ratio), adaptive=adaptive)
    return log_kve


def _branch(adaptive: bool, used, compute):
    """``compute()``, or (``adaptive``) zeros of its shape where no element of the block uses it."""
    if not adaptive:
        return compute()
    shapes = jax.eval_shape(compute)
    return jax.lax.cond(
        jnp.any(used), compute, lambda: jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), shapes)
    )


def _promote(v, x) -> tuple[Array, Array]:
    """Broadcast the order and argument to one floating dtype (the default one for ints)."""
    v = jnp.asarray(v)
    x = jnp.asarray(x)
    for name, arr in (("v", v), ("x", x)):
        if jnp.issubdtype(arr.dtype, jnp.complexfloating) or arr.dtype == jnp.bool_:
            raise ValueError(f"`{name}` must be real, got dtype {arr.dtype}.")
    dtype = jnp.result_type(v, x)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    try:
        shape = jnp.broadcast_shapes(v.shape, x.shape)
    except ValueError:
        raise ValueError(
            f"`v` and `x` must broadcast together, got shapes {v.shape} and {x.shape}."
        ) from None
    return jnp.broadcast_to(v.astype(dtype), shape), jnp.broadcast_to(x.astype(dtype), shape)


def _far(v, x):
    r"""Where the Debye expansion serves: $\sqrt{v^2 + x^2} \ge R$."""
    return v * v + x * x >= _RADIUS**2


def _category(v, x, *, k_kind: bool) -> tuple[Array, int]:
    """A small integer per element, and how many there are, such that a block of one category
    runs one branch and loops of similar length: Debye (0); the I series for tiny x (converged
    in a few terms) or not; for K, Temme at tiny x with a short or long recurrence, Temme at
    larger x, Steed."""
    far = _far(v, x)
    tiny = x < 0.01
    if not k_kind:
        return jnp.where(far, 0, jnp.where(tiny, 1, 2)).astype(jnp.int32), 3
    long = (jnp.round(v) >= 8).astype(jnp.int32)
    temme = jnp.where(tiny, 1 + long, 3)
    return jnp.where(far, 0, jnp.where(x <= _TEMME_SPLIT, temme, 4)).astype(jnp.int32), 5


def _grouping(category, num: int):
    """Destination of each element when the elements are grouped by category, stably.

    A counting sort: one cumulative sum per category, O(n num) and no comparison sort (XLA's
    sort of 10^6 keys costs more than the Bessel functions themselves; finer categories cost
    more in cumulative sums than they save in loop steps).
    """
    dest = jnp.zeros_like(category)
    offset = jnp.zeros((), category.dtype)
    for c in range(num):
        member = category == c
        rank = jnp.cumsum(member.astype(category.dtype))
        dest = jnp.where(member, offset + rank - 1, dest)
        offset = offset + rank[-1]
    return dest


def _dispatch(v, x, *, k_kind: bool, adaptive: bool):
    """Evaluate flat arrays of a multiple of ``_BLOCK`` elements block by block.

    Blocks keep the loops' carries in cache; `_elementwise` pads the inputs to a few sizes, so
    that a handful of compiled programs serve every shape. Adaptive evaluation groups the
    elements by category first, so that most blocks need one branch and few loop steps.
    """
    if v.size <= _BLOCK:
        return _regions(v, x, k_kind=k_kind, adaptive=adaptive)
    if adaptive:
        dest = _grouping(*_category(v, x, k_kind=k_kind))
        v, x = jnp.zeros_like(v).at[dest].set(v), jnp.zeros_like(x).at[dest].set(x)
    blocks = jax.lax.map(
        lambda vx: _regions(*vx, k_kind=k_kind, adaptive=adaptive),
        (v.reshape(-1, _BLOCK), x.reshape(-1, _BLOCK)),
    ).reshape(-1)
    return blocks[dest] if adaptive else blocks


def _regions(v, x, *, k_kind: bool, adaptive: bool):
    valid = (v >= 0) & (x > 0)
    v = _where(valid, v, 1)
    x = _where(valid, x, 1)
    far = _far(v, x)
    debye = _branch(
        adaptive, far, lambda: _log_debye(_where(far, v, 0), _where(far, x, _RADIUS), k_kind=k_kind)
    )
    vn, xn = _where(far, 0.5, v), _where(far, 1, x)
    near_fn = _log_kve_small if k_kind else _log_ive_series
    near = _branch(adaptive, ~far, lambda: near_fn(vn, xn, adaptive=adaptive))
    return jnp.where(valid, jnp.where(far, debye, near), jnp.nan)


def _scaled_log_bessel(*, k_kind: bool):
    r"""$\log I_v(x) - x$ or (``k_kind``) $\log K_v(x) + x$, with its derivatives.

    d/dv: forward mode through the branch formulas (fixed loop lengths, so it transposes);
    d/dx: exact, $v/x \pm (r - 1)$ with the ratio $r = I_{v+1}/I_v$ (+) or $K_{v+1}/K_v$ (-).
    """
    sign = -1 if k_kind else 1

    @jax.custom_jvp
    def scaled(v, x):
        return _dispatch(v, x, k_kind=k_kind, adaptive=True)

    @scaled.defjvp
    def scaled_jvp(primals, tangents):
        v, x = primals
        dv, dx = tangents
        out, out_dv = jax.jvp(
            lambda order: _dispatch(order, x, k_kind=k_kind, adaptive=False), (v,), (dv,)
        )
        ratio = jnp.exp(scaled(v + 1, x) - out)
        return out, out_dv + (v / x + sign * (ratio - 1)) * dx

    return scaled


_log_ive = _scaled_log_bessel(k_kind=False)
_log_kve = _scaled_log_bessel(k_kind=True)


# one compiled program per number of blocks and dtype
_log_ive_jit = jax.jit(_log_ive)
_log_kve_jit = jax.jit(_log_kve)


def _elementwise(fn, v, x):
    """Apply the flat, blocked ``fn`` to broadcast ``v``, ``x`` of any shape.

    Sizes are padded to 1, a power of two up to ``_BLOCK``, or whole blocks.
    """
    shape, size = v.shape, v.size
    if size <= 1:
        padded = 1
    elif size <= _BLOCK:
        padded = max(16, 1 << (size - 1).bit_length())
    else:
        padded = -(-size // _BLOCK) * _BLOCK

    def flat(a):
        return jnp.pad(a.reshape(-1), (0, padded - size), constant_values=1)

    return fn(flat(v), flat(x))[:size].reshape(shape)



def log_ive(v: Float[ArrayLike, "*batch"], x: Float[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
    r"""Exponentially scaled $\log I_v(x) - x$ of the modified Bessel function of the first kind.

    $$I_v(x) = \sum_{k \ge 0} \frac{(x/2)^{2k+v}}{k!\,\Gamma(v + k + 1)}, \qquad
      \frac{\partial}{\partial x} \log I_v(x) = \frac{v}{x} + \frac{I_{v+1}(x)}{I_v(x)}.$$

    Finite for every real $v \ge 0$ and $x > 0$ in float32 and float64 (the value lies in
    $[-\tfrac12 \log(2\pi x) - x,\ 0]$ plus $v \log(x/2v)$ terms, never outside the float range
    in practice). The $x$-derivative is the exact formula above (a `custom_jvp`); the
    $v$-derivative is forward-mode differentiation of the branch formulas.

    **Arguments:**

    - `v`: order $v \ge 0$ (broadcasts with `x`).
    - `x`: argument $x > 0$.

    **Returns:** $\log I_v(x) - x$ in the promoted floating dtype; ``nan`` where $v < 0$ or
    $x \le 0$ (as SciPy returns for the unscaled functions outside their real domain).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.special import log_ive
        >>> round(float(log_ive(1000.0, 50.0)), 3)  # mpmath: -2742.6282; scipy: -inf
        -2742.628

    Plesner, Sørensen & Hauberg, *Accurate Computation of the Logarithm of Modified Bessel
    Functions on GPUs* (2024); Temme, J. Comput. Phys. 19 (1975); DLMF §10.40–10.41.
    """
    return _elementwise(_log_ive_jit, *_promote(v, x))


def log_iv(v: Float[ArrayLike, "*batch"], x: Float[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
    r"""$\log I_v(x)$, the log of the modified Bessel function of the first kind.

    Equal to [`log_ive`][jaxkern.special.log_ive]$(v, x) + x$; see there for the method.

    **Arguments:**

    - `v`: order $v \ge 0$ (broadcasts with `x`).
    - `x`: argument $x > 0$.

    **Returns:** $\log I_v(x)$; ``nan`` where $v < 0$ or $x \le 0$.

    Example:
        >>> from jaxkern.special import log_iv
        >>> round(float(log_iv(0.0, 1.0)), 6)  # log(scipy.special.iv(0, 1))
        0.235914

    Plesner, Sørensen & Hauberg (2024); DLMF §10.40–10.41.
    """
    v, x = _promote(v, x)
    return _elementwise(_log_ive_jit, v, x) + x


def log_kve(v: Float[ArrayLike, "*batch"], x: Float[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
    r"""Exponentially scaled $\log K_v(x) + x$ of the modified Bessel function of the second kind.

    $$K_v(x) = \int_0^\infty e^{-x\cosh t} \cosh(vt)\,dt, \qquad
      \frac{\partial}{\partial x} \log K_v(x) = \frac{v}{x} - \frac{K_{v+1}(x)}{K_v(x)}.$$

    Finite for every real $v \ge 0$ and $x > 0$. The $x$-derivative is the exact formula above
    (a `custom_jvp`); the $v$-derivative is forward-mode differentiation of the branch formulas.

    **Arguments:**

    - `v`: order $v \ge 0$ (broadcasts with `x`).
    - `x`: argument $x > 0$.

    **Returns:** $\log K_v(x) + x$; ``nan`` where $v < 0$ or $x \le 0$.

    Example:
        >>> from jaxkern.special import log_kve
        >>> round(float(log_kve(1000.0, 50.0)), 3)  # mpmath: 2735.0260; scipy: inf
        2735.026

    Plesner, Sørensen & Hauberg (2024); Temme, J. Comput. Phys. 19 (1975); DLMF §10.41.
    """
    return _elementwise(_log_kve_jit, *_promote(v, x))


def log_kv(v: Float[ArrayLike, "*batch"], x: Float[ArrayLike, "*batch"]) -> Float[Array, "*batch"]:
    r"""$\log K_v(x)$, the log of the modified Bessel function of the second kind.

    Equal to [`log_kve`][jaxkern.special.log_kve]$(v, x) - x$; see there for the method.

    **Arguments:**

    - `v`: order $v \ge 0$ (broadcasts with `x`).
    - `x`: argument $x > 0$.

    **Returns:** $\log K_v(x)$; ``nan`` where $v < 0$ or $x \le 0$.

    Example:
        >>> from jaxkern.special import log_kv
        >>> round(float(log_kv(0.5, 2.0)), 6)  # K_{1/2}(x) = sqrt(pi / 2x) e^{-x}
        -2.120784

    Plesner, Sørensen & Hauberg (2024); DLMF §10.41.
    """
    v, x = _promote(v, x)
    return _elementwise(_log_kve_jit, v, x) - x
