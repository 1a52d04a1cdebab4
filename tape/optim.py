"""tape.optim: SGD and Adam, updating parameters in place with numba kernels (ops/optim.py)."""
import numpy as np

from .nn.module import zero_grads
from .tape import no_grad
from .tensor import Tensor, _version_of


class Optimizer:
    """param_groups (list of dicts with the hyper-parameters) and per-parameter state."""

    def __init__(self, params, defaults):
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + type(params).__name__)
        self.defaults = defaults
        self.state = {}
        self.param_groups = []
        params = list(params)
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(params[0], dict):
            params = [{"params": params}]
        for group in params:
            self.add_param_group(group)

    def add_param_group(self, group):
        group = dict(group)
        ps = group["params"]
        group["params"] = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + type(p).__name__)
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self.param_groups.append(group)

    def zero_grad(self, set_to_none=True):
        zero_grads((p for group in self.param_groups for p in group["params"]), set_to_none)

    def _params_with_grad(self, group):
        for p in group["params"]:
            if p._grad is not None:
                if not p._data.flags.c_contiguous:
                    raise NotImplementedError("tape.optim updates contiguous parameters only")
                yield p, np.ascontiguousarray(p._grad._data, dtype=p._data.dtype).reshape(-1)

    @staticmethod
    def _bump(p):
        _version_of(p).value += 1   # an in-place update, as p.add_() would be

    def __repr__(self):
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            for k in sorted(group):
                if k != "params":
                    lines.append(f"    {k}: {group[k]}")
        return "\n".join(lines) + "\n)"


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0,
                 nesterov=False, *, maximize=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        from ops.optim import sgd_step
        for group in self.param_groups:
            for p, g in self._params_with_grad(group):
                if group["maximize"]:
                    g = -g
                state = self.state.setdefault(p, {})
                buf = state.get("momentum_buffer")
                first = buf is None
                if first:
                    buf = np.zeros(p._data.size, p._data.dtype) if group["momentum"] else g
                sgd_step(p._data.reshape(-1), g, buf, float(group["lr"]),
                         float(group["momentum"]), float(group["dampening"]),
                         float(group["weight_decay"]), bool(group["nesterov"]), first)
                if group["momentum"]:
                    state["momentum_buffer"] = buf
                self._bump(p)
        return loss


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if eps < 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {b}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    @no_grad()
    def step(self, closure=None):
        loss = closure() if closure is not None else None
        from ops.optim import adam_step
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p, g in self._params_with_grad(group):
                if group["maximize"]:
                    g = -g
                state = self.state.get(p)
                if state is None:
                    n, dt = p._data.size, p._data.dtype
                    state = self.state[p] = {
                        "step": 0, "exp_avg": np.zeros(n, dt), "exp_avg_sq": np.zeros(n, dt),
                        "max_exp_avg_sq": np.zeros(n if group["amsgrad"] else 0, dt)}
                state["step"] += 1
                adam_step(p._data.reshape(-1), g, state["exp_avg"], state["exp_avg_sq"],
                          state["max_exp_avg_sq"], float(group["lr"]), float(beta1),
                          float(beta2), float(group["eps"]), float(group["weight_decay"]),
                          float(state["step"]), bool(group["amsgrad"]))
                self._bump(p)
        return loss
