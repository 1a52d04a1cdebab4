"""JAX peer: each workload's whole step (forward, backward, update) is one `jax.jit` function,
so this is a compiled-graph baseline rather than an eager one.  Arrays are float32 (JAX's
default), like every other peer."""
import jax
import jax.numpy as jnp
import numpy as np

from . import data


def builders(variant=None):
    return {"legendre": legendre, "twolayer": twolayer, "chain": chain,
            "sigmoid4m": sigmoid_sq, "elementwise": elementwise}


@jax.custom_vjp
def _p3(z):
    return 0.5 * (5 * z ** 3 - 3 * z)


def _p3_fwd(z):
    return _p3(z), z


def _p3_bwd(z, g):
    return (g * 1.5 * (5 * z ** 2 - 1),)


_p3.defvjp(_p3_fwd, _p3_bwd)


def _sgd(loss_fn, lr):
    @jax.jit
    def update(params, *args):
        loss, grads = jax.value_and_grad(loss_fn)(params, *args)
        return [p - lr * g for p, g in zip(params, grads)], loss, grads
    return update


def _record(out, loss, grads):
    if out is not None:
        out.update(loss=np.asarray(loss).copy() if np.ndim(loss) else float(loss),
                   grads=[np.asarray(g) for g in grads])


def legendre(n=2000):
    xd, yd = data.legendre(n)
    x, y = jnp.asarray(xd), jnp.asarray(yd)

    def loss_fn(params, x, y):
        a, b, c, d = params
        return ((a + b * _p3(c + d * x) - y) ** 2).sum()

    update = _sgd(loss_fn, data.LEGENDRE_LR)
    params = [jnp.float32(v) for v in data.LEGENDRE_INIT]

    def step(out=None):
        nonlocal params
        params, loss, grads = update(params, x, y)
        loss.block_until_ready()
        _record(out, loss, grads)
        return loss
    return step


def twolayer(N=64, D_in=1000, H=100, D_out=10):
    xd, yd, w1, w2 = data.twolayer(N, D_in, H, D_out)
    x, y = jnp.asarray(xd), jnp.asarray(yd)

    def loss_fn(params, x, y):
        w1, w2 = params
        return ((jnp.maximum(x @ w1, 0) @ w2 - y) ** 2).sum()

    update = _sgd(loss_fn, data.TWOLAYER_LR)
    params = [jnp.asarray(w1), jnp.asarray(w2)]

    def step(out=None):
        nonlocal params
        params, loss, grads = update(params, x, y)
        loss.block_until_ready()
        _record(out, loss, grads)
        return loss
    return step


def chain(n_ops=20, size=3):
    x = jnp.asarray(data.chain_x(size))
    table = {"mul_x": None, "add": lambda y: y + 0.5, "sin": jnp.sin, "tanh": jnp.tanh}
    names = data.chain_ops(n_ops)

    def f(x):
        y = x
        for name in names:
            y = y * x if name == "mul_x" else table[name](y)
        return y

    @jax.jit
    def fwd_bwd(x):
        y, vjp = jax.vjp(f, x)
        return y, vjp(jnp.ones_like(y))[0]

    def step(out=None):
        y, gx = fwd_bwd(x)
        gx.block_until_ready()
        _record(out, y, [gx])
        return y
    return step


def sigmoid_sq(n=4_000_000):
    x = jnp.asarray(data.sigmoid_x(n))
    wb = [jnp.float32(data.SIGMOID_W), jnp.float32(data.SIGMOID_B)]
    fn = jax.jit(jax.value_and_grad(lambda wb, x: (jax.nn.sigmoid(x * wb[0] + wb[1]) ** 2).sum()))

    def step(out=None):
        loss, grads = fn(wb, x)
        loss.block_until_ready()
        _record(out, loss, grads)
        return loss
    return step


def elementwise(n=1000):
    xd, yd = data.elementwise(n)
    x, y, g = jnp.asarray(xd), jnp.asarray(yd), jnp.ones(n, jnp.float32)

    @jax.jit
    def fwd_bwd(x, y, g):
        z, vjp = jax.vjp(lambda x, y: x * y, x, y)
        return (z,) + vjp(g)

    def step(out=None):
        z, gx, gy = fwd_bwd(x, y, g)
        gy.block_until_ready()
        _record(out, z, [gx, gy])
        return z
    return step
