"""Dtype promotion as PyTorch does it, on numpy dtypes.

PyTorch differs from numpy in two ways that change printed numbers: a Python scalar (or a 0-d
tensor next to a bigger one) only decides the result's category (bool < int < float), never its
width; and int with float gives the float's dtype (int64 + float32 -> float32, numpy says float64).
"""
import numpy as np

FLOAT32 = np.dtype(np.float32)
FLOAT64 = np.dtype(np.float64)
INT64 = np.dtype(np.int64)
BOOL = np.dtype(np.bool_)
DEFAULT_FLOAT = FLOAT32

_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}
_DEFAULT_FOR_CATEGORY = {0: BOOL, 1: INT64, 2: DEFAULT_FLOAT}
_pair_cache = {}


def category(dtype):
    return _CATEGORY[dtype.kind]


def _scalar_category(value):
    if isinstance(value, (bool, np.bool_)):
        return 0
    if isinstance(value, (int, np.integer)):
        return 1
    return 2


def promote_arrays(a, b):
    """Result dtype of two dimensioned tensors' dtypes."""
    key = (a, b)
    hit = _pair_cache.get(key)
    if hit is None:
        ca, cb = category(a), category(b)
        if ca != cb:
            hit = a if ca > cb else b
        else:
            hit = np.promote_types(a, b)
        _pair_cache[key] = hit
    return hit


def result_dtype(args):
    """PyTorch's result dtype for the arrays and Python scalars in `args`."""
    dims_dtype = None      # from tensors with ndim > 0
    zero_dim_dtype = None  # from 0-d tensors
    scalar_category = -1
    for a in args:
        if isinstance(a, np.ndarray):
            if a.ndim:
                dims_dtype = a.dtype if dims_dtype is None else promote_arrays(dims_dtype, a.dtype)
            else:
                zero_dim_dtype = (a.dtype if zero_dim_dtype is None
                                  else promote_arrays(zero_dim_dtype, a.dtype))
        else:
            scalar_category = max(scalar_category, _scalar_category(a))
    dtype = dims_dtype
    if zero_dim_dtype is not None:
        if dtype is None:
            dtype = zero_dim_dtype
        elif category(zero_dim_dtype) > category(dtype):
            dtype = zero_dim_dtype
    if dtype is None:
        return _DEFAULT_FOR_CATEGORY[scalar_category]
    if scalar_category > category(dtype):
        return _DEFAULT_FOR_CATEGORY[scalar_category]
    return dtype


def to_float(dtype):
    """Ops like exp and true division compute integers and bools as the default float."""
    return dtype if dtype.kind == "f" else DEFAULT_FLOAT
