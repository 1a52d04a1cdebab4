"""Tensor: a thin object over a numpy buffer, plus requires_grad, grad, grad_fn and a version.

Every op goes through `apply` (or its two-argument twin `_binary`), which runs the op's
forward on ndarrays and, when grad mode is on and an input requires grad, appends a record to
the tape.  An op that raises has appended nothing and changed no tensor: recording happens
only after the forward succeeded.
"""
import numpy as np

import ops
from ops import OPS, InputMeta
from ops.dtypes import category

from . import _format
from .dtypes import from_numpy_dtype, to_numpy_dtype
from .tape import STATE, Record, Version, record_type

_new = object.__new__
_empty = np.empty
_EMPTY = {}


class Size(tuple):
    """A tensor's shape: a tuple that prints as tape.Size([2, 3])."""
    __slots__ = ()

    def __repr__(self):
        return f"tape.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n


def _wrap(data, requires_grad=False):
    t = _new(Tensor)
    t._data = data
    t._requires_grad = requires_grad
    t._grad = None
    t._record = None
    t._out_index = 0
    t._version = None
    t._base = None
    t._hooks = None
    return t


def _version_of(t):
    v = t._version
    if v is None:
        v = Version()
        if type(t._record) is _lane.Block:
            v = _lane.register_version(t, v)   # a lane value: its block checks this one
        t._version = v
    return v


def _to_array(x):
    return x._data if isinstance(x, Tensor) else x


# What may stand beside a Tensor in an op: Python and numpy scalars.
_SCALAR_TYPES = (int, float, bool, np.number, np.bool_)


def _unwrap_scalar(x):
    """Scalars and ndarrays pass to kernels as they are; anything else is an error."""
    if isinstance(x, (_SCALAR_TYPES, np.ndarray)):
        return x
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


def check_view_is_current(view):
    """A view whose base was since modified by a recorded in-place op has a stale history
    (PyTorch rebuilds it); using it would give a silently wrong gradient, so refuse."""
    if view._base._record is not view._view_src:
        raise NotImplementedError(
            "this view's base was modified by an in-place operation after the view was taken; "
            "tape cannot rebuild the view's history yet: take the view again after the "
            "in-place operation")


def _record(op, args, params, outs, results):
    """Append the record of `op` applied to `args` that produced `outs` (all Tensors)."""
    mask = 0
    bit = 1
    edges = []
    for a in args:
        if isinstance(a, Tensor) and a._requires_grad:
            if a._base is not None:
                check_view_is_current(a)
            mask |= bit
            rec = a._record
            edges.append((rec, a._out_index) if rec is not None else (a, 0))
        else:
            edges.append(None)
        bit <<= 1
    saved_idx, saves_out = op.save_plan(mask)
    # What each VJP reads: saved tensors; for an unsaved tensor, its shape and dtype only (and
    # not even that for elementwise ops, whose gradient formulas read nothing they do not save).
    inputs = list(args)
    versions = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            if i in saved_idx:
                v = _version_of(a)
                versions.append((v, v.value, a._data.shape, a._data.dtype))
            else:
                inputs[i] = None if op.fused_vjp is not None else InputMeta(a._data.shape,
                                                                            a._data.dtype)
    if op.n_outputs == 1:
        out_meta = ((results.shape, results.dtype),)
    else:
        out_meta = tuple((r.shape, r.dtype) for r in results)
    if saves_out:
        for o in outs:
            v = _version_of(o)
            versions.append((v, v.value, o._data.shape, o._data.dtype))
    rec = op.record_type(tuple(edges), tuple(inputs), tuple(versions),
                         results if saves_out else None, out_meta, params,
                         bool(saved_idx) or saves_out)
    k = 0
    for o in outs:
        if o._data.dtype.kind in "fc":   # integer outputs (max's indices) never require grad
            o._requires_grad = True
            o._record = rec
            o._out_index = k
        k += 1
    return rec


def apply(op, args, params=_EMPTY):
    """Run `op` on Tensors/scalars; record it when grad mode is on and an input needs grad."""
    if op.lane is not None and not params and type(args[0]) is Tensor:
        if len(args) == 1:
            return _unary(op, args[0])
        if len(args) == 2 and isinstance(args[1], (Tensor,) + _SCALAR_TYPES):
            return _binary(op, args[0], args[1])   # anything else: the general checks below
    arrays = [a._data if isinstance(a, Tensor) else _unwrap_scalar(a) for a in args]
    result = op.forward(*arrays, **params)
    if op.n_outputs == 1:
        out = _wrap(result)
        outs = (out,)
    else:
        outs = tuple(_wrap(r) for r in result)
        out = outs
    if op.view and isinstance(args[0], Tensor):
        base = args[0]
        root = base._base if base._base is not None else base
        for o in outs:
            o._version = _version_of(base)
            o._base = root
            o._view_src = root._record   # the base's graph position this view's history assumes
    if STATE.grad_enabled and op.differentiable:
        for a in args:
            if isinstance(a, Tensor) and a._requires_grad:
                _record(op, args, params, outs, result)
                break
    return out


