"""In-place ops, the version counter, indexing with duplicates, assignment and conversions."""
import os
import subprocess
import sys

import numpy as np
import pytest

import tape
from helpers import check_grads
from tape.tape import STATE

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEAF = "a leaf Variable that requires grad is being used in an in-place operation."
MODIFIED = "modified by an inplace operation"


def _live_records():
    return sum(r() is not None for r in STATE.tape.records)


# ---- each in-place op on a non-leaf has the gradient of its out-of-place twin -------------
def _ip(method, *args):
    def fn(x, y):
        h = x * 1                       # a non-leaf, so the in-place op is recorded
        getattr(h, method)(*[y if a == "y" else a for a in args])
        return h
    return fn


INPLACE = [
    ("add_", _ip("add_", "y"), lambda x, y: x + y),
    ("add_alpha", lambda x, y: (x * 1).add_(y, alpha=2), lambda x, y: x + 2 * y),
    ("sub_", _ip("sub_", "y"), lambda x, y: x - y),
    ("mul_", _ip("mul_", "y"), lambda x, y: x * y),
    ("div_", _ip("div_", "y"), lambda x, y: x / y),
    ("pow_", _ip("pow_", 3), lambda x, y: x ** 3 + 0 * y),
    ("zero_", _ip("zero_"), lambda x, y: 0 * x + 0 * y),
    ("fill_", _ip("fill_", 2.5), lambda x, y: 0 * x + 2.5 + 0 * y),
    ("clamp_", _ip("clamp_", -0.5, 0.5), lambda x, y: x.clamp(-0.5, 0.5) + 0 * y),
    ("exp_", _ip("exp_"), lambda x, y: x.exp() + 0 * y),
    ("sigmoid_", _ip("sigmoid_"), lambda x, y: x.sigmoid() + 0 * y),
    ("copy_", _ip("copy_", "y"), lambda x, y: 0 * x + y),
    ("iadd", lambda x, y: _aug(x, y, "+"), lambda x, y: x + y),
    ("isub", lambda x, y: _aug(x, y, "-"), lambda x, y: x - y),
    ("imul", lambda x, y: _aug(x, y, "*"), lambda x, y: x * y),
    ("idiv", lambda x, y: _aug(x, y, "/"), lambda x, y: x / y),
]


def _aug(x, y, op):
    h = x * 1
    if op == "+":
        h += y
    elif op == "-":
        h -= y
    elif op == "*":
        h *= y
    else:
        h /= y
    return h


@pytest.mark.parametrize("name,inplace,reference", INPLACE, ids=[c[0] for c in INPLACE])
def test_inplace_gradient_matches_out_of_place(name, inplace, reference):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.5, 1.5, (2, 3))
    x[np.abs(np.abs(x) - 0.5) < 0.1] = 1.0      # clear of clamp's kinks
    y = rng.uniform(0.5, 2, (3,))
    check_grads(inplace, x, y)
    xs = [tape.tensor(x, requires_grad=True), tape.tensor(y, requires_grad=True)]
    ys = [tape.tensor(x, requires_grad=True), tape.tensor(y, requires_grad=True)]
    inplace(*xs).sum().backward()
    reference(*ys).sum().backward()
    for a, b in zip(xs, ys):
        got = np.zeros(a.shape) if a.grad is None else a.grad.numpy()   # unused input: None
        np.testing.assert_allclose(got, b.grad.numpy(), rtol=1e-12)


def test_inplace_result_is_the_tensor_and_its_grad_fn_changes():
    x = tape.ones(3, requires_grad=True)
    h = x * 2
    assert h.mul_(3) is h
    assert h.grad_fn.name() == "MulBackward0"
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6., 6., 6.])


@pytest.mark.parametrize("op", [
    lambda x: x.add_(1), lambda x: x.mul_(2), lambda x: x.zero_(), lambda x: x.exp_(),
    lambda x: x.uniform_(), lambda x: x.normal_(), lambda x: x.copy_(tape.zeros(3)),
    lambda x: x.__setitem__(0, 5.0), lambda x: x.clamp_(0, 1), lambda x: x.__iadd__(1)])
def test_leaf_inplace_raises_and_changes_nothing(op):
    x = tape.tensor([1., 2., 3.], requires_grad=True)
    before = _live_records()
    with pytest.raises(RuntimeError, match=LEAF):
        op(x)
    np.testing.assert_array_equal(x.detach().numpy(), [1., 2., 3.])
    assert x.is_leaf and x.grad_fn is None and _live_records() == before


