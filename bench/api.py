"""The workloads written once against PyTorch's API; run by tape (`import tape as torch`) and
by PyTorch itself, so both execute the same Python.

Each builder returns `step(out=None)`: one training step (or one forward+backward); when `out`
is a dict it receives the loss and the gradients (copied before they are cleared), which the
smoke test compares across peers.  step returns the loss tensor so a caller can keep the graph
alive (the memory measurement does).
"""
from . import data


def _np(t):
    return t.detach().numpy().copy()


def builders(variant):
    if variant == "tape":
        import tape as T
    else:
        import torch as T
        if variant == "torch-1t":
            T.set_num_threads(1)
    return {
        "legendre": lambda **kw: legendre(T, **kw),
        "twolayer": lambda **kw: twolayer(T, **kw),
        "chain": lambda **kw: chain(T, **kw),
        "sigmoid4m": lambda **kw: sigmoid_sq(T, **kw),
        "elementwise": lambda **kw: elementwise(T, **kw),
    }


def legendre(T, n=2000):
    """PyTorch's polynomial_custom_function tutorial: y = a + b * P3(c + d * x), SGD."""

    class LegendrePolynomial3(T.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    P3 = LegendrePolynomial3.apply
    xd, yd = data.legendre(n)
    x, y = T.from_numpy(xd), T.from_numpy(yd)
    params = [T.full((), v, dtype=T.float32, requires_grad=True) for v in data.LEGENDRE_INIT]
    a, b, c, d = params
    lr = data.LEGENDRE_LR

    def step(out=None):
        y_pred = a + b * P3(c + d * x)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        if out is not None:
            out.update(loss=loss.item(), grads=[_np(p.grad) for p in params])
        with T.no_grad():
            for p in params:
                p -= lr * p.grad
                p.grad = None
        return loss
    return step


def twolayer(T, N=64, D_in=1000, H=100, D_out=10):
    """PyTorch's two-layer-net tutorial: relu by clamp(min=0), manual SGD under no_grad."""
    xd, yd, w1d, w2d = data.twolayer(N, D_in, H, D_out)
    x, y = T.from_numpy(xd), T.from_numpy(yd)
    w1 = T.from_numpy(w1d).requires_grad_()
    w2 = T.from_numpy(w2d).requires_grad_()
    lr = data.TWOLAYER_LR

    def step(out=None):
        nonlocal w1, w2   # `w1 -= ...` rebinds the name (to the same tensor, updated in place)
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        loss.backward()
        if out is not None:
            out.update(loss=loss.item(), grads=[_np(w1.grad), _np(w2.grad)])
        with T.no_grad():
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
        return loss
    return step


def chain(T, n_ops=20, size=3):
    """n_ops elementwise ops on `size` elements, then backward: the per-op overhead."""
    x = T.from_numpy(data.chain_x(size)).requires_grad_()
    g = T.ones(size)
    table = {"mul_x": lambda y: y * x, "add": lambda y: y + 0.5,
             "sin": lambda y: y.sin(), "tanh": lambda y: y.tanh()}
    fns = [table[name] for name in data.chain_ops(n_ops)]

    def step(out=None):
        y = x
        for f in fns:
            y = f(y)
        y.backward(g)
        if out is not None:
            out.update(loss=_np(y), grads=[_np(x.grad)])
        x.grad = None
        return y
    return step


def sigmoid_sq(T, n=4_000_000):
    """sum(sigmoid(x * w + b) ** 2) with scalar w, b: bandwidth-bound forward+backward."""
    x = T.from_numpy(data.sigmoid_x(n))
    w = T.tensor(data.SIGMOID_W, requires_grad=True)
    b = T.tensor(data.SIGMOID_B, requires_grad=True)

    def step(out=None):
        loss = T.sigmoid(x * w + b).pow(2).sum()
        loss.backward()
        if out is not None:
            out.update(loss=loss.item(), grads=[_np(w.grad), _np(b.grad)])
        w.grad = None
        b.grad = None
        return loss
    return step


def elementwise(T, n=1000):
    """z = x * y forward, z.backward(g): one elementwise op and its two VJPs."""
    xd, yd = data.elementwise(n)
    x = T.from_numpy(xd).requires_grad_()
    y = T.from_numpy(yd).requires_grad_()
    g = T.ones(n)

    def step(out=None):
        z = x * y
        z.backward(g)
        if out is not None:
            out.update(loss=_np(z), grads=[_np(x.grad), _np(y.grad)])
        x.grad = None
        y.grad = None
        return z
    return step
