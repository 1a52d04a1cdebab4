"""The shared gradient checker: tape's gradients against central finite differences.

check_grads(fn, *arrays) builds float64 leaves from the arrays, differentiates
sum(fn(*leaves) * w) for a fixed random weight w (so non-scalar outputs are covered), and
compares each leaf's gradient with central differences.  order=2 also checks the gradient of
the gradient (create_graph=True) against finite differences of the first gradient.
check_float32(fn, *arrays) compares float32 gradients with float64 ones.
Cube: a custom autograd.Function the tests share.
"""
import numpy as np

import tape

EPS = 1e-6


def _weights(shape, seed=0):
    return np.random.default_rng(seed).uniform(0.5, 1.5, size=shape)


def _scalar_objective(fn, arrays, dtype=np.float64):
    """Returns f(list of ndarrays) -> float, evaluated with tape under no_grad."""
    def f(values):
        with tape.no_grad():
            out = fn(*[tape.tensor(v.astype(dtype)) for v in values])
            w = _weights(out.shape)
            return float((out.double()._data * w).sum())
    return f


def numeric_grads(f, arrays, eps=EPS):
    grads = []
    for k, a in enumerate(arrays):
        g = np.zeros_like(a, dtype=np.float64)
        for idx in np.ndindex(a.shape):
            plus = [v.copy() for v in arrays]
            minus = [v.copy() for v in arrays]
            plus[k][idx] += eps
            minus[k][idx] -= eps
            g[idx] = (f(plus) - f(minus)) / (2 * eps)
        grads.append(g)
    return grads


def tape_grads(fn, arrays, dtype=np.float64, create_graph=False):
    leaves = [tape.tensor(np.asarray(a, dtype=dtype), requires_grad=True) for a in arrays]
    out = fn(*leaves)
    w = tape.tensor(_weights(out.shape).astype(out._data.dtype))
    total = (out * w).sum()
    grads = tape.autograd.grad(total, leaves, create_graph=create_graph, allow_unused=True)
    return leaves, grads


def check_grads(fn, *arrays, order=1, rtol=1e-5, atol=1e-6):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    f = _scalar_objective(fn, arrays)
    _, grads = tape_grads(fn, arrays)
    expected = numeric_grads(f, arrays)
    for k, (g, e) in enumerate(zip(grads, expected)):
        got = np.zeros_like(e) if g is None else g._data
        assert got.shape == e.shape, f"input {k}: gradient shape {got.shape}, expected {e.shape}"
        np.testing.assert_allclose(got, e, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {k} differs from finite differences")
    if order >= 2:
        # d/dx of <grad_k(x), v>, for a fixed v, against finite differences of that scalar.
        v = [_weights(a.shape, seed=1 + k) for k, a in enumerate(arrays)]

        def first_order_dot(*leaves):
            out = fn(*leaves)
            w = tape.tensor(_weights(out.shape).astype(out._data.dtype))
            gs = tape.autograd.grad((out * w).sum(), leaves, create_graph=True, allow_unused=True)
            total = None
            for g, vk in zip(gs, v):
                if g is not None:
                    term = (g * tape.tensor(vk)).sum()
                    total = term if total is None else total + term
            return total

        def f2(values):
            leaves = [tape.tensor(x, requires_grad=True) for x in values]
            total = first_order_dot(*leaves)
            return 0.0 if total is None else total.item()

        leaves = [tape.tensor(a, requires_grad=True) for a in arrays]
        total = first_order_dot(*leaves)
        if total is None or not total.requires_grad:
            second = [None] * len(arrays)
        else:
            second = tape.autograd.grad(total, leaves, allow_unused=True)
        expected2 = numeric_grads(f2, arrays)
        for k, (g, e) in enumerate(zip(second, expected2)):
            got = np.zeros_like(e) if g is None else g._data
            np.testing.assert_allclose(got, e, rtol=1e-4, atol=1e-5,
                                       err_msg=f"second-order gradient of input {k} differs")


def check_float32(fn, *arrays, rtol=1e-4, atol=1e-5):
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    leaves64, g64 = tape_grads(fn, arrays, np.float64)
    leaves32, g32 = tape_grads(fn, arrays, np.float32)
    out32 = fn(*[tape.tensor(a.astype(np.float32)) for a in arrays])
    out64 = fn(*[tape.tensor(a) for a in arrays])
    assert out32.dtype == tape.float32, f"float32 inputs gave {out32.dtype}"
    np.testing.assert_allclose(out32._data, out64._data, rtol=rtol, atol=atol)
    for k, (a, b) in enumerate(zip(g32, g64)):
        if a is None or b is None:
            assert a is None and b is None
            continue
        assert a.dtype == tape.float32, f"input {k}: float32 gradient came back as {a.dtype}"
        np.testing.assert_allclose(a._data, b._data, rtol=rtol, atol=atol)


class Cube(tape.autograd.Function):
    """x^3 with a backward written in tape ops: twice differentiable."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * 3 * x * x
