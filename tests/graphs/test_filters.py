"""Laplacians, Chebyshev filters, ChebConv, kNN graphs: golden values from PyGSP, SciPy,
NumPy and torch_geometric run in this process; transforms; bad inputs."""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sp
import scipy.sparse.linalg as sla
from scipy.sparse import csgraph
from scipy.spatial import cKDTree

from jaxkern.graphs import (
    ChebConv,
    chebyshev_coefficients,
    chebyshev_filter,
    chebyshev_moments,
    graph_from_adjacency,
    graph_from_edges,
    knn,
    knn_graph,
    laplacian,
)
from tests.graphs.conftest import minnesota
from tests.helpers import FLOAT, X64, assert_close, check_transforms

# The bars: relative error of the heat filter e^{-tau L} x (normalised Laplacian,
# lambda_max = 2, Chebyshev-Gauss coefficients with N = order + 1) on PyGSP's Minnesota graph.
HEAT_BARS = [(1.0, 5, 2.3e-5), (1.0, 10, 1.3e-11), (10.0, 5, 1.6e-1), (10.0, 10, 2.9e-3),
             (10.0, 20, 9.6e-9), (10.0, 30, 8e-15)]


def _small_graph():
    # A weighted 6-node graph with a pendant node and an isolated node (5).
    edges = np.array([[0, 1], [1, 2], [2, 0], [2, 3], [3, 4]])
    weights = np.array([1.0, 2.0, 0.5, 1.5, 3.0])
    W = np.zeros((6, 6))
    W[edges[:, 0], edges[:, 1]] = weights
    W += W.T
    return edges, weights, W


def _heat_errors(W, x, reference):
    L = laplacian(graph_from_adjacency(W), normalization="sym")
    out = []
    for tau, order, bar in HEAT_BARS:
        c = chebyshev_coefficients(lambda lam, t=tau: jnp.exp(-t * lam), order, lambda_max=2.0)
        y = np.asarray(chebyshev_filter(L, jnp.asarray(x, dtype=FLOAT), c, lambda_max=2.0))
        ref = reference(tau)
        out.append((tau, order, bar, np.linalg.norm(y - ref) / np.linalg.norm(ref)))
    return out


