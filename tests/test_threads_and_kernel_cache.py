"""Threads get exactly their serial gradients; the kernel cache is never stale, degrades safely."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import tape
from ops import codegen


def train(seed, steps=30):
    """A small fit: returns the final parameters (deterministic given the seed)."""
    rng = np.random.default_rng(seed)
    x = tape.tensor(rng.normal(size=(16, 3)))
    y = tape.tensor(rng.normal(size=(16,)))
    w = tape.tensor(rng.normal(size=(3,)), requires_grad=True)
    b = tape.tensor(0.0, dtype=tape.float64, requires_grad=True)
    for _ in range(steps):
        loss = ((x @ w + b - y) ** 2).mean()
        loss.backward()
        with tape.no_grad():
            w -= 0.1 * w.grad
            b -= 0.1 * b.grad
        w.grad.zero_()
        b.grad.zero_()
    return np.concatenate([w.detach().numpy(), [b.item()]])


def test_four_threads_get_exactly_the_serial_results():
    serial = [train(s) for s in range(4)]
    results = [None] * 4

    def worker(k):
        results[k] = train(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        np.testing.assert_array_equal(got, want)


def test_changed_kernel_source_gets_a_new_file():
    a = codegen.load_module("probe", codegen.kernel_source("k_", ["x"], "x + 1"))
    b = codegen.load_module("probe", codegen.kernel_source("k_", ["x"], "x + 2"))
    assert a.__file__ != b.__file__
    out = np.empty(2)
    codegen.jitted(a, "k_a")(np.array([1.0, 2.0]), out)
    np.testing.assert_array_equal(out, [2.0, 3.0])
    codegen.jitted(b, "k_a")(np.array([1.0, 2.0]), out)
    np.testing.assert_array_equal(out, [3.0, 4.0])


def test_generated_kernels_get_their_dispatcher_on_first_request():
    """A generated module holds plain marked functions; jitted() makes the dispatcher of the
    one asked for, once (also when threads ask together), and no other."""
    from numba.core.registry import CPUDispatcher
    m = codegen.load_module("lazy_probe", codegen.kernel_source("k_", ["x"], "x * 3"))
    assert not any(isinstance(v, CPUDispatcher) for k, v in vars(m).items() if k != "_pow")
    got = []
    threads = [threading.Thread(target=lambda: got.append(codegen.jitted(m, "k_a")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 4 and all(fn is got[0] for fn in got)
    assert isinstance(got[0], CPUDispatcher) and m.k_a is got[0]
    assert not isinstance(m.k_s, CPUDispatcher)
    out = np.empty(3)
    got[0](np.arange(3.0), out)
    np.testing.assert_array_equal(out, [0.0, 3.0, 6.0])


def test_unwritable_cache_directory_still_computes_with_one_warning(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    env = dict(os.environ, TAPE_CACHE_DIR=str(blocker / "kernels"))
    code = ("import warnings, tape\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always')\n"
            "    x = tape.tensor([1.0, 2.0], requires_grad=True)\n"
            "    (x.exp() * x).sum().backward()\n"
            "    (x.sin() * 2).sum().backward()\n"
            "print(x.grad.tolist(), sum('not writable' in str(m.message) for m in w))\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    grads, warnings_seen = out.stdout.rsplit(" ", 1)
    e = np.exp([1.0, 2.0])
    expected = e * np.array([1.0, 2.0]) + e + 2 * np.cos([1.0, 2.0])
    np.testing.assert_allclose(eval(grads), expected, rtol=1e-6)
    assert int(warnings_seen) == 1


def test_each_thread_records_on_its_own_tape_and_no_grad_stays_in_its_thread():
    from tape.tape import STATE
    main_tape = STATE.tape
    before = len(main_tape.records)
    seen = {}
    entered, release = threading.Event(), threading.Event()

    def worker():
        x = tape.ones(3, requires_grad=True)
        y = (x * 2).exp().mean()  # on this thread's tape: a lane block (*, exp), mean's record
        seen["own tape"] = STATE.tape is not main_tape
        seen["records"] = len(STATE.tape.records)
        with tape.no_grad():
            entered.set()
            release.wait(5)
            seen["worker no_grad"] = (x * 2).requires_grad
        y.backward()
        seen["grad"] = x.grad.numpy().tolist()

    t = threading.Thread(target=worker)
    t.start()
    entered.wait(5)
    x = tape.ones(2, requires_grad=True)
    seen["main while worker in no_grad"] = (x * 2).requires_grad   # 1 record on the main tape
    release.set()
    t.join()
    assert seen["own tape"] and seen["records"] == 2
    assert seen["worker no_grad"] is False and seen["main while worker in no_grad"] is True
    assert len(main_tape.records) == before + 1
    np.testing.assert_allclose(seen["grad"], [2 * np.exp(2.0) / 3] * 3, rtol=1e-6)


def test_a_tampered_kernel_file_is_rewritten_not_loaded(tmp_path, monkeypatch):
    monkeypatch.setattr(codegen, "_cache_dir", str(tmp_path))
    source = codegen.kernel_source("k_", ["x"], "x + 3.25")
    first = codegen.load_module("tamper", source)
    good = open(first.__file__).read()
    del sys.modules[first.__name__]              # as a new process would see it
    with open(first.__file__, "w") as f:         # same name, different kernel
        f.write(good.replace("x + 3.25", "x + 300.0"))
    second = codegen.load_module("tamper", source)
    out = np.empty(2)
    codegen.jitted(second, "k_a")(np.array([1.0, 2.0]), out)
    np.testing.assert_array_equal(out, [4.25, 5.25])
    assert open(second.__file__).read() == good


def test_numba_disk_cache_never_serves_a_changed_formula_across_processes(tmp_path):
    """A second process asks for the same kernel name with a new formula, then the old one:
    it computes the new formula, and the old one comes from numba's on-disk cache."""
    code = ("import sys, numpy as np\n"
            "from ops import codegen\n"
            "out = np.empty(1)\n"
            "for factor in sys.argv[1:]:\n"
            "    m = codegen.load_module('probe', codegen.kernel_source('k_', ['x'], "
            "f'x * {factor}'))\n"
            "    k = codegen.jitted(m, 'k_a')\n"
            "    k(np.array([1.0]), out)\n"
            "    print(out[0], sum(k.stats.cache_hits.values()))\n")
    env = dict(os.environ, TAPE_CACHE_DIR=str(tmp_path))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

    def run(*factors):
        out = subprocess.run([sys.executable, "-c", code, *factors], env=env, cwd=root,
                             capture_output=True, text=True, check=True)
        return [tuple(float(v) for v in line.split()) for line in out.stdout.splitlines()]

    assert run("2.0") == [(2.0, 0.0)]                       # compiled, written to the cache
    assert run("3.0", "2.0") == [(3.0, 0.0), (2.0, 1.0)]    # new formula compiled; old cached


