"""tape: a tape-based reverse-mode autodiff library with PyTorch's autograd API.

    import tape as torch
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    x.grad            # tensor([2., 4.])
"""
import builtins as _builtins

from . import dtypes as _dtypes
from .dtypes import dtype
from .tensor import Size, Tensor
from .tape import (enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled)
from .factories import (arange, as_tensor, empty, empty_like, from_numpy, full, full_like,
                        initial_seed, linspace, manual_seed, ones, ones_like, rand, rand_like,
                        randn, randn_like, seed, tensor, zeros, zeros_like)
from .functions import *  # noqa: F401,F403  exp, sum, dot, ...
from .functions import METHOD_FUNCTIONS as _METHOD_FUNCTIONS
from .functions import eq, ge, gt, is_tensor, le, lt, ne, pow, where  # noqa: F401
from .functions import cat, concat, concatenate, stack  # noqa: F401
from .tensor import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor, IntTensor,  # noqa: F401
                     LongTensor, return_types)
from . import autograd  # noqa: F401
from . import nn, optim  # noqa: F401
from .gradient_tape import GradientTape
from .tape import (is_anomaly_check_nan_enabled, is_anomaly_enabled,  # noqa: F401
                   set_anomaly_enabled)

float32 = _dtypes.float32
float64 = _dtypes.float64
float16 = _dtypes.float16
int64 = _dtypes.int64
int32 = _dtypes.int32
int16 = _dtypes.int16
int8 = _dtypes.int8
uint8 = _dtypes.uint8
globals()["float"] = float32
globals()["double"] = float64
globals()["half"] = float16
globals()["long"] = int64
globals()["int"] = int32
globals()["bool"] = _dtypes.bool_


class device:
    """tape.device("cpu"): accepted everywhere PyTorch takes a device; tape runs on the CPU."""

    def __init__(self, type="cpu", index=None):
        type = _builtins.str(type)
        if type.split(":")[0] != "cpu":
            raise RuntimeError(f"tape runs on the CPU only; got device {type!r}")
        self.type = "cpu"
        self.index = index

    def __repr__(self):
        return "device(type='cpu')"

    def __str__(self):
        return "cpu"

    def __eq__(self, other):
        return _builtins.str(other) == "cpu"

    def __hash__(self):
        return hash("cpu")


def get_default_dtype():
    return float32


__version__ = "0.1.0"
