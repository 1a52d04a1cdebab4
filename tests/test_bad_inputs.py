"""Bad calls, table-driven: PyTorch's exception class, a message naming what is wrong, no harm done.

Each row: a setup (builds whatever graph the bad call needs), the bad call, the exception class
PyTorch raises for it, and a regex the message must match.  After the failure the tape has the
same length, every tensor of the case has the same data, grad, version and graph position, and
the process still computes correct gradients (with the case's own tensors and fresh ones).
"""
import re
import types

import numpy as np
import pytest

import tape
from tape.tape import STATE


def make_env(T):
    """The tensors every case draws from (T is the tape module; a script may pass torch)."""
    e = types.SimpleNamespace(T=T)
    e.a = T.tensor(np.arange(6.0).reshape(2, 3) / 10 + 0.5, dtype=T.float32, requires_grad=True)
    e.b = T.tensor(np.arange(12.0).reshape(4, 3) / 10 + 1.0, dtype=T.float32, requires_grad=True)
    e.v3 = T.tensor([1.0, 2.0, 3.0], requires_grad=True)
    e.v4 = T.tensor([1.0, 2.0, 3.0, 4.0])
    e.m = T.tensor(np.arange(6.0).reshape(2, 3), dtype=T.float64, requires_grad=True)
    e.i = T.tensor([1, 2, 3])
    e.flags = T.tensor([True, False])
    e.cube = T.ones(2, 2, 2)
    # Valid intermediates are built here, so the tape length is compared around the bad call only.
    e.c = e.a * 2
    e.s = e.c.sum()
    e.mt = e.m.t()
    return e


def _second_backward(e):
    e.y = (e.a * e.a).sum()
    e.y.backward()
    return lambda: e.y.backward()


def _modified_saved(e):
    e.sq = (e.a * e.a).sum()
    e.a.detach().mul_(2)           # shares a's version counter: a is now at version 1
    return lambda: e.sq.backward()


def _view_of_leaf_inplace(e):
    e.w = e.a.view(6)
    return lambda: e.w.add_(1)


def _inplace_broadcast(e):
    return lambda: e.c.add_(e.T.ones(4, 2, 3))


def _non_contiguous_view(e):
    e.at = e.a.t()
    return lambda: e.at.view(6)


def _iadd_leaf(e):
    def call():
        e.a += 1
    return call


def _set_grad(value):
    def setup(e):
        def call():
            e.a.grad = value(e)
        return call
    return setup


def _function_backward_returning(grads_of):
    """A custom Function whose backward returns grads_of(g): wrong count, shape or type."""
    def setup(e):
        class Broken(e.T.autograd.Function):
            @staticmethod
            def forward(ctx, x, y):
                return x * y

            @staticmethod
            def backward(ctx, g):
                return grads_of(g)
        e.out = Broken.apply(e.a, e.a).sum()
        return lambda: e.out.backward()
    return setup


def bad(call):
    """A case without setup: `call(e)` is the bad call."""
    return lambda e: (lambda: call(e))


SHAPES = r"\(2\) must match the size of tensor b \(4\) at non-singleton dimension 0"