def test_a_direct_kernel_call_is_bound_to_the_types_of_its_first_call():
    """first_call_then_direct: each call site gets the compiled function for its own argument
    types, so two sites sharing one kernel with float32 and float64 buffers both compute right
    (one direct function used for both would read float64 memory as float32)."""
    source = ("@njit(cache=True)\n"
              "def scaled_sum(values, factor):\n"
              "    total = 0.0\n"
              "    for v in values:\n"
              "        total += v * factor\n"
              "    return total\n")
    module = codegen.load_module("test_direct_call", source)
    sites = {}
    for dtype in (np.float32, np.float64, np.float32, np.float64):
        site = sites.get(dtype) or codegen.first_call_then_direct(
            module.scaled_sum, lambda direct, dtype=dtype: sites.__setitem__(dtype, direct))
        values = np.arange(1, 6, dtype=dtype) / 4
        assert site(values, 2) == pytest.approx(float(values.sum()) * 2, rel=1e-6)
    assert all(fn is not module.scaled_sum for fn in sites.values())   # both went direct
    assert sites[np.float32] is not sites[np.float64]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_direct_elementwise_kernel_converts_python_numbers_as_numpy_does(dtype):
    """The general path's native-float kernels are bound on their first call and later get
    Python numbers unconverted: whatever number comes first (here an int), every later one must
    round as numpy's dtype(number) does, bit for bit, including ints past 2**24 and 2**53."""
    from ops import OPS
    from ops.elementwise import ElementwiseKernels
    mul = OPS["mul"].kernels
    kernels = ElementwiseKernels(mul.stem, mul.specs)     # nothing bound yet
    x = np.linspace(-3, 3, 7).astype(dtype)
    for s in [3, 0.1, 16777217, 2 ** 62 + 1, 1 / 3, -7, 1e-45, 2 ** 53 + 1]:
        res = kernels.native("fwd_", "as", np.dtype(dtype), np.empty(7, dtype), (x, s))
        np.testing.assert_array_equal(res, x * dtype(s), err_msg=f"scalar {s!r}")
    key = "fwd_as_" + {np.float32: "f32", np.float64: "f64"}[dtype]
    assert kernels.direct[key] is not mul.function(key)   # the compiled entry, installed


