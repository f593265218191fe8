"""BLAS's thread count, set around the parts of a fit that need it set.

The Numba kernels run their own threads, so BLAS is held to one thread while they run
(otherwise a BLAS call inside a fit would start a second pool on the same cores), and
the Newton pass gives BLAS the threads it needs. threadpoolctl finds the loaded BLAS
libraries by scanning the process's shared objects, a few milliseconds each time; the
scan is made once (at the first limit, when NumPy's and SciPy's BLAS are loaded) and
its controller reused.
"""

from __future__ import annotations

_CONTROLLER = None


def blas_limit(n_threads):
    """A context manager holding BLAS to ``n_threads`` threads (None: no change)."""
    global _CONTROLLER
    from threadpoolctl import ThreadpoolController

    if _CONTROLLER is None:
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=n_threads, user_api="blas")
