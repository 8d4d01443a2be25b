"""Exact KDE: golden values from scikit-learn, SciPy and a NumPy float64 log-sum-exp."""

import textwrap
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import gaussian_kde
from sklearn.neighbors import KernelDensity

import jaxkern.density._kde as kde_module
from jaxkern.density import KERNEL_ALIASES, KERNELS, kde_log_density, loo_log_likelihood

from ..helpers import (
    FLOAT,
    X64,
    assert_close,
    check_transforms,
    count_compiles,
    run_on_eight_host_devices,
)

#: scikit-learn's name of each kernel: the aliases, read backwards.
SKLEARN_NAME = {canonical: alias for alias, canonical in KERNEL_ALIASES.items()}


def _sample(seed, n, d, scale=1.0):
    return scale * np.random.default_rng(seed).normal(size=(n, d))


def _numpy_gaussian(X, Y, H, w=None):
    """Reference: float64 NumPy log-sum-exp of the Gaussian kernel with bandwidth matrix H."""
    d = X.shape[1]
    L = np.linalg.cholesky(H)
    diff = np.linalg.solve(L, (Y[:, None, :] - X[None, :, :]).reshape(-1, d).T).T
    u = np.sum(diff**2, axis=1).reshape(Y.shape[0], X.shape[0])
    w = np.ones(X.shape[0]) if w is None else w
    log_k = -0.5 * u - 0.5 * d * np.log(2 * np.pi) - np.sum(np.log(np.diag(L)))
    return logsumexp(log_k, b=w[None, :], axis=1) - np.log(w.sum())


@pytest.mark.parametrize("kernel", [k for k in KERNELS if k != "vmf"])
def test_matches_sklearn_every_kernel(kernel):
    # Reference: sklearn.neighbors.KernelDensity(rtol=0, atol=0) run here in float64.
    X, Y = _sample(0, 300, 3), _sample(1, 120, 3, 1.3)
    ref = KernelDensity(kernel=SKLEARN_NAME.get(kernel, kernel), bandwidth=0.8, rtol=0,
                        atol=0).fit(X).score_samples(Y)
    ours = np.asarray(
        kde_log_density(jnp.asarray(X, FLOAT), jnp.asarray(Y, FLOAT), bandwidth=0.8,
                        kernel=kernel, block_size=64)
    )
    # scikit-learn floors an empty kernel sum at log(tiny) (~ -36); the exact answer is -inf.
    inside = ref > -30
    assert np.all(np.isneginf(ours[~inside]))
    assert_close(ours[inside], ref[inside], rtol64=1e-8, rtol32=2e-5, atol32=1e-5)


def test_vmf_matches_scipy_von_mises_fisher():
    # Reference: the mean of scipy.stats.vonmises_fisher(x_j, kappa).pdf over the data, run here.
    from scipy.stats import vonmises_fisher

    X, Y = _sample(20, 60, 4), _sample(21, 25, 4)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    Y /= np.linalg.norm(Y, axis=1, keepdims=True)
    kappa = 7.0
    ref = np.log(np.mean([vonmises_fisher(x, kappa).pdf(Y) for x in X], axis=0))
    ours = kde_log_density(jnp.asarray(X, FLOAT), jnp.asarray(Y, FLOAT),
                           bandwidth=1 / np.sqrt(kappa), kernel="vmf", block_size=16)
    assert_close(ours, ref, rtol64=1e-12, rtol32=2e-5)
    with pytest.raises(ValueError, match="bandwidth"):
        kde_log_density(jnp.asarray(X, FLOAT), jnp.asarray(Y, FLOAT), bandwidth=jnp.ones(4),
                        kernel="vmf")
    with pytest.raises(ValueError, match="bandwidth"):
        kde_log_density(jnp.asarray(X, FLOAT), jnp.asarray(Y, FLOAT),
                        bandwidth_matrix=jnp.eye(4, dtype=FLOAT), kernel="vmf")


