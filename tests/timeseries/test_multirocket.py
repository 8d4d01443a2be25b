"""MultiRocket: golden features against aeon 1.6 (run in this process), pooling semantics
against a NumPy loop, masking, transforms and robustness."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.timeseries import (
    MiniRocketParameters,
    MultiRocketParameters,
    multirocket_fit,
    multirocket_transform,
)

from .conftest import load

F32 = np.float32


def aeon_multirocket_parameters(mr, num_channels: int = 1) -> MultiRocketParameters:
    """aeon's fitted MultiRocket parameters ((dilations, features per dilation, biases) for
    the series and its difference, and for several channels the channel lists, which aeon's
    transform takes from the series' for both) as jaxkern's pytree."""

    def one(p):
        dilations, per_dilation, biases = p[-3:]
        m = 84 * len(dilations)
        masks = (jnp.ones((m, 1)) if num_channels == 1 else
                 jnp.asarray(_ranks_from_aeon(mr.parameter, num_channels, m)))
        return MiniRocketParameters(
            biases=jnp.asarray(biases), channel_masks=masks,
            dilations=tuple(int(d) for d in dilations),
            features_per_dilation=tuple(int(c) for c in per_dilation))

    return MultiRocketParameters(base=one(mr.parameter), diff=one(mr.parameter1))


@pytest.fixture(scope="module")
def gunpoint_aeon():
    pytest.importorskip("aeon")
    from aeon.transformations.collection.convolution_based import MultiRocket

    Xtr, _, Xte, _ = load("GunPoint")
    Xtr, Xte = Xtr.astype(F32), Xte[:32].astype(F32)
    mr = MultiRocket(random_state=0).fit(Xtr)
    return Xtr, Xte, mr


def test_golden_features_vs_aeon_gunpoint(gunpoint_aeon):
    # Golden: aeon 1.6's MultiRocket (numba) transform of 32 GunPoint test series with its
    # default 6,250 kernels (49,728 features), given aeon's own fitted parameters; the issue's
    # bar is 1e-6 in float32. PPV, LSPV and MIPV are exact ratios of integers; MPV (|MPV| up
    # to 27, a float32 ulp of 1.9e-6) needs the error-free sum, as aeon sums in float64.
    # Measured: max difference 4.8e-7 (all eight blocks within 1e-6).
    _, Xte, mr = gunpoint_aeon
    params = aeon_multirocket_parameters(mr)
    ours = np.asarray(multirocket_transform(params, jnp.asarray(Xte)))
    ref = mr.transform(Xte)
    assert ours.shape == ref.shape == (32, 49_728)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


def test_fit_matches_aeon_fit(gunpoint_aeon):
    # aeon's fit with random_state=0 and jaxkern's default num_features=50,000 (aeon's
    # n_kernels=6,250): same dilations and feature counts for both representations, biases
    # equal up to float32 rounding in the quantile's interpolation.
    Xtr, _, mr = gunpoint_aeon
    ref = aeon_multirocket_parameters(mr)
    ours = multirocket_fit(jnp.asarray(Xtr), seed=0)
    assert ours.num_features == ref.num_features == 49_728
    for a, b in ((ours.base, ref.base), (ours.diff, ref.diff)):
        assert a.dilations == b.dilations
        assert a.features_per_dilation == b.features_per_dilation
        b_ref = np.asarray(b.biases)
        np.testing.assert_allclose(np.asarray(a.biases), b_ref, rtol=0,
                                   atol=1e-4 * np.abs(b_ref).max())


def _ranks_from_aeon(parameter, num_channels, num_combinations):
    """aeon's multivariate channel lists as jaxkern's ranks (the order each is summed in)."""
    per_comb, channels = parameter[0], parameter[1]
    ranks = np.zeros((len(per_comb), num_channels), np.float32)
    start = 0
    for i, k in enumerate(per_comb):
        ranks[i, channels[start: start + k]] = np.arange(1, k + 1)
        start += k
    return ranks[:num_combinations]


def test_golden_multivariate_vs_aeon_basicmotions():
    # Golden: aeon 1.6's MultiRocket on BasicMotions (6 channels, length 100), n_kernels=84 x 4
    # (2,688 features), fitted with random_state=0 and run in this process on 8 test series.
    # aeon's transform sums the difference's outputs over the series' channel subsets (its
    # own subsets only serve its bias fit), channel by channel in the order drawn; our fit
    # reproduces its subsets (as ranks), dilations and biases, and our transform given aeon's
    # parameters its features. Measured: max |difference| 1.9e-6 at n_kernels=84 x 16, one
    # float32 ulp of an MPV near 20 (the 1e-6 bar is below an ulp there).
    pytest.importorskip("aeon")
    from aeon.transformations.collection.convolution_based import MultiRocket

    Xtr, _, Xte, _ = load("BasicMotions")
    Xtr, Xte = Xtr.astype(F32), Xte[:8].astype(F32)
    mr = MultiRocket(n_kernels=84 * 4, random_state=0).fit(Xtr)
    ref = aeon_multirocket_parameters(mr, num_channels=6)
    ours = multirocket_fit(jnp.asarray(Xtr), num_features=8 * 84 * 4, seed=0)
    for a, b in ((ours.base, ref.base), (ours.diff, ref.diff)):
        assert a.dilations == b.dilations
        np.testing.assert_array_equal(np.asarray(a.channel_masks), np.asarray(b.channel_masks))
        b_ref = np.asarray(b.biases)
        np.testing.assert_allclose(np.asarray(a.biases), b_ref, rtol=0,
                                   atol=1e-4 * np.abs(b_ref).max())
    F = np.asarray(multirocket_transform(ref, jnp.asarray(Xte)))
    R = mr.transform(Xte)
    assert F.shape == R.shape == (8, 8 * 84 * 4)
    np.testing.assert_allclose(F, R, rtol=1.2e-7, atol=1e-6)  # 1e-6 or one float32 ulp


@pytest.mark.slow
def test_gunpoint_accuracy_with_ridge():
    # MultiRocket + ridge on GunPoint (resample 0): 150/150, as aeon 1.6's MultiRocket with
    # StandardScaler + RidgeClassifierCV (measured in this environment).
    from jaxkern.timeseries import ridge_classifier_fit, ridge_classifier_predict

    Xtr, ytr, Xte, yte = load("GunPoint")
    params = multirocket_fit(jnp.asarray(Xtr, F32), seed=0)
    fit = ridge_classifier_fit(multirocket_transform(params, jnp.asarray(Xtr, F32)),
                               jnp.asarray(ytr), num_classes=2)
    pred = ridge_classifier_predict(fit, multirocket_transform(params, jnp.asarray(Xte, F32)))
    assert np.mean(np.asarray(pred) == yte) == 1.0


# Small synthetic problems: 8 * 84 * 2 features, 8 series of length 40, blocks of 8.
BLOCK = 8
NF = 8 * 84 * 2


def _series(n=8, L=40, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, L)
    X = np.sin(2 * np.pi * rng.uniform(1, 5, (n, 1, 1)) * t) + 0.1 * rng.standard_normal((n, 1, L))
    return jnp.asarray(X, jnp.result_type(float))


def _reference(params, x):
    """A plain loop over every (representation, dilation, kernel, bias): the definitions in
    `multirocket_transform`'s docstring, in float64; x is (channels, L)."""
    from jaxkern.timeseries._minirocket import KERNEL_INDICES

    x = np.asarray(x, np.float64).reshape(-1, np.shape(x)[-1])
    blocks = []
    for p, series, shift in ((params.base, x, 0), (params.diff, np.diff(x, axis=-1), 1)):
        L = series.shape[-1]
        b_all, f = np.asarray(p.biases, np.float64), 0
        out = np.zeros((4, p.num_features))
        used = np.asarray(p.channel_masks) > 0
        for j, (d, nf) in enumerate(zip(p.dilations, p.features_per_dilation, strict=True)):
            for k, taps in enumerate(KERNEL_INDICES):
                C = np.zeros(L)
                for i in range(9):
                    off = (i - 4) * d + (shift if i < 4 else 0)
                    w = 2.0 if i in taps else -1.0
                    src = np.arange(L) + off
                    ok = (src >= 0) & (src < L)
                    C[ok] += w * series[used[j * 84 + k]][:, src[ok]].sum(axis=0)
                if (j + k) % 2 == 1 and L - 8 * d > 0:
                    C = C[4 * d: L - 4 * d]
                n = len(C)
                for bias in b_all[f: f + nf]:
                    pos, neg = np.flatnonzero(C > bias), np.flatnonzero(C < bias)
                    s = np.concatenate([[0], neg, [n - 1]])
                    out[:, f] = (len(pos) / n, np.max(np.diff(s)) if len(s) > 1 else 0,
                                 np.mean(C[pos] + bias) if len(pos) else 0,
                                 np.mean(pos) if len(pos) else -1)
                    f += 1
        blocks.append(out.reshape(-1))
    return np.concatenate(blocks)


