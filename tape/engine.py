"""The reverse replay: backward() and autograd.grad().

Walk the thread's tape from its end towards its start; each record that has a pending output
gradient runs its VJPs, sums the results back to each input's shape, and passes them on along
its edges.  Leaves accumulate into .grad at the end.  Without create_graph the VJPs run on
ndarrays, unrecorded (elementwise ops in one fused kernel per input); with it they run on
Tensors under grad mode, so the backward pass is itself on the tape.
"""
import linecache
import sys
import warnings

import numpy as np

from ops.broadcast import sum_to_array
from ops import OPS, InputMeta

from . import lane as _lane
from .lane import Block
from . import tape as _tape
from .tape import STATE
from .tensor import Tensor, _wrap, check_view_is_current

FREED = ("Trying to backward through the graph a second time (or directly access saved tensors "
         "after they have already been freed). Saved intermediate values of the graph are freed "
         "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
         "backward through the graph a second time or if you need to access saved tensors after "
         "calling backward.")


def _modified_error(version, expected, meta):
    shape, dtype = meta
    from ._format import legacy_type_name
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: [{legacy_type_name(dtype)} {list(shape)}] is at version {version}; "
        f"expected version {expected} instead. Hint: enable anomaly detection to find the "
        f"operation that failed to compute its gradient, with "
        f"torch.autograd.set_detect_anomaly(True).")


def check_saved(rec):
    """Before a record's saved tensors are read: not freed, and not modified in place since."""
    if rec.released:
        raise RuntimeError(FREED)
    for counter, value, shape, dtype in rec.versions:
        if counter.value != value:
            raise _modified_error(counter.value, value, (shape, dtype))


def _fit(g, shape, dtype, create_graph):
    """Sum a gradient back over broadcast axes and cast it to the input's dtype."""
    if create_graph:
        if g.shape != shape:
            g = OPS["sum_to"](g, shape=shape)
        if g.dtype.np != dtype:
            g = g.to(dtype)
        return g
    if g.shape != shape:
        g = sum_to_array(g, shape)
    if g.dtype != dtype:
        g = g.astype(dtype)
    return g


def _unshared(array):
    """Whether `array` owns its memory and nothing but the caller's one local variable refers
    to it: a fresh kernel result may become a leaf's .grad as it is; a gradient that add
    passed to both inputs, a seed the user still holds, or a view must be copied first.
    Call it from the frame that holds that variable, before passing the array on."""
    return array.base is None and sys.getrefcount(array) <= _SOLE_OWNER


def _sole_owner_count():
    """What _unshared's getrefcount reads when its caller's one local holds the array (the
    interpreter's own references vary between Python versions, so it is measured)."""
    probe = np.empty(1)
    return _count_in_callee(probe)


def _count_in_callee(array):   # called as _unshared is
    return sys.getrefcount(array)


_SOLE_OWNER = _sole_owner_count()


def _run_hooks(hooks, g, create_graph):
    for hook in list(hooks):
        result = hook(g if create_graph else _wrap(g))
        if result is not None:
            g = result if create_graph else result._data
    return g


def _input_grads(rec, grads, create_graph):
    """The gradient for each input of `rec` (None where no edge or no gradient)."""
    op = rec.op
    if rec.saves:
        check_saved(rec)
    n_out = len(rec.out_meta)
    if create_graph:
        if rec.out is not None:
            out = _wrap(rec.out, True)
            out._record = rec
        else:
            out = InputMeta(*rec.out_meta[0]) if n_out == 1 else None
        g = grads[0] if n_out == 1 else grads
        result = []
        for i, edge in enumerate(rec.edges):
            result.append(None if edge is None else op.vjps[i](g, out, *rec.inputs, **rec.params))
        return result
    inputs = [a._data if isinstance(a, Tensor) else a for a in rec.inputs]
    g = grads[0] if n_out == 1 else grads
    out = rec.out
    fused = op.fused_vjp
    if out is None and n_out == 1 and fused is None:
        out = InputMeta(*rec.out_meta[0])   # the VJP may read the output's shape, not values
    result = []
    for i, edge in enumerate(rec.edges):
        if edge is None:
            result.append(None)
        elif fused is not None:
            result.append(fused(i, g, out, *inputs))
        else:
            result.append(op.vjps[i](g, out, *inputs, **rec.params))
    return result


