"""One peer's measurements in this process: `python -m bench.worker MODE PEER [options]`.

The parent (`python -m bench`) starts one worker per peer (and fresh ones for memory and cold
start), so peers' imports, thread pools and allocators never share a process.  The worker
prints one line "BENCH-RESULT <json>" as its last line of stdout.
"""
import time

_T0 = time.perf_counter()   # cold start is timed from here: before any peer is imported

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402

from . import PEERS, builders, timing  # noqa: E402

SECTIONS = ("legendre", "twolayer", "chain", "sigmoid4m", "sweep_size", "sweep_length")

# Workload sizes and timing effort.  FULL is the spec; QUICK keeps the workloads but
# trims the sweeps and the repeats; TINY is for the smoke test (values, not times).
FULL = {
    "legendre": {"n": 2000},
    "twolayer": {"N": 64, "D_in": 1000, "H": 100, "D_out": 10},
    "chain": {"n_ops": 20, "size": 3},
    "sigmoid4m": {"n": 4_000_000},
    "sweep_size": [10 ** k for k in range(1, 8)],
    "sweep_length": [10, 100, 1000, 10000],
    "min_time": 0.1, "repeats": 7,
}
QUICK = dict(FULL, sweep_size=[10, 1000, 100_000], sweep_length=[10, 100, 1000],
             min_time=0.02, repeats=3)
TINY = {
    "legendre": {"n": 16},
    "twolayer": {"N": 4, "D_in": 8, "H": 5, "D_out": 3},
    "chain": {"n_ops": 8, "size": 3},
    "sigmoid4m": {"n": 32},
    "sweep_size": [10, 100],
    "sweep_length": [10, 20],
    "min_time": 0.0, "repeats": 1,
}

# JAX jit-compiles one program per chain length (a 10,000-op trace takes minutes to compile),
# so the length sweep, which is about an eager tape's per-op cost, leaves it out.
SKIP = {("jax", "sweep_length"): "skipped: jit compiles one program per length"}


def _error(exc):
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]


def run_timed(peer, sections=SECTIONS, config=FULL):
    """{section: {"s": seconds per step} | {"points": {size: s}} | {"error"|"absent": ...}}."""
    table = builders(peer)
    mt, reps = config["min_time"], config["repeats"]
    results = {}
    for section in sections:
        if (peer, section) in SKIP:
            results[section] = {"absent": SKIP[peer, section]}
            continue
        workload = {"sweep_size": "elementwise", "sweep_length": "chain"}.get(section, section)
        if workload not in table:
            results[section] = {"absent": "no such workload for this peer"}
            continue
        try:
            if section == "sweep_size":
                points = {n: timing.measure(table[workload](n=n), mt, reps)
                          for n in config[section]}
                res = {"points": points}
                if peer == "numpy":
                    from .by_hand import copy_bandwidth
                    res["copy_Bps"] = {n: copy_bandwidth(n, max(reps, 3))
                                       for n in config[section]}
            elif section == "sweep_length":
                res = {"points": {n: timing.measure(table[workload](n_ops=n, size=3), mt, reps)
                                  for n in config[section]}}
            else:
                res = {"s": timing.measure(table[workload](**config[section]), mt, reps)}
        except Exception as exc:  # a workload tape does not support yet must not stop the run
            res = {"error": _error(exc)}
            if "-v" in sys.argv:
                traceback.print_exc()
        results[section] = res
        gc.collect()
    return results


def tape_saved_bytes():
    """Bytes of ndarrays that live, unreleased records of this thread's tape still reference
    (outputs and saved inputs).  Reads tape's internals without changing them; another
    engineer may reshape those, hence the caller's try."""
    import numpy as np
    from tape.tape import STATE
    seen, total = set(), 0
    for ref in STATE.tape.records:
        rec = ref()
        if rec is None or getattr(rec, "released", False):
            continue
        if hasattr(rec, "externals"):   # a lane block: its buffer region, while rows need it
            from tape import lane
            total += lane.held_bytes(rec)
            continue
        outs = rec.out if isinstance(rec.out, tuple) else (rec.out,)
        saved = [getattr(i, "_data", None) for i in (rec.inputs or ())]
        for buf in list(outs) + saved:
            if isinstance(buf, np.ndarray) and id(buf) not in seen:
                seen.add(id(buf))
                total += buf.nbytes
    return total


def run_memory(peer, config=FULL):
    """Peak RSS over one forward+backward of the 4M case, and what is still held afterwards
    while the loss (and so any graph it keeps) is alive."""
    step = builders(peer)["sigmoid4m"](**config["sigmoid4m"])
    step()                     # kernels compiled, allocator warmed: measure the steady state
    gc.collect()
    exact = timing.reset_peak()
    base = timing.rss_bytes()
    loss = step()
    res = {"peak_over_base": timing.peak_bytes() - base, "peak_exact": exact,
           "held": timing.rss_bytes() - base}
    if peer == "tape":
        try:
            res["tape_saved"] = tape_saved_bytes()
        except Exception as exc:
            res["tape_saved_error"] = _error(exc)
    del loss
    return res


def run_cold(peer, workload, config=FULL):
    """Seconds from process start (after the interpreter) to the peer imported, and to the
    end of its first step of `workload`; TAPE_CACHE_DIR/NUMBA_CACHE_DIR come from the parent."""
    import importlib
    importlib.import_module({"tape": "tape", "numpy": "numpy", "numba": "numba",
                             "jax": "jax", "autograd": "autograd"}.get(peer, "torch"))
    t_import = time.perf_counter() - _T0
    res = {"import": t_import}
    try:
        table = builders(peer)
        if workload not in table:
            return dict(res, absent="no such workload for this peer")
        table[workload](**config[workload])()
        res["first_step"] = time.perf_counter() - _T0
    except Exception as exc:
        res["error"] = _error(exc)
    return res


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.worker")
    p.add_argument("mode", choices=("time", "memory", "cold"))
    p.add_argument("peer", choices=tuple(PEERS))
    p.add_argument("--sections", default=",".join(SECTIONS))
    p.add_argument("--workload", default="legendre")
    p.add_argument("--quick", action="store_true")
    p.add_argument("-v", action="store_true")
    args = p.parse_args(argv)
    config = QUICK if args.quick else FULL
    if args.mode == "time":
        out = run_timed(args.peer, args.sections.split(","), config)
    elif args.mode == "memory":
        out = run_memory(args.peer, config)
    else:
        out = run_cold(args.peer, args.workload, config)
    sys.stdout.flush()
    print("BENCH-RESULT " + json.dumps(out))


if __name__ == "__main__":
    main()
