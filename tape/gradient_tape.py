"""GradientTape: TensorFlow's tape API as a view over tape's one thread-local Wengert tape.

    with tape.GradientTape() as g:
        g.watch(x)
        y = x * x
    g.gradient(y, x)      # 2x

Recording is tape's own: a GradientTape only decides which leaves count as sources (watch)
and runs the same reverse replay as autograd.grad, without touching any .grad.
"""
import threading

import numpy as np

from .engine import run_backward
from .tape import STATE, no_grad
from .tensor import Tensor, _wrap


class _Active(threading.local):
    def __init__(self):
        self.tapes = []


_ACTIVE = _Active()


def _flatten(structure):
    if isinstance(structure, Tensor):
        return [structure]
    if isinstance(structure, dict):
        return [t for v in structure.values() for t in _flatten(v)]
    if isinstance(structure, (list, tuple)):
        return [t for v in structure for t in _flatten(v)]
    raise TypeError(f"expected a Tensor or a nested list/tuple/dict of Tensors, got "
                    f"{type(structure).__name__}")


def _pack(structure, flat):
    """Rebuild `structure` with the values of `flat` (an iterator) in place of its Tensors."""
    if isinstance(structure, Tensor):
        return next(flat)
    if isinstance(structure, dict):
        return {k: _pack(v, flat) for k, v in structure.items()}
    return type(structure)(_pack(v, flat) for v in structure)


class GradientTape:
    def __init__(self, persistent=False, watch_accessed_variables=True):
        self._persistent = persistent
        self._watch_accessed = watch_accessed_variables
        self._switched = []     # leaves watch() made require grad, reset on exit
        self._used = False
        self._recording = False

    def __enter__(self):
        self._recording = True
        _ACTIVE.tapes.append(self)
        return self

    def __exit__(self, *exc):
        self._recording = False
        if self in _ACTIVE.tapes:
            _ACTIVE.tapes.remove(self)
        # Ops after the block are not recorded for watched constants, as in TensorFlow; the
        # records already made keep their edges to these leaves.
        if _ACTIVE.tapes:
            _ACTIVE.tapes[-1]._switched.extend(self._switched)   # an outer tape still records
        else:
            for t in self._switched:
                t._requires_grad = False
        self._switched = []
        return False

    def watch(self, tensor):
        """Differentiate with respect to `tensor` (or a nested structure of them)."""
        for t in _flatten(tensor):
            if not t._requires_grad:
                if t._data.dtype.kind not in "fc":
                    continue    # TensorFlow ignores integer sources: their gradient is None
                t.requires_grad_(True)
                self._switched.append(t)

    def stop_recording(self):
        """A block whose operations are not recorded."""
        if not self._recording:
            raise ValueError("Tape.stop_recording() can only be called inside a tape's "
                             "context (with GradientTape() as tape: ...).")
        return no_grad()

    def reset(self):
        self._used = False

    def gradient(self, target, sources, output_gradients=None,
                 unconnected_gradients="none"):
        """d target / d sources, in the structure of `sources`; None where unconnected."""
        if self._used and not self._persistent:
            raise RuntimeError("A non-persistent GradientTape can only be used to compute one "
                               "set of gradients (or jacobians)")
        self._used = True
        targets = _flatten(target)
        srcs = _flatten(sources)
        out_grads = (_flatten(output_gradients) if output_gradients is not None
                     else [None] * len(targets))
        # Inside another (or this) tape's block the gradient computation is itself recorded,
        # so an outer tape can differentiate it (nested tapes give higher derivatives).
        create_graph = bool(_ACTIVE.tapes) and STATE.grad_enabled
        roots = []
        for t, g in zip(targets, out_grads):
            if not t._requires_grad:
                continue
            if g is None:
                g = np.ones(t._data.shape, t._data.dtype)
            else:
                g = np.asarray(g._data if isinstance(g, Tensor) else g, t._data.dtype)
            roots.append((t, _wrap(g) if create_graph else g))
        captured = {}
        if roots:
            captured = run_backward(roots, self._persistent or create_graph, create_graph,
                                    capture={id(s): s for s in srcs}, accumulate=False)
        result = []
        for s in srcs:
            g = captured.get(id(s))
            if g is None:
                if unconnected_gradients == "zero":
                    g = np.zeros(s._data.shape, s._data.dtype)
                else:
                    result.append(None)
                    continue
            result.append(g if isinstance(g, Tensor) else _wrap(np.array(g, copy=True)))
        return _pack(sources, iter(result))