def _check_nan(rec, grads):
    """Anomaly mode: PyTorch's error for a NaN gradient, and where the forward op was created."""
    for k, g in enumerate(grads):
        if g is None:
            continue
        a = np.asarray(g._data if isinstance(g, Tensor) else g)
        if a.dtype.kind not in "fc" or not np.isnan(a).any():
            continue
        trace = getattr(rec, "trace", None)   # None: recorded while anomaly mode was off
        where = ""
        if trace is not None:
            file, line, function = trace
            warnings.warn(f"Error detected in {rec.name()}. Traceback of forward call that caused "
                          f"the error:\n  File \"{file}\", line {line}, in {function}\n    "
                          f"{linecache.getline(file, line).strip()}\n", UserWarning, stacklevel=4)
            where = f" The forward op was created at {file}:{line} (in {function})."
        raise RuntimeError(f"Function '{rec.name()}' returned nan values in its {k}th output."
                           + where)


def _plus(a, b):
    """a + b, two gradients (ndarrays, or Tensors with create_graph).  numpy sums two 0-d
    arrays to a numpy scalar, which must not become a Tensor's data: ops take it for a Python
    number (a float64 0-d gradient times 3 came out float32)."""
    total = a + b
    return np.asarray(total) if isinstance(total, np.generic) else total


def _zeros(meta, create_graph):
    z = np.zeros(meta[0], meta[1])
    return _wrap(z) if create_graph else z