def test_no_grad_updates_parameters():
    a = tape.tensor([1., 2.], requires_grad=True)
    (a * a).sum().backward()
    with tape.no_grad():
        a -= 0.25 * a.grad
        a.uniform_(0, 1)
        a.normal_()
        a.mul_(0).add_(3.0)
    assert a.is_leaf and a.requires_grad
    np.testing.assert_array_equal(a.detach().numpy(), [3., 3.])


def test_unrecorded_in_place_ops_keep_dtype_and_shape_or_raise_as_pytorch():
    """The unrecorded in-place path: results of self's shape and dtype are written in place,
    anything else keeps PyTorch's rules (cast down within a category, refuse the rest)."""
    p = tape.nn.Parameter(tape.tensor(0.5))                  # a Tensor subclass as operand too
    q = tape.nn.Parameter(tape.tensor(0.25))
    with tape.no_grad():
        p -= 0.5 * q
        p -= q
    assert p.dtype is tape.float32 and p.item() == 0.125 and p._version.value == 2
    v = tape.ones(3)
    v -= tape.tensor([1., 2., 3.], dtype=tape.float64)      # float64 result, cast to float32
    assert v.dtype is tape.float32 and v.tolist() == [0., -1., -2.]
    i = tape.tensor([1, 2, 3])
    i *= 2
    assert i.dtype is tape.int64 and i.tolist() == [2, 4, 6]
    with pytest.raises(RuntimeError, match="result type Float can't be cast to the desired "
                                           "output type Long"):
        i -= 1.5
    with pytest.raises(RuntimeError, match=r"output with shape \[3\] doesn't match the "
                                           r"broadcast shape \[2, 3\]"):
        v += tape.ones(2, 3)
    assert i.tolist() == [2, 4, 6] and v.tolist() == [0., -1., -2.]   # failed ops wrote nothing



@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", ["scalar", "same_shape", "itself", "overlapping_view",
                                  "transposed_self", "0-d"])
def test_unrecorded_elementwise_in_place_writes_the_buffer_as_numpy_would(case, dtype):
    """Elementwise in-place ops under no_grad write straight into self's buffer where that is
    safe (op.forward_into); an operand that partly overlaps self, or a self that is not
    C-contiguous, goes out of place first.  Every case: numpy's values, in the same buffer,
    with one version bump."""
    rng = np.random.default_rng(7)
    values = rng.uniform(0.5, 2.0, (3, 4)).astype(dtype)
    other = rng.uniform(0.5, 2.0, (3, 4)).astype(dtype)
    t = tape.from_numpy(values.copy())
    expected = values.copy()
    if case == "transposed_self":
        t, expected = t.t(), expected.T.copy()
    elif case == "0-d":
        t, expected = tape.from_numpy(np.array(values[0, 0])), np.array(values[0, 0])
    buffer = t._data
    with tape.no_grad():
        if case in ("scalar", "0-d"):
            t -= 0.25 * t if case == "0-d" else 0.25
            expected -= dtype(0.25) * expected if case == "0-d" else dtype(0.25)
        elif case == "same_shape":
            t *= tape.from_numpy(other)
            expected *= other
        elif case == "itself":
            t.mul_(t)
            expected = expected * expected
        elif case == "overlapping_view":
            # self and operand are one element apart in one buffer: written element k is
            # the operand's element k + 1, which a loop in place would read changed
            shared = np.concatenate([values.ravel(), values.ravel()[:1]])
            t = tape.from_numpy(shared[1:])
            buffer, expected = t._data, shared[1:] + shared[:-1]
            t += tape.from_numpy(shared[:-1])
        elif case == "transposed_self":
            t.div_(tape.from_numpy(other.T.copy()))
            expected /= other.T
    assert t._data is buffer and t._version.value == 1
    np.testing.assert_array_equal(t.numpy(), expected)


_EDGE_VALUES = [0.0, -0.0, 1.0, -2.5, 0.1, 1 / 3, 7.0, 1e-45, 1.2e-38, 3.4e38, -3.4e38, 1e30,
                1e-30, 1e300, float("inf"), float("-inf"), float("nan")]