def test_pooling_matches_numpy_loop():
    # Independent of aeon: the four poolings of both representations against a plain loop.
    X = _series(n=2)
    params = multirocket_fit(X, num_features=NF, seed=3)
    F = np.asarray(multirocket_transform(params, X, block_size=BLOCK))
    rtol = 1e-10 if F.dtype == np.float64 else 2e-5
    for i in range(2):
        ref = _reference(params, X[i, 0])
        np.testing.assert_allclose(F[i], ref, rtol=rtol, atol=rtol)


def test_multivariate_pooling_matches_numpy_loop():
    # Three channels: each (dilation, kernel) sums its random channel subset (the difference
    # over the series' subsets, as aeon); against the plain loop, which sums in float64.
    X = _series(n=4, L=24)
    X = jnp.concatenate([X, jnp.cos(3 * X), X[:, :, ::-1]], axis=1)
    # fitted on two series, applied to two others (no output ties a bias exactly)
    params = multirocket_fit(X[2:], num_features=NF, seed=2)
    np.testing.assert_array_equal(np.asarray(params.diff.channel_masks),
                                  np.asarray(params.base.channel_masks)[:168])
    F = np.asarray(multirocket_transform(params, X, block_size=BLOCK))
    rtol = 1e-10 if F.dtype == np.float64 else 2e-5
    for i in range(2):
        np.testing.assert_allclose(F[i], _reference(params, X[i]), rtol=rtol, atol=rtol)


