"""Property-based tests: random compositions of ops over random broadcastable shapes.

Hypothesis draws two mutually broadcastable shapes (0-d and size-1 dims included) and an
expression tree over two inputs x and y built from elementwise ops, keepdim reductions (whose
results still broadcast against every other subtree) and a final reduction; the gradients are
compared with central finite differences in float64 (tests/helpers.check_grads).  The two
backward paths (fused numba VJP kernels without create_graph, recorded Tensor VJPs with it)
must agree.  Inputs and ops keep every value in a smooth, bounded region, so finite
differences are accurate.
"""
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tape
from helpers import check_grads

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)

# Each op: a name and a function of its operands' tape tensors.  Inputs lie in [-2, 2]; the
# forms keep results smooth there (log of 1 + a^2, division by 1 + b^2, exp of tanh).
UNARY = {
    "neg": lambda a: -a,
    "sin": lambda a: a.sin(),
    "cos": lambda a: tape.cos(a),
    "tanh": lambda a: a.tanh(),
    "sigmoid": lambda a: a.sigmoid(),
    "exp(tanh)": lambda a: a.tanh().exp(),
    "log(1+a^2)": lambda a: (1 + a * a).log(),
    "sqrt(1+a^2)": lambda a: (a ** 2 + 1).sqrt(),
    "a^3": lambda a: a ** 3,
    "2*a-1": lambda a: 2 * a - 1,
    "a/3": lambda a: a / 3.0,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (1 + b * b),
    "pow": lambda a, b: (1.5 + a.sigmoid()) ** b.tanh(),
    "where": lambda a, b: tape.where(a.sin() > 2, a, b),      # always b: a branch with no gradient
}


def _dim(t, d):
    return None if t.dim() == 0 else d % t.dim()


REDUCE = {
    "sum": lambda a, d: a.sum(_dim(a, d), keepdim=True) if a.dim() else a,
    "mean": lambda a, d: a.mean(_dim(a, d), keepdim=True) if a.dim() else a,
    "norm": lambda a, d: (a * a + 1).norm(dim=_dim(a, d), keepdim=True) if a.dim() else a,
}
FINAL = {
    "none": lambda a: a,
    "sum": lambda a: a.sum(),
    "mean": lambda a: a.mean(),
    "norm": lambda a: (a + 3).norm(),
}

leaves = st.sampled_from([("x",), ("y",)])
trees = st.recursive(
    leaves,
    lambda sub: st.one_of(
        st.tuples(st.just("unary"), st.sampled_from(sorted(UNARY)), sub),
        st.tuples(st.just("binary"), st.sampled_from(sorted(BINARY)), sub, sub),
        st.tuples(st.just("reduce"), st.sampled_from(sorted(REDUCE)), sub,
                  st.integers(0, 2))),
    max_leaves=8)


def evaluate(tree, x, y):
    kind = tree[0]
    if kind == "x":
        return x
    if kind == "y":
        return y
    if kind == "unary":
        return UNARY[tree[1]](evaluate(tree[2], x, y))
    if kind == "binary":
        return BINARY[tree[1]](evaluate(tree[2], x, y), evaluate(tree[3], x, y))
    return REDUCE[tree[1]](evaluate(tree[2], x, y), tree[3])


shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)


def values(shape, seed):
    return np.random.default_rng(seed).uniform(-2.0, 2.0, size=shape)


@settings(max_examples=150, **SETTINGS)
@given(tree=trees, final=st.sampled_from(sorted(FINAL)), shapes=shapes,
       seed=st.integers(0, 2 ** 16))
def test_random_compositions_match_finite_differences(tree, final, shapes, seed):
    xs, ys = shapes.input_shapes
    check_grads(lambda x, y: FINAL[final](evaluate(tree, x, y)), values(xs, seed),
                values(ys, seed + 1), rtol=1e-5, atol=1e-6)


@settings(max_examples=100, **SETTINGS)
@given(tree=trees, shapes=shapes, seed=st.integers(0, 2 ** 16))
def test_fused_and_recorded_backward_paths_agree(tree, shapes, seed):
    xs, ys = shapes.input_shapes
    grads = []
    for create_graph in (False, True):
        x = tape.tensor(values(xs, seed), requires_grad=True)
        y = tape.tensor(values(ys, seed + 1), requires_grad=True)
        out = evaluate(tree, x, y)
        w = tape.tensor(values(out.shape, seed + 2))
        grads.append(tape.autograd.grad((out * w).sum(), [x, y], allow_unused=True,
                                        create_graph=create_graph))
    for fused, recorded in zip(*grads):
        assert (fused is None) == (recorded is None)
        if fused is not None:
            np.testing.assert_allclose(fused.numpy(), recorded.detach().numpy(),
                                       rtol=1e-12, atol=1e-12)


@settings(max_examples=30, **SETTINGS)
@given(tree=trees, shapes=hnp.mutually_broadcastable_shapes(
    num_shapes=2, min_dims=0, max_dims=2, max_side=2), seed=st.integers(0, 2 ** 16))
def test_second_order_matches_finite_differences(tree, shapes, seed):
    xs, ys = shapes.input_shapes
    check_grads(lambda x, y: evaluate(tree, x, y), values(xs, seed), values(ys, seed + 1),
                order=2)


# matmul over every rank pairing it accepts, batch dims broadcast, composed with elementwise ops
@st.composite
def matmul_shapes(draw):
    n, k, m = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                   max_side=2)).input_shapes
    a_rank, b_rank = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    a = (k,) if a_rank == 1 else (batch[0] if a_rank == 3 else ()) + (n, k)
    b = (k,) if b_rank == 1 else (batch[1] if b_rank == 3 else ()) + (k, m)
    return a, b


@settings(max_examples=60, **SETTINGS)
@given(shapes=matmul_shapes(), before=st.sampled_from(sorted(UNARY)),
       after=st.sampled_from(sorted(UNARY)), seed=st.integers(0, 2 ** 16))
def test_matmul_compositions_match_finite_differences(shapes, before, after, seed):
    a_shape, b_shape = shapes

    def fn(a, b):
        return UNARY[after](UNARY[before](a) @ b)
    check_grads(fn, values(a_shape, seed), values(b_shape, seed + 1))


@settings(max_examples=20, **SETTINGS)
@given(n=st.integers(1, 4), k=st.integers(1, 4), m=st.integers(1, 4),
       seed=st.integers(0, 2 ** 16))
def test_mm_dot_and_reshape_views_match_finite_differences(n, k, m, seed):
    def fn(a, b, v):
        h = a.mm(b).tanh()                          # (n, m)
        flat = h.reshape(-1).view(n * m)            # views of views
        return flat.dot(v) * h.t().mean(0).sum() + h.transpose(0, 1).expand(2, m, n).sum()
    check_grads(fn, values((n, k), seed), values((k, m), seed + 1), values((n * m,), seed + 2))
