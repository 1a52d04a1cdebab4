"""The op table's machinery: the Op record type, the registry, and array/tensor dispatch.

An Op is declared once (in ops/elementwise.py, ops/reductions.py, ...) with its forward on
ndarrays and its VJP.  The VJP is written with ops and operators only, so the same code runs on
ndarrays (plain backward) and on tape Tensors (backward with create_graph=True, recorded).
`ops` never imports `tape`: tape registers its Tensor type and recorder here at import time.
"""

OPS = {}                 # name -> Op: the browsable table
NON_DIFFERENTIABLE = set()

_tensor_type = None      # set by tape.tensor: the Tensor class
_apply_to_tensors = None # set by tape.tensor: apply(op, args, params) -> Tensor(s), recorded


def bind_tensor_type(tensor_type, apply):
    global _tensor_type, _apply_to_tensors
    _tensor_type = tensor_type
    _apply_to_tensors = apply


class InputMeta:
    """Stands in for an input the VJP needs only the shape/dtype of (nothing is saved)."""
    __slots__ = ("shape", "dtype", "ndim")

    def __init__(self, shape, dtype):
        self.shape = shape
        self.dtype = dtype
        self.ndim = len(shape)


class PerInput:
    """The vjps of an op taking any number of inputs (cat, stack): vjps[i] is make(i)."""

    def __init__(self, make):
        self.make = make

    def __getitem__(self, i):
        return self.make(i)

    def __iter__(self):
        yield self.make(0)


_NO_KERNELS = {}


class Op:
    """One operation: forward on ndarrays, one VJP per input, and what the VJPs read.

    forward(*args, **params) -> ndarray (a tuple of ndarrays when n_outputs > 1); args are
        ndarrays and Python scalars.
    vjps[i](g, out, *inputs, **params) -> the gradient for input i; None in vjps means input i
        has no derivative.  Written with ops and operators, so it runs on ndarrays and on Tensors.
    fused_vjp(i, g, out, *inputs) -> the same gradient in one numba pass, ndarrays only (optional).
    saves: indices of the inputs the VJPs read; saves_out: whether they read the output.  An input
        that is not saved reaches the VJP as an InputMeta (shape and dtype only).
    view: the output shares the first input's storage (and so its version counter).
    """
    __slots__ = ("name", "forward", "vjps", "fused_vjp", "saves", "saves_out", "save_plans",
                 "backward_name", "n_outputs", "view", "differentiable", "record_type",
                 "lane", "lane_saves", "forward_into", "direct_a", "direct_as", "direct_sa",
                 "direct_aa", "direct_max", "single", "__dict__")

    def __init__(self, name, forward, vjps=(), *, saves=(), saves_out=False, backward_name=None,
                 n_outputs=1, view=False, fused_vjp=None, save_plans=None):
        self.name = name
        self.forward = forward
        self.vjps = vjps if isinstance(vjps, PerInput) else tuple(vjps)
        self.fused_vjp = fused_vjp
        self.saves = tuple(saves)
        self.saves_out = saves_out
        # requires-grad bitmask of the inputs -> (saved input indices, saves_out); ops whose
        # needs depend on which inputs want gradients (mul saves y only for x's gradient) fill it.
        self.save_plans = save_plans or {}
        self.backward_name = backward_name or (
            "".join(part.capitalize() for part in name.split("_")) + "Backward0")
        self.n_outputs = n_outputs
        self.view = view
        self.differentiable = any(v is not None for v in self.vjps)
        self.record_type = None   # filled by tape: the record class named backward_name
        # Filled by tape.lane for the small-tensor lane's ops: the opcode, and requires-grad
        # mask -> (reads x, reads y, reads out).  None: not a lane op.
        self.lane = self.lane_saves = None
        # forward_into(x, y) -> bool: x <- forward(x, y) in place, where the op has such a
        # path and it applies (elementwise ops; see ops/elementwise.py); None: no such path.
        self.forward_into = None
        # Elementwise ops' compiled forward kernels, called without numba's dispatcher by the
        # Tensor operators when nothing is recorded (tape/tensor.py, _binary): per operand
        # pattern ('a'rray, 's'calar), dtype -> kernel(operands..., 1-d result), for results of
        # the operands' dtype and at most direct_max elements.  Filled as ops/elementwise.py
        # learns them (after a kernel's first call); empty: go through forward.
        self.direct_a = self.direct_as = self.direct_sa = self.direct_aa = _NO_KERNELS
        self.direct_max = -1
        # single(x, y, reflected=False) -> 0-d result or None: +, -, *, / on one 0-d operand
        # and a number or another 0-d array, on Python floats (ops/elementwise.py); None: no
        # such path.
        self.single = None

    def save_plan(self, mask):
        return self.save_plans.get(mask) or (self.saves, self.saves_out)

    def __call__(self, *args, **params):
        """ops.exp(x): on ndarrays runs the kernel; on tape Tensors records through tape."""
        if _tensor_type is not None:
            for a in args:
                if isinstance(a, _tensor_type):
                    return _apply_to_tensors(self, args, params)
        return self.forward(*args, **params)

    def __repr__(self):
        return f"<op {self.name}>"


def register(op):
    if op.name in OPS:
        raise ValueError(f"op {op.name!r} is declared twice")
    OPS[op.name] = op
    if not op.differentiable:
        NON_DIFFERENTIABLE.add(op.name)
    return op


def defop(name, forward, vjps=(), **kw):
    return register(Op(name, forward, vjps, **kw))
