"""Reductions: sum, mean, 2-norm.  Forward through numpy (pairwise summation keeps float32
sums as accurate as numpy's); the VJP broadcasts the gradient back over the reduced axes."""
import numpy as np

from .registry import OPS, defop
from .shape import normalize_dims


def kept_shape(shape, dim, keepdim):
    """The reduced shape with size-1 axes kept: what g is reshaped to before broadcasting."""
    axes = normalize_dims(dim, len(shape))
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def spread(g, shape, dim, keepdim):
    """Broadcast a reduction's gradient g back to the input shape (recordable)."""
    kept = kept_shape(shape, dim, keepdim)
    if g.shape != kept:
        g = OPS["reshape"](g, shape=kept)
    return OPS["expand"](g, shape=shape) if kept != tuple(shape) else g


def _sum(x, dim=None, keepdim=False):
    axes = normalize_dims(dim, x.ndim)
    dtype = np.int64 if x.dtype.kind in "bi" else None
    return np.asarray(np.sum(x, axis=axes, keepdims=keepdim, dtype=dtype))


def _count(shape, dim):
    n = 1
    for a in normalize_dims(dim, len(shape)):
        n *= shape[a]
    return n


def _mean(x, dim=None, keepdim=False):
    if x.dtype.kind not in "fc":
        raise RuntimeError("mean(): could not infer output dtype. Input dtype must be either a "
                           f"floating point or complex dtype. Got: {x.dtype}")
    axes = normalize_dims(dim, x.ndim)
    return np.asarray(np.mean(x, axis=axes, keepdims=keepdim))


def _norm(x, dim=None, keepdim=False):
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"linalg.vector_norm: Expected a floating point or complex tensor as "
                           f"input. Got {x.dtype}")
    axes = normalize_dims(dim, x.ndim)
    return np.asarray(np.sqrt(np.sum(x * x, axis=axes, keepdims=keepdim)))


def _norm_vjp(g, out, x, dim=None, keepdim=False):
    g_full = spread(g, x.shape, dim, keepdim)
    out_full = spread(out, x.shape, dim, keepdim)
    # The subgradient at 0 is 0, as in PyTorch; the masked 0/0 must not warn (PyTorch does not).
    with np.errstate(divide="ignore", invalid="ignore"):
        return OPS["where"](out_full == 0, 0, g_full * x / out_full)


defop("sum", _sum, [lambda g, out, x, dim=None, keepdim=False: spread(g, x.shape, dim, keepdim)])
defop("mean", _mean, [lambda g, out, x, dim=None, keepdim=False:
                      spread(g, x.shape, dim, keepdim) / _count(x.shape, dim)])
defop("norm", _norm, [_norm_vjp], saves=(0,), saves_out=True,
      backward_name="LinalgVectorNormBackward0")
