"""The small-tensor lane: small elementwise ops (and whole-tensor sums) recorded as
program rows, replayed in one call.

An elementwise op on small float tensors of one dtype (same shape, or one side a single element
or a Python scalar) builds no Python record with saved tensors.  Its result is written into the
thread's open *block*: a region of one flat float buffer, plus an int program to which the op
appends one row (ops/lane.py has the layout).  The result tensor is a view of the buffer whose
`_record` is the block and whose `_out_index` is its row, so edges into the lane are
(block, row) exactly as they are (record, output index) elsewhere.  Backward hands a block to
one numba call that replays its rows in reverse (`replay`).

An operand that is not a value of the open block (a leaf, the output of a non-lane op, a value
of an older block) is imported: copied into the buffer as a row of its own, listed in
`block.externals` with the edge its gradient goes to.  A Python scalar is stored after the
output it is used for (the row's scalar slot), and so is a 0-d leaf or constant tensor (a
scalar parameter): `block.slots` lists it with its edge, and its gradient, summed into the
slot's place in the gradient buffer, is handed out after the replay.

A non-lane record appended to the tape closes the open blocks, and so does backward, so the
tape's order (blocks and records interleaved) stays a topological order and each replay is
bounded.  A custom autograd.Function applied to values of the open block is no such record: its
result becomes a row of the block (`function_row`), and the replay stops there to run the
Function's backward in Python, then goes on below it (`replay`).  Version counters work as for any tensor: a lane value's Version is created lazily and
registered in its block, and the replay checks every saved operand's version as the Python
engine does.  `python_replay` is the reference: the same semantics over the op table's VJPs on
ndarrays, which the tests check the interpreter against.
"""
import sys
import weakref

import numpy as np

import ops.lane as K
from ops.codegen import first_call_then_direct, jitted
from ops import OPS
from ops.lane import (A, B, FLAGS, FUNCTION, IMPORT, N, NEED_A, NEED_B, OP, OUT, RA, RB, RELEASED,
                      SA, SB, VA, VB)

from . import tape as _tape
from .tape import STATE, _next_seq
from .tensor import Tensor, _version_of, check_view_is_current

# An op whose result has more elements takes the general path.  Measured: at 6,400 elements
# (the two-layer net's hidden layer) the lane's strided loops and imports cost ~5% of that
# step; at 2,000 (the Legendre fit) the lane is ~3% faster; at 3 elements, ~3x.
MAX_SIZE = 4096
CHUNK = 1 << 16          # elements per buffer allocation, shared by consecutive blocks
# A block opened with less room than this left in the newest chunk starts a new chunk: near
# a chunk's end it would soon be split in two, paying a block's fixed costs twice in forward
# and backward (the Legendre step split one graph in three about every third step).
MIN_ROOM = CHUNK // 4
FIRST_ROWS = 32          # a block's program starts this long and doubles as it fills...
MAX_ROWS = 4096          # ...up to this; then the block is closed and a new one opened
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_VARIANT = {_F32: "float32", _F64: "float64"}
_new = object.__new__

# Whether ops take the lane: set_enabled(False) (tests comparing with the general path) and
# anomaly mode (whose records remember where they were made) turn it off.
active = True
_wanted = True
# "numba": replay with the interpreter; "python": with python_replay (the reference).
replay_mode = "numba"


def set_enabled(flag):
    global _wanted
    _wanted = bool(flag)
    refresh()


def refresh():
    global active
    active = _wanted and not _tape.anomaly_enabled


# Programs of dead blocks (Block.__del__), for new blocks: opening a block, Legendre step,
# measured 2.23-2.30 -> 1.65-1.88 us with this and the kernel list's inline lookup.
_spare_programs = []
_getrefcount = sys.getrefcount


def _program():
    """A block's first program: a dead block's, or a new array."""
    if _spare_programs:
        try:
            return _spare_programs.pop()
        except IndexError:   # another thread took the last one
            pass
    return np.empty((FIRST_ROWS, K.ROW), np.int64)


class _Holder:
    __slots__ = ("prog",)


def _count_when_only_an_attribute_refers():
    """What Block.__del__'s getrefcount reads when only the block refers to its program (the
    interpreter's own references vary between Python versions, so it is measured; as
    engine._SOLE_OWNER is for a local variable)."""
    holder = _Holder()
    holder.prog = np.empty(1)
    return _getrefcount(holder.prog)


_ONLY_THE_BLOCK = _count_when_only_an_attribute_refers()


