"""torch.autograd's names: backward, grad (and, with the autograd issue, Function, gradcheck)."""
from ..engine import backward, grad
from ..tape import enable_grad, no_grad, set_grad_enabled

__all__ = ["backward", "grad", "no_grad", "enable_grad", "set_grad_enabled"]
