"""Seed 000, item 3: z.backward() and y.backward(dz/dy) give the same x.grad."""
import tape as t

x = t.arange(0, 3).float()
x.requires_grad_()
y = x ** 2 + x * 2
z = y.sum()
z.backward()  # 从 z 开始反向传播
print(x.grad)  # tensor([2., 4., 6.])

x = t.arange(0, 3).float()
x.requires_grad_()
y = x ** 2 + x * 2
z = y.sum()
y_gradient = t.Tensor([1, 1, 1])  # dz/dy
y.backward(y_gradient)  # 从 y 开始反向传播
print(x.grad)  # tensor([2., 4., 6.])
