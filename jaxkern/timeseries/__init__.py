"""Floor 2: random convolution kernels for time series (ROCKET, MiniRocket, MultiRocket,
LightWaveS) and ridge classifiers.

Pure functions fit the frozen parameters of a transform (a pytree) and map a batch of series
to features; `ridge_classifier_fit` picks the ridge penalty by exact leave-one-out
cross-validation over all penalties from one eigendecomposition; `_sklearn.py` wraps both as
scikit-learn estimators.
"""

from ._lightwaves import LightWaveSParameters as LightWaveSParameters
from ._lightwaves import lightwaves_fit as lightwaves_fit
from ._lightwaves import lightwaves_transform as lightwaves_transform
from ._minirocket import MiniRocketParameters as MiniRocketParameters
from ._minirocket import minirocket_fit as minirocket_fit
from ._minirocket import minirocket_transform as minirocket_transform
from ._minirocket import padded_panel as padded_panel
from ._multirocket import MultiRocketParameters as MultiRocketParameters
from ._multirocket import multirocket_fit as multirocket_fit
from ._multirocket import multirocket_transform as multirocket_transform
from ._ridge import RidgeClassifierFit as RidgeClassifierFit
from ._ridge import ridge_classifier_decision as ridge_classifier_decision
from ._ridge import ridge_classifier_fit as ridge_classifier_fit
from ._ridge import ridge_classifier_predict as ridge_classifier_predict
from ._rocket import RocketParameters as RocketParameters
from ._rocket import rocket_kernels as rocket_kernels
from ._rocket import rocket_transform as rocket_transform

_SKLEARN = ("MiniRocketTransformer", "RidgeClassifierLOO")


def __getattr__(name):
    # the scikit-learn estimators import scikit-learn, so they load on first use
    if name in _SKLEARN:
        from . import _sklearn

        return getattr(_sklearn, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MiniRocketTransformer",
    "RidgeClassifierLOO",
    "LightWaveSParameters",
    "lightwaves_fit",
    "lightwaves_transform",
    "MiniRocketParameters",
    "minirocket_fit",
    "minirocket_transform",
    "padded_panel",
    "MultiRocketParameters",
    "multirocket_fit",
    "multirocket_transform",
    "RocketParameters",
    "rocket_kernels",
    "rocket_transform",
    "RidgeClassifierFit",
    "ridge_classifier_decision",
    "ridge_classifier_fit",
    "ridge_classifier_predict",
]