def test_variable_length_masking_equals_truncated_series():
    X = _series()
    params = multirocket_fit(X, num_features=NF, seed=1)
    lengths = jnp.array([40, 33, 27, 40, 12, 9, 40, 40])
    garbage = jnp.where(jnp.arange(40)[None, None, :] < lengths[:, None, None], X, 1e3)
    F = np.asarray(multirocket_transform(params, garbage, lengths=lengths, block_size=BLOCK))
    alone = multirocket_transform(params, X[2:3, :, :27], block_size=1)
    np.testing.assert_array_equal(F[2], np.asarray(alone)[0])


def test_jit_and_vmap_over_parameter_sets():
    X = _series()
    params = multirocket_fit(X, num_features=NF, seed=0)
    eager = np.asarray(multirocket_transform(params, X, block_size=BLOCK))
    jitted = jax.jit(multirocket_transform, static_argnames="block_size")(params, X,
                                                                          block_size=BLOCK)
    np.testing.assert_allclose(np.asarray(jitted), eager, rtol=2e-7)
    # vmap over a stack of parameter sets (the biases are pytree leaves)
    stacked = jax.tree.map(lambda a: jnp.stack([a, a + 0.1]), params)
    both = jax.vmap(lambda p: multirocket_transform(p, X, block_size=BLOCK))(stacked)
    np.testing.assert_allclose(np.asarray(both[0]), eager, rtol=2e-7)
    shifted = multirocket_transform(jax.tree.map(lambda a: a + 0.1, params), X,
                                    block_size=BLOCK)
    np.testing.assert_allclose(np.asarray(both[1]), np.asarray(shifted), rtol=2e-7)


