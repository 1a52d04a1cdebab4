"""Elementwise ops, each declared once as scalar formulas: the forward and each input's gradient.

    binary("mul", "x * y", dx="g * y", dy="g * x")

reads like PyTorch's derivatives.yaml (`self: grad * other`).  From these strings come
  - the forward kernel and one fused backward kernel per input (numba, ops/codegen.py);
  - the recordable VJP used with create_graph=True: the same gradient formula evaluated with
    tape ops on Tensors, so higher derivatives need no extra declaration;
  - what a record saves: only the names a needed gradient formula reads.
Names in formulas: g (the output's gradient), out (the result), the inputs (x, y, c).
"""
import operator

import numpy as np

from . import codegen
from .broadcast import broadcast_shapes
from .dtypes import BOOL, result_dtype, to_float
from .registry import NON_DIFFERENTIABLE, OPS, Op, register

# Which dtype the kernel computes in: "float" ops turn ints into the default float (exp, /),
# "any" ops keep the promoted dtype (+, *), "compare" ops compute promoted and return bool.
FLOAT, ANY, COMPARE = "float", "any", "compare"
_ndarray = np.ndarray
_empty = np.empty
VARIANT_OF_DTYPE = codegen.VARIANT_OF_DTYPE
# Past this many elements a kernel runs its prange variant.  The pool's threads sleep between
# kernels (codegen.start_parallel_pool), so a parallel call pays a wake-up (~80 us here) and
# only wins where the work is larger: measured on this 2-core machine, float32, passive pool
# (parallel vs serial): sigmoid 273 vs 354 us at 2**16, 811 vs 1,338 at 2**18; mul 125 vs 63 us
# at 2**18, 254 vs 244 at 2**20, 1,723 vs 2,154 at 2**22.  A formula that calls exp, sin, ...
# or a power is "transcendental"; plain arithmetic needs the larger size.
PARALLEL_MIN_SIZE = {True: 1 << 16, False: 1 << 21}   # transcendental? -> elements
# Kernels of these dtypes are called without numba's dispatcher after their first call (see
# ElementwiseKernels.run); identity, not equality: a byte-swapped float32 is another object.
_DIRECT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_F32, _F64 = _DIRECT_DTYPES


# The operand patterns of one- and two-input forwards ('a'rray, 's'calar): ElementwiseKernels'
# forward_direct and Op.direct_* (tensor.py's operators and _native_forward call them).
_FORWARD_PATTERNS = ("a", "as", "sa", "aa")


def _shape_of(args):
    shape = None
    mixed = False
    for a in args:
        if isinstance(a, np.ndarray):
            if shape is None:
                shape = a.shape
            elif a.shape != shape:
                mixed = True
    if shape is None:
        return ()
    if mixed:
        return broadcast_shapes(*[a.shape for a in args if isinstance(a, np.ndarray)])
    return shape


def _scalar_of(a, dtype):
    return a.reshape(-1)[0] if a.dtype == dtype else dtype.type(a.reshape(-1)[0])


