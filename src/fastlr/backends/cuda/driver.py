"""Host side of the CUDA backend: availability, data movement, launch configuration,
and the backend functions that launch the kernels and bring the sums back.

Dense ``X`` (a host ndarray, a Numba device array or any ``__cuda_array_interface__``
exporter) goes to the row-per-group kernel of :mod:`~fastlr.backends.cuda.row_kernels`
for binary problems whose rows fit in registers (up to 256 features), and to the tiled
kernels of :mod:`~fastlr.backends.cuda.kernels` otherwise. A ``scipy.sparse`` CSR
matrix, or the :class:`DeviceCSR` that :func:`prepare` makes of one, goes to the CSR
kernels of :mod:`~fastlr.backends.cuda.row_kernels`.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import kernels, row_kernels
from ._compat import IMPORT_ERROR, SIMULATOR, cuda

_BLOCKS_PER_SM = 4  # tiled dense kernel: 40 KiB of shared memory per block
_ROWS_BLOCKS_PER_SM = 4  # row-per-group kernels, where occupancy cannot be asked
_ROWS_PER_GROUP = 8  # dense row kernel: rows a group takes per pass (a few KiB of L1)
_THREADS_PER_BLOCK = 256  # tiled kernels
_ROWS_THREADS_PER_BLOCK = 128  # row-per-group kernels: fastest of 64-512 on an H200
_SIM_THREADS_PER_BLOCK = 32

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
# Launch configuration
# --------------------------------------------------------------------------------------

_Launch = namedtuple(
    "_Launch", "threads_per_block n_blocks tile_width rows_per_chunk n_tiles"
)
_RowsLaunch = namedtuple(
    "_RowsLaunch", "threads_per_block n_blocks lanes_per_row rows_per_group"
)


def _device_properties():
    """(multiprocessor count, max threads per block) of the current device."""
    if SIMULATOR:
        return 1, kernels._RED_SIZE
    device = cuda.get_current_device()
    return (
        int(getattr(device, "MULTIPROCESSOR_COUNT", 1)),
        int(getattr(device, "MAX_THREADS_PER_BLOCK", kernels._RED_SIZE)),
    )


def _threads_per_block(threads_per_block, default=_THREADS_PER_BLOCK):
    _, max_threads = _device_properties()
    max_threads = min(max_threads, kernels._RED_SIZE)
    if threads_per_block is None:
        return _SIM_THREADS_PER_BLOCK if SIMULATOR else default
    if not 1 <= threads_per_block <= max_threads:
        raise ValueError(
            f"threads_per_block must be in [1, {max_threads}], got {threads_per_block}."
        )
    return int(threads_per_block)


def _n_blocks(n_blocks, n_work, blocks_per_sm):
    if n_blocks is None:
        sm_count, _ = _device_properties()
        return int(max(1, min(n_work, blocks_per_sm * sm_count)))
    if n_blocks < 1:
        raise ValueError(f"n_blocks must be positive, got {n_blocks}.")
    return int(n_blocks)


def _launch_config(
    n_samples,
    n_features,
    n_classes,
    threads_per_block=None,
    n_blocks=None,
    tile_width=None,
    rows_per_chunk=None,
):
    """Choose (or check) a launch of the tiled dense kernels that fits their
    shared-memory buffers."""
    if n_features < 1:
        raise ValueError("The CUDA backend needs at least one feature.")
    if not 1 <= n_classes <= kernels._MAX_CLASSES:
        raise ValueError(
            f"The CUDA backend supports 1 to {kernels._MAX_CLASSES} classes for dense "
            f"X, got {n_classes}."
        )
    max_tile = min(kernels._MAX_TILE_WIDTH, kernels._ACC_SIZE // n_classes - 1)
    if tile_width is None:
        n_tiles = -(-n_features // max_tile)
        tile_width = -(-n_features // n_tiles)  # balanced tiles
    elif not 1 <= tile_width <= max_tile:
        raise ValueError(f"tile_width must be in [1, {max_tile}], got {tile_width}.")
    tile_width = int(tile_width)
    max_rows = min(kernels._STAGE_SIZE // (tile_width | 1), kernels._Z_SIZE // n_classes)
    if rows_per_chunk is None:
        rows_per_chunk = max_rows
    elif not 1 <= rows_per_chunk <= max_rows:
        raise ValueError(
            f"rows_per_chunk must be in [1, {max_rows}] for tile_width={tile_width} "
            f"and {n_classes} classes, got {rows_per_chunk}."
        )
    threads_per_block = _threads_per_block(threads_per_block)
    n_chunks = max(1, -(-n_samples // rows_per_chunk))
    return _Launch(
        threads_per_block,
        _n_blocks(n_blocks, n_chunks, _BLOCKS_PER_SM),
        tile_width,
        int(rows_per_chunk),
        -(-n_features // tile_width),
    )


def _next_power_of_two(n):
    return 1 << max(0, int(n) - 1).bit_length()


def _rows_launch_config(
    n_samples,
    min_lanes,
    default_lanes,
    threads_per_block=None,
    n_blocks=None,
    lanes_per_row=None,
    rows_per_group=None,
):
    """Launch of a row-per-group kernel: ``lanes_per_row`` a power of two in
    [min_lanes, 32] that divides ``threads_per_block``; ``rows_per_group`` (dense
    kernel only) in [1, lanes_per_row]. ``n_blocks`` left as None here is settled at
    launch (:func:`_launch_blocks`)."""
    threads_per_block = _threads_per_block(threads_per_block, _ROWS_THREADS_PER_BLOCK)
    if lanes_per_row is None:
        lanes_per_row = min(32, max(min_lanes, default_lanes))
        while threads_per_block % lanes_per_row:
            lanes_per_row //= 2
    lanes_per_row = int(lanes_per_row)
    if (
        not min_lanes <= lanes_per_row <= 32
        or lanes_per_row & (lanes_per_row - 1)
        or threads_per_block % lanes_per_row
    ):
        raise ValueError(
            f"lanes_per_row must be a power of two in [{min_lanes}, 32] dividing "
            f"threads_per_block={threads_per_block}, got {lanes_per_row}."
        )
    max_batch = min(lanes_per_row, row_kernels._MAX_BATCH)
    if rows_per_group is None:
        rows_per_group = min(max_batch, _ROWS_PER_GROUP)
    elif not 1 <= rows_per_group <= max_batch:
        raise ValueError(
            f"rows_per_group must be in [1, min(lanes_per_row, "
            f"{row_kernels._MAX_BATCH}) = {max_batch}], got {rows_per_group}."
        )
    if n_blocks is not None and n_blocks < 1:
        raise ValueError(f"n_blocks must be positive, got {n_blocks}.")
    return _RowsLaunch(threads_per_block, n_blocks, lanes_per_row, int(rows_per_group))


_resident_cache = {}


def _launch_blocks(dispatcher, args, config, rows_per_pass, n_samples):
    """Blocks of a grid-stride row kernel: as many as the device holds at once (from
    the compiled kernel's occupancy), so that every block starts at once and takes the
    same share of passes; never more than there are passes. An explicit
    ``n_blocks`` is used as given."""
    n_passes = max(1, -(-n_samples // rows_per_pass))
    if config.n_blocks is not None:
        return config.n_blocks
    resident = None
    if not SIMULATOR:
        try:
            argtypes = tuple(dispatcher.typeof_pyval(a) for a in args)
            key = (dispatcher, argtypes, config.threads_per_block)
            resident = _resident_cache.get(key)
            if resident is None:
                kernel = dispatcher.compile(argtypes)
                resident = int(kernel.max_cooperative_grid_blocks(config.threads_per_block))
                _resident_cache[key] = resident
        except Exception:  # an API this numba-cuda lacks: fall back to a fixed count
            resident = None
    if not resident:
        resident = _ROWS_BLOCKS_PER_SM * _device_properties()[0]
    return int(max(1, min(n_passes, resident)))


def _dense_rows_launch(n_samples, n_features, **launch):
    """Launch of the dense row-per-group kernel: each lane holds at most
    ``_ROW_REGS`` features of its row."""
    if n_features > row_kernels._ROW_REGS * 32:
        raise ValueError(
            f"kernel='rows' takes at most {row_kernels._ROW_REGS * 32} features, "
            f"got {n_features}."
        )
    lanes = _next_power_of_two(-(-n_features // row_kernels._ROW_REGS))
    return _rows_launch_config(n_samples, lanes, lanes, **launch)


def _csr_launch(X_d, n_classes, **launch):
    """Launch of the CSR kernels: about two stored values per lane by default."""
    if n_classes > row_kernels._CSR_MAX_CLASSES:
        raise ValueError(
            f"The CUDA backend supports at most {row_kernels._CSR_MAX_CLASSES} classes "
            f"for CSR X, got {n_classes}."
        )
    n_samples = X_d.shape[0]
    mean_nnz = X_d.nnz / max(1, n_samples)
    default = _next_power_of_two(max(1, int(np.ceil(mean_nnz / 2))))
    return _rows_launch_config(n_samples, 1, default, **launch)


def _choose_dense_kernel(kernel, n_features, n_classes):
    if kernel is None:
        rows_fit = n_classes == 1 and n_features <= row_kernels._ROW_REGS * 32
        return "rows" if rows_fit else "tiles"
    if kernel not in ("rows", "tiles"):
        raise ValueError(f"kernel must be 'rows', 'tiles' or None, got {kernel!r}.")
    if kernel == "rows" and n_classes != 1:
        raise ValueError("kernel='rows' is binary only.")
    return kernel


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


_LAUNCH_KEYS = frozenset(
    ("threads_per_block", "n_blocks", "tile_width", "rows_per_chunk", "lanes_per_row",
     "rows_per_group", "kernel")
)


def _split_launch(launch):
    """Keyword arguments -> (dense tiled, row-per-group, kernel choice)."""
    unknown = set(launch) - _LAUNCH_KEYS
    if unknown:
        raise TypeError(f"Unknown launch arguments {sorted(unknown)}.")
    tiled = {k: launch.get(k) for k in ("threads_per_block", "n_blocks",
                                         "tile_width", "rows_per_chunk")}
    rows = {k: launch.get(k) for k in ("threads_per_block", "n_blocks", "lanes_per_row",
                                       "rows_per_group")}
    return tiled, rows, launch.get("kernel")


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
