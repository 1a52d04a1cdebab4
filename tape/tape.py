"""The Wengert tape: records of op applications, the thread-local tape, and grad mode.

Records are appended in execution order, so the tape's order is a topological order and
backward walks it in reverse without sorting a graph.  The tape holds its records weakly: a
record lives while a tensor that can still reach it lives (tensor -> record -> input records),
so a loop that builds graphs and drops them runs in flat memory.
"""
import functools
import itertools
import os
import sys
import threading
import weakref

import ops

_next_seq = itertools.count().__next__   # global, so records of several threads still order


def NO_BLOCK():
    """Tape.lane_f32/lane_f64 when no block is open: called like the weakref it stands for."""
    return None


class Tape:
    """One thread's records, weakly held, in execution order."""
    __slots__ = ("records", "compact_at", "replaying", "lane_f32", "lane_f64", "lane_chunks")

    def __init__(self):
        self.records = []
        self.compact_at = 4096
        self.replaying = 0   # > 0 while a backward walks this tape: indices must not move
        # The open lane blocks (tape/lane.py), weakly: a block lives only while its values
        # do.  Held strongly, an open block would collect the ops of every later statement,
        # and chain each discarded graph to the next through them (a leak in a loop that
        # never calls backward).  NO_BLOCK: none open.
        self.lane_f32 = self.lane_f64 = NO_BLOCK
        self.lane_chunks = {}   # dtype -> (buffer, first free offset) for the next lane block

    def append(self, record):
        """A record; it closes the open lane blocks, so a lane op that reads its result goes
        into a later block (the tape stays in topological order)."""
        if self.lane_f32 is not NO_BLOCK or self.lane_f64 is not NO_BLOCK:
            self.close_lane()
        self.append_block(record)

    def close_lane(self):
        """Close the open lane blocks; the next block continues the buffer after them (never
        over them: detached views of their values may still be read)."""
        for ref in (self.lane_f32, self.lane_f64):
            blk = ref()
            if blk is not None:
                blk.close()
        self.lane_f32 = self.lane_f64 = NO_BLOCK

    def append_block(self, entry):
        records = self.records
        records.append(weakref.ref(entry))
        if len(records) >= self.compact_at and not self.replaying:
            self.records = [r for r in records if r() is not None]
            self.compact_at = max(4096, 2 * len(self.records))


class _ThreadState(threading.local):
    grad_enabled = True

    def __init__(self):
        self.tape = Tape()


STATE = _ThreadState()



class Version:
    """A version counter shared by a tensor and its views; in-place ops bump it."""
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


class Record:
    """One op application on the tape; also the tensor's `grad_fn` (its class is named as
    PyTorch names the node, e.g. MulBackward0).

    edges[i]: where input i's gradient goes: (record, output index), (leaf tensor, 0), or None.
    inputs[i]: what the VJP reads for input i: the saved Tensor, an InputMeta, or a scalar.
    versions: (Version, value at save time, shape, dtype) per saved tensor, checked before use
    (shape and dtype name the tensor in the error).
    """
    __slots__ = ("seq", "edges", "inputs", "versions", "out", "out_meta", "params", "saves",
                 "released", "hooks", "retained", "trace", "__weakref__")
    op = None          # set on each op's subclass
    # None: the engine runs op's VJPs.  Records of autograd.Function applications override it
    # with python_backward(grads, create_graph) -> one gradient per edge.
    python_backward = None

    def __init__(self, edges, inputs, versions, out, out_meta, params, saves):
        self.seq = _next_seq()
        self.edges = edges
        self.inputs = inputs
        self.versions = versions
        self.out = out
        self.out_meta = out_meta
        self.params = params
        self.saves = saves
        self.released = False
        self.hooks = None
        self.retained = None
        STATE.tape.append(self)

    def name(self):
        return type(self).__name__

    @property
    def next_functions(self):
        from .tensor import AccumulateGrad, Tensor
        return tuple((None, 0) if e is None else
                     (AccumulateGrad(e[0]), 0) if isinstance(e[0], Tensor) else
                     (e[0].node(e[1]), 0) if not isinstance(e[0], Record) else   # a lane block
                     (e[0], e[1])
                     for e in self.edges)

    def register_hook(self, fn):
        raise NotImplementedError("hooks on grad_fn nodes are not supported; use "
                                  "Tensor.register_hook")

    def __repr__(self):
        return f"<{type(self).__name__} object at {hex(id(self))}>"


