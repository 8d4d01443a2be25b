"""Floor 2: infinite-width network kernels (NNGP, NTK), the empirical NTK, and deep kernel
machines."""

from ._activations import ACTIVATIONS as ACTIVATIONS
from ._closed_form import NNGPNTK as NNGPNTK
from ._closed_form import nngp_ntk as nngp_ntk
from ._closed_form import nngp_ntk_gram as nngp_ntk_gram
from ._dkm import KERNEL_MAPS as KERNEL_MAPS
from ._dkm import kernel_map as kernel_map
from ._dkm import kl_gaussian as kl_gaussian
from ._dkm_fit import DKMFit as DKMFit
from ._dkm_fit import dkm_objective as dkm_objective
from ._dkm_fit import dkm_predict as dkm_predict
from ._dkm_fit import fit_dkm as fit_dkm
from ._empirical import NTKCosts as NTKCosts
from ._empirical import empirical_ntk as empirical_ntk
from ._empirical import empirical_ntk_costs as empirical_ntk_costs
from ._kip import KIPResult as KIPResult
from ._kip import kip as kip
from ._kip import kip_loss as kip_loss
from ._mlp import DenseParams as DenseParams
from ._mlp import init_mlp as init_mlp
from ._mlp import mlp as mlp
from ._modules import DKM as DKM
from ._modules import NNGP as NNGP
from ._modules import NTK as NTK
from ._modules import init_dkm as init_dkm
from ._predict import Prediction as Prediction
from ._predict import ntk_predict as ntk_predict

__all__ = [
    "ACTIVATIONS",
    "DKM",
    "DKMFit",
    "DenseParams",
    "KERNEL_MAPS",
    "KIPResult",
    "NNGP",
    "NNGPNTK",
    "NTK",
    "NTKCosts",
    "Prediction",
    "dkm_objective",
    "dkm_predict",
    "empirical_ntk",
    "empirical_ntk_costs",
    "fit_dkm",
    "init_dkm",
    "init_mlp",
    "kernel_map",
    "kip",
    "kip_loss",
    "kl_gaussian",
    "mlp",
    "nngp_ntk",
    "nngp_ntk_gram",
    "ntk_predict",
]
