"""The small-tensor lane: elementwise ops (and a whole-tensor sum) as rows of an int program
over one flat buffer.

Small elementwise results live side by side in one float buffer (a "block"), and each op
appends one int row to the block's program.  Backward then replays a whole block in one numba
call (`replay_float32` / `replay_float64`): one interpreter, generated here from the elementwise
op table's formulas (ops/elementwise.py) and cached on disk, never code per tape.  It holds no
per-op code: each op's gradient loops are a C callback of their own (`vjp_<op>_<dtype>`),
compiled when the op is first used, which the interpreter calls through an address table.

This module only generates and loads the kernels; tape/lane.py owns blocks and their use.

Every value of a block is a row: an op's result, or an operand imported from outside the block
(opcode IMPORT: a copy of a leaf or of a non-lane result, whose gradient Python passes on), or a
custom Function's result (opcode FUNCTION: its backward runs in Python, between two replays).
Row layout (int64 columns), operands `a` and `b`:
    OP, OUT, N             opcode, output offset in the buffer, element count
    A, SA, RA, VA          operand offset, stride (1, or 0 for one element broadcast), the row
                           that made it (-1: the scalar slot after the output, a Python
                           scalar or a 0-d tensor, whose gradient, if it wants one, the vjp
                           sums into the slot's place), the version it had when read
    B, SB, RB, VB          the same for the second operand (unary ops: RB = -2, unused)
    FLAGS                  NEED_A | NEED_B: which operands want a gradient; RELEASED
Replay status: 0, or 1 + 4 * row + (FREED | STALE_X | STALE_Y | STALE_OUT), or -1 - row at a
FUNCTION row with a gradient (rows below it not replayed yet).
"""
import ast
import re

from . import codegen
from .registry import OPS

OP, OUT, N, A, SA, RA, VA, B, SB, RB, VB, FLAGS = range(12)
ROW = 12
NEED_A, NEED_B, RELEASED = 1, 2, 4
FREED, STALE_X, STALE_Y, STALE_OUT = range(4)

# The lane's ops: elementwise, one or two inputs, a gradient formula for each.  The common ones
# only; the rarer ones (asin, log1p, floor, ...) take the general path.
ELEMENTWISE_OP_NAMES = (
    "add", "sub", "mul", "div", "pow", "maximum", "minimum", "clamp_min", "clamp_max",
    "neg", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "relu", "abs")
# And the sum of a whole value (what a loss ends with): one element out.  Its row is a unary
# op's, with B = the input's element count (the gradient loop's length) and SB = 0.
LANE_OP_NAMES = ELEMENTWISE_OP_NAMES + ("sum",)
OPCODE = {name: code for code, name in enumerate(LANE_OP_NAMES)}
SUM = OPCODE["sum"]
IMPORT = len(LANE_OP_NAMES)
# A custom autograd.Function's single result (tape/lane.py, function_row): the replay stops
# at its row and returns -1 - row, and Python runs the Function's backward there.
FUNCTION = IMPORT + 1
DTYPES = ("float32", "float64")


def _reads(formula):
    """Which of x, y, out a gradient formula reads (g is the incoming gradient)."""
    names = codegen.names_in(formula)
    return {n for n in ("x", "y", "out") if n in names}


# Each loop reads its operands through slices of the buffer (buf[a:a + n]), not buf[a + k]:
# indexed from 0 by the loop counter, LLVM vectorises them (measured, float32 mul of 2,000
# elements: 0.44 us against 2.1 us).  One loop per stride case, so a broadcast operand is a
# loop-invariant scalar: (1, 1) same shapes, (1, 0) second operand one element or the Python
# scalar, (0, 1) the first.
_STRIDE_CASES = ((1, 1, "sa == 1 and sb == 1"), (1, 0, "sa == 1"), (0, 1, None))


def _operand_loads(binary, sa, sb, pad):
    """Before a loop: slices of the strided operands, the single-element one as a scalar."""
    lines = [f"{pad}xs = buf[a:a + n]" if sa else f"{pad}x = buf[a]"]
    if binary:
        lines.append(f"{pad}ys = buf[b:b + n]" if sb else f"{pad}y = buf[b]")
    return "".join(line + "\n" for line in lines)


