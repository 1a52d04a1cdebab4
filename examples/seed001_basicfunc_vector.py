"""Seed 001, 2.2: a Function from a vector to a scalar, z = sum(sqrt(x * x - 1))."""
import tape as torch


class basicFunc(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_x):  # input_x是一个tensor,不再是一个标量
        ctx.save_for_backward(input_x)
        output = torch.sum(torch.sqrt(torch.pow(input_x, 2) - 1))  # 函数z
        return output

    @staticmethod
    def backward(ctx, grad_output):
        input_x, = ctx.saved_tensors
        if ctx.needs_input_grad[0]:
            grad_x = grad_output * (torch.div(input_x, torch.sqrt(torch.pow(input_x, 2) - 1)))
        return grad_x


def sqrt_and_inverse_func(input_x):
    return basicFunc.apply(input_x)  # 对象调用


x = torch.tensor([2.0, 3.0, 4.0], requires_grad=True)  # tensor
print('开始前向传播')
z = sqrt_and_inverse_func(x)
print('开始反向传播')
z.backward()
print(x.grad)
