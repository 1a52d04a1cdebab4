"""Public dtype objects (tape.float32, tape.long, ...), each wrapping a numpy dtype."""
import numpy as np


class dtype:
    __slots__ = ("name", "np", "is_floating_point", "is_complex", "itemsize", "is_signed")

    def __init__(self, name, np_dtype):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = self.np.kind == "f"
        self.is_complex = self.np.kind == "c"
        self.is_signed = self.np.kind in "fic"
        self.itemsize = self.np.itemsize

    def __repr__(self):
        return f"tape.{self.name}"

    def __reduce__(self):
        return (from_numpy_dtype, (self.np,))


float32 = dtype("float32", np.float32)
float64 = dtype("float64", np.float64)
float16 = dtype("float16", np.float16)
int64 = dtype("int64", np.int64)
int32 = dtype("int32", np.int32)
int16 = dtype("int16", np.int16)
int8 = dtype("int8", np.int8)
uint8 = dtype("uint8", np.uint8)
bool_ = dtype("bool", np.bool_)

_BY_NUMPY = {d.np: d for d in (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)}
_ALIASES = {float: float64, int: int64, bool: bool_, "float": float32, "double": float64,
            "long": int64, "int": int32, "bool": bool_, "half": float16}


def from_numpy_dtype(np_dtype):
    try:
        return _BY_NUMPY[np.dtype(np_dtype)]
    except KeyError:
        raise TypeError(f"tape does not support numpy dtype {np_dtype}") from None


def to_numpy_dtype(d):
    """A tape dtype, Python type, numpy dtype or name -> numpy dtype."""
    if isinstance(d, dtype):
        return d.np
    alias = _ALIASES.get(d) if isinstance(d, (type, str)) else None
    if alias is not None:
        return alias.np
    return from_numpy_dtype(d).np