# Unrecorded operators on native float arrays (a custom Function's forward and backward, an
# optimizer's update, no_grad code) call the op's compiled kernel straight from _binary,
# _rbinary and _unary, skipping op.forward's dispatch (2,000 float32 under no_grad: t * 1.5
# 1.45-1.49 -> 1.30 us, 5 * t 1.48 -> 1.23, t - t 1.69-1.74 -> 1.46-1.49, -t 1.27-1.30 ->
# 1.10-1.38).  It is the kernel op.forward calls, on the same arrays, so the bits are the same.
# 0-d operands are left to op.forward, which computes +, -, *, / on Python floats.

def _binary(op, a, b):
    """apply() for the arithmetic operators, without the generic argument handling.
    Recorded small elementwise ops try the lane first (tape/lane.py)."""
    if isinstance(b, Tensor):
        if (a._requires_grad or b._requires_grad) and STATE.grad_enabled and op.differentiable:
            if op.lane is not None and _lane.active:
                out = _lane.binary(op, a, b)
                if out is not None:
                    return out
            result = op.forward(a._data, b._data)
            out = _wrap(result)
            _record(op, (a, b), _EMPTY, (out,), result)
            return out
        x, y = a._data, b._data
        kernel = op.direct_aa.get(x.dtype)
        if (kernel is not None and y.dtype is x.dtype and y.shape == x.shape and x.ndim
                and x.size <= op.direct_max):
            res = _empty(x.shape, x.dtype)
            kernel(x.ravel(), y.ravel(), res if x.ndim == 1 else res.reshape(-1))
            return _wrap(res)
        return _wrap(op.forward(x, y))
    tb = type(b)
    if tb is not float and tb is not int:   # the common scalars skip the two tests below
        if isinstance(b, np.ndarray):
            return _binary(op, a, _wrap(b))   # a constant (VJPs mix Tensors with index masks)
        if not isinstance(b, _SCALAR_TYPES):
            return NotImplemented
    elif not (a._requires_grad and STATE.grad_enabled):
        x = a._data
        if not x.ndim and op.single is not None:   # an optimizer's update of a scalar
            res = op.single(x, b)
            if res is not None:
                return _wrap(res)
        kernel = op.direct_as.get(x.dtype)
        if kernel is not None and x.ndim and x.size <= op.direct_max:
            res = _empty(x.shape, x.dtype)
            kernel(x.ravel(), b, res if x.ndim == 1 else res.reshape(-1))
            return _wrap(res)
        return _wrap(op.forward(x, b))
    if a._requires_grad and STATE.grad_enabled and op.differentiable:
        if op.lane is not None and _lane.active:
            out = _lane.binary(op, a, b)
            if out is not None:
                return out
        result = op.forward(a._data, b)
        out = _wrap(result)
        _record(op, (a, b), _EMPTY, (out,), result)
        return out
    return _wrap(op.forward(a._data, b))


def _rbinary(op, a, b):
    """`scalar <op> tensor`: the scalar is the op's first argument."""
    tb = type(b)
    if tb is not float and tb is not int:   # as in _binary
        if isinstance(b, np.ndarray):
            return _binary(op, _wrap(b), a)
        if not isinstance(b, _SCALAR_TYPES):
            return NotImplemented
    elif not (a._requires_grad and STATE.grad_enabled):
        y = a._data
        if not y.ndim and op.single is not None:   # `lr * p.grad` for a scalar parameter
            res = op.single(y, b, True)
            if res is not None:
                return _wrap(res)
        kernel = op.direct_sa.get(y.dtype)
        if kernel is not None and y.ndim and y.size <= op.direct_max:
            res = _empty(y.shape, y.dtype)
            kernel(b, y.ravel(), res if y.ndim == 1 else res.reshape(-1))
            return _wrap(res)
        return _wrap(op.forward(b, y))
    if a._requires_grad and STATE.grad_enabled and op.differentiable:
        if op.lane is not None and _lane.active:
            out = _lane.binary(op, a, b, reflected=True)
            if out is not None:
                return out
        result = op.forward(b, a._data)
        out = _wrap(result)
        _record(op, (b, a), _EMPTY, (out,), result)
        return out
    return _wrap(op.forward(b, a._data))


def _unary(op, a):
    if a._requires_grad and STATE.grad_enabled and op.differentiable:
        if op.lane is not None and _lane.active:
            out = _lane.unary(op, a)
            if out is not None:
                return out
        result = op.forward(a._data)
        out = _wrap(result)
        _record(op, (a,), _EMPTY, (out,), result)
        return out
    x = a._data
    kernel = op.direct_a.get(x.dtype)
    if kernel is not None and x.ndim and x.size <= op.direct_max:
        res = _empty(x.shape, x.dtype)
        kernel(x.ravel(), res if x.ndim == 1 else res.reshape(-1))
        return _wrap(res)
    return _wrap(op.forward(x))