class ElementwiseKernels:
    """The numba kernels of one op, loaded on first use (module import = numba import).

    A kernel's key is <name><pattern><variant>[_par]: name "fwd_" or "d<input>_", pattern 'a'
    (array) or 's' (scalar) per argument, variant "_f32", "_f64" or "" (generic)."""
    __slots__ = ("stem", "specs", "module", "functions", "direct", "forward_direct",
                 "parallel_min")

    def __init__(self, stem, specs):
        self.stem = stem
        self.specs = specs          # kernel name -> (argnames, formula)
        self.module = None
        self.functions = {}         # key -> numba dispatcher
        self.direct = {}            # key -> compiled entry point, native floats (see _direct)
        # pattern -> dtype -> the serial forward's compiled entry point, once it is known (the
        # same kernels as `direct`, by what callers have at hand; Op.direct_* are these dicts)
        self.forward_direct = {p: {} for p in _FORWARD_PATTERNS}
        self.parallel_min = {name: PARALLEL_MIN_SIZE[codegen.is_transcendental(formula)]
                             for name, (_, formula) in specs.items()}

    def function(self, key):
        fn = self.functions.get(key)
        if fn is None:
            if key.endswith("_par"):
                codegen.start_parallel_pool()
            if self.module is None:
                source = "\n\n".join(codegen.kernel_source(k, args, f)
                                     for k, (args, f) in self.specs.items())
                self.module = codegen.load_module(self.stem, source)
            fn = self.functions[key] = codegen.jitted(self.module, key)
        return fn

    def launch(self, name, args, compute_dtype, out_dtype, shape):
        """Run kernel `name` over `args` (arrays broadcast to `shape`, or scalars)."""
        res = np.empty(shape, out_dtype)
        flat = []
        pattern = ""
        for a in args:
            if type(a) is _ndarray:
                if (a.size == 1 and res.size != 1) or a.ndim == 0:   # a scalar to the kernel
                    flat.append(_scalar_of(a, compute_dtype))
                    pattern += "s"
                    continue
                if a.dtype != compute_dtype:
                    a = a.astype(compute_dtype)
                if a.shape != shape:
                    a = np.broadcast_to(a, shape)
                flat.append(a.ravel())   # a view when contiguous, else one copy
                pattern += "a"
            else:
                flat.append(compute_dtype.type(a))
                pattern += "s"
        return self.run(name, pattern, compute_dtype, flat, res)

    def launch_uniform(self, name, args, dtype, out_dtype, shape):
        """launch() when every array already has `dtype` and `shape` (nothing to broadcast or
        cast)."""
        res = np.empty(shape, out_dtype)
        flat = []
        pattern = ""
        for a in args:
            if type(a) is _ndarray:
                flat.append(a.ravel())
                pattern += "a"
            else:
                flat.append(dtype.type(a))
                pattern += "s"
        return self.run(name, pattern, dtype, flat, res)

    def run(self, name, pattern, dtype, flat, res):
        """Call kernel `name` for this pattern, dtype variant and size."""
        if dtype is _F32 or dtype is _F64:
            return self.native(name, pattern, dtype, res, flat)
        key = name + pattern + VARIANT_OF_DTYPE.get(dtype.char, "")
        if res.size >= self.parallel_min[name]:
            key += "_par"
        fn = self.functions.get(key) or self.function(key)
        fn(*flat, res.reshape(-1))
        return res

    def native(self, name, pattern, dtype, res, flat):
        """The per-op hot path: kernel `name` for native float32/float64 (`dtype` is _F32 or
        _F64) over `flat` (1-d contiguous arrays of `dtype`, and scalars; 'a' or 's' each in
        `pattern`) into the fresh array `res`."""
        key = name + pattern + ("_f32" if dtype is _F32 else "_f64")
        if res.size >= self.parallel_min[name]:
            key += "_par"
        fn = self.direct.get(key) or self._direct(key, dtype)
        fn(*flat, res if res.ndim == 1 else res.reshape(-1))
        return res

    def _direct(self, key, dtype):
        """Native float kernels are called without numba's dispatcher after their first call
        (codegen.first_call_then_direct; measured 0.28 instead of 0.77 us for mul on 2,000
        float32).  Every call of one such kernel passes the same types: 1-d contiguous arrays
        of `dtype` (ravel, after any cast), scalars and a fresh 1-d result.  The first call
        converts the scalars to `dtype`, so the compiled signature takes `dtype` scalars; later
        calls pass Python numbers as they are, and the kernel converts them as numpy does
        (through a double), faster than numpy can (0.28 us for float32(5.0))."""
        def install(compiled):
            self.direct[key] = compiled
            if key.startswith("fwd_") and not key.endswith("_par"):
                self.forward_direct.setdefault(key[4:-4], {})[dtype] = compiled
        standin = codegen.first_call_then_direct(self.function(key), install)

        def first_call(*args):
            return standin(*[a if type(a) is _ndarray else dtype.type(a) for a in args])
        self.direct[key] = first_call
        return first_call



# The four basic operations on single values (a 0-d array with a Python number or another
# 0-d array: an optimizer's update of scalar parameters) run on Python floats, without a kernel
# call (op.forward of 0-d float32 `lr * g`: 0.88 -> 0.55 us; the Legendre fit's SGD update of
# four scalars: 13.6 -> 10.2 us).  A Python float is a float64, so float64 results
# are the kernel's exactly; float32 ones are rounded twice, to float64 and then to float32,
# which for +, -, *, / gives the correctly rounded float32 result, as the kernel's float32
# arithmetic does, because float64 carries more than 2 * 24 + 2 bits (Figueroa, "When is
# double rounding innocuous?", 1995).  A float32 operand that is a Python number is first
# rounded to float32, as the kernel converts it.  Division by zero, and float32 results
# beyond float32's range, take the kernel (Python raises for the one, numpy warns for the other).
_EXACT_IN_PYTHON = {"x + y": operator.add, "x - y": operator.sub, "x * y": operator.mul,
                    "x / y": operator.truediv}
