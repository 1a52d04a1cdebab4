"""HIPS autograd peer: numpy traced by autograd (an eager tape in Python, like tape's)."""
import autograd.numpy as anp
import numpy as np
from autograd import make_vjp, value_and_grad
from autograd.extend import defvjp, primitive

from . import data


def builders(variant=None):
    return {"legendre": legendre, "twolayer": twolayer, "chain": chain,
            "sigmoid4m": sigmoid_sq, "elementwise": elementwise}


@primitive
def _p3(z):
    return 0.5 * (5 * z ** 3 - 3 * z)


defvjp(_p3, lambda ans, z: lambda g: g * 1.5 * (5 * z ** 2 - 1))


def _record(out, loss, grads):
    if out is not None:
        out.update(loss=np.array(loss).copy() if np.ndim(loss) else float(loss),
                   grads=[np.array(g) for g in grads])


def legendre(n=2000):
    x, y = data.legendre(n)
    params = [np.float32(v) for v in data.LEGENDRE_INIT]
    lr = np.float32(data.LEGENDRE_LR)

    def loss_fn(params):
        a, b, c, d = params
        return anp.sum((a + b * _p3(c + d * x) - y) ** 2)

    vg = value_and_grad(loss_fn)

    def step(out=None):
        loss, grads = vg(params)
        _record(out, loss, grads)
        for i in range(4):
            params[i] = params[i] - lr * grads[i]
        return loss
    return step


def twolayer(N=64, D_in=1000, H=100, D_out=10):
    x, y, w1, w2 = data.twolayer(N, D_in, H, D_out)
    lr = np.float32(data.TWOLAYER_LR)
    vg = value_and_grad(lambda p: anp.sum((anp.dot(anp.maximum(anp.dot(x, p[0]), 0), p[1])
                                            - y) ** 2))

    def step(out=None):
        loss, (g1, g2) = vg((w1, w2))
        _record(out, loss, [g1, g2])
        w1[...] -= lr * g1
        w2[...] -= lr * g2
        return loss
    return step


def chain(n_ops=20, size=3):
    x = data.chain_x(size)
    names = data.chain_ops(n_ops)
    table = {"add": lambda y: y + np.float32(0.5), "sin": anp.sin, "tanh": anp.tanh}

    def f(x):
        y = x
        for name in names:
            y = y * x if name == "mul_x" else table[name](y)
        return y

    vjp_of = make_vjp(f)
    g = np.ones(size, np.float32)

    def step(out=None):
        vjp, y = vjp_of(x)
        gx = vjp(g)
        _record(out, y, [gx])
        return y
    return step


def sigmoid_sq(n=4_000_000):
    x = data.sigmoid_x(n)
    wb = (np.float32(data.SIGMOID_W), np.float32(data.SIGMOID_B))
    vg = value_and_grad(lambda wb: anp.sum((1 / (1 + anp.exp(-(x * wb[0] + wb[1])))) ** 2))

    def step(out=None):
        loss, grads = vg(wb)
        _record(out, loss, grads)
        return loss
    return step


def elementwise(n=1000):
    x, y = data.elementwise(n)
    g = np.ones(n, np.float32)
    vjp_of = make_vjp(lambda xy: xy[0] * xy[1])

    def step(out=None):
        vjp, z = vjp_of((x, y))
        gx, gy = vjp(g)
        _record(out, z, [gx, gy])
        return z
    return step
