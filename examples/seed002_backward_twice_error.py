"""Seed 002, snippet 1: a second backward without retain_graph raises."""
import tape as torch
x = torch.tensor([1,2],dtype=(float),requires_grad=True)   # 定义参数x
A = torch.tensor([2,3],dtype=(float))                      # 常量A,不需梯度
y = A@(x*x)                                                # 定义y
y.backward()                                               # 向后传播,更新梯度
#-----再次传播------------------------
y.backward()                                               # 再次向后传播,会报错