def test_heat_filter_minnesota_bars():
    # Reference: SciPy's expm_multiply (Al-Mohy & Higham) on PyGSP's normalised Laplacian; it
    # agrees with NumPy's dense eigh to 8e-15 (the slow test below uses eigh itself).
    pygsp = pytest.importorskip("pygsp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = pygsp.graphs.Minnesota()
        G.compute_laplacian("normalized")
    x = np.random.default_rng(0).standard_normal(G.N)
    L = G.L.tocsr()
    for tau, order, bar, err in _heat_errors(G.W.astype(float), x,
                                             lambda t: sla.expm_multiply(-t * L, x)):
        if X64:
            assert err <= 2 * bar, (tau, order, err, bar)
        else:  # float32: the bars down to round-off (a few 1e-6 relative after 30 steps)
            assert err <= 2 * max(bar, 3e-6), (tau, order, err, bar)


@pytest.mark.slow
def test_heat_filter_minnesota_bars_against_eigh():
    # Reference: NumPy's dense eigh of the 2642 x 2642 normalised Laplacian (about 1 minute on
    # a shared CPU, hence slow).
    W, _, lam, U = minnesota()
    x = np.random.default_rng(0).standard_normal(W.shape[0])
    errs = _heat_errors(W, x, lambda t: U @ (np.exp(-t * lam) * (U.T @ x)))
    for tau, order, bar, err in errs:
        assert err <= 2 * (bar if X64 else max(bar, 3e-6)), (tau, order, err, bar)


def test_filter_equals_pygsp_cheby_op():
    # PyGSP's own Chebyshev filtering (compute_cheby_coeff + cheby_op) of a heat filter.
    pygsp = pytest.importorskip("pygsp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = pygsp.graphs.Minnesota()
        G.compute_laplacian("normalized")
        G.estimate_lmax()
        f = pygsp.filters.Heat(G, scale=3.0)
        c_ref = pygsp.filters.approximations.compute_cheby_coeff(f, m=15)
        x = np.random.default_rng(1).standard_normal(G.N)
        y_ref = pygsp.filters.approximations.cheby_op(G, c_ref, x)
    lmax = float(G.lmax)
    c = chebyshev_coefficients(lambda lam: jnp.exp(-3.0 * lam / lmax), 15, lambda_max=lmax)
    assert_close(c[1:], c_ref[1:], rtol64=1e-12, rtol32=1e-5, atol64=1e-14, atol32=1e-6)
    assert_close(c[0], 0.5 * c_ref[0], rtol64=1e-12, rtol32=1e-5)
    L = laplacian(graph_from_adjacency(G.W.astype(float)), normalization="sym")
    y = chebyshev_filter(L, jnp.asarray(x, dtype=FLOAT), c, lambda_max=lmax)
    assert_close(y, y_ref, rtol64=1e-11, rtol32=1e-4, atol64=1e-13, atol32=1e-5)


def test_coefficients_equal_numpy_chebinterpolate():
    # numpy.polynomial.chebyshev.chebinterpolate interpolates at the same Chebyshev points.
    order, lmax = 12, 3.0
    ref = np.polynomial.chebyshev.chebinterpolate(lambda t: np.cos(2 * (t + 1) * lmax / 2), order)
    c = chebyshev_coefficients(lambda lam: jnp.cos(2 * lam), order, lambda_max=lmax)
    assert_close(c, ref, rtol64=1e-10, rtol32=1e-4, atol64=1e-14, atol32=1e-6)


@pytest.mark.parametrize("normalization, scipy_normed",
                         [("combinatorial", False), ("sym", True), ("rw", None)])
def test_laplacian_dense_and_bcoo(normalization, scipy_normed):
    edges, weights, W = _small_graph()
    g = graph_from_edges(jnp.asarray(edges), jnp.asarray(weights, dtype=FLOAT), num_nodes=6)
    L = laplacian(g, normalization=normalization)
    d = W.sum(1)
    if scipy_normed is None:  # rw: I - D^-1 A, isolated node -> zero row
        with np.errstate(divide="ignore"):
            inv = np.where(d > 0, 1 / d, 0)
        ref = np.diag((d > 0).astype(float)) - inv[:, None] * W
    else:  # SciPy's csgraph.laplacian (normed: isolated nodes get a zero row and column)
        ref = csgraph.laplacian(W, normed=scipy_normed)
    assert_close(L.todense(), ref, rtol64=1e-13, atol64=1e-14, atol32=1e-6)
    assert_close(L.to_bcoo().todense(), ref, rtol64=1e-13, atol64=1e-14, atol32=1e-6)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((6, 3)), dtype=FLOAT)
    assert_close(L(x), ref @ np.asarray(x), rtol64=1e-13, atol64=1e-14, atol32=1e-5)
    # The bound is above the largest eigenvalue (the spectrum of rw equals that of sym).
    top = np.max(np.linalg.eigvals(ref).real)
    assert float(L.lambda_max_bound()) >= top - 1e-6


def test_laplacian_equals_pygsp():
    # PyGSP's combinatorial and normalised Laplacians of the Minnesota graph.
    pygsp = pytest.importorskip("pygsp")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        G = pygsp.graphs.Minnesota()
    g = graph_from_adjacency(G.W.astype(float))
    x = np.random.default_rng(2).standard_normal(G.N)
    for lap_type, ours in [("combinatorial", "combinatorial"), ("normalized", "sym")]:
        G.compute_laplacian(lap_type)
        got = laplacian(g, normalization=ours)(jnp.asarray(x, dtype=FLOAT))
        assert_close(got, G.L @ x, rtol64=1e-12, atol64=1e-12, atol32=1e-5)


def test_moments_match_filter():
    _, _, W = _small_graph()
    L = laplacian(graph_from_adjacency(W[:5, :5]), normalization="sym")
    x = jnp.asarray(np.random.default_rng(3).standard_normal((5, 2)), dtype=FLOAT)
    mu = chebyshev_moments(L, x, 6, lambda_max=2.0)
    for k in range(7):
        e = jnp.zeros(7, FLOAT).at[k].set(1.0)
        assert_close(mu[k], jnp.sum(x * chebyshev_filter(L, x, e, lambda_max=2.0), axis=0),
                     rtol64=1e-12, atol64=1e-12, atol32=1e-5)


def test_filter_transforms():
    _, _, W = _small_graph()
    L = laplacian(graph_from_adjacency(W[:5, :5]), normalization="sym")
    x = jnp.asarray(np.random.default_rng(4).standard_normal(5), dtype=FLOAT)

    def heat(x, tau):
        c = chebyshev_coefficients(lambda lam: jnp.exp(-tau * lam), 8, lambda_max=2.0,
                                   dtype=x.dtype)
        return chebyshev_filter(L, x, c, lambda_max=2.0)

    tau = jnp.asarray(0.7, FLOAT)
    check_transforms(heat, (x, tau), batch=(jnp.stack([x, 2 * x]), tau), in_axes=(0, None),
                     grad_argnums=(0, 1), atol32=1e-5)


@pytest.mark.slow
def test_chebconv_equals_torch_geometric():
    # torch_geometric's ChebConv (sym normalisation, lambda_max 2.0) with copied weights.
    torch = pytest.importorskip("torch")
    tg = pytest.importorskip("torch_geometric.nn")
    edges, weights, _ = _small_graph()
    torch.manual_seed(0)
    ref_layer = tg.ChebConv(3, 4, K=4, normalization="sym")
    torch.nn.init.normal_(ref_layer.bias)
    ei = torch.tensor(np.concatenate([edges, edges[:, ::-1]]).T.copy())
    ew = torch.tensor(np.concatenate([weights, weights]), dtype=torch.float32)
    x = np.random.default_rng(5).standard_normal((6, 3)).astype(np.float32)
    with torch.no_grad():
        ref = ref_layer(torch.tensor(x), ei, ew, lambda_max=2.0).numpy()
    layer = ChebConv(3, 4, K=4, key=jax.random.key(0), dtype=jnp.float32)
    weight = jnp.stack([jnp.asarray(lin.weight.detach().numpy().T) for lin in ref_layer.lins])
    layer = eqx_set(layer, weight, jnp.asarray(ref_layer.bias.detach().numpy()))
    # Node 5 is isolated: torch_geometric gives it L_55 = 1 (so L~_55 = 0), we give it a zero
    # row (PyGSP's and GeometricKernels' convention), so L~_55 = -1 and T_k(L~) e_5 = (-1)^k e_5.
    L = laplacian(graph_from_edges(jnp.asarray(edges), jnp.asarray(weights, jnp.float32),
                                   num_nodes=6), normalization="sym")
    out = np.asarray(layer(jnp.asarray(x), L))
    np.testing.assert_allclose(out[:5], ref[:5], rtol=1e-6, atol=1e-6)
    signs = np.array([1.0, -1.0, 1.0, -1.0], np.float32)
    own = np.einsum("k,i,kio->o", signs, x[5], np.asarray(weight)) + np.asarray(layer.bias)
    np.testing.assert_allclose(out[5], own, rtol=1e-6, atol=1e-6)


def eqx_set(layer, weight, bias):
    import equinox as eqx
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (weight, bias))


