r"""Graph Matérn and heat kernels: spectral (from eigenpairs) and by Chebyshev filters."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float

from .._validation import as_parameter, check_int, check_ndim, concrete_or_none
from ..kernels import Kernel
from ..linalg import lanczos_eigh
from ..optim import parameter
from ._chebyshev import chebyshev_coefficients, chebyshev_filter

Matvec = Callable[[Array], Array]


def graph_matern_spectrum(
    eigenvalues: Float[Array, " m"], *, nu: Float[ArrayLike, ""],
    lengthscale: Float[ArrayLike, ""],
) -> Float[Array, " m"]:
    r"""The graph Matérn spectrum $\Phi(\lambda) = (2\nu/\ell^2 + \lambda)^{-\nu}$.

    GeometricKernels' convention for a graph (a space of dimension 0); Borovitskiy et al.
    (2021), *Matérn Gaussian processes on graphs*.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import graph_matern_spectrum
        >>> graph_matern_spectrum(jnp.array([0.0, 2.0]), nu=1.0, lengthscale=1.0).tolist()
        [0.5, 0.25]
    """
    lam = jnp.asarray(eigenvalues)
    nu = jnp.asarray(nu, dtype=lam.dtype)
    ell = jnp.asarray(lengthscale, dtype=lam.dtype)
    return (2 * nu / ell**2 + lam) ** (-nu)


def graph_heat_spectrum(
    eigenvalues: Float[Array, " m"], *, lengthscale: Float[ArrayLike, ""]
) -> Float[Array, " m"]:
    r"""The graph heat (diffusion) spectrum $\Phi(\lambda) = e^{-\ell^2 \lambda / 2}$, the
    $\nu \to \infty$ limit of the Matérn spectrum (GeometricKernels' convention; Kondor &
    Lafferty, 2002, use $e^{-\beta\lambda}$, $\beta = \ell^2/2$).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import graph_heat_spectrum
        >>> round(float(graph_heat_spectrum(jnp.array([1.0]), lengthscale=2.0)[0]), 6)
        0.135335
    """
    lam = jnp.asarray(eigenvalues)
    ell = jnp.asarray(lengthscale, dtype=lam.dtype)
    return jnp.exp(-0.5 * ell**2 * lam)


def _index(x: Array) -> Array:
    return jnp.round(x[..., 0]).astype(jnp.int32)


def _check_index_points(name: str, X, num_rows: int) -> None:
    arr = concrete_or_none(X)
    if arr is None:
        return
    idx = np.round(arr[..., 0])
    if arr.size and (not np.all(np.isfinite(idx)) or idx.min() < 0 or idx.max() >= num_rows):
        raise ValueError(
            f"`{name}` must hold node indices in [0, {num_rows}) in its first column, got "
            f"values from {np.nanmin(idx)} to {np.nanmax(idx)}.")


class _SpectralGraphKernel(Kernel):
    """Shared machinery: a point is an index (shape (1,)) into the eigenvectors' rows."""

    eigenvalues: Array = parameter("real")
    eigenvectors: Array = parameter("real")
    variance: Array = parameter("positive")
    normalize: bool = eqx.field(static=True)

    def _init_spectrum(self, eigenvalues, eigenvectors, variance, normalize):
        check_ndim("eigenvectors", eigenvectors, 2, "(n, m), one eigenvector per column")
        check_ndim("eigenvalues", eigenvalues, 1, "(m,)")
        if jnp.shape(eigenvalues)[0] != jnp.shape(eigenvectors)[1]:
            raise ValueError(
                f"`eigenvalues` must have one entry per column of `eigenvectors`, got shapes "
                f"{jnp.shape(eigenvalues)} and {jnp.shape(eigenvectors)}.")
        lam = concrete_or_none(eigenvalues)
        if lam is not None and not np.all(np.isfinite(lam)):
            raise ValueError("`eigenvalues` must be finite.")
        self.eigenvalues = as_parameter("eigenvalues", eigenvalues, real=True)
        self.eigenvectors = as_parameter("eigenvectors", eigenvectors, real=True)
        self.variance = as_parameter("variance", variance)
        self.normalize = bool(normalize)

    def log_spectrum(self, eigenvalues: Array) -> Array:
        raise NotImplementedError

    def weights(self) -> Float[Array, " m"]:
        r"""The kernel's eigenvalues $w_l = \sigma^2 \Phi(\lambda_l)\, N / \sum_l \Phi(\lambda_l)$
        (normalised) or $\sigma^2 \Phi(\lambda_l)$; the eigenpairs are held fixed
        (`stop_gradient`), so fitting moves only the hyperparameters."""
        lam = jax.lax.stop_gradient(self.eigenvalues)
        # Eigenvalues that round-off pushed below zero are zero (GeometricKernels clips them).
        log_phi = self.log_spectrum(jnp.maximum(lam, 0))
        if self.normalize:
            # N softmax(log Phi): the normalised weights in log space, finite where Phi itself
            # overflows (large nu with 2 nu / ell^2 + lambda_0 near 0, as maximum likelihood
            # on a Laplacian with a zero eigenvalue reaches)
            return self.variance * (self.eigenvectors.shape[0] * jax.nn.softmax(log_phi))
        return self.variance * jnp.exp(log_phi)

    def __call__(self, x, y):
        U = jax.lax.stop_gradient(self.eigenvectors)
        return jnp.sum(self.weights() * U[_index(x)] * U[_index(y)])

    def gram(self, X, Y):
        _check_index_points("X", X, self.eigenvectors.shape[0])
        _check_index_points("Y", Y, self.eigenvectors.shape[0])
        U = jax.lax.stop_gradient(self.eigenvectors)
        return (U[_index(X)] * self.weights()[None, :]) @ U[_index(Y)].T


