"""Seed 002, snippet 3: gradients accumulate over repeated backward."""
import tape as torch
x = torch.tensor([1,2],dtype=(float),requires_grad=True)   # 定义参数x
A = torch.tensor([2,3],dtype=(float))                      # 常量A,不需梯度
y = A@(x*x)                                                # 定义y
y.backward(retain_graph=True)                              # 向后传播,并保留计算图
print('x.grad:',x.grad)                                    # 打印x的梯度
#-----多次传播------------------------
y.backward(retain_graph=True)                              # 再次向后传播
print('x.grad:',x.grad)                                    # 打印x的梯度
y.backward(retain_graph=True)                              # 再再次向后传播
print('x.grad:',x.grad)                                    # 打印x的梯度