# id, setup(e) -> bad call, PyTorch's exception class, regex the message must match
CASES = [
    ("add broadcast", bad(lambda e: e.a + e.b), RuntimeError, r"size of tensor a " + SHAPES),
    ("sub broadcast", bad(lambda e: e.a - e.b), RuntimeError, r"size of tensor a " + SHAPES),
    ("mul broadcast", bad(lambda e: e.a * e.b), RuntimeError, r"size of tensor a " + SHAPES),
    ("div broadcast", bad(lambda e: e.a / e.b), RuntimeError, r"size of tensor a " + SHAPES),
    ("pow broadcast", bad(lambda e: e.a ** e.b), RuntimeError, r"size of tensor a " + SHAPES),
    ("where broadcast", bad(lambda e: e.T.where(e.a > 0, e.a, e.b)), RuntimeError,
     r"\(2\) must match the size of tensor b \(4\)"),
    ("where float condition", bad(lambda e: e.T.where(e.a, e.a, e.a)), RuntimeError,
     r"where expected condition to be a boolean tensor, but got a tensor with dtype Float"),
    ("in-place broadcast", _inplace_broadcast, RuntimeError,
     r"output with shape \[2, 3\] doesn't match the broadcast shape \[4, 2, 3\]"),
    ("in-place int += float", bad(lambda e: e.i.add_(e.T.ones(3))), RuntimeError,
     r"result type Float can't be cast to the desired output type Long"),
    ("mm shapes", bad(lambda e: e.a.mm(e.a)), RuntimeError,
     r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)"),
    ("mm dtypes", bad(lambda e: e.a.mm(e.mt)), RuntimeError, r"float != double"),
    ("mm 1-D", bad(lambda e: e.v3.mm(e.a)), RuntimeError, r"1D and 2D.*\[3\] and \[2, 3\]"),
    ("matmul shapes", bad(lambda e: e.a @ e.b), RuntimeError,
     r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 4x3\)"),
    ("matmul dtypes", bad(lambda e: e.a @ e.mt), RuntimeError, r"float != double"),
    ("matmul 0-d", bad(lambda e: e.a @ e.T.tensor(2.0)), RuntimeError,
     r"both arguments to matmul need to be at least 1D, but they are 2D and 0D"),
    ("matmul batch", bad(lambda e: e.T.ones(2, 2, 3) @ e.T.ones(3, 3, 4)), RuntimeError,
     r"\[2, 2, 3\] and \[3, 3, 4\]"),
    ("dot sizes", bad(lambda e: e.v3.dot(e.v4)), RuntimeError,
     r"expected tensor \[3\] and src \[4\]"),
    ("dot dtypes", bad(lambda e: e.v3.dot(e.T.ones(3, dtype=e.T.float64))), RuntimeError,
     r"float != double"),
    ("dot 2-D", bad(lambda e: e.a.dot(e.v3)), RuntimeError,
     r"1D tensors expected, but got 2D and 1D tensors"),
    ("view size", bad(lambda e: e.a.view(4)), RuntimeError,
     r"shape '\[4\]' is invalid for input of size 6"),
    ("view two -1", bad(lambda e: e.a.view(-1, -1)), RuntimeError,
     r"only one dimension can be inferred"),
    ("view non-contiguous", _non_contiguous_view, RuntimeError,
     r"view size is not compatible with input tensor's size and stride.*\.reshape"),
    ("reshape size", bad(lambda e: e.a.reshape(5, -1)), RuntimeError,
     r"shape '\[5, -1\]' is invalid for input of size 6"),
    ("reshape negative", bad(lambda e: e.a.reshape(-2, 3)), RuntimeError,
     r"invalid shape dimension -2 at index 0 of shape \[-2, 3\]"),
    ("expand mismatch", bad(lambda e: e.a.expand(4, 3)), RuntimeError,
     r"expanded size of the tensor \(4\) must match the existing size \(2\) at non-singleton "
     r"dimension 0.  Target sizes: \[4, 3\].  Tensor sizes: \[2, 3\]"),
    ("expand too few sizes", bad(lambda e: e.a.expand(3)), RuntimeError,
     r"number of sizes provided \(1\) must be greater or equal to the number of dimensions in "
     r"the tensor \(2\)"),
    ("expand -1 leading", bad(lambda e: e.a.expand(-1, 2, 3)), RuntimeError,
     r"expanded size of the tensor \(-1\) isn't allowed in a leading, non-existing dimension 0"),
    ("sum dim", bad(lambda e: e.a.sum(2)), IndexError,
     r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    ("sum repeated dim", bad(lambda e: e.a.sum((0, 0))), RuntimeError,
     r"dim 0 appears multiple times in the list of dims"),
    ("mean dim", bad(lambda e: e.a.mean(-3)), IndexError,
     r"range of \[-2, 1\], but got -3"),
    ("mean of int", bad(lambda e: e.i.mean()), RuntimeError,
     r"mean\(\): could not infer output dtype. Input dtype must be either a floating point"),
    ("transpose dim", bad(lambda e: e.a.transpose(0, 2)), IndexError,
     r"range of \[-2, 1\], but got 2"),
    ("transpose 0-d", bad(lambda e: e.T.tensor(1.0).transpose(0, 1)), IndexError,
     r"range of \[-1, 0\], but got 1"),
    ("t of 3-D", bad(lambda e: e.cube.t()), RuntimeError,
     r"t\(\) expects a tensor with <= 2 dimensions, but self is 3D"),
    ("size dim", bad(lambda e: e.a.size(3)), IndexError, r"range of \[-2, 1\], but got 3"),
    ("int ** negative int", bad(lambda e: e.i ** -1), RuntimeError,
     r"Integers to negative integer powers are not allowed"),
    ("negate bool", bad(lambda e: -e.flags), RuntimeError,
     r"Negation, the `-` operator, on a bool tensor is not supported"),
    ("bool - bool", bad(lambda e: e.flags - e.flags), RuntimeError,
     r"Subtraction, the `-` operator, with two bool tensors is not supported"),
    ("bool - int", bad(lambda e: e.flags - e.T.tensor([1, 2])), RuntimeError,
     r"Subtraction, the `-` operator, with a bool tensor is not supported"),
    ("tensor + str", bad(lambda e: e.a + "x"), TypeError,
     r"unsupported operand type\(s\) for \+: 'Tensor' and 'str'"),
    ("exp of a list", bad(lambda e: e.T.exp([1.0])), TypeError,
     r"exp\(\): argument 'input' .*must be Tensor, not list"),
    ("requires_grad_ on int", bad(lambda e: e.i.requires_grad_()), RuntimeError,
     r"(?i)only Tensors of floating point .*can require gradients"),
    ("tensor(int, requires_grad)", bad(lambda e: e.T.tensor([1, 2], requires_grad=True)),
     RuntimeError, r"(?i)only Tensors of floating point .*can require gradients"),
    ("requires_grad_(False) on non-leaf", bad(lambda e: e.c.requires_grad_(False)),
     RuntimeError, r"you can only change requires_grad flags of leaf variables"),
    ("backward of non-scalar", bad(lambda e: e.c.backward()), RuntimeError,
     r"grad can be implicitly created only for scalar outputs"),
    ("backward gradient shape", bad(lambda e: e.c.backward(e.T.ones(3, 2))), RuntimeError,
     r"Mismatch in shape: grad_output\[0\] has a shape of \w+\.Size\(\[3, 2\]\) and output\[0\] "
     r"has a shape of \w+\.Size\(\[2, 3\]\)"),
    ("backward without grad", bad(lambda e: e.v4.sum().backward()), RuntimeError,
     r"element 0 of tensors does not require grad and does not have a grad_fn"),
    ("grad of unused input", bad(lambda e: e.T.autograd.grad(e.s, [e.a, e.v3])),
     RuntimeError, r"The differentiated Tensor at index 1 appears to not have been used in the "
                   r"graph. Set allow_unused=True"),
    ("grad of input without grad", bad(lambda e: e.T.autograd.grad(e.s, [e.v4])),
     RuntimeError, r"One of the differentiated Tensors does not require grad"),
    ("grad_outputs shape", bad(lambda e: e.T.autograd.grad(e.c, e.a, grad_outputs=e.T.ones(3))),
     RuntimeError, r"grad_output\[0\] has a shape of \w+\.Size\(\[3\]\) and output\[0\] has a "
                   r"shape of \w+\.Size\(\[2, 3\]\)"),
    ("item of 6 elements", bad(lambda e: e.a.item()), RuntimeError,
     r"a Tensor with 6 elements cannot be converted to Scalar"),
    ("bool of 6 elements", bad(lambda e: bool(e.a)), RuntimeError,
     r"Boolean value of Tensor with more than one value is ambiguous"),
    ("float of 6 elements", bad(lambda e: float(e.a)), ValueError,
     r"only one element tensors can be converted to Python scalars"),
    ("len of 0-d", bad(lambda e: len(e.T.tensor(1.0))), TypeError, r"len\(\) of a 0-d tensor"),
    ("numpy of requires_grad", bad(lambda e: e.a.numpy()), RuntimeError,
     r"Can't call numpy\(\) on Tensor that requires grad"),
    ("retain_grad without grad", bad(lambda e: e.v4.retain_grad()), RuntimeError,
     r"can't retain_grad on Tensor that has requires_grad=False"),
    ("hook without grad", bad(lambda e: e.v4.register_hook(lambda g: g)), RuntimeError,
     r"cannot register a hook on a tensor that doesn't require gradient"),
    ("in-place on a leaf", bad(lambda e: e.a.mul_(2)), RuntimeError,
     r"a leaf Variable that requires grad is being used in an in-place operation"),
    ("+= on a leaf", _iadd_leaf, RuntimeError,
     r"a leaf Variable that requires grad is being used in an in-place operation"),
    ("in-place on a view of a leaf", _view_of_leaf_inplace, RuntimeError,
     r"a view of a leaf Variable that requires grad is being used in an in-place operation"),
    ("second backward", _second_backward, RuntimeError,
     r"Trying to backward through the graph a second time.*retain_graph=True"),
    ("modified saved tensor", _modified_saved, RuntimeError,
     r"modified by an inplace operation: \[torch\.FloatTensor \[2, 3\]\] is at version 1; "
     r"expected version 0 instead"),
    ("assign grad of wrong size", _set_grad(lambda e: e.T.ones(3)), RuntimeError,
     r"gradient of size '\[3\]' to a tensor of size '\[2, 3\]'"),
    ("assign grad of wrong dtype", _set_grad(lambda e: e.T.ones(2, 3, dtype=e.T.float64)),
     RuntimeError, r"gradient with dtype 'double' to a tensor with grad_dtype 'Float'"),
    ("zeros of negative size", bad(lambda e: e.T.zeros(-1)), RuntimeError, r"negative|-1"),
    ("index out of range", bad(lambda e: e.a[5]), IndexError,
     r"index 5 is out of bounds for (dimension|axis) 0 with size 2"),
    ("index out of range in dim 1", bad(lambda e: e.a[:, 3]), IndexError,
     r"index 3 is out of bounds for (dimension|axis) 1 with size 3"),
    ("negative index out of range", bad(lambda e: e.v3[-4]), IndexError,
     r"index -4 is out of bounds for (dimension|axis) 0 with size 3"),
    ("too many indices", bad(lambda e: e.v3[0, 1]), IndexError, r"too many indices"),
    ("integer-tensor index out of range", bad(lambda e: e.v3[e.T.tensor([0, 7])]), IndexError,
     r"index 7 is out of bounds"),
    ("boolean mask of the wrong shape", bad(lambda e: e.a[e.T.tensor([True, False, True])]),
     IndexError, r"(mask \[3\]|boolean axis is 3)"),
    ("assignment of the wrong shape", bad(lambda e: e.cube.__setitem__(0, e.T.ones(3))),
     RuntimeError, r"\[3\].*\[2, 2\]"),
    ("cat sizes", bad(lambda e: e.T.cat([e.a, e.T.ones(2, 2)])), RuntimeError,
     r"Sizes of tensors must match except in dimension 0. Expected size 3 but got size 2 for "
     r"tensor number 1"),
    ("cat dim out of range", bad(lambda e: e.T.cat([e.a, e.a], dim=2)), IndexError,
     r"Dimension out of range \(expected to be in range of \[-2, 1\], but got 2\)"),
    ("cat of nothing", bad(lambda e: e.T.cat([])), ValueError, r"expected a non-empty list"),
    ("stack sizes", bad(lambda e: e.T.stack([e.a, e.b])), RuntimeError,
     r"stack expects each tensor to be equal size, but got \[2, 3\] at entry 0 and \[4, 3\]"),
    ("split size 0", bad(lambda e: e.a.split(0)), RuntimeError, r"split_size can only be 0"),
    ("squeeze dim out of range", bad(lambda e: e.a.squeeze(3)), IndexError,
     r"expected to be in range of \[-2, 1\], but got 3"),
    ("permute length", bad(lambda e: e.a.permute(0)), RuntimeError,
     r"input.dim\(\) = 2 is not equal to len\(dims\) = 1"),
    ("max dim out of range", bad(lambda e: e.a.max(dim=2)), IndexError, r"but got 2\)"),
    ("softmax dim out of range", bad(lambda e: e.a.softmax(dim=-3)), IndexError,
     r"but got -3\)"),
    ("Function backward: wrong count", _function_backward_returning(lambda g: g), RuntimeError,
     r"BrokenBackward returned an incorrect number of gradients \(expected 2, got 1\)"),
    ("Function backward: wrong shape", _function_backward_returning(lambda g: (g.sum(0), g)),
     RuntimeError, r"BrokenBackward returned an invalid gradient at index 0 - got \[3\] but "
                   r"expected shape compatible with \[2, 3\]"),
    ("Function backward: wrong type", _function_backward_returning(lambda g: ("no", g)),
     RuntimeError, r"expected Variable or None \(got str\)"),
]


def snapshot(e):
    """Everything a failed call must leave alone, for every tensor the case can reach."""
    state = {}
    for name, t in vars(e).items():
        if isinstance(t, tape.Tensor):
            state[name] = (t._data.copy(), None if t.grad is None else t.grad._data.copy(),
                           t._version.value if t._version is not None else 0,
                           t.requires_grad, t.grad_fn, t.shape)
    return state


def assert_same(before, after):
    assert before.keys() == after.keys()
    for name, (data, grad, version, rg, fn, shape) in before.items():
        data2, grad2, version2, rg2, fn2, shape2 = after[name]
        np.testing.assert_array_equal(data2, data, err_msg=f"{name}'s data changed")
        assert (grad is None) == (grad2 is None), f"{name}'s grad appeared or vanished"
        if grad is not None:
            np.testing.assert_array_equal(grad2, grad, err_msg=f"{name}'s grad changed")
        assert version2 == version, f"{name}'s version changed"
        assert (rg2, fn2, shape2) == (rg, fn, shape), f"{name}'s graph position changed"


def assert_still_works(e):
    """Correct gradients afterwards, from the case's own leaf and from fresh tensors."""
    assert tape.is_grad_enabled() and STATE.tape.replaying == 0
    (g,) = tape.autograd.grad((e.a * e.a).sum(), e.a)
    np.testing.assert_allclose(g.numpy(), 2 * e.a.detach().numpy(), rtol=1e-6)
    x = tape.tensor([0.5, -1.0, 2.0], dtype=tape.float64, requires_grad=True)
    w = tape.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=tape.float64, requires_grad=True)
    loss = ((x.exp() * x) @ w).sum()
    loss.backward()
    xs = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), np.exp(xs) * (1 + xs) * np.array([3, 7, 11]))
    np.testing.assert_allclose(w.grad.numpy(), np.repeat((np.exp(xs) * xs)[:, None], 2, axis=1))


