"""Seed 001, 3.1: MultiplyAdd with x requiring grad (so x.grad = w); uses the deprecated
ctx.saved_variables as the seed does.  The last line (print(w)) is added so that the test can
check x.grad == w."""
import tape as torch
from tape.autograd import Function


class MultiplyAdd(Function):
    @staticmethod
    def forward(ctx, w, x, b):
        ctx.save_for_backward(w, x)
        output = w * x + b
        return output

    @staticmethod
    def backward(ctx, grad_output):
        w, x = ctx.saved_variables
        print("=======================================")
        grad_w = grad_output * x
        grad_x = grad_output * w
        grad_b = grad_output * 1
        return grad_w, grad_x, grad_b


x = torch.ones(1, requires_grad=True)  # x 是1,所以grad_w=1
w = torch.rand(1, requires_grad=True)  # w 是随机的,所以grad_x=随机的一个数
b = torch.rand(1, requires_grad=True)  # grad_b 恒等于1
print('开始前向传播')
z = MultiplyAdd.apply(w, x, b)
print('开始反向传播')
z.backward()
print(x.grad, w.grad, b.grad)
print(w)
