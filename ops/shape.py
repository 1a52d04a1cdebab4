"""Shape ops (views that share storage, and casts): reshape/view, expand, sum_to, transpose."""
import numpy as np

from .broadcast import broadcast_shapes, sum_to_array
from .registry import OPS, defop


def normalize_dim(dim, ndim):
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], "
                         f"but got {dim})")
    return dim % n


def normalize_dims(dim, ndim):
    """dim (None, int, tuple/list) -> tuple of non-negative axes; None means all."""
    if dim is None:
        return tuple(range(ndim))
    if isinstance(dim, (tuple, list)):
        dims = tuple(normalize_dim(d, ndim) for d in dim)
        if len(set(dims)) != len(dims):
            repeated = next(d for d in dims if dims.count(d) > 1)
            raise RuntimeError(f"dim {repeated} appears multiple times in the list of dims")
        return dims
    return (normalize_dim(dim, ndim),)


def infer_shape(shape, numel):
    """Resolve one -1 in a target shape; PyTorch's errors for impossible shapes."""
    shape = tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    known = 1
    for i, s in enumerate(shape):
        if s != -1:
            if s < 0:
                raise RuntimeError(f"invalid shape dimension {s} at index {i} of shape "
                                   f"{list(shape)}")
            known *= s
    if -1 in shape:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = tuple(numel // known if s == -1 else s for s in shape)
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def _view(x, shape):
    shape = infer_shape(shape, x.size)
    out = x.view()
    try:
        out.shape = shape   # numpy refuses (AttributeError) exactly when a copy would be needed
    except AttributeError:
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        ) from None
    return out


def _reshape(x, shape):
    return x.reshape(infer_shape(shape, x.size))


def _reshape_vjp(g, out, x, shape):
    return OPS["reshape"](g, shape=x.shape)


def _expand(x, shape):
    shape = tuple(shape)
    if len(shape) < x.ndim:
        raise RuntimeError(
            f"expand: the number of sizes provided ({len(shape)}) must be greater or equal to "
            f"the number of dimensions in the tensor ({x.ndim})")
    lead = len(shape) - x.ndim
    for i in range(lead):
        if shape[i] < 0:
            raise RuntimeError(f"The expanded size of the tensor ({shape[i]}) isn't allowed in a "
                               f"leading, non-existing dimension {i}")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(shape))
    for i, s in enumerate(x.shape):
        if (s != 1 or shape[lead + i] < 0) and s != shape[lead + i]:
            raise RuntimeError(
                f"The expanded size of the tensor ({shape[lead + i]}) must match the existing "
                f"size ({s}) at non-singleton dimension {lead + i}.  Target sizes: {list(shape)}."
                f"  Tensor sizes: {list(x.shape)}")
    return np.broadcast_to(x, shape)


def _sum_to(x, shape):
    shape = tuple(shape)
    broadcast_shapes(shape, x.shape)   # raises PyTorch's error if not reducible
    return sum_to_array(x, shape)


def _transpose(x, dim0, dim1):
    return np.swapaxes(x, normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim))


def _t(x):
    if x.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D")
    return x.T


defop("view", _view, [_reshape_vjp], view=True)
defop("reshape", _reshape, [_reshape_vjp], view=True, backward_name="ViewBackward0")
defop("expand", _expand, [lambda g, out, x, shape: OPS["sum_to"](g, shape=x.shape)], view=True)
defop("sum_to", _sum_to, [lambda g, out, x, shape: OPS["expand"](g, shape=x.shape)],
      backward_name="SumToSizeBackward0")
defop("transpose", _transpose,
      [lambda g, out, x, dim0, dim1: OPS["transpose"](g, dim0=dim0, dim1=dim1)], view=True)
defop("t", _t, [lambda g, out, x: OPS["t"](g)], view=True, backward_name="TBackward0")
defop("to_dtype", lambda x, dtype: x.astype(dtype),
      [lambda g, out, x, dtype: OPS["to_dtype"](g, dtype=x.dtype)], backward_name="ToCopyBackward0")
defop("clone", lambda x: x.copy(), [lambda g, out, x: g])
# zero_() / fill_(): the old values do not reach the result, so their gradient is zero.
defop("fill", lambda x, value: np.full_like(x, value),
      [lambda g, out, x, value: OPS["fill"](g, value=0)])