def test_the_table_is_big_enough_and_ids_are_unique():
    assert len(CASES) >= 30
    assert len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("setup, exc, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_call_raises_like_pytorch_and_changes_nothing(setup, exc, pattern):
    e = make_env(tape)
    call = setup(e)
    records = len(STATE.tape.records)
    before = snapshot(e)
    with pytest.raises(Exception) as info:
        call()
    # exactly PyTorch's class (a subclass would still pass pytest.raises(exc))
    assert type(info.value) is exc, f"raised {type(info.value).__name__}: {info.value}"
    assert re.search(pattern, str(info.value)), f"message {str(info.value)!r} !~ {pattern!r}"
    assert len(STATE.tape.records) == records, "a failed call appended to the tape"
    assert_same(before, snapshot(e))
    assert_still_works(e)


# ---- NaN and inf propagate as in PyTorch (values checked against torch 2.13 by hand) ----------

INF, NAN = np.inf, np.nan
# id, input values, function, forward values, gradient of sum(forward)
NONFINITE = [
    ("log at 0 and -1", [0.0, 1.0, -1.0], lambda x: x.log(), [-INF, 0.0, NAN], [INF, 1.0, -1.0]),
    ("sqrt at 0 and -1", [0.0, 4.0, -1.0], lambda x: x.sqrt(), [0.0, 2.0, NAN], [INF, 0.25, NAN]),
    ("1 / x at 0", [0.0, 1.0, -1.0], lambda x: 1.0 / x, [INF, 1.0, -1.0], [-INF, -1.0, -1.0]),
    ("x / x at 0", [0.0, 2.0], lambda x: x / x, [NAN, 1.0], [NAN, 0.0]),
    ("x ** 0.5 at 0", [0.0, 4.0], lambda x: x ** 0.5, [0.0, 2.0], [INF, 0.25]),
    ("x ** 2 at inf, nan", [0.0, INF, NAN], lambda x: x ** 2, [0.0, INF, NAN], [0.0, INF, NAN]),
    ("0 ** x", [0.0, 1.0, -1.0], lambda x: tape.pow(tape.zeros(3, dtype=x.dtype), x),
     [1.0, 0.0, INF], [0.0, 0.0, -INF]),
    ("exp overflow", [1000.0, -1000.0, NAN], lambda x: x.exp(), [INF, 0.0, NAN], [INF, 0.0, NAN]),
    ("tanh at inf", [INF, -INF, NAN], lambda x: x.tanh(), [1.0, -1.0, NAN], [0.0, 0.0, NAN]),
    ("sigmoid at inf", [INF, -INF, 0.0], lambda x: x.sigmoid(), [1.0, 0.0, 0.5], [0.0, 0.0, 0.25]),
    ("relu at nan", [NAN, -INF, INF, 0.0], lambda x: x.relu(), [NAN, 0.0, INF, 0.0],
     [1.0, 0.0, 1.0, 0.0]),
    ("x log x at 0", [0.0, 1.0], lambda x: x * x.log(), [NAN, 0.0], [NAN, 1.0]),
    ("masked log by where", [0.0, 1.0],
     lambda x: tape.where(x > 0, x.log(), tape.zeros(2, dtype=x.dtype)), [0.0, 0.0], [NAN, 1.0]),
    ("norm of zeros", [0.0, 0.0], lambda x: x.norm(), [0.0], [0.0, 0.0]),
    ("norm with inf", [INF, 1.0], lambda x: x.norm(), [INF], [NAN, 0.0]),
    ("inf - inf", [INF, 1.0], lambda x: x - x, [NAN, 0.0], [0.0, 0.0]),
    ("dot with nan", [NAN, 1.0], lambda x: x.dot(x), [NAN], [NAN, 2.0]),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("values, fn, forward, gradient", [c[1:] for c in NONFINITE],
                         ids=[c[0] for c in NONFINITE])
def test_nan_and_inf_propagate_as_in_pytorch(values, fn, forward, gradient, dtype):
    x = tape.tensor(values, dtype=getattr(tape, dtype), requires_grad=True)
    y = fn(x)
    y.sum().backward()
    np.testing.assert_array_equal(np.ravel(y.detach().numpy()), np.array(forward, dtype=dtype))
    np.testing.assert_array_equal(x.grad.numpy(), np.array(gradient, dtype=dtype))


def test_masked_division_by_zero_in_norm_backward_does_not_warn():
    import warnings
    x = tape.zeros(3, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x.norm().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0, 0.0])
