"""Seed 001, 4.1: LinearFunction checked by gradcheck(linearModule(), ...), and MulConstant
(the seed defines it without using it; the last lines use it)."""
import tape as torch
from tape.autograd import Function


class LinearFunction(Function):
    @staticmethod
    def forward(ctx, input, weight, bias=None):
        print(type(input))
        ctx.save_for_backward(input, weight, bias)
        output = input.mm(weight.t())
        if bias is not None:
            output += bias.unsqueeze(0).expand_as(output)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input, weight, bias = ctx.saved_variables
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_input = grad_output.mm(weight)
        if ctx.needs_input_grad[1]:
            grad_weight = grad_output.t().mm(input)
        if bias is not None and ctx.needs_input_grad[2]:
            grad_bias = grad_output.sum(0).squeeze(0)
        return grad_input, grad_weight, grad_bias


class linearModule(torch.nn.Module):
    def __init__(self):
        super(linearModule, self).__init__()

    def forward(self, inputs, weights, bias=None):
        return LinearFunction.apply(inputs, weights, bias)


linear = LinearFunction.apply

from tape.autograd import gradcheck  # noqa: E402

inputs = torch.randn((4, 4), requires_grad=True, dtype=torch.float64)
weights = torch.randn((4, 4), requires_grad=True, dtype=torch.float64)
test = gradcheck(linearModule(), (inputs, weights), eps=1e-6, atol=1e-4)
print(test)  # 没问题的话输出True


class MulConstant(Function):
    @staticmethod
    def forward(ctx, tensor, constant):
        ctx.constant = constant
        return tensor * constant

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output * ctx.constant, None


x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
MulConstant.apply(x, 3.0).sum().backward()
print(x.grad)
print(gradcheck(lambda t: MulConstant.apply(t, 3.0), (inputs,)))