class Block:
    """One run of lane ops: a buffer region, the program rows, and what was imported.  It is
    the `_record` of its values (their `_out_index` is the row)."""
    __slots__ = ("buf", "base", "pos", "end", "prog", "n_rows", "dtype", "shapes", "externals",
                 "imported", "versions", "hooks", "retained", "nodes", "seq", "fwd", "open_in",
                 "imports_records", "functions", "slots", "saved_slots", "__weakref__")

    def __init__(self, buf, base, dtype, chunks):
        self.buf = buf
        self.base = base
        self.pos = base
        self.end = buf.size
        self.prog = _program()   # rows written by the kernels
        self.n_rows = 0
        self.dtype = dtype
        self.shapes = []       # per row: its value's shape
        # row -> (tensor, edge, saved) per import; edge None: no gradient wanted
        self.externals = {}
        self.imported = {}     # id(tensor) -> (row, data, version, edge) of its latest import
        self.imports_records = False   # whether an import's gradient goes to a record or block
        self.versions = {}     # row -> Version of that value (created lazily, see _version_of)
        self.hooks = None      # row -> [hooks], as Record.hooks: Tensor.register_hook
        self.retained = None   # row -> weakref, as Record.retained: retain_grad
        self.nodes = None      # row -> LaneNode: the grad_fn objects handed out and alive
        self.functions = None  # row -> (ctx, row per input or None) of a FUNCTION row
        # row -> (tensor, edge or None) of an operand held in the row's scalar slot
        # (_emit_with_slot): a 0-d leaf or constant, not imported; and row -> (tensor, version
        # read) of those the row's gradients read (refreshed and version-checked at backward)
        self.slots = self.saved_slots = None
        self.seq = _next_seq()
        self.fwd = _kernel_cache.get(dtype) or _forward_kernels(dtype)
        self.open_in = chunks  # while open: its tape's lane_chunks, where close() leaves pos

    def close(self):
        """No more rows: the next block of this dtype continues the buffer after this one."""
        chunks = self.open_in
        if chunks is not None:
            chunks[self.dtype] = (self.buf, self.pos)
            self.open_in = None

    def __del__(self):
        # An open block whose values all died (the tape holds it weakly) closes as it goes.
        # The recording paths check open_in too: while this runs (another thread dropped the
        # last value) the weak reference still answers, and a closed block takes no rows.
        self.close()
        # Its program, if still the first one and referred to by nothing else (no view: a
        # view holds its base), serves a later block (_program).
        if (len(self.prog) == FIRST_ROWS and len(_spare_programs) < 8
                and _getrefcount(self.prog) == _ONLY_THE_BLOCK):
            _spare_programs.append(self.prog)

    def node(self, row):
        """The grad_fn of the value at `row` (one object per row)."""
        if self.nodes is None:
            # weak: a node holds its block, so a strong cache would keep both alive in a cycle
            self.nodes = weakref.WeakValueDictionary()
        node = self.nodes.get(row)
        if node is None:
            code = int(self.prog[row, OP])
            if code == FUNCTION:
                return self.functions[row][0]
            cls = _node_type(OPS[K.LANE_OP_NAMES[code]]) if code != IMPORT else LaneNode
            node = self.nodes[row] = cls(self, row)
        return node

    def __repr__(self):
        return f"<lane block of {self.n_rows} rows at {hex(id(self))}>"


class LaneNode:
    """What grad_fn shows for a lane value (its class is named as PyTorch names the node)."""
    __slots__ = ("block", "row", "__weakref__")

    def __init__(self, block, row):
        self.block = block
        self.row = row

    def name(self):
        return type(self).__name__

    @property
    def next_functions(self):
        from .tensor import AccumulateGrad
        blk = self.block
        r = blk.prog[self.row]
        result = []
        n_inputs = N_INPUTS[r[OP]]
        for src, need in ((r[RA], r[FLAGS] & NEED_A), (r[RB], r[FLAGS] & NEED_B))[:n_inputs]:
            if src == -1 and need:   # a leaf in the row's scalar slot
                result.append((AccumulateGrad(blk.slots[self.row][0]), 0))
            elif src < 0 or not need:
                result.append((None, 0))
            elif blk.prog[src, OP] != IMPORT:
                result.append((blk.node(int(src)), 0))
            else:
                node, idx = blk.externals[int(src)][1]
                result.append((AccumulateGrad(node), 0) if isinstance(node, Tensor)
                              else (_grad_fn(node, idx), 0))
        return tuple(result)

    def register_hook(self, fn):
        raise NotImplementedError("hooks on grad_fn nodes are not supported; use "
                                  "Tensor.register_hook")

    def __repr__(self):
        return f"<{type(self).__name__} object at {hex(id(self))}>"


def _grad_fn(record, index):
    return record.node(index) if type(record) is Block else record


_node_types = {}


def _node_type(op):
    cls = _node_types.get(op.name)
    if cls is None:
        cls = _node_types[op.name] = type(op.backward_name, (LaneNode,), {"__slots__": ()})
    return cls


_kernel_cache = {}


def _forward_kernels(dtype):
    """opcode -> this dtype's forward kernel, and at IMPORT its import_value (the lane's
    kernel module loads on first use)."""
    fwd = _kernel_cache.get(dtype)
    if fwd is None:
        module = K.kernels()
        fwd = _kernel_cache[dtype] = []
        names = [f"fwd_{name}_{_VARIANT[dtype]}" for name in K.LANE_OP_NAMES]
        names.append("import_value")   # at index IMPORT
        for code, name in enumerate(names):
            fwd.append(_first_call(module, name, fwd, code))
    return fwd


