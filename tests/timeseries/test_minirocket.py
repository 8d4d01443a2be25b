"""MiniRocket: golden features against aeon 1.6 (run in this process), masking, robustness."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.timeseries import (
    minirocket_fit,
    minirocket_transform,
    padded_panel,
    ridge_classifier_fit,
    ridge_classifier_predict,
)

from .conftest import aeon_parameters, load

F32 = np.float32


@pytest.fixture(scope="module")
def gunpoint_aeon():
    pytest.importorskip("aeon")
    from aeon.transformations.collection.convolution_based import MiniRocket

    Xtr, _, Xte, _ = load("GunPoint")
    Xtr, Xte = Xtr.astype(F32), Xte[:32].astype(F32)
    mr = MiniRocket(random_state=0).fit(Xtr)
    return Xtr, Xte, mr


def test_golden_features_vs_aeon_gunpoint(gunpoint_aeon):
    # Golden: aeon 1.6's MiniRocket (numba) transform of 32 GunPoint test series, given aeon's
    # own fitted parameters; the bar is 1e-6 in float32 (PPVs are multiples of 1/L, so
    # any disagreement in a comparison would show as >= 1/150).
    Xtr, Xte, mr = gunpoint_aeon
    params = aeon_parameters(mr, 1)
    ours = np.asarray(minirocket_transform(params, jnp.asarray(Xte)))
    ref = mr.transform(Xte)
    assert ours.shape == ref.shape == (32, 9996)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_fit_matches_aeon_fit(gunpoint_aeon):
    # aeon's fit with random_state=0: same dilations, feature counts and random draws (the
    # series each bias comes from); biases are quantiles, equal up to float32 rounding in the
    # quantile's interpolation (numba's np.quantile vs NumPy's).
    Xtr, _, mr = gunpoint_aeon
    ref = aeon_parameters(mr, 1)
    ours = minirocket_fit(jnp.asarray(Xtr), seed=0)
    assert ours.dilations == ref.dilations
    assert ours.features_per_dilation == ref.features_per_dilation
    b, b_ref = np.asarray(ours.biases), np.asarray(ref.biases)
    np.testing.assert_allclose(b, b_ref, rtol=0, atol=1e-4 * np.abs(b_ref).max())


@pytest.mark.slow
def test_golden_multivariate_vs_aeon_basicmotions():
    # Golden: aeon's multivariate MiniRocket on BasicMotions (6 channels), aeon's parameters
    # (random channel subsets per kernel and dilation) fed to our transform.
    pytest.importorskip("aeon")
    from aeon.transformations.collection.convolution_based import MiniRocket

    Xtr, _, Xte, _ = load("BasicMotions")
    Xtr, Xte = Xtr.astype(F32), Xte[:8].astype(F32)
    mr = MiniRocket(n_kernels=84 * 8, random_state=0).fit(Xtr)
    params = aeon_parameters(mr, 6)
    ours = minirocket_fit(jnp.asarray(Xtr), num_features=84 * 8, seed=0)
    np.testing.assert_array_equal(np.asarray(ours.channel_masks), np.asarray(params.channel_masks))
    np.testing.assert_allclose(np.asarray(minirocket_transform(params, jnp.asarray(Xte))),
                               mr.transform(Xte), rtol=0, atol=1e-6)


@pytest.mark.slow
def test_gunpoint_accuracy_with_ridge():
    # The MiniRocket paper's resample-0 GunPoint accuracy, 149/150 (aeon 1.6 measures the same).
    Xtr, ytr, Xte, yte = load("GunPoint")
    params = minirocket_fit(jnp.asarray(Xtr, F32), seed=0)
    fit = ridge_classifier_fit(minirocket_transform(params, jnp.asarray(Xtr, F32)),
                               jnp.asarray(ytr), num_classes=2)
    pred = ridge_classifier_predict(fit, minirocket_transform(params, jnp.asarray(Xte, F32)))
    assert np.mean(np.asarray(pred) == yte) == pytest.approx(149 / 150)


# Small synthetic problems share one compiled program: 84 * 4 features, 8 series of length 40,
# blocks of 8 (the scikit-learn tests use the same shapes).
BLOCK = 8


def _series(n=8, c=1, L=40, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, L)
    X = np.sin(2 * np.pi * rng.uniform(1, 5, (n, c, 1)) * t) + 0.1 * rng.standard_normal((n, c, L))
    return jnp.asarray(X, jnp.result_type(float))


def test_padded_panel():
    # zero padding to the longest series, per-series lengths, 1-D series as one channel, arrays
    # passed through, mismatched channel counts named
    X, lengths = padded_panel([np.arange(1.0, 4.0), np.arange(1.0, 6.0)])
    np.testing.assert_array_equal(np.asarray(X), [[[1, 2, 3, 0, 0]], [[1, 2, 3, 4, 5]]])
    assert lengths.tolist() == [3, 5] and lengths.dtype == jnp.int32
    A = np.ones((4, 2, 7), np.float32)
    Y, none = padded_panel(A)
    assert none is None and Y.shape == A.shape
    with pytest.raises(ValueError, match=r"`X\[1\]` has 3 channels"):
        padded_panel([np.ones((2, 4)), np.ones((3, 4))])


def test_variable_length_masking_equals_truncated_series():
    # A series of length ell padded to L gives the features of the series alone: the padded
    # batch against each series transformed by itself at its own length.
    X = _series()
    params = minirocket_fit(X, num_features=84 * 4, seed=1)
    lengths = jnp.array([40, 33, 27, 40, 12, 9, 40, 40])
    garbage = jnp.where(jnp.arange(40)[None, None, :] < lengths[:, None, None], X, 1e3)
    F = np.asarray(minirocket_transform(params, garbage, lengths=lengths, block_size=BLOCK))
    for i in (2,):  # length 27 (each length compiles once)
        ell = int(lengths[i])
        alone = minirocket_transform(params, X[i: i + 1, :, :ell], block_size=1)
        np.testing.assert_array_equal(F[i], np.asarray(alone)[0])


def test_jit():
    X = _series()
    params = minirocket_fit(X, num_features=84 * 4, seed=0)
    eager = minirocket_transform(params, X, block_size=BLOCK)
    jitted = jax.jit(minirocket_transform, static_argnames="block_size")(params, X,
                                                                          block_size=BLOCK)
    # equal up to the last bit of count / window (jit may divide by a reciprocal)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=2e-7)


@pytest.mark.slow
def test_vmap_over_parameter_sets():
    X = _series()
    params = minirocket_fit(X, num_features=84 * 4, seed=0)
    eager = minirocket_transform(params, X, block_size=BLOCK)
    # vmap over a stack of parameter sets (the biases are a pytree leaf)
    stacked = jax.tree.map(lambda a: jnp.stack([a, a + 0.1]), params)
    both = jax.vmap(lambda p: minirocket_transform(p, X, block_size=4))(stacked)
    np.testing.assert_allclose(np.asarray(both[0]), np.asarray(eager), rtol=2e-7)
    shifted = minirocket_transform(jax.tree.map(lambda a: a + 0.1, params), X, block_size=4)
    np.testing.assert_allclose(np.asarray(both[1]), np.asarray(shifted), rtol=2e-7)


def test_features_are_proportions():
    # PPV is a proportion: in [0, 1], a multiple of 1/|window| for each feature.
    X = _series()
    F = np.asarray(minirocket_transform(minirocket_fit(X, num_features=84 * 4), X,
                                        block_size=BLOCK))
    assert F.shape == (8, 84 * 4)
    assert np.all((F >= 0) & (F <= 1))


@pytest.mark.parametrize("L", [8, pytest.param(5, marks=pytest.mark.slow),
                               pytest.param(1, marks=pytest.mark.slow)])
def test_short_series_give_finite_features(L):
    # minirocket #31: length 8 gave NaN (an empty pooling window); here the window falls back
    # to every position.
    X = _series(n=3, L=L)
    params = minirocket_fit(X, num_features=84, seed=0)
    F = np.asarray(minirocket_transform(params, X, block_size=3))
    assert np.all(np.isfinite(F)) and F.shape == (3, 84)


def test_constant_series():
    X = jnp.ones((8, 1, 40), jnp.result_type(float))
    params = minirocket_fit(_series(), num_features=84 * 4, seed=0)
    F = np.asarray(minirocket_transform(params, X, block_size=BLOCK))
    assert np.all(np.isfinite(F))
    F = np.asarray(minirocket_transform(minirocket_fit(X, num_features=84 * 4), X,
                                        block_size=BLOCK))
    # away from the zero-padded ends the convolution of a constant series is constant and no
    # bias drawn from it is exceeded; features are finite proportions
    assert np.all(np.isfinite(F)) and np.all((F >= 0) & (F <= 1))


def test_bad_inputs():
    X = _series()
    params = minirocket_fit(X, num_features=84, seed=0)
    with pytest.raises(ValueError, match="`X` has a NaN"):
        minirocket_transform(params, X.at[2, 0, 7].set(jnp.nan))
    with pytest.raises(ValueError, match="`X` has a NaN"):
        minirocket_fit(X.at[0, 0, 0].set(jnp.inf))
    with pytest.raises(ValueError, match="`X` has 2 channels but the parameters were fitted on 1"):
        minirocket_transform(params, jnp.concatenate([X, X], axis=1))
    with pytest.raises(ValueError, match="`X` must have shape"):
        minirocket_transform(params, X[0, 0])
    with pytest.raises(ValueError, match="`lengths` must lie in"):
        minirocket_transform(params, X, lengths=jnp.array([40, 41, 3, 3, 3, 3, 3, 3]))
    with pytest.raises(ValueError, match="`lengths` must be an int array"):
        minirocket_transform(params, X, lengths=jnp.ones(8))
    with pytest.raises(ValueError, match="`num_features`"):
        minirocket_fit(X, num_features=0)
    with pytest.raises(ValueError, match="`block_size`"):
        minirocket_transform(params, X, block_size=0)


@pytest.mark.slow
def test_sharded_input_equals_unsharded():
    # 8 host CPU devices need a fresh process: XLA reads the flag once, at start-up.
    import textwrap

    from ..helpers import run_on_eight_host_devices

    script = textwrap.dedent("""
        import jax, jax.numpy as jnp, numpy as np
        from jax.sharding import NamedSharding, PartitionSpec as P
        from jaxkern.timeseries import minirocket_fit, minirocket_transform
        assert len(jax.devices()) == 8
        mesh = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Auto,))
        rng = np.random.default_rng(0)
        X = jnp.asarray(rng.standard_normal((16, 2, 40)), jnp.result_type(float))
        params = minirocket_fit(X, num_features=84 * 4, seed=0)
        Xs = jax.device_put(X, NamedSharding(mesh, P("data")))
        plain = minirocket_transform(params, X, block_size=8)
        sharded = minirocket_transform(params, Xs, block_size=8)
        np.testing.assert_array_equal(np.asarray(sharded), np.asarray(plain))
        print("ok")
    """)
    run_on_eight_host_devices(script, timeout=600)


def test_block_order_covers_every_kernel_and_feature_once():
    # The transform computes the 84 kernels in "block" order (middle tap b, then a, then c) and
    # permutes biases and features with these tables; each must be a permutation.
    from jaxkern.timeseries._minirocket import BLOCK_ORDER, KERNEL_INDICES, _feature_order

    np.testing.assert_array_equal(np.sort(BLOCK_ORDER), np.arange(84))
    taps = KERNEL_INDICES[BLOCK_ORDER]
    assert np.all(np.diff(taps[:, 1]) >= 0)  # grouped by middle tap
    order = _feature_order((5, 1, 19))
    np.testing.assert_array_equal(np.sort(order), np.arange(84 * 25))
