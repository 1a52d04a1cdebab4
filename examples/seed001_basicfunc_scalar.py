"""Seed 001, 2.1: a Function of two scalars, z = sqrt(x) + 1/x + 2 y^2; then (2.4) the same
backward seeded with gradient=2.5, which backward sees as grad_output."""
import tape as torch


class basicFunc(torch.autograd.Function):
    '''
    forward和backward可以定义成静态方法,向定义中那样,也可以定义成实例方法
    '''
    # 前向运算
    @staticmethod
    def forward(ctx, input_x, input_y):
        ctx.save_for_backward(input_x, input_y)
        output = torch.sqrt(input_x) + torch.reciprocal(input_x) + 2 * torch.pow(input_y, 2)
        return output

    @staticmethod
    def backward(ctx, grad_output):
        print("---------------------------------------------")
        print(f"grad_output is : {grad_output}")
        input_x, input_y = ctx.saved_tensors  # 获取前面保存的参数,也可以使用self.saved_variables
        if ctx.needs_input_grad[0]:
            grad_x = grad_output * (torch.reciprocal(2 * torch.sqrt(input_x)) - torch.reciprocal(torch.pow(input_x, 2)))
        if ctx.needs_input_grad[1]:
            grad_y = grad_output * (4 * input_y)
        return grad_x, grad_y  # 需要注意的是,反向传播得到的结果需要与输入的参数相匹配


def sqrt_and_inverse_func(input_x, input_y):
    return basicFunc.apply(input_x, input_y)


x = torch.tensor(3.0, requires_grad=True)  # 标量
y = torch.tensor(2.0, requires_grad=True)
print('开始前向传播')
z = sqrt_and_inverse_func(x, y)
print('开始反向传播')
z.backward()  # 这里是标量对标量求导
print(x.grad)
print(y.grad)

x = torch.tensor(3.0, requires_grad=True)
y = torch.tensor(2.0, requires_grad=True)
z = sqrt_and_inverse_func(x, y)
gradient = torch.tensor(2.5)
z.backward(gradient)  # 这里是标量对标量求导,注意这个参数一定要是一个tensor才行
print(x.grad)
print(y.grad)
