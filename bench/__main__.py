"""`python -m bench`: run every peer in its own process and print markdown tables of times
and tape/peer ratios (see README "Benchmarks"; `--help` for the flags)."""
import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from . import PEER_LABELS, PEERS
from .worker import SECTIONS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ALL_SECTIONS = SECTIONS + ("memory", "cold")
COLD_WORKLOADS = ("legendre", "chain")

ROWS = (  # (section, label, unit, scale from seconds)
    ("legendre", "Legendre fit, one SGD step (2,000 points, custom Function P3)", "µs", 1e6),
    ("twolayer", "two-layer net, one SGD step (64×1000→100→10, float32)", "µs", 1e6),
    ("chain", "chain of 20 elementwise ops on 3 elements, forward+backward", "µs", 1e6),
    ("sigmoid4m", "sum(sigmoid(x*w+b)**2), 4M elements, forward+backward", "ms", 1e3),
)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def missing_module(peer):
    """The module a peer needs that is not installed, or None."""
    need = PEERS[peer][2]
    return None if importlib.util.find_spec(need) is not None else need


def run_worker(args, env=None, timeout=3600):
    """Run `python -m bench.worker ARGS` from this checkout; its BENCH-RESULT, or an error."""
    full_env = dict(os.environ, **(env or {}))
    # The checkout first on the path, so workers import this tree's tape, not an installed one.
    full_env["PYTHONPATH"] = ROOT + os.pathsep + full_env.get("PYTHONPATH", "")
    try:
        proc = subprocess.run([sys.executable, "-m", "bench.worker"] + args, cwd=ROOT,
                              env=full_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH-RESULT "):
            return json.loads(line[len("BENCH-RESULT "):])
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"worker exited {proc.returncode}: {tail[:200]}"}


def run_cold(peer, workload, quick, extra_env=None):
    """Empty cache: a fresh TAPE_CACHE_DIR/NUMBA_CACHE_DIR per run.  Warm: one run fills a
    directory, then the median of the runs that reuse it."""
    runs = {}
    base = tempfile.mkdtemp(prefix="tape-bench-cache-")
    try:
        empty = os.path.join(base, "empty")
        warm = os.path.join(base, "warm")
        env = lambda d: dict(extra_env or {}, TAPE_CACHE_DIR=d, NUMBA_CACHE_DIR=d)  # noqa: E731
        runs["empty"] = run_worker(["cold", peer, "--workload", workload], env(empty))
        run_worker(["cold", peer, "--workload", workload], env(warm))
        warm_runs = [run_worker(["cold", peer, "--workload", workload], env(warm))
                     for _ in range(1 if quick else 3)]
        ok = [r for r in warm_runs if "error" not in r and "absent" not in r]
        if ok:
            runs["warm"] = {k: statistics.median(r[k] for r in ok)
                            for k in ("import", "first_step")}
        else:
            runs["warm"] = warm_runs[0]
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return runs


BLAS_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def collect(peers, sections, quick, blas_threads=1):
    """Section by section, each peer in a fresh worker: the peers of one row are measured
    within seconds of each other, so a burst of other jobs on the machine skews a row's
    ratios less than if each peer ran all its sections in one go (at ~1 s of imports per
    worker)."""
    results = {"peers": {}, "missing": {}, "blas_threads": blas_threads}
    envs = {}
    for peer in peers:
        need = missing_module(peer)
        if need:
            results["missing"][peer] = f"not installed (no module {need!r})"
            log(f"{peer}: not installed")
            continue
        results["peers"][peer] = {}
        # numpy's OpenBLAS spins a thread per core; on a shared 2-core box those threads fight
        # other jobs and a 64x1000 matmul step swings from 0.7 ms to 40 ms.  So BLAS is pinned
        # (tape, numpy, autograd, PyTorch 1 thread), except in "torch", the default-threads peer.
        envs[peer] = ({v: str(blas_threads) for v in BLAS_VARS}
                      if blas_threads and peer != "torch" else {})
    quick_flag = ["--quick"] if quick else []
    for section in sections:
        for peer, env in envs.items():
            res = results["peers"][peer]
            t = time.perf_counter()
            if section in SECTIONS:
                out = run_worker(["time", peer, "--sections", section] + quick_flag, env)
                res[section] = out.get(section, out)
            elif section == "memory":
                # Large blocks always from mmap, so freed arrays leave RSS at once and the
                # readings are live bytes rather than whatever glibc keeps in its heap.
                res["memory"] = run_worker(["memory", peer] + quick_flag,
                                           dict(env, MALLOC_MMAP_THRESHOLD_="65536"))
            else:
                res["cold"] = {w: run_cold(peer, w, quick, env) for w in COLD_WORKLOADS}
            log(f"{section} {peer}: {time.perf_counter() - t:.0f} s")
    return results


