r"""The augmentation kernel of augmentation-based self-supervised learning on a finite
input x augmentation space: a two-step random walk on the bipartite graph, its top
eigenspace, and the RKHS linear probe."""

from __future__ import annotations

import itertools
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Int

from .._validation import check_int, check_ndim, check_positive
from ._kernels import lowest_eigenpairs


class AugmentationGraph(eqx.Module):
    r"""A finite joint distribution of inputs and augmentations as a bipartite edge list.

    Edge $e$ joins input $x_e$ and augmentation $a_e$ with probability $p(a_e \mid x_e)$;
    `input_probs` is $p(x)$. The augmentation marginal is
    $p(a) = \sum_x p(x)\, p(a \mid x)$, and the augmentation kernel on inputs is
    $$k(x, x') = \sum_a \frac{p(a \mid x)\, p(a \mid x')}{p(a)},$$
    so that the two-step walk $x \to a \to x'$ has transition probability
    $T(x' \mid x) = \sum_a p(a\mid x)\, p(x' \mid a) = k(x, x')\, p(x')$.

    Fields: `inputs`, `augmentations` (int (e,)), `probs` (e,), `input_probs` (N,),
    `num_augmentations` (static).
    """

    inputs: Int[Array, " e"]
    augmentations: Int[Array, " e"]
    probs: Float[Array, " e"]
    input_probs: Float[Array, " N"]
    num_augmentations: int = eqx.field(static=True)

    @property
    def num_inputs(self) -> int:
        return self.input_probs.shape[0]

    def augmentation_probs(self) -> Float[Array, " M"]:
        """The marginal $p(a)$, shape (M,)."""
        return jax.ops.segment_sum(self.input_probs[self.inputs] * self.probs,
                                   self.augmentations, num_segments=self.num_augmentations)

    def kernel_matvec(self, f: Float[Array, "N ..."]) -> Float[Array, "N ..."]:
        r"""$(K f)(x) = \sum_{x'} k(x, x') f(x')$ in two passes over the edges."""
        pa = self.augmentation_probs().astype(f.dtype)
        shape = (-1,) + (1,) * (f.ndim - 1)
        w = self.probs.astype(f.dtype).reshape(shape)
        g = jax.ops.segment_sum(w * f[self.inputs], self.augmentations,
                                num_segments=self.num_augmentations)
        g = g / jnp.where(pa > 0, pa, 1).reshape(shape)
        return jax.ops.segment_sum(w * g[self.augmentations], self.inputs,
                                   num_segments=self.num_inputs)

    def kernel(self, *, block_size: int = 16) -> Float[Array, "N N"]:
        """The dense (N, N) kernel matrix (for small spaces), `block_size` columns at a time
        (memory $O(e \\cdot b)$ for b = `block_size`)."""
        n = self.num_inputs
        b = min(block_size, n)
        starts = jnp.arange(0, n, b)

        def columns(start):
            eye = (jnp.arange(n)[:, None] == start + jnp.arange(b)[None, :])
            return self.kernel_matvec(eye.astype(self.probs.dtype))

        blocks = jax.lax.map(columns, starts)  # (num_blocks, n, b)
        return jnp.moveaxis(blocks, 0, 1).reshape(n, -1)[:, :n]