def run_backward(roots, retain_graph, create_graph, capture=None, accumulate=True):
    """roots: [(tensor, gradient)], gradients as ndarrays (Tensors with create_graph).

    capture: {id(tensor): tensor} whose gradients autograd.grad returns instead of
    accumulating; returns {id(tensor): gradient} for them.
    """
    pending = {}     # record -> [gradient per output]
    lane_pending = {}  # lane block -> its gradients (LaneGradients; with create_graph
                       # {row: Tensor})
    leaves = {}      # id(leaf) -> [leaf, gradient]
    captured = {}
    capture_points = {}
    lane_captures = {}   # lane block -> {row: [key]}
    if capture:
        for key, t in capture.items():
            rec = t._record
            if rec is None:
                continue
            if type(rec) is Block:
                lane_captures.setdefault(rec, {}).setdefault(t._out_index, []).append(key)
            else:
                capture_points.setdefault(rec, []).append((t._out_index, key))

    def send(edge, g):
        node, idx = edge
        if isinstance(node, Tensor):   # a leaf (Tensor or a subclass such as nn.Parameter)
            entry = leaves.get(id(node))
            if entry is None:
                leaves[id(node)] = [node, g]
            else:
                entry[1] = _plus(entry[1], g)
            return
        if type(node) is Block:   # a lane value: into its block's gradients
            state = lane_pending.get(node)
            if create_graph:
                if state is None:
                    state = lane_pending[node] = {}
                prev = state.get(idx)
                state[idx] = g if prev is None else prev + g
            else:
                if state is None:
                    state = lane_pending[node] = _lane.LaneGradients(node)
                state.add(node, idx, g)
            return
        slots = pending.get(node)
        if slots is None:
            slots = pending[node] = [None] * len(node.out_meta)
        slots[idx] = g if slots[idx] is None else _plus(slots[idx], g)

    for t, g in roots:
        send((t._record, t._out_index) if t._record is not None else (t, 0), g)

    def process(rec):
        grads = pending.pop(rec)
        if rec.hooks:
            for idx, hooks in rec.hooks.items():
                if grads[idx] is not None:
                    grads[idx] = _run_hooks(hooks, grads[idx], create_graph)
        if rec.retained:
            for idx, ref in rec.retained.items():
                t = ref()
                if t is not None and grads[idx] is not None:
                    g = grads[idx]
                    _retain(t, g, create_graph)
        if rec in capture_points:
            for idx, key in capture_points[rec]:
                captured[key] = grads[idx]
        if rec.python_backward is not None:
            # A record with its own backward (autograd.Function) gets the raw gradients: it
            # decides itself whether missing ones become zeros (set_materialize_grads).
            in_grads = rec.python_backward(grads, create_graph)
        else:
            for k, g in enumerate(grads):
                if g is None:
                    grads[k] = _zeros(rec.out_meta[k], create_graph)
            in_grads = _input_grads(rec, grads, create_graph)
        if _tape.anomaly_enabled and _tape.anomaly_check_nan:
            _check_nan(rec, in_grads)
        for edge, g in zip(rec.edges, in_grads):
            if edge is None or g is None:
                continue
            node, idx = edge
            if isinstance(node, Tensor):
                shape, dtype = node._data.shape, node._data.dtype
            elif type(node) is Block:
                shape, dtype = node.shapes[idx], node.dtype
            else:
                shape, dtype = node.out_meta[idx]
            if create_graph or g.shape != shape or g.dtype != dtype:
                g = _fit(g, shape, dtype, create_graph)   # unbroadcast, cast back
            send(edge, g)
        if not retain_graph and rec.saves:
            rec.inputs = None
            rec.out = None
            rec.released = True

    def process_block(blk):
        state = lane_pending.pop(blk)
        if create_graph:
            _lane_graph_replay(blk, state, send, retain_graph, lane_captures.get(blk, {}),
                               captured)
            return
        ver = _lane.current_versions(blk)
        inspect = None
        if _tape.anomaly_enabled and _tape.anomaly_check_nan:
            def inspect(row, grads):
                _check_nan(blk.node(row), grads)
        hi = blk.n_rows
        if blk.hooks or blk.retained or lane_captures:
            # Rows whose gradient Python must see (hooks, retain_grad, autograd.grad inputs)
            # split the replay: rows after them first, then the hook, then the rest.
            stops = set(blk.hooks or ()) | set(blk.retained or ()) | set(
                lane_captures.get(blk, ()))
            for row in sorted(stops, reverse=True):
                _lane.replay(blk, state, row + 1, hi, ver, retain_graph, inspect)
                hi = row + 1
                _lane_stop(blk, state, row, lane_captures.get(blk, {}).get(row, ()), captured)
        _lane.replay(blk, state, 0, hi, ver, retain_graph, inspect)
        slotted = _lane.slot_gradients(blk, state) if blk.slots else ()
        live = state.live
        for row, (_, edge, _) in blk.externals.items():
            if edge is not None and live[row]:
                send(edge, state.of(blk, row))
        for edge, g in slotted:
            send(edge, g)

    tape = STATE.tape
    tape.close_lane()   # later ops start new blocks: each replay is bounded
    tape.replaying += 1
    prev_mode = STATE.grad_enabled
    STATE.grad_enabled = create_graph
    try:
        records = tape.records
        for i in range(len(records) - 1, -1, -1):
            if not pending and not lane_pending:
                break
            rec = records[i]()
            if rec is None:
                continue
            if rec in pending:
                process(rec)
            elif rec in lane_pending:
                process_block(rec)
        # Records made on another thread's tape are not on this one: finish in tape order.
        while pending or lane_pending:
            last = max(list(pending) + list(lane_pending), key=lambda r: r.seq)
            if last in pending:
                process(last)
            else:
                process_block(last)
    finally:
        STATE.grad_enabled = prev_mode
        tape.replaying -= 1

    for key in list(leaves):
        leaf, g = leaves.pop(key)   # g's one reference now: this frame's variable
        if leaf._hooks:
            g = _run_hooks(leaf._hooks, g, create_graph)
        if key in (capture or ()):
            captured[key] = g
            continue
        if accumulate:
            # not inside the call below: its argument list would hold g while _unshared reads
            unshared = not create_graph and _unshared(g)
            _accumulate_grad(leaf, g, create_graph, unshared)
    return captured


def _accumulate_grad(leaf, g, create_graph, unshared):
    """leaf.grad += g (AccumulateGrad): the first gradient becomes .grad itself when nothing
    else refers to it (`unshared`: the caller's _unshared(g)), later ones are added in place."""
    if create_graph:
        leaf._grad = g if leaf._grad is None else leaf._grad + g
    elif leaf._grad is None:
        leaf._grad = _wrap(g if unshared else np.array(g, copy=True))
    elif leaf._grad._requires_grad:
        leaf._grad = _wrap(_plus(leaf._grad._data, g))
    else:
        leaf._grad._data += g                          # in place after the first backward


