"""torch.autograd beyond backward(): grad, higher order, hooks, Function, gradcheck,
functional, Variable, nn.Module/Parameter, optim, GradientTape.  Values are checked against
closed forms, finite differences (tests/helpers.py) and numpy."""
import warnings

import numpy as np
import pytest

import tape
from tape.autograd import Function
from tape.autograd.function import once_differentiable
from helpers import Cube, check_grads

F64 = tape.float64


def t64(values, requires_grad=True):
    return tape.tensor(np.asarray(values, dtype=np.float64), requires_grad=requires_grad)


# ---- autograd.grad ------------------------------------------------------------------------
def test_grad_sequences_grad_outputs_and_allow_unused():
    x, y, u = t64([1.0, 2.0]), t64([3.0, -1.0]), t64([5.0])
    out = x * y
    gx, gy, gu = tape.autograd.grad([out], [x, y, u], grad_outputs=[t64([1.0, 10.0], False)],
                                    allow_unused=True)
    np.testing.assert_allclose(gx._data, [3.0, -10.0])
    np.testing.assert_allclose(gy._data, [1.0, 20.0])
    assert gu is None
    assert x.grad is None and y.grad is None   # grad() does not accumulate


def test_grad_errors_match_pytorch():
    x, u = t64([1.0, 2.0]), t64([5.0])
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        tape.autograd.grad((x * x).sum(), [x, u])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        tape.autograd.grad(x * x, x)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        tape.autograd.grad(x * x, x, grad_outputs=t64([1.0, 2.0, 3.0], False))
    with pytest.raises(RuntimeError, match="does not require grad"):
        tape.autograd.grad((x * x).sum(), t64([1.0], False))


# ---- higher order -------------------------------------------------------------------------
def test_hessian_rows_of_a_cubic_form():
    # f = x0^2 x1 + x1^3: H = [[2 x1, 2 x0], [2 x0, 6 x1]]
    x = t64([1.5, -2.0])
    e0, e1 = t64([1.0, 0.0], False), t64([0.0, 1.0], False)
    x0, x1 = (x * e0).sum(), (x * e1).sum()
    f = x0 ** 2 * x1 + x1 ** 3
    g, = tape.autograd.grad(f, x, create_graph=True)
    np.testing.assert_allclose(g._data, [2 * 1.5 * -2.0, 1.5 ** 2 + 3 * 4.0])
    rows = [tape.autograd.grad(g, x, grad_outputs=t64(e, False), retain_graph=True)[0]._data
            for e in ([1.0, 0.0], [0.0, 1.0])]
    np.testing.assert_allclose(rows, [[-4.0, 3.0], [3.0, -12.0]])


def test_third_derivative_of_tanh():
    xs = np.array([-1.2, 0.0, 0.3, 2.0])
    x = t64(xs)
    y = tape.tanh(x).sum()
    d1, = tape.autograd.grad(y, x, create_graph=True)
    d2, = tape.autograd.grad(d1.sum(), x, create_graph=True)
    d3, = tape.autograd.grad(d2.sum(), x)
    th = np.tanh(xs)
    np.testing.assert_allclose(d1._data, 1 - th ** 2)
    np.testing.assert_allclose(d2._data, -2 * th * (1 - th ** 2))
    np.testing.assert_allclose(d3._data, -2 * (1 - th ** 2) * (1 - 3 * th ** 2))


def test_gradient_penalty_on_x_grad():
    # loss = |d/dx sum(sin(w x))|^2 = sum(w^2 cos^2(w x)); d loss / d w in closed form.
    xs, ws = np.array([0.3, -0.7, 1.1]), np.array([1.5, 0.4, -2.0])
    x, w = t64(xs), t64(ws)
    tape.sin(w * x).sum().backward(create_graph=True)
    penalty = (x.grad * x.grad).sum()
    x.grad = None
    penalty.backward()
    c, s = np.cos(ws * xs), np.sin(ws * xs)
    # w.grad: x cos(wx) from the first backward, plus d penalty / dw.
    np.testing.assert_allclose(w.grad._data,
                               xs * c + 2 * ws * c * c - 2 * ws * ws * c * s * xs)


