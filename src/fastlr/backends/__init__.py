"""Backend registry.

Every backend is one module exposing the same small set of functions, all of which
return *sums* over samples (the caller divides by the total sample weight and adds
the penalty, see :mod:`fastlr._loss`):

``binary_sums(X, y, sample_weight, w, b, n_threads=None) -> (J_sum, dw_sum, db_sum)``
    X  # IN (n_samples, n_features) float32 or float64
    y  # IN (n_samples,) same dtype as X, values in {0, 1}
    sample_weight  # IN (n_samples,) same dtype as X, or None (all ones)
    w  # IN (n_features,)
    b  # IN scalar intercept
    J_sum  # OUT float: sum_i s_i * L(sigmoid(x_i . w + b), y_i)
    dw_sum  # OUT (n_features,) float64: sum_i s_i * (a_i - y_i) * x_i
    db_sum  # OUT float: sum_i s_i * (a_i - y_i)

``multinomial_sums(X, y, sample_weight, W, B, n_threads=None) -> (J_sum, dW_sum, dB_sum)``
    y  # IN (n_samples,) integer class indices in [0, n_classes)
    W  # IN (n_classes, n_features); B  # IN (n_classes,)
    J_sum  # OUT float: sum_i s_i * (logsumexp(z_i) - z_i[y_i]), z_i = W x_i + B
    dW_sum  # OUT (n_classes, n_features) float64: sum_i s_i (p_i - onehot(y_i)) x_i^T
    dB_sum  # OUT (n_classes,) float64

``linear_predict(X, W, B, n_threads=None) -> Z``
    Z  # OUT (n_samples, n_classes), dtype of X: X W^T + B

``is_available() -> bool`` and ``NAME``.

Modules are imported lazily: importing :mod:`fastlr` imports neither Numba nor CUDA.
"""

from __future__ import annotations

import importlib

_MODULES = {
    "numpy": "fastlr.backends.numpy_backend",
    "numba": "fastlr.backends.numba",
    "cuda": "fastlr.backends.cuda",
}

# Below this many elements of X (n_samples * n_features) "auto" uses NumPy. Per call
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


def resolve_backend_name(name, n_samples=None, n_features=None):
    """Turn ``"auto"`` (or an explicit name) into a concrete, available backend name."""
    if name == "auto":
        if n_samples is not None and n_features is not None:
            if n_samples * n_features < AUTO_NUMBA_MIN_ELEMENTS:
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


def get_backend(name="auto", n_samples=None, n_features=None):
    """Return the backend module for ``name`` (``"auto"`` picks one by problem size)."""
    return _module(resolve_backend_name(name, n_samples, n_features))
