"""Tensor basics: printing, dtype inference and promotion, factories, metadata, conversions.

The expected reprs are what PyTorch 2.13 prints for the same expressions (torch. -> tape.).
"""
import numpy as np
import pytest

import tape

REPRS = [
    ('tape.tensor([2., 4., 6.])',
     'tensor([2., 4., 6.])'),
    ('tape.tensor([1.], requires_grad=True)',
     'tensor([1.], requires_grad=True)'),
    ('tape.tensor([4., 12.], dtype=tape.float64)',
     'tensor([ 4., 12.], dtype=tape.float64)'),
    ('tape.tensor([[1.5, -2.25], [10.125, 3.]])',
     'tensor([[ 1.5000, -2.2500],\n        [10.1250,  3.0000]])'),
    ('tape.tensor([1e-5, 1.0, 300.])',
     'tensor([1.0000e-05, 1.0000e+00, 3.0000e+02])'),
    ('tape.tensor([1e9, 2.])',
     'tensor([1.0000e+09, 2.0000e+00])'),
    ('tape.tensor([1, -20, 300])',
     'tensor([  1, -20, 300])'),
    ('tape.tensor([True, False])',
     'tensor([ True, False])'),
    ('tape.tensor(3.14159)',
     'tensor(3.1416)'),
    ('tape.tensor(7)',
     'tensor(7)'),
    ('tape.tensor([])',
     'tensor([])'),
    ('tape.zeros(0, 3)',
     'tensor([], size=(0, 3))'),
    ("tape.tensor([float('nan'), float('inf'), -1.5])",
     'tensor([    nan,     inf, -1.5000])'),
    ("tape.tensor([float('nan'), 1.0])",
     'tensor([nan, 1.])'),
    ('tape.arange(2000.)',
     'tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])'),
    ('tape.arange(12.).view(3, 4) / 7',
     'tensor([[0.0000, 0.1429, 0.2857, 0.4286],\n        [0.5714, 0.7143, 0.8571, 1.0000],\n        [1.1429, 1.2857, 1.4286, 1.5714]])'),
    ('tape.arange(30.).reshape(2, 3, 5)',
     'tensor([[[ 0.,  1.,  2.,  3.,  4.],\n         [ 5.,  6.,  7.,  8.,  9.],\n         [10., 11., 12., 13., 14.]],\n\n        [[15., 16., 17., 18., 19.],\n         [20., 21., 22., 23., 24.],\n         [25., 26., 27., 28., 29.]]])'),
    ('tape.tensor([0.1, 0.2], dtype=tape.float64, requires_grad=True)',
     'tensor([0.1000, 0.2000], dtype=tape.float64, requires_grad=True)'),
    ('tape.ones(2, 2, requires_grad=True) * 3',
     'tensor([[3., 3.],\n        [3., 3.]], grad_fn=<MulBackward0>)'),
    ('tape.arange(40.) * 1.5',
     'tensor([ 0.0000,  1.5000,  3.0000,  4.5000,  6.0000,  7.5000,  9.0000, 10.5000,\n        12.0000, 13.5000, 15.0000, 16.5000, 18.0000, 19.5000, 21.0000, 22.5000,\n        24.0000, 25.5000, 27.0000, 28.5000, 30.0000, 31.5000, 33.0000, 34.5000,\n        36.0000, 37.5000, 39.0000, 40.5000, 42.0000, 43.5000, 45.0000, 46.5000,\n        48.0000, 49.5000, 51.0000, 52.5000, 54.0000, 55.5000, 57.0000, 58.5000])'),
    ('tape.tensor([[0.0, 0.0]])',
     'tensor([[0., 0.]])'),
    ('tape.tensor([-0.5, 123456.789])',
     'tensor([-5.0000e-01,  1.2346e+05])'),
    ('tape.ones(3).shape',
     'tape.Size([3])'),
    ('tape.ones(2,3).size(1)',
     '3'),
    ('(tape.ones(3, dtype=tape.long) + 2.5).dtype',
     'tape.float32'),
    ('(tape.ones(3, dtype=tape.long) / 2).dtype',
     'tape.float32'),
    ('tape.linspace(0, 1, 5)',
     'tensor([0.0000, 0.2500, 0.5000, 0.7500, 1.0000])'),
    ('tape.arange(0, 1, 0.25)',
     'tensor([0.0000, 0.2500, 0.5000, 0.7500])'),
    ('tape.full((2,), 7)',
     'tensor([7, 7])'),
    ('tape.full((2,), 7.)',
     'tensor([7., 7.])'),
    ('tape.tensor(np.array([1, 2], dtype=np.int32)) + 1',
     'tensor([2, 3], dtype=tape.int32)'),
    ('tape.tensor(np.float64(2.5))',
     'tensor(2.5000, dtype=tape.float64)'),
    ('tape.tensor([1, 2.5])',
     'tensor([1.0000, 2.5000])'),
    ('tape.Tensor([1, 2])',
     'tensor([1., 2.])'),
    ('tape.Tensor(2, 3).shape',
     'tape.Size([2, 3])'),
    ('(tape.tensor(2.0, dtype=tape.float64) * tape.ones(2)).dtype',
     'tape.float32'),
    ('tape.tensor([3.0]) ** 2',
     'tensor([9.])'),
    ('2 ** tape.tensor([3.0])',
     'tensor([8.])'),
    ('1 - tape.tensor([3.0])',
     'tensor([-2.])'),
    ('tape.exp(tape.tensor([0., 1.]))',
     'tensor([1.0000, 2.7183])'),
    ('tape.tensor([[1., 2.], [3., 4.]]).norm()',
     'tensor(5.4772)'),
    ('tape.tensor([[1., 2.], [3., 4.]]).sum(dim=0, keepdim=True)',
     'tensor([[4., 6.]])'),
    ('tape.tensor([[1., 2.], [3., 4.]]).mean(1)',
     'tensor([1.5000, 3.5000])'),
    ('tape.tensor([[1., 2.], [3., 4.]]) @ tape.tensor([1., 1.])',
     'tensor([3., 7.])')
]


