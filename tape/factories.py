"""Tensor factories: tensor, ones, zeros, full, empty, arange, linspace, rand, randn, ..."""
import numpy as np

from .dtypes import to_numpy_dtype
from .tensor import Tensor, _wrap

_DEFAULT_FLOAT = np.dtype(np.float32)


class _RandomState:
    """The default generator; deterministic until reseeded, as PyTorch's is."""
    generator = np.random.Generator(np.random.PCG64(67280421310721))


def manual_seed(seed):
    _RandomState.generator = np.random.Generator(np.random.PCG64(int(seed)))
    return _RandomState.generator


seed = manual_seed


def initial_seed():
    return 67280421310721


def _check_device(device):
    if device is not None and str(device).split(":")[0] != "cpu":
        raise RuntimeError(f"tape runs on the CPU only; got device={device!r}")


def _finish(data, requires_grad):
    if not data.dtype.isnative:   # a copy already: PyTorch converts it to native order too
        data = data.astype(data.dtype.newbyteorder("="))
    t = _wrap(data)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _infer_array(data):
    """PyTorch's dtype inference: Python floats -> float32, ints -> int64, bools -> bool;
    numpy arrays and scalars keep their dtype."""
    if isinstance(data, Tensor):
        return data._data.copy()
    if isinstance(data, (np.ndarray, np.generic)):
        return np.array(data)
    arr = np.array(data)
    if arr.dtype == np.float64 and not _contains_float64_tensor(data):
        arr = arr.astype(np.float32)
    elif arr.dtype.kind == "i":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind not in "fb":
        raise TypeError(f"tape.tensor: cannot infer a dtype from {type(data).__name__} data "
                        f"(numpy says {arr.dtype})")
    return arr


def _contains_float64_tensor(data):
    if isinstance(data, (list, tuple)):
        return any(_contains_float64_tensor(d) for d in data)
    return (isinstance(data, Tensor) and data._data.dtype == np.float64) or (
        isinstance(data, (np.ndarray, np.generic)) and data.dtype == np.float64)


def tensor(data, dtype=None, device=None, requires_grad=False, pin_memory=False):
    _check_device(device)
    if dtype is not None:
        arr = np.array(data._data if isinstance(data, Tensor) else data,
                       dtype=to_numpy_dtype(dtype))
    else:
        arr = _infer_array(data)
    return _finish(arr, requires_grad)


as_tensor = tensor


def from_numpy(array):
    """Shares memory with `array`."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    if not array.dtype.isnative:
        # PyTorch's refusal too; kernels read native byte order only.
        raise ValueError("given numpy array has byte order different from the native byte "
                         f"order ({array.dtype.str}). Conversion between byte orders is "
                         "currently not supported.")
    return _wrap(array)


def _sizes(size, kw_size):
    if kw_size is not None:
        size = (kw_size,)
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    for s in size:
        if not isinstance(s, (int, np.integer)) and not (isinstance(s, Tensor) and s.numel() == 1):
            raise TypeError(f"size must be a tuple of ints, but got an element of type "
                            f"{type(s).__name__}")
    size = tuple(int(s) for s in size)
    for s in size:
        if s < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {s}: {list(size)}")
    return size


def _dtype_or(dtype, default=_DEFAULT_FLOAT):
    return default if dtype is None else to_numpy_dtype(dtype)


def _filled(fill, size, kw_size, dtype, device, requires_grad):
    _check_device(device)
    shape = _sizes(size, kw_size)
    return _finish(np.full(shape, fill, _dtype_or(dtype)), requires_grad)


def ones(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, **kw):
    return _filled(1, size, kw.get("size"), dtype, device, requires_grad)


def zeros(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, **kw):
    return _filled(0, size, kw.get("size"), dtype, device, requires_grad)


def empty(*size, out=None, dtype=None, layout=None, device=None, requires_grad=False, **kw):
    _check_device(device)
    return _finish(np.empty(_sizes(size, kw.get("size")), _dtype_or(dtype)), requires_grad)


def full(size, fill_value, *, out=None, dtype=None, layout=None, device=None,
         requires_grad=False):
    _check_device(device)
    if dtype is None:
        if isinstance(fill_value, (bool, np.bool_)):
            dtype = np.bool_
        elif isinstance(fill_value, (int, np.integer)):
            dtype = np.int64
    shape = _sizes((size,) if isinstance(size, (int, np.integer)) else (tuple(size),), None)
    return _finish(np.full(shape, fill_value, _dtype_or(dtype)), requires_grad)


def _like(fn, input, dtype, requires_grad):
    return _finish(fn(input._data.shape, _dtype_or(dtype, input._data.dtype)), requires_grad)


def ones_like(input, dtype=None, layout=None, device=None, requires_grad=False, memory_format=None):
    return _like(np.ones, input, dtype, requires_grad)


def zeros_like(input, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None):
    return _like(np.zeros, input, dtype, requires_grad)


def empty_like(input, dtype=None, layout=None, device=None, requires_grad=False,
               memory_format=None):
    return _like(np.empty, input, dtype, requires_grad)


def full_like(input, fill_value, dtype=None, layout=None, device=None, requires_grad=False,
              memory_format=None):
    return _finish(np.full(input._data.shape, fill_value, _dtype_or(dtype, input._data.dtype)),
                   requires_grad)


def arange(start, end=None, step=1, *, out=None, dtype=None, layout=None, device=None,
           requires_grad=False):
    _check_device(device)
    if end is None:
        start, end = 0, start
    values = [v.item() if isinstance(v, Tensor) else v for v in (start, end, step)]
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) for v in values)
        dtype = np.int64 if integral else _DEFAULT_FLOAT
    if values[2] == 0:
        raise RuntimeError("step must be nonzero")
    # PyTorch computes in double and casts, as numpy does.
    data = np.arange(*values, dtype=np.float64).astype(to_numpy_dtype(dtype))
    return _finish(data, requires_grad)


def linspace(start, end, steps, *, out=None, dtype=None, layout=None, device=None,
             requires_grad=False):
    _check_device(device)
    if steps < 0:
        raise RuntimeError("number of steps must be non-negative")
    data = np.linspace(start, end, int(steps), dtype=np.float64).astype(_dtype_or(dtype))
    return _finish(data, requires_grad)


def rand(*size, generator=None, out=None, dtype=None, layout=None, device=None,
         requires_grad=False, **kw):
    _check_device(device)
    gen = generator or _RandomState.generator
    dt = _dtype_or(dtype)
    return _finish(gen.random(_sizes(size, kw.get("size")), dtype=dt), requires_grad)


def randn(*size, generator=None, out=None, dtype=None, layout=None, device=None,
          requires_grad=False, **kw):
    _check_device(device)
    gen = generator or _RandomState.generator
    dt = _dtype_or(dtype)
    return _finish(gen.standard_normal(_sizes(size, kw.get("size")), dtype=dt), requires_grad)


def rand_like(input, dtype=None, requires_grad=False, **kw):
    return rand(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)


def randn_like(input, dtype=None, requires_grad=False, **kw):
    return randn(input.shape, dtype=dtype or input.dtype, requires_grad=requires_grad)
