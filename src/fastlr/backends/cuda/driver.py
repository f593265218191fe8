"""Host side of the CUDA backend: availability, data movement, and the backend
functions that launch the kernels and bring the sums back (launch configuration in
:mod:`~fastlr.backends.cuda.launch`).

Dense ``X`` (a host ndarray, a Numba device array or any ``__cuda_array_interface__``
exporter) goes to the row-per-group kernel of :mod:`~fastlr.backends.cuda.row_kernels`
for binary problems whose rows fit in registers (up to 256 features), and to the tiled
kernels of :mod:`~fastlr.backends.cuda.kernels` otherwise. A ``scipy.sparse`` CSR
matrix, or the :class:`DeviceCSR` that :func:`prepare` makes of one, goes to the CSR
kernels of :mod:`~fastlr.backends.cuda.row_kernels`.
"""

from __future__ import annotations

import numpy as np

from . import kernels, row_kernels
from ._compat import IMPORT_ERROR, SIMULATOR, cuda
from .launch import (  # noqa: F401  (_launch_config, _dense_rows_launch: tests, bench)
    _choose_dense_kernel,
    _csr_launch,
    _dense_rows_launch,
    _launch_blocks,
    _launch_config,
    _split_launch,
)

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


# --------------------------------------------------------------------------------------
# Availability and data movement
# --------------------------------------------------------------------------------------


def _in_simulator():
    return SIMULATOR


def is_available():
    """Whether the CUDA backend can run here.

    ``True`` on a GPU of compute capability >= 6.0 that ``numba.cuda`` can use, and
    under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), so that the kernels and
    the estimator can be tested without a GPU. ``False`` when ``numba.cuda`` cannot be
    imported or finds no usable device; never raises.
    """
    if IMPORT_ERROR is not None:
        return False
    try:
        if SIMULATOR:
            return True
        if not cuda.is_available():
            return False
        return tuple(cuda.get_current_device().compute_capability) >= (6, 0)
    except Exception:
        return False


def _require_cuda():
    if IMPORT_ERROR is not None:
        raise RuntimeError(
            "The CUDA backend needs numba.cuda, which failed to import "
            f"({IMPORT_ERROR!r}); install fastlr[cuda]."
        )


def is_device_array(a):
    """Whether ``a`` lives on the GPU (a Numba device array, a
    ``__cuda_array_interface__`` exporter such as a CuPy array or a CUDA tensor, or a
    :class:`DeviceCSR`)."""
    return (
        isinstance(a, DeviceCSR)
        or hasattr(a, "__cuda_array_interface__")
        or bool(getattr(a, "__cuda_ndarray__", False))
    )


def to_device(a, dtype=None):
    """Return ``a`` as a Numba device array.

    Device arrays and ``__cuda_array_interface__`` exporters are wrapped without a
    copy (``dtype`` must then already match); anything else is converted with
    ``numpy.ascontiguousarray(a, dtype)`` and copied to the device. ``None`` stays
    ``None``.
    """
    _require_cuda()
    if a is None:
        return None
    if is_device_array(a):
        if not getattr(a, "__cuda_ndarray__", False):
            a = cuda.as_cuda_array(a)
        if dtype is not None and np.dtype(a.dtype) != np.dtype(dtype):
            raise TypeError(
                f"Device array has dtype {a.dtype}, expected {np.dtype(dtype)}; "
                "convert it on the device first."
            )
        return a
    return cuda.to_device(np.ascontiguousarray(a, dtype=dtype))