def _check_ranges(F, params, L):
    m = params.base.num_features
    for rep, n in ((0, L), (1, L - 1)):
        ppv, lspv, mpv, mipv = F[:, rep * 4 * m:(rep + 1) * 4 * m].reshape(len(F), 4, m) \
            .transpose(1, 0, 2)
        assert np.all((ppv >= 0) & (ppv <= 1))
        assert np.all((lspv >= 0) & (lspv <= n - 1))
        assert np.all((mipv >= -1) & (mipv <= n - 1))
        assert np.all(mpv[ppv == 0] == 0) and np.all(mipv[ppv == 0] == -1)


@pytest.mark.parametrize("L", [5, pytest.param(2, marks=pytest.mark.slow)])
def test_series_shorter_than_the_kernel_span_give_finite_features(L):
    # Shorter than 9 (and the difference shorter still): the pooling window falls back to
    # every position, as in MiniRocket; aeon refuses L < 9.
    X = _series(n=3, L=L)
    params = multirocket_fit(X, num_features=NF, seed=0)
    F = np.asarray(multirocket_transform(params, X, block_size=3))
    assert F.shape == (3, NF) and np.all(np.isfinite(F))
    _check_ranges(F, params, L)


def test_constant_series():
    X = jnp.ones((8, 1, 40), jnp.result_type(float))
    params = multirocket_fit(_series(), num_features=NF, seed=0)
    F = np.asarray(multirocket_transform(params, X, block_size=BLOCK))
    assert np.all(np.isfinite(F))
    params = multirocket_fit(X, num_features=NF, seed=0)  # biases from constant series
    F = np.asarray(multirocket_transform(params, X, block_size=BLOCK))
    assert np.all(np.isfinite(F))
    _check_ranges(F, params, 40)


def test_bad_inputs():
    X = _series()
    params = multirocket_fit(X, num_features=NF, seed=0)
    with pytest.raises(ValueError, match="`X` has a NaN"):
        multirocket_transform(params, X.at[2, 0, 7].set(jnp.nan))
    with pytest.raises(ValueError, match="`X` has a NaN"):
        multirocket_fit(X.at[0, 0, 0].set(jnp.inf))
    with pytest.raises(ValueError, match="`X` has 2 channels but the parameters were fitted"):
        multirocket_transform(params, jnp.concatenate([X, X], axis=1))
    X3 = jnp.concatenate([X, -X, 2 * X], axis=1)
    p3 = multirocket_fit(X3, num_features=NF, seed=0)
    with pytest.raises(ValueError, match="`params` channel masks must hold ranks"):
        multirocket_transform(eqx.tree_at(lambda p: p.base.channel_masks, p3,
                                          jnp.ones_like(p3.base.channel_masks)), X3)
    with pytest.raises(ValueError, match="`X` must have shape"):
        multirocket_transform(params, X[0, 0])
    with pytest.raises(ValueError, match="`X` must have series of length >= 2"):
        multirocket_fit(X[:, :, :1])
    with pytest.raises(ValueError, match="`lengths` must be >= 2"):
        multirocket_transform(params, X, lengths=jnp.array([40, 1, 3, 3, 3, 3, 3, 3]))
    with pytest.raises(ValueError, match="`lengths` must lie in"):
        multirocket_transform(params, X, lengths=jnp.array([40, 41, 3, 3, 3, 3, 3, 3]))
    with pytest.raises(ValueError, match="`num_features`"):
        multirocket_fit(X, num_features=671)
    with pytest.raises(ValueError, match="`block_size`"):
        multirocket_transform(params, X, block_size=0)
