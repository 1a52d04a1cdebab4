"""The tape's mechanics, hand-computed: accumulation, release, grad mode, ownership."""
import gc
import subprocess
import sys
import threading
import tracemalloc
import weakref

import numpy as np
import pytest

import tape
from tape.tape import STATE


def quadratic():
    x = tape.tensor([1.0, 2.0], dtype=tape.float64, requires_grad=True)
    a = tape.tensor([2.0, 3.0], dtype=tape.float64)
    return x, a @ (x * x)          # y = 2 x0^2 + 3 x1^2, dy/dx = (4 x0, 6 x1) = (4, 12)


def test_accumulates_over_repeated_backward_with_retain_graph():
    x, y = quadratic()
    expected = np.array([4.0, 12.0])
    for k in range(1, 4):
        y.backward(retain_graph=True)
        np.testing.assert_array_equal(x.grad.numpy(), k * expected)


def test_grad_is_accumulated_in_place_after_the_first_backward():
    x, y = quadratic()
    y.backward(retain_graph=True)
    first = x.grad
    y.backward()
    assert x.grad is first
    np.testing.assert_array_equal(first.numpy(), [8.0, 24.0])


def test_zero_grad_between_passes():
    x, y = quadratic()
    for _ in range(3):
        y.backward(retain_graph=True)
        np.testing.assert_array_equal(x.grad.numpy(), [4.0, 12.0])
        x.grad.zero_()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])


def test_grad_can_be_reset_to_none():
    x, y = quadratic()
    y.backward(retain_graph=True)
    x.grad = None
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 12.0])


def test_second_backward_raises_and_saved_buffers_are_released():
    x, y = quadratic()
    y.backward()
    rec = y.grad_fn
    assert rec.released and rec.inputs is None and rec.out is None
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        y.backward()
    # the failed backward changed nothing
    np.testing.assert_array_equal(x.grad.numpy(), [4.0, 12.0])


def test_graph_without_saved_tensors_can_be_walked_twice_as_in_pytorch():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_non_leaf_grad_stays_none():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    y.sum().backward()
    assert y.grad is None
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_backward_with_gradient_on_a_view():
    x = tape.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    z = (2 * x).view(2, 2)
    v = tape.tensor([[1.0, 0.1], [0.01, 0.001]])
    z.backward(v)
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.2, 0.02, 0.002], rtol=1e-6)
    assert type(z.grad_fn).__name__ == "ViewBackward0"


def test_backward_of_non_scalar_without_gradient_raises():
    x = tape.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar outputs"):
        (x * 2).backward()


def test_gradient_of_wrong_shape_raises_naming_shapes():
    x = tape.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Mismatch in shape.*\[2\].*\[3\]"):
        (x * 2).backward(tape.ones(2))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        tape.ones(3).sum().backward()


def test_no_grad_inside_a_graph_cuts_that_branch():
    x = tape.tensor(1.0, requires_grad=True)
    y1 = x ** 2
    with tape.no_grad():
        y2 = x ** 3
    assert not y2.requires_grad and y2.grad_fn is None
    (y1 + y2).backward()
    assert x.grad.item() == 2.0


def test_grad_mode_decorators_and_set_grad_enabled():
    x = tape.ones(2, requires_grad=True)

    @tape.no_grad()
    def f(t):
        return t * 2

    @tape.no_grad
    def g(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    with tape.no_grad():
        assert not tape.is_grad_enabled()
        with tape.enable_grad():
            assert (x * 2).requires_grad
    with tape.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert tape.is_grad_enabled()
    tape.set_grad_enabled(False)
    try:
        assert not (x * 2).requires_grad
    finally:
        tape.set_grad_enabled(True)
    assert (x * 2).requires_grad


def test_grad_mode_is_per_thread():
    seen = {}
    entered = threading.Event()
    release = threading.Event()

    def other():
        with tape.no_grad():
            entered.set()
            release.wait(5)

    t = threading.Thread(target=other)
    t.start()
    entered.wait(5)
    x = tape.ones(2, requires_grad=True)
    seen["main"] = (x * 2).requires_grad
    release.set()
    t.join()
    assert seen["main"] is True


def test_data_writes_change_values_not_the_graph():
    x = tape.ones(1, requires_grad=True)
    y = 2 * x
    x.data *= 100
    np.testing.assert_array_equal(x.detach().numpy(), [100.0])
    assert not x.data.requires_grad
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0])


def test_detach_shares_storage_but_not_the_graph():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = x * x
    u = y.detach()
    assert not u.requires_grad and u.grad_fn is None
    (u * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), u.numpy())


def test_in_place_on_a_leaf_that_requires_grad_raises_and_changes_nothing():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an "
                                           "in-place operation"):
        x += 1
    np.testing.assert_array_equal(x.detach().numpy(), [1.0, 2.0])
    with tape.no_grad():
        x -= 0.5
    np.testing.assert_array_equal(x.detach().numpy(), [0.5, 1.5])