def test_knn_equals_kdtree(getkey):
    X = jax.random.normal(getkey(), (50, 3), dtype=FLOAT)
    nb = knn(X, k=5, block_size=16)
    d_ref, i_ref = cKDTree(np.asarray(X, np.float64)).query(np.asarray(X, np.float64), k=6)
    np.testing.assert_array_equal(np.asarray(nb.indices), i_ref[:, 1:])
    assert_close(nb.sqdists, d_ref[:, 1:] ** 2, rtol64=1e-10, rtol32=1e-4, atol32=1e-5)
    g = knn_graph(X, k=5)
    A = np.asarray(g.adjacency())
    ref = np.zeros((50, 50))
    ref[np.repeat(np.arange(50), 5), i_ref[:, 1:].ravel()] = 1.0
    np.testing.assert_allclose(A, (ref + ref.T) / 2)


def test_bad_inputs():
    with pytest.raises(ValueError, match="self-loop"):
        graph_from_edges(jnp.array([[0, 1], [2, 2]]), num_nodes=3)
    with pytest.raises(ValueError, match="`weights` must be non-negative"):
        graph_from_edges(jnp.array([[0, 1]]), jnp.array([-1.0]), num_nodes=2)
    with pytest.raises(ValueError, match="`weights` must be finite"):
        graph_from_edges(jnp.array([[0, 1]]), jnp.array([jnp.nan]), num_nodes=2)
    with pytest.raises(ValueError, match=r"`edges` must hold node indices in \[0, 2\)"):
        graph_from_edges(jnp.array([[0, 2]]), num_nodes=2)
    with pytest.raises(ValueError, match="`adjacency` must be symmetric"):
        graph_from_adjacency(np.array([[0.0, 1.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="`adjacency` has a nonzero diagonal"):
        graph_from_adjacency(sp.csr_matrix(np.eye(2)))
    with pytest.raises(ValueError, match="`k` must be smaller"):
        knn(jnp.zeros((4, 2)), k=4)
    with pytest.raises(ValueError, match="`X` must be finite"):
        knn_graph(jnp.array([[0.0, 1.0], [jnp.inf, 0.0], [1.0, 1.0]]), k=1)
    with pytest.raises(ValueError, match="`normalization`"):
        laplacian(graph_from_edges(jnp.array([[0, 1]]), num_nodes=2), normalization="none")
    with pytest.raises(ValueError, match="`lambda_max` must be positive"):
        chebyshev_coefficients(jnp.exp, 3, lambda_max=0.0)
    with pytest.raises(ValueError, match="`x` must have shape"):
        chebyshev_filter(lambda v: v, jnp.zeros((2, 2, 2)), jnp.ones(3), lambda_max=2.0)


def test_disconnected_graph_spectrum():
    # Two components and an isolated node: one zero eigenvalue per component (3 here), and
    # lambda_max is the largest over the components (the bound still holds).
    edges = jnp.array([[0, 1], [1, 2], [3, 4]])
    L = laplacian(graph_from_edges(edges, num_nodes=6), normalization="sym")
    lam = np.linalg.eigvalsh(np.asarray(L.todense(), np.float64))
    assert np.sum(np.abs(lam) < 1e-6) == 3
    assert lam[-1] <= float(L.lambda_max_bound()) + 1e-6