@pytest.mark.parametrize("expr,expected", REPRS, ids=[c[0] for c in REPRS])
def test_prints_as_pytorch(expr, expected):
    assert repr(eval(expr, {"tape": tape, "np": np})) == expected


def test_grad_fn_names_are_pytorchs():
    x = tape.ones(2, requires_grad=True)
    names = {
        "AddBackward0": x + 1, "SubBackward0": x - 1, "MulBackward0": x * 2,
        "DivBackward0": x / 2, "PowBackward0": x ** 2, "NegBackward0": -x,
        "ExpBackward0": x.exp(), "SumBackward0": x.sum(), "MeanBackward0": x.mean(),
        "ViewBackward0": x.view(2, 1), "MmBackward0": x.view(1, 2).mm(x.view(2, 1)),
        "DotBackward0": x.dot(x), "SigmoidBackward0": x.sigmoid(), "TanhBackward0": x.tanh(),
    }
    for name, t in names.items():
        assert type(t.grad_fn).__name__ == name
        assert repr(t.grad_fn).startswith(f"<{name} object at 0x")


def test_metadata():
    x = tape.zeros(2, 3)
    assert x.shape == (2, 3) and x.size() == (2, 3) and x.size(-1) == 3
    assert x.dim() == x.ndim == 2 and x.numel() == 6
    assert x.dtype is tape.float32 and tape.float is tape.float32 and tape.double is tape.float64
    assert tape.long is tape.int64 and repr(tape.bool) == "tape.bool"
    assert x.is_leaf and x.grad_fn is None and x.grad is None and not x.requires_grad


def test_factories_shapes_and_values():
    for make in (lambda: tape.ones(2, 3), lambda: tape.ones((2, 3)), lambda: tape.ones(size=(2, 3))):
        np.testing.assert_array_equal(make().numpy(), np.ones((2, 3), np.float32))
    np.testing.assert_array_equal(tape.zeros_like(tape.ones(2)).numpy(), [0.0, 0.0])
    np.testing.assert_array_equal(tape.ones_like(tape.zeros(2, dtype=tape.float64)).numpy(),
                                  np.ones(2))
    assert tape.ones_like(tape.zeros(2, dtype=tape.float64)).dtype is tape.float64
    assert tape.empty(4, 5).shape == (4, 5)
    np.testing.assert_allclose(tape.linspace(-1, 1, 5).numpy(), [-1, -0.5, 0, 0.5, 1])
    np.testing.assert_array_equal(tape.arange(5).numpy(), np.arange(5))
    assert tape.arange(5).dtype is tape.int64


