"""ROCKET: golden features against aeon 1.6 given identical kernels, and the kernel law."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.timeseries import RocketParameters, rocket_kernels, rocket_transform

from .conftest import load

F32 = np.float32


def _aeon_kernels(rocket, num_channels):
    """aeon's packed kernels as jaxkern's dense (k, channels, 11) weights."""
    w, lengths, b, d, p, per_kernel, channels = rocket.kernels
    W = np.zeros((len(lengths), num_channels, 11), F32)
    a1 = a2 = 0
    for i, (m, ell) in enumerate(zip(per_kernel, lengths, strict=True)):
        W[i, channels[a2: a2 + m], :ell] = w[a1: a1 + m * ell].reshape(m, ell)
        a1, a2 = a1 + m * ell, a2 + m
    return RocketParameters(jnp.asarray(W), jnp.asarray(b), jnp.asarray(d), jnp.asarray(p),
                            jnp.asarray(lengths))


@pytest.fixture(scope="module")
def gunpoint_rocket():
    pytest.importorskip("aeon")
    from aeon.transformations.collection.convolution_based import Rocket

    Xtr, _, Xte, _ = load("GunPoint")
    return Xtr.astype(F32), Xte[:16].astype(F32), Rocket(n_kernels=300, random_state=0)


def test_golden_features_vs_aeon_given_identical_kernels(gunpoint_rocket):
    # Golden: aeon 1.6's Rocket (numba, fastmath) on 16 GunPoint test series with aeon's own
    # kernels; PPV is a count and agrees exactly, max agrees to float32 rounding (aeon's
    # fastmath may fuse multiply-adds). normalise=True is aeon's per-series z-normalisation.
    Xtr, Xte, rocket = gunpoint_rocket
    rocket.fit(Xtr)
    params = _aeon_kernels(rocket, 1)
    ours = np.asarray(rocket_transform(params, jnp.asarray(Xte)))
    ref = rocket.transform(Xte)
    assert ours.shape == ref.shape == (16, 600)
    np.testing.assert_allclose(ours[:, ::2], ref[:, ::2], rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours[:, 1::2], ref[:, 1::2], rtol=1e-5, atol=1e-5)


def test_kernels_are_aeons_draws(gunpoint_rocket):
    # Same seed, same order of draws as aeon's _generate_kernels: identical kernels up to the
    # float32 rounding of the weight centring.
    Xtr, _, rocket = gunpoint_rocket
    rocket.fit(Xtr)
    ref = _aeon_kernels(rocket, 1)
    ours = rocket_kernels(150, 1, num_kernels=300, seed=0, dtype=jnp.float32)
    for name in ("lengths", "dilations", "paddings"):
        np.testing.assert_array_equal(np.asarray(getattr(ours, name)),
                                      np.asarray(getattr(ref, name)))
    np.testing.assert_allclose(np.asarray(ours.biases), np.asarray(ref.biases), atol=1e-7)
    np.testing.assert_allclose(np.asarray(ours.weights), np.asarray(ref.weights), atol=1e-6)


def test_kernel_distribution():
    # The law of the ROCKET paper: lengths uniform on {7, 9, 11}; weights centred per channel;
    # bias U(-1, 1); log2 dilation U(0, log2((L-1)/(l-1))) (floored); padding half the time.
    from scipy import stats

    k, L = 4000, 500
    params = rocket_kernels(L, 3, num_kernels=k, seed=1)
    lengths = np.asarray(params.lengths)
    counts = np.array([(lengths == v).sum() for v in (7, 9, 11)])
    assert stats.chisquare(counts).pvalue > 1e-3
    W = np.asarray(params.weights, np.float64)
    np.testing.assert_allclose(W.sum(axis=2), 0, atol=1e-5)
    assert stats.kstest(np.asarray(params.biases), stats.uniform(-1, 2).cdf).pvalue > 1e-3
    d = np.asarray(params.dilations)
    assert np.all(d >= 1) and np.all((lengths - 1) * d <= L - 1)
    padded = np.asarray(params.paddings) > 0
    assert abs(padded.mean() - 0.5) < 4 * np.sqrt(0.25 / k)
    np.testing.assert_array_equal(np.asarray(params.paddings)[padded],
                                  ((lengths - 1) * d // 2)[padded])
    # the number of channels per kernel is floor(2^U(0, log2(min(c, l) + 1))): 1, 2 or 3
    used = (np.abs(W).sum(axis=2) > 0).sum(axis=1)
    assert set(np.unique(used)) <= {1, 2, 3} and (used == 1).mean() > 0.3


def _small(n=4, L=30, c=1):
    rng = np.random.default_rng(0)
    return jnp.asarray(rng.standard_normal((n, c, L)), jnp.result_type(float))


def test_masking_and_robustness():
    X = _small()
    params = rocket_kernels(30, num_kernels=20, seed=0)
    F = rocket_transform(params, X, block_size=4)
    assert F.shape == (4, 40) and np.all(np.isfinite(np.asarray(F)))
    # a series padded to 30 and masked = the series alone (length 12 < a kernel's span)
    short = rocket_transform(params, X[:, :, :12], block_size=4)
    masked = rocket_transform(params, X.at[:, :, 12:].set(1e3), lengths=jnp.full(4, 12),
                              block_size=4)
    np.testing.assert_allclose(np.asarray(masked), np.asarray(short), rtol=1e-6, atol=1e-6)
    assert np.all(np.isfinite(np.asarray(short)))
    const = rocket_transform(params, jnp.ones_like(X), block_size=4)
    assert np.all(np.isfinite(np.asarray(const)))


@pytest.mark.slow
def test_jit_and_vmap():
    X = _small()
    params = rocket_kernels(30, num_kernels=20, seed=0)
    F = rocket_transform(params, X, block_size=4)
    jitted = jax.jit(rocket_transform, static_argnames=("block_size",))(params, X, block_size=4)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(F), rtol=1e-6, atol=1e-6)
    # all fields are leaves: vmap over two bias vectors
    def with_biases(b):
        p = RocketParameters(params.weights, b, params.dilations, params.paddings,
                             params.lengths)
        return rocket_transform(p, X, block_size=4)

    both = jax.vmap(with_biases)(jnp.stack([params.biases, params.biases]))
    np.testing.assert_allclose(np.asarray(both[1]), np.asarray(F), rtol=1e-6, atol=1e-6)


def test_bad_inputs():
    X = _small()
    params = rocket_kernels(30, num_kernels=5)
    with pytest.raises(ValueError, match="`X` has a NaN"):
        rocket_transform(params, X.at[0, 0, 0].set(jnp.nan))
    with pytest.raises(ValueError, match="`X` has 2 channels but the parameters were fitted on 1"):
        rocket_transform(params, jnp.concatenate([X, X], axis=1))
    with pytest.raises(ValueError, match="`num_kernels`"):
        rocket_kernels(30, num_kernels=0)
    with pytest.raises(ValueError, match="`kernel_chunk`"):
        rocket_transform(params, X, kernel_chunk=0)


def test_grouped_path_equals_gather_path():
    # Concrete kernels take the path grouped by dilation (static tap slices); traced kernels
    # (under jit) the gather path. Same additions in the same order: equal bit for bit, with
    # and without masking.
    X = _small()
    params = rocket_kernels(30, num_kernels=40, seed=1)
    lengths = jnp.asarray([30, 12, 25, 7], jnp.int32)
    grouped = rocket_transform(params, X, lengths=lengths, block_size=4)
    gathered = jax.jit(lambda p, x, n: rocket_transform(p, x, lengths=n, block_size=4))(
        params, X, lengths)
    np.testing.assert_array_equal(np.asarray(grouped), np.asarray(gathered))