def _first_call(module, name, fwd, code):
    """fwd[code] until its first call: the kernel's dispatcher is made then (most blocks use
    a few of the 20), and the compiled function replaces this stand-in (buf, prog and the
    scalars have one type per dtype, so the direct call is safe).  An op's gradient callback
    is compiled first and its address entered for the replay: no row of an op exists before
    its forward kernel ran, so the replay never meets an op without one."""
    def call(*args):
        if code != IMPORT:
            dtype = args[0].dtype
            vjp = jitted(module, f"vjp_{K.LANE_OP_NAMES[code]}_{_VARIANT[dtype]}")
            _vjp_addresses[dtype][code] = vjp.address
        kernel = first_call_then_direct(jitted(module, name),
                                        lambda direct: fwd.__setitem__(code, direct))
        return kernel(*args)
    return call


# opcode -> how many operands its rows have
N_INPUTS = [1 if name == "sum" else len(OPS[name].argnames) for name in K.LANE_OP_NAMES]

# dtype -> per opcode, the address of its vjp_ C callback (0 until its op is first used)
_vjp_addresses = {dtype: np.zeros(len(K.LANE_OP_NAMES), np.int64) for dtype in _VARIANT}


# ---- recording ---------------------------------------------------------------------------

def _open_block(tape, dtype, need):
    """A new block, continuing the newest block's buffer when it has room."""
    tape.close_lane()
    buf, pos = tape.lane_chunks.get(dtype, (None, 0))
    if buf is not None and buf.size - pos >= (need if need > MIN_ROOM else MIN_ROOM):
        blk = Block(buf, pos, dtype, tape.lane_chunks)
    else:
        blk = Block(np.empty(max(CHUNK, need), dtype), 0, dtype, tape.lane_chunks)
    tape.append_block(blk)
    if dtype is _F32:
        tape.lane_f32 = weakref.ref(blk)
    else:
        tape.lane_f64 = weakref.ref(blk)
    return blk


def _block_for(dtype, need, rows):
    """The open block of `dtype`, with room for `need` elements and `rows` rows."""
    tape = STATE.tape
    blk = (tape.lane_f32 if dtype is _F32 else tape.lane_f64)()
    if blk is None or blk.open_in is None or blk.end - blk.pos < need:
        return _open_block(tape, dtype, need)
    if blk.n_rows + rows > len(blk.prog) and not _grow_program(blk, rows):
        return _open_block(tape, dtype, need)
    return blk


def _grow_program(blk, rows):
    """Double blk's program if `rows` more rows fit within MAX_ROWS; False if they do not."""
    n_rows = blk.n_rows
    if n_rows + rows > MAX_ROWS:
        return False
    prog = np.empty((2 * len(blk.prog), K.ROW), np.int64)
    prog[:n_rows] = blk.prog[:n_rows]
    blk.prog = prog
    return True


def _place(blk, t, saved):
    """(row, version read) of Tensor `t`, not a value of `blk`, as an operand in `blk`: a row
    importing a copy (the callers handle a value of `blk` itself inline)."""
    v = t._version
    if t._base is not None and t._requires_grad:
        check_view_is_current(t)
    data = t._data
    version = 0 if v is None else v.value
    edge = None
    if t._requires_grad:
        if t._record is not None:
            edge = (t._record, t._out_index)
            blk.imports_records = True
        else:
            edge = (t, 0)
    # A tensor used again (x in y * x, many times) shares one import while its buffer, version,
    # edge and values are unchanged (the kernel compares the values: writes through .data
    # or numpy change no version).  The block's externals hold t, so id(t) stays unique.
    same = -1
    prev = blk.imported.get(id(t))
    if prev is not None and prev[1] is data and prev[2] == version and prev[3] == edge:
        same = prev[0]
    row = blk.n_rows
    off = blk.pos
    # ravel: always a C-contiguous 1-d array (a copy only if `data` is not contiguous), the
    # one layout the direct call to the kernel may be given
    got = blk.fwd[IMPORT](blk.buf, blk.prog, row, off, data.ravel(),
                          NEED_A if edge is not None else 0, same)
    if got != row:
        if saved and not blk.externals[got][2]:
            blk.externals[got] = (t, edge, True)
        return got, version
    blk.pos = off + data.size
    blk.n_rows = row + 1
    blk.shapes.append(data.shape)
    blk.externals[row] = (t, edge, saved)
    blk.imported[id(t)] = (row, data, version, edge)
    return row, version


