"""Seed 003: the autograd notebook's cells In[2]..In[15], in order."""
import tape as torch

# In[2]
x = torch.ones(2, 2, requires_grad=True)
print(x)
print(x.grad_fn)
# In[3]
y = x + 2
print(y)
print(y.grad_fn)
# In[4]
print(x.is_leaf, y.is_leaf)
# In[5]
z = y * y * 3
out = z.mean()
print(z, out)
# In[6]
a = torch.randn(2, 2)
a = ((a * 3) / (a - 1))
print(a.requires_grad)
a.requires_grad_(True)
print(a.requires_grad)
b = (a * a).sum()
print(b.grad_fn)
# In[7]
out.backward()
# In[8]
print(x.grad)
# In[9]
print(x)
out2 = x.sum()
print(out2)
out2.backward()
print(x.grad)
# In[10]
out3 = x.sum()
x.grad.data.zero_()
out3.backward()
print(x.grad)
# In[11]
x = torch.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
y = 2 * x
z = y.view(2, 2)
print(z)
# In[12]
v = torch.tensor([[1.0, 0.1], [0.01, 0.001]], dtype=torch.float)
z.backward(v)
print(x.grad)
# In[13]
x = torch.tensor(1.0, requires_grad=True)
y1 = x ** 2
with torch.no_grad():
    y2 = x ** 3
y3 = y1 + y2
print(x.requires_grad)
print(y1, y1.requires_grad)
print(y2, y2.requires_grad)
print(y3, y3.requires_grad)
# In[14]
y3.backward()
print(x.grad)
# In[15]
x = torch.ones(1, requires_grad=True)
print('x', x)
print(x.data)
print('x', x)
print(x.data.requires_grad)
print('-' * 10)
y = 2 * x
print('x', x)
x.data *= 100
print('x', x)
print('x.data', x.data)
print('-' * 10)
y.backward()
print(x)
print(x.grad)