def test_aliases_are_the_canonical_kernels():
    # "gaussian" and "exponential" (scikit-learn's names) are "rbf" and "matern12", silently.
    X, Y = jnp.asarray(_sample(30, 50, 2), FLOAT), jnp.asarray(_sample(31, 20, 2), FLOAT)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for alias, canonical in KERNEL_ALIASES.items():
            np.testing.assert_array_equal(
                kde_log_density(X, Y, bandwidth=0.6, kernel=alias),
                kde_log_density(X, Y, bandwidth=0.6, kernel=canonical))
            np.testing.assert_array_equal(
                loo_log_likelihood(X, bandwidth=0.6, kernel=alias),
                loo_log_likelihood(X, bandwidth=0.6, kernel=canonical))
    assert "rbf" in KERNELS and "matern12" in KERNELS
    assert "gaussian" not in KERNELS and "exponential" not in KERNELS


def test_matches_sklearn_weighted():
    # Reference: KernelDensity(...).fit(X, sample_weight=w) in float64.
    X, Y = _sample(2, 200, 2), _sample(3, 50, 2)
    w = np.random.default_rng(4).uniform(0.1, 2.0, size=200)
    ref = KernelDensity(bandwidth=0.5, rtol=0, atol=0).fit(X, sample_weight=w).score_samples(Y)
    ours = kde_log_density(jnp.asarray(X, FLOAT), jnp.asarray(Y, FLOAT), bandwidth=0.5,
                           weights=jnp.asarray(w, FLOAT), block_size=32)
    assert_close(ours, ref, rtol64=1e-8, rtol32=2e-5)


@pytest.mark.skipif(not X64, reason="float64 accuracy target")
@pytest.mark.parametrize(
    "bandwidth",
    [0.3, np.array([0.2, 0.5, 1.1]), np.array([[0.5, 0.2, 0.0], [0.2, 0.4, 0.1], [0.0, 0.1, 0.3]])],
    ids=["scalar", "diagonal", "full"],
)
def test_gaussian_equals_numpy_logsumexp_to_1e10(bandwidth):
    X, Y = _sample(5, 400, 3, 2.0), _sample(6, 150, 3, 2.0)
    bw = np.asarray(bandwidth)
    H = bw**2 * np.eye(3) if bw.ndim == 0 else np.diag(bw**2) if bw.ndim == 1 else bw
    ref = _numpy_gaussian(X, Y, H)
    given = {"bandwidth_matrix" if bw.ndim == 2 else "bandwidth": jnp.asarray(bw)}
    ours = kde_log_density(jnp.asarray(X), jnp.asarray(Y), block_size=100, **given)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=0, atol=1e-10)


def test_gaussian_float32_twin():
    X, Y = _sample(5, 400, 3, 2.0), _sample(6, 150, 3, 2.0)
    ref = _numpy_gaussian(X, Y, 0.09 * np.eye(3))
    ours = kde_log_density(jnp.asarray(X, FLOAT), jnp.asarray(Y, FLOAT), bandwidth=0.3)
    np.testing.assert_allclose(np.asarray(ours), ref, rtol=0, atol=1e-10 if X64 else 1e-3)


def test_equals_gaussian_kde_given_its_covariance():
    # Reference: scipy.stats.gaussian_kde (Scott's rule) logpdf, run here.
    X, Y = _sample(7, 500, 4), _sample(8, 100, 4)
    g = gaussian_kde(X.T)
    ours = kde_log_density(jnp.asarray(X, FLOAT), jnp.asarray(Y, FLOAT),
                           bandwidth_matrix=jnp.asarray(g.covariance, FLOAT))
    assert_close(ours, g.logpdf(Y.T), rtol64=1e-10, rtol32=2e-5)


def test_matrix_as_bandwidth_is_deprecated_and_unchanged():
    # A (d, d) array passed as `bandwidth` still means the covariance H (old behaviour), with a
    # DeprecationWarning pointing to `bandwidth_matrix`; also inside jit (at trace time).
    X, Y = jnp.asarray(_sample(7, 200, 2), FLOAT), jnp.asarray(_sample(8, 30, 2), FLOAT)
    H = jnp.array([[0.5, 0.2], [0.2, 0.4]], FLOAT)
    ref = kde_log_density(X, Y, bandwidth_matrix=H)
    with pytest.warns(DeprecationWarning, match="bandwidth_matrix"):
        old = kde_log_density(X, Y, bandwidth=H)
    np.testing.assert_array_equal(old, ref)
    with pytest.warns(DeprecationWarning, match="bandwidth_matrix"):
        jitted = jax.jit(lambda H: kde_log_density(X, Y, bandwidth=H))(H)
    assert_close(jitted, ref)
    with pytest.warns(DeprecationWarning, match="bandwidth_matrix"):
        loo = loo_log_likelihood(X, bandwidth=H)
    np.testing.assert_array_equal(loo, loo_log_likelihood(X, bandwidth_matrix=H))