def _emit(code, blk, shape, n, ra, sa, va, rb, sb, vb, flags, c, scalar):
    """Run opcode `code`'s forward kernel (it also writes the row) and wrap the result.
    scalar: 1 when an operand is the Python scalar c (its slot follows the output)."""
    off = blk.pos
    blk.pos = off + n + scalar
    row = blk.n_rows
    blk.n_rows = row + 1
    blk.shapes.append(shape)
    buf = blk.buf
    blk.fwd[code](buf, blk.prog, row, off, n, ra, sa, va, rb, sb, vb, flags, c)
    data = buf[off:off + n]
    if len(shape) != 1:
        data = data.reshape(shape)
    out = _new(Tensor)   # as tensor._wrap, with the lane's record in place
    out._data = data
    out._requires_grad = True
    out._grad = None
    out._record = blk
    out._out_index = row
    out._version = None
    out._base = None
    out._hooks = None
    return out


def _emit_with_slot(code, blk, shape, n, ra, sa, va, rb, sb, vb, flags, t, saved):
    """_emit with Tensor `t`, a 0-d leaf or constant, as the operand in the row's scalar slot
    (its ra or rb is -1): no import row.  Its value is written there as a Python scalar's is,
    refreshed before a replay if `saved` (current_versions), its version checked and its
    gradient, summed into the slot's place in the gradient buffer, handed out after
    (slot_gradients).  (The Legendre step's four scalar parameters: ~0.6 us an op less.)"""
    out = _emit(code, blk, shape, n, ra, sa, va, rb, sb, vb, flags, t._data.item(), 1)
    row = out._out_index
    if blk.slots is None:
        blk.slots = {}
    blk.slots[row] = (t, (t, 0) if t._requires_grad else None)
    if saved:
        v = t._version
        if blk.saved_slots is None:
            blk.saved_slots = {}
        blk.saved_slots[row] = (t, 0 if v is None else v.value)
    return out


# The hot path of binary() and unary() reads the open block inline when it has room for any
# op (3 * MAX_SIZE elements, a free row each for two imports and the result), and an operand
# that is already its value; _block_for and _place handle everything else.

def binary(op, a, b, reflected=False):
    """op(a, b) through the lane, or None where it does not apply (the caller goes general).
    a is a Tensor; b a Tensor or a Python float/int.  reflected: b is the op's first input."""
    ad = a._data
    dtype = ad.dtype
    if dtype is not _F32 and dtype is not _F64:
        return None
    if isinstance(b, Tensor):
        bd = b._data
        if bd.dtype is not dtype:
            return None
        ashape, bshape = ad.shape, bd.shape
        n = ad.size
        if ashape == bshape:
            shape, sa, sb = ashape, 1, 1
        elif bd.size == 1 and len(bshape) <= len(ashape):
            shape, sa, sb = ashape, 1, 0
        elif n == 1 and len(ashape) <= len(bshape):
            shape, sa, sb = bshape, 0, 1
            n = bd.size
        else:
            return None
        if n > MAX_SIZE or n == 0:
            return None
        flags = a._requires_grad | b._requires_grad << 1
        tape = STATE.tape
        blk = (tape.lane_f32 if dtype is _F32 else tape.lane_f64)()
        if (blk is None or blk.open_in is None or blk.end - blk.pos < 3 * MAX_SIZE
                or blk.n_rows + 3 > len(blk.prog)):
            blk = _block_for(dtype, n + ad.size + bd.size, 3)
        reads = op.lane_saves[flags]
        # A 0-d leaf or constant (a scalar parameter) goes in the row's scalar slot (-1), not
        # an import row: b if it is one, else a.
        slot_b = not bshape and b._record is None and b is not a and b._base is None
        slot_a = (not slot_b and not ashape and a._record is None and b is not a
                  and a._base is None)
        if slot_a:
            ra, va = -1, 0
        elif a._record is blk:
            v = a._version
            ra, va = a._out_index, 0 if v is None else v.value
        else:
            ra, va = _place(blk, a, reads[0])
        if slot_b:
            rb, vb = -1, 0
        elif b is a:
            rb, vb = ra, va
        elif b._record is blk:
            v = b._version
            rb, vb = b._out_index, 0 if v is None else v.value
        else:
            rb, vb = _place(blk, b, reads[1])
        if slot_a or slot_b:
            return _emit_with_slot(op.lane, blk, shape, n, ra, sa, va, rb, sb, vb, flags,
                                   b if slot_b else a, reads[1] if slot_b else reads[0])
        return _emit(op.lane, blk, shape, n, ra, sa, va, rb, sb, vb, flags, 0.0, 0)
    if type(b) is not float:
        if type(b) is not int or not -2 ** 63 <= b < 2 ** 63:   # huge ints: general path
            return None
        b = float(b)   # the kernel's scalar; stored in the buffer's dtype as the general path does
    n = ad.size
    if n > MAX_SIZE or n == 0:
        return None
    tape = STATE.tape
    blk = (tape.lane_f32 if dtype is _F32 else tape.lane_f64)()
    if (blk is None or blk.open_in is None or blk.end - blk.pos < 3 * MAX_SIZE
            or blk.n_rows + 2 > len(blk.prog)):
        blk = _block_for(dtype, 2 * n + 1, 2)
    if a._record is blk:
        v = a._version
        ra, va = a._out_index, 0 if v is None else v.value
    else:
        ra, va = _place(blk, a, op.lane_saves[NEED_B if reflected else NEED_A][reflected])
    if reflected:
        return _emit(op.lane, blk, ad.shape, n, -1, 0, 0, ra, 1, va, NEED_B, b, 1)
    return _emit(op.lane, blk, ad.shape, n, ra, 1, va, -1, 0, 0, NEED_A, b, 1)