# ---- tables ------------------------------------------------------------------------------

def _num(v):
    return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"


def _cell(value, tape_value, is_tape):
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    if is_tape or not isinstance(tape_value, (int, float)) or value <= 0:
        return _num(value)
    return f"{_num(value)} ({tape_value / value:.2f}×)"


def _status(entry, peer):
    if entry is None:
        return None
    if "error" in entry:
        return "not supported yet" if peer == "tape" else "error"
    if "absent" in entry:
        return None
    return entry


def main_table(results, peers):
    """Rows of workloads, a column per peer; each peer cell carries tape/peer in brackets."""
    present = [p for p in peers if p in results["peers"]]
    head = "| workload | unit | " + " | ".join(PEER_LABELS[p] for p in present) + " |"
    lines = [head, "|" + "---|" * (len(present) + 2)]
    notes = []

    def row(label, unit, getter, ratio=True):
        values = {}
        for p in present:
            try:
                values[p] = getter(results["peers"][p], p)
            except (KeyError, TypeError):
                values[p] = None
        if all(v is None for v in values.values()):
            return
        tv = values.get("tape")
        cells = [_cell(values[p], tv if ratio else None, p == "tape") for p in present]
        lines.append(f"| {label} | {unit} | " + " | ".join(cells) + " |")

    def timed(section, scale):
        def get(res, peer):
            entry = res.get(section)
            st = _status(entry, peer)
            if isinstance(st, str):
                notes.append(f"- {peer} {section}: "
                             + ("not supported yet" if peer == "tape" else "error")
                             + f" ({entry['error']})")
                return st
            return None if st is None else st["s"] * scale
        return get

    for section, label, unit, scale in ROWS:
        row(label, unit, timed(section, scale))

    def memory(key):
        def get(res, peer):
            m = res["memory"]
            if "error" in m:
                if key == "peak_over_base":
                    notes.append(f"- {peer} memory: error ({m['error']})")
                return "error"
            return m[key] / 2 ** 20
        return get

    row("peak RSS above baseline during forward+backward of the 4M case", "MiB",
        memory("peak_over_base"))
    row("RSS still held after that backward (loss alive)", "MiB", memory("held"), ratio=False)
    row("tape: bytes referenced by unreleased records after backward", "bytes",
        lambda res, peer: (res["memory"].get("tape_saved") if peer == "tape" else None))

    def cold(workload, mode, key):
        def get(res, peer):
            r = res["cold"][workload][mode]
            if "absent" in r:
                return None
            if key == "first_step" and "error" in r:
                if mode == "warm":
                    notes.append(f"- {peer} cold start, first {workload} step: "
                                 + ("not supported yet" if peer == "tape" else "error")
                                 + f" ({r['error']})")
                return "not supported yet" if peer == "tape" else "error"
            return r[key]
        return get

    def imported(res, peer):
        # every cold run times the import; take it from a workload the peer has
        for w in COLD_WORKLOADS:
            r = res["cold"][w]["warm"]
            if "import" in r and "absent" not in r:
                return r["import"]
        return None

    row("`import` of the peer (warm cache)", "s", imported)
    for w, name in (("legendre", "Legendre step"), ("chain", "20-op chain")):
        row(f"import + first {name}, warm kernel cache", "s", cold(w, "warm", "first_step"))
        row(f"import + first {name}, empty kernel cache", "s", cold(w, "empty", "first_step"))
    # numba's first kernel load initialises its registries, which import SciPy (numba.np.linalg's
    # BLAS check) and cffi when they are installed: their import time counts in tape's rows.
    present = [m for m in ("scipy", "cffi") if importlib.util.find_spec(m) is not None]
    if present:
        notes.append(f"- installed in this environment: {', '.join(present)}. numba imports them "
                     f"at its first kernel load, so tape's first-step rows include their import; "
                     f"the README's install (numba and numpy) brings neither.")
    for peer, why in results["missing"].items():
        notes.append(f"- {PEER_LABELS[peer]}: {why}")
    return "\n".join(lines + ([""] + sorted(set(notes), key=notes.index) if notes else []))


def _points(results, peer, section):
    entry = results["peers"].get(peer, {}).get(section)
    if not entry or "points" not in entry:
        return None
    return {int(k): v for k, v in entry["points"].items()}


