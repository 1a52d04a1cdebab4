"""torch.autograd.functional: jacobian, hessian, vjp, jvp, hvp, vhp, built on autograd.grad.

Return conventions follow PyTorch: a Tensor where func took/returned a Tensor, tuples where it
took/returned tuples; results are detached unless create_graph=True.
"""
import numpy as np

from ops import OPS

from ..engine import grad as _grad
from ..tape import enable_grad
from ..tensor import Tensor, _wrap

__all__ = ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"]


def _as_tuple(x, arg_name, fn_name):
    is_tuple = isinstance(x, (tuple, list))
    xs = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(xs):
        if not isinstance(t, Tensor):
            if is_tuple:
                raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a "
                                f"tuple of Tensors but the value at index {i} has type "
                                f"{type(t).__name__}.")
            raise TypeError(f"The {arg_name} given to {fn_name} must be either a Tensor or a "
                            f"tuple of Tensors but the given {arg_name} has type "
                            f"{type(t).__name__}.")
    return is_tuple, xs


def _prepare(inputs, create_graph):
    """Fresh leaves (or, with create_graph, graph-connected aliases) that require grad."""
    out = []
    for t in inputs:
        if create_graph and t._requires_grad:
            out.append(OPS["view"](t, shape=t._data.shape))
        else:
            out.append(t.detach().requires_grad_(True))
    return tuple(out)


def _post(xs, create_graph):
    return tuple(x if create_graph or x is None else x.detach() for x in xs)


def _unpack(xs, is_tuple):
    return xs if is_tuple else xs[0]


def _validate_v(v, other, name):
    if len(v) != len(other):
        raise RuntimeError(f"v is a tuple of invalid length: should be {len(other)} but got "
                           f"{len(v)}.")
    for i, (a, b) in enumerate(zip(v, other)):
        if a._data.shape != b._data.shape:
            raise RuntimeError(f"Entry {i} in v has invalid size: should be "
                               f"{list(b._data.shape)} but got {list(a._data.shape)}.")


def _grads_or_zeros(outputs, inputs, grad_outputs, create_graph, strict, what):
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o._requires_grad]
    grads = [None] * len(inputs)
    if pairs:
        grads = list(_grad([o for o, _ in pairs], inputs, [g for _, g in pairs],
                           retain_graph=True, create_graph=create_graph, allow_unused=True))
    return _zeros_for_missing(grads, inputs, strict)


def _zeros_for_missing(grads, like, strict):
    """A gradient the graph did not reach is zeros shaped like like[i] (an error if strict)."""
    for i, g in enumerate(grads):
        if g is None:
            if strict:
                raise RuntimeError(f"The output of the user-provided function is independent "
                                   f"of input {i}. This is not allowed in strict mode.")
            grads[i] = _wrap(np.zeros(like[i]._data.shape, like[i]._data.dtype))
    return grads


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T J)."""
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "vjp")
        inputs = _prepare(inputs, create_graph)
        outputs = func(*inputs)
        is_outputs_tuple, outputs = _as_tuple(outputs, "outputs of the user-provided function",
                                              "vjp")
        if v is None:
            if len(outputs) != 1 or outputs[0]._data.size != 1:
                raise RuntimeError("The vector v can only be None if the user-provided "
                                   "function returns a single Tensor with a single element.")
            v = (_wrap(np.ones(outputs[0]._data.shape, outputs[0]._data.dtype)),)
        else:
            _, v = _as_tuple(v, "v", "vjp")
            _validate_v(v, outputs, "vjp")
        grads = _grads_or_zeros(outputs, inputs, v, create_graph, strict, "vjp")
    return (_unpack(_post(outputs, create_graph), is_outputs_tuple),
            _unpack(_post(grads, create_graph), is_inputs_tuple))


def _inputs_and_v(inputs, v, create_graph, fn_name):
    """jvp/hvp/vhp: inputs as a prepared tuple, and v (ones for one single-element input)."""
    is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", fn_name)
    inputs = _prepare(inputs, create_graph)
    if v is None:
        if len(inputs) != 1 or inputs[0]._data.size != 1:
            raise RuntimeError("The vector v can only be None if the input to the "
                               "user-provided function is a single Tensor with a single "
                               "element.")
        v = (_wrap(np.ones(inputs[0]._data.shape, inputs[0]._data.dtype)),)
    else:
        _, v = _as_tuple(v, "v", fn_name)
        _validate_v(v, inputs, fn_name)
    return is_inputs_tuple, inputs, v


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), J v), by the double-backward trick: J v = d/du <u, J v>... = grad of
    (u^T J) v with respect to u."""
    with enable_grad():
        is_inputs_tuple, inputs, v = _inputs_and_v(inputs, v, create_graph, "jvp")
        is_outputs_tuple, outputs = _as_tuple(func(*inputs),
                                              "outputs of the user-provided function", "jvp")
        us = tuple(_wrap(np.zeros(o._data.shape, o._data.dtype), True) for o in outputs)
        pairs = [(o, u) for o, u in zip(outputs, us) if o._requires_grad]
        gin = []
        if pairs:
            gin = _grad([o for o, _ in pairs], inputs, [u for _, u in pairs], create_graph=True,
                        allow_unused=True)
        terms = [(g, vi) for g, vi in zip(gin, v) if g is not None and g._requires_grad]
        result = [None] * len(outputs)
        if terms:
            result = list(_grad([g for g, _ in terms], us, [vi for _, vi in terms],
                                create_graph=create_graph, allow_unused=True))
        result = _zeros_for_missing(result, outputs, strict)
    return (_unpack(_post(outputs, create_graph), is_outputs_tuple),
            _unpack(_post(result, create_graph), is_outputs_tuple))