def test_widths_are_standard_deviations():
    # bandwidth=h is H = h^2 I, and per-dimension widths are H = diag(h_i^2): the width is a
    # standard deviation, the matrix a covariance (feeding H's diagonal as widths is wrong by
    # a square, which is why the two have different names).
    X, Y = jnp.asarray(_sample(32, 100, 2), FLOAT), jnp.asarray(_sample(33, 20, 2), FLOAT)
    h = jnp.array([0.3, 0.7], FLOAT)
    assert_close(kde_log_density(X, Y, bandwidth=h),
                 kde_log_density(X, Y, bandwidth_matrix=jnp.diag(h**2)), rtol32=2e-5)
    assert_close(kde_log_density(X, Y, bandwidth=0.4),
                 kde_log_density(X, Y, bandwidth_matrix=0.16 * jnp.eye(2, dtype=FLOAT)),
                 rtol32=2e-5)


def test_far_query_does_not_underflow():
    # Every kernel value underflows, but log p = -|y - x|^2 / 2h^2 + const stays exact.
    X = jnp.zeros((3, 1), FLOAT)
    y = jnp.array([[50.0]], FLOAT)
    ours = kde_log_density(X, y, bandwidth=0.1)
    ref = -0.5 * (50.0 / 0.1) ** 2 - 0.5 * np.log(2 * np.pi) - np.log(0.1)
    assert np.isfinite(float(ours[0]))
    assert_close(ours, [ref], rtol64=1e-14, rtol32=1e-6)


@pytest.mark.parametrize("kernel", ["rbf", "epanechnikov", "cosine", "matern12"])
def test_integrates_to_one(kernel):
    # Property: a KDE is a density; trapezoid rule on a fine 1-D grid.
    X = jnp.asarray(_sample(9, 20, 1), FLOAT)
    grid = jnp.linspace(-12.0, 12.0, 24001, dtype=FLOAT)[:, None]
    p = jnp.exp(kde_log_density(X, grid, bandwidth=0.7, kernel=kernel))
    total = float(jnp.sum(p) * (grid[1, 0] - grid[0, 0]))
    assert abs(total - 1) < (1e-5 if X64 else 1e-3)


def test_block_size_does_not_change_the_answer():
    X, Y = jnp.asarray(_sample(10, 257, 2), FLOAT), jnp.asarray(_sample(11, 130, 2), FLOAT)
    a = kde_log_density(X, Y, bandwidth=0.4, kernel="epanechnikov", block_size=7)
    b = kde_log_density(X, Y, bandwidth=0.4, kernel="epanechnikov", block_size=1000)
    assert_close(a, b, rtol64=1e-12, rtol32=1e-5)


def test_transforms_in_the_bandwidth():
    # jit = eager, vmap over bandwidths = a loop, grad = finite differences (both forms).
    X, Y = jnp.asarray(_sample(12, 60, 2), FLOAT), jnp.asarray(_sample(13, 10, 2), FLOAT)
    check_transforms(lambda h: kde_log_density(X, Y, bandwidth=h, block_size=32).sum(),
                     (jnp.asarray(0.5, FLOAT),), batch=(jnp.array([0.3, 0.5, 0.9], FLOAT),),
                     rtol32=2e-5)
    check_transforms(lambda h: kde_log_density(X, Y, bandwidth=h, kernel="matern12"),
                     (jnp.array([0.4, 0.8], FLOAT),), rtol32=2e-5)
    H = jnp.array([[0.5, 0.1], [0.1, 0.3]], FLOAT)
    check_transforms(lambda H: kde_log_density(X, Y, bandwidth_matrix=H, block_size=32).sum(),
                     (H,), batch=(jnp.stack([H, 2 * H]),), rtol32=2e-5)