def _in_loop_loads(binary, sa, sb, pad, used=("x", "y")):
    """Inside a loop: the element k of each strided operand that the expression reads."""
    lines = []
    if sa and "x" in used:
        lines.append(f"{pad}x = xs[k]")
    if binary and sb and "y" in used:
        lines.append(f"{pad}y = ys[k]")
    return "".join(line + "\n" for line in lines)


def _stride_cases(binary, body, pad="    "):
    """`body(sa, sb, pad)` under the stride test of each case (unary ops: one case)."""
    if not binary:
        return body(1, 0, pad)
    chunks = []
    for k, (sa, sb, test) in enumerate(_STRIDE_CASES):
        head = ("if " if k == 0 else "elif ") + test + ":" if test else "else:"
        chunks.append(f"{pad}{head}\n" + body(sa, sb, pad + "    "))
    return "".join(chunks)


def _forward_source(name, np_type):
    op = OPS[name]
    expr = codegen.scalar_expression(op.formula, np_type)
    binary = len(op.argnames) == 2

    def body(sa, sb, pad):
        return (_operand_loads(binary, sa, sb, pad)
                + f"{pad}for k in range(n):\n"
                + _in_loop_loads(binary, sa, sb, pad + "    ")
                + f"{pad}    o[k] = {expr}\n")

    return (
        f"@kernel(cache=True, error_model='numpy', nogil=True)\n"
        f"def fwd_{name}_{np_type}(buf, prog, i, out, n, ra, sa, va, rb, sb, vb, flags, c):\n"
        f"    a = prog[ra, {OUT}] if ra >= 0 else out + n\n"
        f"    b = prog[rb, {OUT}] if rb >= 0 else out + n\n"
        f"    if ra == -1 or rb == -1:\n        buf[out + n] = c\n"
        f"    o = buf[out:out + n]\n"
        + _stride_cases(binary, body) +
        f"    r = prog[i]\n"
        f"    r[{OP}] = {OPCODE[name]}; r[{OUT}] = out; r[{N}] = n\n"
        f"    r[{A}] = a; r[{SA}] = sa; r[{RA}] = ra; r[{VA}] = va\n"
        f"    r[{B}] = b; r[{SB}] = sb; r[{RB}] = rb; r[{VB}] = vb\n"
        f"    r[{FLAGS}] = flags\n")


IMPORT_SOURCE = f'''
@kernel(cache=True, nogil=True)
def import_value(buf, prog, i, out, data, flags, same):
    """Row i: a copy of `data` (flat) at `out`; Python passes its gradient on.  same >= 0: a
    row that imported the same tensor before; while its copy still equals `data` it serves
    again, and that row is returned instead (nothing written)."""
    n = data.size
    if same >= 0:
        prev = buf[prog[same, {OUT}]:prog[same, {OUT}] + n]
        for k in range(n):
            if prev[k] != data[k]:
                break
        else:
            return same
    # through a slice indexed from 0, as the op loops: LLVM vectorises the copy (measured,
    # 2,000 float32: 0.33 us against 1.08 us for buf[out + k] = data[k])
    o = buf[out:out + n]
    for k in range(n):
        o[k] = data[k]
    r = prog[i]
    r[{OP}] = {IMPORT}; r[{OUT}] = out; r[{N}] = n; r[{RA}] = -2; r[{RB}] = -2
    r[{FLAGS}] = flags
    return i


@kernel(cache=True, nogil=True)
def function_value(buf, prog, i, out, data):
    """Row i: a custom Function's result, `data` (flat), copied to `out`."""
    n = data.size
    o = buf[out:out + n]
    for k in range(n):
        o[k] = data[k]
    r = prog[i]
    r[{OP}] = {FUNCTION}; r[{OUT}] = out; r[{N}] = n; r[{RA}] = -2; r[{RB}] = -2
    r[{FLAGS}] = 0


@kernel(cache=True, nogil=True)
def copy_into(buf, start, data):
    """buf[start:start + data.size] = data (a saved import refreshed before a replay)."""
    target = buf[start:start + data.size]
    for k in range(data.size):
        target[k] = data[k]


@kernel(cache=True, nogil=True)
def add_gradient(grad, start, g):
    """grad[start:start + g.size] += g: a gradient arriving at a row from outside the
    block (numpy's += on these small slices costs several times this call)."""
    target = grad[start:start + g.size]
    for k in range(g.size):
        target[k] += g[k]
'''


