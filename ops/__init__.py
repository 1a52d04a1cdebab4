"""The op table: every operation tape knows, each declared once with its forward and VJP.

    elementwise.py  scalar formulas -> numba kernels (forward + one fused backward per input):
                    arithmetic, exp/log/trig/hyperbolic, abs, clamp_min/max, maximum/minimum,
                    where, sign/floor/ceil/round (zero gradient), comparisons
    reductions.py   sum, mean, norm, var, std, amax/amin, max/min (whole and by dim), prod,
                    logsumexp, softmax, log_softmax; argmax/argmin, all/any (no gradient)
    linalg.py       dot, mm, matmul (batched, broadcasting)
    shape.py        view/reshape, expand, sum_to, transpose, t, permute, (un)squeeze, cat,
                    stack, slice/index (+ their scatter backward), index_put, copy, casts

OPS maps each name to its Op; NON_DIFFERENTIABLE lists the ones without a derivative.
This package never imports tape: tape binds its Tensor type in registry.bind_tensor_type.
"""
from . import elementwise, linalg, reductions, shape  # noqa: F401  (each registers its ops)
from .registry import NON_DIFFERENTIABLE, OPS, InputMeta, Op, bind_tensor_type

elementwise._attach_vjps()

__all__ = ["OPS", "NON_DIFFERENTIABLE", "Op", "InputMeta", "bind_tensor_type"]