def sweep_tables(results, peers):
    present = [p for p in peers if p in results["peers"]]
    out = []
    size = {p: _points(results, p, "sweep_size") for p in present}
    size = {p: v for p, v in size.items() if v}
    if size:
        copy = results["peers"].get("numpy", {}).get("sweep_size", {}).get("copy_Bps", {})
        copy = {int(k): v for k, v in copy.items()}
        ns = sorted({n for v in size.values() for n in v})
        cols = list(size)
        out.append("One elementwise op (`z = x * y`, float32), forward+backward: ns per element"
                   " (tape/peer in brackets); GB/s counts 6 arrays of traffic (read x, y, g; "
                   "write z, dx, dy).")
        out.append("")
        out.append("| elements | " + " | ".join(PEER_LABELS[p] for p in cols)
                   + " | tape GB/s | numpy copy GB/s |")
        out.append("|" + "---|" * (len(cols) + 3))
        for n in ns:
            tv = size.get("tape", {}).get(n)
            cells = [_cell(size[p][n] * 1e9 / n if n in size[p] else None,
                           tv * 1e9 / n if tv else None, p == "tape") for p in cols]
            gbs = _num(6 * 4 * n / tv / 1e9) if tv else "–"
            cp = _num(copy[n] / 1e9) if n in copy else "–"
            out.append(f"| {n:,} | " + " | ".join(cells) + f" | {gbs} | {cp} |")
        out.append("")
    length = {p: _points(results, p, "sweep_length") for p in present}
    length = {p: v for p, v in length.items() if v}
    if length:
        ns = sorted({n for v in length.values() for n in v})
        cols = list(length)
        out.append("Tape length: a chain of n elementwise ops on 3 elements, forward+backward: "
                   "ns per op (should stay flat as n grows).")
        out.append("")
        out.append("| ops | " + " | ".join(PEER_LABELS[p] for p in cols) + " |")
        out.append("|" + "---|" * (len(cols) + 1))
        for n in ns:
            tv = length.get("tape", {}).get(n)
            cells = [_cell(length[p][n] * 1e9 / n if n in length[p] else None,
                           tv * 1e9 / n if tv else None, p == "tape") for p in cols]
            out.append(f"| {n:,} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def plot(results, peers, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("--plot: matplotlib is not installed; no plot drawn")
        return
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    for p in peers:
        for ax, section in ((ax1, "sweep_size"), (ax2, "sweep_length")):
            pts = _points(results, p, section)
            if pts:
                ns = sorted(pts)
                ax.loglog(ns, [pts[n] * 1e9 / n for n in ns], marker="o", label=PEER_LABELS[p])
    ax1.set(xlabel="elements", ylabel="ns per element", title="z = x * y, forward+backward")
    ax2.set(xlabel="ops on the tape", ylabel="ns per op", title="chain length, 3 elements")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    log(f"plot written to {path}")


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--quick", action="store_true",
                   help="fewer repeats, shorter sweeps, one warm cold-start run")
    p.add_argument("--only", default=None,
                   help="comma-separated sections: " + ",".join(ALL_SECTIONS))
    p.add_argument("--peers", default=",".join(PEERS),
                   help="comma-separated peers: " + ",".join(PEERS))
    p.add_argument("--blas-threads", type=int, default=1, metavar="N",
                   help="BLAS/OpenMP threads for every peer but 'torch' (default 1; 0 leaves "
                        "the libraries' defaults)")
    p.add_argument("--plot", metavar="PNG", help="draw the sweeps (needs matplotlib)")
    p.add_argument("--json", metavar="PATH", help="also write the raw results")
    p.add_argument("--load", metavar="PATH",
                   help="print the tables (and --plot) of a run saved with --json; run nothing")
    args = p.parse_args(argv)
    sections = ALL_SECTIONS if args.only is None else tuple(args.only.split(","))
    peers = args.peers.split(",")
    for name in sections:
        if name not in ALL_SECTIONS:
            p.error(f"unknown section {name!r}; choose from {','.join(ALL_SECTIONS)}")
    for name in peers:
        if name not in PEERS:
            p.error(f"unknown peer {name!r}; choose from {','.join(PEERS)}")
    if args.load:
        with open(args.load) as f:
            results = json.load(f)
    else:
        results = collect(peers, sections, args.quick, args.blas_threads)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    print(main_table(results, peers))
    print()
    print("(r×) = tape time / peer time, measured in the same run: below 1 tape is faster.")
    print()
    print(sweep_tables(results, peers))
    if args.plot:
        plot(results, peers, args.plot)


if __name__ == "__main__":
    main()