def test_modified_saved_tensor_raises_instead_of_a_wrong_gradient():
    a = tape.ones(3, requires_grad=True)
    b = tape.ones(3, requires_grad=True)
    c = a * b
    a.detach().mul_(2)   # shares a's version counter
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        c.sum().backward()


def test_control_flow_with_while_on_the_norm():
    def f(a):
        b = a * 2
        while b.norm() < 1000:
            b = b * 2
        return b if b.sum() > 0 else 100 * b

    for value in (0.3, -0.7, 2.5):
        a = tape.tensor(value, requires_grad=True)
        d = f(a)
        d.backward()
        k = d.item() / value                     # f is linear in a on this branch
        assert abs(a.grad.item() - k) <= 1e-6 * abs(k)


def test_failed_op_appends_nothing_to_the_tape():
    x = tape.ones(3, requires_grad=True)
    before = len(STATE.tape.records)
    with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match the size of tensor "
                                           r"b \(4\)"):
        x + tape.ones(4)
    assert len(STATE.tape.records) == before


def test_dead_graphs_are_not_kept_alive_by_the_tape():
    x = tape.ones(1000, requires_grad=True)
    tracemalloc.start()
    try:
        for _ in range(50):                       # warm up kernels and caches
            (x * 2).sigmoid().sum()
        gc.collect()
        base, _ = tracemalloc.get_traced_memory()
        for _ in range(3000):                     # evaluation outside no_grad, never backward
            (x * 2).sigmoid().sum()
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # 3000 live graphs would hold >= 3000 * 2 * 4000 bytes of activations.
    assert current - base < 2_000_000
    assert len(STATE.tape.records) < 20_000


def test_records_are_released_when_their_tensors_die():
    import weakref
    x = tape.ones(3, requires_grad=True)
    y = (x * 2).exp()
    ref = weakref.ref(y.grad_fn)
    del y
    assert ref() is None


def test_create_graph_gives_higher_derivatives():
    x = tape.tensor(0.5, dtype=tape.float64, requires_grad=True)
    t = np.tanh(0.5)
    (g1,) = tape.autograd.grad(tape.tanh(x), x, create_graph=True)
    (g2,) = tape.autograd.grad(g1, x, create_graph=True)
    (g3,) = tape.autograd.grad(g2, x)
    np.testing.assert_allclose(g1.item(), 1 - t * t)
    np.testing.assert_allclose(g2.item(), -2 * t * (1 - t * t))
    np.testing.assert_allclose(g3.item(), (6 * t * t - 2) * (1 - t * t))


def test_import_does_not_import_numba():
    code = "import sys, tape; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# n = 3 takes the lane (one block, its own backward path), 10,000 the general engine; the
# root is the product itself (seeded) or its sum.
LEAF_GRAD_CASES = [(3, False), (3, True), (10_000, False), (10_000, True)]


def _backward_through_times_three(x, reduce):
    y = x * 3
    if reduce:
        y.sum().backward()
    else:
        y.backward(tape.ones(x.shape[0]))


@pytest.mark.parametrize("n, reduce", LEAF_GRAD_CASES)
def test_a_fresh_leaf_gradient_becomes_grad_without_a_copy(n, reduce):
    # The hook's result is referenced by nothing else, so it is stored as it is (a copy of
    # every first gradient cost the size sweep 5x at 100,000 elements).
    x = tape.ones(n, requires_grad=True)
    made = []

    def hook(g):
        out = g * 2
        made.append(weakref.ref(out._data))
        return out
    x.register_hook(hook)
    _backward_through_times_three(x, reduce)
    assert x.grad._data is made[0]()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(n, 6.0, np.float32))


@pytest.mark.parametrize("n, reduce", LEAF_GRAD_CASES)
def test_a_leaf_gradient_still_referenced_elsewhere_is_copied(n, reduce):
    x = tape.ones(n, requires_grad=True)
    kept = []

    def hook(g):
        kept.append(g * 2)
        return kept[-1]
    x.register_hook(hook)
    _backward_through_times_three(x, reduce)
    assert not np.shares_memory(x.grad.numpy(), kept[0].numpy())
    x.grad.add_(1.0)                       # .grad is the leaf's own: the hook's array is intact
    np.testing.assert_array_equal(kept[0].numpy(), np.full(n, 6.0, np.float32))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(n, 7.0, np.float32))


def test_leaf_grads_never_alias_each_other_or_the_callers_arrays():
    # add hands the same gradient array to both inputs; each .grad must still be its own.
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    y = tape.tensor([3.0, 4.0], requires_grad=True)
    s = (x + y).sum()
    s.backward(retain_graph=True)
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    s.backward()                                   # accumulates in place into x.grad only
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(y.grad.numpy(), [2.0, 2.0])
    # a gradient the caller passes in stays the caller's
    v = tape.tensor([1.0, 1.0])
    z = tape.tensor([1.0, 2.0], requires_grad=True)
    (z * 1).backward(v)
    z.backward(v)
    assert not np.shares_memory(z.grad.numpy(), v.numpy())
    np.testing.assert_array_equal(v.numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(z.grad.numpy(), [2.0, 2.0])
