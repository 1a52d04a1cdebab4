"""torch.autograd's names: backward, grad (and, with the autograd issue, Function, gradcheck)."""
from ..engine import backward, grad
from ..tape import enable_grad, no_grad, set_grad_enabled

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled"]
from .anomaly_mode import (detect_anomaly, is_anomaly_check_nan_enabled,  # noqa: E402
                           is_anomaly_enabled, set_detect_anomaly)

__all__ += ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
            "is_anomaly_check_nan_enabled"]
