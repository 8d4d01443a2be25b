r"""Coding rates of learned features, doubly stochastic memberships, spectral clustering.

The rate-reduction objectives (MCR$^2$, MLC) score a representation $Z$ by log-determinants
of its linear-kernel Gram matrix: the volume of all features against the volume of each
cluster. They are differentiable in $Z$ and in soft memberships, so they train feature heads.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from .._validation import check_int, check_ndim, check_positive


def _logdet_spd(A: Array) -> Array:
    L = jnp.linalg.cholesky(A)
    return 2 * jnp.sum(jnp.log(jnp.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


def coding_rate(Z: Float[Array, "n d"], *, eps: Float[ArrayLike, ""]) -> Float[Array, ""]:
    r"""The coding rate of $n$ features in $\mathbb R^d$ up to distortion $\varepsilon$.

    $$R(Z; \varepsilon) = \tfrac12 \log\det\Bigl(I_d + \frac{d}{n\varepsilon^2} Z^\top
      Z\Bigr) = \tfrac12 \log\det\Bigl(I_n + \frac{d}{n\varepsilon^2} Z Z^\top\Bigr),$$
    with the rows of `Z` the features (Ma et al.'s $Z$ is `Z.T`). The smaller of the two
    matrices is factorised (Cholesky; $d \times d$ when $d \le n$).

    **Arguments:**

    - `Z`: features, shape (n, d), one per row.
    - `eps`: distortion $\varepsilon > 0$.

    **Returns:** the scalar $R$ (nats).

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.features import coding_rate
        >>> round(float(coding_rate(jnp.eye(2), eps=1.0)), 6)  # log det(2 I) / 2 = log 2
        0.693147

    Ma, Derksen, Hong & Wright, *Segmentation of Multivariate Mixed Data via Lossy Data Coding
    and Compression*, TPAMI 2007; Yu et al., *Learning Diverse and Discriminative
    Representations via the Principle of Maximal Coding Rate Reduction*, NeurIPS 2020.
    """
    check_ndim("Z", Z, 2, "(n, d)")
    check_positive("eps", eps)
    n, d = Z.shape
    scale = d / (n * jnp.asarray(eps, Z.dtype) ** 2)
    G = Z.T @ Z if d <= n else Z @ Z.T
    return 0.5 * _logdet_spd(jnp.eye(G.shape[0], dtype=Z.dtype) + scale * G)


def coding_rate_clusters(
    Z: Float[Array, "n d"],
    membership: Float[Array, "n k"],
    *,
    eps: Float[ArrayLike, ""],
) -> Float[Array, ""]:
    r"""The coding rate of features split into (soft) clusters, $R_c(Z, \Pi; \varepsilon)$.

    With $\Pi_j = \operatorname{diag}(\pi_{\cdot j})$ the weights of cluster $j$,
    $$R_c(Z, \Pi; \varepsilon) = \sum_{j=1}^k \frac{\operatorname{tr}\Pi_j}{2n}
      \log\det\Bigl(I + \frac{d}{\operatorname{tr}(\Pi_j)\,\varepsilon^2} Z^\top \Pi_j Z
      \Bigr).$$
    One-hot labels give MCR$^2$'s $R_c$; a doubly stochastic $n \times n$ membership $\Gamma$
    (every column sums to 1, e.g. from [`sinkhorn`][jaxkern.features.sinkhorn]) gives MLC's
    $\frac{1}{2n}\sum_j \log\det(I + \frac{d}{\varepsilon^2} Z^\top \operatorname{diag}(
    \Gamma_{\cdot j}) Z)$. Empty clusters contribute 0. Each term is factorised in the
    smaller of its $d \times d$ and $n \times n$ forms.

    **Arguments:**

    - `Z`: features, shape (n, d).
    - `membership`: nonnegative weights $\pi_{ij}$ of point $i$ in cluster $j$, shape (n, k).
    - `eps`: distortion $\varepsilon > 0$.

    **Returns:** the scalar $R_c$.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxkern.features import coding_rate, coding_rate_clusters
        >>> Z = jnp.array([[1.0, 0.0], [0.0, 1.0]])
        >>> bool(coding_rate_clusters(Z, jnp.eye(2), eps=1.0) < coding_rate(Z, eps=1.0))
        True

    Yu et al., NeurIPS 2020, eq. 8; Ding et al., *Unsupervised Manifold Linearizing and
    Clustering*, ICCV 2023, eq. 4.
    """
    check_ndim("Z", Z, 2, "(n, d)")
    check_ndim("membership", membership, 2, "(n, k)")
    if membership.shape[0] != Z.shape[0]:
        raise ValueError(f"`membership` must have one row per row of `Z` ({Z.shape[0]}), got "
                         f"shape {membership.shape}.")
    check_positive("eps", eps)
    n, d = Z.shape
    P = membership.astype(Z.dtype)
    counts = jnp.sum(P, axis=0)  # (k,)
    nonempty = counts > 0
    safe = jnp.where(nonempty, counts, 1)
    scale = d / (safe * jnp.asarray(eps, Z.dtype) ** 2)  # (k,)
    if d <= n:
        G = jnp.einsum("nj,nd,ne->jde", P, Z, Z)  # Z^T Pi_j Z
        eye = jnp.eye(d, dtype=Z.dtype)
    else:
        R = jnp.sqrt(P).T[:, :, None] * Z[None]  # Pi_j^(1/2) Z, (k, n, d)
        G = R @ jnp.swapaxes(R, 1, 2)
        eye = jnp.eye(n, dtype=Z.dtype)
    logdets = _logdet_spd(eye[None] + scale[:, None, None] * G)
    return jnp.sum(jnp.where(nonempty, counts / (2 * n) * logdets, 0))


def sinkhorn(
    log_affinity: Float[Array, "n n"],
    *,
    num_iters: int = 200,
) -> Float[Array, "n n"]:
    r"""The doubly stochastic matrix nearest an affinity, by Sinkhorn's balancing in log space.

    Finds $\Gamma = \operatorname{diag}(u)\, e^{S} \operatorname{diag}(v)$ with every row and
    column summing to 1 by alternately normalising rows and columns (`num_iters` rounds of
    `logsumexp`, differentiable through the unrolled rounds). For a symmetric $S$ the fixed
    point is symmetric, and it is the entropy-regularised optimal transport plan between
    uniform marginals with cost $-S$: MLC's doubly stochastic membership from $S = Z Z^\top /
    \eta$.

    **Arguments:**

    - `log_affinity`: $S$, shape (n, n) (finite).
    - `num_iters`: rounds of row-then-column normalisation (static).

    **Returns:** $\Gamma$, shape (n, n): columns sum to 1 exactly, rows to the accuracy reached.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import sinkhorn
        >>> G = sinkhorn(jax.random.normal(jax.random.key(0), (4, 4)))
        >>> [round(v, 6) for v in G.sum(axis=1).tolist()]
        [1.0, 1.0, 1.0, 1.0]

    Sinkhorn & Knopp, *Concerning Nonnegative Matrices and Doubly Stochastic Matrices*, 1967;
    Ding et al., ICCV 2023, Section 3.
    """
    check_ndim("log_affinity", log_affinity, 2, "(n, n)")
    if log_affinity.shape[0] != log_affinity.shape[1]:
        raise ValueError(f"`log_affinity` must be square, got shape {log_affinity.shape}.")
    check_int("num_iters", num_iters, 1)

    def step(S, _):
        S = S - jax.nn.logsumexp(S, axis=1, keepdims=True)
        S = S - jax.nn.logsumexp(S, axis=0, keepdims=True)
        return S, None

    S, _ = lax.scan(step, log_affinity, None, length=num_iters)
    return jnp.exp(S)


def spectral_clustering(
    affinity: Float[Array, "n n"],
    num_clusters: int,
    *,
    key: PRNGKeyArray,
    num_iters: int = 100,
    num_restarts: int = 10,
) -> Int[Array, " n"]:
    r"""Cluster labels from a symmetric nonnegative affinity, by normalised spectral clustering.

    The top `num_clusters` eigenvectors $U$ of $D^{-1/2} A D^{-1/2}$ ($D$ the degrees), rows
    normalised to unit length (Ng, Jordan & Weiss), then $k$-means on the rows: `num_restarts`
    runs of Lloyd's algorithm from $k$-means++ seeds, the one with the lowest inertia kept.

    **Arguments:**

    - `affinity`: symmetric $A \ge 0$, shape (n, n) (e.g. a doubly stochastic $\Gamma$).
    - `num_clusters`: $k \ge 1$ (static).
    - `key`: PRNG key for the seeds.
    - `num_iters`: Lloyd iterations per restart (static); `num_restarts` (static).

    **Returns:** integer labels in $[0, k)$, shape (n,).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import spectral_clustering
        >>> A = jnp.kron(jnp.eye(2), jnp.ones((3, 3)))  # two blocks of three
        >>> labels = spectral_clustering(A, 2, key=jax.random.key(0))
        >>> bool(labels[0] == labels[2]) and bool(labels[0] != labels[3])
        True

    Ng, Jordan & Weiss, *On Spectral Clustering: Analysis and an Algorithm*, NeurIPS 2001.
    """
    check_ndim("affinity", affinity, 2, "(n, n)")
    if affinity.shape[0] != affinity.shape[1]:
        raise ValueError(f"`affinity` must be square, got shape {affinity.shape}.")
    check_int("num_clusters", num_clusters, 1)
    if num_clusters > affinity.shape[0]:
        raise ValueError(f"`num_clusters` must be at most the number of points "
                         f"({affinity.shape[0]}), got {num_clusters}.")
    check_int("num_iters", num_iters, 1)
    check_int("num_restarts", num_restarts, 1)
    A = 0.5 * (affinity + affinity.T)
    deg = jnp.sum(A, axis=1)
    inv_sqrt = jnp.where(deg > 0, 1 / jnp.sqrt(jnp.where(deg > 0, deg, 1)), 0)
    _, vecs = jnp.linalg.eigh(inv_sqrt[:, None] * A * inv_sqrt[None, :])
    U = vecs[:, -num_clusters:]
    norms = jnp.linalg.norm(U, axis=1, keepdims=True)
    U = U / jnp.where(norms > 0, norms, 1)
    runs = jax.vmap(lambda k: _kmeans(U, num_clusters, k, num_iters))(
        jax.random.split(key, num_restarts))
    return runs[0][jnp.argmin(runs[1])]


def _kmeans(X, k, key, num_iters):
    """Lloyd's algorithm from a k-means++ seeding: (labels, inertia)."""
    n = X.shape[0]

    def sqdist(C):
        return jnp.sum((X[:, None, :] - C[None, :, :]) ** 2, axis=-1)

    def seed(carry, key):
        C, i = carry
        d2 = jnp.min(jnp.where(jnp.arange(k)[None, :] < i, sqdist(C), jnp.inf), axis=1)
        p = jnp.where(jnp.isfinite(d2), d2, 1.0)
        idx = jax.random.choice(key, n, p=p / jnp.sum(p))
        return (C.at[i].set(X[idx]), i + 1), None

    keys = jax.random.split(key, k)
    C0 = jnp.zeros((k, X.shape[1]), X.dtype).at[0].set(X[jax.random.randint(keys[0], (), 0, n)])
    (C, _), _ = lax.scan(seed, (C0, 1), keys[1:])

    def lloyd(C, _):
        labels = jnp.argmin(sqdist(C), axis=1)
        onehot = jax.nn.one_hot(labels, k, dtype=X.dtype)
        counts = jnp.sum(onehot, axis=0)
        means = onehot.T @ X / jnp.where(counts > 0, counts, 1)[:, None]
        return jnp.where(counts[:, None] > 0, means, C), None

    C, _ = lax.scan(lloyd, C, None, length=num_iters)
    d2 = sqdist(C)
    return jnp.argmin(d2, axis=1), jnp.sum(jnp.min(d2, axis=1))


def _unit_rows(X: Array) -> Array:
    norms = jnp.linalg.norm(X, axis=1, keepdims=True)
    return X / jnp.where(norms > 0, norms, 1)


def mlc_membership(
    C: Float[Array, "n c"],
    *,
    eta: Float[ArrayLike, ""],
    num_iters: int = 20,
) -> Float[Array, "n n"]:
    r"""MLC's doubly stochastic membership of a batch, from cluster-head features.

    $$\Gamma = \mathcal P_{\Omega}\bigl(\hat C \hat C^\top / \eta\bigr), \qquad
      \hat c_i = c_i / \|c_i\|,$$
    with $\mathcal P_\Omega$ the Sinkhorn projection ([`sinkhorn`][jaxkern.features.sinkhorn])
    onto doubly stochastic matrices and the diagonal removed first (a point is not its own
    neighbour: $S_{ii} = -\infty$). Small $\eta$ gives sparse, near-permutation memberships;
    large $\eta$ spreads them.

    **Arguments:**

    - `C`: cluster-head outputs, shape (n, c).
    - `eta`: temperature $\eta > 0$.
    - `num_iters`: Sinkhorn rounds (static).

    **Returns:** $\Gamma$, shape (n, n), zero diagonal, rows and columns summing to 1.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import mlc_membership
        >>> G = mlc_membership(jax.random.normal(jax.random.key(0), (6, 3)), eta=0.5)
        >>> round(float(G.sum(axis=0)[0]), 5), float(G[0, 0])
        (1.0, 0.0)

    Ding et al., *Unsupervised Manifold Linearizing and Clustering*, ICCV 2023, Section 3.
    """
    check_ndim("C", C, 2, "(n, c)")
    check_positive("eta", eta)
    check_int("num_iters", num_iters, 1)
    Ch = _unit_rows(C)
    n = C.shape[0]
    S = (Ch @ Ch.T) / jnp.asarray(eta, C.dtype)
    S = jnp.where(jnp.eye(n, dtype=bool), -jnp.inf, S)
    return sinkhorn(S, num_iters=num_iters)


def mlc_loss(
    Z: Float[Array, "n d"],
    C: Float[Array, "n c"],
    *,
    eps: Float[ArrayLike, ""],
    eta: Float[ArrayLike, ""],
    num_iters: int = 20,
) -> Float[Array, ""]:
    r"""The manifold-linearising-and-clustering loss: minus the rate reduction under $\Gamma$.

    $$\mathcal L(Z, C) = -\Delta R = -R(\hat Z; \varepsilon) + R_c\bigl(\hat Z,
      \Gamma(C); \varepsilon\bigr), \qquad \hat z_i = z_i / \|z_i\|,$$
    with $\Gamma(C)$ from [`mlc_membership`][jaxkern.features.mlc_membership]: expand the
    whole batch (large $R$) while compressing each point together with the points its
    membership row selects (small $R_c$), so the feature head maps each cluster to a
    low-dimensional subspace and the cluster head learns which points share one. Minimise
    it over the parameters of the heads producing `Z` and `C` (gradients flow through the
    Cholesky log-determinants and the unrolled Sinkhorn rounds); cluster afterwards with
    [`spectral_clustering`][jaxkern.features.spectral_clustering] on $\Gamma$.

    **Arguments:**

    - `Z`: feature-head outputs, shape (n, d) (rows projected to the unit sphere here).
    - `C`: cluster-head outputs, shape (n, c).
    - `eps`: distortion $\varepsilon > 0$; `eta`: Sinkhorn temperature $\eta > 0$.
    - `num_iters`: Sinkhorn rounds (static).

    **Returns:** the scalar loss.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxkern.features import mlc_loss
        >>> Z = jax.random.normal(jax.random.key(0), (32, 8))
        >>> g = jax.grad(mlc_loss, argnums=(0, 1))(Z, Z, eps=0.5, eta=0.1)
        >>> bool(jnp.all(jnp.isfinite(g[0])) & jnp.all(jnp.isfinite(g[1])))
        True

    Ding et al., *Unsupervised Manifold Linearizing and Clustering*, ICCV 2023, eq. 5
    (without its entropy term); Yu et al., *Learning Diverse and Discriminative
    Representations via the Principle of Maximal Coding Rate Reduction*, NeurIPS 2020.
    """
    check_ndim("Z", Z, 2, "(n, d)")
    check_ndim("C", C, 2, "(n, c)")
    if C.shape[0] != Z.shape[0]:
        raise ValueError(f"`C` must have one row per row of `Z` ({Z.shape[0]}), got shape "
                         f"{C.shape}.")
    Zh = _unit_rows(Z)
    G = mlc_membership(C.astype(Z.dtype), eta=eta, num_iters=num_iters)
    return -coding_rate(Zh, eps=eps) + coding_rate_clusters(Zh, G, eps=eps)
