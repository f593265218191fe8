"""Tiny timing helpers shared by the scripts in this folder.

``median_time(fn, repeats=5, warmup=1)``
    Median wall-clock seconds of one call of ``fn()``.
``read_bandwidth(n=100_000_000, repeats=5)``
    The machine's read bandwidth in GB/s, from ``np.dot`` of two large float64 vectors.
``blas_idle()``
    Wait for BLAS's threads to stop spinning before timing anything else.
``peak_memory_growth(setup, measured)``
    Peak resident-memory growth of a code snippet, in a new Python process.
``wall_time(fn)``
    Wall-clock seconds of one call of ``fn()``, for long calls such as full fits.

Import them from another script in ``scripts/`` with ``from _timing import median_time``
(Python puts a script's own folder first on ``sys.path``).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import numpy as np

__all__ = ["blas_idle", "median_time", "peak_memory_growth", "read_bandwidth", "wall_time"]


def median_time(fn, repeats=5, warmup=1, number=1, min_time=None):
    """Median wall-clock time of one call of ``fn()``, in seconds.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is discarded.
    repeats : int, default=5
        Number of timed repeats; the median of them is returned.
    warmup : int, default=1
        Untimed calls made first (JIT compilation, caches, page faults).
    number : int, default=1
        Calls per repeat; the time of a repeat is divided by it. Use it for calls
        much shorter than a millisecond, which a single timer read cannot resolve.
    min_time : float or None, default=None
        If given, ``number`` is raised until one repeat takes at least this many
        seconds (measured on the first repeat), as :mod:`timeit` does.

    Returns
    -------
    seconds : float
    """
    for _ in range(warmup):
        fn()
    number = max(1, int(number))
    if min_time is not None:
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            dt = time.perf_counter() - t0
            if dt >= min_time or number >= 1_000_000:
                break
            # aim a little above min_time, growing at most 100x per step
            number = int(number * min(100.0, max(2.0, 1.2 * min_time / max(dt, 1e-9))))
    times = []
    for _ in range(max(1, int(repeats))):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t0) / number)
    return statistics.median(times)


def read_bandwidth(n=100_000_000, repeats=5):
    """Read bandwidth of main memory in GB/s (1 GB = 1e9 bytes), as NumPy sees it.

    Times ``np.dot(a, b)`` for two float64 vectors of ``n`` elements each (BLAS, with
    its default number of threads) and divides the bytes read, ``2 * 8 * n``, by the
    median time. Choose ``n`` so that ``16 * n`` bytes is well above the last-level
    cache (the default reads 1.6 GB), otherwise this measures the cache.

    Returns
    -------
    gb_per_s : float
    """
    a = np.empty(n)
    a.fill(1.0)  # touch every page now, not inside the timing
    b = np.empty(n)
    b.fill(0.5)
    seconds = median_time(lambda: np.dot(a, b), repeats=repeats, warmup=1)
    blas_idle()
    return 2 * a.itemsize * n / seconds / 1e9


BLAS_SPIN_SECONDS = 0.5


def blas_idle():
    """Wait until BLAS's worker threads have stopped spinning.

    After a multi-threaded call, OpenBLAS's threads keep busy-waiting for more work
    for a while. On a 2-core machine they then take the cores from whatever runs
    next: Numba epochs of 1,000,000 x 100 started right after ``np.dot`` took 28-48 ms
    for about 0.1 s, against 16-18 ms after a 0.5 s pause (AMD EPYC, 2 cores). Call it
    after timing BLAS and before timing anything else.
    """
    time.sleep(BLAS_SPIN_SECONDS)


_PEAK_MEMORY_CHILD = """
import json

def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

report = {{}}
{setup}
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak resident set size (VmHWM) to the current one
_before = _status("VmRSS")
{measured}
report["peak_extra_bytes"] = _status("VmHWM") - _before
report["rss_before_bytes"] = _before
print("PEAK_MEMORY_REPORT " + json.dumps(report))
"""


def peak_memory_growth(setup, measured, python=None, env=None, cwd=None):
    """Peak resident-memory growth while ``measured`` runs, in a new Python process.

    The same method as ``bench_cpu.py``'s memory section, for any code: a child
    process runs ``setup`` (load the data, compile the JIT kernels), resets the
    kernel's peak counter of resident memory (``VmHWM``, via ``/proc/self/clear_refs``),
    reads its resident set size, runs ``measured`` and reads the peak again. The
    difference is the largest amount of memory ``measured`` held at any one time
    beyond what the process held before it (Linux only).

    Parameters
    ----------
    setup, measured : str
        Python source, run at module level in that order. Both may put JSON-able
        values into the dict ``report``, which is returned.
    python : str or None
        Interpreter to run (default: this one).
    env : dict or None
        Environment of the child (default: this process's).
    cwd : str or None
        Working directory of the child.

    Returns
    -------
    report : dict
        ``peak_extra_bytes`` and ``rss_before_bytes``, plus whatever the snippets put
        into ``report``.
    """
    code = _PEAK_MEMORY_CHILD.format(setup=setup, measured=measured)
    res = subprocess.run([python or sys.executable, "-c", code], env=env, cwd=cwd,
                         capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"the memory child process failed:\n{res.stderr[-4000:]}")
    for line in res.stdout.splitlines():
        if line.startswith("PEAK_MEMORY_REPORT "):
            return json.loads(line[len("PEAK_MEMORY_REPORT "):])
    raise RuntimeError(f"the memory child process printed no report:\n{res.stdout[-2000:]}")


def wall_time(fn):
    """Wall-clock seconds of one call of ``fn()`` (no warm-up, no repeats).

    For fits that take seconds to minutes, where one call is the measurement and a
    warm-up would double the cost; warm any JIT before calling it.
    """
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0
