"""Floor 0 numerics: functions that stay finite, with finite gradients, where naive code fails."""

from ._bessel import log_iv as log_iv
from ._bessel import log_ive as log_ive
from ._bessel import log_kv as log_kv
from ._bessel import log_kve as log_kve
from ._safe import safe_norm as safe_norm
from ._safe import safe_sqrt as safe_sqrt
from ._vmf import vmf_log_normalizer as vmf_log_normalizer

__all__ = ["log_iv", "log_ive", "log_kv", "log_kve", "safe_norm", "safe_sqrt", "vmf_log_normalizer"]
