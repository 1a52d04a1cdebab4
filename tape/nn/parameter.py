"""Parameter: a leaf Tensor that requires grad and that a Module registers on assignment."""
import numpy as np

from ..tensor import Tensor, _version_of


class Parameter(Tensor):
    """Parameter(data) shares data's buffer (and version counter), as PyTorch's does."""
    __slots__ = ()

    def __new__(cls, data=None, requires_grad=True):
        if data is None:
            data = Tensor(np.empty(0, np.float32))
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): data must be a Tensor, not {type(data).__name__}")
        self = object.__new__(cls)
        self._data = data._data
        self._requires_grad = False
        self._grad = None
        self._record = None
        self._out_index = 0
        self._version = _version_of(data)
        self._base = None
        self._hooks = None
        if requires_grad:
            self.requires_grad_(True)
        return self

    def __init__(self, data=None, requires_grad=True):
        pass

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __reduce_ex__(self, protocol):
        return (Parameter, (Tensor(self._data), self._requires_grad))