class GraphMatern(_SpectralGraphKernel):
    r"""The graph Matérn kernel from (some of) the Laplacian's eigenpairs.

    $$k(i, j) = \sigma^2 \frac{N}{\sum_l \Phi(\lambda_l)} \sum_{l=1}^{m}
      \Phi(\lambda_l)\, u_l(i)\, u_l(j), \qquad
      \Phi(\lambda) = \Big(\frac{2\nu}{\ell^2} + \lambda\Big)^{-\nu},$$
    i.e. $\sigma^2 (2\nu/\ell^2 + L)^{-\nu}$ restricted to the $m$ given eigenpairs
    (orthonormal columns $u_l$ of `eigenvectors`, $N$ rows), scaled so that the average
    variance over the nodes is $\sigma^2$ (`normalize=True`, GeometricKernels' default;
    `normalize=False` drops the factor $N/\sum\Phi$). With the lowest $m$ eigenpairs this
    is GeometricKernels' `MaternGeometricKernel` on a `Graph` with `num=m`.

    **Points:** a point is a node index stored as a float array of shape (1,), so that the
    kernel follows the package protocol `k(x, y)` and works in
    [`gp_posterior`][jaxkern.gp.gp_posterior] and [`fit`][jaxkern.gp.fit] unchanged:
    `X = jnp.arange(n, dtype=float)[:, None]`. The same module serves the connection
    Laplacian of a vector field: there the rows are (node, component) pairs, index
    $d\,i + a$ ([`vector_field_points`][jaxkern.graphs.vector_field_points]).

    Fields: `eigenvalues` (m,), `eigenvectors` (N, m) (held fixed under `jax.grad` and
    [`fit`][jaxkern.gp.fit]), `nu`, `lengthscale`, `variance` (positive), `normalize`
    (static).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import GraphMatern, graph_from_edges, laplacian
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1], [1, 2]]), num_nodes=3))
        >>> lam, U = jnp.linalg.eigh(L.todense())
        >>> k = GraphMatern(lam, U, nu=1.5, lengthscale=1.0)
        >>> K = k.gram(jnp.arange(3.0)[:, None], jnp.arange(3.0)[:, None])
        >>> round(float(jnp.trace(K)), 6)  # average variance 1
        3.0

    Borovitskiy, Azangulov, Terenin, Mostowsky, Deisenroth & Durrande (2021), *Matérn
    Gaussian processes on graphs*, AISTATS.
    """

    nu: Array = parameter("positive")
    lengthscale: Array = parameter("positive")

    def __init__(self, eigenvalues, eigenvectors, *, nu: ArrayLike = 1.5,
                 lengthscale: ArrayLike = 1.0, variance: ArrayLike = 1.0,
                 normalize: bool = True):
        self._init_spectrum(eigenvalues, eigenvectors, variance, normalize)
        self.nu = as_parameter("nu", nu)
        self.lengthscale = as_parameter("lengthscale", lengthscale)

    def log_spectrum(self, eigenvalues):
        r"""$\log\Phi(\lambda) = -\nu \log(2\nu/\ell^2 + \lambda)$."""
        return -self.nu * jnp.log(2 * self.nu / self.lengthscale**2 + eigenvalues)