def _same_bits(result, reference, dtype):
    """Equal values, NaN where NaN, and the sign of zero (bit patterns, except NaN payloads)."""
    result = np.asarray(result, dtype).reshape(1)
    reference = np.asarray(reference, dtype).reshape(1)
    uint = np.uint32 if dtype == np.float32 else np.uint64
    if np.isnan(reference[0]):
        return bool(np.isnan(result[0]))
    return result.view(uint)[0] == reference.view(uint)[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_single_value_arithmetic_equals_the_kernels_bit_for_bit(name, dtype):
    """+, -, *, / on 0-d arrays (with a Python number or another 0-d array, either side, and in
    place) run on Python floats instead of a kernel: each result equals the kernel's, run on
    the same values as one-element 1-d arrays, and numpy's float32/float64 arithmetic, to the
    bit (zeros' signs too), and none warns: not division by zero, not float32 overflow.  So do
    the Tensor operators under no_grad, which call that path without op.forward."""
    import operator
    import warnings
    from ops import OPS
    from tape.tensor import _wrap
    op = OPS[name]
    python_op = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                 "div": operator.truediv}[name]
    rng = np.random.default_rng(3)
    values = _EDGE_VALUES + list(rng.standard_normal(20) * 10.0 ** rng.integers(-40, 40, 20))
    numbers = [0.5, 0.1, -3, 5, 16777217, 2 ** 40 + 1, 1e-6, 1e39, -0.0, 0.0, float("nan")]
    numpy_op = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.divide}[name]
    checked = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for a in values:
            with np.errstate(over="ignore"):
                x = np.array(a, dtype)   # rounded to dtype: 1e300 is inf in float32
            for b in numbers + values[:8]:
                with np.errstate(over="ignore"):
                    y = np.array(b, dtype)
                for left, right in ((x, b), (b, x), (x, y)):
                    result = op.forward(left, right)
                    assert result.shape == () and result.dtype == dtype
                    as_1d = [v.reshape(1) if isinstance(v, np.ndarray) else v
                             for v in (left, right)]
                    kernel = op.forward(*as_1d)   # one element, 1-d: the kernel
                    with np.errstate(all="ignore"):
                        reference = numpy_op(*[np.asarray(v, dtype) for v in (left, right)])
                    assert _same_bits(result, kernel, dtype), (name, left, right, result,
                                                               kernel)
                    assert _same_bits(result, reference, dtype), (name, left, right, result,
                                                                  reference)
                    with tape.no_grad():
                        via_tensors = python_op(*[_wrap(v) if isinstance(v, np.ndarray) else v
                                                  for v in (left, right)])
                    assert via_tensors.numpy().dtype == dtype and via_tensors.shape == ()
                    assert _same_bits(via_tensors.numpy(), kernel, dtype), (name, left, right)
                    checked += 1
                target = x.copy()
                assert op.forward_into(target, y)
                assert _same_bits(target, op.forward(x.reshape(1), y.reshape(1)), dtype)
    assert checked == 3 * len(values) * (len(numbers) + 8)


def test_unrecorded_in_place_on_a_read_only_buffer_raises_and_writes_nothing():
    from tape.tensor import _wrap
    frozen = np.array([1.0, 2.0], np.float32)
    frozen.flags.writeable = False
    t = _wrap(frozen)
    with tape.no_grad(), pytest.raises(ValueError, match="read-only"):
        t += 1.0
    np.testing.assert_array_equal(t.numpy(), [1.0, 2.0])


def test_uniform_and_normal_fill_in_range():
    x = tape.empty(1000)
    x.uniform_(2, 3)
    assert 2 <= x.min().item() and x.max().item() < 3
    x.normal_(5, 0.1)
    assert abs(x.mean().item() - 5) < 0.05


# ---- the version counter ------------------------------------------------------------------
def test_modified_saved_input_raises():
    x = tape.tensor([1., 2.], requires_grad=True)
    h = x * 1
    z = h.sin()                 # saves h
    h.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        z.sum().backward()


def test_modified_saved_output_raises():
    x = tape.tensor([1., 2.], requires_grad=True)
    z = x.exp()                 # saves its output
    z.mul_(2)                   # ... which is then modified; z's own grad_fn is the mul now
    w = x.exp()
    w.add_(1)
    with pytest.raises(RuntimeError, match=MODIFIED):
        z.sum().backward()


def test_detach_shares_the_version_counter_data_does_not():
    a = tape.ones(2, requires_grad=True)
    b = tape.ones(2, requires_grad=True)
    c = a * b
    a.data.mul_(3)              # .data: a fresh counter, not checked (PyTorch's behaviour)
    c.sum().backward(retain_graph=True)
    np.testing.assert_array_equal(b.grad.numpy(), [3., 3.])
    a.detach()[0] = 1           # detach(): the same counter
    with pytest.raises(RuntimeError, match=r"\[torch.FloatTensor \[2\]\] is at version 1; "
                                           r"expected version 0"):
        c.sum().backward()


