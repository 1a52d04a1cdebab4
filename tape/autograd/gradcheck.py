"""gradcheck / gradgradcheck: analytical Jacobians (one backward per output element) against
central finite differences, with PyTorch's tolerances, messages and return conventions."""
import warnings

import numpy as np

from ..engine import grad as _grad
from ..tensor import Tensor, _wrap


class GradcheckError(RuntimeError):
    """Raised by gradcheck/gradgradcheck when a check fails (a RuntimeError, as in PyTorch)."""


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _differentiable_outputs(outputs):
    return [o for o in outputs if isinstance(o, Tensor) and o._data.dtype.kind in "fc"]


def _numerical_jacobians(func, inputs, diff_idx, n_outputs, eps):
    """jac[i][k]: (numel of input i) x (numel of output k), column j = d out_k / d in_i[j]."""
    jacs = []
    for i in diff_idx:
        x = inputs[i]._data
        cols = [[] for _ in range(n_outputs)]
        for idx in np.ndindex(x.shape):
            orig = x[idx].copy()
            # Perturb in the input's own dtype, as PyTorch does (float32 inputs are rounded).
            x[idx] = orig - eps
            # Not under no_grad: func may itself differentiate (gradgradcheck's new_func).
            outa = [o._data.copy() for o in _differentiable_outputs(_as_tuple(func(*inputs)))]
            x[idx] = orig + eps
            outb = [o._data.copy() for o in _differentiable_outputs(_as_tuple(func(*inputs)))]
            x[idx] = orig
            for k in range(n_outputs):
                cols[k].append(((outb[k] - outa[k]).astype(np.float64) / (2 * eps)).reshape(-1))
        jacs.append([np.array(c).reshape(x.size, -1) if c else np.zeros((x.size, 0))
                     for c in cols])
    return jacs


def _analytical_jacobians(inputs, diff_idx, outputs):
    jacs = [[np.zeros((inputs[i]._data.size, o._data.size)) for o in outputs] for i in diff_idx]
    leaves = [inputs[i] for i in diff_idx]
    for k, out in enumerate(outputs):
        if not out._requires_grad:
            continue
        for j in range(out._data.size):
            onehot = np.zeros(out._data.size, out._data.dtype)
            onehot[j] = 1
            grads = _grad(out, leaves, _wrap(onehot.reshape(out._data.shape)),
                          retain_graph=True, allow_unused=True)
            for n, g in enumerate(grads):
                if g is not None:
                    jacs[n][k][:, j] = g._data.reshape(-1)
    return jacs


def _fail(message, raise_exception):
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradcheck(func, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              nondet_tol=0.0, check_undefined_grad=True, check_grad_dtypes=False,
              check_batched_grad=False, check_batched_forward_grad=False,
              check_forward_ad=False, check_backward_ad=True, fast_mode=False, masked=None):
    """True if func's backward agrees with finite differences for every differentiable input."""
    inputs = _as_tuple(inputs)
    diff_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t._requires_grad]
    if not diff_idx:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of them have requires_grad=True.")
    for i in diff_idx:
        if inputs[i]._data.dtype != np.float64:
            warnings.warn(f"Input #{i} requires gradient and is not a double precision floating "
                          f"point or complex. This check will likely fail if all the inputs are "
                          f"not of double precision floating point or complex. ")
    outputs = _differentiable_outputs(_as_tuple(func(*inputs)))
    numerical = _numerical_jacobians(func, inputs, diff_idx, len(outputs), eps)
    analytical = _analytical_jacobians(inputs, diff_idx, outputs)
    for n, i in enumerate(diff_idx):
        for k in range(len(outputs)):
            a, num = analytical[n][k], numerical[n][k]
            if not np.allclose(a, num, rtol=rtol, atol=atol):
                return _fail(f"Jacobian mismatch for output {k} with respect to input {i},\n"
                             f"numerical:{_wrap(num)!r}\nanalytical:{_wrap(a)!r}\n",
                             raise_exception)
    # Backward must be reentrant: the same grad_output twice gives the same gradient.
    again = _analytical_jacobians(inputs, diff_idx, outputs)
    for n in range(len(diff_idx)):
        for k in range(len(outputs)):
            if np.abs(again[n][k] - analytical[n][k]).max(initial=0.0) > nondet_tol:
                return _fail("Backward is not reentrant, i.e., running backward with same input "
                             "and grad_output multiple times gives different values, although "
                             "analytical gradient matches numerical gradient.The tolerance for "
                             f"nondeterminism was {nondet_tol}.", raise_exception)
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  gen_non_contig_grad_outputs=False, raise_exception=True, nondet_tol=0.0,
                  check_undefined_grad=True, check_grad_dtypes=False, check_batched_grad=False,
                  check_fwd_over_rev=False, check_rev_over_rev=True, fast_mode=False,
                  masked=False):
    """gradcheck of the map (inputs, grad_outputs) -> gradients of func (second derivatives)."""
    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        outputs = _differentiable_outputs(_as_tuple(func(*inputs)))
        rng = np.random.default_rng(0)   # fixed, so a failure reproduces
        grad_outputs = tuple(
            _wrap(rng.uniform(-1, 1, o._data.shape).astype(o._data.dtype), True)
            for o in outputs)
    else:
        grad_outputs = _as_tuple(grad_outputs)
    n_in = len(inputs)

    def new_func(*args):
        ins, gos = args[:n_in], args[n_in:]
        outs = _differentiable_outputs(_as_tuple(func(*ins)))
        diff = [t for t in ins if isinstance(t, Tensor) and t._requires_grad]
        pairs = [(o, g) for o, g in zip(outs, gos) if o._requires_grad]
        if not pairs:
            return ()
        grads = _grad([o for o, _ in pairs], diff, [g for _, g in pairs], create_graph=True,
                      allow_unused=True)
        return tuple(g for g in grads if g is not None)

    return gradcheck(new_func, inputs + tuple(grad_outputs), eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, nondet_tol=nondet_tol)
