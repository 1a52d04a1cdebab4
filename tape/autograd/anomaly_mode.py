"""Anomaly detection, as torch.autograd.anomaly_mode: NaN gradients raise, naming the forward op.

While on, every record remembers the user's file and line that created it (see tape/tape.py),
and backward checks each gradient a record returns: a NaN raises PyTorch's RuntimeError
("Function 'DivBackward0' returned nan values in its 0th output.") with that file:line, after
PyTorch's "Error detected in ..." warning.  Off by default; the flag is global, as PyTorch's.
"""
import warnings

from ..tape import is_anomaly_check_nan_enabled, is_anomaly_enabled, set_anomaly_enabled

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled",
           "is_anomaly_check_nan_enabled", "set_anomaly_enabled"]


class detect_anomaly:
    """Context manager: anomaly detection on inside the block (warns on creation, as PyTorch)."""

    def __init__(self, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.check_nan = check_nan
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        warnings.warn("Anomaly Detection has been enabled. This mode will increase the runtime "
                      "and should only be enabled for debugging.", stacklevel=2)

    def __enter__(self):
        set_anomaly_enabled(True, self.check_nan)

    def __exit__(self, *exc):
        set_anomaly_enabled(self.prev, self.prev_check_nan)
        return False


class set_detect_anomaly:
    """Sets anomaly detection on or off at once; as a context manager, restores it on exit."""

    def __init__(self, mode, check_nan=True):
        self.prev = is_anomaly_enabled()
        self.prev_check_nan = is_anomaly_check_nan_enabled()
        set_anomaly_enabled(mode, check_nan)

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        set_anomaly_enabled(self.prev, self.prev_check_nan)
        return False
