"""Seed 000, item 2: the gradient of a non-leaf with autograd.grad."""
import tape as t

# 第一种方法:使用 grad 获取中间变量的梯度
x = t.ones(3, requires_grad=True)
w = t.rand(3, requires_grad=True)
y = w * x
z = y.sum()
# z 对 y 的梯度,隐式调用 backward()
print(t.autograd.grad(z, y))  # (tensor([1., 1., 1.]),)