def test_the_native_fast_path_reads_views_and_falls_back_for_everything_else():
    """Strided, transposed and 0-d operands, and operands the fast path must hand to the general
    rules (broadcasting, mixed dtypes, numpy scalars, ints), all match numpy."""
    base = np.arange(1, 25, dtype=np.float32).reshape(4, 6) / 7
    cases = [
        (base.T, base.T.copy()),                 # transposed: not contiguous
        (base[:, ::2], base[:, 1::2]),           # strided
        (base[0, 0], base[1, 1]),                # 0-d views
        (base, base[0]),                         # broadcast
        (base, base.astype(np.float64)),         # mixed dtypes
    ]
    for xd, yd in cases:
        x, y = tape.tensor(xd), tape.tensor(yd)
        np.testing.assert_allclose((x * y).numpy(), xd * yd, rtol=1e-6)
        np.testing.assert_allclose((x - 2).numpy(), xd - np.float32(2), rtol=1e-6)
        np.testing.assert_allclose((1.5 / x).numpy(), np.float32(1.5) / xd, rtol=1e-6)
        np.testing.assert_allclose(x.sin().numpy(), np.sin(xd), rtol=1e-6)
        np.testing.assert_array_equal((x > 0.5).numpy(), xd > 0.5)
    strided = tape.from_numpy(base[:, ::3])     # a view of the caller's memory, not a copy
    np.testing.assert_allclose((strided * np.float64(2)).numpy(), base[:, ::3] * 2, rtol=1e-6)
    ints = tape.tensor([1, 2, 3])
    np.testing.assert_array_equal((ints * 3).numpy(), [3, 6, 9])


@pytest.mark.parametrize("user_policy", [None, "ACTIVE"])
def test_the_parallel_pool_starts_with_sleeping_threads_unless_the_user_chose(user_policy):
    """numba's OpenMP threads are started with OMP_WAIT_POLICY=PASSIVE in the environment
    (spinning ones fought numpy's BLAS threads: the two-layer net took 15x longer), set only
    while the pool starts; a policy the user set is theirs and is left alone."""
    code = ("import os, numba\n"
            "seen = []\n"
            "start = numba.get_num_threads\n"
            "numba.get_num_threads = lambda: (seen.append(os.environ.get('OMP_WAIT_POLICY')),"
            " start())[1]\n"
            "import tape\n"
            "x = tape.ones(1 << 17)\n"
            "y = x.sigmoid()                        # a prange kernel: it starts the pool\n"
            "assert abs(y[5].item() - 0.7310586) < 1e-6\n"
            "z = x.exp()                            # started once\n"
            "print(seen, os.environ.get('OMP_WAIT_POLICY'), numba.threading_layer())\n")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if user_policy:
        env["OMP_WAIT_POLICY"] = user_policy
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=root,
                         capture_output=True, text=True, check=True).stdout.split()
    expected = [f"['{user_policy or 'PASSIVE'}']", str(user_policy), out[-1]]
    assert out == expected and out[-1] in ("omp", "tbb", "workqueue")
