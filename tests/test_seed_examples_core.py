"""The seed tutorials' snippets (examples/seed00[234]_*.py) print what the seeds show.

The expected text is the seeds' output as PyTorch 2.13 prints it (the seeds predate the "0"
suffix of node names: seed 003 shows <ViewBackward>), with dtypes named tape.* instead of
torch.* and object addresses masked.  Cells that print random values (seed 003 In[6], the
control-flow cell of seed 004) print only values that must hold whatever the draw.
"""
import contextlib
import io
import os
import re
import runpy

import pytest

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")

EXPECTED = {
    "seed002_accumulation.py": """\
x.grad: tensor([ 4., 12.], dtype=tape.float64)
x.grad: tensor([ 8., 24.], dtype=tape.float64)
x.grad: tensor([12., 36.], dtype=tape.float64)
""",
    "seed002_zero_grad.py": """\
x.grad: tensor([ 4., 12.], dtype=tape.float64)
x.grad: tensor([ 4., 12.], dtype=tape.float64)
x.grad: tensor([ 4., 12.], dtype=tape.float64)
""",
    "seed002_retain_graph.py": """\
""",
    "seed003_autograd_notebook.py": """\
tensor([[1., 1.],
        [1., 1.]], requires_grad=True)
None
tensor([[3., 3.],
        [3., 3.]], grad_fn=<AddBackward0>)
<AddBackward0 object at 0x...>
True False
tensor([[27., 27.],
        [27., 27.]], grad_fn=<MulBackward0>) tensor(27., grad_fn=<MeanBackward0>)
False
True
<SumBackward0 object at 0x...>
tensor([[4.5000, 4.5000],
        [4.5000, 4.5000]])
tensor([[1., 1.],
        [1., 1.]], requires_grad=True)
tensor(4., grad_fn=<SumBackward0>)
tensor([[5.5000, 5.5000],
        [5.5000, 5.5000]])
tensor([[1., 1.],
        [1., 1.]])
tensor([[2., 4.],
        [6., 8.]], grad_fn=<ViewBackward0>)
tensor([2.0000, 0.2000, 0.0200, 0.0020])
True
tensor(1., grad_fn=<PowBackward0>) True
tensor(1.) False
tensor(2., grad_fn=<AddBackward0>) True
tensor(2.)
x tensor([1.], requires_grad=True)
tensor([1.])
x tensor([1.], requires_grad=True)
False
----------
x tensor([1.], requires_grad=True)
x tensor([100.], requires_grad=True)
x.data tensor([100.])
----------
tensor([100.], requires_grad=True)
tensor([2.])
""",
    "seed004_d2l_autograd.py": """\
tensor([0., 1., 2., 3.])
None
tensor(28., grad_fn=<MulBackward0>)
tensor([ 0.,  4.,  8., 12.])
tensor([True, True, True, True])
tensor([1., 1., 1., 1.])
tensor([0., 2., 4., 6.])
tensor([True, True, True, True])
tensor([True, True, True, True])
tensor(True)
""",
}


def run_example(name):
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        runpy.run_path(os.path.join(EXAMPLES, name), run_name="__main__")
    return re.sub(r"0x[0-9a-f]+", "0x...", buffer.getvalue())


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_prints_what_the_seed_shows(name):
    assert run_example(name) == EXPECTED[name]


def test_second_backward_without_retain_graph_raises_pytorchs_error():
    with pytest.raises(RuntimeError, match=r"Trying to backward through the graph a second time"
                       r".*Specify retain_graph=True"):
        run_example("seed002_backward_twice_error.py")
