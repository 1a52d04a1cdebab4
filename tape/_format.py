"""repr() of tensors as PyTorch prints them (a port of torch/_tensor_str.py's rules)."""
import math

import numpy as np

PRECISION = 4
THRESHOLD = 1000
EDGEITEMS = 3
LINEWIDTH = 80

_LEGACY = {"float32": "FloatTensor", "float64": "DoubleTensor", "int64": "LongTensor",
           "int32": "IntTensor", "bool": "BoolTensor", "float16": "HalfTensor",
           "uint8": "ByteTensor", "int8": "CharTensor", "int16": "ShortTensor"}
_TORCH_NAME = {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
               "bool": "Bool", "float16": "Half", "uint8": "Byte"}


def legacy_type_name(np_dtype):
    np_dtype = getattr(np_dtype, "np", np_dtype)   # a tape.dtype (Tensor.dtype) or numpy's
    return "torch." + _LEGACY[np.dtype(np_dtype).name]


def torch_type_name(np_dtype):
    return _TORCH_NAME.get(np.dtype(np_dtype).name, np.dtype(np_dtype).name)


def dtype_from_legacy_name(name):
    short = name.rsplit(".", 1)[-1]
    for np_name, legacy in _LEGACY.items():
        if legacy == short:
            return np.dtype(np_name)
    raise ValueError(f"invalid type: {name!r}")


class _Formatter:
    def __init__(self, values, floating):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not floating:
            for v in flat.tolist():
                self.max_width = max(self.max_width, len(str(v)))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if finite.size == 0:
            return
        absolute = np.abs(finite)
        lo, hi = absolute.min(), absolute.max()
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        for v in finite.tolist():
            if self.sci_mode:
                s = f"{v:.{PRECISION}e}"
            elif self.int_mode:
                s = f"{v:.0f}."
            else:
                s = f"{v:.{PRECISION}f}"
            self.max_width = max(self.max_width, len(s))

    def format(self, value):
        if self.floating:
            if self.sci_mode:
                s = f"{value:{self.max_width}.{PRECISION}e}"
            elif self.int_mode:
                s = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    s += "."
            else:
                s = f"{value:.{PRECISION}f}"
        else:
            s = str(value)
        return (self.max_width - len(s)) * " " + s


def _summarized(a):
    """The edge items PyTorch shows of a big tensor (what the formatter's widths come from)."""
    if a.ndim == 0:
        return a
    if a.shape[0] > 2 * EDGEITEMS:
        parts = [a[:EDGEITEMS], a[-EDGEITEMS:]]
    else:
        parts = [a]
    if a.ndim == 1:
        return np.concatenate(parts)
    return np.concatenate([np.stack([_summarized(row) for row in p]) if len(p) else p
                           for p in parts])


def _vector(a, indent, summarize, fmt):
    element_length = fmt.max_width + 2
    per_line = max(1, math.floor((LINEWIDTH - indent) / element_length))
    values = a.tolist()
    if summarize and len(values) > 2 * EDGEITEMS:
        data = ([fmt.format(v) for v in values[:EDGEITEMS]] + [" ..."]
                + [fmt.format(v) for v in values[-EDGEITEMS:]])
    else:
        data = [fmt.format(v) for v in values]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + ("," + "\n" + " " * (indent + 1)).join(lines) + "]"


def _nested(a, indent, summarize, fmt):
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        return _vector(a, indent, summarize, fmt)
    n = a.shape[0]
    if summarize and n > 2 * EDGEITEMS:
        rows = ([_nested(a[i], indent + 1, summarize, fmt) for i in range(EDGEITEMS)] + ["..."]
                + [_nested(a[i], indent + 1, summarize, fmt) for i in range(n - EDGEITEMS, n)])
    else:
        rows = [_nested(a[i], indent + 1, summarize, fmt) for i in range(n)]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


def array_str(a, indent):
    if a.size == 0:
        return "[]"
    summarize = a.size > THRESHOLD
    floating = a.dtype.kind == "f"
    fmt = _Formatter(_summarized(a) if summarize else a, floating)
    return _nested(a, indent, summarize, fmt)


def _add_suffixes(text, suffixes, indent):
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def tensor_repr(t, prefix="tensor("):
    a = t._data
    indent = len(prefix)
    suffixes = []
    default_dtype = a.dtype.name in ("float32", "int64", "bool")
    if a.size == 0:
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        if a.dtype.name != "float32":
            suffixes.append(f"dtype=tape.{a.dtype.name}")
        body = "[]"
    else:
        if not default_dtype:
            suffixes.append(f"dtype=tape.{a.dtype.name}")
        body = array_str(a, indent)
    if t._record is not None:
        suffixes.append(f"grad_fn=<{type(t.grad_fn).__name__}>")
    elif t._requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(prefix + body, suffixes, indent)
