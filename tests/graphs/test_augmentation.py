"""The augmentation kernel on random-mask augmentations of binary strings: the closed form
rho^h (2 - rho)^(L - h), a Monte Carlo estimate of the two-step walk (sampled directly in
NumPy), the top-d eigenspace against NumPy's eigh, the linear probe against scikit-learn."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.graphs import linear_probe, random_mask_augmentations, top_eigenspace
from tests.helpers import FLOAT, X64, assert_close, check_transforms

LENGTH, RHO = 10, 0.3


@pytest.fixture(scope="module")
def graph():
    return random_mask_augmentations(LENGTH, mask_prob=RHO)


def _hamming(n_bits):
    x = np.arange(2**n_bits)
    bits = (x[:, None] >> np.arange(n_bits)) & 1
    return (bits[:, None, :] != bits[None, :, :]).sum(-1)


ROWS = np.array([0, 5, 777])


@pytest.fixture(scope="module")
def kernel_rows(graph):
    """Rows 0, 5, 777 of the dense kernel (= columns, by symmetry) from the edge list."""
    onehot = np.zeros((2**LENGTH, ROWS.size))
    onehot[ROWS, np.arange(ROWS.size)] = 1.0
    return np.asarray(graph.kernel_matvec(jnp.asarray(onehot, FLOAT)), np.float64).T


def test_dense_kernel_closed_form(graph, kernel_rows):
    # k(x, x') = sum_a p(a|x) p(a|x') / p(a) factorises over bits: rho^h (2 - rho)^(L - h).
    h = _hamming(LENGTH)[ROWS]
    assert_close(kernel_rows, RHO**h * (2 - RHO) ** (LENGTH - h), rtol64=1e-10, rtol32=1e-4)
    small = random_mask_augmentations(4, mask_prob=RHO)
    h4 = _hamming(4)
    assert_close(small.kernel(block_size=5), RHO**h4 * (2 - RHO) ** (4 - h4), rtol64=1e-12,
                 rtol32=1e-5)


def test_kernel_equals_monte_carlo(kernel_rows):
    # Two-step walk x -> a -> x' sampled in NumPy (mask each bit w.p. rho, then redraw the
    # masked bits uniformly): T(x'|x) = k(x, x') p(x'). Entries expected at least 20 times
    # agree within 5 binomial standard errors; the mass at each Hamming distance too.
    rng = np.random.default_rng(0)
    n, num = 2**LENGTH, 200_000
    weights = 1 << np.arange(LENGTH)
    h_all = _hamming(LENGTH)
    for x, row in zip(ROWS, kernel_rows):
        bits = (x >> np.arange(LENGTH)) & 1
        masked = rng.random((num, LENGTH)) < RHO
        redraw = rng.integers(0, 2, (num, LENGTH))
        freq = np.bincount(np.where(masked, redraw, bits) @ weights, minlength=n) / num
        expected = row / n
        se = np.sqrt(expected * (1 - expected) / num)
        big = expected * num >= 20
        assert big.sum() >= 11
        assert np.all(np.abs(freq - expected)[big] <= 5 * se[big])
        by_h = np.bincount(h_all[x], weights=freq), np.bincount(h_all[x], weights=expected)
        se_h = np.sqrt(by_h[1] * (1 - by_h[1]) / num)
        assert np.all(np.abs(by_h[0] - by_h[1]) <= 5 * se_h + 1e-12)
        assert_close(expected.sum(), 1.0, rtol64=1e-10, rtol32=1e-4)  # rows of T sum to 1


def _eigenspace_check(length):
    # d = 1 + L: the Walsh characters of degree <= 1, eigenvalues 1 and (1 - rho) with
    # multiplicities 1 and L (so L start vectors), then a gap to (1 - rho)^2.
    graph = random_mask_augmentations(length, mask_prob=RHO)
    d = 1 + length
    space = top_eigenspace(graph, d, key=jax.random.key(0), num_steps=d + 1, num_starts=length)
    n = 2**length
    # Reference: NumPy's eigh of S = D^1/2 K D^1/2 = K / n, K from the closed form (checked
    # against the edge-list kernel above).
    h = _hamming(length)
    lam, U = np.linalg.eigh(RHO**h * (2 - RHO) ** (length - h) / n)
    lam, U = lam[::-1][:d], U[:, ::-1][:, :d]
    assert_close(space.values, lam, rtol64=1e-10, rtol32=1e-4, atol32=1e-5)
    assert_close(lam, np.repeat([1.0, 1 - RHO], [1, length]), rtol64=1e-10, rtol32=1e-4)
    F = np.asarray(space.functions, np.float64)
    P_ours = (F / n) @ F.T  # projector onto the eigenspace in L2(p): F F^T diag(p)
    np.testing.assert_allclose(P_ours, U @ U.T, atol=1e-10 if X64 else 1e-4)
    np.testing.assert_allclose(F.T @ F / n, np.eye(d), atol=1e-10 if X64 else 1e-4)

    # The linear probe: a degree-1 target (signs of bits 0 and 5 plus a constant) lies in the
    # eigenspace, so the probe on 150 labelled inputs recovers it everywhere; with a ridge it
    # equals scikit-learn's Ridge (alpha = n * beta, no intercept).
    from sklearn.linear_model import Ridge

    bits = (np.arange(n)[:, None] >> np.arange(length)) & 1
    target = 0.3 + (1 - 2 * bits[:, 0]) + 0.5 * (1 - 2 * bits[:, 5])
    idx = np.random.default_rng(2).choice(n, 150, replace=False)
    Fj = space.functions
    probe = linear_probe(Fj[idx], jnp.asarray(target[idx], FLOAT), ridge=1e-8)
    assert_close(probe.predict(Fj), target, rtol64=1e-6, rtol32=1e-3, atol64=1e-6, atol32=1e-3)
    ours = linear_probe(Fj[idx], jnp.asarray(target[idx], FLOAT), ridge=0.05).weights
    ref = Ridge(alpha=150 * 0.05, fit_intercept=False).fit(F[idx], target[idx]).coef_
    assert_close(ours, ref, rtol64=1e-8, rtol32=1e-3, atol64=1e-10, atol32=1e-4)


def test_top_eigenspace_and_probe():
    _eigenspace_check(8)


@pytest.mark.slow
def test_top_eigenspace_and_probe_length_10():
    # The size: 1,024 strings, 59,049 augmentations, 1,048,576 edges.
    _eigenspace_check(10)


def test_transforms_and_bad_input():
    g = random_mask_augmentations(3, mask_prob=0.4)
    f = jnp.asarray(np.random.default_rng(3).standard_normal(8), FLOAT)
    check_transforms(g.kernel_matvec, (f,), batch=(jnp.stack([f, f**2]),))
    with pytest.raises(ValueError, match="`mask_prob` must be in"):
        random_mask_augmentations(3, mask_prob=1.0)
    with pytest.raises(ValueError, match="`length` must be at most 12"):
        random_mask_augmentations(13, mask_prob=0.5)
    with pytest.raises(ValueError, match="`d` must be at most"):
        top_eigenspace(g, 9, key=jax.random.key(0), num_steps=9)
    with pytest.raises(ValueError, match="`y` must have one entry"):
        linear_probe(jnp.ones((3, 2), FLOAT), jnp.ones(2, FLOAT), ridge=0.1)
    with pytest.raises(ValueError, match="`ridge` must be non-negative"):
        linear_probe(jnp.ones((3, 2), FLOAT), jnp.ones(3, FLOAT), ridge=-1.0)


