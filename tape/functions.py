"""tape.exp(x), tape.sum(x, dim), ...: the function forms of Tensor methods."""
import numpy as np

from ops import OPS

from .tensor import (BoolTensor, ByteTensor, DoubleTensor, FloatTensor, IntTensor,  # noqa: F401
                     LongTensor, Tensor, apply, return_types)


def _method_function(name):
    method = getattr(Tensor, name)

    def function(input, *args, **kwargs):
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}(): argument 'input' must be Tensor, not "
                            f"{type(input).__name__}")
        return method(input, *args, **kwargs)
    function.__name__ = function.__qualname__ = name
    function.__doc__ = f"tape.{name}(input, ...) is input.{name}(...)."
    return function


METHOD_FUNCTIONS = ("exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "neg",
                    "sum", "mean", "norm", "dot", "mm", "matmul", "reshape", "t", "transpose",
                    "clone", "add", "sub", "mul", "div", "detach", "numel",
                    "abs", "absolute", "clamp", "clip", "clamp_min", "clamp_max", "maximum",
                    "minimum", "reciprocal", "rsqrt", "log1p", "expm1", "sinh", "cosh", "asin",
                    "acos", "atan", "arcsin", "arccos", "arctan", "sign", "floor", "ceil",
                    "round", "var", "std", "max", "min", "amax", "amin", "prod", "logsumexp",
                    "softmax", "log_softmax", "argmax", "argmin", "all", "any", "permute",
                    "unsqueeze", "squeeze", "flatten", "split", "chunk", "narrow", "mv", "outer",
                    "ger", "allclose", "equal", "isclose")
globals().update({name: _method_function(name) for name in METHOD_FUNCTIONS})

negative = globals()["neg"]
multiply = globals()["mul"]
subtract = globals()["sub"]
divide = true_divide = globals()["div"]


def pow(input, exponent):
    """pow(tensor, number), pow(tensor, tensor) and pow(number, tensor)."""
    if isinstance(input, Tensor):
        return input ** exponent
    if isinstance(exponent, Tensor):
        return exponent.__rpow__(input)
    raise TypeError("pow(): at least one argument must be a Tensor")


def cat(tensors, dim=0):
    """Concatenate along an existing dim (any number of inputs, one record)."""
    return apply(OPS["cat"], tuple(tensors), {"dim": dim})


concat = concatenate = cat


def stack(tensors, dim=0):
    return apply(OPS["stack"], tuple(tensors), {"dim": dim})


def where(condition, input, other):
    if isinstance(condition, Tensor) and condition._data.dtype != np.bool_:
        from ._format import torch_type_name
        raise RuntimeError(f"where expected condition to be a boolean tensor, but got a tensor "
                           f"with dtype {torch_type_name(condition._data.dtype)}")
    return apply(OPS["where"], (condition, input, other))


def gt(input, other):
    return input > other


def lt(input, other):
    return input < other


def ge(input, other):
    return input >= other


def le(input, other):
    return input <= other


def eq(input, other):
    return input == other


def ne(input, other):
    return input != other


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()