def unary(op, a):
    """op(a) through the lane, or None where it does not apply.  The sum (opcode SUM, a.sum()
    over every element) is one of these: its value is one element, its gradient reads none."""
    ad = a._data
    dtype = ad.dtype
    if dtype is not _F32 and dtype is not _F64:
        return None
    n = ad.size
    if n > MAX_SIZE or n == 0:
        return None
    code = op.lane
    shape, n_out = (ad.shape, n) if code != K.SUM else ((), 1)
    tape = STATE.tape
    blk = (tape.lane_f32 if dtype is _F32 else tape.lane_f64)()
    if (blk is None or blk.open_in is None or blk.end - blk.pos < 3 * MAX_SIZE
            or blk.n_rows + 2 > len(blk.prog)):
        blk = _block_for(dtype, n + n_out, 2)
    if a._record is blk:
        v = a._version
        ra, va = a._out_index, 0 if v is None else v.value
    else:
        ra, va = _place(blk, a, op.lane_saves[NEED_A][0])
    # a unary op's unused second operand: row -2
    return _emit(code, blk, shape, n_out, ra, 1, va, -2, 0, 0, NEED_A, 0.0, 0)


class SavedLaneValue:
    """A custom Function's saved input that is a value of the block holding the Function's row:
    its array and Version, not the tensor, whose record is that block (the block holds the
    Function's ctx, so the tensor would make a reference cycle).  saved_tensors rebuilds it."""
    __slots__ = ("data", "row", "version")

    def __init__(self, data, row, version):
        self.data = data
        self.row = row
        self.version = version


def _count_for_an_array_only_its_tensor_holds():
    """What function_row's getrefcount reads for an array nothing but one Tensor refers to
    (measured, as _ONLY_THE_BLOCK is)."""
    t = _new(Tensor)
    t._data = np.empty(1)
    data = t._data
    return _getrefcount(data)


_ONLY_ITS_TENSOR = _count_for_an_array_only_its_tensor_holds()


def function_row(ctx, args, result):
    """Record a custom Function's application as a row of the open block, or return None (the
    caller records it on the tape).  It applies when `result` (forward's one Tensor output,
    nothing marked dirty or non-differentiable) is a small float array of the open block's
    dtype that only it refers to, every input that requires grad is a value of that block, and
    forward saved no output.  The result's array moves into the block (a copy; nothing else
    sees the old one), so the lane ops that read it need no import, and the Function splits
    no block in two: its backward runs when the replay reaches its row (replay)."""
    data = result._data
    dtype = data.dtype
    if dtype is not _F32 and dtype is not _F64:
        return None
    n = data.size
    if (n > MAX_SIZE or n == 0 or result._requires_grad or result._record is not None
            or result._version is not None or result._base is not None
            or result._hooks is not None or data.base is not None
            or _getrefcount(data) != _ONLY_ITS_TENSOR):
        return None
    tape = STATE.tape
    blk = (tape.lane_f32 if dtype is _F32 else tape.lane_f64)()
    if blk is None or blk.open_in is None or blk.end - blk.pos < n:
        return None
    input_rows, input_meta = [], []
    for a in args:
        if isinstance(a, Tensor):
            if a is result:
                return None
            input_meta.append(a._data.shape)
            if a._requires_grad:
                if a._record is not blk:
                    return None
                input_rows.append(a._out_index)
                continue
        else:
            input_meta.append(None)
        input_rows.append(None)
    to_save = ctx._to_save
    for t in to_save:
        if t is result or t is not None and t._record is blk and t._data.base is not blk.buf:
            return None
    if blk.n_rows + 1 > len(blk.prog) and not _grow_program(blk, 1):
        return None
    # Nothing fails from here on.
    saved, versions = [], []
    for t in to_save:
        if t is None:
            saved.append(None)
            continue
        v = _version_of(t)
        d = t._data
        versions.append((v, v.value, d.shape, d.dtype))
        saved.append(SavedLaneValue(d, t._out_index, v) if t._record is blk else t)
    row = blk.n_rows
    off = blk.pos
    copy = _direct_kernels.get(("function_value", dtype)) or _direct_kernel("function_value",
                                                                          dtype)
    copy(blk.buf, blk.prog, row, off, data.ravel())
    blk.pos = off + n
    blk.n_rows = row + 1
    shape = data.shape
    blk.shapes.append(shape)
    if blk.functions is None:
        blk.functions = {}
    blk.functions[row] = (ctx, input_rows)
    # Record.__init__'s fields, without its entry on the tape: the block is the Function's
    # place there.  Edges name the input rows; the block is reached through a weak reference.
    ctx.seq = _next_seq()
    ctx.edges = tuple(input_rows)
    ctx.inputs = tuple(saved)
    ctx.versions = tuple(versions)
    ctx.out = None
    ctx.out_meta = ((shape, dtype),)
    ctx.params = None
    ctx.saves = bool(saved)
    ctx.released = False
    ctx.hooks = None
    ctx.retained = None
    ctx._input_meta = tuple(input_meta)
    ctx._output_tensor = (True,)
    ctx._lane_block = weakref.ref(blk)
    ctx._recorded = True
    ctx._to_save = ()   # its tensors are in ctx.inputs now; kept, a block value's is a cycle
    value = blk.buf[off:off + n]
    result._data = value if len(shape) == 1 else value.reshape(shape)
    result._requires_grad = True
    result._record = blk
    result._out_index = row
    return result