class DeviceCSR:
    """A CSR matrix whose ``data``, ``indices`` and ``indptr`` live on the device.

    Made by :func:`prepare` (or :meth:`from_host`) from a ``scipy.sparse`` CSR matrix,
    once per fit; the backend functions accept it wherever they accept ``X``.

    Attributes
    ----------
    data : device array of shape (nnz,), float32 or float64
    indices : device array of shape (nnz,), int32 or int64
    indptr : device array of shape (n_samples + 1,), int32 or int64
    shape : (n_samples, n_features)
    nnz : int
        ``indptr[-1]``, the number of stored values rows refer to.
    """

    ndim = 2
    format = "csr"

    def __init__(self, data, indices, indptr, shape, nnz):
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = (int(shape[0]), int(shape[1]))
        self.nnz = int(nnz)

    @property
    def dtype(self):
        return np.dtype(self.data.dtype)

    @classmethod
    def from_host(cls, X):
        """Copy a ``scipy.sparse`` CSR matrix (``csr_matrix`` or ``csr_array``) to the
        device as it is: unsorted indices and duplicates are kept (they add up)."""
        _require_cuda()
        n_samples, n_features = X.shape
        data, indices, indptr = X.data, X.indices, X.indptr
        if np.dtype(data.dtype) not in _FLOAT_DTYPES:
            raise TypeError(f"X must be float32 or float64, got {data.dtype}.")
        for name, a in (("indices", indices), ("indptr", indptr)):
            if np.dtype(a.dtype) not in _INDEX_DTYPES:
                raise TypeError(f"X.{name} must be int32 or int64, got {a.dtype}.")
        if indptr.shape != (n_samples + 1,):
            raise ValueError(
                f"X.indptr must have {n_samples + 1} entries, got {indptr.shape[0]}."
            )
        nnz = int(indptr[-1])
        if not 0 <= nnz <= min(data.shape[0], indices.shape[0]):
            raise ValueError(
                f"X.indptr[-1] = {nnz} but X.data and X.indices hold "
                f"{data.shape[0]} and {indices.shape[0]} values."
            )
        return cls(
            cuda.to_device(np.ascontiguousarray(data[:nnz])),
            cuda.to_device(np.ascontiguousarray(indices[:nnz])),
            cuda.to_device(np.ascontiguousarray(indptr)),
            (n_samples, n_features),
            nnz,
        )


def _is_host_csr(X):
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return sp.issparse(X) and X.format == "csr"


def _device_X(X):
    """Dense X -> Numba device array (checked); CSR -> DeviceCSR."""
    if isinstance(X, DeviceCSR):
        return X
    if _is_host_csr(X):
        return DeviceCSR.from_host(X)
    X_d = to_device(X)
    if len(X_d.shape) != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {tuple(X_d.shape)}.")
    if np.dtype(X_d.dtype) not in _FLOAT_DTYPES:
        raise TypeError(f"X must be float32 or float64, got {X_d.dtype}.")
    return X_d


def prepare(X, y, sample_weight=None):
    """Put a problem on the device once, for a whole fit.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), float32 or float64, or a
        ``scipy.sparse`` CSR matrix (``csr_matrix`` or ``csr_array``) with float32 or
        float64 values and int32 or int64 indices (structure already validated)
    y : array-like of shape (n_samples,)
        Targets in ``{0, 1}`` (binary) or integer class indices (multinomial).
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    X_d, y_d, sample_weight_d
        Device arrays (a :class:`DeviceCSR` for CSR ``X``; ``sample_weight_d`` is None
        when ``sample_weight`` is None). Pass them to :func:`binary_sums` or
        :func:`multinomial_sums` at every iteration; inputs already on the device
        are returned without a copy.
    """
    _require_cuda()
    X_d = _device_X(X)
    n_samples = X_d.shape[0]
    y_d = to_device(y)
    sample_weight_d = to_device(sample_weight)
    for name, v in (("y", y_d), ("sample_weight", sample_weight_d)):
        if v is not None and tuple(v.shape) != (n_samples,):
            raise ValueError(
                f"{name} must have shape ({n_samples},), got {tuple(v.shape)}."
            )
    return X_d, y_d, sample_weight_d


# --------------------------------------------------------------------------------------
# Drivers
# --------------------------------------------------------------------------------------


def _upload_params(W, B, n_out):
    """Copy [W.ravel(), B, zeros(n_out)] to the device in one transfer; return the
    (params, out) views."""
    n_params = W.size + B.size
    buf = np.zeros(n_params + n_out, dtype=np.float64)
    buf[: W.size] = W.ravel()
    buf[W.size : n_params] = B
    buf_d = cuda.to_device(buf)
    return buf_d[:n_params], buf_d[n_params:]