_F32_MAX = float(np.finfo(np.float32).max)
_f32_rounded = {}   # Python number -> the float it is as a float32 (see _as_float32)


def _as_float32(number):
    """`number` rounded to float32 as the kernels convert a Python scalar (through float64)."""
    value = _f32_rounded.get(number)
    if value is None or value == 0.0:   # not cached, or 0.0 and -0.0 (one key, two signs)
        if len(_f32_rounded) >= 256:   # a loop over many distinct scalars: keep it small
            _f32_rounded.clear()
        with np.errstate(over="ignore"):   # beyond float32's range: inf, as in the kernels
            value = _f32_rounded[number] = float(np.float32(float(number)))
    return value


def _exact_value(fn, x, y, dtype, reflected=False):
    """fn(x, y) (fn(y, x) if reflected) computed on Python floats, for x a 0-d array of dtype
    and y a Python float/int or a 0-d array of dtype; None where the kernel must compute it
    (other operands, and the cases _EXACT_IN_PYTHON names)."""
    ty = type(y)
    if ty is float or ty is int:
        if dtype is _F32:
            b = _f32_rounded.get(y)   # _as_float32's cache, read inline (a call per update)
            if b is None or b == 0.0:
                b = _as_float32(y)
        else:
            b = float(y)
    elif ty is _ndarray and y.dtype is dtype and y.ndim == 0:
        b = y.item()
    else:
        return None
    a = x.item()
    if reflected:
        a, b = b, a
    if fn is operator.truediv and b == 0.0:
        return None
    value = fn(a, b)
    if dtype is _F32 and not -_F32_MAX <= value <= _F32_MAX:   # also NaN: numpy warns
        return None
    return value


def _single_value_forward(fn):
    """single(x, y, reflected=False): fn(x, y) (fn(y, x) if reflected) as a new 0-d array, for
    x a 0-d float32/float64 array and y a Python number or a 0-d array of x's dtype, computed
    on Python floats (_exact_value); None where the kernel must compute it.  op.forward and
    the Tensor operators (tape/tensor.py, without op.forward's dispatch) call it."""
    def single(x, y, reflected=False):
        dtype = x.dtype
        if dtype is not _F32 and dtype is not _F64:
            return None
        value = _exact_value(fn, x, y, dtype, reflected)
        if value is None:
            return None
        res = _empty((), dtype)
        res[()] = value
        return res
    return single


def _native_forward(kernels, n_args, compare, general, single=None):
    """The op's forward with a fast path for the commonest call: native float32/float64
    arrays of one shape, beside Python float/int scalars, which skips general()'s rules for
    dtypes, broadcasting and guards (mul of 2,000 float32 by a Python float: 3.6 us before this
    path and the direct kernel calls, 1.45 us after).  Anything else goes to general(*args).
    The compiled kernel is called here, not through kernels.native, once it is known: the key
    strings and the extra call cost about as much as the kernel itself (2,000 float32 times a
    Python float, op.forward: 1.20 -> 0.91 us); its first call and the parallel sizes go there."""
    native = kernels.native
    direct = kernels.forward_direct   # pattern -> dtype -> compiled kernel, once known
    direct_a = direct["a"]
    serial_max = kernels.parallel_min["fwd_"] - 1   # larger results take the prange kernels

    if n_args == 1:
        def forward(x):
            if type(x) is _ndarray:
                dtype = x.dtype
                if dtype is _F32 or dtype is _F64:
                    res = np.empty(x.shape, BOOL if compare else dtype)
                    fn = direct_a.get(dtype)
                    if fn is None or res.size > serial_max:
                        return native("fwd_", "a", dtype, res, (x.ravel(),))
                    fn(x.ravel(), res if res.ndim == 1 else res.reshape(-1))
                    return res
            return general(x)
    elif n_args == 2:
        def forward(x, y):
            tx, ty = type(x), type(y)
            if tx is _ndarray:
                dtype = x.dtype
                if dtype is not _F32 and dtype is not _F64:
                    return general(x, y)
                if single is not None and x.ndim == 0:
                    res = single(x, y)
                    if res is not None:
                        return res
                if ty is float or ty is int:
                    pattern, x, shape = "as", x.ravel(), x.shape
                elif ty is _ndarray and y.dtype is dtype and y.shape == x.shape:
                    pattern, x, y, shape = "aa", x.ravel(), y.ravel(), x.shape
                else:
                    return general(x, y)
            elif ty is _ndarray and (tx is float or tx is int):
                dtype = y.dtype
                if dtype is not _F32 and dtype is not _F64:
                    return general(x, y)
                if single is not None and y.ndim == 0:
                    res = single(y, x, True)
                    if res is not None:
                        return res
                pattern, y, shape = "sa", y.ravel(), y.shape
            else:
                return general(x, y)
            res = np.empty(shape, BOOL if compare else dtype)
            fn = direct[pattern].get(dtype)
            if fn is None or res.size > serial_max:
                return native("fwd_", pattern, dtype, res, (x, y))
            fn(x, y, res if res.ndim == 1 else res.reshape(-1))
            return res
    else:
        forward = general
    return forward