@pytest.mark.parametrize("kernel", ["rbf", "matern12", "epanechnikov"])
def test_transforms_in_the_queries(kernel):
    # grad in the query points (for matern12 through the r = |x - y| profile) and vmap over
    # query sets.
    X, Y = jnp.asarray(_sample(12, 60, 2), FLOAT), jnp.asarray(_sample(13, 10, 2, 0.5), FLOAT)
    check_transforms(lambda Y: kde_log_density(X, Y, bandwidth=1.5, kernel=kernel,
                                               block_size=32),
                     (Y,), batch=(jnp.stack([Y, -Y]),), rtol32=2e-5)


def test_vmf_transforms():
    X, Y = _sample(20, 60, 4), _sample(21, 25, 4)
    X = jnp.asarray(X / np.linalg.norm(X, axis=1, keepdims=True), FLOAT)
    Y = jnp.asarray(Y / np.linalg.norm(Y, axis=1, keepdims=True), FLOAT)
    check_transforms(lambda h: kde_log_density(X, Y, bandwidth=h, kernel="vmf").sum(),
                     (jnp.asarray(0.4, FLOAT),), batch=(jnp.array([0.3, 0.6], FLOAT),),
                     rtol32=2e-5)


def test_same_shapes_do_not_recompile():
    # Under jit, new values of the same shapes (data, queries, bandwidth, an alias of the same
    # kernel) reuse the one compilation; a new query count is a new shape and recompiles by
    # design.
    X = jnp.asarray(_sample(40, 90, 3), FLOAT)
    for kernel in ("rbf", "gaussian"):
        f, compiles = count_compiles(
            lambda X, Y, h, kernel=kernel: kde_log_density(X, Y, bandwidth=h, kernel=kernel,
                                                           block_size=32))
        for seed, h in ((41, 0.5), (42, 0.9), (43, 0.3)):
            f(X + seed, jnp.asarray(_sample(seed, 70, 3), FLOAT), jnp.asarray(h, FLOAT))
        assert compiles() == 1


def test_query_counts_in_the_same_blocks_share_the_kernel(monkeypatch):
    # Eager calls pad the queries to whole blocks before the compiled kernel, so 100 and 120
    # queries (two blocks of 64) trace `_partial_lse` once, and give the unpadded answers.
    traces = []
    inner = kde_module._block_logits

    def counted(*args):
        traces.append(None)
        return inner(*args)

    monkeypatch.setattr(kde_module, "_block_logits", counted)
    X = jnp.asarray(_sample(44, 77, 5), FLOAT)  # a shape no other test compiles
    Y = jnp.asarray(_sample(45, 120, 5), FLOAT)
    a = kde_log_density(X, Y[:100], bandwidth=0.8, block_size=64)
    b = kde_log_density(X, Y, bandwidth=0.8, block_size=64)
    assert len(traces) == 1
    assert a.shape == (100,) and b.shape == (120,)
    np.testing.assert_array_equal(a, b[:100])
    ref = _numpy_gaussian(np.asarray(X, np.float64), np.asarray(Y, np.float64), 0.64 * np.eye(5))
    assert_close(b, ref, rtol64=1e-12, rtol32=2e-5)


