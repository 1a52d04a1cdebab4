"""Per-thread tapes give every thread its own exact gradients; the kernel cache degrades safely."""
import os
import subprocess
import sys
import threading

import numpy as np

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
    a.k_a(np.array([1.0, 2.0]), out)
    np.testing.assert_array_equal(out, [2.0, 3.0])
    b.k_a(np.array([1.0, 2.0]), out)
    np.testing.assert_array_equal(out, [3.0, 4.0])


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