def test_hooks_on_leaf_and_non_leaf_replace_and_remove():
    x = t64([1.0, 2.0])
    y = x * 3
    seen = []
    h1 = y.register_hook(lambda g: seen.append(g._data.copy()) or g * 2)
    h2 = x.register_hook(lambda g: g + 1)
    (y * y).sum().backward(retain_graph=True)
    np.testing.assert_allclose(seen[0], 2 * 3 * np.array([1.0, 2.0]))
    np.testing.assert_allclose(x.grad._data, 2 * 2 * 9 * np.array([1.0, 2.0]) + 1)
    h1.remove()
    h2.remove()
    x.grad = None
    (y * y).sum().backward()
    np.testing.assert_allclose(x.grad._data, 18 * np.array([1.0, 2.0]))
    assert len(seen) == 1


def test_retain_grad_keeps_non_leaf_grad():
    x = t64([1.0, -2.0])
    y = x * x
    y.retain_grad()
    z = y * 2
    z.sum().backward()
    np.testing.assert_allclose(y.grad._data, [2.0, 2.0])
    assert z.grad is None and y.retains_grad and not z.retains_grad
    with pytest.raises(RuntimeError, match="requires_grad=False"):
        t64([1.0], False).retain_grad()
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        t64([1.0], False).register_hook(lambda g: g)


# ---- autograd.Function --------------------------------------------------------------------
class ScaleShift(Function):
    """(x * k + s, x - s) with a non-tensor k; records what ctx saw."""

    @staticmethod
    def forward(ctx, x, k, s):
        ctx.k = k
        ctx.seen_needs = ctx.needs_input_grad
        return x * k + s, x - s

    @staticmethod
    def backward(ctx, g1, g2):
        return g1 * ctx.k + g2, None, g1 - g2


def test_function_grad_fn_name_and_gradients():
    x = t64([1.0, -2.0])
    y = Cube.apply(x)
    assert type(y.grad_fn).__name__ == "CubeBackward" and y.requires_grad
    y.sum().backward()
    np.testing.assert_allclose(x.grad._data, [3.0, 12.0])


def test_function_is_twice_differentiable_and_matches_finite_differences():
    xs = np.array([0.5, -1.5, 2.0])
    x = t64(xs)
    d1, = tape.autograd.grad(Cube.apply(x).sum(), x, create_graph=True)
    d2, = tape.autograd.grad(d1.sum(), x)
    np.testing.assert_allclose(d2._data, 6 * xs)
    check_grads(lambda a: Cube.apply(a) * 2, xs, order=2)


def test_function_several_outputs_and_non_tensor_args():
    x, s = t64([1.0, 2.0]), t64([0.5, 0.5])
    a, b = ScaleShift.apply(x, 4.0, s)
    assert a.grad_fn is b.grad_fn and a.grad_fn.seen_needs == (True, False, True)
    (a * 2 + b * 3).sum().backward()
    np.testing.assert_allclose(x.grad._data, [2 * 4 + 3] * 2)
    np.testing.assert_allclose(s.grad._data, [2 - 3] * 2)
    # Only one output used: the other's gradient arrives materialized as zeros.
    x2 = t64([1.0])
    ScaleShift.apply(x2, 4.0, t64([0.0]))[1].sum().backward()
    np.testing.assert_allclose(x2.grad._data, [1.0])


def test_function_saved_tensors_released_after_backward():
    x = t64([1.0, 2.0])
    y = Cube.apply(x)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.grad_fn.saved_tensors
    with pytest.raises(RuntimeError, match="Specify retain_graph=True"):
        y.sum().backward()
    z = Cube.apply(x)
    z.sum().backward(retain_graph=True)
    z.sum().backward()
    np.testing.assert_allclose(x.grad._data, 3 * 3 * np.array([1.0, 4.0]))


