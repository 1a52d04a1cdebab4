"""Reductions: sum, mean, 2-norm.  Forward through numpy (pairwise summation keeps float32
sums as accurate as numpy's); the VJP broadcasts the gradient back over the reduced axes."""
import numpy as np

from .broadcast import broadcast_view
from .registry import OPS, defop
from .shape import normalize_dims


def kept_shape(shape, dim, keepdim):
    """The reduced shape with size-1 axes kept: what g is reshaped to before broadcasting."""
    axes = normalize_dims(dim, len(shape))
    return tuple(1 if i in axes else s for i, s in enumerate(shape))


def spread(g, shape, dim, keepdim):
    """Broadcast a reduction's gradient g back to the input shape (recordable)."""
    if dim is None and type(g) is np.ndarray:
        return broadcast_view(g, tuple(shape))   # a full reduction's one value, unrecorded
    kept = kept_shape(shape, dim, keepdim)
    if g.shape != kept:
        g = OPS["reshape"](g, shape=kept)
    return OPS["expand"](g, shape=shape) if kept != tuple(shape) else g


def _sum(x, dim=None, keepdim=False):
    axes = None if dim is None else normalize_dims(dim, x.ndim)
    dtype = np.int64 if x.dtype.kind in "bi" else None
    # np.sum's own reduction, without its Python wrapper (3.3 -> 1.5 us on 2,000 float32)
    return np.asarray(np.add.reduce(x, axis=axes, keepdims=keepdim, dtype=dtype))


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
    # The subgradient at 0 is 0, as in PyTorch.
    at_zero = out_full == 0
    with np.errstate(invalid="ignore"):   # inf / inf is nan, silently, as in PyTorch
        return OPS["where"](at_zero, 0, g_full * x / OPS["where"](at_zero, 1, out_full))


defop("sum", _sum, [lambda g, out, x, dim=None, keepdim=False: spread(g, x.shape, dim, keepdim)])
defop("mean", _mean, [lambda g, out, x, dim=None, keepdim=False:
                      spread(g, x.shape, dim, keepdim) / _count(x.shape, dim)])
defop("norm", _norm, [_norm_vjp], saves=(0,), saves_out=True,
      backward_name="LinalgVectorNormBackward0")


def _float_input(x, what):
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"{what}(): expected a floating point input, got {x.dtype}")


def _full(t, shape, dim, keepdim):
    """A reduced result (array or Tensor) broadcast back to the input shape, for VJPs."""
    return spread(t, shape, dim, keepdim)


# ---- var / std: correction = 1 is the unbiased estimate (PyTorch's default) -----------------
def _var(x, dim=None, keepdim=False, correction=1):
    _float_input(x, "var")
    return np.asarray(np.var(x, axis=normalize_dims(dim, x.ndim), ddof=correction,
                             keepdims=keepdim))


def _std(x, dim=None, keepdim=False, correction=1):
    _float_input(x, "std")
    return np.asarray(np.std(x, axis=normalize_dims(dim, x.ndim), ddof=correction,
                             keepdims=keepdim))


def _centered(x, dim):
    return x - OPS["mean"](x, dim=dim, keepdim=True)


def _var_vjp(g, out, x, dim=None, keepdim=False, correction=1):
    n = _count(x.shape, dim) - correction
    return _full(g, x.shape, dim, keepdim) * _centered(x, dim) * (2.0 / n)


def _std_vjp(g, out, x, dim=None, keepdim=False, correction=1):
    n = _count(x.shape, dim) - correction
    # d std = d var / (2 std); std = 0 gives NaN, as in PyTorch.
    return _full(g / out, x.shape, dim, keepdim) * _centered(x, dim) * (1.0 / n)


defop("var", _var, [_var_vjp], saves=(0,))
defop("std", _std, [_std_vjp], saves=(0,), saves_out=True)


# ---- amax / amin (and max()/min() of a whole tensor): ties share the gradient equally -------
def _amax(x, dim=None, keepdim=False):
    _nonempty(x, "amax", dim)
    return np.asarray(np.amax(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim))