_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."


def _inplace(self, op, args, params=_EMPTY):
    """self <- op(self, *args), recorded when needed: self's grad_fn becomes the new record."""
    recording = STATE.grad_enabled and (
        self._requires_grad or any(isinstance(a, Tensor) and a._requires_grad for a in args))
    if not recording and len(args) == 1 and not params:
        # The optimizer's `p -= lr * p.grad` under no_grad: when the forward keeps self's
        # shape and exact dtype, none of the checks below can fail (measured 2.95 -> 2.43 us
        # for a 0-d `p -= g`); an elementwise op writes straight into self's buffer.
        other = args[0]
        other = other._data if isinstance(other, Tensor) else _unwrap_scalar(other)
        data = self._data
        into = op.forward_into
        if into is not None and into(data, other):
            _version_of(self).value += 1
            return self
        result = op.forward(data, other)
        if result.dtype is data.dtype and result.shape == data.shape:
            data[...] = result
            _version_of(self).value += 1
            return self
    if recording and self._record is None and self._requires_grad:
        raise RuntimeError(_LEAF_INPLACE)
    if recording and self._base is not None:
        if self._base._requires_grad and self._base._record is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
        # PyTorch rewrites the base's history (CopySlices); without it the base would silently
        # miss this gradient path, so refuse clearly.  x[k] = v on the base itself works.
        raise NotImplementedError(
            f"in-place {op.name} on a view, recorded for autograd, is not supported yet; "
            f"assign through the base instead (base[index] = value)")
    arrays = [a._data if isinstance(a, Tensor) else _unwrap_scalar(a) for a in args]
    result = op.forward(self._data, *arrays, **params)
    if result.shape != self._data.shape:
        raise RuntimeError(f"output with shape {list(self._data.shape)} doesn't match the "
                           f"broadcast shape {list(result.shape)}")
    if result.dtype != self._data.dtype and category(result.dtype) > category(self._data.dtype):
        raise RuntimeError(f"result type {_format.torch_type_name(result.dtype)} can't be cast "
                           f"to the desired output type "
                           f"{_format.torch_type_name(self._data.dtype)}")
    if recording:
        # The record's first input is self *before* the write: a stand-in at self's old graph
        # position, holding a copy of the old values only if a gradient formula reads them.
        mask = (1 if self._requires_grad else 0) | sum(
            1 << (i + 1) for i, a in enumerate(args) if isinstance(a, Tensor) and a._requires_grad)
        before = _wrap(self._data.copy() if 0 in op.save_plan(mask)[0] else self._data,
                       self._requires_grad)
        before._record, before._out_index = self._record, self._out_index
        self._data[...] = result
        _version_of(self).value += 1
        _record(op, (before,) + tuple(args), params, (self,), self._data)
    else:
        self._data[...] = result
        _version_of(self).value += 1
    return self