def register_version(t, v):
    """t (whose _record is a block) gets its first Version: when t holds that block's value
    (not a copy), the value's one Version is what the replay checks."""
    blk = t._record
    if t._data.base is blk.buf:
        return blk.versions.setdefault(t._out_index, v)
    return v


def attach(ops_table):
    """Give each lane op its opcode and which values its gradient formulas read."""
    ops_table["sum"].lane = K.SUM   # its gradient reads nothing
    ops_table["sum"].lane_saves = dict.fromkeys(range(4), (False, False, False))
    for name in K.ELEMENTWISE_OP_NAMES:
        op = ops_table[name]
        op.lane = K.OPCODE[name]
        reads = [K._reads(f) for f in op.grad_formulas]
        saves = {}
        for mask in range(4):
            want = set()
            for k, r in enumerate(reads):
                if mask >> k & 1:
                    want |= r
            saves[mask] = ("x" in want, "y" in want, "out" in want)
        op.lane_saves = saves   # requires-grad mask -> (reads x, reads y, reads out)


# ---- replay ------------------------------------------------------------------------------

class LaneGradients:
    """One backward's gradients for one block: a buffer parallel to the block's region and a
    flag per row saying a gradient arrived."""
    __slots__ = ("grad", "live")

    def __init__(self, blk):
        self.grad = np.zeros(blk.pos - blk.base, blk.dtype)
        self.live = np.zeros(blk.n_rows, np.uint8)

    def add(self, blk, row, g):
        """Add g (an ndarray of the block's dtype) to the gradient of the value at `row`."""
        prog = blk.prog   # .item: a Python int, cheaper than numpy's scalars here
        n = prog.item(row, N)
        if g.size != n:   # the value's .data was replaced with another shape
            raise RuntimeError(f"Function {blk.node(row).name()} returned an invalid gradient: "
                               f"got {list(g.shape)} but expected shape compatible with "
                               f"{list(blk.shapes[row])}")
        grad = self.grad
        if n == 1:
            # A loss's seed: numpy's scalar add in the buffer's dtype (a Python number is a
            # weak operand, so float32 adds in float32, as the kernel; 0.6 us less a backward)
            grad[prog.item(row, OUT) - blk.base] += g.item()
            self.live[row] = 1
            return
        dtype = grad.dtype
        if g.dtype is not dtype and g.dtype != dtype:   # a seed of another dtype
            g = g.astype(dtype)
        add = _direct_kernels.get(("add_gradient", dtype)) or _direct_kernel("add_gradient",
                                                                             dtype)
        # ravel: the one layout the direct call may be given (a copy only if g is strided)
        add(grad, prog.item(row, OUT) - blk.base, g.ravel())
        self.live[row] = 1

    def of(self, blk, row):
        """The gradient of the value at `row`: a view of this backward's buffer.  Nothing
        writes that region once it is read (a value's gradient is complete when its row is
        replayed, and an import row is nobody's input), so receivers may keep it; a leaf's
        .grad copies it (engine._unshared).  A 0-d value's is a new array instead, which a
        leaf's .grad takes as it is (0.47 us for the view and its copy, 0.16 us for this)."""
        prog = blk.prog
        start = prog.item(row, OUT) - blk.base
        shape = blk.shapes[row]
        if shape == ():
            return np.array(self.grad[start])
        return self.grad[start:start + prog.item(row, N)].reshape(shape)

    def set(self, blk, row, g):
        start = blk.prog[row, OUT] - blk.base
        self.grad[start:start + blk.prog[row, N]] = np.asarray(g).reshape(-1)


