"""Seed 000, first snippet: .data vs detach() and the version counter (runs as `import tape as t`).

Writing through `.data` is invisible to autograd; writing through `detach()` shares the version
counter, so the later backward raises instead of returning a wrong gradient.
"""
import tape as t

a = t.ones(3, 4, requires_grad=True)
b = t.ones(3, 4, requires_grad=True)
c = a * b

print(a.data)  # the same tensor

print(a.data.requires_grad)  # but outside the graph

d = a.data.sigmoid_()  # sigmoid_ is in place: it changes a's values
print(a)
print(d.requires_grad)

print(a.requires_grad)

# Like tensor = a.data, but if tensor is modified, backward may raise
tensor = a.detach()
print(tensor.requires_grad)

# statistics we do not want recorded
mean = tensor.mean()
std = tensor.std()
maximum = tensor.max()
print(mean, std, maximum)

tensor[0] = 1
print(a)
# c = a * b saved a for b's gradient; a was modified through tensor, so backward raises
try:
    c.sum().backward()
except RuntimeError as exc:
    print("RuntimeError:", exc)