def _one_block_backward(root, g, retain_graph):
    """run_backward for the commonest small case, without its general machinery (measured:
    14 -> 11 us on the 20-op chain's backward): one root, a value of a lane block without hooks or
    retain_grad, every import of which comes from a leaf (or needs no gradient), no
    create_graph, no autograd.grad capture, anomaly mode off.  False when that does not hold
    (checked before anything changes), and the caller takes the general path."""
    blk = root._record
    if blk.hooks or blk.retained or blk.imports_records:
        return False
    externals = blk.externals
    STATE.tape.close_lane()
    state = _lane.LaneGradients(blk)
    state.add(blk, root._out_index, g)
    _lane.replay(blk, state, 0, blk.n_rows, _lane.current_versions(blk), retain_graph)
    live = state.live
    leaves = {}     # id(leaf) -> [leaf, gradient]: one leaf imported twice gets their sum
    for row, (_, edge, _) in externals.items():
        if edge is not None and live[row]:
            leaf = edge[0]
            entry = leaves.get(id(leaf))
            if entry is None:
                leaves[id(leaf)] = [leaf, state.of(blk, row)]
            else:
                entry[1] = _plus(entry[1], state.of(blk, row))
    if blk.slots:
        for (leaf, _), g in _lane.slot_gradients(blk, state):
            entry = leaves.get(id(leaf))
            if entry is None:
                leaves[id(leaf)] = [leaf, g]
            else:
                entry[1] = _plus(entry[1], g)
    for key in list(leaves):
        leaf, g = leaves.pop(key)   # g's one reference now: this frame's variable
        if leaf._hooks:
            g = _run_hooks(leaf._hooks, g, False)
        unshared = _unshared(g)   # as in run_backward: before the call, not inside it
        _accumulate_grad(leaf, g, False, unshared)
    return True


def _retain(t, g, create_graph):
    """retain_grad: a non-leaf's .grad accumulates over backward calls, as a leaf's does."""
    if t._grad is not None:
        t._grad = t._grad + (g if create_graph else _wrap(g))
    else:
        t._grad = g if create_graph else _wrap(np.array(g, copy=True))


def _lane_stop(blk, state, row, capture_keys, captured):
    """Hooks, retain_grad and autograd.grad captures of the lane value made by `row`."""
    if not state.live[row]:
        return
    g = state.of(blk, row)
    hooks = (blk.hooks or {}).get(row)
    if hooks:
        g = _run_hooks(hooks, g, False)
        state.set(blk, row, g)
    ref = (blk.retained or {}).get(row)
    if ref is not None and ref() is not None:
        _retain(ref(), g, False)
    for key in capture_keys:
        captured[key] = np.array(g, copy=True)


def _lane_graph_replay(blk, grads, send, retain_graph, captures, captured):
    """create_graph=True through a lane block: each row's VJPs run on Tensors, recorded, so
    the gradient is itself differentiable.  grads: {row: Tensor}."""
    ver = _lane.current_versions(blk)
    rows = blk.prog[:blk.n_rows].tolist()
    externals = blk.externals
    buf = blk.buf

    def value(row, off, n):
        """The Tensor an operand was: the imported tensor, or a lane value (as a view of the
        buffer with the block as its record, so gradients reach the block again)."""
        if row in externals:
            return externals[row][0]
        t = _wrap(buf[off:off + n].reshape(blk.shapes[row]), True)
        t._record, t._out_index = blk, row
        return t

    for i in range(len(rows) - 1, -1, -1):
        code, out, n, a, sa, ra, va, b, sb, rb, vb, flags = rows[i]
        g = grads.pop(i, None)
        if g is None or code == _lane.IMPORT:
            if g is not None:
                send(externals[i][1], g)
            continue
        hooks = (blk.hooks or {}).get(i)
        if hooks:
            g = _run_hooks(hooks, g, True)
        ref = (blk.retained or {}).get(i)
        if ref is not None and ref() is not None:
            _retain(ref(), g, True)
        for key in captures.get(i, ()):
            captured[key] = g
        if code == _lane.FUNCTION:
            inspect = (lambda row, gs: _check_nan(blk.node(row), gs)) if (
                _tape.anomaly_enabled and _tape.anomaly_check_nan) else None
            for src, gk in _lane.function_gradients(blk, i, g, True, retain_graph, inspect):
                prev = grads.get(src)
                grads[src] = gk if prev is None else prev + gk
            continue
        status = _lane.check_row(blk, i, ver)
        if status:
            _lane.raise_status(blk, status, ver)
        slot = blk.slots.get(i) if blk.slots else None   # a 0-d leaf or constant operand
        stale = _lane.stale_slot(blk, i)
        if stale is not None:
            raise _modified_error(*stale, ((), blk.dtype))
        op = OPS[_lane.K.LANE_OP_NAMES[code]]
        operands = [(a, sa, ra, flags & _lane.NEED_A),
                    (b, sb, rb, flags & _lane.NEED_B)][:_lane.N_INPUTS[code]]
        args = [value(src, off, rows[src][2]) if src >= 0 else
                slot[0] if slot is not None else buf[off].item()
                for off, stride, src, _ in operands]
        out_t = value(i, out, n)
        for k, (off, stride, src, need) in enumerate(operands):
            if not need:
                continue
            gk = op.vjps[k](g, out_t, *args)
            if _tape.anomaly_enabled and _tape.anomaly_check_nan:
                _check_nan(blk.node(i), [None] * k + [gk])
            if src < 0:   # the slot's leaf: it wants a gradient (need), summed to its shape
                send(slot[1], _fit(gk, (), blk.dtype, True))
                continue
            if gk.shape != blk.shapes[src]:
                gk = OPS["sum_to"](gk, shape=blk.shapes[src])
            prev = grads.get(src)
            grads[src] = gk if prev is None else prev + gk
        if not retain_graph and _lane.row_saves(blk, i):
            blk.prog[i, _lane.K.FLAGS] |= _lane.RELEASED