def _epoch(X, y, sample_weight, W, B, binary, launch):
    """Run one fused epoch; return the host copy of [dW.ravel(), dB, J]."""
    _require_cuda()
    X_d, y_d, s_d = prepare(X, y, sample_weight)
    n_samples, n_features = X_d.shape
    W = np.asarray(W, dtype=np.float64).reshape(-1, n_features)
    B = np.asarray(B, dtype=np.float64).reshape(W.shape[0])
    n_classes = W.shape[0]
    n_out = n_classes * n_features + n_classes + 1
    tiled, rows, kernel = _split_launch(launch)
    csr = isinstance(X_d, DeviceCSR)
    if csr:
        config = _csr_launch(X_d, n_classes, **rows)
    else:
        kernel = _choose_dense_kernel(kernel, n_features, n_classes)
        if kernel == "rows":
            config = _dense_rows_launch(n_samples, n_features, **rows)
        else:
            config = _launch_config(n_samples, n_features, n_classes, **tiled)
    if n_samples == 0:
        return np.zeros(n_out)
    params_d, out_d = _upload_params(W, B, n_out)
    has_weight = 0 if s_d is None else 1
    s_arg = y_d if s_d is None else s_d  # never read without weights
    if csr:
        kern = row_kernels._csr_epoch_kernel
        args = (X_d.data, X_d.indices, X_d.indptr, n_features, y_d, s_arg, has_weight,
                params_d, n_classes, 1 if binary else 0, config.lanes_per_row, out_d)
        n_blocks = _launch_blocks(kern, args, config,
                                  config.threads_per_block // config.lanes_per_row, n_samples)
        kern[n_blocks, config.threads_per_block](*args)
    elif kernel == "rows":
        kern = row_kernels._rows_binary_kernel
        args = (X_d, y_d, s_arg, has_weight, params_d, config.lanes_per_row,
                config.rows_per_group, out_d)
        rows_per_pass = config.threads_per_block // config.lanes_per_row * config.rows_per_group
        n_blocks = _launch_blocks(kern, args, config, rows_per_pass, n_samples)
        kern[n_blocks, config.threads_per_block](*args)
    else:
        kernels._epoch_kernel[(config.n_blocks, config.n_tiles), config.threads_per_block](
            X_d, y_d, s_arg, has_weight, params_d, n_classes, 1 if binary else 0,
            config.tile_width, config.rows_per_chunk, out_d,
        )
    return out_d.copy_to_host()


_LAUNCH_DOC = """threads_per_block, n_blocks : int, optional
        Launch configuration; defaults derive from the device and the shape.
    tile_width, rows_per_chunk : int, optional
        Tiled dense kernel only.
    lanes_per_row : int, optional
        Row-per-group kernels (dense ``kernel="rows"`` and CSR): lanes sharing a row,
        a power of two up to 32.
    rows_per_group : int, optional
        Dense ``kernel="rows"`` only: rows a group takes per pass (at most
        ``lanes_per_row`` and 8; default 8).
    kernel : {None, "rows", "tiles"}, optional
        Dense ``X`` only: ``None`` takes ``"rows"`` for binary problems of at most
        256 features, ``"tiles"`` otherwise."""


def binary_sums(X, y, sample_weight, w, b, n_threads=None, **launch):
    """Sums of the binary log-loss and its gradient, in one pass over ``X``.

    Parameters
    ----------
    X : ndarray or device array of shape (n_samples, n_features), float32 or float64,
        or a scipy.sparse CSR matrix, or a :class:`DeviceCSR`
    y : ndarray or device array of shape (n_samples,), values in {0, 1}
    sample_weight : ndarray or device array of shape (n_samples,), or None
    w : ndarray of shape (n_features,)
    b : float
    n_threads : ignored (a CPU setting, kept for the common signature)
    LAUNCH

    Returns
    -------
    J_sum : float
        ``sum_i s_i * (log(1 + exp(z_i)) - y_i z_i)``, ``z = X w + b``.
    dw_sum : ndarray of shape (n_features,), float64
        ``sum_i s_i * (a_i - y_i) * x_i``.
    db_sum : float
        ``sum_i s_i * (a_i - y_i)``.
    """
    out = _epoch(
        X, y, sample_weight,
        np.asarray(w, dtype=np.float64).reshape(1, -1),
        np.asarray([b], dtype=np.float64).reshape(1),
        True, launch,
    )
    n_features = out.size - 2
    return float(out[-1]), out[:n_features].copy(), float(out[n_features])


def multinomial_sums(X, y, sample_weight, W, B, n_threads=None, **launch):
    """Sums of the multinomial cross-entropy and its gradient, in one pass over ``X``.

    Parameters
    ----------
    X : ndarray or device array of shape (n_samples, n_features), float32 or float64,
        or a scipy.sparse CSR matrix, or a :class:`DeviceCSR`
    y : ndarray or device array of shape (n_samples,), integer classes in [0, n_classes)
    sample_weight : ndarray or device array of shape (n_samples,), or None
    W : ndarray of shape (n_classes, n_features)
        At most 512 classes for dense ``X``, 1024 for CSR.
    B : ndarray of shape (n_classes,)
    n_threads : ignored
    LAUNCH

    Returns
    -------
    J_sum : float
        ``sum_i s_i * (logsumexp(z_i) - z_i[y_i])``, ``z_i = W x_i + B``.
    dW_sum : ndarray of shape (n_classes, n_features), float64
        ``sum_i s_i (p_i - onehot(y_i)) x_i^T``.
    dB_sum : ndarray of shape (n_classes,), float64
    """
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"W must be 2-dimensional, got shape {W.shape}.")
    n_classes, n_features = W.shape
    out = _epoch(X, y, sample_weight, W, B, False, launch)
    k = n_classes * n_features
    return (
        float(out[-1]),
        out[:k].reshape(n_classes, n_features).copy(),
        out[k : k + n_classes].copy(),
    )


