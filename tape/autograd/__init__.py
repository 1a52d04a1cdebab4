"""torch.autograd's names: backward, grad, Function, gradcheck, Variable, functional."""
from ..engine import backward, grad
from ..tape import enable_grad, no_grad, set_grad_enabled
from . import function  # noqa: F401
from .function import Function, once_differentiable  # noqa: F401
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .variable import Variable
from . import functional  # noqa: F401

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled", "Function",
           "gradcheck", "gradgradcheck", "GradcheckError", "Variable", "functional"]
from .anomaly_mode import (detect_anomaly, is_anomaly_check_nan_enabled,  # noqa: E402
                           is_anomaly_enabled, set_detect_anomaly)

__all__ += ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
            "is_anomaly_check_nan_enabled"]