def test_random_factories_and_manual_seed():
    tape.manual_seed(3)
    a = tape.randn(1000)
    tape.manual_seed(3)
    b = tape.randn(1000)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype is tape.float32 and abs(a.mean().item()) < 0.15 and 0.8 < a.numpy().std() < 1.2
    u = tape.rand(2, 500)
    assert u.shape == (2, 500) and 0 <= u.numpy().min() and u.numpy().max() < 1
    assert tape.randn(size=()).shape == ()


def test_requires_grad_on_integer_dtype_raises():
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        tape.tensor([1, 2], requires_grad=True)
    with pytest.raises(RuntimeError, match="only Tensors of floating point"):
        tape.arange(3).requires_grad_()


def test_conversions():
    x = tape.tensor([1.5, 2.5])
    assert x.double().dtype is tape.float64 and x.float() is x
    assert x.tolist() == [1.5, 2.5]
    assert tape.tensor(2.5).item() == 2.5
    with pytest.raises(RuntimeError, match="a Tensor with 2 elements cannot be converted to Scalar"):
        x.item()
    y = x.clone()
    y.numpy()[0] = 9
    assert x.tolist() == [1.5, 2.5]
    with pytest.raises(RuntimeError, match="Boolean value of Tensor with more than one value"):
        bool(x)


def test_byte_swapped_arrays_are_refused_by_from_numpy_and_converted_by_tensor():
    """PyTorch's from_numpy raises ValueError for a non-native byte order (it would have to
    share memory it cannot read); tensor() copies, so it converts to native order."""
    swapped = np.arange(4, dtype=np.float32).astype(">f4")
    with pytest.raises(ValueError, match="byte order"):
        tape.from_numpy(swapped)
    t = tape.tensor(swapped, requires_grad=True)
    assert t.dtype is tape.float32
    (t * t).sum().backward()
    assert t.grad.tolist() == [0.0, 2.0, 4.0, 6.0]
    assert (tape.tensor(swapped).sin() * 2).tolist() == pytest.approx(2 * np.sin([0, 1, 2, 3]))


