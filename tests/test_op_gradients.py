"""The op table's gradients: every differentiable op, over its valid domain and many shapes,
against float64 finite differences (order 2 where twice differentiable) and float32 vs float64."""
import numpy as np
import pytest

import tape
from helpers import check_float32, check_grads


# ---- input domains: values where the op is smooth, so finite differences are meaningful ----
def real(shape, rng):
    return rng.uniform(-2, 2, shape)


def positive(shape, rng):
    return rng.uniform(0.5, 2, shape)


def unit(shape, rng):
    return rng.uniform(-0.8, 0.8, shape)


def away_from_zero(shape, rng):
    """|x| in [0.3, 2]: clear of the kinks of abs, relu, sign, clamp(-0.2, 0.2), ..."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.3, 2, shape)


def distinct(shape, rng):
    """A permutation of well-separated values: max/min/sort have no ties."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.37 - n * 0.15).reshape(shape)


def distinct_shifted(shape, rng):
    """distinct() values moved off the grid of distinct(): no ties between two inputs."""
    return distinct(shape, rng) + 0.11


def off_integer(shape, rng):
    return rng.integers(-3, 3, shape) + rng.uniform(0.2, 0.8, shape)


UNARY_SHAPES = [(), (4,), (2, 3), (0,)]
BINARY_SHAPES = [((), ()), ((4,), (4,)), ((2, 3), (3,)), ((1, 3), (2, 1)), ((2, 3), ()),
                 ((0,), (0,))]
REDUCE_SHAPES = [(3,), (2, 3, 4)]


class Case:
    def __init__(self, name, fn, shapes, domains, order=2, float32=True):
        self.name, self.fn, self.shapes, self.domains = name, fn, shapes, domains
        self.order, self.float32 = order, float32


def unary(name, fn, domain=real, order=2, shapes=UNARY_SHAPES):
    return Case(name, fn, [(s,) for s in shapes], (domain,), order)


def binary(name, fn, d0=real, d1=real, order=2, shapes=BINARY_SHAPES):
    return Case(name, fn, shapes, (d0, d1), order)


def reduction(name, fn, domain=real, order=2, shapes=REDUCE_SHAPES):
    """fn(x, dim, keepdim); expanded over whole-tensor, int, negative and tuple dims."""
    cases = []
    for shape in shapes:
        dims = [None, 0, -1] + ([(0, 2), (-1, 1)] if len(shape) == 3 else [])
        for dim in dims:
            for keepdim in (False, True):
                cases.append(Case(f"{name}[dim={dim},keepdim={keepdim}]",
                                  lambda x, d=dim, k=keepdim: fn(x, d, k), [(shape,)],
                                  (domain,), order))
    return cases


