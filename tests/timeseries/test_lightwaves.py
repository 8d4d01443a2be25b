"""LightWaveS: features against a NumPy loop of the definitions, ANOVA against scikit-learn,
the selection's properties, masking, transforms, accuracy and bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxkern.timeseries import (
    LightWaveSParameters,
    lightwaves_fit,
    lightwaves_transform,
    minirocket_fit,
    minirocket_transform,
    padded_panel,
    ridge_classifier_fit,
    ridge_classifier_predict,
)
from jaxkern.timeseries._lightwaves import FEATURES_PER_KERNEL, WEIGHTS, anova_f, mrmr
from tests.helpers import FLOAT

from .conftest import load

BLOCK = 8


def _problem(n=8, c=2, L=40, seed=0):
    """Two classes of noisy sines (low and high frequency), c channels."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    t = np.linspace(0, 1, L)
    f = np.where(y == 0, 2.0, 6.0)[:, None, None] * rng.uniform(0.8, 1.2, (n, c, 1))
    X = np.sin(2 * np.pi * f * t + rng.uniform(0, 6, (n, c, 1))) \
        + 0.2 * rng.standard_normal((n, c, L))
    return jnp.asarray(X, jnp.result_type(float)), y


def _reference(params: LightWaveSParameters, x, length):
    """A plain loop over the selected (channel, kernel, dilation) triples: the definitions in
    `lightwaves_transform`'s docstring, in float64; x is (channels, L)."""
    x = np.asarray(x, np.float64)[:, :length]
    mean, scale = np.asarray(params.mean, np.float64), np.asarray(params.scale, np.float64)

    def conv(v, w, d):
        out = np.zeros(len(v))
        for t in range(len(v)):
            for i in range(9):
                s = t + (i - 4) * d
                if 0 <= s < len(v):
                    out[t] += w[i] * v[s]
        return out / d ** 1.5

    def pool(C):
        runs, r = [0], 0
        for value in C:
            r = r + 1 if value > 0 else 0
            runs.append(r)
        return [np.mean(C > 0), np.abs(C).max(), max(runs) / len(C), np.abs(C).min()]

    out = []
    for h, k, d in zip(np.asarray(params.channels), np.asarray(params.kernels),
                       params.dilations, strict=True):
        v = (x[h] - mean[h]) / scale[h]
        C1 = conv(v, WEIGHTS[k], d)
        z = np.abs(C1)[0: 2 * max(length // 2, 1): 2]
        out += pool(C1) + pool(conv(z, WEIGHTS[k], d))
    return np.asarray(out)[np.asarray(params.feature_index)]


def test_features_match_numpy_loop():
    X, y = _problem()
    params = lightwaves_fit(X, y, num_features=40, key=jax.random.key(0))
    F = np.asarray(lightwaves_transform(params, X, block_size=BLOCK))
    rtol = 1e-10 if F.dtype == np.float64 else 2e-5
    for i in (0, 5):
        np.testing.assert_allclose(F[i], _reference(params, X[i], 40), rtol=rtol, atol=rtol)


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::RuntimeWarning")
def test_anova_matches_scikit_learn():
    # scikit-learn's f_classif is the authors' score; constant columns score 0 here
    # (scikit-learn gives nan, which the authors' code maps to 0).
    feature_selection = pytest.importorskip("sklearn.feature_selection")
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 30)
    F = rng.standard_normal((30, 6)) + y[:, None] * np.array([0, 0.5, 1, 2, 0, 0])
    F[:, 4] = 7.0
    ref = np.nan_to_num(feature_selection.f_classif(F, y)[0], nan=0.0)
    np.testing.assert_allclose(anova_f(F, y, 3), ref, rtol=1e-12)


def test_mrmr_prefers_relevant_columns_that_are_not_redundant():
    # Column 0 is the most relevant; column 1 is a near copy of it (relevance just below);
    # column 2 is less relevant but uncorrelated with column 0. mRMR picks 0, then 2.
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(200), rng.standard_normal(200)
    F = np.stack([a, a + 1e-3 * rng.standard_normal(200), b, 0.5 * a + b], axis=1)
    scores = np.array([10.0, 9.9, 5.0, 6.0])
    np.testing.assert_array_equal(mrmr(F, scores, 2), [0, 2])
    np.testing.assert_array_equal(mrmr(F, scores, 1), [0])


def test_selected_features_equal_those_of_every_candidate():
    # Inference computes only the selected triples: their features equal the same columns
    # of the full candidate set (every channel, kernel, dilation).
    X, y = _problem()
    params = lightwaves_fit(X, y, num_features=30, key=jax.random.key(0))
    assert params.num_features == 30
    assert params.channels.shape[0] <= 30
    c = X.shape[1]
    e = np.log2(params.dilations).astype(int)
    index = ((e * c + np.asarray(params.channels)) * 84 + np.asarray(params.kernels))
    flat = (index[:, None] * FEATURES_PER_KERNEL + np.arange(8)).reshape(-1)
    every = LightWaveSParameters(
        channels=jnp.tile(jnp.repeat(jnp.arange(c), 84), 6),
        kernels=jnp.tile(jnp.arange(84), 6 * c),
        feature_index=jnp.asarray(flat[np.asarray(params.feature_index)], jnp.int32),
        mean=params.mean, scale=params.scale, triples_per_dilation=(84 * c,) * 6)
    np.testing.assert_allclose(np.asarray(lightwaves_transform(params, X, block_size=BLOCK)),
                               np.asarray(lightwaves_transform(every, X, block_size=BLOCK)),
                               rtol=1e-6, atol=1e-6)


def test_variable_length_masking_equals_truncated_series():
    X, y = _problem()
    lengths = jnp.array([40, 33, 27, 40, 12, 9, 40, 40])
    params = lightwaves_fit(X, y, lengths=lengths, num_features=30, key=jax.random.key(0))
    garbage = jnp.where(jnp.arange(40)[None, None, :] < lengths[:, None, None], X, 1e3)
    F = np.asarray(lightwaves_transform(params, garbage, lengths=lengths, block_size=BLOCK))
    alone = lightwaves_transform(params, X[2:3, :, :27], block_size=1)
    np.testing.assert_allclose(F[2], np.asarray(alone)[0], rtol=1e-6, atol=1e-6)
    rtol = 1e-10 if F.dtype == np.float64 else 2e-5
    np.testing.assert_allclose(F[4], _reference(params, X[4], 12), rtol=rtol, atol=rtol)


def test_jit_and_vmap_over_parameter_sets():
    X, y = _problem()
    params = lightwaves_fit(X, y, num_features=20, key=jax.random.key(0))
    eager = np.asarray(lightwaves_transform(params, X, block_size=BLOCK))
    jitted = jax.jit(lightwaves_transform, static_argnames="block_size")(params, X,
                                                                         block_size=BLOCK)
    np.testing.assert_allclose(np.asarray(jitted), eager, rtol=1e-6, atol=1e-6)
    # vmap over a stack of parameter sets: the second with its channel scales doubled
    doubled = eqx.tree_at(lambda p: p.scale, params, 2 * params.scale)
    stacked = jax.tree.map(lambda a, b: jnp.stack([a, b]), params, doubled)
    both = jax.vmap(lambda p: lightwaves_transform(p, X, block_size=BLOCK))(stacked)
    np.testing.assert_allclose(np.asarray(both[0]), eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(np.asarray(both[1]),
                               np.asarray(lightwaves_transform(doubled, X, block_size=BLOCK)),
                               rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("L", [5, 1])
def test_short_and_constant_series_give_finite_features(L):
    X, y = _problem(L=L)
    params = lightwaves_fit(X, y, num_features=10, key=jax.random.key(0))
    F = np.asarray(lightwaves_transform(params, X, block_size=BLOCK))
    assert F.shape == (8, 10) and np.all(np.isfinite(F))
    F = np.asarray(lightwaves_transform(params, jnp.ones_like(X), block_size=BLOCK))
    assert np.all(np.isfinite(F))


def test_sample_size_subsamples_training_series():
    X, y = _problem(n=12)
    a = lightwaves_fit(X, y, num_features=10, sample_size=6, key=jax.random.key(0))
    b = lightwaves_fit(X, y, num_features=10, sample_size=6, key=jax.random.key(0))
    np.testing.assert_array_equal(np.asarray(a.feature_index), np.asarray(b.feature_index))
    assert a.num_features == 10


def test_bad_inputs():
    X, y = _problem()
    key = jax.random.key(0)
    params = lightwaves_fit(X, y, num_features=10, key=key)
    with pytest.raises(ValueError, match="`X` has a NaN"):
        lightwaves_transform(params, X.at[1, 0, 3].set(jnp.nan))
    with pytest.raises(ValueError, match="`X` has a NaN"):
        lightwaves_fit(X.at[1, 0, 3].set(jnp.inf), y, key=key)
    with pytest.raises(ValueError, match="`X` has 3 channels but the parameters were fitted"):
        lightwaves_transform(params, jnp.concatenate([X, X[:, :1]], axis=1))
    with pytest.raises(ValueError, match="`num_features`"):
        lightwaves_fit(X, y, num_features=0, key=key)
    with pytest.raises(ValueError, match="`num_features` must be at most the 8064 candidate"):
        lightwaves_fit(X, y, num_features=8065, key=key)
    with pytest.raises(ValueError, match="that vary between the classes"):
        lightwaves_fit(jnp.ones_like(X), y, num_features=5, key=key)
    with pytest.raises(ValueError, match="`y` must be non-negative int class labels"):
        lightwaves_fit(X, y[:-1], key=key)
    with pytest.raises(ValueError, match="`y` must be non-negative int"):
        lightwaves_fit(X, y.astype(float), key=key)
    with pytest.raises(ValueError, match="`lengths` must lie in"):
        lightwaves_transform(params, X, lengths=jnp.array([41, 3, 3, 3, 3, 3, 3, 3]))
    with pytest.raises(ValueError, match="`X` must have shape"):
        lightwaves_transform(params, X[0, 0])


def _accuracy(name, num_features):
    """Test accuracy of LightWaveS and MiniRocket (10,000 features) with the LOO ridge."""
    Xtr, ytr, Xte, yte = load(name)
    (Xa, la), (Xb, lb) = (
        (X.astype(FLOAT), lengths) for X, lengths in map(padded_panel, (Xtr, Xte)))
    K = int(ytr.max()) + 1
    out = {}
    p = lightwaves_fit(Xa, ytr, lengths=la, num_features=num_features, key=jax.random.key(0))
    m = minirocket_fit(Xa, lengths=la, seed=0)
    for label, fitted, tr in (("lightwaves", p, lightwaves_transform),
                              ("minirocket", m, minirocket_transform)):
        fit = ridge_classifier_fit(tr(fitted, Xa, lengths=la), jnp.asarray(ytr), num_classes=K)
        pred = ridge_classifier_predict(fit, tr(fitted, Xb, lengths=lb))
        out[label] = float(np.mean(np.asarray(pred) == yte))
    return out, p


@pytest.mark.slow
def test_basicmotions_accuracy_equals_minirocket_with_five_percent_of_the_features():
    # aeon's bundled BasicMotions split: LightWaveS with 500 features (5 % of MiniRocket's
    # 9,996) classifies all 40 test series, as MiniRocket does (the paper: 1.0 for both).
    acc, params = _accuracy("BasicMotions", 500)
    assert params.num_features == 500
    assert acc["lightwaves"] == acc["minirocket"] == 1.0