class GraphHeat(_SpectralGraphKernel):
    r"""The graph heat (diffusion) kernel from the Laplacian's eigenpairs.

    $$k(i, j) = \sigma^2 \frac{N}{\sum_l e^{-\ell^2\lambda_l/2}} \sum_l
      e^{-\ell^2 \lambda_l / 2}\, u_l(i)\, u_l(j),$$
    the $\nu \to \infty$ limit of [`GraphMatern`][jaxkern.graphs.GraphMatern]; points,
    fields and normalisation as there.

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import GraphHeat
        >>> k = GraphHeat(jnp.array([0.0, 2.0]), jnp.eye(2), lengthscale=1.0, normalize=False)
        >>> round(float(k(jnp.array([1.0]), jnp.array([1.0]))), 6)
        0.367879

    Kondor & Lafferty (2002), *Diffusion kernels on graphs and other discrete input spaces*.
    """

    lengthscale: Array = parameter("positive")

    def __init__(self, eigenvalues, eigenvectors, *, lengthscale: ArrayLike = 1.0,
                 variance: ArrayLike = 1.0, normalize: bool = True):
        self._init_spectrum(eigenvalues, eigenvectors, variance, normalize)
        self.lengthscale = as_parameter("lengthscale", lengthscale)

    def log_spectrum(self, eigenvalues):
        r"""$\log\Phi(\lambda) = -\ell^2\lambda/2$."""
        return -0.5 * self.lengthscale**2 * eigenvalues


class FilterGraphKernel(Kernel):
    r"""A graph Matérn or heat kernel without eigenvectors: $K = \sigma^2 \Phi(L)$ applied by
    a Chebyshev filter of degree `order`.

    `gram(X, Y)` filters the indicator columns of the nodes in `Y` ($|Y|$ columns, `order`
    sparse products each) and reads the rows of `X`: $O(\text{order}\,|E|\,|Y|)$ work and
    $O(n |Y|)$ memory, never an eigendecomposition. Unnormalised (the factor
    $N/\operatorname{tr}\Phi(L)$ of the spectral kernels needs the trace; fold it into
    `variance`). Points are node indices of shape (1,), as for
    [`GraphMatern`][jaxkern.graphs.GraphMatern]. `nu=None` gives the heat kernel.

    Fields: `laplacian` (a [`Laplacian`][jaxkern.graphs.Laplacian] or any pytree callable),
    `nu` (or None), `lengthscale`, `variance`, `lambda_max`, `order` (static).

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import FilterGraphKernel, graph_from_edges, laplacian
        >>> L = laplacian(graph_from_edges(jnp.array([[0, 1], [1, 2]]), num_nodes=3))
        >>> k = FilterGraphKernel(L, nu=None, lengthscale=1.0, lambda_max=4.0, order=30)
        >>> lam, U = jnp.linalg.eigh(L.todense())
        >>> ref = (U * jnp.exp(-lam / 2)[None, :]) @ U.T
        >>> X = jnp.arange(3.0)[:, None]
        >>> bool(jnp.allclose(k.gram(X, X), ref, atol=1e-6))
        True
    """

    laplacian: Callable
    nu: Array | None = parameter("positive")
    lengthscale: Array = parameter("positive")
    variance: Array = parameter("positive")
    lambda_max: Array = parameter("positive")
    order: int = eqx.field(static=True)

    def __init__(self, laplacian, *, nu: ArrayLike | None = 1.5, lengthscale: ArrayLike = 1.0,
                 variance: ArrayLike = 1.0, lambda_max: ArrayLike, order: int = 30):
        if not callable(laplacian):
            raise ValueError(f"`laplacian` must be callable x -> L x, got {type(laplacian)}.")
        check_int("order", order, 0)
        self.laplacian = laplacian
        self.nu = None if nu is None else as_parameter("nu", nu)
        self.lengthscale = as_parameter("lengthscale", lengthscale)
        self.variance = as_parameter("variance", variance)
        self.lambda_max = as_parameter("lambda_max", lambda_max)
        self.order = order

    def _num_nodes(self) -> int:
        n = getattr(self.laplacian, "num_nodes", None)
        if n is None:
            raise ValueError("`laplacian` must expose `num_nodes` (a jaxkern.graphs.Laplacian).")
        return n

    def _coefficients(self, dtype):
        lam_max = jax.lax.stop_gradient(self.lambda_max)
        if self.nu is None:
            def h(lam):
                return graph_heat_spectrum(lam, lengthscale=self.lengthscale)
        else:
            def h(lam):
                return graph_matern_spectrum(lam, nu=self.nu, lengthscale=self.lengthscale)
        return chebyshev_coefficients(h, self.order, lambda_max=lam_max, dtype=dtype)

    def gram(self, X, Y):
        n = self._num_nodes()
        _check_index_points("X", X, n)
        _check_index_points("Y", Y, n)
        dtype = jnp.result_type(self.variance)
        E = jax.nn.one_hot(_index(Y), n, dtype=dtype).T
        F = chebyshev_filter(self.laplacian, E, self._coefficients(dtype),
                             lambda_max=jax.lax.stop_gradient(self.lambda_max))
        return self.variance * F[_index(X)]

    def __call__(self, x, y):
        return self.gram(x[None], y[None])[0, 0]


