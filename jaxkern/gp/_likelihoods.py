r"""Likelihoods for GP classification: Bernoulli with a logistic or probit link, and softmax.

Each likelihood is a field-less equinox module that knows, for latent values $f$ and integer
labels $y$, the log likelihood $\log p(y \mid f)$, its gradient and its negative Hessian
(what the Laplace approximation's Newton iteration needs), and the predictive class
probabilities $\int p(y \mid f)\, \mathcal N(f \mid \mu, \sigma^2)\, df$ of a Gaussian latent.

Binary labels are $y \in \{0, 1\}$ (scikit-learn's convention; the sign $s = 2y - 1$ is
R&W's $\pm 1$ label); $C$-class labels are integers $0, \dots, C - 1$. Labels outside the
support raise a `ValueError` naming `y` (or, inside `jit`, an `eqx.error_if`).
"""

from __future__ import annotations

import math
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import jax.scipy.special as jss
import numpy as np
from jaxtyping import Array, Float, Int, PRNGKeyArray

from .._validation import check_int, concrete_or_none

_SQRT2 = math.sqrt(2.0)


def gauss_hermite(num_points: int) -> tuple[np.ndarray, np.ndarray]:
    r"""Nodes and weights for $\mathbb E_{z \sim \mathcal N(0,1)}[g(z)] \approx \sum_j w_j g(z_j)$.

    The physicists' Gauss–Hermite rule rescaled to the standard normal, in NumPy float64.
    """
    check_int("num_points", num_points, 1)
    x, w = np.polynomial.hermite.hermgauss(num_points)
    return x * _SQRT2, w / math.sqrt(math.pi)


def check_labels(y, num_classes: int) -> Array:
    """`y` as an integer array, after checking its values lie in {0, ..., num_classes - 1}.

    Concrete labels are checked at once (`ValueError` naming `y`); traced ones with
    `eqx.error_if`. Float labels must be whole numbers.
    """
    if jnp.ndim(y) != 1:
        raise ValueError(f"`y` must be 1-D with shape (n,), got shape {jnp.shape(y)}.")
    arr = concrete_or_none(y)
    support = "{0, 1}" if num_classes == 2 else f"{{0, ..., {num_classes - 1}}}"
    if arr is not None:
        if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.complexfloating):
            raise ValueError(f"`y` must hold integer class labels in {support}, got dtype "
                             f"{arr.dtype}.")
        bad = ~np.isfinite(arr) | (arr != np.round(arr)) | (arr < 0) | (arr >= num_classes)
        if np.any(bad):
            shown = np.unique(arr[bad])[:5].tolist()
            raise ValueError(f"`y` must hold class labels in {support}, got {shown} "
                             f"({int(np.sum(bad))} label(s) outside the support).")
        return jnp.asarray(arr.astype(np.int32))
    if jnp.issubdtype(y.dtype, jnp.floating):
        bad = ~jnp.isfinite(y) | (y != jnp.round(y))
        y = eqx.error_if(y, jnp.any(bad), f"`y` must hold class labels in {support}.")
        y = jnp.nan_to_num(y).astype(jnp.int32)
    y = eqx.error_if(y, jnp.any((y < 0) | (y >= num_classes)),
                     f"`y` must hold class labels in {support}.")
    return y.astype(jnp.int32)


class Likelihood(eqx.Module):
    """Base class of the classification likelihoods (modules without array leaves)."""

    @property
    def multiclass(self) -> bool:
        """Whether latents are (C, n), one function per class, rather than (n,)."""
        return False

    def log_prob(self, f: Array, y: Int[Array, " n"]) -> Float[Array, " n"]:
        """$\\log p(y_i \\mid f_i)$ per point."""
        raise NotImplementedError

    def derivatives(self, f: Array, y: Int[Array, " n"]) -> tuple[Array, Array]:
        """Gradient of $\\sum_i \\log p(y_i \\mid f_i)$ and its negative Hessian (diagonal)."""
        raise NotImplementedError


class _Binary(Likelihood):
    num_classes: ClassVar[int] = 2
    def predict(self, mean: Float[Array, "..."], variance: Float[Array, "..."],
                *, num_points: int = 401) -> Float[Array, "..."]:
        r"""$P(y = 1) = \int \lambda(f)\, \mathcal N(f \mid \mu, \sigma^2)\, df$ (Gaussian latent).

        The logit integral is the trapezoid rule in $z = (f - \mu)/\sigma$ on $[-12, 12]$,
        which converges geometrically for this analytic integrand (to about 1e-14 for
        $\sigma^2 \le 100$ with the default 401 nodes; Gauss–Hermite, whose nodes feel the
        poles of $\sigma(f)$ at $\pm i\pi$, stalls near 1e-3 there). The probit integral is
        closed form.

        **Arguments:**

        - `mean`, `variance`: the latent marginals $\mu$, $\sigma^2 \ge 0$ (any shape).
        - `num_points`: trapezoid nodes (logit only).

        **Returns:** the probability of class 1, shaped like `mean`.
        """
        check_int("num_points", num_points, 2)
        z = np.linspace(-12.0, 12.0, num_points)
        w = np.exp(-0.5 * z * z) * (z[1] - z[0]) / math.sqrt(2 * math.pi)
        shape = (1,) * jnp.ndim(mean) + (num_points,)
        z, w = jnp.asarray(z, mean.dtype).reshape(shape), jnp.asarray(w, mean.dtype).reshape(shape)
        f = mean[..., None] + jnp.sqrt(jnp.maximum(variance, 0))[..., None] * z
        return jnp.sum(self.response(f) * w, axis=-1)

    def response(self, f: Array) -> Array:
        raise NotImplementedError


