"""Optimizer update kernels (numba, cached): one pass over a parameter, in place.

Imported only by tape.optim on the first step(), so `import tape` does not import numba.
"""
import math

from numba import njit


@njit(cache=True)
def sgd_step(p, g, buf, lr, momentum, dampening, weight_decay, nesterov, first):
    """PyTorch's SGD: d = g + wd p; buf = momentum buf + (1 - dampening) d (buf = d at first)."""
    for i in range(p.size):
        d = g[i] + weight_decay * p[i]
        if momentum != 0.0:
            if first:
                b = d
            else:
                b = momentum * buf[i] + (1.0 - dampening) * d
            buf[i] = b
            if nesterov:
                d = d + momentum * b
            else:
                d = b
        p[i] -= lr * d


@njit(cache=True)
def adam_step(p, g, m, v, vmax, lr, beta1, beta2, eps, weight_decay, step, amsgrad):
    """PyTorch's Adam (L2 weight decay added to the gradient, bias-corrected moments)."""
    bc1 = 1.0 - beta1 ** step
    bc2_sqrt = math.sqrt(1.0 - beta2 ** step)
    step_size = lr / bc1
    for i in range(p.size):
        gi = g[i] + weight_decay * p[i]
        m[i] = beta1 * m[i] + (1.0 - beta1) * gi
        v[i] = beta2 * v[i] + (1.0 - beta2) * gi * gi
        vv = v[i]
        if amsgrad:
            if vmax[i] < vv:
                vmax[i] = vv
            vv = vmax[i]
        p[i] -= step_size * m[i] / (math.sqrt(vv) / bc2_sqrt + eps)