_record_types = {}


def record_type(name):
    """The Record subclass named like PyTorch's node (one class per name, created once)."""
    cls = _record_types.get(name)
    if cls is None:
        cls = _record_types[name] = type(name, (Record,), {"__slots__": ()})
    return cls


# ---- anomaly mode ------------------------------------------------------------------------
# Global, as PyTorch's.  While it is on, Record.__init__ is swapped for a version that also
# remembers the user's frame; while it is off the per-op path is exactly the plain one (not
# even a flag test).  The engine reads `anomaly_enabled` once per record it replays.

anomaly_enabled = False
anomaly_check_nan = True
_LIBRARY_DIRS = tuple(os.path.dirname(os.path.abspath(m)) + os.sep
                      for m in (__file__, ops.__file__))
_plain_init = Record.__init__


def _user_frame():
    """(file, line, function) of the first caller outside tape/ and ops/."""
    f = sys._getframe(1)
    while f is not None and f.f_code.co_filename.startswith(_LIBRARY_DIRS):
        f = f.f_back
    return None if f is None else (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def _traced_init(self, *args):
    _plain_init(self, *args)
    self.trace = _user_frame()


def set_anomaly_enabled(enabled, check_nan=True):
    global anomaly_enabled, anomaly_check_nan
    anomaly_enabled = bool(enabled)
    anomaly_check_nan = bool(check_nan)
    Record.__init__ = _traced_init if anomaly_enabled else _plain_init
    lane = sys.modules.get("tape.lane")
    if lane is not None:
        lane.refresh()


def is_anomaly_enabled():
    return anomaly_enabled


def is_anomaly_check_nan_enabled():
    return anomaly_check_nan


# ---- grad mode ---------------------------------------------------------------------------

def is_grad_enabled():
    return STATE.grad_enabled


class _GradMode:
    """Base of no_grad / enable_grad / set_grad_enabled: context manager and decorator."""
    mode = True

    def __enter__(self):
        self.prev = STATE.grad_enabled
        STATE.grad_enabled = self.mode

    def __exit__(self, exc_type, exc, tb):   # named, not *exc: no tuple per with-block
        STATE.grad_enabled = self.prev
        return False

    def __call__(self, func):
        mode = self.mode

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            prev = STATE.grad_enabled
            STATE.grad_enabled = mode
            try:
                return func(*args, **kwargs)
            finally:
                STATE.grad_enabled = prev
        return wrapper


class no_grad(_GradMode):
    """Nothing inside is recorded: results do not require grad."""
    mode = False

    def __new__(cls, func=None):
        # object.__new__, not super(): `with no_grad()` in an SGD loop is on the hot path
        # (637 -> 519 ns per with-block with the named __exit__ arguments)
        self = object.__new__(cls)
        # `@no_grad` without parentheses decorates directly, as PyTorch allows.
        return self if func is None or not callable(func) else self(func)


class enable_grad(_GradMode):
    mode = True

    def __new__(cls, func=None):
        self = object.__new__(cls)
        return self if func is None or not callable(func) else self(func)


class set_grad_enabled(_GradMode):
    """Sets the mode at once (usable as a plain call), restores it on leaving a with-block."""

    def __init__(self, mode):
        self.prev = STATE.grad_enabled
        self.mode = bool(mode)
        STATE.grad_enabled = self.mode

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        STATE.grad_enabled = self.prev
        return False

    def __call__(self, func):
        STATE.grad_enabled = self.prev   # as a decorator, the mode applies inside func only
        return _GradMode.__call__(self, func)


class inference_mode(no_grad):
    def __new__(cls, mode=True):
        self = object.__new__(cls)
        self.mode = not mode
        return self