def test_views_share_the_version_counter():
    x = tape.tensor([1., 2., 3.], requires_grad=True)
    h = x * 1
    z = h.sin()                 # saves h
    with tape.no_grad():
        h[1:].mul_(2)           # through a view of h
    with pytest.raises(RuntimeError, match=MODIFIED):
        z.sum().backward()


def test_inplace_on_a_view_of_a_graph_tensor_is_refused_clearly():
    x = tape.ones(2, 3, requires_grad=True)
    h = x * 1
    with pytest.raises(NotImplementedError, match="view"):
        h[0].mul_(2)
    np.testing.assert_array_equal(h.detach().numpy(), np.ones((2, 3)))


def test_seed000_example():
    env = dict(os.environ, PYTHONPATH=ROOT)
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples",
                                                       "seed000_data_vs_detach.py")],
                         capture_output=True, text=True, env=env, cwd=ROOT, check=True).stdout
    lines = out.splitlines()
    assert lines[3] == "False"                                     # a.data.requires_grad
    assert "tensor([[0.7311, 0.7311, 0.7311, 0.7311]," in out      # a after .data.sigmoid_()
    assert "tensor(0.7311) tensor(0.) tensor(0.7311)" in out         # mean, std, max
    assert "tensor([[1.0000, 1.0000, 1.0000, 1.0000]," in out      # tensor[0] = 1 reached a
    assert lines[-1].startswith("RuntimeError: one of the variables needed for gradient "
                                "computation has been modified by an inplace operation: "
                                "[torch.FloatTensor [3, 4]] is at version 1; expected version 0")


# ---- indexing: the backward scatters, repeated indices accumulate --------------------------
@pytest.mark.parametrize("key,expected", [
    ([0, 0, 2], [2., 0., 1., 0.]),
    (np.array([3, 3, 3]), [0., 0., 0., 3.]),
    ("tensor", [1., 3., 0., 0.]),
    ("mask", [0., 1., 0., 1.]),
    (slice(None, None, 2), [1., 0., 1., 0.]),
    (-1, [0., 0., 0., 1.]),
    ((None, Ellipsis, slice(1, 3)), [0., 1., 1., 0.]),
])
def test_index_backward_accumulates(key, expected):
    x = tape.tensor([-1., 2., -3., 4.], requires_grad=True)
    if isinstance(key, str) and key == "tensor":
        key = tape.tensor([[0, 1], [1, 1]])
    elif isinstance(key, str):
        key = x > 0
    x[key].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), expected)


def test_index_values_match_numpy():
    a = np.arange(24.).reshape(2, 3, 4)
    x = tape.tensor(a)
    for key in [(1, slice(None, None, 2)), (Ellipsis, -1), (None, 0), ([1, 0], slice(1)),
                (a > 10,), (slice(None), [0, 0], [3, 1])]:
        np.testing.assert_array_equal(x[key].numpy(), a[key])
    assert x[1:].numpy().base is not None     # basic indexing is a view ...
    x[1:][0, 0, 0] = -5.0                    # ... that shares storage
    assert x[1, 0, 0].item() == -5.0


def test_setitem_mask_on_plain_tensor():
    x = tape.tensor([-1., 2., -3.])
    g = x.clone()
    g[x < 0] = 0
    np.testing.assert_array_equal(g.numpy(), [0., 2., 0.])
    assert g._version.value == 1


def test_setitem_recorded_on_non_leaf():
    x = tape.tensor([1., 2., 3.], requires_grad=True)
    v = tape.tensor([10., 20.], requires_grad=True)
    h = x * 1
    h[0] = 5.0
    h[1:] = v * 2
    assert h.grad_fn.name() == "CopySlices"
    (h * tape.tensor([1., 2., 3.])).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0., 0., 0.])
    np.testing.assert_array_equal(v.grad.numpy(), [4., 6.])
    np.testing.assert_array_equal(h.detach().numpy(), [5., 20., 40.])


def test_setitem_gradient_broadcast_value():
    check_grads(lambda x, v: _assign(x, v), np.ones((3, 4)), np.array([2., 3., 4., 5.]))


def _assign(x, v):
    h = x * x
    h[[0, 2]] = v * v
    return h


