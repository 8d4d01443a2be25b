"""scikit-learn estimators around the pure functions: a MiniRocket transformer and a ridge
classifier with leave-one-out penalty choice, so that `make_pipeline(MiniRocketTransformer(),
RidgeClassifierLOO())` is the MiniRocket classifier. Imported on first use (scikit-learn is an
optional dependency)."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._minirocket import minirocket_fit, minirocket_transform, padded_panel
from ._ridge import DEFAULT_ALPHAS, ridge_classifier_decision, ridge_classifier_fit


class MiniRocketTransformer(TransformerMixin, BaseEstimator):
    """MiniRocket as a scikit-learn transformer: `fit` draws the parameters, `transform`
    returns (n, num_features) NumPy features. `X` is (n, L), (n, channels, L), or a list of
    (channels, l_i) arrays of different lengths (masked, not resampled).

    **Example:**

    ```python
    >>> import numpy as np
    >>> from sklearn.pipeline import make_pipeline
    >>> from jaxkern.timeseries import MiniRocketTransformer, RidgeClassifierLOO
    >>> t = np.linspace(0, 1, 60)
    >>> X = np.stack([np.sin(2 * np.pi * f * t) for f in (1, 1.1, 1.2, 4, 4.1, 4.2)])
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> clf = make_pipeline(MiniRocketTransformer(num_features=840), RidgeClassifierLOO())
    >>> clf.fit(X, y).score(X, y)
    1.0

    ```
    """

    def __init__(self, num_features: int = 10_000, max_dilations_per_kernel: int = 32,
                 seed: int = 0, block_size: int = 32):
        self.num_features = num_features
        self.max_dilations_per_kernel = max_dilations_per_kernel
        self.seed = seed
        self.block_size = block_size

    def fit(self, X, y=None):
        X, lengths = padded_panel(X)
        self.parameters_ = minirocket_fit(
            X, lengths=lengths, num_features=self.num_features,
            max_dilations_per_kernel=self.max_dilations_per_kernel, seed=self.seed)
        self.n_features_out_ = self.parameters_.num_features
        return self

    def transform(self, X):
        check_is_fitted(self, "parameters_")
        X, lengths = padded_panel(X)
        return np.asarray(minirocket_transform(self.parameters_, X, lengths=lengths,
                                               block_size=self.block_size))


class RidgeClassifierLOO(ClassifierMixin, BaseEstimator):
    """Standardised ridge classifier whose penalty is chosen by exact leave-one-out
    cross-validation over `alphas` (see `ridge_classifier_fit`); labels of any type."""

    def __init__(self, alphas=DEFAULT_ALPHAS):
        self.alphas = alphas

    def fit(self, X, y):
        self.classes_, codes = np.unique(np.asarray(y), return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"`y` must have at least 2 classes, got {self.classes_!r}.")
        self.fit_ = ridge_classifier_fit(jnp.asarray(X), jnp.asarray(codes, jnp.int32),
                                         num_classes=len(self.classes_), alphas=self.alphas)
        self.alpha_ = float(self.fit_.alpha)
        return self

    def decision_function(self, X):
        check_is_fitted(self, "fit_")
        scores = np.asarray(ridge_classifier_decision(self.fit_, jnp.asarray(X)))
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        scores = self.decision_function(X)
        idx = (scores > 0).astype(int) if scores.ndim == 1 else np.argmax(scores, axis=1)
        return self.classes_[idx]