def _as_tuple(x):
    if x is None:
        return None
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _seeds(outputs, grad_outputs, create_graph):
    roots = []
    for i, out in enumerate(outputs):
        if out._base is not None and out._requires_grad:
            check_view_is_current(out)
        if not out._requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have "
                               f"a grad_fn")
        g = grad_outputs[i] if grad_outputs is not None else None
        if g is None:
            if out._data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            shape = out._data.shape
            # np.ones is a Python function (empty + copyto): 3x np.array's cost for a 0-d seed
            g = np.array(1, out._data.dtype) if shape == () else np.ones(shape, out._data.dtype)
            g = _wrap(g) if create_graph else g
        else:
            if not isinstance(g, Tensor):
                g = Tensor(g, dtype=out.dtype) if not np.isscalar(g) else _wrap(
                    np.asarray(g, dtype=out._data.dtype))
            if g._data.shape != out._data.shape:
                from .tensor import Size
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{Size(g._data.shape)!r} and output[{i}] has a shape of "
                                   f"{Size(out._data.shape)!r}.")
            if g._data.dtype != out._data.dtype:
                g = g.to(out.dtype)   # as PyTorch's engine: a seed takes its output's dtype
            if not create_graph:
                g = g._data
        roots.append((out, g))
    return roots


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    tensors = _as_tuple(tensors)
    grad_tensors = _as_tuple(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    roots = _seeds(tensors, grad_tensors, create_graph)
    if inputs is not None:
        inputs = _as_tuple(inputs)
        capture = {id(t): t for t in inputs}
        grads = run_backward(roots, retain_graph, create_graph, capture=capture, accumulate=False)
        for t in inputs:
            g = grads.get(id(t))
            if g is None:
                continue
            g = g if create_graph else _wrap(np.array(g, copy=True))
            t._grad = g if t._grad is None else t._grad + g
        return
    if (len(roots) == 1 and not create_graph and type(roots[0][0]._record) is Block
            and not _tape.anomaly_enabled and _one_block_backward(*roots[0], retain_graph)):
        return
    run_backward(roots, retain_graph, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         only_inputs=True, allow_unused=None, is_grads_batched=False, materialize_grads=False):
    outputs = _as_tuple(outputs)
    single_input = isinstance(inputs, Tensor)
    inputs = _as_tuple(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    for t in inputs:
        if not t._requires_grad:
            raise RuntimeError("One of the differentiated Tensors does not require grad")
    roots = _seeds(outputs, _as_tuple(grad_outputs), create_graph)
    captured = run_backward(roots, retain_graph, create_graph,
                            capture={id(t): t for t in inputs}, accumulate=False)
    result = []
    for i, t in enumerate(inputs):
        g = captured.get(id(t))
        if g is None:
            if materialize_grads:
                g = np.zeros(t._data.shape, t._data.dtype)
            elif not allow_unused:
                raise RuntimeError(f"The differentiated Tensor at index {i} appears to not have "
                                   f"been used in the graph. Set allow_unused=True if this is the "
                                   f"desired behavior.")
            else:
                result.append(None)
                continue
        if isinstance(g, Tensor):
            result.append(g)
        else:
            result.append(_wrap(np.array(g, copy=True)))
    return tuple(result)