def test_loo_log_likelihood_matches_numpy():
    X = _sample(14, 80, 2)
    d2 = ((X[:, None] - X[None]) ** 2).sum(-1)
    log_k = -0.5 * d2 / 0.25 - np.log(2 * np.pi * 0.25)
    np.fill_diagonal(log_k, -np.inf)
    ref = np.mean(logsumexp(log_k, axis=1) - np.log(79))
    ours = loo_log_likelihood(jnp.asarray(X, FLOAT), bandwidth=0.5, block_size=16)
    assert_close(ours, ref, rtol64=1e-12, rtol32=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"bandwidth": 0.0}, "bandwidth"),
        ({"bandwidth": -1.0}, "bandwidth"),
        ({"bandwidth": jnp.ones(3)}, "bandwidth"),
        ({"bandwidth": jnp.ones((2, 2, 2))}, "bandwidth"),
        ({"bandwidth_matrix": -jnp.eye(2)}, "bandwidth_matrix"),
        ({"bandwidth_matrix": jnp.eye(3)}, "bandwidth_matrix"),
        ({"bandwidth_matrix": jnp.ones(2)}, "bandwidth_matrix"),
        ({}, "bandwidth"),
        ({"bandwidth": 1.0, "bandwidth_matrix": jnp.eye(2)}, "bandwidth_matrix"),
        ({"bandwidth": 1.0, "kernel": "boxcar"}, "kernel"),
        ({"bandwidth": 1.0, "weights": jnp.ones(4)}, "weights"),
        ({"bandwidth": 1.0, "block_size": 0}, "block_size"),
        ({"bandwidth": 1.0, "block_size": True}, "block_size"),
        ({"bandwidth": 1.0, "block_size": 64.0}, "block_size"),
    ],
)
def test_bad_arguments(kwargs, name):
    X = jnp.zeros((5, 2), FLOAT)
    with pytest.raises(ValueError, match=name):
        kde_log_density(X, X, **kwargs)
    if "weights" not in kwargs:
        with pytest.raises(ValueError, match=name):
            loo_log_likelihood(X, **kwargs)


def test_bad_points():
    X = jnp.zeros((5, 2), FLOAT)
    with pytest.raises(ValueError, match="queries"):
        kde_log_density(X, jnp.zeros((3, 3), FLOAT), bandwidth=1.0)
    with pytest.raises(ValueError, match="data"):
        kde_log_density(X.at[0, 0].set(jnp.nan), X, bandwidth=1.0)
    with pytest.raises(ValueError, match="data"):
        kde_log_density(jnp.zeros((5,), FLOAT), X, bandwidth=1.0)


def test_nan_inside_jit_raises():
    X = jnp.zeros((5, 2), FLOAT).at[0, 0].set(jnp.nan)
    with pytest.raises(Exception, match="data"):
        jax.jit(lambda X: kde_log_density(X, jnp.zeros((2, 2), FLOAT), bandwidth=1.0))(X)


_SHARDED = textwrap.dedent(
    """
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    from jaxkern.density import kde_log_density
    assert jax.device_count() == 8
    mesh = jax.make_mesh((8,), ("x",))
    rows = NamedSharding(mesh, P("x"))
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(800, 3))); Y = jnp.asarray(rng.normal(size=(240, 3)))
    for kernel in ("rbf", "epanechnikov"):
        ref = kde_log_density(X, Y, bandwidth=0.5, kernel=kernel, block_size=64)
        by_query = kde_log_density(X, jax.device_put(Y, rows), bandwidth=0.5, kernel=kernel,
                                   block_size=64)
        assert by_query.sharding.spec == P("x"), by_query.sharding
        by_data = jax.jit(lambda X, Y: kde_log_density(X, Y, bandwidth=0.5, kernel=kernel,
                                                       block_size=64))(jax.device_put(X, rows), Y)
        tol = 1e-12 if X.dtype == jnp.float64 else 1e-5
        np.testing.assert_allclose(np.asarray(by_query), np.asarray(ref), rtol=tol)
        np.testing.assert_allclose(np.asarray(by_data), np.asarray(ref), rtol=tol)
    print("ok")
    """
)


@pytest.mark.slow
def test_sharded_equals_unsharded():
    run_on_eight_host_devices(_SHARDED, timeout=600)


def test_one_device_explicit_mesh_equals_unsharded():
    # docs/density.md's sharding example on a one-CPU machine: `jax.make_mesh` gives explicit
    # axes, and padding such an array beside a plain one was a ShardingTypeError.
    mesh = jax.make_mesh((1,), ("x",))
    rows = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x"))
    X = jax.random.normal(jax.random.key(0), (50, 2), FLOAT)
    Y = jax.random.normal(jax.random.key(1), (7, 2), FLOAT)
    ref = kde_log_density(X, Y, bandwidth=0.5, block_size=16)
    for data, queries in ((X, jax.device_put(Y, rows)), (jax.device_put(X, rows), Y)):
        got = kde_log_density(data, queries, bandwidth=0.5, block_size=16)
        np.testing.assert_array_equal(np.asarray(got), np.asarray(ref))
