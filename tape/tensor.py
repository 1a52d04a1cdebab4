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
        v = t._version = Version()
    return v


def _to_array(x):
    return x._data if isinstance(x, Tensor) else x


def _unwrap_scalar(x):
    """Python scalars pass to kernels as they are; anything else must be a Tensor."""
    if isinstance(x, (int, float, bool, np.number, np.bool_)):
        return x
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"unsupported operand type: {type(x).__name__}")


def _record(op, args, params, outs, results):
    """Append the record of `op` applied to `args` that produced `outs` (all Tensors)."""
    mask = 0
    edges = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor) and a._requires_grad:
            mask |= 1 << i
            edges.append((a._record, a._out_index) if a._record is not None else (a, 0))
        else:
            edges.append(None)
    saved_idx, saves_out = op.save_plan(mask)
    inputs = []
    versions = []
    for i, a in enumerate(args):
        if isinstance(a, Tensor):
            if i in saved_idx:
                inputs.append(a)
                v = _version_of(a)
                versions.append((v, v.value))
            else:
                inputs.append(InputMeta(a._data.shape, a._data.dtype))
        else:
            inputs.append(a)
    single = op.n_outputs == 1
    if saves_out:
        for o in outs:
            v = _version_of(o)
            versions.append((v, v.value))
    out_meta = tuple((r.shape, r.dtype) for r in ((results,) if single else results))
    rec = op.record_type(tuple(edges), tuple(inputs), tuple(versions),
                         (results if saves_out else None), out_meta, params,
                         bool(saved_idx) or saves_out)
    for k, o in enumerate(outs):
        o._requires_grad = True
        o._record = rec
        o._out_index = k
    return rec


def apply(op, args, params=_EMPTY):
    """Run `op` on Tensors/scalars; record it when grad mode is on and an input needs grad."""
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
        for o in outs:
            o._version = _version_of(base)
            o._base = base._base if base._base is not None else base
    if STATE.grad_enabled and op.differentiable:
        for a in args:
            if isinstance(a, Tensor) and a._requires_grad:
                _record(op, args, params, outs, result)
                break
    return out


def _binary(op, a, b):
    """apply() for the arithmetic operators, without the generic argument handling."""
    if isinstance(b, Tensor):
        result = op.forward(a._data, b._data)
        out = _wrap(result)
        if (a._requires_grad or b._requires_grad) and STATE.grad_enabled and op.differentiable:
            _record(op, (a, b), _EMPTY, (out,), result)
        return out
    if not isinstance(b, (int, float, bool, np.number, np.bool_)):
        return NotImplemented
    result = op.forward(a._data, b)
    out = _wrap(result)
    if a._requires_grad and STATE.grad_enabled and op.differentiable:
        _record(op, (a, b), _EMPTY, (out,), result)
    return out


def _rbinary(op, a, b):
    """`scalar <op> tensor`: the scalar is the op's first argument."""
    if not isinstance(b, (int, float, bool, np.number, np.bool_)):
        return NotImplemented
    result = op.forward(b, a._data)
    out = _wrap(result)
    if a._requires_grad and STATE.grad_enabled and op.differentiable:
        _record(op, (b, a), _EMPTY, (out,), result)
    return out


def _unary(op, a):
    result = op.forward(a._data)
    out = _wrap(result)
    if a._requires_grad and STATE.grad_enabled and op.differentiable:
        _record(op, (a,), _EMPTY, (out,), result)
    return out


_LEAF_INPLACE = "a leaf Variable that requires grad is being used in an in-place operation."


def _inplace(self, op, args, params=_EMPTY):
    """self <- op(self, *args), recorded when needed: self's grad_fn becomes the new record."""
    recording = STATE.grad_enabled and (
        self._requires_grad or any(isinstance(a, Tensor) and a._requires_grad for a in args))
    if recording and self._record is None and self._requires_grad:
        raise RuntimeError(_LEAF_INPLACE)
    if recording and self._base is not None and self._base._requires_grad:
        if self._base._record is None:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")
        raise NotImplementedError(
            f"in-place {op.name} on a view of a tensor that requires grad is not supported yet")
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
                 "_base", "_hooks", "__weakref__")
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
        return self._record

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
        from .engine import backward
        backward((self,), None if gradient is None else (gradient,), retain_graph, create_graph,
                 inputs=inputs)

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
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return float(self.item())

    def __int__(self):
        if self._data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return int(self.item())

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
        elif isinstance(dtype, type) and issubclass(dtype, Tensor) and hasattr(dtype, "_legacy_dtype"):
            dtype = dtype._legacy_dtype
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
        out = apply(OPS["sum"], (self,), {"dim": dim, "keepdim": keepdim})
        return out if dtype is None else out.to(dtype)

    def mean(self, dim=None, keepdim=False):
        return apply(OPS["mean"], (self,), {"dim": dim, "keepdim": keepdim})

    def norm(self, p="fro", dim=None, keepdim=False):
        if p not in ("fro", 2, 2.0):
            raise NotImplementedError(f"norm with p={p!r}: only the 2-norm is implemented")
        return apply(OPS["norm"], (self,), {"dim": dim, "keepdim": keepdim})

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
