"""Driver helpers shared by the dense and sparse Numba kernels: thread counts and launches.

Kernels never read Numba's thread count themselves (``numba.get_num_threads()`` inside
a jitted function silently disables the on-disk cache): the drivers choose a count
here, pass the number of chunks to the kernel, and run it inside :class:`thread_scope`.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

# Numba's default "workqueue" threading layer must not run parallel kernels from two
# Python threads at once (it aborts the process). Kernel launches are serialised by
# this lock unless a thread-safe layer (tbb, omp) is in use.
_LAUNCH_LOCK = threading.Lock()
_SAFE_LAYERS = ("tbb", "omp")


class thread_scope:
    """Set Numba's thread count for this Python thread, take the launch lock where the
    threading layer needs it, and restore both on exit."""

    def __init__(self, n_threads):
        self.n = n_threads
        self.locked = False

    def __enter__(self):
        try:
            layer = numba.threading_layer()
        except ValueError:  # no parallel kernel has run yet: layer not chosen
            layer = None
        if layer not in _SAFE_LAYERS:
            _LAUNCH_LOCK.acquire()
            self.locked = True
        self.old = numba.get_num_threads()
        if self.n != self.old:
            numba.set_num_threads(self.n)
        return self.n

    def __exit__(self, *exc):
        try:
            if numba.get_num_threads() != self.old:
                numba.set_num_threads(self.old)
        finally:
            if self.locked:
                _LAUNCH_LOCK.release()
        return False


# With n_threads=None a kernel uses one thread per this many elements of X (up to all
# of Numba's threads); for CSR input an "element" is a stored non-zero. Below about a
# millisecond of work a second thread gains little and can lose much: on the 2-core
# virtual machine where this was measured, waking an idle second core cost up to 12 ms
# (10,000 x 100: 0.3 ms on both cores when awake, 0.5 ms on one, 12.7 ms on two after
# 50 ms idle).
MIN_ELEMENTS_PER_THREAD = 1_000_000


def n_threads_for(n_threads, n_elements=None):
    """The thread count a kernel runs with: ``n_threads``, or a default by work size."""
    if n_threads is None:
        n = numba.get_num_threads()
        if n_elements is not None:
            n = min(n, max(1, n_elements // MIN_ELEMENTS_PER_THREAD))
        return n
    return max(1, min(int(n_threads), numba.config.NUMBA_NUM_THREADS))


def sample_weights(sample_weight, dtype):
    """(s, has_sw): the weights as a ``dtype`` array, or a 1-element dummy and False."""
    if sample_weight is None:
        return np.empty(1, dtype=dtype), False
    return np.ascontiguousarray(sample_weight, dtype=dtype), True
