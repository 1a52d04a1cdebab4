"""numpy with hand-written gradients: the same workloads with no autodiff at all, so the
difference to tape is what recording and replaying a tape costs."""
import numpy as np

from . import data


def builders(variant=None):
    return {"legendre": legendre, "twolayer": twolayer, "chain": chain,
            "sigmoid4m": sigmoid_sq, "elementwise": elementwise}


def legendre(n=2000):
    x, y = data.legendre(n)
    params = [np.float32(v) for v in data.LEGENDRE_INIT]
    lr = np.float32(data.LEGENDRE_LR)

    def step(out=None):
        a, b, c, d = params
        z = c + d * x
        p3 = 0.5 * (5 * z ** 3 - 3 * z)
        r = a + b * p3 - y
        loss = (r * r).sum()
        gy = 2 * r
        gz = gy * b * (1.5 * (5 * z * z - 1))
        grads = [gy.sum(), (gy * p3).sum(), gz.sum(), (gz * x).sum()]
        if out is not None:
            out.update(loss=float(loss), grads=[np.array(g) for g in grads])
        for i in range(4):
            params[i] = params[i] - lr * grads[i]
        return loss
    return step


def twolayer(N=64, D_in=1000, H=100, D_out=10):
    x, y, w1, w2 = data.twolayer(N, D_in, H, D_out)
    lr = np.float32(data.TWOLAYER_LR)

    def step(out=None):
        nonlocal w1, w2   # `w1 -= ...` updates in place but rebinds the name
        h = x @ w1
        h_relu = np.maximum(h, 0)
        r = h_relu @ w2 - y
        loss = (r * r).sum()
        g = 2 * r
        gw2 = h_relu.T @ g
        gh = g @ w2.T
        gh[h < 0] = 0
        gw1 = x.T @ gh
        if out is not None:
            out.update(loss=float(loss), grads=[gw1.copy(), gw2.copy()])
        w1 -= lr * gw1
        w2 -= lr * gw2
        return loss
    return step


def chain(n_ops=20, size=3):
    x = data.chain_x(size)
    names = data.chain_ops(n_ops)

    def step(out=None):
        saved = []                  # what each op's gradient reads
        y = x
        for name in names:
            if name == "mul_x":
                saved.append(y)
                y = y * x
            elif name == "add":
                saved.append(None)
                y = y + np.float32(0.5)
            elif name == "sin":
                saved.append(y)
                y = np.sin(y)
            else:
                y = np.tanh(y)
                saved.append(y)
        g = np.ones_like(y)
        gx = np.zeros_like(x)
        for name, s in zip(reversed(names), reversed(saved)):
            if name == "mul_x":
                gx += g * s          # d(y*x)/dx, x being the leaf
                g = g * x
            elif name == "sin":
                g = g * np.cos(s)
            elif name == "tanh":
                g = g * (1 - s * s)
        gx += g                      # the chain starts at x itself
        if out is not None:
            out.update(loss=y.copy(), grads=[gx])
        return y
    return step


def sigmoid_sq(n=4_000_000):
    x = data.sigmoid_x(n)
    w, b = np.float32(data.SIGMOID_W), np.float32(data.SIGMOID_B)

    def step(out=None):
        s = 1 / (1 + np.exp(-(x * w + b)))
        loss = (s * s).sum()
        gz = 2 * s * s * (1 - s)
        gw, gb = (gz * x).sum(), gz.sum()
        if out is not None:
            out.update(loss=float(loss), grads=[np.array(gw), np.array(gb)])
        return loss
    return step


def elementwise(n=1000):
    x, y = data.elementwise(n)
    g = np.ones(n, np.float32)

    def step(out=None):
        z = x * y
        gx, gy = g * y, g * x
        if out is not None:
            out.update(loss=z.copy(), grads=[gx, gy])
        return z
    return step


def copy_bandwidth(n, repeats=5):
    """Bytes per second of np.copyto at n float32 elements (the memory-traffic reference)."""
    import time
    src = np.ones(n, np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    reps = max(1, min(20_000, int(2e7 // n)))   # ~20 ms per repeat at every size
    best = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(reps):
            np.copyto(dst, src)
        best.append((time.perf_counter() - t) / reps)
    return 2 * src.nbytes / sorted(best)[len(best) // 2]