# ---- conversions and interop -------------------------------------------------------------
def test_legacy_tensor_types():
    f = tape.FloatTensor([1, 2])
    assert type(f) is tape.Tensor and f.dtype == tape.float32
    assert isinstance(f, tape.FloatTensor) and not isinstance(f, tape.DoubleTensor)
    assert tape.LongTensor([1, 2]).dtype == tape.int64
    assert tape.DoubleTensor(2, 3).shape == (2, 3)
    assert f.type(tape.DoubleTensor).dtype == tape.float64
    assert f.type("torch.LongTensor").dtype == tape.int64
    assert f.type() == "torch.FloatTensor"
    assert f.double().dtype == tape.float64 and f.long().dtype == tape.int64
    assert f.bool().dtype == tape.bool and f.to(tape.float64).float().dtype == tape.float32


def test_numpy_memory_is_shared():
    a = np.zeros(3)
    t = tape.from_numpy(a)
    a[0] = 7
    assert t[0].item() == 7
    t.numpy()[1] = 8
    assert a[1] == 8
    assert np.asarray(t) is a
    assert len(t) == 3 and [v.item() for v in t] == [7., 8., 0.]


@pytest.mark.parametrize("convert", [float, int])
def test_scalar_conversions(convert):
    assert convert(tape.tensor([[2.]])) == 2
    with pytest.raises(ValueError, match="only one element tensors"):
        convert(tape.ones(2))


def test_item_bool_len_errors():
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted"):
        tape.ones(2).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tape.ones(2))
    with pytest.raises(TypeError, match="len\\(\\) of a 0-d tensor"):
        len(tape.tensor(1.))
    assert bool(tape.tensor([0.])) is False


def test_allclose_equal():
    a = tape.tensor([1., 2.])
    assert tape.allclose(a, a + 1e-9) and not tape.equal(a, a + 1e-3)
    assert a.equal(tape.tensor([1., 2.])) and not a.equal(tape.tensor([1., 2., 3.]))


def test_max_with_dim_returns_named_pair():
    x = tape.tensor([[1., 5.], [7., 2.]], requires_grad=True)
    values, indices = x.max(dim=1)
    r = x.max(1)
    assert r.values.tolist() == [5., 7.] and r.indices.tolist() == [1, 0]
    assert not indices.requires_grad and indices.dtype == tape.int64
    assert repr(r).startswith("torch.return_types.max(\nvalues=tensor([5., 7.]")
    assert x.argmax().item() == 2 and x.argmin(0).tolist() == [0, 1]
    assert (x > 0).all().item() and not (x > 6).all().item() and (x > 6).any(1).tolist() == [
        False, True]


# ---- errors name the shapes; a failed op leaves tape and tensors as they were -------------
@pytest.mark.parametrize("bad,exc,match", [
    (lambda x: tape.cat([x, tape.ones(3, 2)], 1), RuntimeError,
     "Sizes of tensors must match except in dimension 1. Expected size 2 but got size 3"),
    (lambda x: tape.stack([x, tape.ones(3, 2)]), RuntimeError,
     r"stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 and \[3, 2\]"),
    (lambda x: x.permute(0, 0), RuntimeError, "duplicate dims"),
    (lambda x: x + tape.ones(2), RuntimeError, r"shapes \[2, 3\] and \[2\]"),
    (lambda x: x.split([1, 1], 1), RuntimeError, "sum exactly to 3"),
    (lambda x: x[5], IndexError, r"shape \[2, 3\]"),
    (lambda x: x.sum(2), IndexError, "Dimension out of range"),
    (lambda x: x.clamp(), RuntimeError, "At least one of 'min' or 'max'"),
    (lambda x: x.mv(tape.ones(2)), RuntimeError, "cannot be multiplied"),
])
def test_bad_arguments(bad, exc, match):
    x = tape.ones(2, 3, requires_grad=True)
    h = x * 1
    before = _live_records()
    with pytest.raises(exc, match=match):
        bad(h)
    assert _live_records() == before and h.grad_fn.name() == "MulBackward0"


def test_a_view_taken_before_its_base_changed_in_place_refuses_instead_of_a_wrong_gradient():
    x = tape.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 1
    v = h[0:2]
    h.mul_(2)             # PyTorch would rebuild v's history as 2 * x[0:2]
    with pytest.raises(NotImplementedError, match="modified by an in-place operation after the view"):
        (v * 1).sum().backward()
    with pytest.raises(NotImplementedError, match="modified by an in-place operation after the view"):
        v.sum()
    h[0:2].sum().backward()   # a view taken afterwards is current
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 0.0])


def test_recorded_in_place_on_a_view_refuses_instead_of_losing_the_bases_gradient():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    out = tape.zeros(3)
    with pytest.raises(NotImplementedError, match="in-place copy on a view"):
        out[0:2].copy_(x)
    out[0:2] = x              # through the base: recorded as CopySlices
    (out * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])
