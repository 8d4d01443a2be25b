"""Floor 0 numerics: functions that stay finite, with finite gradients, where naive code fails."""

from ._bessel import log_iv as log_iv
from ._bessel import log_ive as log_ive
from ._bessel import log_kv as log_kv
from ._bessel import log_kve as log_kve
from ._safe import safe_norm as safe_norm
from ._safe import safe_sqrt as safe_sqrt
from ._vmf import VMFFit as VMFFit
from ._vmf import vmf_fit as vmf_fit
from ._vmf import vmf_log_normalizer as vmf_log_normalizer
from ._vmf import vmf_log_prob as vmf_log_prob
from ._vmf import vmf_sample as vmf_sample

__all__ = [
    "VMFFit",
    "log_iv",
    "log_ive",
    "log_kv",
    "log_kve",
    "safe_norm",
    "safe_sqrt",
    "vmf_fit",
    "vmf_log_normalizer",
    "vmf_log_prob",
    "vmf_sample",
]