def linear_predict(X, W, B, n_threads=None, **launch):
    """Decision values ``Z = X W^T + B``.

    Parameters
    ----------
    X : ndarray or device array of shape (n_samples, n_features), float32 or float64,
        or a scipy.sparse CSR matrix, or a :class:`DeviceCSR`
    W : ndarray of shape (n_classes, n_features)
    B : ndarray of shape (n_classes,)
    n_threads : ignored
    LAUNCH

    Returns
    -------
    Z : ndarray of shape (n_samples, n_classes), dtype of X
        A host ndarray for host ``X`` (dense or CSR); a Numba device array for
        device ``X`` (a device array or a :class:`DeviceCSR`).
    """
    _require_cuda()
    on_device = is_device_array(X)
    X_d = _device_X(X)
    n_samples, n_features = X_d.shape
    W = np.asarray(W, dtype=np.float64).reshape(-1, n_features)
    B = np.asarray(B, dtype=np.float64).reshape(W.shape[0])
    n_classes = W.shape[0]
    tiled, rows, _ = _split_launch(launch)
    csr = isinstance(X_d, DeviceCSR)
    if csr:
        config = _csr_launch(X_d, n_classes, **rows)
    else:
        config = _launch_config(n_samples, n_features, n_classes, **tiled)
    Z_d = cuda.device_array((n_samples, n_classes), dtype=X_d.dtype)
    if n_samples > 0:
        params_d, _ = _upload_params(W, B, 0)
        if csr:
            kern = row_kernels._csr_linear_predict_kernel
            args = (X_d.data, X_d.indices, X_d.indptr, n_features, params_d, n_classes,
                    config.lanes_per_row, Z_d)
            n_blocks = _launch_blocks(kern, args, config,
                                      config.threads_per_block // config.lanes_per_row,
                                      n_samples)
            kern[n_blocks, config.threads_per_block](*args)
        else:
            kernels._linear_predict_kernel[config.n_blocks, config.threads_per_block](
                X_d, params_d, n_classes, config.tile_width, config.rows_per_chunk, Z_d,
            )
    return Z_d if on_device else Z_d.copy_to_host()


for _f in (binary_sums, multinomial_sums, linear_predict):
    _f.__doc__ = _f.__doc__.replace("LAUNCH", _LAUNCH_DOC)
del _f
