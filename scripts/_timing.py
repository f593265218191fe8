"""Tiny timing helpers shared by the scripts in this folder.

``median_time(fn, repeats=5, warmup=1)``
    Median wall-clock seconds of one call of ``fn()``.
``read_bandwidth(n=100_000_000, repeats=5)``
    The machine's read bandwidth in GB/s, from ``np.dot`` of two large float64 vectors.

Import them from another script in ``scripts/`` with ``from _timing import median_time``
(Python puts a script's own folder first on ``sys.path``).
"""

from __future__ import annotations

import statistics
import time

import numpy as np

__all__ = ["median_time", "read_bandwidth"]


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
    return 2 * a.itemsize * n / seconds / 1e9
