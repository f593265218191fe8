"""The one place that imports ``numba.cuda``.

Where ``numba.cuda`` cannot be imported (Numba built without CUDA support, a broken
numba-cuda install), :data:`cuda` is a stand-in whose ``jit`` leaves functions as plain
Python, so the backend's modules still import; :data:`IMPORT_ERROR` holds the reason and
the backend reports itself unavailable.

:data:`SIMULATOR` is ``True`` under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``
set before Numba is first imported).
"""

from __future__ import annotations


class _CudaMissing:
    """Stands in for ``numba.cuda`` where it cannot be imported."""

    def jit(self, func=None, **kwargs):
        if func is None:
            return lambda f: f
        return func


try:
    from numba import cuda
    from numba import float64

    IMPORT_ERROR = None
except Exception as exc:  # Numba without CUDA support, or a broken numba-cuda install
    cuda = _CudaMissing()
    float64 = None
    IMPORT_ERROR = exc


def _simulator():
    if IMPORT_ERROR is not None:
        return False
    try:
        from numba import config

        if getattr(config, "ENABLE_CUDASIM", False):
            return True
    except Exception:
        pass
    return "simulator" in getattr(cuda.to_device, "__module__", "")


SIMULATOR = _simulator()
