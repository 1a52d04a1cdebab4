"""Timing and memory probes: median-of-repeats wall time, and RSS read from /proc."""
import resource
import statistics
import time

_clock = time.perf_counter


def _run(fn, n):
    t = _clock()
    for _ in range(n):
        fn()
    return _clock() - t


def measure(fn, min_time=0.1, repeats=7):
    """Median seconds per call of fn().  Each repeat runs fn enough times to last min_time,
    so short calls are not drowned by the clock; the median shrugs off the other engineers'
    jobs on this 2-core machine.  The garbage collector stays on, as in a training loop."""
    fn()
    fn()                      # first calls compile kernels and warm caches
    n = 1
    t = _run(fn, n)
    while t < min_time:
        # aim 20% past min_time, at most 100x more calls per round
        n = max(n + 1, min(100 * n, int(n * 1.2 * min_time / max(t, 1e-9))))
        t = _run(fn, n)
    times = [t / n] + [_run(fn, n) / n for _ in range(repeats - 1)]
    return statistics.median(times)


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def rss_bytes():
    return _status_kib("VmRSS") * 1024


def reset_peak():
    """Reset the kernel's peak-RSS mark (VmHWM) so the next peak_bytes() covers only what
    follows; returns False where /proc/self/clear_refs is unavailable."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_bytes():
    try:
        return _status_kib("VmHWM") * 1024
    except (OSError, KeyError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