def current_versions(blk):
    """Per row, its value's version now (0 for a value never given a Version).  Saved imports
    are refreshed from their tensors, so a write through .data is seen as PyTorch sees it
    (its saved tensor shares the memory)."""
    ver = np.zeros(blk.n_rows, np.int64)
    for row, v in blk.versions.items():
        ver[row] = v.value
    if blk.externals:
        prog, buf, dtype, shapes = blk.prog, blk.buf, blk.dtype, blk.shapes
        for row, (t, edge, saved) in blk.externals.items():
            v = t._version
            if v is not None:
                ver[row] = v.value
            if saved:
                data = t._data
                if data.shape != shapes[row]:
                    continue   # replaced with another shape: the replay raises for it
                if data.dtype is dtype:   # the kernel's one signature (measured 0.7 -> 0.35 us)
                    copy = _direct_kernels.get(("copy_into", dtype)) or _direct_kernel(
                        "copy_into", dtype)
                    copy(buf, prog.item(row, OUT), data.ravel())
                else:   # .data replaced with another dtype: numpy casts
                    off = prog[row, OUT]
                    buf[off:off + data.size] = data.reshape(-1)
    if blk.saved_slots:
        prog, buf = blk.prog, blk.buf
        for row, (t, _) in blk.saved_slots.items():
            data = t._data
            if data.shape == ():   # replaced with another shape: not refreshed, as an import
                # .item(): a Python number, converted to the buffer's dtype as numpy casts
                buf[prog.item(row, OUT) + prog.item(row, N)] = data.item()
    return ver


def slot_gradients(blk, state):
    """[(edge, gradient)] of the operands held in rows' scalar slots that want one, after a
    replay."""
    result = []
    live, grad, prog, base = state.live, state.grad, blk.prog, blk.base
    for row, (_, edge) in blk.slots.items():
        if edge is not None and live[row]:
            result.append((edge, np.array(grad[prog.item(row, OUT) + prog.item(row, N) - base])))
    return result


def stale_slot(blk, row):
    """(version now, version read) if the saved operand in row's scalar slot was modified in
    place since the row read it; None if it was not, or the row has no such operand."""
    t, version = blk.saved_slots.get(row, (None, 0)) if blk.saved_slots else (None, 0)
    v = None if t is None else t._version
    if v is not None and v.value != version:
        return v.value, version
    return None


def _stale_slots(blk, lo, hi):
    """(row, version now, version read) of the rows in [lo, hi) with a stale_slot, highest row
    first."""
    stale = []
    for row in blk.saved_slots:
        if lo <= row < hi:
            versions = stale_slot(blk, row)
            if versions is not None:
                stale.append((row, *versions))
    stale.sort(reverse=True)
    return stale


def row_saves(blk, i):
    """Whether row i's needed gradients read saved values (backward then releases it)."""
    code = blk.prog[i, OP]
    if code == FUNCTION:
        ctx = blk.functions[i][0]
        return ctx.saves and not ctx.released
    return code != IMPORT and any(OPS[K.LANE_OP_NAMES[code]].lane_saves[blk.prog[i, FLAGS] & 3])


def check_row(blk, i, ver):
    """The status replaying row i ends with before computing anything: freed, or a saved
    value modified in place since it was read; 0 when it may run."""
    code, out, n, a, sa, ra, va, b, sb, rb, vb, flags = blk.prog[i].tolist()
    if code == IMPORT or code == FUNCTION:
        return 0
    reads_x, reads_y, reads_out = OPS[K.LANE_OP_NAMES[code]].lane_saves[flags & 3]
    if (reads_x or reads_y or reads_out) and flags & RELEASED:
        return 1 + 4 * i + K.FREED
    if reads_x and ra >= 0 and ver[ra] != va:
        return 1 + 4 * i + K.STALE_X
    if reads_y and rb >= 0 and ver[rb] != vb:
        return 1 + 4 * i + K.STALE_Y
    if reads_out and ver[i] != 0:
        return 1 + 4 * i + K.STALE_OUT
    return 0


def python_replay(blk, grad, live, ver, lo, hi, retain, inspect=None):
    """The interpreter's semantics in plain Python over the op table's VJPs (ndarrays): the
    reference the tests compare the numba replay with.  Same status codes.
    inspect(row, gradients per operand): anomaly mode's NaN check."""
    buf, base, prog = blk.buf, blk.base, blk.prog
    for i in range(hi - 1, lo - 1, -1):
        code, out, n, a, sa, ra, va, b, sb, rb, vb, flags = prog[i].tolist()
        if not live[i] or code == IMPORT:
            continue
        if code == FUNCTION:
            return -1 - i
        status = check_row(blk, i, ver)
        if status:
            return status
        g = grad[out - base:out - base + n]
        if code == K.SUM:   # b: the input's element count
            grad[a - base:a - base + b] += g[0]
            live[ra] = 1
            if inspect is not None:
                inspect(i, [np.full(b, g[0])])
            continue
        op = OPS[K.LANE_OP_NAMES[code]]
        args = [buf[a:a + n] if sa else np.full(n, buf[a], buf.dtype)]
        if N_INPUTS[code] == 2:
            args.append(buf[b:b + n] if sb else np.full(n, buf[b], buf.dtype))
        operands = ((a, sa, ra, flags & NEED_A), (b, sb, rb, flags & NEED_B))[:len(args)]
        grads = [None] * len(args)
        for k, (off, stride, src, need) in enumerate(operands):
            if not need:
                continue
            gk = grads[k] = np.broadcast_to(op.vjps[k](g, buf[out:out + n], *args), (n,))
            if stride:
                grad[off - base:off - base + n] += gk
            else:
                grad[off - base] += gk.sum(dtype=np.float64)
            if src >= 0:   # (-1: an operand in the scalar slot, its gradient handed out after)
                live[src] = 1
        if inspect is not None:
            inspect(i, grads)
        if row_saves(blk, i) and not retain:
            prog[i, FLAGS] = flags | RELEASED
    return 0