class BernoulliLogit(_Binary):
    r"""Bernoulli likelihood with the logistic link: $p(y = 1 \mid f) = \sigma(f) = 1/(1 + e^{-f})$.

    $\log p(y \mid f) = -\log(1 + e^{-s f})$ with $s = 2y - 1$;
    $\nabla = y - \sigma(f)$, $W = -\nabla\nabla = \sigma(f)(1 - \sigma(f))$.
    Predictive probabilities integrate $\sigma$ against the Gaussian latent by quadrature
    (R&W section 3.4 use sampling or the probit approximation; the trapezoid rule used here is
    exact to about 1e-14 for latent variances up to 100).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.gp import BernoulliLogit
        >>> [round(v, 4) for v in BernoulliLogit().log_prob(jnp.array([0.0, 2.0]),
        ...                                                   jnp.array([1, 0])).tolist()]
        [-0.6931, -2.1269]

    Rasmussen & Williams (2006), section 3.4, eq. (3.15).
    """

    def log_prob(self, f, y):
        s = (2 * y - 1).astype(f.dtype)
        return -jax.nn.softplus(-s * f)

    def derivatives(self, f, y):
        p = jax.nn.sigmoid(f)
        return y.astype(f.dtype) - p, p * (1 - p)

    def response(self, f):
        return jax.nn.sigmoid(f)


class BernoulliProbit(_Binary):
    r"""Bernoulli likelihood with the probit link: $p(y = 1 \mid f) = \Phi(f)$.

    $\log p(y \mid f) = \log\Phi(s f)$, $s = 2y - 1$; with $r = \mathcal N(f)/\Phi(s f)$
    (formed in log space), $\nabla = s\, r$ and $W = r^2 + s f r$. The predictive probability
    is closed form: $\Phi\bigl(\mu / \sqrt{1 + \sigma^2}\bigr)$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.gp import BernoulliProbit
        >>> round(float(BernoulliProbit().predict(jnp.array(1.0), jnp.array(3.0))), 4)
        0.6915

    Rasmussen & Williams (2006), section 3.4, eqs. (3.16), (3.82).
    """

    def log_prob(self, f, y):
        s = (2 * y - 1).astype(f.dtype)
        return jss.log_ndtr(s * f)

    def derivatives(self, f, y):
        s = (2 * y - 1).astype(f.dtype)
        r = jnp.exp(-0.5 * f * f - 0.5 * math.log(2 * math.pi) - jss.log_ndtr(s * f))
        return s * r, r * (r + s * f)

    def predict(self, mean, variance, *, num_points: int = 401):
        return jss.ndtr(mean / jnp.sqrt(1 + jnp.maximum(variance, 0)))

    def response(self, f):
        return jss.ndtr(f)


class Softmax(Likelihood):
    r"""Multiclass (softmax) likelihood: $p(y = c \mid f) = e^{f_c} / \sum_{c'} e^{f_{c'}}$.

    Latents are laid out class-major, shape (C, n). $\nabla = \mathbb 1_{y} - \pi$ and
    $W = \operatorname{diag}(\pi) - \pi\pi^\top$ per point (singular: the latent sum is
    unidentified). Predictive probabilities average the softmax over samples of the Gaussian
    latent (R&W Algorithm 3.4).

    **Arguments:**

    - `num_classes`: $C \ge 2$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.gp import Softmax
        >>> float(Softmax(3).log_prob(jnp.zeros((3, 2)), jnp.array([0, 2]))[0]) == -float(
        ...     jnp.log(3.0))
        True

    Rasmussen & Williams (2006), section 3.5, eq. (3.34).
    """

    num_classes: int = eqx.field(static=True)

    def __init__(self, num_classes: int):
        check_int("num_classes", num_classes, 2)
        self.num_classes = num_classes

    @property
    def multiclass(self) -> bool:
        return True

    def log_prob(self, f, y):
        lse = jss.logsumexp(f, axis=0)
        return jnp.take_along_axis(f, y[None, :], axis=0)[0] - lse

    def derivatives(self, f, y):
        pi = jax.nn.softmax(f, axis=0)
        onehot = jax.nn.one_hot(y, self.num_classes, dtype=f.dtype).T
        return onehot - pi, pi

    def predict(self, mean: Float[Array, "C m"], covariance: Float[Array, "m C C"], *,
                key: PRNGKeyArray, num_samples: int = 1000) -> Float[Array, "C m"]:
        r"""$\mathbb E[\operatorname{softmax}(f_*)]$, $f_* \sim \mathcal N(\mu, \Sigma)$ per point,
        by Monte Carlo (R&W Algorithm 3.4, lines 10-13).

        **Arguments:**

        - `mean`: latent means, shape (C, m).
        - `covariance`: latent class covariances per point, shape (m, C, C).
        - `key`: PRNG key.
        - `num_samples`: Monte Carlo samples.

        **Returns:** class probabilities, shape (C, m); columns sum to one.
        """
        check_int("num_samples", num_samples, 1)
        C, m = mean.shape
        # A symmetric square root (eigh) copes with the rank-deficient covariances of
        # near-certain points, where a Cholesky factor would fail.
        lam, vec = jnp.linalg.eigh(covariance)
        root = vec * jnp.sqrt(jnp.maximum(lam, 0))[..., None, :]
        z = jax.random.normal(key, (num_samples, m, C), mean.dtype)
        f = mean.T[None] + jnp.einsum("mij,smj->smi", root, z)
        return jnp.mean(jax.nn.softmax(f, axis=-1), axis=0).T