def _native_forward_into(kernels, exact=None):
    """x <- op(x, y) with x as the kernel's result array, for the optimizer's `p -= lr * g`
    under no_grad: x native float32/float64, C-contiguous and writeable; y a Python float/int,
    or an array of x's dtype and shape that cannot partly overlap x (x itself, or both own
    their memory).  The kernel reads element k before writing it, so x may be an operand.
    Saves the result's allocation and the copy back (0-d `p -= g`: 2.1 -> 1.7 us).  False:
    not applicable, the caller computes out of place."""
    native = kernels.native
    direct = kernels.forward_direct
    serial_max = kernels.parallel_min["fwd_"] - 1

    def forward_into(x, y):
        if type(x) is not _ndarray:
            return False
        dtype = x.dtype
        if exact is not None and x.ndim == 0 and (dtype is _F32 or dtype is _F64):
            value = _exact_value(exact, x, y, dtype)
            if value is not None:
                try:
                    x[()] = value
                except ValueError:   # read-only: the checks below refuse it too
                    return False
                return True
        flags = x.flags
        if (dtype is not _F32 and dtype is not _F64) or not (flags.c_contiguous
                                                             and flags.writeable):
            return False
        ty = type(y)
        if ty is float or ty is int:
            pattern = "as"
        elif (ty is _ndarray and y.dtype is dtype and y.shape == x.shape
                and (y is x or (x.base is None and y.base is None))):
            pattern, y = "aa", y.ravel()
        else:
            return False
        flat = x.ravel()   # a view of x's memory: x is C-contiguous
        fn = direct[pattern].get(dtype)   # as _native_forward: direct once known
        if fn is None or x.size > serial_max:
            native("fwd_", pattern, dtype, x, (flat, y))
        else:
            fn(flat, y, flat)
        return True
    return forward_into


def _compile_formula(argnames, formula):
    """The gradient formula as a Python function over ndarrays or Tensors, using ops."""
    namespace = {name: OPS[name] for name in codegen.SCALAR_FUNCTIONS if name in OPS}
    namespace["where"] = OPS["where"]
    params = ", ".join(("g", "out") + tuple(argnames))
    return eval(f"lambda {params}: {formula}", namespace)


