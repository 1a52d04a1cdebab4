"""torch.autograd.Function: user-defined forward/backward, recorded on the tape as one record.

The ctx passed to forward *is* the record (as in PyTorch, where ctx is the grad_fn node): its
class is `<Name>Backward`, a Record subclass whose `python_backward` calls the user's backward.
The engine knows nothing else about Functions.
"""
import functools

import numpy as np

from .. import lane as _lane
from ..engine import check_saved
from ..lane import SavedLaneValue
from ..tape import STATE, Record, no_grad
from ..tensor import Tensor, _version_of, _wrap

__all__ = ["Function", "FunctionCtx", "BackwardCFunction", "once_differentiable"]


class _SavedOutput:
    """Stands in for a saved output, so the record does not hold its own output (a cycle)."""
    __slots__ = ("index", "version")

    def __init__(self, index, version):
        self.index = index
        self.version = version


class FunctionCtx:
    """The methods forward may call on ctx."""
    __slots__ = ()

    def save_for_backward(self, *tensors):
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save variables, but argument "
                                f"{i} is of type {type(t).__name__}")
        self._to_save = tensors

    def mark_dirty(self, *tensors):
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors):
        self._non_differentiable = tensors

    def set_materialize_grads(self, value):
        self._materialize_grads = bool(value)


class BackwardCFunction(FunctionCtx, Record):
    """Base of the `<Name>Backward` record classes; instances have a __dict__ (any ctx attr).
    What forward may set on ctx starts as these class attributes (setting six instance
    attributes per apply cost more than reading a class's)."""
    _forward_cls = None
    _to_save = ()
    _dirty = ()
    _non_differentiable = ()
    _materialize_grads = True
    _recorded = False
    _output_tensor = ()    # per forward output: is it a Tensor
    # Recorded as a lane row (lane.function_row): a weak reference to its block, whose rows
    # its edges name (the block holds this ctx).  None: an ordinary record on the tape.
    _lane_block = None

    @property
    def saved_tensors(self):
        if not self._recorded:
            return tuple(self._to_save)
        check_saved(self)
        result = []
        for s in self.inputs:
            if isinstance(s, _SavedOutput):
                t = _wrap(self.out[s.index], True)
                t._record, t._out_index, t._version = self, s.index, s.version
                s = t
            elif type(s) is SavedLaneValue:
                t = _wrap(s.data, True)
                t._record, t._out_index, t._version = self._lane_block(), s.row, s.version
                s = t
            result.append(s)
        return tuple(result)

    @property
    def next_functions(self):
        if self._lane_block is None:
            return Record.next_functions.fget(self)
        blk = self._lane_block()
        return tuple((None, 0) if row is None or blk is None else (blk.node(row), 0)
                     for row in self.edges)

    @property
    def saved_variables(self):
        import warnings
        warnings.warn("'saved_variables' is deprecated; use 'saved_tensors'", DeprecationWarning)
        return self.saved_tensors

    def python_backward(self, grads, create_graph):
        # One argument per forward output: None for a non-tensor one; for a tensor output its
        # gradient (zeros if it got none, unless set_materialize_grads(False)).  One plain
        # loop: list comprehensions cost more than the one-output call they would serve.
        args = []
        k = 0
        for is_tensor in self._output_tensor:
            if not is_tensor:
                args.append(None)
                continue
            g = grads[k]
            if g is None and self._materialize_grads:
                shape, dtype = self.out_meta[k]
                g = np.zeros(shape, dtype)
            args.append(g if g is None or create_graph else _wrap(g))
            k += 1
        result = self._forward_cls.backward(self, *args)
        if not isinstance(result, tuple):
            result = (result,)
        n = len(self.edges)
        if len(result) != n:
            if len(result) > n and all(r is None for r in result[n:]):
                result = result[:n]
            else:
                raise RuntimeError(f"function {type(self).__name__} returned an incorrect "
                                   f"number of gradients (expected {n}, got {len(result)})")
        out = []
        for i, (g, edge, meta) in enumerate(zip(result, self.edges, self._input_meta)):
            if g is None:
                out.append(None)
                continue
            if meta is None:
                raise RuntimeError(f"function {type(self).__name__} returned a gradient "
                                   f"different than None at position {i + 1}, but the "
                                   f"corresponding forward input was not a Variable")
            if not isinstance(g, Tensor):
                raise RuntimeError(f"expected Variable or None (got {type(g).__name__}): "
                                   f"function {type(self).__name__} returned it at position "
                                   f"{i + 1}")
            shape = g._data.shape
            if shape != meta and not _expandable(meta, shape):
                raise RuntimeError(f"Function {type(self).__name__} returned an invalid "
                                   f"gradient at index {i} - got {list(shape)} but expected "
                                   f"shape compatible with {list(meta)}")
            out.append(None if edge is None else (g if create_graph else g._data))
        return out