def _accumulate(operand, formula, np_type, binary, sa, sb, pad):
    """Add one operand's gradient into the gradient buffer: elementwise for a strided operand,
    a sum for a single-element one (in float64 and rounded once, as numpy's sum_to would)."""
    # `out` is the output's offset in the kernel; the output's values are outs / out_
    expr = codegen.scalar_expression(re.sub(r"\bout\b", "out_", formula), np_type)
    used = codegen.names_in(formula)
    # the loop body's loads of element k, unindented
    loads = ("g = gs[k]\n" if "g" in used else "") + _in_loop_loads(binary, sa, sb, "", used)
    if "out" in used:
        loads += "out_ = outs[k]\n"
    off, strided = ("a", sa) if operand == "x" else ("b", sb)
    invariant = {name for name, stride in (("x", sa), ("y", sb)) if not stride}
    cases = _invariant_power_cases(expr, invariant)
    if cases is None:
        return _gradient_loop(expr, loads, off, strided, pad)
    exponent, variants = cases
    text = f"{pad}e_ = {exponent}\n"
    for k, (test, variant) in enumerate(variants):
        head = ("if " if k == 0 else "elif ") + test if test else "else"
        text += f"{pad}{head}:\n" + _gradient_loop(variant, loads, off, strided, pad + "    ")
    return text


def _invariant_power_cases(expr, invariant):
    """(exponent, [(test of e_, expr)]) when expr takes a power whose exponent reads only
    loop-invariant names (pow's g * y * x ** (y - 1) with y one element), else None.  The
    kernel tests the exponent once and runs a loop with the power multiplied out: _pow's test
    per element kept LLVM from vectorising these loops in the big vjp_pow function (measured,
    replaying x ** 2 of 2,000 float32 with its import: 2.55 us before, 0.54 after)."""
    tree = ast.parse(expr, mode="eval")
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "_pow"
                and codegen.names_in(ast.unparse(node.args[1])) <= invariant | {"np"}):
            break
    else:
        return None
    exponent, base = ast.unparse(node.args[1]), ast.unparse(node.args[0])
    marker = ast.unparse(node)
    assert marker in expr, (marker, expr)   # else the variants would silently be expr itself
    variants = []
    for test, power in (("e_ == 1.0", f"({base})"), ("e_ == 2.0", f"({base}) * ({base})"),
                        ("e_ == 3.0", f"({base}) * ({base}) * ({base})"),
                        (None, f"({base}) ** e_")):
        variants.append((test, expr.replace(marker, f"({power})")))
    return exponent, variants


def _gradient_loop(expr, loads, off, strided, pad):
    """The loop adding expr (per element k, after `loads`) into operand `off`'s gradient."""
    loads = "".join(f"{pad}    {line}\n" for line in loads.splitlines())
    if strided:
        return (f"{pad}target = grad[{off} - base:{off} - base + n]\n"
                f"{pad}for k in range(n):\n{loads}"
                f"{pad}    target[k] += {expr}\n")
    # Eight partial sums, as the forward's _sum_float64: one chain of float64 adds waits on
    # each add's latency (measured: the Legendre step's first block, two such sums over 2,000
    # float32, replayed in 3.84 us before, 1.58 after)
    unrolled = "".join(f"{pad}    k = j + {u}\n{loads}{pad}    r{u} += {expr}\n"
                       for u in range(8))
    return (f"{pad}r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = 0.0\n"
            f"{pad}whole = n - n % 8\n"
            f"{pad}for j in range(0, whole, 8):\n{unrolled}"
            f"{pad}acc = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))\n"
            f"{pad}for k in range(whole, n):\n{loads}"
            f"{pad}    acc += {expr}\n"
            f"{pad}grad[{off} - base] += acc\n")


def _reads_mask(name):
    """Which saved values row `name`'s gradients read, as bits for the replay: x, y, out read
    by the first operand's gradient (1, 2, 4), and by the second's (8, 16, 32)."""
    if name == "sum":
        return 0   # its gradient is the output's, spread: it reads no value
    op = OPS[name]
    mask = 0
    for k, formula in enumerate(op.grad_formulas):
        reads = _reads(formula)
        mask |= sum(bit for value, bit in (("x", 1), ("y", 2), ("out", 4))
                    if value in reads) << 3 * k
    return mask