class EigenPairs(NamedTuple):
    """The lowest eigenpairs of a symmetric operator: `values` (m,) ascending, `vectors`
    (n, m) orthonormal columns, and `residuals` (m,) $\\lVert L u - \\lambda u\\rVert$."""

    values: Float[Array, " m"]
    vectors: Float[Array, "n m"]
    residuals: Float[Array, " m"]


def lowest_eigenpairs(
    matvec: Matvec,
    num: int,
    *,
    v0: Float[Array, "s n"],
    num_steps: int,
    krylov_matvec: Matvec | None = None,
) -> EigenPairs:
    r"""The `num` lowest eigenpairs of a symmetric operator by Lanczos from several start
    vectors and one Rayleigh–Ritz step.

    Each start vector $v_0^{(r)}$ runs `num_steps` Lanczos steps
    ([`jaxkern.linalg.lanczos_eigh`][jaxkern.linalg.lanczos_eigh], full
    reorthogonalisation, `vmap`ped over the starts); the `num` wanted Ritz vectors of every
    run are pooled, orthonormalised ($Q$, by QR) and the pairs are those of $Q^\top L Q$
    (Rayleigh–Ritz). One Krylov sequence sees only one vector of an eigenspace, so an
    eigenvalue of multiplicity $m$ needs $s \ge m$ starts (on $S^2$ the connection
    Laplacian's eigenvalues come in exact pairs: use 2 or 3 starts).

    `krylov_matvec` (default: `matvec`) is the operator the Krylov runs use; any function
    of $L$ that is decreasing on its spectrum (a heat filter $e^{-\tau L}$ by
    [`chebyshev_filter`][jaxkern.graphs.chebyshev_filter]) makes the low end of the
    spectrum dominant and well separated, so far fewer steps converge; its top Ritz vectors
    are pooled, and the Rayleigh–Ritz step still uses $L$ itself.

    **Arguments:**

    - `matvec`: $v \mapsto Lv$ on shape (n,).
    - `num`: pairs wanted, $\le$ `num_steps`.
    - `v0`: start vectors, shape (n,) or (s, n) (random, so that each has a component along
      every wanted eigenvector).
    - `num_steps`: Lanczos steps per start.
    - `krylov_matvec`: optional decreasing spectral transform of $L$ for the Krylov runs.

    **Returns:** [`EigenPairs`][jaxkern.graphs.EigenPairs] with residual norms
    $\lVert L u - \lambda u\rVert$ for checking convergence.

    Examples:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.graphs import graph_from_edges, laplacian, lowest_eigenpairs
        >>> edges = jnp.stack([jnp.arange(19), jnp.arange(1, 20)], axis=1)  # a path
        >>> L = laplacian(graph_from_edges(edges, num_nodes=20))
        >>> v0 = jax.random.normal(jax.random.key(0), (20,))
        >>> pairs = lowest_eigenpairs(L, 2, v0=v0, num_steps=20)
        >>> round(float(pairs.values[1]), 5)  # 2 - 2 cos(pi / 20)
        0.02462
    """
    check_int("num", num, 1)
    check_int("num_steps", num_steps, num)
    if jnp.ndim(v0) == 1:
        v0 = v0[None, :]
    check_ndim("v0", v0, 2, "(n,) or (s, n)")
    transformed = krylov_matvec is not None
    op = krylov_matvec if transformed else matvec

    def run(v):
        ritz = lanczos_eigh(op, v, num_steps=num_steps)
        return ritz.vectors[-num:] if transformed else ritz.vectors[:num]

    pooled = jax.vmap(run)(v0).reshape(-1, v0.shape[1]).T  # (n, s * num)
    Q, _ = jnp.linalg.qr(pooled)
    LQ = jax.vmap(matvec, in_axes=1, out_axes=1)(Q)
    H = Q.T @ LQ
    theta, S = jnp.linalg.eigh(0.5 * (H + H.T))
    values, vectors = theta[:num], Q @ S[:, :num]
    residuals = jnp.linalg.norm(LQ @ S[:, :num] - vectors * values[None, :], axis=0)
    return EigenPairs(values, vectors, residuals)