class Tensor:
    __slots__ = ("_data", "_requires_grad", "_grad", "_record", "_out_index", "_version",
                 "_base", "_hooks", "_view_src", "__weakref__")
    __array_priority__ = 1000   # ndarray <op> Tensor defers to Tensor's reflected operator

    def __init__(self, *args, dtype=None, device=None, requires_grad=False):
        """tape.Tensor([1, 2]) (float32 data) or tape.Tensor(2, 3) (uninitialised sizes)."""
        np_dtype = to_numpy_dtype(dtype) if dtype is not None else np.float32
        if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
            src = args[0]
            data = np.array(src._data if isinstance(src, Tensor) else src, dtype=np_dtype)
        else:
            sizes = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
            data = np.empty(tuple(int(s) for s in sizes), dtype=np_dtype)
        self._data = data
        self._requires_grad = False
        self._grad = None
        self._record = None
        self._out_index = 0
        self._version = None
        self._base = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)

    # ---- metadata -----------------------------------------------------------------------
    @property
    def shape(self):
        return Size(self._data.shape)

    def size(self, dim=None):
        if dim is None:
            return Size(self._data.shape)
        return self._data.shape[ops.shape.normalize_dim(dim, self._data.ndim)]

    def dim(self):
        return self._data.ndim

    ndimension = dim

    @property
    def ndim(self):
        return self._data.ndim

    def numel(self):
        return self._data.size

    nelement = numel

    @property
    def dtype(self):
        return from_numpy_dtype(self._data.dtype)

    @property
    def device(self):
        from . import device
        return device("cpu")

    is_cuda = False

    def element_size(self):
        return self._data.itemsize

    def is_floating_point(self):
        return self._data.dtype.kind == "f"

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self._data.shape[0]

    # ---- autograd state -----------------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad=True):
        if self._record is not None:
            if not requires_grad:
                raise RuntimeError("you can only change requires_grad flags of leaf variables. "
                                   "If you want to use a computed variable in a subgraph that "
                                   "doesn't require differentiation use var_no_grad = var.detach().")
            return self
        if requires_grad and self._data.dtype.kind not in "fc":
            raise RuntimeError("only Tensors of floating point and complex dtype can require "
                               f"gradients (got {self.dtype})")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def grad(self):
        return self._grad

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value._data.shape != self._data.shape:
                raise RuntimeError(f"attempting to assign a gradient of size "
                                   f"'{list(value._data.shape)}' to a tensor of size "
                                   f"'{list(self._data.shape)}'. Please ensure that the gradient "
                                   f"and the tensor are the same size")
            if value._data.dtype != self._data.dtype:
                raise RuntimeError(f"attempting to assign a gradient with dtype "
                                   f"'{_format.torch_type_name(value._data.dtype).lower()}' to a "
                                   f"tensor with grad_dtype "
                                   f"'{_format.torch_type_name(self._data.dtype)}'. The gradient "
                                   f"must match the tensor's grad_dtype (defaults to the "
                                   f"tensor's dtype).")
        self._grad = value

    @property
    def grad_fn(self):
        rec = self._record
        return rec.node(self._out_index) if type(rec) is _lane.Block else rec

    @property
    def is_leaf(self):
        return self._record is None

    @property
    def data(self):
        """The same buffer outside the graph: writes through it are neither recorded nor
        version-checked (PyTorch's .data; use detach() to keep the check)."""
        return _wrap(self._data)

    @data.setter
    def data(self, value):
        if type(self._record) is _lane.Block:
            # A lane value now elsewhere: its next lane use imports it into a new block
            # (an edge into the open block could not be replayed in order).
            STATE.tape.close_lane()
        self._data = value._data if isinstance(value, Tensor) else np.asarray(value)

    def detach(self):
        """The same buffer and version counter, outside the graph."""
        t = _wrap(self._data)
        t._version = _version_of(self)
        return t

    def detach_(self):
        if self._base is not None and self._record is not None:
            raise RuntimeError("Can't detach views in-place. Use detach() instead.")
        self._record = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        if not self._requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        rec = self._record
        if rec is None:
            return
        import weakref
        if rec.retained is None:
            rec.retained = {}
        rec.retained[self._out_index] = weakref.ref(self)

    @property
    def retains_grad(self):
        rec = self._record
        return bool(rec is not None and rec.retained and self._out_index in rec.retained)

    def register_hook(self, hook):
        """hook(grad) -> replacement grad or None, called when this tensor's grad is computed."""
        if not self._requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        rec = self._record
        if rec is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            if rec.hooks is None:
                rec.hooks = {}
            hooks = rec.hooks.setdefault(self._out_index, [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        _engine.backward((self,), None if gradient is None else (gradient,), retain_graph,
                         create_graph, inputs=inputs)

    # ---- conversion ---------------------------------------------------------------------
    def item(self):
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                               f"to Scalar")
        return self._data.reshape(-1)[0].item()

    def tolist(self):
        return self._data.tolist()

    def numpy(self, force=False):
        if self._requires_grad and not force:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        return self._data if dtype is None else self._data.astype(dtype)

    def __float__(self):
        return float(self._scalar())

    def __int__(self):
        return int(self._scalar())

    def _scalar(self):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return self._data.reshape(-1)[0].item()

    def __index__(self):
        if self._data.dtype.kind not in "iub" or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self):
        if self._data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(-1)[0])

    def __hash__(self):
        return id(self)

    def __repr__(self):
        return _format.tensor_repr(self)

    __str__ = __repr__

    def __format__(self, spec):
        if self._data.ndim == 0:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self._data.shape[0]))

    def to(self, *args, dtype=None, device=None, copy=False, non_blocking=False):
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif not (isinstance(a, str) or type(a).__name__ == "device"):
                dtype = a   # a tape dtype, numpy dtype or Python type; devices are all cpu
        if dtype is None:
            return self.clone() if copy else self
        np_dtype = to_numpy_dtype(dtype)
        if np_dtype == self._data.dtype and not copy:
            return self
        return apply(OPS["to_dtype"], (self,), {"dtype": np_dtype})

    def type(self, dtype=None):
        if dtype is None:
            return _format.legacy_type_name(self._data.dtype)
        if isinstance(dtype, str):
            dtype = _format.dtype_from_legacy_name(dtype)
        elif hasattr(dtype, "_legacy_dtype"):
            dtype = dtype._legacy_dtype
        if not isinstance(dtype, Tensor) and not hasattr(dtype, "np"):
            dtype = from_numpy_dtype(dtype)
        return self.to(dtype)

    def float(self):
        return self.to(np.float32)

    def double(self):
        return self.to(np.float64)

    def long(self):
        return self.to(np.int64)

    def int(self):
        return self.to(np.int32)

    def bool(self):
        return self.to(np.bool_)

    def half(self):
        return self.to(np.float16)

    def cpu(self):
        return self

    def clone(self, memory_format=None):
        return apply(OPS["clone"], (self,))

    def contiguous(self, memory_format=None):
        if self._data.flags.c_contiguous:
            return self
        return self.clone()

    def is_contiguous(self, memory_format=None):
        return self._data.flags.c_contiguous

    # ---- arithmetic ---------------------------------------------------------------------
    def __add__(self, other):
        return _binary(_ADD, self, other)

    def __radd__(self, other):
        return _rbinary(_ADD, self, other)

    def __sub__(self, other):
        return _binary(_SUB, self, other)

    def __rsub__(self, other):
        return _rbinary(_SUB, self, other)

    def __mul__(self, other):
        return _binary(_MUL, self, other)

    def __rmul__(self, other):
        return _rbinary(_MUL, self, other)

    def __truediv__(self, other):
        return _binary(_DIV, self, other)

    def __rtruediv__(self, other):
        return _rbinary(_DIV, self, other)

    def __pow__(self, other):
        return _binary(_POW, self, other)

    def __rpow__(self, other):
        return _rbinary(_POW, self, other)

    def __neg__(self):
        return _unary(_NEG, self)

    def __pos__(self):
        return self

    def __matmul__(self, other):
        return apply(OPS["matmul"], (self, other))

    def __rmatmul__(self, other):
        return apply(OPS["matmul"], (Tensor(other) if not isinstance(other, Tensor) else other,
                                     self))

    def __gt__(self, other):
        return _binary(_GT, self, other)

    def __lt__(self, other):
        return _binary(_LT, self, other)

    def __ge__(self, other):
        return _binary(_GE, self, other)

    def __le__(self, other):
        return _binary(_LE, self, other)

    def __eq__(self, other):
        return _binary(_EQ, self, other)

    def __ne__(self, other):
        return _binary(_NE, self, other)

    def __and__(self, other):
        return _binary(OPS["bitwise_and"], self, other)

    def __or__(self, other):
        return _binary(OPS["bitwise_or"], self, other)

    __rand__ = __and__
    __ror__ = __or__

    def __iadd__(self, other):
        return _inplace(self, _ADD, (other,))

    def __isub__(self, other):
        return _inplace(self, _SUB, (other,))

    def __imul__(self, other):
        return _inplace(self, _MUL, (other,))

    def __itruediv__(self, other):
        return _inplace(self, _DIV, (other,))

    def add(self, other, alpha=1):
        return self + (other * alpha if alpha != 1 else other)

    def sub(self, other, alpha=1):
        return self - (other * alpha if alpha != 1 else other)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def neg(self):
        return -self

    def add_(self, other, alpha=1):
        return _inplace(self, _ADD, (other * alpha if alpha != 1 else other,))

    def sub_(self, other, alpha=1):
        return _inplace(self, _SUB, (other * alpha if alpha != 1 else other,))

    def mul_(self, other):
        return _inplace(self, _MUL, (other,))

    def div_(self, other):
        return _inplace(self, _DIV, (other,))

    def zero_(self):
        return _inplace(self, OPS["fill"], (), {"value": 0})

    def fill_(self, value):
        return _inplace(self, OPS["fill"], (), {"value": value})

    # ---- math ---------------------------------------------------------------------------
    def exp(self):
        return _unary(OPS["exp"], self)

    def log(self):
        return _unary(OPS["log"], self)

    def sqrt(self):
        return _unary(OPS["sqrt"], self)

    def sin(self):
        return _unary(OPS["sin"], self)

    def cos(self):
        return _unary(OPS["cos"], self)

    def tanh(self):
        return _unary(OPS["tanh"], self)

    def sigmoid(self):
        return _unary(OPS["sigmoid"], self)

    def relu(self):
        return _unary(OPS["relu"], self)

    def sum(self, dim=None, keepdim=False, dtype=None):
        if (dim is None and dtype is None and not keepdim and self._requires_grad
                and STATE.grad_enabled and _lane.active):
            out = _lane.unary(OPS["sum"], self)   # a loss's sum: a lane row (tape/lane.py)
            if out is not None:
                return out
        out = apply(OPS["sum"], (self,), {"dim": dim, "keepdim": keepdim})
        return out if dtype is None else out.to(dtype)

    def mean(self, dim=None, keepdim=False):
        return apply(OPS["mean"], (self,), {"dim": dim, "keepdim": keepdim})

    def norm(self, p="fro", dim=None, keepdim=False):
        if p in ("fro", 2, 2.0):
            return apply(OPS["norm"], (self,), {"dim": dim, "keepdim": keepdim})
        if isinstance(p, str):
            raise NotImplementedError(f"norm with p={p!r} is not implemented")
        # Other p as compositions of table ops, so their gradients come for free.
        a = self.abs()
        if p == float("inf"):
            return a.amax(() if dim is None else dim, keepdim)
        if p == float("-inf"):
            return a.amin(() if dim is None else dim, keepdim)
        if p == 0:
            return (self != 0).to(self.dtype).sum(dim, keepdim)
        if p == 1:
            return a.sum(dim, keepdim)
        return (a ** p).sum(dim, keepdim) ** (1.0 / p)

    def dot(self, other):
        return apply(OPS["dot"], (self, other))

    def mm(self, other):
        return apply(OPS["mm"], (self, other))

    def matmul(self, other):
        return apply(OPS["matmul"], (self, other))

    # ---- shape --------------------------------------------------------------------------
    def view(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(OPS["view"], (self,), {"shape": shape})

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(OPS["reshape"], (self,), {"shape": shape})

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def expand(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply(OPS["expand"], (self,), {"shape": shape})

    def expand_as(self, other):
        return self.expand(other.shape)

    def t(self):
        return apply(OPS["t"], (self,))

    @property
    def T(self):
        return apply(OPS["t"], (self,)) if self._data.ndim == 2 else self

    def transpose(self, dim0, dim1):
        return apply(OPS["transpose"], (self,), {"dim0": dim0, "dim1": dim1})

    # ---- more elementwise math (ops/elementwise.py) -------------------------------------
    def abs(self):
        return _unary(OPS["abs"], self)

    __abs__ = abs
    absolute = abs

    def reciprocal(self):
        return _unary(OPS["reciprocal"], self)

    def rsqrt(self):
        return _unary(OPS["rsqrt"], self)

    def log1p(self):
        return _unary(OPS["log1p"], self)

    def expm1(self):
        return _unary(OPS["expm1"], self)

    def sinh(self):
        return _unary(OPS["sinh"], self)

    def cosh(self):
        return _unary(OPS["cosh"], self)

    def asin(self):
        return _unary(OPS["asin"], self)

    def acos(self):
        return _unary(OPS["acos"], self)

    def atan(self):
        return _unary(OPS["atan"], self)

    arcsin, arccos, arctan = asin, acos, atan

    def sign(self):
        return _unary(OPS["sign"], self)

    def floor(self):
        return _unary(OPS["floor"], self)

    def ceil(self):
        return _unary(OPS["ceil"], self)

    def round(self, decimals=0):
        if decimals:
            raise NotImplementedError("round(decimals=...) is not implemented")
        return _unary(OPS["round"], self)

    def clamp_min(self, min):
        return _binary(OPS["clamp_min"], self, min)

    def clamp_max(self, max):
        return _binary(OPS["clamp_max"], self, max)

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        out = self if min is None else _binary(OPS["clamp_min"], self, min)
        return out if max is None else _binary(OPS["clamp_max"], out, max)

    clip = clamp

    def maximum(self, other):
        return _binary(OPS["maximum"], self, _as_tensor(other, "maximum"))

    def minimum(self, other):
        return _binary(OPS["minimum"], self, _as_tensor(other, "minimum"))

    # ---- reductions (ops/reductions.py) -------------------------------------------------
    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return apply(OPS["var"], (self,), _var_params(dim, unbiased, keepdim, correction))

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return apply(OPS["std"], (self,), _var_params(dim, unbiased, keepdim, correction))

    def amax(self, dim=(), keepdim=False):
        return apply(OPS["amax"], (self,), {"dim": None if dim == () else dim, "keepdim": keepdim})

    def amin(self, dim=(), keepdim=False):
        return apply(OPS["amin"], (self,), {"dim": None if dim == () else dim, "keepdim": keepdim})

    def max(self, dim=None, keepdim=False):
        """max() -> value (ties share the gradient); max(dim) -> (values, indices);
        max(other) -> maximum."""
        if isinstance(dim, Tensor):
            return self.maximum(dim)
        if dim is None:
            return apply(OPS["max_all"], (self,), {"dim": None, "keepdim": False})
        return return_types.max(*apply(OPS["max_dim"], (self,), {"dim": dim, "keepdim": keepdim}))

    def min(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return self.minimum(dim)
        if dim is None:
            return apply(OPS["min_all"], (self,), {"dim": None, "keepdim": False})
        return return_types.min(*apply(OPS["min_dim"], (self,), {"dim": dim, "keepdim": keepdim}))

    def argmax(self, dim=None, keepdim=False):
        return apply(OPS["argmax"], (self,), {"dim": dim, "keepdim": keepdim})

    def argmin(self, dim=None, keepdim=False):
        return apply(OPS["argmin"], (self,), {"dim": dim, "keepdim": keepdim})

    def all(self, dim=None, keepdim=False):
        return apply(OPS["all"], (self,), {"dim": dim, "keepdim": keepdim})

    def any(self, dim=None, keepdim=False):
        return apply(OPS["any"], (self,), {"dim": dim, "keepdim": keepdim})

    def prod(self, dim=None, keepdim=False, dtype=None):
        out = apply(OPS["prod"], (self,), {"dim": dim, "keepdim": keepdim})
        return out if dtype is None else out.to(dtype)

    def logsumexp(self, dim, keepdim=False):
        return apply(OPS["logsumexp"], (self,), {"dim": dim, "keepdim": keepdim})

    def softmax(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return apply(OPS["softmax"], (x,), {"dim": dim})

    def log_softmax(self, dim, dtype=None):
        x = self if dtype is None else self.to(dtype)
        return apply(OPS["log_softmax"], (x,), {"dim": dim})

    # ---- more shape ops (ops/shape.py) ------------------------------------------------
    def permute(self, *dims):
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return apply(OPS["permute"], (self,), {"dims": dims})

    def unsqueeze(self, dim):
        return apply(OPS["unsqueeze"], (self,), {"dim": dim})

    def squeeze(self, dim=None):
        return apply(OPS["squeeze"], (self,), {"dim": dim})

    def flatten(self, start_dim=0, end_dim=-1):
        shape = self._data.shape
        if not shape:
            return self.reshape(1)
        s = ops.shape.normalize_dim(start_dim, len(shape))
        e = ops.shape.normalize_dim(end_dim, len(shape))
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        return self.reshape(shape[:s] + (-1 if 0 not in shape[s:e + 1] else 0,) + shape[e + 1:])

    def split(self, split_size_or_sections, dim=0):
        d = ops.shape.normalize_dim(dim, self._data.ndim)
        n = self._data.shape[d]
        if isinstance(split_size_or_sections, (int, np.integer)):
            step = int(split_size_or_sections)
            if step <= 0 and n:
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {n}")
            sizes = [min(step, n - i) for i in range(0, n, step)] if n else [0]
        else:
            sizes = [int(s) for s in split_size_or_sections]
            if sum(sizes) != n:
                raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                                   f"(input tensor's size at dimension {d}), but got "
                                   f"split_sizes={sizes}")
        out, start = [], 0
        for size in sizes:
            key = (slice(None),) * d + (slice(start, start + size),)
            out.append(apply(OPS["slice"], (self,), {"key": key}))
            start += size
        return tuple(out)

    def chunk(self, chunks, dim=0):
        if chunks <= 0:
            raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
        n = self.size(dim)
        return self.split(max(-(-n // chunks), 1), dim)

    def narrow(self, dim, start, length):
        d = ops.shape.normalize_dim(dim, self._data.ndim)
        key = (slice(None),) * d + (slice(start, start + length),)
        return apply(OPS["slice"], (self,), {"key": key})

    # ---- indexing ---------------------------------------------------------------------
    def __getitem__(self, key):
        key = _index_key(key)
        op = OPS["slice"] if ops.shape.is_basic_key(key) else OPS["index"]
        return apply(op, (self,), {"key": key})

    def __setitem__(self, key, value):
        """x[key] = value: an in-place op (recorded on non-leaves, like PyTorch's CopySlices)."""
        if not isinstance(value, Tensor):
            value = _unwrap_scalar(value) if not isinstance(value, (list, tuple)) else \
                np.asarray(value, self._data.dtype)
        _inplace(self, OPS["index_put"], (value,), {"key": _index_key(key)})

    # ---- more in-place ops ------------------------------------------------------------
    def pow_(self, exponent):
        return _inplace(self, _POW, (exponent,))

    def clamp_(self, min=None, max=None):
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if min is not None:
            _inplace(self, OPS["clamp_min"], (min,))
        if max is not None:
            _inplace(self, OPS["clamp_max"], (max,))
        return self

    clip_ = clamp_

    def exp_(self):
        return _inplace(self, OPS["exp"], ())

    def sigmoid_(self):
        return _inplace(self, OPS["sigmoid"], ())

    def relu_(self):
        return _inplace(self, OPS["relu"], ())

    def neg_(self):
        return _inplace(self, _NEG, ())

    def abs_(self):
        return _inplace(self, OPS["abs"], ())

    def sqrt_(self):
        return _inplace(self, OPS["sqrt"], ())

    def copy_(self, src, non_blocking=False):
        if not isinstance(src, Tensor):
            raise TypeError(f"copy_(): argument 'src' must be Tensor, not {type(src).__name__}")
        return _inplace(self, OPS["copy"], (src,))

    def uniform_(self, a=0.0, b=1.0, generator=None):
        return self._fill_random(lambda gen, shape: gen.uniform(a, b, shape), generator)

    def normal_(self, mean=0.0, std=1.0, generator=None):
        return self._fill_random(lambda gen, shape: gen.normal(mean, std, shape), generator)

    def _fill_random(self, draw, generator):
        from .factories import _RandomState
        if STATE.grad_enabled and self._requires_grad and self._record is None:
            raise RuntimeError(_LEAF_INPLACE)   # before drawing: a failed op changes nothing
        values = draw(generator or _RandomState.generator, self._data.shape)
        return _inplace(self, OPS["fill"], (), {"value": values.astype(self._data.dtype)})

    # ---- linear algebra and comparisons of whole tensors ----------------------------------
    def mv(self, vec):
        if self._data.ndim != 2 or not isinstance(vec, Tensor) or vec._data.ndim != 1:
            raise RuntimeError(f"vector + matrix @ vector expected, got "
                               f"{self._data.ndim}, {getattr(vec, 'ndim', 0)}")
        return apply(OPS["matmul"], (self, vec))

    def outer(self, vec2):
        if self._data.ndim != 1 or vec2._data.ndim != 1:
            raise RuntimeError(f"outer: expected 1D tensors, but got {self._data.ndim}D and "
                               f"{vec2._data.ndim}D")
        return self.reshape(-1, 1) * vec2

    ger = outer

    def equal(self, other):
        return self._data.shape == other._data.shape and bool(np.all(self._data == other._data))

    def allclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return bool(np.allclose(self._data, other._data, rtol=rtol, atol=atol,
                                equal_nan=equal_nan))

    def isclose(self, other, rtol=1e-05, atol=1e-08, equal_nan=False):
        return _wrap(np.isclose(self._data, _to_array(other), rtol=rtol, atol=atol,
                                equal_nan=equal_nan))


def _as_tensor(x, what):
    if not isinstance(x, Tensor):
        raise TypeError(f"{what}(): argument 'other' must be Tensor, not {type(x).__name__}")
    return x


def _var_params(dim, unbiased, keepdim, correction):
    if isinstance(dim, bool):           # var(x, False): the old (input, unbiased) signature
        dim, unbiased = None, dim
    if correction is None:
        correction = 1 if unbiased is None or unbiased else 0
    return {"dim": dim, "keepdim": keepdim, "correction": correction}


def _index_key(key):
    """A Tensor index becomes its ndarray (a 0-d integer one an int: x[t] selects)."""
    if isinstance(key, tuple):
        return tuple(_index_key(k) for k in key)
    if isinstance(key, Tensor):
        a = key._data
        if a.ndim == 0 and a.dtype.kind in "iu":
            return int(a)
        if a.dtype.kind not in "iub":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return a
    if isinstance(key, list):
        return np.asarray([k.item() if isinstance(k, Tensor) else k for k in key])
    return key


class _ReturnType(tuple):
    """torch.return_types.max(values=..., indices=...): a named pair."""
    _name = ""

    def __new__(cls, values, indices):
        return tuple.__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])

    def __repr__(self):
        return (f"torch.return_types.{self._name}(\nvalues={self[0]!r},\n"
                f"indices={self[1]!r})")


class return_types:
    max = type("max", (_ReturnType,), {"_name": "max", "__slots__": ()})
    min = type("min", (_ReturnType,), {"_name": "min", "__slots__": ()})


class _LegacyTensorType(type):
    """tape.FloatTensor & co: constructors of tensors of one dtype; isinstance checks dtype."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj._data.dtype == cls._legacy_dtype

    def __repr__(cls):
        return f"<class 'torch.{cls.__name__}'>"


def _legacy(name, np_dtype):
    def __new__(cls, *args, **kwargs):
        return Tensor(*args, dtype=np.dtype(np_dtype), **kwargs)
    return _LegacyTensorType(name, (), {"__new__": __new__, "_legacy_dtype": np.dtype(np_dtype)})


FloatTensor = _legacy("FloatTensor", np.float32)
DoubleTensor = _legacy("DoubleTensor", np.float64)
LongTensor = _legacy("LongTensor", np.int64)
IntTensor = _legacy("IntTensor", np.int32)
BoolTensor = _legacy("BoolTensor", np.bool_)
ByteTensor = _legacy("ByteTensor", np.uint8)


class _HookHandle:
    __slots__ = ("hooks", "hook")

    def __init__(self, hooks, hook):
        self.hooks = hooks
        self.hook = hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


class AccumulateGrad:
    """What next_functions shows for a leaf (PyTorch's node that accumulates into .grad)."""

    def __init__(self, variable):
        self.variable = variable

    def name(self):
        return "torch::autograd::AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad object at {hex(id(self))}>"


_ADD, _SUB, _MUL, _DIV, _POW, _NEG = (OPS[n] for n in ("add", "sub", "mul", "div", "pow", "neg"))
_GT, _LT, _GE, _LE, _EQ, _NE = (OPS[n] for n in ("gt", "lt", "ge", "le", "eq", "ne"))

for _op in OPS.values():
    _op.record_type = record_type(_op.backward_name)
    _op.record_type.op = _op
ops.bind_tensor_type(Tensor, apply)

from . import lane as _lane   # noqa: E402  (lane builds on Tensor and _wrap above)
from . import engine as _engine   # noqa: E402  (so does the engine)
_lane.attach(OPS)