def random_mask_augmentations(length: int, *, mask_prob: Float[ArrayLike, ""],
                              dtype=None) -> AugmentationGraph:
    r"""All binary strings of `length` bits (uniform $p(x) = 2^{-\text{length}}$) with the
    random-mask augmentation: each bit is replaced by a mask symbol with probability
    $\rho$, independently.

    An augmentation is a string over $\{0, 1, *\}$ (index in base 3); each input has
    $2^{\text{length}}$ augmentations, so the graph has $4^{\text{length}}$ edges (about
    $10^6$ at length 10, $1.7 \cdot 10^7$ at 12). The kernel has the closed form
    $k(x, x') = \rho^{h} (2 - \rho)^{\text{length} - h}$ with $h$ the Hamming distance,
    whose eigenfunctions are the Walsh characters, with eigenvalues $(1-\rho)^{|S|}$.

    **Arguments:**

    - `length`: bits per string, $1 \le$ length $\le 12$.
    - `mask_prob`: $\rho \in (0, 1)$.
    - `dtype`: float dtype; default the default float dtype.

    **Returns:** an [`AugmentationGraph`][jaxkern.graphs.AugmentationGraph].

    Examples:
        >>> from jaxkern.graphs import random_mask_augmentations
        >>> g = random_mask_augmentations(2, mask_prob=0.5)
        >>> [round(v, 4) for v in g.kernel()[0].tolist()]  # h = 0, 1, 1, 2
        [2.25, 0.75, 0.75, 0.25]
    """
    check_int("length", length, 1)
    if length > 12:
        raise ValueError(f"`length` must be at most 12 (4^length edges), got {length}.")
    check_positive("mask_prob", mask_prob)
    rho = float(mask_prob)
    if not rho < 1:
        raise ValueError(f"`mask_prob` must be in (0, 1), got {mask_prob!r}.")
    dtype = jnp.result_type(float) if dtype is None else dtype
    n = 2**length
    bits = ((np.arange(n)[:, None] >> np.arange(length)[None, :]) & 1)  # (N, length)
    masks = np.array(list(itertools.product((0, 1), repeat=length)))[:, ::-1]  # (2^L, L)
    # augmentation symbol per bit: the bit, or 2 for masked; index in base 3
    sym = np.where(masks[None, :, :] == 1, 2, bits[:, None, :])  # (N, 2^L, L)
    aug = (sym * 3 ** np.arange(length)).sum(-1)
    k_masked = masks.sum(1)
    p = rho**k_masked * (1 - rho) ** (length - k_masked)
    return AugmentationGraph(
        jnp.asarray(np.repeat(np.arange(n), masks.shape[0]), jnp.int32),
        jnp.asarray(aug.reshape(-1), jnp.int32),
        jnp.asarray(np.tile(p, n), dtype),
        jnp.full((n,), 1.0 / n, dtype),
        3**length,
    )


class Eigenspace(NamedTuple):
    r"""The top-d eigenpairs of the augmentation operator: `values` (d,) descending and
    `functions` (N, d), eigenfunctions orthonormal in $L^2(p)$
    ($\sum_x p(x) f_i(x) f_j(x) = \delta_{ij}$), and `residuals` (d,)."""

    values: Float[Array, " d"]
    functions: Float[Array, "N d"]
    residuals: Float[Array, " d"]


def top_eigenspace(
    graph: AugmentationGraph,
    d: int,
    *,
    key,
    num_steps: int,
    num_starts: int = 1,
) -> Eigenspace:
    r"""The top-d eigenspace of the augmentation operator
    $(\mathcal{T} f)(x) = \sum_{x'} k(x, x')\, p(x')\, f(x')$ on $L^2(p)$, by Lanczos.

    $\mathcal{T}$ is self-adjoint in $L^2(p)$; with $D = \operatorname{diag}(p)$ the
    symmetric matrix $S = D^{1/2} K D^{1/2}$ has the same eigenvalues and eigenvectors
    $u = D^{1/2} f$. Lanczos runs on $-S$ (matrix-free, two passes over the edges per
    product) from `num_starts` random vectors, pooled by one Rayleigh–Ritz step
    ([`lowest_eigenpairs`][jaxkern.graphs.lowest_eigenpairs]); an eigenvalue of
    multiplicity $m$ inside the top d needs `num_starts` $\ge m$. The eigenvalues lie in
    $[0, 1]$, the top one is 1 (constant function).

    **Arguments:**

    - `graph`: an [`AugmentationGraph`][jaxkern.graphs.AugmentationGraph].
    - `d`: dimension of the eigenspace.
    - `key`: PRNG key for the start vectors.
    - `num_steps`: Lanczos steps per start ($\ge d$).
    - `num_starts`: start vectors.

    **Returns:** [`Eigenspace`][jaxkern.graphs.Eigenspace].

    Examples:
        >>> import jax
        >>> from jaxkern.graphs import random_mask_augmentations, top_eigenspace
        >>> g = random_mask_augmentations(4, mask_prob=0.5)
        >>> e = top_eigenspace(g, 5, key=jax.random.key(0), num_steps=10, num_starts=4)
        >>> [round(float(v), 6) for v in e.values]  # 1, then (1 - 0.5) four times
        [1.0, 0.5, 0.5, 0.5, 0.5]

    Zhai, Pukdee, Jin, Balcan & Ravikumar (2024), *Understanding augmentation-based
    self-supervised representation learning via RKHS approximation and regression*, ICLR.
    """
    check_int("d", d, 1)
    check_int("num_starts", num_starts, 1)
    n = graph.num_inputs
    if d > n:
        raise ValueError(f"`d` must be at most the number of inputs {n}, got {d}.")
    check_int("num_steps", num_steps, d)
    return _top_eigenspace(graph, key, d, num_steps, num_starts)


