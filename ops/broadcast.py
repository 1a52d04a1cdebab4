"""Broadcast shapes (PyTorch's error text) and summing a gradient back to an input's shape."""
import numpy as np

_shape_cache = {}


def broadcast_view(x, shape):
    """np.broadcast_to(x, shape), read-only; a single element (the gradient of a full sum)
    becomes a zero-stride view directly, without numpy's general machinery (~10x slower)."""
    if x.size == 1 and x.flags.c_contiguous:
        view = np.ndarray(shape, x.dtype, x, 0, (0,) * len(shape))
        view.flags.writeable = False
        return view
    return np.broadcast_to(x, shape)


def broadcast_shapes(*shapes):
    """numpy's broadcast rule; a mismatch raises PyTorch's RuntimeError naming the sizes."""
    hit = _shape_cache.get(shapes)
    if hit is not None:
        return hit
    ndim = max(len(s) for s in shapes)
    result = []
    for axis in range(-ndim, 0):
        size = 1
        for which, s in enumerate(shapes):
            if len(s) >= -axis:
                d = s[axis]
                if d != 1:
                    if size != 1 and d != size:
                        raise RuntimeError(
                            f"The size of tensor a ({size}) must match the size of tensor "
                            f"{'b' if which else 'a'} ({d}) at non-singleton dimension "
                            f"{ndim + axis}; shapes {' and '.join(str(list(x)) for x in shapes)}")
                    size = d
        result.append(size)
    result = tuple(result)
    if len(_shape_cache) < 4096:
        _shape_cache[shapes] = result
    return result


def reduced_axes(from_shape, to_shape):
    """Axes of `from_shape` to sum so that the result reshapes to `to_shape` (unbroadcast)."""
    lead = len(from_shape) - len(to_shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(to_shape) if d == 1 and from_shape[lead + i] != 1)
    return axes


def sum_to_array(g, shape):
    if g.shape == shape:
        return g
    axes = reduced_axes(g.shape, shape)
    # np.asarray: summing down to shape () gives a numpy scalar, which dtype promotion would
    # take for a Python scalar (a float64 gradient then came back float32 with create_graph).
    return np.asarray(np.sum(g, axis=axes)).reshape(shape) if axes else g.reshape(shape)