T = tape
TABLE = [
    # core elementwise
    binary("add", lambda x, y: x + y),
    binary("sub", lambda x, y: x - y),
    binary("mul", lambda x, y: x * y),
    binary("div", lambda x, y: x / y, real, positive),
    binary("pow_tensor", lambda x, y: x ** y, positive, real),
    unary("pow_scalar", lambda x: x ** 3),
    unary("rpow", lambda x: 2 ** x),
    unary("neg", lambda x: -x),
    unary("exp", T.exp),
    unary("log", T.log, positive),
    unary("sqrt", T.sqrt, positive),
    unary("sin", T.sin),
    unary("cos", T.cos),
    unary("tanh", T.tanh),
    unary("sigmoid", T.sigmoid),
    unary("relu", T.relu, away_from_zero),
    # issue 3 elementwise
    unary("abs", T.abs, away_from_zero),
    unary("clamp", lambda x: x.clamp(-0.2, 0.2), away_from_zero),
    unary("clamp_min", lambda x: T.clamp_min(x, 0.2), away_from_zero),
    unary("clamp_max", lambda x: T.clamp(x, max=-0.2), away_from_zero),
    binary("clamp_tensor", lambda x, lo: x.clamp(min=lo - 1), away_from_zero, unit),
    binary("maximum", T.maximum, distinct, distinct_shifted,
           shapes=[((4,), (4,)), ((2, 3), (3,)), ((1, 3), (2, 1))]),
    binary("minimum", T.minimum, distinct, distinct_shifted,
           shapes=[((4,), (4,)), ((2, 3), (3,)), ((1, 3), (2, 1))]),
    Case("where", lambda x, y: T.where(x > 0, x, y), BINARY_SHAPES, (away_from_zero, real)),
    unary("reciprocal", T.reciprocal, positive),
    unary("rsqrt", T.rsqrt, positive),
    unary("log1p", T.log1p, positive),
    unary("expm1", T.expm1),
    unary("sinh", T.sinh),
    unary("cosh", T.cosh),
    unary("asin", T.asin, unit),
    unary("acos", T.acos, unit),
    unary("atan", T.atan),
    unary("sign", T.sign, away_from_zero),
    unary("floor", T.floor, off_integer),
    unary("ceil", T.ceil, off_integer),
    unary("round", T.round, off_integer),
    # reductions
    *reduction("sum", lambda x, d, k: x.sum(d, keepdim=k)),
    *reduction("mean", lambda x, d, k: x.mean(d, keepdim=k)),
    *reduction("var", lambda x, d, k: x.var(d, keepdim=k)),
    *reduction("var_biased", lambda x, d, k: x.var(d, unbiased=False, keepdim=k)),
    *reduction("std", lambda x, d, k: x.std(d, keepdim=k, correction=0)),
    *reduction("amax", lambda x, d, k: x.amax(() if d is None else d, keepdim=k), distinct),
    *reduction("amin", lambda x, d, k: x.amin(() if d is None else d, keepdim=k), distinct),
    *reduction("prod", lambda x, d, k: x.prod(), real, shapes=[(3,)])[:1],
    *reduction("prod_dim", lambda x, d, k: x.prod(0 if d is None else d, keepdim=k)),
    *reduction("norm", lambda x, d, k: x.norm(dim=d, keepdim=k), away_from_zero),
    *reduction("norm_p1", lambda x, d, k: x.norm(1, dim=d, keepdim=k), away_from_zero),
    *reduction("norm_p3", lambda x, d, k: x.norm(3, dim=d, keepdim=k), away_from_zero),
    *reduction("logsumexp", lambda x, d, k: x.logsumexp(0 if d is None else d, keepdim=k)),
    unary("max_all", lambda x: x.max(), distinct, shapes=[(4,), (2, 3)]),
    unary("min_all", lambda x: T.min(x), distinct, shapes=[(4,), (2, 3)]),
    unary("max_dim", lambda x: x.max(1).values, distinct, shapes=[(2, 3), (2, 3, 4)]),
    unary("max_dim_keep", lambda x: T.max(x, -1, keepdim=True)[0], distinct,
          shapes=[(4,), (2, 3)]),
    unary("min_dim", lambda x: x.min(dim=0).values, distinct, shapes=[(2, 3), (4,)]),
    unary("softmax", lambda x: T.softmax(x, -1), real, shapes=[(4,), (2, 3)]),
    unary("softmax0", lambda x: x.softmax(0), real, shapes=[(2, 3, 4)]),
    unary("log_softmax", lambda x: T.log_softmax(x, 1), real, shapes=[(2, 3), (2, 3, 4)]),
    # linear algebra
    Case("dot", T.dot, [((4,), (4,))], (real, real)),
    Case("mm", T.mm, [((2, 3), (3, 4))], (real, real)),
    Case("matmul", T.matmul,
         [((2, 3), (3, 4)), ((3,), (3, 2)), ((2, 3), (3,)), ((3,), (3,)),
          ((2, 2, 3), (3, 4)), ((2, 1, 2, 3), (3, 3, 2)), ((2, 3), (2, 3, 1))], (real, real)),
    Case("mv", T.mv, [((2, 3), (3,))], (real, real)),
    Case("outer", T.outer, [((3,), (2,))], (real, real)),
    # shape
    unary("view", lambda x: x.view(-1), real, shapes=[(2, 3), (), (0,)]),
    unary("reshape", lambda x: x.reshape(3, -1), real, shapes=[(2, 3), (6,)]),
    unary("t", lambda x: x.t(), real, shapes=[(2, 3), (3,)]),
    unary("transpose", lambda x: x.transpose(0, -1), real, shapes=[(2, 3, 4)]),
    unary("permute", lambda x: x.permute(2, 0, 1), real, shapes=[(2, 3, 4)]),
    unary("unsqueeze", lambda x: x.unsqueeze(-1) * T.ones(1, 2, dtype=x.dtype), real,
          shapes=[(), (3,), (2, 3)]),
    unary("squeeze", lambda x: x.squeeze(), real, shapes=[(1, 3, 1), (2,)]),
    unary("squeeze_dim", lambda x: x.squeeze(0), real, shapes=[(1, 3), (2, 3)]),
    unary("expand", lambda x: x.expand(2, -1, 3), real, shapes=[(1, 1), (4, 3)]),
    unary("expand_as", lambda x: x.expand_as(T.ones(4, 2, 3)), real, shapes=[(3,), (2, 1)]),
    unary("flatten", lambda x: x.flatten(1), real, shapes=[(2, 3, 4)]),
    unary("contiguous", lambda x: x.t().contiguous() * 1, real, shapes=[(2, 3)]),
    Case("cat", lambda x, y: T.cat([x, y, x], 1), [((2, 3), (2, 1)), ((2, 0), (2, 2))],
         (real, real)),
    Case("cat_empty_1d", lambda x, y: T.cat([x, y]), [((3, 2), (0,))], (real, real)),
    Case("stack", lambda x, y: T.stack([x, y], -1), [((2, 3), (2, 3)), ((), ())], (real, real)),
    unary("split", lambda x: x.split([1, 2], 1)[1] * x.split(1, 0)[0][:, :2], real, shapes=[(2, 3)]),
    unary("chunk", lambda x: x.chunk(2)[1] * 2, real, shapes=[(5,), (4, 3)]),
    # indexing (duplicates accumulate)
    unary("index_int", lambda x: x[1], real, shapes=[(3,), (3, 2)]),
    unary("index_slices", lambda x: x[::2, 1:], real, shapes=[(5, 3)]),
    unary("index_negative", lambda x: x[-1, ..., -2:], real, shapes=[(2, 3, 4)]),
    unary("index_none", lambda x: x[None, :, None], real, shapes=[(3,)]),
    unary("index_mask", lambda x: x[x > 0], away_from_zero, shapes=[(5,), (2, 3)]),
    unary("index_list_dup", lambda x: x[[0, 2, 0, 0]], real, shapes=[(3,), (3, 2)]),
    unary("index_tensor_dup", lambda x: x[T.tensor([[1, 1], [0, 1]])], real, shapes=[(2, 3)]),
    unary("index_mixed", lambda x: x[1:, [0, 0, 2]], real, shapes=[(3, 4)]),
]


