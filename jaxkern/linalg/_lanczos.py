r"""Lanczos tridiagonalisation and stochastic Lanczos quadrature (SLQ), matrix-free.

Every operator is a plain callable `matvec: (n,) -> (n,)` on flat vectors, symmetric in exact
arithmetic. After $m$ steps from a unit vector $q_1$,

$$A Q_m^\top = Q_m^\top T_m + \beta_m q_{m+1} e_m^\top, \qquad
T_m = \operatorname{tridiag}(\beta, \alpha, \beta),$$

with the rows of $Q_m$ orthonormal. Writing $T_m = S \Theta S^\top$, Gauss quadrature gives

$$q_1^\top f(A)\, q_1 \approx \sum_{i=1}^{m} (e_1^\top s_i)^2 f(\theta_i),$$

so the spectral measure of $A$ seen from $q_1$ has nodes $\theta_i$ (Ritz values) and weights
$(e_1^\top s_i)^2$: the squared FIRST components of $T_m$'s eigenvectors. Averaging over random
probes $z$ gives Hutchinson's estimator $\operatorname{tr} f(A) \approx \frac{1}{N}\sum_z
\|z\|^2\, \hat q_z^\top f(A)\, \hat q_z$ (Ubaru, Chen & Saad, SIAM J. Matrix Anal. Appl. 38,
2017; the Hessian-spectrum use in paper #34, Granziol et al., *Learning rates as a function of
batch size*, JMLR 2022).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .._validation import check_int, check_ndim, concrete_or_none, is_prng_key

__all__ = [
    "LanczosDecomposition",
    "RitzPairs",
    "SpectralDensity",
    "TraceEstimate",
    "lanczos",
    "lanczos_eigh",
    "slq_logdet",
    "smoothed_density",
    "spectral_density",
    "stochastic_trace",
]

Matvec = Callable[[Float[Array, " n"]], Float[Array, " n"]]

_PROBES = ("rademacher", "normal")


class LanczosDecomposition(NamedTuple):
    r"""$m$ Lanczos steps: $A Q^\top \approx Q^\top T$, $T = \mathrm{tridiag}(\beta,\alpha,\beta)$.

    - `basis`: $Q$, shape (m, n), orthonormal rows; `basis[0]` is the normalised start vector.
    - `diag`: $\alpha_j = q_j^\top A q_j$, shape (m,).
    - `offdiag`: $\beta_j$, shape (m - 1,); a zero marks a breakdown (an invariant subspace was
      found and the next row of $Q$ restarts orthogonal to the previous ones).
    """

    basis: Float[Array, "m n"]
    diag: Float[Array, " m"]
    offdiag: Float[Array, " m-1"]


class RitzPairs(NamedTuple):
    """Ritz values (ascending, shape (m,)) and Ritz vectors as rows (shape (m, n))."""

    values: Float[Array, " m"]
    vectors: Float[Array, "m n"]


class TraceEstimate(NamedTuple):
    r"""A stochastic estimate of $\operatorname{tr} f(A)$ and its standard error.

    `standard_error` is the sample standard deviation of the per-probe estimates over
    $\sqrt{N}$ (``inf`` for a single probe, which carries no estimate of its own spread).
    """

    estimate: Float[Array, ""]
    standard_error: Float[Array, ""]


class SpectralDensity(NamedTuple):
    """SLQ nodes (Ritz values) and weights (squared first eigenvector components) per probe.

    Both have shape (num_probes, num_steps); each probe's weights sum to 1.
    """

    nodes: Float[Array, "p m"]
    weights: Float[Array, "p m"]


def _check_matvec(matvec, v0) -> None:
    if not callable(matvec):
        raise ValueError(f"`matvec` must be a callable (n,) -> (n,), got {type(matvec)}.")
    out = jax.eval_shape(matvec, v0)
    if not hasattr(out, "shape") or tuple(out.shape) != tuple(v0.shape):
        got = getattr(out, "shape", type(out))
        raise ValueError(
            f"`matvec` must map a vector of shape {tuple(v0.shape)} to the same shape, got {got}."
        )


def _breakdown_tol(dtype, n: int):
    # A residual below this fraction of the largest |alpha|, beta seen so far is round-off: the
    # Krylov space is invariant (exactly, for a start vector in a spectral subspace of A).
    return 10.0 * float(np.sqrt(n)) * float(jnp.finfo(dtype).eps)


def _safe_norm(w):
    # The Euclidean norm with a zero (not nan) gradient at w = 0.
    ss = jnp.vdot(w, w)
    pos = ss > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, ss, jnp.ones_like(ss))), jnp.zeros_like(ss))


def _orthogonalise(Q, w):
    # Classical Gram-Schmidt twice ("twice is enough"); rows of Q not yet filled are zero.
    w = w - Q.T @ (Q @ w)
    return w - Q.T @ (Q @ w)


def _lanczos_rows(matvec, Q0, num_steps: int, reorthogonalize: bool):
    """Lanczos from each unit row of Q0 (b, n) at once: bases (b, m, n), diagonals (b, m) and
    off-diagonals (b, m - 1).

    The rows share one `lax.scan`, `matvec` is vmapped over them (a matrix-matrix product for a
    dense or kernel operator), and a breakdown restart is one `lax.cond` on whether any row broke
    down: vmapping the one-vector recurrence instead would turn that `cond` into a `select` that
    draws and orthogonalises a fresh vector for every row at every step.
    """
    b, n = Q0.shape
    dtype = Q0.dtype
    tol = _breakdown_tol(dtype, n)
    restart_key = jax.random.key(0)
    matmat = jax.vmap(lambda q: jnp.asarray(matvec(q), dtype))
    orthogonalise = jax.vmap(_orthogonalise)
    norms = jax.vmap(_safe_norm)

    def fresh(Q, j):
        r = jax.random.normal(jax.random.fold_in(restart_key, j), (n,), dtype=dtype)
        r = orthogonalise(Q, jnp.broadcast_to(r, (b, n)))
        return r / jnp.maximum(norms(r), jnp.finfo(dtype).tiny)[:, None]

    def step(carry, j):
        Q, q_prev, beta_prev, scale = carry
        q = Q[:, j]
        w = matmat(q)
        alpha = jnp.sum(q * w, axis=1)
        w = w - alpha[:, None] * q - beta_prev[:, None] * q_prev
        if reorthogonalize:
            w = orthogonalise(Q, w)
        beta = norms(w)
        scale = jnp.maximum(scale, jnp.maximum(jnp.abs(alpha), beta))
        broke = beta <= tol * scale
        nxt = w / jnp.where(broke, jnp.ones_like(beta), beta)[:, None]
        # After the last step no new vector is needed (and none may exist when m = n).
        restart = broke & (j + 1 < num_steps)
        nxt = jax.lax.cond(jnp.any(restart),
                           lambda: jnp.where(restart[:, None], fresh(Q, j), nxt), lambda: nxt)
        beta = jnp.where(broke, jnp.zeros_like(beta), beta)
        if num_steps > 1:
            row = jnp.minimum(j + 1, num_steps - 1)
            Q = Q.at[:, row].set(jnp.where(j + 1 < num_steps, nxt, Q[:, row]))
        return (Q, q, beta, scale), (alpha, beta)

    Q = jnp.zeros((b, num_steps, n), dtype).at[:, 0].set(Q0)
    zero = jnp.zeros((b,), dtype)
    (Q, _, _, _), (alphas, betas) = jax.lax.scan(
        step, (Q, jnp.zeros_like(Q0), zero, zero), jnp.arange(num_steps)
    )
    return Q, alphas.T, betas.T[:, : num_steps - 1]


def lanczos(
    matvec: Matvec,
    v0: Float[Array, " n"],
    *,
    num_steps: int,
    reorthogonalize: bool = True,
) -> LanczosDecomposition:
    r"""Run `num_steps` steps of the symmetric Lanczos process from `v0`.

    $$\beta_j q_{j+1} = A q_j - \alpha_j q_j - \beta_{j-1} q_{j-1}, \quad
    \alpha_j = q_j^\top A q_j, \quad \beta_j = \|\cdot\|,$$

    with full reorthogonalisation of each new vector against all previous ones (classical
    Gram--Schmidt, twice) unless `reorthogonalize=False`. A breakdown ($\beta_j$ below
    $10\sqrt{n}\,\varepsilon$ times the largest $|\alpha|, \beta$ so far: the Krylov space is
    invariant) sets $\beta_j = 0$ and restarts from a fixed pseudo-random vector orthogonalised
    against the basis, so $T$ splits into blocks whose eigenvalues are still eigenvalues of $A$
    and nothing becomes ``nan``.

    **Arguments:**

    - `matvec`: the symmetric operator, a callable (n,) -> (n,).
    - `v0`: start vector, shape (n,), nonzero and finite; its dtype is the working dtype.
    - `num_steps`: $m$, at most $n$ (static).
    - `reorthogonalize`: full reorthogonalisation (static); without it, the three-term
      recurrence alone (cheaper, but orthogonality is lost as Ritz values converge).

    **Returns:** a [`LanczosDecomposition`][jaxkern.linalg.LanczosDecomposition].

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import lanczos
        >>> A = jnp.diag(jnp.array([1.0, 2.0, 3.0]))
        >>> dec = lanczos(lambda v: A @ v, jnp.ones(3), num_steps=3)
        >>> bool(jnp.allclose(jnp.linalg.eigvalsh(
        ...     jnp.diag(dec.diag) + jnp.diag(dec.offdiag, 1) + jnp.diag(dec.offdiag, -1)),
        ...     jnp.array([1.0, 2.0, 3.0]), atol=1e-5))
        True

    Lanczos, J. Res. Natl. Bur. Stand. 45 (1950); Paige, *The computation of eigenvalues and
    eigenvectors of very large sparse matrices*, PhD thesis (1971).
    """
    v0 = jnp.asarray(v0)
    check_ndim("v0", v0, 1, "(n,)")
    if not jnp.issubdtype(v0.dtype, jnp.floating):
        raise ValueError(f"`v0` must be a real floating array, got dtype {v0.dtype}.")
    n = v0.shape[0]
    check_int("num_steps", num_steps, 1)
    if num_steps > n:
        raise ValueError(
            f"`num_steps` must be at most n = {n} (the size of `v0`), got {num_steps}."
        )
    _check_matvec(matvec, v0)
    concrete = concrete_or_none(v0)
    if concrete is not None:
        if not np.all(np.isfinite(concrete)):
            raise ValueError("`v0` must be finite, got a vector with inf or nan entries.")
        if not np.any(concrete != 0):
            raise ValueError("`v0` must be nonzero, got the zero vector.")
    nrm = jnp.linalg.norm(v0)
    nrm = eqx.error_if(nrm, ~(nrm > 0) | ~jnp.isfinite(nrm), "`v0` must be nonzero and finite.")
    Q, alphas, betas = _lanczos_rows(matvec, (v0 / nrm)[None], num_steps, reorthogonalize)
    return LanczosDecomposition(basis=Q[0], diag=alphas[0], offdiag=betas[0])


def _tridiagonal(diag, offdiag):
    return jnp.diag(diag) + jnp.diag(offdiag, 1) + jnp.diag(offdiag, -1)


def lanczos_eigh(
    matvec: Matvec,
    v0: Float[Array, " n"],
    *,
    num_steps: int,
    reorthogonalize: bool = True,
) -> RitzPairs:
    r"""Ritz pairs of a symmetric operator from `num_steps` Lanczos steps.

    With $T_m = S \Theta S^\top$, the Ritz values are $\theta_i$ and the Ritz vectors
    $Q_m^\top s_i$. The extreme Ritz values converge first (Kaniel--Paige): the largest
    eigenvalue of a kernel matrix, well separated from the rest, is exact to rounding in a few
    dozen steps.

    **Arguments:** as [`lanczos`][jaxkern.linalg.lanczos].

    **Returns:** [`RitzPairs`][jaxkern.linalg.RitzPairs], values ascending, vectors as rows.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import lanczos_eigh
        >>> A = jnp.diag(jnp.arange(1.0, 11.0))
        >>> ritz = lanczos_eigh(lambda v: A @ v, jnp.ones(10), num_steps=10)
        >>> round(float(ritz.values[-1]), 4)
        10.0

    Golub & Van Loan, *Matrix Computations*, 4th ed., section 10.1.
    """
    dec = lanczos(matvec, v0, num_steps=num_steps, reorthogonalize=reorthogonalize)
    theta, S = jnp.linalg.eigh(_tridiagonal(dec.diag, dec.offdiag))
    return RitzPairs(values=theta, vectors=S.T @ dec.basis)


def _probe_template(name: str, dim_or_template):
    """(n, dtype) from an int dimension or an array template of shape (n,)."""
    if isinstance(dim_or_template, int | np.integer) and not isinstance(dim_or_template, bool):
        check_int(name, int(dim_or_template), 1)
        return int(dim_or_template), jnp.result_type(float)
    if hasattr(dim_or_template, "shape") and hasattr(dim_or_template, "dtype"):
        check_ndim(name, dim_or_template, 1, "(n,)")
        if not jnp.issubdtype(dim_or_template.dtype, jnp.floating):
            raise ValueError(
                f"`{name}` must be a real floating array (its dtype is the working dtype), "
                f"got dtype {dim_or_template.dtype}."
            )
        return dim_or_template.shape[0], dim_or_template.dtype
    raise ValueError(
        f"`{name}` must be an int n or an array of shape (n,) whose dtype sets the working dtype, "
        f"got {dim_or_template!r}."
    )


def _check_slq_args(key, num_probes, num_steps, n, probes) -> None:
    if not is_prng_key(key):
        raise ValueError(f"`key` must be a PRNG key (jax.random.key), got {key!r}.")
    check_int("num_probes", num_probes, 1)
    check_int("num_steps", num_steps, 1)
    if num_steps > n:
        raise ValueError(f"`num_steps` must be at most the dimension n = {n}, got {num_steps}.")
    if probes not in _PROBES:
        raise ValueError(f"`probes` must be one of {_PROBES}, got {probes!r}.")


def _draw_probes(key, num_probes, n, dtype, probes):
    if probes == "rademacher":
        return jax.random.rademacher(key, (num_probes, n), dtype=dtype)
    return jax.random.normal(key, (num_probes, n), dtype=dtype)


def _quadrature(matvec, Z, num_steps, reorthogonalize):
    """Nodes and weights of the Gauss rule seen from each probe (rows of Z)."""

    norms = jnp.linalg.norm(Z, axis=1)
    norms = eqx.error_if(norms, ~jnp.all(norms > 0) | ~jnp.all(jnp.isfinite(norms)),
                         "the probes must be nonzero and finite.")
    _, diag, offdiag = _lanczos_rows(matvec, Z / norms[:, None], num_steps, reorthogonalize)
    return gauss_rules(diag, offdiag)


def gauss_rules(diag, offdiag):
    r"""Gauss quadrature rules of a batch of Lanczos tridiagonals.

    For the symmetric tridiagonal $T_k$ with diagonal `diag[k]` (length m) and off-diagonal
    `offdiag[k]` (length m - 1), $T_k = S \Theta S^\top$; the rule's nodes are the Ritz
    values $\theta_i$ and its weights the squared first components $S_{0i}^2$, so that
    $e_1^\top f(T_k) e_1 = \sum_i S_{0i}^2 f(\theta_i)$ (Golub & Meurant). Stochastic
    Lanczos quadrature and the CG log-determinant of `gp` both reduce to this.

    One tridiagonal at a time: a batched eigh is a batched LAPACK call, which can block
    XLA:CPU's intra-op pool (docs/sharp_bits.md).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import gauss_rules
        >>> nodes, weights = gauss_rules(jnp.array([[2.0, 2.0]]), jnp.array([[1.0]]))
        >>> [round(float(x), 4) for x in nodes[0]], [round(float(w), 4) for w in weights[0]]
        ([1.0, 3.0], [0.5, 0.5])
    """

    def gauss(tri):
        theta, S = jnp.linalg.eigh(_tridiagonal(*tri))
        return theta, S[0, :] ** 2

    return jax.lax.map(gauss, (diag, offdiag))


def stochastic_trace(
    matvec: Matvec,
    dim_or_probe_template: int | Float[Array, " n"],
    fn: Callable[[Array], Array],
    *,
    key: PRNGKeyArray,
    num_probes: int,
    num_steps: int,
    probes: str = "rademacher",
    reorthogonalize: bool = True,
) -> TraceEstimate:
    r"""Estimate $\operatorname{tr} f(A)$ by stochastic Lanczos quadrature.

    $$\operatorname{tr} f(A) \approx \frac{1}{N} \sum_{k=1}^{N} \|z_k\|^2
    \sum_{i=1}^{m} \tau_{ki}^2 f(\theta_{ki}),$$

    where $\theta_{ki}$ are the Ritz values and $\tau_{ki}$ the first components of the
    eigenvectors of the $m \times m$ Lanczos tridiagonal started from $z_k / \|z_k\|$, and the
    $z_k$ are Rademacher ($\|z\|^2 = n$) or standard normal probes, drawn as
    `jax.random.rademacher(key, (num_probes, n))` (or `jax.random.normal`). The probes run as one
    batch (`vmap`), so `matvec` sees a batched vector and can use a matrix-matrix product.

    **Arguments:**

    - `matvec`: the symmetric operator, a callable (n,) -> (n,).
    - `dim_or_probe_template`: the dimension n (working dtype: the default float), or an
      array of shape (n,) whose dtype is the working dtype.
    - `fn`: the elementwise spectral function, e.g. `jnp.log`.
    - `key`: PRNG key for the probes.
    - `num_probes`: $N$ (static).
    - `num_steps`: $m$ Lanczos steps per probe (static, at most n).
    - `probes`: `"rademacher"` (default, lower variance) or `"normal"`.
    - `reorthogonalize`: as in [`lanczos`][jaxkern.linalg.lanczos].

    **Returns:** a [`TraceEstimate`][jaxkern.linalg.TraceEstimate]: the mean over probes and
    its standard error.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.linalg import stochastic_trace
        >>> A = jnp.diag(jnp.arange(1.0, 9.0))
        >>> est = stochastic_trace(lambda v: A @ v, 8, jnp.log, key=jax.random.key(0),
        ...                        num_probes=4, num_steps=8)
        >>> bool(jnp.allclose(est.estimate, jnp.sum(jnp.log(jnp.arange(1.0, 9.0))), rtol=1e-4))
        True

    Ubaru, Chen & Saad, *Fast estimation of tr(f(A)) via stochastic Lanczos quadrature*,
    SIAM J. Matrix Anal. Appl. 38 (2017); Hutchinson, Commun. Stat. Simul. Comput. 18 (1989).
    """
    if not callable(fn):
        raise ValueError(f"`fn` must be an elementwise callable, got {fn!r}.")
    n, dtype = _probe_template("dim_or_probe_template", dim_or_probe_template)
    _check_slq_args(key, num_probes, num_steps, n, probes)
    _check_matvec(matvec, jax.ShapeDtypeStruct((n,), dtype))
    Z = _draw_probes(key, num_probes, n, dtype, probes)
    theta, weights = _quadrature(matvec, Z, num_steps, reorthogonalize)
    norms2 = jnp.sum(Z * Z, axis=1)
    samples = norms2 * jnp.sum(weights * fn(theta), axis=1)
    estimate = jnp.mean(samples)
    if num_probes == 1:
        se = jnp.asarray(jnp.inf, dtype)
    else:
        se = jnp.std(samples, ddof=1) / jnp.sqrt(jnp.asarray(num_probes, dtype))
    return TraceEstimate(estimate=estimate, standard_error=se)


def slq_logdet(
    matvec: Matvec,
    dim_or_probe_template: int | Float[Array, " n"],
    *,
    key: PRNGKeyArray,
    num_probes: int,
    num_steps: int,
    probes: str = "rademacher",
    reorthogonalize: bool = True,
) -> TraceEstimate:
    r"""$\log\det A = \operatorname{tr}\log A$ of a symmetric positive definite operator by SLQ.

    [`stochastic_trace`][jaxkern.linalg.stochastic_trace] with $f = \log$; same arguments.
    Ritz values of an SPD operator are positive, so the estimate is finite.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.linalg import slq_logdet
        >>> A = jnp.diag(jnp.array([1.0, 2.0, 4.0]))
        >>> est = slq_logdet(lambda v: A @ v, 3, key=jax.random.key(1), num_probes=2,
        ...                  num_steps=3)
        >>> round(float(est.estimate), 3)
        2.079

    Ubaru, Chen & Saad, SIAM J. Matrix Anal. Appl. 38 (2017).
    """
    return stochastic_trace(
        matvec, dim_or_probe_template, jnp.log, key=key, num_probes=num_probes,
        num_steps=num_steps, probes=probes, reorthogonalize=reorthogonalize,
    )


def spectral_density(
    matvec: Matvec,
    dim: int | Float[Array, " n"],
    *,
    key: PRNGKeyArray,
    num_probes: int,
    num_steps: int,
    probes: str = "rademacher",
    reorthogonalize: bool = True,
) -> SpectralDensity:
    r"""The SLQ spectral measure: Ritz values and squared first eigenvector components.

    For each probe $z$, Lanczos from $z/\|z\|$ gives $T_m = S \Theta S^\top$; the Gauss rule
    for $\frac{1}{n}\sum_i \delta(t - \lambda_i)$ seen from that probe has nodes $\theta_i$ and
    weights $(e_1^\top s_i)^2$ -- the squared FIRST components of the eigenvectors of $T_m$
    (row 0 of $S$), not the components of one eigenvector (a column of $S$): the mix-up a
    widely used Hessian-density code shipped for years.

    **Arguments:**

    - `matvec`: the symmetric operator, a callable (n,) -> (n,).
    - `dim`: the dimension n, or an array of shape (n,) whose dtype is the working dtype.
    - `key`, `num_probes`, `num_steps`, `probes`, `reorthogonalize`: as in
      [`stochastic_trace`][jaxkern.linalg.stochastic_trace].

    **Returns:** a [`SpectralDensity`][jaxkern.linalg.SpectralDensity] with `nodes` and
    `weights` of shape (num_probes, num_steps); each row of `weights` sums to 1.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.linalg import spectral_density
        >>> A = jnp.diag(jnp.array([1.0, 1.0, 3.0, 3.0]))
        >>> sd = spectral_density(lambda v: A @ v, 4, key=jax.random.key(0), num_probes=1,
        ...                       num_steps=2)
        >>> [round(float(x), 4) for x in sd.weights.sum(axis=1)]
        [1.0]

    Ghorbani, Krishnan & Xiao, *An investigation into neural net optimization via Hessian
    eigenvalue density*, ICML 2019; Granziol et al., JMLR 2022 (paper #34).
    """
    n, dtype = _probe_template("dim", dim)
    _check_slq_args(key, num_probes, num_steps, n, probes)
    _check_matvec(matvec, jax.ShapeDtypeStruct((n,), dtype))
    Z = _draw_probes(key, num_probes, n, dtype, probes)
    theta, weights = _quadrature(matvec, Z, num_steps, reorthogonalize)
    return SpectralDensity(nodes=theta, weights=weights)


def smoothed_density(
    sd: SpectralDensity, grid: Float[Array, " g"], *, width: float
) -> Float[Array, " g"]:
    r"""Gaussian-broadened spectral density on a grid, averaged over probes.

    $$\rho(t) = \frac{1}{N}\sum_{k=1}^{N}\sum_{i=1}^{m} w_{ki}\,
    \frac{1}{\sqrt{2\pi}\sigma} e^{-(t - \theta_{ki})^2 / 2\sigma^2},$$

    which integrates to 1 over the real line.

    **Arguments:**

    - `sd`: a [`SpectralDensity`][jaxkern.linalg.SpectralDensity].
    - `grid`: points $t$, shape (g,).
    - `width`: $\sigma > 0$.

    **Returns:** $\rho$ on the grid, shape (g,).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.linalg import SpectralDensity, smoothed_density
        >>> sd = SpectralDensity(nodes=jnp.array([[0.0, 1.0]]), weights=jnp.array([[0.5, 0.5]]))
        >>> grid = jnp.linspace(-5.0, 6.0, 2001)
        >>> round(float(jnp.sum(smoothed_density(sd, grid, width=0.3)) * (grid[1] - grid[0])), 4)
        1.0
    """
    if not isinstance(sd, SpectralDensity):
        raise ValueError(f"`sd` must be a SpectralDensity, got {type(sd)}.")
    check_ndim("grid", grid, 1, "(g,)")
    w = concrete_or_none(width)
    if w is not None and not (np.ndim(w) == 0 and np.isfinite(w) and w > 0):
        raise ValueError(f"`width` must be a positive finite scalar, got {width!r}.")
    nodes, weights = sd.nodes, sd.weights
    dtype = jnp.result_type(nodes.dtype, grid.dtype)
    width = jnp.asarray(width, dtype)
    t = jnp.asarray(grid, dtype)[:, None, None]
    gauss = jnp.exp(-0.5 * ((t - nodes[None]) / width) ** 2) / (
        jnp.sqrt(jnp.asarray(2 * np.pi, dtype)) * width
    )
    return jnp.mean(jnp.sum(weights[None] * gauss, axis=-1), axis=-1)
