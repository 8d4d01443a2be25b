r"""Classical quadrature rules: trapezoid and Simpson on sampled values, Gauss–Legendre nodes."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validation import check_int, check_length, check_ndim, concrete_or_none


class NodesWeights(NamedTuple):
    """A quadrature rule $\\int f \\approx \\sum_i w_i f(x_i)$ as its nodes and weights."""

    nodes: Float[Array, " n"]
    weights: Float[Array, " n"]


def _check_samples(values, nodes, minimum: int) -> None:
    check_ndim("nodes", nodes, 1, "(n,)")
    if nodes.shape[0] < minimum:
        raise ValueError(f"`nodes` must hold at least {minimum} points, got shape {nodes.shape}.")
    if jnp.ndim(values) < 1:
        raise ValueError(f"`values` must have shape (n, ...), got shape {jnp.shape(values)}.")
    check_length("values", values, nodes.shape[0], "one value per node")
    arr = concrete_or_none(nodes)
    if arr is not None and arr.size > 1:
        step = np.diff(arr)
        if not (np.all(step >= 0) or np.all(step <= 0)):
            raise ValueError(
                "`nodes` must be sorted (increasing, or decreasing for a reversed integral); "
                f"got {arr.tolist() if arr.size <= 8 else 'unsorted nodes'}."
            )


def trapezoid(
    values: Float[ArrayLike, "n ..."], nodes: Float[ArrayLike, " n"]
) -> Float[Array, "*batch"]:
    r"""Composite trapezoidal rule on sampled values, for any (sorted) spacing.

    $$\int_{t_0}^{t_{n-1}} f(t)\, dt \approx \sum_{i=0}^{n-2}
        \frac{t_{i+1} - t_i}{2}\,\bigl(f(t_i) + f(t_{i+1})\bigr),$$
    whose error for a $C^2$ integrand on an even grid is $O(n^{-2})$.

    **Arguments:**

    - `values`: $f(t_i)$, shape (n,) or (n, ...) to integrate several functions at once.
    - `nodes`: the sample points $t_i$, shape (n,), $n \ge 2$.

    **Returns:** the integral estimate, shape `values.shape[1:]`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.quadrature import trapezoid
        >>> t = jnp.linspace(0.0, 1.0, 3)
        >>> float(trapezoid(t**2, t))
        0.375

    Atkinson, *An Introduction to Numerical Analysis* (1989), §5.1.
    """
    values, nodes = jnp.asarray(values), jnp.asarray(nodes)
    _check_samples(values, nodes, 2)
    h = jnp.diff(nodes).reshape((-1,) + (1,) * (values.ndim - 1))
    return jnp.sum(h * (values[1:] + values[:-1]), axis=0) / 2


def simpson(
    values: Float[ArrayLike, "n ..."], nodes: Float[ArrayLike, " n"]
) -> Float[Array, "*batch"]:
    r"""Composite Simpson rule on any number $n \ge 2$ of sampled values, any (sorted) spacing.

    Each pair of intervals $[t_{2j}, t_{2j+2}]$ is integrated exactly for quadratics; with
    $h_0 = t_{2j+1} - t_{2j}$, $h_1 = t_{2j+2} - t_{2j+1}$,
    $$\int_{t_{2j}}^{t_{2j+2}} f \approx \frac{h_0 + h_1}{6}\left[
        \Bigl(2 - \tfrac{h_1}{h_0}\Bigr) f_{2j}
        + \frac{(h_0 + h_1)^2}{h_0 h_1} f_{2j+1}
        + \Bigl(2 - \tfrac{h_0}{h_1}\Bigr) f_{2j+2}\right],$$
    which is the classical $\tfrac{h}{3}(f_0 + 4 f_1 + f_2)$ on an even grid; error $O(n^{-4})$.

    For even $n$ the pairs cover the first $n - 1$ points and the last interval is the integral
    of the parabola through the last three points (Cartwright's correction): with
    $a = t_{n-2} - t_{n-3}$ and $b = t_{n-1} - t_{n-2}$,
    $$\int_{t_{n-2}}^{t_{n-1}} f \approx \frac{b(2b + 3a)}{6(a + b)} f_{n-1}
        + \frac{b(b + 3a)}{6a} f_{n-2} - \frac{b^3}{6a(a + b)} f_{n-3},$$
    still exact for quadratics. Two points give the trapezoid. This is what
    `scipy.integrate.simpson` (SciPy $\ge$ 1.11) computes.

    **Arguments:**

    - `values`: $f(t_i)$, shape (n,) or (n, ...).
    - `nodes`: the sample points, shape (n,) with $n \ge 2$ (the number is static).

    **Returns:** the integral estimate, shape `values.shape[1:]`.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.quadrature import simpson
        >>> t = jnp.linspace(0.0, 1.0, 3)
        >>> round(float(simpson(t**3, t)), 6)
        0.25
        >>> t = jnp.array([0.0, 0.1, 0.4, 1.0])  # an even number of uneven nodes
        >>> round(float(simpson(t**2, t)), 6)  # exact for quadratics: 1/3
        0.333333

    Atkinson (1989), §5.1; the uneven form as in SciPy's `scipy.integrate.simpson`; the last
    interval for even $n$ from Cartwright, *Simpson's Rule Cumulative Integration with MS Excel
    and Irregularly-spaced Data*, J. Math. Sci. Math. Educ. 12(2) (2017).
    """
    values, nodes = jnp.asarray(values), jnp.asarray(nodes)
    _check_samples(values, nodes, 2)
    n = nodes.shape[0]
    h = jnp.diff(nodes).reshape((-1,) + (1,) * (values.ndim - 1))
    if n == 2:
        return h[0] * (values[0] + values[1]) / 2
    m = n - 1 + n % 2  # the odd number of points the pairs of intervals cover
    h0, h1 = h[0 : m - 1 : 2], h[1 : m - 1 : 2]
    f0, f1, f2 = values[0 : m - 2 : 2], values[1 : m - 1 : 2], values[2:m:2]
    hs = h0 + h1
    pieces = hs / 6 * ((2 - h1 / h0) * f0 + hs * hs / (h0 * h1) * f1 + (2 - h0 / h1) * f2)
    total = jnp.sum(pieces, axis=0)
    if n % 2:
        return total
    a, b = h[-2], h[-1]
    return total + b / 6 * (
        (2 * b + 3 * a) / (a + b) * values[-1]
        + (b + 3 * a) / a * values[-2]
        - b * b / (a * (a + b)) * values[-3]
    )


@functools.cache
def _legendre_table(n: int) -> tuple[np.ndarray, np.ndarray]:
    # Nodes and weights on [-1, 1] in float64, built once per size.
    return np.polynomial.legendre.leggauss(n)


def gauss_legendre(
    n: int, *, lower: ArrayLike = -1.0, upper: ArrayLike = 1.0, dtype=None
) -> NodesWeights:
    r"""Gauss–Legendre nodes and weights on $[a, b]$, exact for polynomials of degree $2n - 1$.

    $$\int_a^b f(t)\, dt \approx \sum_{i=1}^n w_i f(t_i), \qquad
        t_i = \tfrac{a + b}{2} + \tfrac{b - a}{2}\, \xi_i, \quad
        w_i = \tfrac{b - a}{2}\, \omega_i,$$
    with $(\xi_i, \omega_i)$ the roots of the Legendre polynomial $P_n$ and their weights
    (computed once per $n$ in float64 and cast).

    **Arguments:**

    - `n`: number of nodes, a positive Python int.
    - `lower`, `upper`: the interval $[a, b]$, $a < b$ (traceable scalars).
    - `dtype`: float dtype of the result; defaults to that of `lower`/`upper`, else the default
      float dtype.

    **Returns:** a [`NodesWeights`][jaxkern.quadrature.NodesWeights] of shape (n,) each.

    Example:
        >>> from jaxkern.quadrature import gauss_legendre
        >>> rule = gauss_legendre(2, lower=0.0, upper=1.0)
        >>> round(float(rule.weights @ rule.nodes**3), 6)
        0.25

    Golub & Welsch, *Calculation of Gauss quadrature rules*, Math. Comp. 23 (1969).
    """
    check_int("n", n, 1)
    if dtype is None:
        dtype = jnp.result_type(jnp.asarray(lower), jnp.asarray(upper))
        if not jnp.issubdtype(dtype, jnp.floating):
            dtype = jnp.result_type(float)
    lo, hi = jnp.asarray(lower, dtype), jnp.asarray(upper, dtype)
    check_ndim("lower", lo, 0, "()")
    check_ndim("upper", hi, 0, "()")
    xi, omega = _legendre_table(n)
    half = (hi - lo) / 2
    return NodesWeights(lo + half * (jnp.asarray(xi, dtype) + 1), half * jnp.asarray(omega, dtype))
