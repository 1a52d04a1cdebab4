"""numba with one hand-fused kernel per workload: the practical limit for a CPU library.

Only the Legendre step and the 4M case have one; accumulations are in float64 so the sums
agree with numpy's pairwise float32 sums to ~1e-6.
"""
import numpy as np
from numba import njit

from . import data


def builders(variant=None):
    return {"legendre": legendre, "sigmoid4m": sigmoid_sq}


@njit(cache=True, fastmath=True)
def _legendre_step(x, y, params, grads, lr):
    a, b, c, d = params[0], params[1], params[2], params[3]
    loss = ga = gb = gc = gd = 0.0
    for i in range(x.shape[0]):
        z = c + d * x[i]
        p3 = 0.5 * (5.0 * z * z * z - 3.0 * z)
        r = a + b * p3 - y[i]
        loss += r * r
        gy = 2.0 * r
        gz = gy * b * 1.5 * (5.0 * z * z - 1.0)
        ga += gy
        gb += gy * p3
        gc += gz
        gd += gz * x[i]
    grads[0], grads[1], grads[2], grads[3] = ga, gb, gc, gd
    for k in range(4):
        params[k] -= lr * grads[k]
    return loss


def legendre(n=2000):
    x, y = data.legendre(n)
    params = np.array(data.LEGENDRE_INIT, np.float32)
    grads = np.zeros(4, np.float32)
    lr = np.float32(data.LEGENDRE_LR)

    def step(out=None):
        loss = _legendre_step(x, y, params, grads, lr)
        if out is not None:
            out.update(loss=float(loss), grads=[np.array(g) for g in grads])
        return loss
    return step


@njit(cache=True, fastmath=True)
def _sigmoid_sq(x, w, b):
    loss = gw = gb = 0.0
    for i in range(x.shape[0]):
        s = 1.0 / (1.0 + np.exp(-(x[i] * w + b)))
        loss += s * s
        gz = 2.0 * s * s * (1.0 - s)
        gw += gz * x[i]
        gb += gz
    return loss, gw, gb


def sigmoid_sq(n=4_000_000):
    x = data.sigmoid_x(n)
    w, b = np.float32(data.SIGMOID_W), np.float32(data.SIGMOID_B)

    def step(out=None):
        loss, gw, gb = _sigmoid_sq(x, w, b)
        if out is not None:
            out.update(loss=float(loss), grads=[np.array(gw), np.array(gb)])
        return loss
    return step
