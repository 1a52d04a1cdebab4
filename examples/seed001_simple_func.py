"""Seed 001, 4.4: once_differentiable and set_materialize_grads(False) (the seed stops at
`b, _ = Func.apply(a)`; the last lines backpropagate through b, so g2 arrives as None)."""
from tape.autograd import Function
from tape.autograd.function import once_differentiable
import tape as torch


class SimpleFunc(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone(), x.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, g1, g2):
        return g1 + g2  # No check for None necessary


# We modify SimpleFunc to handle non-materialized grad outputs
class Func(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(x)
        return x.clone(), x.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, g1, g2):
        x, = ctx.saved_tensors
        print(g1, g2)
        grad_input = torch.zeros_like(x)
        if g1 is not None:  # We must check for None now
            grad_input += g1
        if g2 is not None:
            grad_input += g2
        return grad_input


a = torch.tensor(1., requires_grad=True)
print(SimpleFunc.apply(a))
b, _ = Func.apply(a)  # induces g2 to be undefined
b.backward()
print(a.grad)