def _expand():
    params = []
    for case in TABLE:
        for shapes in case.shapes:
            params.append(pytest.param(case, shapes, id=f"{case.name}-{shapes}"))
    return params


def _arrays(case, shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [d(s, rng) for d, s in zip(case.domains, shapes)]


@pytest.mark.parametrize("case,shapes", _expand())
def test_gradient(case, shapes):
    check_grads(case.fn, *_arrays(case, shapes), order=case.order)


@pytest.mark.parametrize("case,shapes", _expand())
def test_float32(case, shapes):
    check_float32(case.fn, *_arrays(case, shapes))


# ---- subgradients at kinks and ties: the numbers PyTorch 2 gives ------------------------
KINKS = [
    ("relu", lambda x: x.relu(), [0., 1., 2.], [0., 1., 1.]),
    ("abs", lambda x: x.abs(), [0., 1., -2.], [0., 1., -1.]),
    ("clamp", lambda x: x.clamp(0., 2.), [0., 1., 2.], [1., 1., 1.]),
    ("clamp_min", lambda x: x.clamp_min(1.), [0., 1., 2.], [0., 1., 1.]),
    ("maximum", lambda x: T.maximum(x, T.tensor([0., 1., 3.], dtype=x.dtype)), [0., 1., 2.],
     [.5, .5, 0.]),
    ("minimum", lambda x: T.minimum(x, T.tensor([0., 1., 3.], dtype=x.dtype)), [0., 1., 2.],
     [.5, .5, 1.]),
    ("max_all_ties", lambda x: x.max(), [3., 1., 3.], [.5, 0., .5]),
    ("amax_ties", lambda x: x.amax(0), [[3., 1.], [3., 2.]], [[.5, 0.], [.5, 1.]]),
    ("max_dim_ties", lambda x: x.max(1).values, [[1., 3., 3.]], [[0., 1., 0.]]),
    ("min_dim_ties", lambda x: x.min(0)[0], [1., 1.], [1., 0.]),
    ("prod_one_zero", lambda x: x.prod(), [0., 2., 3.], [6., 0., 0.]),
    ("prod_two_zeros", lambda x: x.prod(), [0., 2., 0.], [0., 0., 0.]),
    ("norm_at_zero", lambda x: x.norm(), [0., 0.], [0., 0.]),
    ("sign", lambda x: x.sign(), [0., 1.], [0., 0.]),
]


@pytest.mark.parametrize("name,fn,x,expected", KINKS, ids=[k[0] for k in KINKS])
def test_subgradient_conventions(name, fn, x, expected):
    for dtype in (T.float32, T.float64):
        leaf = T.tensor(x, dtype=dtype, requires_grad=True)
        fn(leaf).sum().backward()
        np.testing.assert_array_equal(leaf.grad.numpy(), np.array(expected))


def test_prod_with_a_zero_is_twice_differentiable():
    check_grads(lambda x: x.prod(1), np.array([[0., 2., 3.], [1., 0., 0.], [1., 2., 3.],
                                               [0., 0., 0.]]),
                order=2)