def _vjp_source(name, np_type):
    """Row `name`'s gradients added into the gradient buffer: a C callback of its own (the
    buffers by address), compiled on the op's first use; the replay calls it by address."""
    op = OPS[name]
    dx = op.grad_formulas[0]
    binary = len(op.argnames) == 2
    dy = op.grad_formulas[1] if binary else None

    def body(sa, sb, pad):
        text = _operand_loads(binary, sa, sb, pad)
        text += f"{pad}if need_a:\n" + _accumulate("x", dx, np_type, binary, sa, sb, pad + "    ")
        if dy is not None:
            text += (f"{pad}if need_b:\n"
                     + _accumulate("y", dy, np_type, binary, sa, sb, pad + "    "))
        return text

    return (f"@kernel(signature=VJP_SIGNATURE_{np_type}, cache=True, error_model='numpy', "
            f"nogil=True)\n"
            f"def vjp_{name}_{np_type}(buf_p, nbuf, base, grad_p, ngrad, out, n, a, sa, b, sb, "
            f"need_a, need_b):\n"
            f"    buf = carray(buf_p, nbuf)\n"
            f"    grad = carray(grad_p, ngrad)\n"
            f"    gs = grad[out - base:out - base + n]\n"
            f"    outs = buf[out:out + n]\n"
            + _stride_cases(binary, body))


def _replay_source(np_type):
    """The interpreter: per row in reverse, the saved-value checks (what its gradients read:
    READS), the gradients (its op's vjp_ callback), which rows now have a gradient, and
    releasing what it read.  No code per op, so it compiles in about a second."""
    return (
        f"@kernel(cache=True, error_model='numpy', nogil=True)\n"
        f"def replay_{np_type}(buf, base, grad, live, ver, prog, lo, hi, retain, vjps):\n"
        f"    buf_at = buf.ctypes.data\n"
        f"    grad_at = grad.ctypes.data\n"
        f"    for i in range(hi - 1, lo - 1, -1):\n"
        f"        if live[i] == 0:\n            continue\n"
        f"        code = prog[i, {OP}]; out = prog[i, {OUT}]; n = prog[i, {N}]\n"
        f"        if code == {IMPORT}:\n            continue\n"
        f"        if code == {FUNCTION}:\n            return -1 - i\n"
        f"        a = prog[i, {A}]; sa = prog[i, {SA}]; ra = prog[i, {RA}]; va = prog[i, {VA}]\n"
        f"        b = prog[i, {B}]; sb = prog[i, {SB}]; rb = prog[i, {RB}]; vb = prog[i, {VB}]\n"
        f"        flags = prog[i, {FLAGS}]\n"
        f"        need_a = flags & {NEED_A}\n"
        f"        need_b = (flags & {NEED_B}) >> 1\n"
        f"        reads = (READS[code] & 7 if need_a else 0)"
        f" | (READS[code] >> 3 if need_b else 0)\n"
        f"        if reads != 0 and flags & {RELEASED}:\n"
        f"            return 1 + 4 * i + {FREED}\n"
        f"        if reads & 1 and ra >= 0 and ver[ra] != va:\n"
        f"            return 1 + 4 * i + {STALE_X}\n"
        f"        if reads & 2 and rb >= 0 and ver[rb] != vb:\n"
        f"            return 1 + 4 * i + {STALE_Y}\n"
        f"        if reads & 4 and ver[i] != 0:\n"
        f"            return 1 + 4 * i + {STALE_OUT}\n"
        f"        call_vjp(vjps[code], buf_at, buf.size, base, grad_at, grad.size, out, n, a, sa,\n"
        f"                 b, sb, need_a, need_b)\n"
        f"        if need_a and ra >= 0:\n            live[ra] = 1\n"
        f"        if need_b and rb >= 0:\n            live[rb] = 1\n"
        f"        if reads != 0 and not retain:\n"
        f"            prog[i, {FLAGS}] = flags | {RELEASED}\n"
        f"    return 0\n")


# The sum's partial sums are float64 whatever the dtype, so a float32 sum is rounded once at
# the end (numpy's and PyTorch's float32 sums, each in its own order, may differ from it in the
# last bit), and eight independent partial sums pipeline where one chain would not.
SUM_SOURCE = '''
@njit(inline="always")
def _sum_float64(xs):
    """sum(xs) in float64: eight partial sums, combined pairwise, then the rest."""
    r0 = r1 = r2 = r3 = r4 = r5 = r6 = r7 = 0.0
    m = xs.size
    k = 0
    while k + 8 <= m:
        r0 += xs[k]; r1 += xs[k + 1]; r2 += xs[k + 2]; r3 += xs[k + 3]
        r4 += xs[k + 4]; r5 += xs[k + 5]; r6 += xs[k + 6]; r7 += xs[k + 7]
        k += 8
    s = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while k < m:
        s += xs[k]
        k += 1
    return s
'''


