"""The scikit-learn estimators: pipeline, clone, variable-length lists, labels of any type."""

import numpy as np
import pytest

pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402

from jaxkern.timeseries import MiniRocketTransformer, RidgeClassifierLOO  # noqa: E402


def _data():
    rng = np.random.default_rng(0)
    t = np.linspace(0, 1, 40)
    freqs = np.r_[rng.uniform(1, 2, 8), rng.uniform(4, 5, 8)]  # 16 series in blocks of 8
    X = np.sin(2 * np.pi * freqs[:, None] * t) + 0.1 * rng.standard_normal((16, 40))
    return X[:, None, :].astype(np.float32), np.array(["slow"] * 8 + ["fast"] * 8)


def test_pipeline_fits_and_predicts_string_labels():
    X, y = _data()
    clf = make_pipeline(MiniRocketTransformer(num_features=84 * 4, block_size=8),
                        RidgeClassifierLOO())
    assert clf.fit(X[::2], y[::2]).score(X[1::2], y[1::2]) == 1.0
    assert set(clf.predict(X)) <= {"slow", "fast"}
    assert clone(clf).get_params()["minirockettransformer__num_features"] == 84 * 4


def test_list_of_variable_length_series():
    # a list of (channels, l_i) arrays is masked: each series gets the features it has alone
    X, _ = _data()
    tr = MiniRocketTransformer(num_features=84 * 4, block_size=8).fit(X)
    series = [X[i, :, : 40 - (i % 3)] for i in range(16)]
    F = tr.transform(series)
    np.testing.assert_array_equal(F[0], tr.transform(X[:1])[0])
    assert F.shape == (16, 84 * 4) and np.all(np.isfinite(F))
    with pytest.raises(ValueError, match="channels"):
        tr.transform([X[0], np.ones((2, 30))])


def test_one_class_is_an_error():
    with pytest.raises(ValueError, match="`y` must have at least 2 classes"):
        RidgeClassifierLOO().fit(np.ones((4, 3)), np.zeros(4))