def _amin(x, dim=None, keepdim=False):
    _nonempty(x, "amin", dim)
    return np.asarray(np.amin(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim))


def _nonempty(x, what, dim):
    if x.size == 0:
        raise IndexError(f"{what}(): Expected reduction dim {dim} to have non-zero size "
                         f"(input shape {list(x.shape)}).")


def _extreme_vjp(g, out, x, dim=None, keepdim=False):
    # Where x attains the extreme, weighted 1/(number of ties): a constant, not differentiated.
    xa, oa = np.asarray(x), np.asarray(out)
    axes = normalize_dims(dim, xa.ndim)
    hit = xa == np.broadcast_to(oa.reshape(kept_shape(xa.shape, dim, keepdim)), xa.shape)
    weight = (hit / np.sum(hit, axis=axes, keepdims=True)).astype(xa.dtype)
    return OPS["mul"](_full(g, x.shape, dim, keepdim), weight)


defop("amax", _amax, [_extreme_vjp], saves=(0,), saves_out=True)
defop("amin", _amin, [_extreme_vjp], saves=(0,), saves_out=True)
# x.max() / x.min() of a whole tensor: amax/amin, under PyTorch's node names.
defop("max_all", _amax, [_extreme_vjp], saves=(0,), saves_out=True, backward_name="MaxBackward1")
defop("min_all", _amin, [_extreme_vjp], saves=(0,), saves_out=True, backward_name="MinBackward1")


# ---- max(dim) / min(dim): (values, indices); the gradient goes to the returned index --------
def _arg_extreme(fn, x, dim, keepdim, what):
    d = normalize_dims(dim, x.ndim)[0] if x.ndim else None
    if x.ndim and x.shape[d] == 0:
        raise IndexError(f"{what}(): Expected reduction dim {dim} to have non-zero size.")
    if x.ndim == 0:
        return np.zeros((), np.int64)
    idx = fn(x, axis=d, keepdims=True)
    return idx if keepdim else np.squeeze(idx, axis=d)


def _max_dim(x, dim, keepdim=False):
    idx = _arg_extreme(np.argmax, x, dim, True, "max")
    return _take(x, idx, dim, keepdim), _squeeze_kept(idx, x, dim, keepdim)


def _min_dim(x, dim, keepdim=False):
    idx = _arg_extreme(np.argmin, x, dim, True, "min")
    return _take(x, idx, dim, keepdim), _squeeze_kept(idx, x, dim, keepdim)


def _squeeze_kept(a, x, dim, keepdim):
    if keepdim or x.ndim == 0:
        return np.asarray(a).astype(np.int64).reshape(a.shape if x.ndim else ())
    return np.squeeze(a, axis=normalize_dims(dim, x.ndim)[0]).astype(np.int64)


def _take(x, idx, dim, keepdim):
    if x.ndim == 0:
        return x.copy()
    d = normalize_dims(dim, x.ndim)[0]
    vals = np.take_along_axis(x, idx, axis=d)
    return vals if keepdim else np.squeeze(vals, axis=d)


def _selected_vjp(fn):
    def vjp(g, out, x, dim, keepdim=False):
        gv = g[0]
        xa = np.asarray(x)
        if xa.ndim == 0:
            return gv
        d = normalize_dims(dim, xa.ndim)[0]
        idx = fn(xa, axis=d, keepdims=True)
        onehot = np.arange(xa.shape[d]).reshape((-1,) + (1,) * (xa.ndim - d - 1)) == idx
        return OPS["where"](onehot, _full(gv, x.shape, dim, keepdim), 0)
    return vjp


defop("max_dim", _max_dim, [_selected_vjp(np.argmax)], saves=(0,), n_outputs=2,
      backward_name="MaxBackward0")
defop("min_dim", _min_dim, [_selected_vjp(np.argmin)], saves=(0,), n_outputs=2,
      backward_name="MinBackward0")


def _argmax(x, dim=None, keepdim=False):
    if dim is None:
        return np.asarray(np.argmax(x.reshape(-1)), np.int64).reshape((1,) * x.ndim if keepdim
                                                                     else ())
    return _squeeze_kept(_arg_extreme(np.argmax, x, dim, True, "argmax"), x, dim, keepdim)


