"""Shape ops (views that share storage, and casts): reshape/view, expand, sum_to, transpose."""
import numpy as np

from .broadcast import broadcast_shapes, broadcast_view, sum_to_array
from .registry import OPS, PerInput, defop


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


def _reshape_vjp(g, out, x, **params):
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
    return broadcast_view(x, shape)


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


def _permute(x, dims):
    dims = tuple(dims)
    if len(dims) != x.ndim:
        raise RuntimeError(f"permute(): number of dimensions in the tensor input does not match "
                           f"the length of the desired ordering of dimensions i.e. input.dim() = "
                           f"{x.ndim} is not equal to len(dims) = {len(dims)}")
    axes = tuple(normalize_dim(d, x.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return np.transpose(x, axes)


def _permute_vjp(g, out, x, dims):
    axes = [normalize_dim(d, len(x.shape)) for d in dims]
    return OPS["permute"](g, dims=tuple(int(i) for i in np.argsort(axes)))


def _unsqueeze(x, dim):
    return np.expand_dims(x, normalize_dim(dim, x.ndim + 1))


def _squeeze(x, dim=None):
    if dim is None:
        return x.reshape(tuple(s for s in x.shape if s != 1))
    axes = tuple(a for a in normalize_dims(dim, x.ndim) if x.ndim and x.shape[a] == 1)
    return np.squeeze(x, axis=axes) if axes else x.view()


defop("permute", _permute, [_permute_vjp], view=True)
defop("unsqueeze", _unsqueeze, [_reshape_vjp], view=True)
defop("squeeze", _squeeze, [_reshape_vjp], view=True)


# ---- cat / stack: any number of inputs; each input's VJP slices its part of g -------------
def _cat(*xs, dim=0):
    if not xs:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    # PyTorch skips 1-D empty tensors (legacy behaviour), so torch.cat([x, empty]) works.
    parts = [x for x in xs if not (x.ndim == 1 and x.size == 0)] or list(xs[:1])
    ref = parts[0]
    if ref.ndim == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = normalize_dim(dim, ref.ndim)
    for k, x in enumerate(parts):
        if x.ndim != ref.ndim:
            raise RuntimeError(f"Tensors must have same number of dimensions: got {ref.ndim} "
                               f"and {x.ndim}")
        for a in range(ref.ndim):
            if a != d and x.shape[a] != ref.shape[a]:
                raise RuntimeError(f"Sizes of tensors must match except in dimension {d}. "
                                   f"Expected size {ref.shape[a]} but got size {x.shape[a]} for "
                                   f"tensor number {k} in the list.")
    return np.concatenate(parts, axis=d)


def _cat_vjp(i):
    def vjp(g, out, *xs, dim=0):
        shape = tuple(xs[i].shape)
        if len(shape) == 1 and shape[0] == 0 and len(g.shape) != 1:
            return None
        d = normalize_dim(dim, len(g.shape))
        start = sum(x.shape[d] for x in xs[:i] if not (len(x.shape) == 1 and x.shape[0] == 0))
        key = (slice(None),) * d + (slice(start, start + shape[d]),)
        return OPS["slice"](g, key=key)
    return vjp


def _stack(*xs, dim=0):
    if not xs:
        raise RuntimeError("stack expects a non-empty TensorList")
    for k, x in enumerate(xs):
        if x.shape != xs[0].shape:
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(xs[0].shape)} at entry 0 and {list(x.shape)} at entry {k}")
    return np.stack(xs, axis=normalize_dim(dim, xs[0].ndim + 1))


def _stack_vjp(i):
    def vjp(g, out, *xs, dim=0):
        d = normalize_dim(dim, len(g.shape))
        return OPS["slice"](g, key=(slice(None),) * d + (i,))
    return vjp


defop("cat", _cat, PerInput(_cat_vjp))
defop("stack", _stack, PerInput(_stack_vjp))


# ---- indexing: basic keys give views, advanced keys (arrays, masks, lists) give copies ------
def _index(x, key):
    try:
        return x[key]
    except IndexError as exc:
        raise IndexError(f"{exc} (indexing a tensor of shape {list(x.shape)})") from None


def _index_vjp(g, out, x, key):
    return OPS["index_backward"](g, shape=tuple(x.shape), key=key)


def is_basic_key(key):
    """True when numpy returns a view for x[key] (no arrays, lists or bools in the key)."""
    items = key if isinstance(key, tuple) else (key,)
    return all(k is None or k is Ellipsis or isinstance(k, (slice, int, np.integer))
               and not isinstance(k, (bool, np.bool_)) for k in items)


def _index_backward(g, shape, key):
    # np.add.at accumulates repeated indices (x[[0, 0]]); a basic key cannot repeat.
    res = np.zeros(shape, g.dtype)
    if is_basic_key(key):
        res[key] = g
    else:
        np.add.at(res, key, g)
    return res


defop("slice", _index, [_index_vjp], view=True)
defop("index", _index, [_index_vjp])
defop("index_backward", _index_backward,
      [lambda g, out, gx, shape, key: OPS["index"](g, key=key)])


def _index_put(x, value, key):
    res = x.copy()
    try:
        res[key] = value
    except ValueError:
        target = res[key].shape
        source = np.shape(value)
        raise RuntimeError(f"shape mismatch: value tensor of shape {list(source)} cannot be "
                           f"broadcast to indexing result of shape {list(target)}") from None
    return res


def _index_put_vjp_value(g, out, x, value, key):
    # engine sums this back to value's shape (value broadcast into the selected places)
    return OPS["index"](g, key=key)


defop("index_put", _index_put,
      [lambda g, out, x, value, key: OPS["index_put"](g, 0, key=key), _index_put_vjp_value],
      backward_name="CopySlices")
# copy_(src): x's old values are overwritten; src is broadcast and cast into x.
defop("copy", lambda x, src: np.broadcast_to(src, x.shape).astype(x.dtype),
      [lambda g, out, x, src: OPS["fill"](g, value=0), lambda g, out, x, src: g],
      backward_name="CopyBackwards")
