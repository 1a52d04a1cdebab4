"""Anomaly detection: a NaN made in backward raises PyTorch's error naming the op and its line."""
import inspect
import warnings

import numpy as np
import pytest

import tape
import tape.tape as tape_module


@pytest.fixture(autouse=True)
def anomaly_off_afterwards():
    yield
    tape.autograd.set_detect_anomaly(False)


def here():
    """The caller's line number, to name the line a forward op was created on."""
    return inspect.currentframe().f_back.f_lineno


def test_modes_switch_and_restore():
    assert not tape.autograd.is_anomaly_enabled()
    tape.autograd.set_detect_anomaly(True)
    assert tape.autograd.is_anomaly_enabled() and tape.is_anomaly_enabled()
    tape.autograd.set_detect_anomaly(False)
    assert not tape.autograd.is_anomaly_enabled()
    with tape.autograd.set_detect_anomaly(True, check_nan=False):
        assert tape.autograd.is_anomaly_enabled()
        assert not tape.autograd.is_anomaly_check_nan_enabled()
    assert not tape.autograd.is_anomaly_enabled()
    assert tape.autograd.is_anomaly_check_nan_enabled()
    with pytest.warns(UserWarning, match="Anomaly Detection has been enabled"):
        mode = tape.autograd.detect_anomaly()
    with mode:
        assert tape.autograd.is_anomaly_enabled()
    assert not tape.autograd.is_anomaly_enabled()


def test_off_records_carry_nothing_and_use_the_plain_constructor():
    assert tape_module.Record.__init__ is tape_module._plain_init
    x = tape.ones(2, requires_grad=True)
    y = x * 2
    assert not hasattr(y.grad_fn, "trace")
    tape.autograd.set_detect_anomaly(True)
    assert tape_module.Record.__init__ is not tape_module._plain_init
    y = x * 2; line = here()                                      # noqa: E702
    assert y.grad_fn.trace == (__file__, line, "test_off_records_carry_nothing_and_use_the_"
                                               "plain_constructor")
    tape.autograd.set_detect_anomaly(False)
    assert tape_module.Record.__init__ is tape_module._plain_init


def test_nan_in_backward_names_the_op_its_output_and_the_users_line():
    x = tape.tensor([0.0, 1.0], requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with tape.autograd.detect_anomaly():
            y = (x / x).sum(); line = here()                       # noqa: E702
            with pytest.warns(UserWarning, match=r"Error detected in DivBackward0\. Traceback of "
                                                 r"forward call that caused the error:\n  File "):
                with pytest.raises(RuntimeError) as info:
                    y.backward()
    # d(x/x)/dx as numerator is 1/x = inf at 0 (not an anomaly); as denominator -x/x^2 = nan
    message = str(info.value)
    assert message.startswith("Function 'DivBackward0' returned nan values in its 1th output.")
    assert f"{__file__}:{line}" in message
    assert x.grad is None                                           # nothing accumulated


def test_the_user_frame_is_found_below_library_frames():
    def model(t):
        return t.sqrt() * 0.0                                        # sqrt'(0) * 0 = inf * 0
    line = inspect.getsourcelines(model)[1] + 1
    x = tape.tensor([0.0, 4.0], requires_grad=True)
    tape.autograd.set_detect_anomaly(True)
    loss = model(x).sum()
    with pytest.warns(UserWarning, match=r"model\n    return t\.sqrt\(\) \* 0\.0"):
        with pytest.raises(RuntimeError, match=rf"^Function 'SqrtBackward0' returned nan values in "
                                               rf"its 0th output\. .*:{line} \(in model\)"):
            loss.backward()


def test_without_anomaly_mode_the_nan_gradient_is_returned_as_pytorch_does():
    x = tape.tensor([0.0, 1.0], requires_grad=True)
    (x / x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [np.nan, 0.0])


def test_check_nan_false_and_inf_gradients_do_not_raise():
    x = tape.tensor([0.0, 1.0], requires_grad=True)
    with tape.autograd.set_detect_anomaly(True, check_nan=False):
        (x / x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [np.nan, 0.0])
    z = tape.tensor([0.0, 1.0], requires_grad=True)
    tape.autograd.set_detect_anomaly(True)
    z.log().sum().backward()                                         # inf is not an anomaly
    np.testing.assert_array_equal(z.grad.numpy(), [np.inf, 1.0])


def test_nan_in_the_seed_gradient_is_caught_at_the_first_op():
    x = tape.tensor([1.0, 2.0], requires_grad=True)
    tape.autograd.set_detect_anomaly(True)
    y = x * 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match=r"Function 'MulBackward0' returned nan values in "
                                               r"its 0th output"):
            y.backward(tape.tensor([np.nan, 1.0]))


def test_graph_recorded_before_the_mode_still_raises_without_a_location():
    x = tape.tensor([0.0], requires_grad=True)
    y = (x / x).sum()
    tape.autograd.set_detect_anomaly(True)
    with pytest.raises(RuntimeError) as info:
        y.backward()
    assert str(info.value) == "Function 'DivBackward0' returned nan values in its 1th output."


def test_nan_in_a_create_graph_backward_is_caught():
    x = tape.tensor([0.0, 1.0], dtype=tape.float64, requires_grad=True)
    tape.autograd.set_detect_anomaly(True)
    y = (x * x.log()).sum()                                          # 0 * log 0 = nan forward
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match=r"returned nan values"):
            tape.autograd.grad(y, x, create_graph=True)


def test_anomaly_mode_gives_the_same_gradients_when_all_is_finite():
    x = tape.tensor([0.5, 1.5, -2.0], dtype=tape.float64, requires_grad=True)
    tape.autograd.set_detect_anomaly(True)
    (g,) = tape.autograd.grad((x.exp() * x.sin()).sum(), x)
    xs = np.array([0.5, 1.5, -2.0])
    np.testing.assert_allclose(g.numpy(), np.exp(xs) * (np.sin(xs) + np.cos(xs)), rtol=1e-12)