def elementwise(name, formula, kind=FLOAT, backward_name=None, guard=None, **grads):
    """Declare an elementwise op from its formula and one gradient formula per input.

    grads: d<arg>="<formula in g, out and the inputs>"; an input without one has no gradient.
    guard(*args): raises PyTorch's error for inputs PyTorch refuses; called only when the
    result dtype is not floating (bool/int arithmetic), so float calls skip it.
    """
    argnames = [a for a in ("c", "x", "y") if a in codegen.names_in(formula)]
    specs = {"fwd_": (argnames, formula)}
    grad_formulas = [grads.get("d" + a) for a in argnames]
    reads = []  # per input: (input indices, reads out) of its gradient formula
    for a, f in zip(argnames, grad_formulas):
        if f is None:
            reads.append(((), False))
            continue
        used = codegen.names_in(f)
        kernel_args = ["g"] + [n for n in argnames + ["out"] if n in used]
        specs["d" + a + "_"] = (kernel_args, f)
        reads.append((tuple(i for i, n in enumerate(argnames) if n in used), "out" in used))
    kernels = ElementwiseKernels(name, specs)
    out_kind = kind

    def general_forward(*args):
        dtype = result_dtype(args)
        if guard is not None and dtype.kind != "f":
            guard(*args)
        if out_kind == FLOAT:
            dtype = to_float(dtype)
        out_dtype = BOOL if out_kind == COMPARE else dtype
        return kernels.launch("fwd_", args, dtype, out_dtype, _shape_of(args))

    exact = _EXACT_IN_PYTHON.get(formula)   # +, -, *, / on single values: Python floats
    single = None if exact is None else _single_value_forward(exact)
    forward = _native_forward(kernels, len(argnames), out_kind == COMPARE, general_forward,
                              single)

    # Per input: how its fused kernel's arguments are picked from (g, out, *inputs).
    positions = {"g": 0, "out": 1, **{a: 2 + k for k, a in enumerate(argnames)}}
    vjp_plans = [None if f is None else
                 ("d" + a + "_", [positions[n] for n in specs["d" + a + "_"][0]])
                 for a, f in zip(argnames, grad_formulas)]

    def fused_vjp(i, g, out, *inputs):
        f = grad_formulas[i]
        if f == "g":
            return g
        if f == "-g":
            return np.negative(g)
        name, picks = vjp_plans[i]
        dtype, shape = g.dtype, g.shape
        if not g.flags.c_contiguous and not any(g.strides):
            # g is one value broadcast (the gradient of sum/mean): a scalar to the kernel,
            # rather than a full-size copy made only to be read once.
            g = g[(0,) * g.ndim]
        values = (g, out) + inputs
        args = [values[p] for p in picks]
        for a in args:
            if type(a) is _ndarray and (a.shape != shape or a.dtype != dtype):
                return kernels.launch(name, args, dtype, dtype, shape)
        return kernels.launch_uniform(name, args, dtype, dtype, shape)

    save_plans = {}
    for mask in range(1, 1 << len(argnames)):
        idx, with_out = set(), False
        for i in range(len(argnames)):
            if mask >> i & 1:
                idx.update(reads[i][0])
                with_out = with_out or reads[i][1]
        save_plans[mask] = (tuple(sorted(idx)), with_out)

    op = Op(name, forward, [None] * len(argnames), fused_vjp=fused_vjp, save_plans=save_plans,
            backward_name=backward_name)
    op.kernels = kernels
    op.single = single
    if out_kind != COMPARE:   # results of the operands' dtype: the operators may call these
        op.direct_a, op.direct_as, op.direct_sa, op.direct_aa = (
            kernels.forward_direct[p] for p in _FORWARD_PATTERNS)
        op.direct_max = kernels.parallel_min["fwd_"] - 1
    if len(argnames) == 2 and out_kind != COMPARE:
        op.forward_into = _native_forward_into(kernels, exact)
    op.formula = formula
    op.grad_formulas = grad_formulas
    op.argnames = argnames
    register(op)
    return op


def _attach_vjps():
    """Gradient formulas call other ops (exp, where), so they compile once all are declared."""
    for op in OPS.values():
        formulas = getattr(op, "grad_formulas", None)
        if formulas is not None:
            op.vjps = tuple(None if f is None else _compile_formula(op.argnames, f)
                            for f in formulas)
            op.differentiable = any(v is not None for v in op.vjps)
            if op.differentiable:
                NON_DIFFERENTIABLE.discard(op.name)   # register() ran before the vjps existed


def _is_bool(a):
    return a.dtype == BOOL if isinstance(a, np.ndarray) else isinstance(a, (bool, np.bool_))


def _sub_guard(x, y):
    if _is_bool(x) and _is_bool(y):
        raise RuntimeError("Subtraction, the `-` operator, with two bool tensors is not "
                           "supported. Use the `^` or `logical_xor()` operator instead.")
    if _is_bool(x) or _is_bool(y):
        raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not supported. "
                           "If you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")


def _neg_guard(x):
    if _is_bool(x):
        raise RuntimeError("Negation, the `-` operator, on a bool tensor is not supported. If "
                           "you are trying to invert a mask, use the `~` or `logical_not()` "
                           "operator instead.")


def _pow_guard(x, y):
    # PyTorch refuses a negative integer *scalar* exponent; tensor exponents give 0.
    if isinstance(y, (int, np.integer)) and not isinstance(y, (bool, np.bool_)) and y < 0:
        raise RuntimeError("Integers to negative integer powers are not allowed.")


