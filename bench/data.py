"""The inputs of every workload, as numpy arrays made afresh on each call (peers may update
them in place), so every peer starts from the same values."""
import math

import numpy as np

LEGENDRE_INIT = (0.0, -1.0, 0.0, 0.3)   # a, b, c, d as in PyTorch's polynomial tutorial
LEGENDRE_LR = 5e-6
TWOLAYER_LR = 1e-6
SIGMOID_W, SIGMOID_B = 0.5, 0.1


def legendre(n):
    x = np.linspace(-math.pi, math.pi, n, dtype=np.float32)
    return x, np.sin(x)


def twolayer(N, D_in, H, D_out):
    rng = np.random.default_rng(0)
    f = np.float32
    return (rng.standard_normal((N, D_in), f), rng.standard_normal((N, D_out), f),
            rng.standard_normal((D_in, H), f), rng.standard_normal((H, D_out), f))


def chain_x(size):
    return np.linspace(0.1, 0.9, size, dtype=np.float32)


def chain_ops(n_ops):
    """The op sequence of the chain: y*x, y+0.5, sin(y), tanh(y), repeated (stays bounded)."""
    return [("mul_x", "add", "sin", "tanh")[i % 4] for i in range(n_ops)]


def sigmoid_x(n):
    return np.random.default_rng(1).standard_normal(n, np.float32)


def elementwise(n):
    rng = np.random.default_rng(2)
    return rng.standard_normal(n, np.float32), rng.standard_normal(n, np.float32)