def _sum_forward_source(np_type):
    return (
        f"@kernel(cache=True, error_model='numpy', nogil=True)\n"
        f"def fwd_sum_{np_type}(buf, prog, i, out, n, ra, sa, va, rb, sb, vb, flags, c):\n"
        f"    a = prog[ra, {OUT}]\n"
        f"    m = prog[ra, {N}]\n"
        f"    buf[out] = _sum_float64(buf[a:a + m])\n"
        f"    r = prog[i]\n"
        f"    r[{OP}] = {SUM}; r[{OUT}] = out; r[{N}] = 1\n"
        f"    r[{A}] = a; r[{SA}] = 1; r[{RA}] = ra; r[{VA}] = va\n"
        f"    r[{B}] = m; r[{SB}] = 0; r[{RB}] = -2; r[{VB}] = 0\n"
        f"    r[{FLAGS}] = flags\n")


def _sum_vjp_source(np_type):
    """The output's one gradient added to each of the input's m (= b) elements."""
    return (f"@kernel(signature=VJP_SIGNATURE_{np_type}, cache=True, error_model='numpy', "
            f"nogil=True)\n"
            f"def vjp_sum_{np_type}(buf_p, nbuf, base, grad_p, ngrad, out, n, a, sa, b, sb, "
            f"need_a, need_b):\n"
            f"    grad = carray(grad_p, ngrad)\n"
            f"    g = grad[out - base]\n"
            f"    target = grad[a - base:a - base + b]\n"
            f"    for k in range(b):\n"
            f"        target[k] += g\n")


# The replay calls each op's vjp_ function through its address, in a table the replay is
# handed (tape/lane.py fills it as each op's forward kernel is first bound).  So compiling the
# interpreter compiles none of the 19 ops' gradient loops: each is a C callback compiled (and
# cached) on its own, when its op is first used.  Measured on an empty cache: the first
# Legendre step's replay_float32 took 17.7 s with every vjp_ inside it.
CALLBACK_SOURCE = '''
from llvmlite import ir
from numba import carray, types
from numba.extending import intrinsic

_INT = types.int64
VJP_SIGNATURE_float32, VJP_SIGNATURE_float64 = (
    types.void(types.CPointer(t), _INT, _INT, types.CPointer(t), _INT, _INT, _INT, _INT, _INT,
               _INT, _INT, _INT, _INT) for t in (types.float32, types.float64))


@intrinsic
def call_vjp(typingctx, address, buf_at, nbuf, base, grad_at, ngrad, out, n, a, sa, b, sb,
             need_a, need_b):
    """Call the C callback at `address` (a vjp_ function) with the buffers' data addresses."""
    signature = types.void(*([_INT] * 14))

    def codegen(context, builder, sig, args):
        i64, data = ir.IntType(64), ir.IntType(8).as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [data, i64, i64, data] + [i64] * 9)
        fn = builder.inttoptr(args[0], fnty.as_pointer())
        call_args = list(args[1:])
        call_args[0] = builder.inttoptr(call_args[0], data)
        call_args[3] = builder.inttoptr(call_args[3], data)
        builder.call(fn, call_args)
        return context.get_dummy_value()
    return signature, codegen
'''


def source():
    reads = ", ".join(str(_reads_mask(name)) for name in LANE_OP_NAMES)
    chunks = [CALLBACK_SOURCE, IMPORT_SOURCE, SUM_SOURCE,
              f"READS = np.array([{reads}], np.int64)\n"]
    for np_type in DTYPES:
        chunks.extend(_forward_source(name, np_type) for name in ELEMENTWISE_OP_NAMES)
        chunks.extend(_vjp_source(name, np_type) for name in ELEMENTWISE_OP_NAMES)
        chunks.extend((_sum_forward_source(np_type), _sum_vjp_source(np_type)))
        chunks.append(_replay_source(np_type))
    return "\n\n".join(chunks)


_module = None


def kernels():
    """The lane's kernel module (written and imported on first use; numba compiles lazily)."""
    global _module
    if _module is None:
        _module = codegen.load_module("lane", source())
    return _module