def test_function_saved_tensor_version_check():
    x = t64([1.0, 2.0])
    h = x * 1
    y = Cube.apply(h)
    with tape.no_grad():
        h.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*version 1; "
                                           "expected version 0"):
        y.sum().backward()


def test_function_saving_its_output():
    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            result = x.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, g):
            result, = ctx.saved_tensors
            return g * result

    xs = np.array([0.1, -0.4])
    check_grads(Exp.apply, xs, order=2)


def test_function_backward_errors_match_pytorch():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    class BadShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return tape.ones(2, dtype=F64)

    class GradForConstant(Function):
        @staticmethod
        def forward(ctx, a, c):
            return a * c

        @staticmethod
        def backward(ctx, g):
            return g, g

    x = t64([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match=r"function TooFewBackward returned an incorrect "
                                           r"number of gradients \(expected 2, got 1\)"):
        TooFew.apply(x, x).sum().backward()
    with pytest.raises(RuntimeError, match=r"Function BadShapeBackward returned an invalid "
                                           r"gradient at index 0 - got \[2\] but expected shape "
                                           r"compatible with \[3\]"):
        BadShape.apply(x).sum().backward()
    with pytest.raises(RuntimeError, match="returned a gradient different than None at "
                                           "position 2"):
        GradForConstant.apply(x, 2.0).sum().backward()


def test_function_without_grad_records_nothing():
    x = t64([1.0], requires_grad=False)
    assert Cube.apply(x).grad_fn is None
    with tape.no_grad():
        assert Cube.apply(t64([1.0])).grad_fn is None


def test_set_materialize_grads_false_passes_none():
    seen = []

    class Two(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 1, x * 2

        @staticmethod
        def backward(ctx, g1, g2):
            seen.append((g1 is None, g2 is None))
            return g1 * 5 if g1 is not None else g2 * 7

    x = t64([1.0])
    Two.apply(x)[1].sum().backward()
    assert seen == [(True, False)]
    np.testing.assert_allclose(x.grad._data, [7.0])


# A Function with one Tensor output is recorded by a shorter path than one returning a tuple
# (tape/autograd/function.py, _record_one and _record_any): each case runs through both.
_AS_RETURNED = {"tensor": (lambda o: o, lambda r: r), "tuple": (lambda o: (o,), lambda r: r[0])}


@pytest.mark.parametrize("returned", sorted(_AS_RETURNED))
def test_function_returning_its_input_gives_a_new_tensor_on_its_buffer(returned):
    pack, unpack = _AS_RETURNED[returned]

    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return pack(x)

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x

    x = t64([2.0, -3.0])
    y = unpack(Identity.apply(x))
    assert y is not x and y.requires_grad and type(y.grad_fn).__name__ == "IdentityBackward"
    assert x.grad_fn is None and np.shares_memory(y._data, x._data)
    (y * 10).sum().backward()
    np.testing.assert_allclose(x.grad._data, [20.0, -30.0])   # g * x, g = 10
    # the output shares its input's version: changing it invalidates the saved input
    z = unpack(Identity.apply(x))
    with tape.no_grad():
        z.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


@pytest.mark.parametrize("returned", sorted(_AS_RETURNED))
def test_function_saving_its_output_sees_in_place_changes(returned):
    pack, unpack = _AS_RETURNED[returned]

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            out = x.exp()
            ctx.save_for_backward(out)
            return pack(out)

        @staticmethod
        def backward(ctx, g):
            out, = ctx.saved_tensors
            return g * out

    x = t64([0.5, -1.0])
    y = unpack(Exp.apply(x))
    (y * 3).sum().backward()
    np.testing.assert_allclose(x.grad._data, 3 * np.exp([0.5, -1.0]))
    y = unpack(Exp.apply(x))
    with tape.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("returned", sorted(_AS_RETURNED))
def test_function_integer_output_does_not_require_grad(returned):
    pack, unpack = _AS_RETURNED[returned]

    class Round(Function):
        @staticmethod
        def forward(ctx, x):
            return pack(x.round().to(tape.int64))

        @staticmethod
        def backward(ctx, g):
            return g

    out = unpack(Round.apply(t64([1.4, 2.6])))
    assert out.tolist() == [1, 3] and not out.requires_grad and out.grad_fn is None


def test_mark_non_differentiable_and_mark_dirty():
    class SortLike(Function):
        @staticmethod
        def forward(ctx, x):
            idx = tape.tensor(np.argsort(x._data))
            ctx.mark_non_differentiable(idx)
            return x * 2, idx

        @staticmethod
        def backward(ctx, g, g_idx):
            return g * 2

    class AddOneInplace(Function):
        @staticmethod
        def forward(ctx, x):
            x.add_(1)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 1

    x = t64([3.0, 1.0])
    y, idx = SortLike.apply(x)
    assert not idx.requires_grad and y.requires_grad
    h = x * 1
    out = AddOneInplace.apply(h)
    assert out is h and type(h.grad_fn).__name__ == "AddOneInplaceBackward"
    np.testing.assert_allclose(h._data, [4.0, 2.0])
    (out * 3).sum().backward()
    np.testing.assert_allclose(x.grad._data, [3.0, 3.0])
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        AddOneInplace.apply(t64([1.0]))


def test_once_differentiable_refuses_double_backward():
    class Sq(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            assert not tape.is_grad_enabled()
            return g * 2 * x

    x = t64([3.0])
    # x * Sq(x): Sq's grad_output is x, which requires grad, so its result must refuse.
    g, = tape.autograd.grad((x * Sq.apply(x)).sum(), x, create_graph=True)
    np.testing.assert_allclose(g._data, [3 * 9.0])
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked "
                                           "with @once_differentiable"):
        g.sum().backward()


# ---- gradcheck ----------------------------------------------------------------------------
class WrongGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, g):
        return g * 3


def test_gradcheck_accepts_right_and_rejects_wrong_gradients():
    x = t64([0.5, -1.0, 2.0])
    assert tape.autograd.gradcheck(Cube.apply, (x,))
    assert tape.autograd.gradcheck(lambda a, b: a * b.exp(), (x, t64([0.1, 0.2, 0.3])))
    with pytest.raises(tape.autograd.GradcheckError,
                       match="Jacobian mismatch for output 0 with respect to input 0"):
        tape.autograd.gradcheck(WrongGrad.apply, (x,))
    assert issubclass(tape.autograd.GradcheckError, RuntimeError)
    assert tape.autograd.gradcheck(WrongGrad.apply, (x,), raise_exception=False) is False
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        tape.autograd.gradcheck(Cube.apply, (t64([1.0], False),))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        tape.autograd.gradcheck(Cube.apply, (tape.tensor([1.0], requires_grad=True),),
                                eps=1e-3, atol=1e-2)
    assert any("is not a double precision" in str(m.message) for m in w)


def test_gradgradcheck():
    x = t64([0.5, -1.0])
    assert tape.autograd.gradgradcheck(Cube.apply, (x,))
    assert tape.autograd.gradgradcheck(lambda a: tape.tanh(a) * a, (x,))

    class WrongSecond(Cube):   # Cube's forward
        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * 3 * x * x.detach()   # first derivative right, second wrong

    assert tape.autograd.gradcheck(WrongSecond.apply, (x,))
    assert not tape.autograd.gradgradcheck(WrongSecond.apply, (x,), raise_exception=False)


# ---- functional ---------------------------------------------------------------------------
FN = tape.autograd.functional


def test_functional_jacobian_and_hessian_closed_forms():
    xs = np.array([0.5, -1.0, 2.0])
    x = t64(xs, False)
    J = FN.jacobian(lambda a: a * a * a, x)
    np.testing.assert_allclose(J._data, np.diag(3 * xs ** 2))
    assert not J.requires_grad
    Ja, Jb = FN.jacobian(lambda a, b: (a * b).sum() * a, (x, t64([1.0, 2.0, 3.0], False)))
    assert Ja.shape == (3, 3) and Jb.shape == (3, 3)
    s = (xs * [1, 2, 3]).sum()
    np.testing.assert_allclose(Ja._data, s * np.eye(3) + np.outer(xs, [1, 2, 3]))
    np.testing.assert_allclose(Jb._data, np.outer(xs, xs))
    H = FN.hessian(lambda a: (a * a * a).sum(), x)
    np.testing.assert_allclose(H._data, np.diag(6 * xs))
    H2 = FN.hessian(lambda a: (a * a * a).sum(), x, create_graph=True)
    assert H2.requires_grad


def test_functional_vjp_jvp_hvp_vhp():
    xs = np.array([0.5, -1.0])
    x, v = t64(xs, False), t64([1.0, 2.0], False)
    out, g = FN.vjp(lambda a: a * a, x, v)
    np.testing.assert_allclose(out._data, xs ** 2)
    np.testing.assert_allclose(g._data, 2 * xs * [1.0, 2.0])
    out, jv = FN.jvp(lambda a: tape.sin(a), x, v)
    np.testing.assert_allclose(jv._data, np.cos(xs) * [1.0, 2.0])
    f = lambda a: (a * a * a).sum()  # noqa: E731
    for fn in (FN.hvp, FN.vhp):
        val, hv = fn(f, x, v)
        np.testing.assert_allclose(val._data, (xs ** 3).sum())
        np.testing.assert_allclose(hv._data, 6 * xs * [1.0, 2.0])
    with pytest.raises(RuntimeError, match="v can only be None"):
        FN.vjp(lambda a: a * a, x)
    with pytest.raises(RuntimeError, match="should return a single Tensor|single element"):
        FN.hessian(lambda a: a * a, x)


# ---- Variable, nn, optim ------------------------------------------------------------------
def test_variable_is_a_leaf_on_the_same_buffer():
    base = tape.ones(2)
    v = tape.autograd.Variable(base, requires_grad=True)
    assert isinstance(v, tape.Tensor) and isinstance(base, tape.autograd.Variable)
    assert v.requires_grad and v.is_leaf and not base.requires_grad
    assert np.shares_memory(v._data, base._data)


def test_module_registers_parameters_and_submodules():
    class Net(tape.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = tape.nn.Parameter(tape.ones(2, 3))
            self.register_parameter("bias", None)
            self.child = tape.nn.Module()
            self.child.p = tape.nn.Parameter(tape.zeros(3))
            self.scale = 2.0

        def forward(self, x):
            return (x.mm(self.w) + self.child.p).sum() * self.scale

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["w", "child.p"]
    assert len(list(net.parameters())) == 2 and net.bias is None
    assert net.training and not net.eval().child.training and net.train().child.training
    loss = net(tape.ones(4, 2))
    loss.backward()
    np.testing.assert_allclose(net.w.grad._data, np.full((2, 3), 8.0))
    np.testing.assert_allclose(net.child.p.grad._data, np.full(3, 8.0))
    net.zero_grad()
    assert net.w.grad is None
    p = tape.nn.Parameter(tape.tensor([1.0, 2.0]))
    assert repr(p) == "Parameter containing:\ntensor([1., 2.], requires_grad=True)"
    assert p.is_leaf and p.requires_grad and isinstance(p, tape.Tensor)
    with pytest.raises(TypeError, match="cannot assign"):
        net.w = tape.ones(2, 3)


def _quadratic_problem():
    p = tape.nn.Parameter(tape.tensor([1.0, -2.0, 3.0], dtype=F64))
    target = np.array([0.5, 0.5, 0.5])
    return p, target


@pytest.mark.parametrize("momentum,weight_decay,nesterov", [(0, 0, False), (0.9, 0.01, False),
                                                            (0.5, 0, True)])
def test_sgd_matches_reference(momentum, weight_decay, nesterov):
    p, target = _quadratic_problem()
    opt = tape.optim.SGD([p], lr=0.1, momentum=momentum, weight_decay=weight_decay,
                         nesterov=nesterov)
    ref, buf = p._data.copy(), None
    for _ in range(5):
        opt.zero_grad()
        ((p - tape.tensor(target)) ** 2).sum().backward()
        opt.step()
        d = 2 * (ref - target) + weight_decay * ref
        if momentum:
            buf = d if buf is None else momentum * buf + d
            d = d + momentum * buf if nesterov else buf
        ref = ref - 0.1 * d
        np.testing.assert_allclose(p._data, ref, rtol=1e-12)


def test_adam_matches_reference():
    p, target = _quadratic_problem()
    opt = tape.optim.Adam([p], lr=0.05, weight_decay=0.1)
    ref, m, v = p._data.copy(), 0.0, 0.0
    for step in range(1, 6):
        opt.zero_grad()
        ((p - tape.tensor(target)) ** 2).sum().backward()
        opt.step()
        g = 2 * (ref - target) + 0.1 * ref
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        denom = np.sqrt(v) / np.sqrt(1 - 0.999 ** step) + 1e-8
        ref = ref - 0.05 / (1 - 0.9 ** step) * m / denom
        np.testing.assert_allclose(p._data, ref, rtol=1e-12)


def test_optimizer_step_bumps_version_so_stale_graphs_raise():
    p = tape.nn.Parameter(tape.tensor([2.0], dtype=F64))
    y = p * p
    y.backward(retain_graph=True)
    tape.optim.SGD([p], lr=0.1).step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# ---- GradientTape -------------------------------------------------------------------------
def test_gradient_tape_watch_and_non_persistent():
    x = t64([1.0, 2.0], requires_grad=False)
    with tape.GradientTape() as g:
        g.watch(x)
        y = (x * x * x).sum()
    dx = g.gradient(y, x)
    np.testing.assert_allclose(dx._data, 3 * np.array([1.0, 4.0]))
    assert x.grad is None and not x.requires_grad
    with pytest.raises(RuntimeError, match="non-persistent GradientTape"):
        g.gradient(y, x)


def test_gradient_tape_persistent_unconnected_stop_recording_and_nesting():
    w = tape.nn.Parameter(tape.tensor([3.0], dtype=F64))
    u = tape.nn.Parameter(tape.tensor([1.0], dtype=F64))
    with tape.GradientTape(persistent=True) as g:
        y = w * w
        with g.stop_recording():
            z = w * 5
        assert not z.requires_grad
    assert g.gradient(y, [w, u])[1] is None
    np.testing.assert_allclose(g.gradient(y, {"w": w})["w"]._data, [6.0])
    x = t64([2.0], requires_grad=False)
    with tape.GradientTape() as outer:
        outer.watch(x)
        with tape.GradientTape() as inner:
            inner.watch(x)
            y = x * x * x
        dy = inner.gradient(y, x)
    d2y = outer.gradient(dy, x)
    np.testing.assert_allclose(dy._data, [12.0])
    np.testing.assert_allclose(d2y._data, [12.0])


def test_functional_strict_mode_and_zeros_for_unreached_inputs():
    F = tape.autograd.functional
    a, b = t64([1.0, 2.0]), t64([3.0])

    def uses_a_only(x, y):
        return (x * x).sum() + 0 * x.sum()

    _, (ga, gb) = F.vjp(uses_a_only, (a, b))
    np.testing.assert_array_equal(ga.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(gb.numpy(), [0.0])
    with pytest.raises(RuntimeError, match="independent of input 1.*strict mode"):
        F.vjp(uses_a_only, (a, b), strict=True)
    (haa, hab), (hba, hbb) = F.hessian(uses_a_only, (a, b))
    np.testing.assert_array_equal(haa.numpy(), [[2.0, 0.0], [0.0, 2.0]])
    np.testing.assert_array_equal(hbb.numpy(), [[0.0]])
    with pytest.raises(RuntimeError, match="independent of input 1.*strict mode"):
        F.hessian(uses_a_only, (a, b), strict=True)
    _, jv = F.jvp(lambda x, y: x * 2, (a, b), (t64([1.0, 1.0]), t64([1.0])))
    np.testing.assert_array_equal(jv.numpy(), [2.0, 2.0])
