"""Floor 0 numerics: functions that stay finite, with finite gradients, where naive code fails."""

from ._safe import safe_norm as safe_norm
from ._safe import safe_sqrt as safe_sqrt

__all__ = ["safe_norm", "safe_sqrt"]
