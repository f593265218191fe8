"""The names of the in-memory backends, where each lives, and which are usable here.

A leaf module: the backends themselves (the Dask one included) import it, and it
imports a backend module only when that backend is asked for.
"""

from __future__ import annotations

import importlib

_MODULES = {
    "numpy": "fastlr.backends.numpy_backend",
    "numba": "fastlr.backends.numba",
    "cuda": "fastlr.backends.cuda",
}

# Below this many stored elements of X (n_samples * n_features, or the non-zeros of a
# sparse X) "auto" uses NumPy. Per call
# the warm Numba kernel is faster even there (1.6-1.8x at 5,000-50,000 elements on 2
# cores), but a whole fit of such a problem takes milliseconds in NumPy, less than a
# new process spends importing Numba and loading the compiled kernels (about 0.5 s,
# scripts/bench_cpu.py's start-up section).
AUTO_NUMBA_MIN_ELEMENTS = 50_000

_availability: dict[str, bool] = {}


def backend_names():
    """All backend names fastlr knows about (available or not)."""
    return tuple(_MODULES)


def _module(name):
    return importlib.import_module(_MODULES[name])


def _is_available(name):
    if name not in _availability:
        try:
            _availability[name] = bool(_module(name).is_available())
        except Exception:  # an optional dependency that fails to import
            _availability[name] = False
    return _availability[name]


def available_backends():
    """Names of the backends usable on this machine, e.g. ``("numpy", "numba")``.

    ``"cuda"`` is listed only where numba-cuda finds a usable GPU.
    """
    return tuple(name for name in _MODULES if _is_available(name))


def resolve_backend_name(name, n_elements=None):
    """Turn ``"auto"`` (or an explicit name) into a concrete, available backend name.

    n_elements : int or None
        The stored elements of X (``n_samples * n_features`` or the non-zeros); with
        ``"auto"``, small problems use NumPy.
    """
    if name == "auto":
        if n_elements is not None and n_elements < AUTO_NUMBA_MIN_ELEMENTS:
            return "numpy"
        return "numba" if _is_available("numba") else "numpy"
    if name not in _MODULES:
        raise ValueError(
            f"Unknown backend {name!r}; expected 'auto' or one of {backend_names()}."
        )
    if not _is_available(name):
        raise ValueError(
            f"Backend {name!r} is not available on this machine; available backends "
            f"are {available_backends()}."
        )
    return name


def get_backend(name="auto", n_elements=None):
    """Return the backend module for ``name`` (``"auto"`` picks one by problem size)."""
    return _module(resolve_backend_name(name, n_elements))
