"""Products: dot, mm, matmul (BLAS through numpy; no hand-written GEMM loops)."""
import numpy as np

from .registry import OPS, defop

_TORCH_DTYPE_NAME = {"float32": "float", "float64": "double", "int64": "long", "bool": "bool"}


def _same_dtype(a, b, what):
    if a.dtype != b.dtype:
        raise RuntimeError(f"{what}: expected both arguments to have the same dtype, but got: "
                           f"{_TORCH_DTYPE_NAME.get(a.dtype.name, a.dtype.name)} != "
                           f"{_TORCH_DTYPE_NAME.get(b.dtype.name, b.dtype.name)}")


def _dot(a, b):
    if a.ndim != 1 or b.ndim != 1:
        raise RuntimeError(f"1D tensors expected, but got {a.ndim}D and {b.ndim}D tensors")
    if a.shape[0] != b.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{a.shape[0]}] and src "
                           f"[{b.shape[0]}] to have the same number of elements, but got "
                           f"{a.shape[0]} and {b.shape[0]} elements respectively")
    _same_dtype(a, b, "dot")
    return np.asarray(np.dot(a, b))


def _mm(a, b):
    if a.ndim != 2 or b.ndim != 2:
        raise RuntimeError(f"mm: expected 2D tensors, but got {a.ndim}D and {b.ndim}D "
                           f"(shapes {list(a.shape)} and {list(b.shape)})")
    if a.shape[1] != b.shape[0]:
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({a.shape[0]}x{a.shape[1]} and {b.shape[0]}x{b.shape[1]})")
    _same_dtype(a, b, "mm")
    return np.matmul(a, b)


def _matmul(a, b):
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    _same_dtype(a, b, "matmul")
    try:
        return np.asarray(np.matmul(a, b))
    except ValueError:
        ka = a.shape[-1]
        kb = b.shape[-2] if b.ndim > 1 else b.shape[0]
        if ka != kb:
            raise RuntimeError(
                f"mat1 and mat2 shapes cannot be multiplied ({'x'.join(map(str, a.shape))} and "
                f"{'x'.join(map(str, b.shape))})") from None
        raise RuntimeError(f"matmul: batch dimensions of shapes {list(a.shape)} and "
                           f"{list(b.shape)} cannot be broadcast") from None


def _matmul_vjp(which):
    """Gradient of matmul for input `which` (0: a, 1: b), any ranks >= 1, batch broadcasting."""
    def vjp(g, out, a, b):
        reshape, matmul, transpose, sum_to = (OPS["reshape"], OPS["matmul"], OPS["transpose"],
                                              OPS["sum_to"])
        a2 = a.shape if len(a.shape) > 1 else (1,) + tuple(a.shape)
        b2 = b.shape if len(b.shape) > 1 else tuple(b.shape) + (1,)
        g_shape = tuple(out.shape)
        if len(a.shape) == 1:
            g_shape = g_shape[:-1] + (1,) + g_shape[-1:] if len(b.shape) > 1 else g_shape + (1,)
        if len(b.shape) == 1:
            g_shape = g_shape + (1,)
        if g.shape != g_shape:
            g = reshape(g, shape=g_shape)
        if which == 0:
            bb = b if len(b.shape) > 1 else reshape(b, shape=b2)
            ga = matmul(g, transpose(bb, dim0=-1, dim1=-2))
            if ga.shape != a2:
                ga = sum_to(ga, shape=a2)
            return reshape(ga, shape=a.shape) if a2 != a.shape else ga
        aa = a if len(a.shape) > 1 else reshape(a, shape=a2)
        gb = matmul(transpose(aa, dim0=-1, dim1=-2), g)
        if gb.shape != b2:
            gb = sum_to(gb, shape=b2)
        return reshape(gb, shape=b.shape) if b2 != b.shape else gb
    return vjp


defop("dot", _dot, [lambda g, out, a, b: g * b, lambda g, out, a, b: g * a],
      save_plans={1: ((1,), False), 2: ((0,), False), 3: ((0, 1), False)})
defop("mm", _mm, [lambda g, out, a, b: OPS["mm"](g, OPS["t"](b)),
                  lambda g, out, a, b: OPS["mm"](OPS["t"](a), g)],
      save_plans={1: ((1,), False), 2: ((0,), False), 3: ((0, 1), False)})
defop("matmul", _matmul, [_matmul_vjp(0), _matmul_vjp(1)],
      save_plans={1: ((1,), False), 2: ((0,), False), 3: ((0, 1), False)},
      backward_name="MmBackward0")
