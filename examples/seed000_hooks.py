"""Seed 000, item 2: the gradient of a non-leaf with a hook (then the hook is removed)."""
import tape as t


# 第二种方法:使用 hook
# hook 是一个函数,输入是梯度,无返回值
def variable_hook(grad):
    print('y 的梯度:', grad)


x = t.ones(3, requires_grad=True)
w = t.rand(3, requires_grad=True)
y = w * x
# 注册 hook
hook_handle = y.register_hook(variable_hook)
z = y.sum()
z.backward()

# 除非你每次都要用 hook,否则用完之后记得移除 hook
hook_handle.remove()