def _stack_rows(rows, lead_shape, inp, create_graph):
    """Jacobian block of shape lead_shape + inp.shape from one gradient per lead element."""
    in_shape = inp._data.shape
    if not create_graph or not any(r._requires_grad for r in rows):
        data = np.stack([r._data for r in rows]) if rows else np.zeros((0,) + in_shape)
        return _wrap(data.reshape(tuple(lead_shape) + in_shape).astype(inp._data.dtype))
    # Recorded: sum_j row_j * e_j with e_j the one-hot of lead element j (no stack op needed).
    n_lead, n_in = len(lead_shape), len(in_shape)
    total = None
    for j, r in enumerate(rows):
        e = np.zeros(tuple(lead_shape) + (1,) * n_in, inp._data.dtype)
        e.reshape(-1)[j] = 1
        term = OPS["reshape"](r, shape=(1,) * n_lead + in_shape) * _wrap(e)
        total = term if total is None else total + term
    return total


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """d outputs / d inputs: out.shape + in.shape per (output, input) pair."""
    if strategy != "reverse-mode":
        raise NotImplementedError("tape's jacobian supports strategy='reverse-mode' only")
    with enable_grad():
        is_inputs_tuple, inputs = _as_tuple(inputs, "inputs", "jacobian")
        inputs = _prepare(inputs, create_graph)
        is_outputs_tuple, outputs = _as_tuple(func(*inputs),
                                              "outputs of the user-provided function",
                                              "jacobian")
        result = []
        for k, out in enumerate(outputs):
            rows = [[] for _ in inputs]
            for j in range(out._data.size):
                onehot = np.zeros(out._data.size, out._data.dtype)
                onehot[j] = 1
                grads = [None] * len(inputs)
                if out._requires_grad:
                    grads = _grad(out, inputs, _wrap(onehot.reshape(out._data.shape)),
                                  retain_graph=True, create_graph=create_graph,
                                  allow_unused=True)
                for i, g in enumerate(grads):
                    if g is None:
                        if strict:
                            raise RuntimeError(f"Output {k} of the user-provided function is "
                                               f"independent of input {i}. This is not allowed "
                                               f"in strict mode.")
                        g = _wrap(np.zeros(inputs[i]._data.shape, inputs[i]._data.dtype))
                    rows[i].append(g)
            blocks = tuple(_post((_stack_rows(rows[i], out._data.shape, inp, create_graph),),
                                 create_graph)[0] for i, inp in enumerate(inputs))
            result.append(_unpack(blocks, is_inputs_tuple))
    return _unpack(tuple(result), is_outputs_tuple)


def _scalar_output(func, inputs, fn_name):
    out = func(*inputs)
    is_tuple, outs = _as_tuple(out, "outputs of the user-provided function", fn_name)
    if is_tuple or not isinstance(out, Tensor):
        raise RuntimeError(f"The function given to {fn_name} should return a single Tensor")
    if out._data.size != 1:
        raise RuntimeError(f"The Tensor returned by the function given to {fn_name} should "
                           f"contain a single element")
    return out


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """Second derivatives of a scalar func: in_i.shape + in_j.shape blocks."""
    is_inputs_tuple, _ = _as_tuple(inputs, "inputs", "hessian")

    def jac_func(*inp):
        out = _scalar_output(func, inp, "hessian")
        if not out._requires_grad:
            grads = [None] * len(inp)
        else:
            grads = list(_grad(out, inp, create_graph=True, allow_unused=True))
        grads = _zeros_for_missing(grads, inp, strict)
        return tuple(grads) if is_inputs_tuple else grads[0]

    return jacobian(jac_func, inputs, create_graph=create_graph, strict=strict)


def _second_order(func, inputs, v, create_graph, strict, fn_name):
    with enable_grad():
        is_inputs_tuple, inputs, v = _inputs_and_v(inputs, v, create_graph, fn_name)
        out = _scalar_output(func, inputs, fn_name)
        first = [None] * len(inputs)
        if out._requires_grad:
            first = _grad(out, inputs, create_graph=True, allow_unused=True)
        terms = [(g, vi) for g, vi in zip(first, v) if g is not None and g._requires_grad]
        zeros = [_wrap(np.zeros(t._data.shape, t._data.dtype)) for t in inputs]
        result = list(zeros)
        if terms:
            grads = _grad([g for g, _ in terms], inputs, [vi for _, vi in terms],
                          create_graph=create_graph, allow_unused=True)
            result = [z if g is None else g for g, z in zip(grads, zeros)]
        elif strict:
            raise RuntimeError("The output of the user-provided function is independent of "
                               "input 0. This is not allowed in strict mode.")
    return (_post((out,), create_graph)[0], _unpack(_post(result, create_graph),
                                                    is_inputs_tuple))


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), v^T H)."""
    return _second_order(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """(func(inputs), H v).  H is symmetric for the twice-differentiable functions tape
    differentiates, so H v is computed as v^T H (one double backward instead of two)."""
    return _second_order(func, inputs, v, create_graph, strict, "hvp")