def _argmin(x, dim=None, keepdim=False):
    if dim is None:
        return np.asarray(np.argmin(x.reshape(-1)), np.int64).reshape((1,) * x.ndim if keepdim
                                                                     else ())
    return _squeeze_kept(_arg_extreme(np.argmin, x, dim, True, "argmin"), x, dim, keepdim)


defop("argmax", _argmax)
defop("argmin", _argmin)
defop("all", lambda x, dim=None, keepdim=False: np.asarray(
    np.all(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)))
defop("any", lambda x, dim=None, keepdim=False: np.asarray(
    np.any(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim)))


# ---- prod: exact at zeros (no division by a zero input) ------------------------------------
def _prod(x, dim=None, keepdim=False):
    dtype = np.int64 if x.dtype.kind in "bi" else None
    return np.asarray(np.prod(x, axis=normalize_dims(dim, x.ndim), keepdims=keepdim,
                              dtype=dtype))


def _prod_vjp(g, out, x, dim=None, keepdim=False):
    # d prod / d x_i = the product of the others, never out / 0.  Written with ops so it stays
    # differentiable, and exact to second order:
    #   x_i != 0               out / x_i            (out carries the zeros' derivatives)
    #   x_i == 0, 1 zero       prod of the nonzeros (P1)
    #   x_i == 0, 2 zeros      x_other * P1         (value 0, derivative P1 along x_other)
    #   x_i == 0, 3+ zeros     0                    (its first derivatives are 0 too)
    xa = np.asarray(x)
    full = tuple(x.shape)
    zero = xa == 0
    nz = np.broadcast_to(np.sum(zero, axis=normalize_dims(dim, xa.ndim), keepdims=True), full)
    where = OPS["where"]
    x1 = where(zero, 1, x)
    p1 = _full(OPS["prod"](x1, dim=dim, keepdim=True), full, dim, True)
    zeros_sum = _full(OPS["sum"](where(zero, x, 0), dim=dim, keepdim=True), full, dim, True)
    at_zero = where(nz == 1, p1, where(nz == 2, (zeros_sum - x) * p1, 0))
    others = where(zero, at_zero, _full(out, full, dim, keepdim) / x1)
    return _full(g, full, dim, keepdim) * others


defop("prod", _prod, [_prod_vjp], saves=(0,), saves_out=True)


# ---- logsumexp, softmax, log_softmax: shifted by the max for stability ----------------------
def _logsumexp(x, dim, keepdim=False):
    _float_input(x, "logsumexp")
    axes = normalize_dims(dim, x.ndim)
    m = np.amax(x, axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
    m = np.where(np.isfinite(m), m, 0)
    s = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return np.asarray(s if keepdim else np.squeeze(s, axis=axes))


def _logsumexp_vjp(g, out, x, dim, keepdim=False):
    return _full(g, x.shape, dim, keepdim) * OPS["exp"](x - _full(out, x.shape, dim, keepdim))


def _softmax(x, dim):
    _float_input(x, "softmax")
    d = normalize_dims(dim, x.ndim)
    e = np.exp(x - np.amax(x, axis=d, keepdims=True)) if x.size else x.copy()
    return e / np.sum(e, axis=d, keepdims=True)


def _log_softmax(x, dim):
    _float_input(x, "log_softmax")
    return x - _logsumexp(x, dim, keepdim=True)


defop("logsumexp", _logsumexp, [_logsumexp_vjp], saves=(0,), saves_out=True)
defop("softmax", _softmax, [lambda g, out, x, dim:
                            out * (g - OPS["sum"](g * out, dim=dim, keepdim=True))],
      saves_out=True, backward_name="SoftmaxBackward0")
defop("log_softmax", _log_softmax, [lambda g, out, x, dim:
                                    g - OPS["exp"](out) * OPS["sum"](g, dim=dim, keepdim=True)],
      saves_out=True, backward_name="LogSoftmaxBackward0")