# ---- the table --------------------------------------------------------------------------
#           name        forward             gradient of each input
elementwise("add",      "x + y",            ANY,  dx="g", dy="g")
elementwise("sub",      "x - y",            ANY,  dx="g", dy="-g", guard=_sub_guard)
elementwise("mul",      "x * y",            ANY,  dx="g * y", dy="g * x")
elementwise("div",      "x / y",            FLOAT, dx="g / y", dy="-g * x / (y * y)")
elementwise("pow",      "x ** y",           ANY,  guard=_pow_guard,
            dx="where(y == 0, 0, g * y * x ** (y - 1))",
            dy="where((x == 0) & (y >= 0), 0, g * out * log(x))")
elementwise("neg",      "-x",               ANY,  dx="-g", guard=_neg_guard)
elementwise("exp",      "exp(x)",           dx="g * out")
elementwise("log",      "log(x)",           dx="g / x")
elementwise("sqrt",     "sqrt(x)",          dx="g / (2 * out)")
elementwise("sin",      "sin(x)",           dx="g * cos(x)")
elementwise("cos",      "cos(x)",           dx="-g * sin(x)")
elementwise("tanh",     "tanh(x)",          dx="g * (1 - out * out)")
elementwise("sigmoid",  "1 / (1 + exp(-x))", dx="g * (1 - out) * out")
# relu's gradient passes g unless out <= 0, so a NaN input gets g, as PyTorch's threshold_backward.
elementwise("relu",     "where(x <= 0, 0, x)", ANY, dx="where(out <= 0, 0, g)")
# PyTorch's subgradients at kinks: abs'(0) = 0; clamp passes g on its closed interval
# [min, max]; maximum/minimum split g equally between tied inputs.
elementwise("abs",      "abs(x)",           ANY,  dx="where(x > 0, g, where(x < 0, -g, 0))")
elementwise("clamp_min", "where(x < y, y, x)", ANY, dx="where(x >= y, g, 0)",
            dy="where(x < y, g, 0)")
elementwise("clamp_max", "where(x > y, y, x)", ANY, dx="where(x <= y, g, 0)",
            dy="where(x > y, g, 0)")
# x + y is NaN when either is (both comparisons false): NaN propagates as in PyTorch.
elementwise("maximum",  "where(x >= y, x, where(x < y, y, x + y))", ANY,
            dx="where(x > y, g, where(x == y, g / 2, 0))",
            dy="where(y > x, g, where(x == y, g / 2, 0))")
elementwise("minimum",  "where(x <= y, x, where(x > y, y, x + y))", ANY,
            dx="where(x < y, g, where(x == y, g / 2, 0))",
            dy="where(y < x, g, where(x == y, g / 2, 0))")
elementwise("reciprocal", "1 / x",          dx="-g * out * out")
elementwise("rsqrt",    "1 / sqrt(x)",      dx="-0.5 * g * out * out * out")
elementwise("log1p",    "log1p(x)",         dx="g / (1 + x)")
elementwise("expm1",    "expm1(x)",         dx="g * (out + 1)")
elementwise("sinh",     "sinh(x)",          dx="g * cosh(x)")
elementwise("cosh",     "cosh(x)",          dx="g * sinh(x)")
elementwise("asin",     "asin(x)",          dx="g / sqrt(1 - x * x)")
elementwise("acos",     "acos(x)",          dx="-g / sqrt(1 - x * x)")
elementwise("atan",     "atan(x)",          dx="g / (1 + x * x)")
# Piecewise constant: PyTorch records them with a zero gradient (sign(NaN) is 0 there too).
elementwise("sign",     "where(x > 0, 1, where(x < 0, -1, 0))", ANY, dx="0 * g")
elementwise("floor",    "floor(x)",         ANY,  dx="0 * g")
elementwise("ceil",     "ceil(x)",          ANY,  dx="0 * g")
elementwise("round",    "round(x)",         ANY,  dx="0 * g")
elementwise("where",    "where(c, x, y)",   ANY,  dx="where(c, g, 0)", dy="where(c, 0, g)")
# Comparisons and logic: bool results, no gradient.
elementwise("gt", "x > y", COMPARE)
elementwise("lt", "x < y", COMPARE)
elementwise("ge", "x >= y", COMPARE)
elementwise("le", "x <= y", COMPARE)
elementwise("eq", "x == y", COMPARE)
elementwise("ne", "x != y", COMPARE)
elementwise("bitwise_and", "x & y", ANY)
elementwise("bitwise_or", "x | y", ANY)
