"""Seed 000, item 4: a custom Function w * x + b."""
import tape as t
from tape.autograd import Function


class MultiplyAdd(Function):

    @staticmethod
    def forward(ctx, w, x, b):
        ctx.save_for_backward(w, x)
        output = w * x + b
        return output

    @staticmethod
    def backward(ctx, grad_output):
        w, x = ctx.saved_tensors
        grad_w = grad_output * x
        grad_x = grad_output * w
        grad_b = grad_output * 1
        return grad_w, grad_x, grad_b


x = t.ones(1)
w = t.rand(1, requires_grad=True)
b = t.rand(1, requires_grad=True)

# 开始前向传播
z = MultiplyAdd.apply(w, x, b)
# 开始反向传播
z.backward()
# x 不需要求导,中间过程还是会计算它的导数,但随后被清空
print(x.grad, w.grad, b.grad)  # (None, tensor([1.]), tensor([1.]))