@eqx.filter_jit
def _top_eigenspace(graph, key, d, num_steps, num_starts):
    sqrt_p = jnp.sqrt(graph.input_probs)

    def neg_s(u):
        return -sqrt_p * graph.kernel_matvec(sqrt_p * u)

    v0 = jax.random.normal(key, (num_starts, graph.num_inputs), dtype=graph.probs.dtype)
    pairs = lowest_eigenpairs(neg_s, d, v0=v0, num_steps=num_steps)
    return Eigenspace(-pairs.values, pairs.vectors / sqrt_p[:, None], pairs.residuals)


class LinearProbe(NamedTuple):
    """A fitted linear probe: `weights` (d,) on the features and `predict(features)`."""

    weights: Float[Array, " d"]

    def predict(self, features: Float[Array, "n d"]) -> Float[Array, " n"]:
        return features @ self.weights


def linear_probe(
    features: Float[Array, "n d"], y: Float[Array, " n"], *, ridge: Float[ArrayLike, ""]
) -> LinearProbe:
    r"""The RKHS linear probe: ridge regression of labels on a representation.

    $$\hat w = \arg\min_w \frac1n \lVert \Phi w - y\rVert^2 + \beta \lVert w\rVert^2
      = (\Phi^\top \Phi + n\beta I)^{-1} \Phi^\top y,$$
    with $\Phi$ the encoder's features of the labelled inputs (e.g. the top-d
    eigenfunctions of [`top_eigenspace`][jaxkern.graphs.top_eigenspace], rows picked at the
    labelled inputs). A target in the span of the features is recovered as $\beta \to 0$.

    **Arguments:**

    - `features`: shape (n, d).
    - `y`: labels, shape (n,).
    - `ridge`: $\beta \ge 0$.

    **Returns:** [`LinearProbe`][jaxkern.graphs.LinearProbe].

    Examples:
        >>> import jax.numpy as jnp
        >>> from jaxkern.graphs import linear_probe
        >>> Phi = jnp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> [round(float(w), 4) for w in linear_probe(Phi, Phi @ jnp.array([2.0, -1.0]),
        ...                                          ridge=0.0).weights]
        [2.0, -1.0]
    """
    check_ndim("features", features, 2, "(n, d)")
    check_ndim("y", y, 1, "(n,)")
    if y.shape[0] != features.shape[0]:
        raise ValueError(
            f"`y` must have one entry per row of `features` ({features.shape[0]}), got shape "
            f"{y.shape}.")
    check_positive("ridge", ridge, allow_zero=True)
    n, d = features.shape
    A = features.T @ features + n * jnp.asarray(ridge, features.dtype) * jnp.eye(d,
                                                                                dtype=features.dtype)
    return LinearProbe(jnp.linalg.solve(A, features.T @ y))
