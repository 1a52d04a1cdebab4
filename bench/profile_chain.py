"""Where tape's time goes on the 20-op chain: `python -m bench.profile_chain [--ops 20]`.

Splits forward+backward by subtraction of timed variants (no profiler overhead), then prints
cProfile's top functions of the backward and the forward.  Reads ops' internals (kernel
dispatchers) without changing them; if those move, the affected line says so.
"""
import argparse
import cProfile
import io
import pstats

import numpy as np

import tape
from ops import OPS

from . import data
from .api import chain
from .timing import measure


def _njit_calls(x, names):
    """The 20 forward kernels called straight through their numba dispatchers."""
    calls = []
    for name in names:
        op = OPS[{"mul_x": "mul"}.get(name, name)]
        args = {"mul_x": (x, x), "add": (x, np.float32(0.5))}.get(name, (x,))
        pattern = "".join("a" if isinstance(a, np.ndarray) else "s" for a in args)
        calls.append((op.kernels.function("fwd_" + pattern), args + (np.empty_like(x),)))
    return lambda: [f(*a) for f, a in calls]


def breakdown(n_ops=20, size=3, min_time=0.2, repeats=9):
    x = tape.from_numpy(data.chain_x(size)).requires_grad_()
    names = data.chain_ops(n_ops)
    table = {"mul_x": lambda y: y * x, "add": lambda y: y + 0.5,
             "sin": lambda y: y.sin(), "tanh": lambda y: y.tanh()}
    fns = [table[n] for n in names]

    def forward():
        y = x
        for f in fns:
            y = f(y)
        return y

    def forward_nograd():
        with tape.no_grad():
            return forward()

    xd = x._data
    launches = [(OPS[{"mul_x": "mul"}.get(n, n)].forward,
                 {"mul_x": (xd, xd), "add": (xd, 0.5)}.get(n, (xd,))) for n in names]

    def launch():
        for f, a in launches:
            f(*a)

    t = {"total": measure(chain(tape, n_ops=n_ops, size=size), min_time, repeats),
         "fwd": measure(forward, min_time, repeats),
         "fwd_nograd": measure(forward_nograd, min_time, repeats),
         "launch": measure(launch, min_time, repeats)}
    try:
        t["njit"] = measure(_njit_calls(data.chain_x(size), names), min_time, repeats)
    except Exception as exc:   # ops' kernel layout changed
        t["njit_error"] = f"{type(exc).__name__}: {exc}"
    return t


def profile(fn, n, sort="tottime", top=18):
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(n):
        fn()
    pr.disable()
    s = io.StringIO()
    pstats.Stats(pr, stream=s).sort_stats(sort).print_stats(top)
    return s.getvalue()


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.profile_chain")
    p.add_argument("--ops", type=int, default=20)
    p.add_argument("--iterations", type=int, default=2000)
    args = p.parse_args(argv)
    n = args.ops
    t = breakdown(n)
    per = {k: v * 1e6 / n for k, v in t.items() if isinstance(v, float)}
    print(f"tape, chain of {n} elementwise ops on 3 elements, µs per op (median of repeats):")
    print(f"  forward+backward, total                {per['total']:7.2f}")
    print(f"  forward with grad                      {per['fwd']:7.2f}")
    print(f"    record creation (grad - no_grad)     {per['fwd'] - per['fwd_nograd']:7.2f}")
    print(f"    Tensor op path (no_grad - launch)    {per['fwd_nograd'] - per['launch']:7.2f}")
    if "njit" in per:
        print(f"    op.forward Python (launch - njit)    {per['launch'] - per['njit']:7.2f}")
        print(f"    numba dispatch + kernel              {per['njit']:7.2f}")
    else:
        print(f"    op.forward incl. kernel              {per['launch']:7.2f}  ({t['njit_error']})")
    print(f"  backward (total - forward), per record {per['total'] - per['fwd']:7.2f}")

    step = chain(tape, n_ops=n, size=3)
    print("\ncProfile of forward+backward, by own time "
          f"({args.iterations} iterations; the profiler inflates every call):")
    print(profile(step, args.iterations))


if __name__ == "__main__":
    main()