def test_arithmetic_matches_numpy_with_broadcasting():
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 2, (3, 1)).astype(np.float32)
    b = rng.uniform(0.5, 2, (4,)).astype(np.float32)
    ta, tb = tape.tensor(a), tape.tensor(b)
    for got, want in [(ta + tb, a + b), (ta - tb, a - b), (ta * tb, a * b), (ta / tb, a / b),
                      (ta ** tb, a ** b), (2.0 - ta, 2.0 - a), (3 / tb, 3 / b), (-ta, -a),
                      (ta.exp(), np.exp(a)), (ta.log(), np.log(a)), (ta.sqrt(), np.sqrt(a)),
                      (ta.sin(), np.sin(a)), (ta.cos(), np.cos(a)), (ta.tanh(), np.tanh(a)),
                      (ta.sigmoid(), 1 / (1 + np.exp(-a))), ((ta - 1).relu(), np.maximum(a - 1, 0)),
                      (ta > 1, a > 1), (ta <= tb, a <= b), (ta == ta, a == a), (ta != 1, a != 1)]:
        assert got.shape == want.shape
        assert got.numpy().dtype == want.dtype
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def _operands(dtype):
    """Arrays of dtype in the layouts an operator meets: 1-d, 2-d, strided, transposed, empty,
    0-d, and one read-only."""
    rng = np.random.default_rng(11)
    grid = rng.uniform(0.5, 2.0, (4, 6)).astype(dtype)
    frozen = grid[1].copy()
    frozen.flags.writeable = False
    return [grid[0], grid, grid[:, ::2], grid.T, grid[:0, 0], np.array(grid[2, 3]), frozen]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unrecorded_operators_equal_the_ops_forward_bit_for_bit(dtype):
    """Operators whose result is not recorded (no_grad, a custom Function's forward and
    backward, inputs that need no gradient) call the op's compiled kernel directly once it is
    known (tape/tensor.py, _binary): each result equals op.forward's on the same arrays, bit
    for bit, in dtype and shape, for every layout, and neither operand changes."""
    from ops import OPS
    binary = {"add": lambda p, q: p + q, "sub": lambda p, q: p - q,
              "mul": lambda p, q: p * q, "div": lambda p, q: p / q,
              "pow": lambda p, q: p ** q}
    unary = {"neg": lambda p: -p, "exp": lambda p: p.exp(), "sqrt": lambda p: p.sqrt(),
             "sigmoid": lambda p: p.sigmoid(), "abs": lambda p: p.abs()}

    def check(got, want):
        assert got.dtype == want.dtype and got.shape == want.shape
        assert got.tobytes() == want.tobytes()

    for requires_grad, mode in ((True, tape.no_grad), (False, tape.enable_grad)):
        for x in _operands(dtype):
            before = x.copy()
            t = tape.tensor(x, requires_grad=requires_grad)
            t._data = x   # the layout itself (tensor() copies into a fresh contiguous array)
            others = [x[::-1].copy() if x.ndim else x + 1, x.astype(np.float64 if dtype == np.float32 else np.float32)]
            if x.ndim and x.shape[-1]:
                others.append(x[..., :1].copy())   # broadcast against x
            with mode():
                for _ in range(2):   # the first call makes the kernel known; the second is direct
                    for name, fn in binary.items():
                        for number in (1.5, 3, -0.25):
                            check(fn(t, number).numpy(), OPS[name].forward(x, number))
                            check(fn(number, t).numpy(), OPS[name].forward(number, x))
                        check(fn(t, t).numpy(), OPS[name].forward(x, x))
                        for y in others:
                            check(fn(t, tape.tensor(y)).numpy(), OPS[name].forward(x, y))
                            check(fn(tape.tensor(y), t).numpy(), OPS[name].forward(y, x))
                    for name, fn in unary.items():
                        check(fn(t).numpy(), OPS[name].forward(x))
            assert not t.requires_grad or t.grad is None
            np.testing.assert_array_equal(x, before)
    # the direct path was taken: the kernels for these patterns are known
    for name in binary:
        for table in (OPS[name].direct_as, OPS[name].direct_sa, OPS[name].direct_aa):
            assert np.dtype(dtype) in table


@pytest.mark.parametrize("transcendental", [True, False])
def test_large_arrays_take_the_parallel_kernels_with_the_same_values(transcendental):
    """Past PARALLEL_MIN_SIZE (smaller for exp/sin/... than for arithmetic) the prange kernels
    run; odd sizes check the loop's tail."""
    from ops import elementwise
    n = elementwise.PARALLEL_MIN_SIZE[transcendental] + 3
    rng = np.random.default_rng(5)
    a = rng.uniform(0.5, 2.0, n)
    b = rng.uniform(0.5, 2.0, n)
    for dtype, rtol in ((np.float32, 1e-6), (np.float64, 1e-14)):
        x = tape.tensor(a.astype(dtype), requires_grad=True)
        y = tape.tensor(b.astype(dtype), requires_grad=True)
        out = (x * y + 0.5).sigmoid() ** 2 / y
        out.sum().backward()
        # the reference in float64 from the inputs tape saw: (1 - s) cancels, and a float32
        # reference's own rounding would count against tape over 2M draws
        xs, ys = a.astype(dtype).astype(np.float64), b.astype(dtype).astype(np.float64)
        s = 1 / (1 + np.exp(-(xs * ys + 0.5)))
        np.testing.assert_allclose(out.detach().numpy(), s ** 2 / ys, rtol=rtol)
        ds = 2 * s * s * (1 - s) / ys                 # d(out)/d(inner), inner = x*y + 0.5
        np.testing.assert_allclose(x.grad.numpy(), ds * ys, rtol=10 * rtol)
        np.testing.assert_allclose(y.grad.numpy(), ds * xs - s ** 2 / ys ** 2, rtol=10 * rtol)
        assert out.dtype == tape.tensor(a.astype(dtype)).dtype
    from ops import OPS
    assert any(key.endswith("_par") for key in OPS["sigmoid"].kernels.functions)
    if not transcendental:
        assert any(key.endswith("_par") for key in OPS["mul"].kernels.functions)