def raise_status(blk, status, ver):
    from .engine import FREED, _modified_error
    i, kind = divmod(status - 1, 4)
    if kind == K.FREED:
        raise RuntimeError(FREED)
    r = blk.prog[i]
    row, expected = {K.STALE_X: (r[RA], r[VA]), K.STALE_Y: (r[RB], r[VB]),
                     K.STALE_OUT: (i, 0)}[kind]
    raise _modified_error(int(ver[row]), int(expected), (blk.shapes[row], blk.dtype))


# (name, dtype) -> lane kernel `name` for blocks of `dtype`, called directly after its first
# call (codegen.first_call_then_direct): each call site passes one set of types (1-d
# C-contiguous arrays of dtype, Python ints, the replay's int and flag arrays)
_direct_kernels = {}


def _direct_kernel(name, dtype):
    """The kernel module's function `name`, or `name`_<dtype> where it has one per dtype."""
    module = K.kernels()
    variant = name if name in module.__dict__ else f"{name}_{_VARIANT[dtype]}"

    def install(direct):
        _direct_kernels[name, dtype] = direct
    fn = _direct_kernels[name, dtype] = first_call_then_direct(jitted(module, variant), install)
    return fn


def replay(blk, state, lo, hi, ver, retain, inspect=None):
    """Replay rows [lo, hi) of `blk` in reverse, with the gradients in `state`.  A row whose
    saved slot operand was modified in place raises when reached with a gradient, before it
    runs (or releases anything), as the interpreter's own version checks do."""
    if blk.saved_slots:
        for row, now, version in _stale_slots(blk, lo, hi):
            _replay(blk, state, row + 1, hi, ver, retain, inspect)
            if state.live[row]:
                from .engine import _modified_error
                raise _modified_error(now, version, ((), blk.dtype))
            hi = row + 1
    _replay(blk, state, lo, hi, ver, retain, inspect)


def _replay(blk, state, lo, hi, ver, retain, inspect):
    """replay's rows [lo, hi): at a custom Function's row the interpreter returns, its backward
    runs, and the replay goes on below it."""
    while True:
        if replay_mode == "numba" and inspect is None:
            fn = _direct_kernels.get(("replay", blk.dtype)) or _direct_kernel("replay",
                                                                              blk.dtype)
            status = fn(blk.buf, blk.base, state.grad, state.live, ver, blk.prog, lo, hi,
                        bool(retain), _vjp_addresses[blk.dtype])
        else:
            status = python_replay(blk, state.grad, state.live, ver, lo, hi, retain, inspect)
        if status >= 0:
            break
        hi = -1 - status
        prev = STATE.grad_enabled
        STATE.grad_enabled = False   # this graph is not differentiated (else: create_graph)
        try:
            gradients = function_gradients(blk, hi, state.of(blk, hi), False, retain, inspect)
        finally:
            STATE.grad_enabled = prev
        for src, g in gradients:
            state.add(blk, src, g)
    if status:
        raise_status(blk, status, ver)


_fit = None   # engine._fit, imported on first use (engine imports this module)


def _import_fit():
    global _fit
    from .engine import _fit
    return _fit


def function_gradients(blk, row, g, create_graph, retain, inspect=None):
    """The custom Function of FUNCTION row `row` run backward on its value's gradient g:
    [(input row, its gradient fitted to that value's shape and dtype)].  Unless `retain`,
    the Function's saved tensors are released, as the engine releases a record's."""
    fit = _fit or _import_fit()   # an import statement costs 0.65 us a call
    ctx, input_rows = blk.functions[row]
    grads = ctx.python_backward([g], create_graph)
    if inspect is not None:
        inspect(row, grads)
    result = []
    shapes, dtype = blk.shapes, blk.dtype
    for src, gk in zip(input_rows, grads):
        if src is None or gk is None:
            continue
        shape = shapes[src]
        if create_graph or gk.shape != shape or gk.dtype is not dtype:
            gk = fit(gk, shape, dtype, create_graph)
        result.append((src, gk))
    if not retain and ctx.saves:
        ctx.inputs = None
        ctx.released = True
    return result


def held_bytes(blk):
    """Bytes of the block's buffer region while a row that reads saved values can still be
    replayed (0 once backward has released them all)."""
    for i in range(blk.n_rows):
        if not blk.prog[i, FLAGS] & RELEASED and row_saves(blk, i):
            return (blk.pos - blk.base) * blk.dtype.itemsize
    return 0