def _expandable(shape, target):
    """Whether `shape` broadcasts to `target` (then the engine sums the gradient back)."""
    if shape == target:
        return True
    if len(shape) > len(target):
        return False
    return all(s == t or s == 1 for s, t in zip(shape[::-1], target[::-1]))


class Function:
    """Subclass with static forward(ctx, *args) and backward(ctx, *grad_outputs); call apply."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._backward_cls = type(cls.__name__ + "Backward", (BackwardCFunction,),
                                 {"_forward_cls": cls, "__module__": cls.__module__})

    def __call__(self, *args, **kwargs):
        raise RuntimeError("Legacy autograd function with non-static forward method is "
                           "deprecated. Please use new-style autograd function with static "
                           "forward method. (Example: "
                           "https://pytorch.org/docs/stable/autograd.html#torch.autograd.Function)")

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function.")

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement either the backward or vjp method for "
                                  "your custom autograd.Function to use it with backward mode "
                                  "AD.")

    vjp = backward

    @classmethod
    def apply(cls, *args, **kwargs):
        if cls is Function:
            raise RuntimeError("Function.apply must be called on a subclass of Function")
        ctx = object.__new__(cls._backward_cls)
        needs = []
        for a in args:
            needs.append(isinstance(a, Tensor) and a._requires_grad)
        ctx.needs_input_grad = tuple(needs)
        state = STATE
        grad_enabled = state.grad_enabled
        state.grad_enabled = False   # forward runs as under no_grad()
        try:
            if cls.setup_context is not Function.setup_context:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        finally:
            state.grad_enabled = grad_enabled
        if not (grad_enabled and any(ctx.needs_input_grad)):
            return outputs
        return _record(ctx, args, outputs)


def _record(ctx, args, outputs):
    """Turn ctx into the record of this application and attach it to the outputs."""
    if type(outputs) is Tensor and not ctx._dirty and not ctx._non_differentiable:
        if _lane.active:
            out = _lane.function_row(ctx, args, outputs)
            if out is not None:
                return out
        return _record_one(ctx, args, outputs)
    return _record_any(ctx, args, outputs)


def _edges(args):
    """Per input: where its gradient goes (None: nowhere); and its shape (None: not a Tensor)."""
    edges = []
    input_meta = []
    for a in args:
        if isinstance(a, Tensor):
            input_meta.append(a._data.shape)
            if a._requires_grad:
                edges.append((a._record, a._out_index) if a._record is not None else (a, 0))
                continue
        else:
            input_meta.append(None)
        edges.append(None)
    return tuple(edges), tuple(input_meta)


def _record_one(ctx, args, returned):
    """_record_any's steps for the commonest application, one Tensor output and nothing marked
    dirty or non-differentiable, without the sets and maps that several outputs need (an
    identity Function on 2,000 float32: apply 4.98-5.04 -> 4.06-4.21 us)."""
    edges, ctx._input_meta = _edges(args)
    out = returned
    is_input = False
    for a in args:
        if a is returned:   # an input returned as it is: the output is a new tensor on its buffer
            out = _wrap(returned._data)
            out._version = _version_of(returned)
            is_input = True
            break
    data = out._data
    ctx._output_tensor = (True,)
    saved, versions, keep_out = [], [], False
    for t in ctx._to_save:
        if t is None:
            saved.append(None)
            continue
        v = _version_of(t)   # an input returned as it is: its alias shares this Version
        d = t._data
        versions.append((v, v.value, d.shape, d.dtype))
        if t is returned and not is_input:
            saved.append(_SavedOutput(0, v))
            keep_out = True
        else:
            saved.append(t)
    Record.__init__(ctx, edges, tuple(saved), tuple(versions), (data,) if keep_out else None,
                    ((data.shape, data.dtype),), None, bool(saved))
    ctx._recorded = True
    if data.dtype.kind in "fc":
        out._requires_grad = True
        out._record = ctx
        out._out_index = 0
    return out


def _record_any(ctx, args, outputs):
    """_record for any outputs: Tensors, other values, tuples of them, marked dirty or
    non-differentiable.
    (Plain loops and lists throughout: generator expressions cost more than the loops they
    replace.  With apply's direct grad-mode switch, an identity Function on 2,000 float32
    measured 19-20 -> 11-14 us per apply.)"""
    single = not isinstance(outputs, tuple)
    outs = [outputs] if single else list(outputs)
    edges, input_meta = _edges(args)
    arg_ids = {id(a) for a in args if isinstance(a, Tensor)}
    dirty = {id(t) for t in ctx._dirty} if ctx._dirty else ()
    if dirty:
        for a in args:
            if (isinstance(a, Tensor) and id(a) in dirty and a._requires_grad
                    and a._record is None):
                raise RuntimeError("a leaf Variable that requires grad has been used in an "
                                   "in-place operation.")
    tensor_outs = []             # the Tensor outputs, in order (an input returned: an alias)
    out_index = {}               # id(output as forward returned it) -> its index in tensor_outs
    out_meta = []                # per Tensor output: (shape, dtype)
    is_tensor = []
    for k, o in enumerate(outs):
        if isinstance(o, Tensor):
            out_index[id(o)] = len(tensor_outs)
            if id(o) in arg_ids and id(o) not in dirty:
                # An input returned as it is: the output is a new tensor on the same buffer.
                alias = _wrap(o._data)
                alias._version = _version_of(o)
                outs[k] = o = alias
            tensor_outs.append(o)
            data = o._data
            out_meta.append((data.shape, data.dtype))
            is_tensor.append(True)
        else:
            is_tensor.append(False)
    ctx._output_tensor = tuple(is_tensor)

    saved, versions, keep_out = [], [], False
    for t in ctx._to_save:
        if t is None:
            saved.append(None)
            continue
        k = out_index.get(id(t))
        v = _version_of(tensor_outs[k] if k is not None else t)
        data = t._data
        versions.append((v, v.value, data.shape, data.dtype))
        if k is not None and id(t) not in arg_ids:
            saved.append(_SavedOutput(k, v))
            keep_out = True
        else:
            saved.append(t)
    ctx._input_meta = input_meta
    Record.__init__(ctx, edges, tuple(saved), tuple(versions),
                    tuple([o._data for o in tensor_outs]) if keep_out else None,
                    tuple(out_meta), None, bool(saved))
    ctx._recorded = True
    non_diff = ctx._non_differentiable
    non_diff = {id(t) for t in non_diff} if non_diff else ()
    k = 0
    for o in outputs if not single else (outputs,):   # as forward returned them (not aliases)
        if not isinstance(o, Tensor):
            continue
        out = tensor_outs[k]
        if id(o) not in non_diff and out._data.dtype.kind in "fc":
            out._requires_grad = True
            out._record = ctx
            out._out_index = k
        k += 1
    return outs[0] if single else tuple(outs)


class _DelayedError(Function):
    """Wraps the results of a once_differentiable backward: differentiating them raises."""

    @staticmethod
    def forward(ctx, x):
        return x.detach()

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError("trying to differentiate twice a function that was marked with "
                           "@once_differentiable")


def once_differentiable(fn):
    """backward runs without recording; asking for its derivative raises."""
    @functools.wraps(fn)
    def wrapper(ctx, *args):
        with no_grad():
            outputs = fn(ctx, *args)
        if not STATE.grad_enabled or not any(isinstance(a, Tensor) and a._requires_grad
                                             for a in args):
            return outputs
        single = not isinstance(outputs, tuple)
        outs = (outputs,) if single else outputs
        # As PyTorch's fake_requires_grad: a throwaway leaf gives the error node an edge.
        outs = tuple(_DelayedError.apply(_wrap(o._data, o._data.dtype.kind in "fc"))
                     if isinstance(o, Tensor) else o for o in outs)
        return outs[0] if single else outs
    return wrapper
