"""CUDA backend: fused one-pass kernels written with ``numba.cuda``.

The functions follow the backend contract of :mod:`fastlr.backends` (they return
*sums* over samples). Everything CUDA lives in this module; it is imported only when
the ``"cuda"`` backend is asked for, and it still imports (with :func:`is_available`
returning ``False``) where ``numba.cuda`` itself cannot be imported.

Availability
------------
:func:`is_available` is ``True`` where ``numba.cuda`` finds a usable GPU of compute
capability 6.0 or newer (float64 atomics), and also under Numba's CUDA simulator
(``NUMBA_ENABLE_CUDASIM=1`` set before Numba is first imported). The simulator runs
the same kernels in Python threads, very slowly, so that the backend and the
estimator can be tested on machines without a GPU; it says nothing about speed.

Keeping the data on the device
------------------------------
Every function accepts host NumPy arrays, Numba device arrays, or any object that
exports ``__cuda_array_interface__`` (CuPy arrays, PyTorch CUDA tensors), the
latter wrapped without a copy. Host arrays are copied to the device on every call,
which is correct but pays the bus each time. A fit should instead call::

    X_d, y_d, sample_weight_d = cuda_backend.prepare(X, y, sample_weight)

once, and hand the returned device arrays to :func:`binary_sums` /
:func:`multinomial_sums` at every iteration: then only the coefficients travel to the
device (one small copy) and the sums travel back (one small copy) per iteration.
:func:`to_device` does the same for a single array. :func:`linear_predict` returns
a host ndarray for host input and a Numba device array (which exports
``__cuda_array_interface__``) for device input.

Kernels
-------
One epoch is one launch of ``_epoch_kernel``, one pass over ``X`` (for rows wider
than a tile, see below). Each block walks
over *chunks* of ``rows_per_chunk`` consecutive rows in a grid-stride loop (the
loop is uniform across the block, so the block may synchronise inside it). For one
chunk the block:

1. copies the chunk's rows, one feature tile (``tile_width`` columns) at a time, into
   shared memory, and accumulates ``z = X w + b`` for them. A group of consecutive
   threads shares a row, each reading every group-th feature, so the reads of
   row-major ``X`` are coalesced (consecutive rows are adjacent in memory); with one
   class the values are multiplied by ``w`` on their way into shared memory, with
   several the dot products are taken from the staged copy. A group's partial sums
   are combined through a shared-memory reduction;
2. turns ``z`` into the weighted residual ``dz = s (a - y)`` (or ``s (p - onehot)``)
   and the loss, one thread per row, with the stable forms
   ``log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|))`` and a max-shifted softmax;
3. adds ``dz^T X`` for its tile (and ``sum dz`` for the intercept) into a per-block
   float64 accumulator in shared memory, read from the staged copy of ``X``.

At the end each block adds its accumulator into the float64 output with one atomic
add per element. All arithmetic after the load is in float64.

When ``n_features`` exceeds one tile, the launch grid has a second dimension, one
column of blocks per feature tile: block ``(i, t)`` computes ``z`` over all tiles of
its chunks, loading its own tile ``t`` last so the gradient step finds it staged, and
accumulates only tile ``t`` of the gradient. Such wide problems read ``X`` once per
tile column; the columns walk the same chunks at about the same time, so the
repeated reads should mostly be served from L2 (not yet measured). Problems whose rows fit one tile (up to
255 features by default, fewer for many classes) read ``X`` exactly once.

Launch configuration (``threads_per_block``, ``n_blocks``, ``tile_width``,
``rows_per_chunk``) is a keyword argument of every driver function; the defaults
are derived from the device (four blocks of 256 threads per multiprocessor) and the
problem shape. The simulator defaults to 32 threads per block.

The sizes of the shared-memory buffers are compile-time constants of this module
(CUDA needs static shapes); everything else a kernel needs is passed as an argument.
The drivers check that the chosen launch fits those buffers.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

NAME = "cuda"


class _CudaMissing:
    """Stands in for ``numba.cuda`` where it cannot be imported.

    Decorating still works (the functions stay plain Python), so this module imports;
    :func:`is_available` reports ``False`` and the drivers raise.
    """

    def jit(self, func=None, **kwargs):
        if func is None:
            return lambda f: f
        return func


try:
    from numba import cuda
    from numba import float64

    _IMPORT_ERROR = None
except Exception as exc:  # Numba without CUDA support, or a broken numba-cuda install
    cuda = _CudaMissing()
    float64 = None
    _IMPORT_ERROR = exc


# Compile-time shapes of the per-block shared-memory buffers (float64 elements).
# 16 + 8 + 8 + 8 KiB = 40 KiB per block, under the 48 KiB static limit.
_STAGE_SIZE = 2048  # staged chunk of X: rows_per_chunk * (tile_width | 1)
_Z_SIZE = 1024  # z, then dz, of the staged rows: rows_per_chunk * n_classes
_ACC_SIZE = 1024  # the block's gradient accumulator: n_classes * (tile_width + 1)
_RED_SIZE = 1024  # one value per thread for block reductions: threads per block

_MAX_TILE_WIDTH = 255  # leaves room for at least 8 staged rows
_MAX_CLASSES = _ACC_SIZE // 2
_BLOCKS_PER_SM = 4
_THREADS_PER_BLOCK = 256
_SIM_THREADS_PER_BLOCK = 32


# --------------------------------------------------------------------------------------
# Device code
# --------------------------------------------------------------------------------------


@cuda.jit(device=True)
def _stage_tile(X, xs, row0, n_rows, col0, width, ld, tid, n_threads):
    """xs[r * ld + j] = X[row0 + r, col0 + j]: consecutive threads read consecutive
    elements of the (row-contiguous) chunk; the flat index is advanced without a
    division per element."""
    dr = n_threads // width
    dj = n_threads - dr * width
    r = tid // width
    j = tid - r * width
    while r < n_rows:
        xs[r * ld + j] = X[row0 + r, col0 + j]
        r += dr
        j += dj
        if j >= width:
            j -= width
            r += 1


@cuda.jit(device=True)
def _chunk_z(
    X,  # IN (n_samples, n_features)
    params,  # IN (n_classes * n_features + n_classes,) float64: W row-major, then B
    row0,  # first row of the chunk
    n_rows,  # rows in the chunk
    n_classes,
    tile_width,
    first_tile,  # tiles are staged in the order first_tile, first_tile + 1, ... (cyclic)
    n_tiles,
    xs,  # OUT shared (_STAGE_SIZE,): the last tile staged, (first_tile - 1) % n_tiles
    zs,  # OUT shared (_Z_SIZE,): zs[r * n_classes + c] = z of row r, class c
    red,  # SCRATCH shared (_RED_SIZE,)
    tid,
    n_threads,
):
    """z = X W^T + B for the rows of one chunk, staging X in shared memory tile by tile.

    One class: ``group`` threads share a row; each reads every group-th feature of it
    from global memory, keeps a copy in ``xs`` and multiplies it by ``w`` on the way,
    and the group's partial sums are added through ``red``. Several classes: the tile
    is staged first, then each (row, class) dot product is taken from ``xs`` by a
    group of threads in the same way.
    """
    n_features = X.shape[1]
    ld = tile_width | 1  # odd row stride in xs: column reads across rows avoid conflicts
    n_items = n_rows * n_classes
    b0 = n_classes * n_features
    for i in range(tid, n_items, n_threads):
        zs[i] = params[b0 + i % n_classes]
    group = max(1, n_threads // n_items)  # threads cooperating on one (row, class)
    item = tid // group
    part = tid - item * group
    for step in range(n_tiles):
        col0 = ((first_tile + step) % n_tiles) * tile_width
        width = min(tile_width, n_features - col0)
        cuda.syncthreads()  # everyone is done with the previous contents of xs and red
        if n_classes == 1:
            # Fused load and dot product; with group == 1 a thread takes whole rows.
            for r in range(item, n_rows, n_threads // group):
                z = 0.0
                for j in range(part, width, group):
                    x = X[row0 + r, col0 + j]
                    xs[r * ld + j] = x
                    z += x * params[col0 + j]
                if group == 1:
                    zs[r] += z
                else:
                    red[tid] = z  # group > 1: at most one row per thread
        else:
            _stage_tile(X, xs, row0, n_rows, col0, width, ld, tid, n_threads)
            cuda.syncthreads()
            for i in range(item, n_items, n_threads // group):
                r = i // n_classes
                w0 = (i - r * n_classes) * n_features + col0
                z = 0.0
                for j in range(part, width, group):
                    z += xs[r * ld + j] * params[w0 + j]
                if group == 1:
                    zs[i] += z
                else:
                    red[tid] = z
        if group > 1:
            cuda.syncthreads()
            if part == 0 and item < n_items:
                z = red[tid]
                for g in range(1, group):
                    z += red[tid + g]
                zs[item] += z
    cuda.syncthreads()


@cuda.jit(device=True)
def _binary_row(zs, r, yi, weight):
    """Replace zs[r] = z by dz = weight * (sigmoid(z) - y); return the log-loss."""
    z = zs[r]
    t = math.exp(-abs(z))  # in (0, 1]: never overflows
    if z >= 0:
        a = 1.0 / (1.0 + t)
    else:
        a = t / (1.0 + t)
    zs[r] = weight * (a - yi)
    return max(z, 0.0) + math.log1p(t) - yi * z


@cuda.jit(device=True)
def _softmax_row(zs, start, n_classes, yi, weight):
    """Replace the row's z by weight * (softmax(z) - onehot(y)); return the loss."""
    zmax = zs[start]
    for c in range(1, n_classes):
        zmax = max(zmax, zs[start + c])
    total = 0.0
    for c in range(n_classes):
        total += math.exp(zs[start + c] - zmax)
    lse = zmax + math.log(total)
    loss = lse - zs[start + yi]
    for c in range(n_classes):
        p = math.exp(zs[start + c] - lse)
        if c == yi:
            p -= 1.0
        zs[start + c] = weight * p
    return loss


@cuda.jit(device=True)
def _accumulate_gradient(
    xs,  # IN shared: the staged tile, row stride ld
    zs,  # IN shared: dz, zs[r * n_classes + c]
    acc,  # INOUT shared (n_parts * n_cols,): the block's gradient
    n_rows,
    n_classes,
    width,  # features in the staged tile
    ld,
    n_cols,  # n_classes * (width + 1): the tile's columns of W plus the intercept
    n_parts,  # threads sharing a column, each summing every n_parts-th row
    tid,
    n_threads,
):
    """acc[c, j] += sum_r dz[r, c] * x[r, j] (j == width: the intercept, x = 1)."""
    if n_parts == 1:
        first = tid
        step = n_threads
        q = 0
    else:
        q = tid // n_cols
        first = tid - q * n_cols
        step = n_cols  # one column per thread
        if q >= n_parts:
            return
    for i in range(first, n_cols, step):
        c = i // (width + 1)
        j = i - c * (width + 1)
        g = 0.0
        if j < width:
            for r in range(q, n_rows, n_parts):
                g += zs[r * n_classes + c] * xs[r * ld + j]
        else:
            for r in range(q, n_rows, n_parts):
                g += zs[r * n_classes + c]
        acc[q * n_cols + i] += g


@cuda.jit
def _epoch_kernel(
    X,  # IN (n_samples, n_features) float32 or float64
    y,  # IN (n_samples,): {0, 1} if binary, else class indices
    s,  # IN (n_samples,) sample weights; read only if has_weight
    has_weight,  # 1 if s holds sample weights, 0 for unit weights
    params,  # IN (n_classes * n_features + n_classes,) float64: W row-major, then B
    n_classes,  # 1 if binary
    binary,  # 1: sigmoid and log-loss; 0: softmax and cross-entropy
    tile_width,
    rows_per_chunk,
    out,  # OUT (n_classes * n_features + n_classes + 1,) float64, zero on entry:
    #       dW row-major, then dB, then J; accumulated atomically
):
    """One fused epoch; grid (blocks, feature tiles), block (threads,)."""
    xs = cuda.shared.array(_STAGE_SIZE, float64)
    zs = cuda.shared.array(_Z_SIZE, float64)
    acc = cuda.shared.array(_ACC_SIZE, float64)
    red = cuda.shared.array(_RED_SIZE, float64)

    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    n_samples = X.shape[0]
    n_features = X.shape[1]
    tile = cuda.blockIdx.y  # the feature tile of the gradient this block accumulates
    n_tiles = cuda.gridDim.y
    col0 = tile * tile_width
    width = min(tile_width, n_features - col0)
    ld = tile_width | 1
    n_cols = n_classes * (width + 1)
    n_parts = max(1, n_threads // n_cols)

    for i in range(tid, n_parts * n_cols, n_threads):
        acc[i] = 0.0
    J = 0.0
    cuda.syncthreads()

    n_chunks = (n_samples + rows_per_chunk - 1) // rows_per_chunk
    for chunk in range(cuda.blockIdx.x, n_chunks, cuda.gridDim.x):
        row0 = chunk * rows_per_chunk
        n_rows = min(rows_per_chunk, n_samples - row0)
        # Stage this block's own tile last, so it is still in xs for the gradient.
        _chunk_z(
            X, params, row0, n_rows, n_classes, tile_width, tile + 1, n_tiles,
            xs, zs, red, tid, n_threads,
        )
        for r in range(tid, n_rows, n_threads):
            weight = 1.0
            if has_weight:
                weight = float(s[row0 + r])
            if binary:
                J += weight * _binary_row(zs, r, float(y[row0 + r]), weight)
            else:
                J += weight * _softmax_row(
                    zs, r * n_classes, n_classes, int(y[row0 + r]), weight
                )
        cuda.syncthreads()
        _accumulate_gradient(
            xs, zs, acc, n_rows, n_classes, width, ld, n_cols, n_parts, tid, n_threads
        )
        cuda.syncthreads()

    # One atomic add per block and element; the intercept and J from tile 0 only.
    for i in range(tid, n_cols, n_threads):
        total = 0.0
        for q in range(n_parts):
            total += acc[q * n_cols + i]
        c = i // (width + 1)
        j = i - c * (width + 1)
        if j < width:
            cuda.atomic.add(out, c * n_features + col0 + j, total)
        elif tile == 0:
            cuda.atomic.add(out, n_classes * n_features + c, total)
    red[tid] = J
    cuda.syncthreads()
    if tid == 0 and tile == 0:
        total = 0.0
        for t in range(n_threads):
            total += red[t]
        cuda.atomic.add(out, n_classes * n_features + n_classes, total)


@cuda.jit
def _linear_predict_kernel(
    X,  # IN (n_samples, n_features) float32 or float64
    params,  # IN (n_classes * n_features + n_classes,) float64: W row-major, then B
    n_classes,
    tile_width,
    rows_per_chunk,
    Z,  # OUT (n_samples, n_classes), dtype of X
):
    """Z = X W^T + B; grid (blocks,), block (threads,)."""
    xs = cuda.shared.array(_STAGE_SIZE, float64)
    zs = cuda.shared.array(_Z_SIZE, float64)
    red = cuda.shared.array(_RED_SIZE, float64)

    tid = cuda.threadIdx.x
    n_threads = cuda.blockDim.x
    n_samples = X.shape[0]
    n_tiles = (X.shape[1] + tile_width - 1) // tile_width
    n_chunks = (n_samples + rows_per_chunk - 1) // rows_per_chunk
    for chunk in range(cuda.blockIdx.x, n_chunks, cuda.gridDim.x):
        row0 = chunk * rows_per_chunk
        n_rows = min(rows_per_chunk, n_samples - row0)
        _chunk_z(
            X, params, row0, n_rows, n_classes, tile_width, 0, n_tiles,
            xs, zs, red, tid, n_threads,
        )
        for i in range(tid, n_rows * n_classes, n_threads):
            r = i // n_classes
            Z[row0 + r, i - r * n_classes] = zs[i]
        cuda.syncthreads()


# --------------------------------------------------------------------------------------
# Host code: availability, data movement, launch configuration, drivers
# --------------------------------------------------------------------------------------


def _in_simulator():
    if _IMPORT_ERROR is not None:
        return False
    try:
        from numba import config

        if getattr(config, "ENABLE_CUDASIM", False):
            return True
    except Exception:
        pass
    return "simulator" in getattr(cuda.to_device, "__module__", "")


def is_available():
    """Whether the CUDA backend can run here.

    ``True`` on a GPU of compute capability >= 6.0 that ``numba.cuda`` can use, and
    under the CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``), so that the kernels and
    the estimator can be tested without a GPU. ``False`` when ``numba.cuda`` cannot be
    imported or finds no usable device; never raises.
    """
    if _IMPORT_ERROR is not None:
        return False
    try:
        if _in_simulator():
            return True
        if not cuda.is_available():
            return False
        return tuple(cuda.get_current_device().compute_capability) >= (6, 0)
    except Exception:
        return False


def _require_cuda():
    if _IMPORT_ERROR is not None:
        raise RuntimeError(
            "The CUDA backend needs numba.cuda, which failed to import "
            f"({_IMPORT_ERROR!r}); install fastlr[cuda]."
        )


def is_device_array(a):
    """Whether ``a`` lives on the GPU (a Numba device array or a
    ``__cuda_array_interface__`` exporter such as a CuPy array or a CUDA tensor)."""
    return hasattr(a, "__cuda_array_interface__") or bool(
        getattr(a, "__cuda_ndarray__", False)
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


def prepare(X, y, sample_weight=None):
    """Put a problem on the device once, for a whole fit.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features), float32 or float64
    y : array-like of shape (n_samples,)
        Targets in ``{0, 1}`` (binary) or integer class indices (multinomial).
    sample_weight : array-like of shape (n_samples,) or None

    Returns
    -------
    X_d, y_d, sample_weight_d : device arrays (``sample_weight_d`` is None when
        ``sample_weight`` is None). Pass them to :func:`binary_sums` or
        :func:`multinomial_sums` at every iteration; inputs already on the device
        are returned without a copy.
    """
    X_d = to_device(X)
    if len(X_d.shape) != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {tuple(X_d.shape)}.")
    if np.dtype(X_d.dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"X must be float32 or float64, got {X_d.dtype}.")
    n_samples = X_d.shape[0]
    y_d = to_device(y)
    sample_weight_d = to_device(sample_weight)
    for name, v in (("y", y_d), ("sample_weight", sample_weight_d)):
        if v is not None and tuple(v.shape) != (n_samples,):
            raise ValueError(
                f"{name} must have shape ({n_samples},), got {tuple(v.shape)}."
            )
    return X_d, y_d, sample_weight_d


_Launch = namedtuple(
    "_Launch", "threads_per_block n_blocks tile_width rows_per_chunk n_tiles"
)


def _device_properties():
    """(multiprocessor count, max threads per block) of the current device."""
    if _in_simulator():
        return 1, _RED_SIZE
    device = cuda.get_current_device()
    return (
        int(getattr(device, "MULTIPROCESSOR_COUNT", 1)),
        int(getattr(device, "MAX_THREADS_PER_BLOCK", _RED_SIZE)),
    )


def _launch_config(
    n_samples,
    n_features,
    n_classes,
    threads_per_block=None,
    n_blocks=None,
    tile_width=None,
    rows_per_chunk=None,
):
    """Choose (or check) a launch that fits the kernels' shared-memory buffers."""
    if n_features < 1:
        raise ValueError("The CUDA backend needs at least one feature.")
    if not 1 <= n_classes <= _MAX_CLASSES:
        raise ValueError(
            f"The CUDA backend supports 1 to {_MAX_CLASSES} classes, got {n_classes}."
        )
    max_tile = min(_MAX_TILE_WIDTH, _ACC_SIZE // n_classes - 1)
    if tile_width is None:
        n_tiles = -(-n_features // max_tile)
        tile_width = -(-n_features // n_tiles)  # balanced tiles
    elif not 1 <= tile_width <= max_tile:
        raise ValueError(f"tile_width must be in [1, {max_tile}], got {tile_width}.")
    tile_width = int(tile_width)
    max_rows = min(_STAGE_SIZE // (tile_width | 1), _Z_SIZE // n_classes)
    if rows_per_chunk is None:
        rows_per_chunk = max_rows
    elif not 1 <= rows_per_chunk <= max_rows:
        raise ValueError(
            f"rows_per_chunk must be in [1, {max_rows}] for tile_width={tile_width} "
            f"and {n_classes} classes, got {rows_per_chunk}."
        )
    sm_count, max_threads = _device_properties()
    max_threads = min(max_threads, _RED_SIZE)
    if threads_per_block is None:
        threads_per_block = (
            _SIM_THREADS_PER_BLOCK if _in_simulator() else _THREADS_PER_BLOCK
        )
    elif not 1 <= threads_per_block <= max_threads:
        raise ValueError(
            f"threads_per_block must be in [1, {max_threads}], got {threads_per_block}."
        )
    n_chunks = max(1, -(-n_samples // rows_per_chunk))
    if n_blocks is None:
        n_blocks = min(n_chunks, _BLOCKS_PER_SM * sm_count)
    elif n_blocks < 1:
        raise ValueError(f"n_blocks must be positive, got {n_blocks}.")
    return _Launch(
        int(threads_per_block),
        int(n_blocks),
        tile_width,
        int(rows_per_chunk),
        -(-n_features // tile_width),
    )


def _upload_params(W, B, n_out):
    """Copy [W.ravel(), B, zeros(n_out)] to the device in one transfer; return the
    (params, out) views."""
    n_params = W.size + B.size
    buf = np.zeros(n_params + n_out, dtype=np.float64)
    buf[: W.size] = W.ravel()
    buf[W.size : n_params] = B
    buf_d = cuda.to_device(buf)
    return buf_d[:n_params], buf_d[n_params:]


def _epoch(X, y, sample_weight, W, B, binary, launch_kwargs):
    """Run one fused epoch; return the host copy of [dW.ravel(), dB, J]."""
    _require_cuda()
    X_d, y_d, s_d = prepare(X, y, sample_weight)
    n_samples, n_features = X_d.shape
    W = np.asarray(W, dtype=np.float64).reshape(-1, n_features)
    B = np.asarray(B, dtype=np.float64).reshape(W.shape[0])
    n_classes = W.shape[0]
    n_out = n_classes * n_features + n_classes + 1
    launch = _launch_config(n_samples, n_features, n_classes, **launch_kwargs)
    if n_samples == 0:
        return np.zeros(n_out)
    params_d, out_d = _upload_params(W, B, n_out)
    has_weight = 0 if s_d is None else 1
    _epoch_kernel[(launch.n_blocks, launch.n_tiles), launch.threads_per_block](
        X_d,
        y_d,
        y_d if s_d is None else s_d,  # never read without weights
        has_weight,
        params_d,
        n_classes,
        1 if binary else 0,
        launch.tile_width,
        launch.rows_per_chunk,
        out_d,
    )
    return out_d.copy_to_host()


def binary_sums(
    X,
    y,
    sample_weight,
    w,
    b,
    n_threads=None,
    *,
    threads_per_block=None,
    n_blocks=None,
    tile_width=None,
    rows_per_chunk=None,
):
    """Sums of the binary log-loss and its gradient, in one pass over ``X``.

    Parameters
    ----------
    X : ndarray or device array of shape (n_samples, n_features), float32 or float64
    y : ndarray or device array of shape (n_samples,), values in {0, 1}
    sample_weight : ndarray or device array of shape (n_samples,), or None
    w : ndarray of shape (n_features,)
    b : float
    n_threads : ignored (a CPU setting, kept for the common signature)
    threads_per_block, n_blocks, tile_width, rows_per_chunk : int, optional
        Launch configuration; defaults derive from the device and the shape.

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
        X,
        y,
        sample_weight,
        np.asarray(w, dtype=np.float64).reshape(1, -1),
        np.asarray([b], dtype=np.float64).reshape(1),
        True,
        dict(
            threads_per_block=threads_per_block,
            n_blocks=n_blocks,
            tile_width=tile_width,
            rows_per_chunk=rows_per_chunk,
        ),
    )
    n_features = out.size - 2
    return float(out[-1]), out[:n_features].copy(), float(out[n_features])


def multinomial_sums(
    X,
    y,
    sample_weight,
    W,
    B,
    n_threads=None,
    *,
    threads_per_block=None,
    n_blocks=None,
    tile_width=None,
    rows_per_chunk=None,
):
    """Sums of the multinomial cross-entropy and its gradient, in one pass over ``X``.

    Parameters
    ----------
    X : ndarray or device array of shape (n_samples, n_features), float32 or float64
    y : ndarray or device array of shape (n_samples,), integer classes in [0, n_classes)
    sample_weight : ndarray or device array of shape (n_samples,), or None
    W : ndarray of shape (n_classes, n_features), n_classes <= 512
    B : ndarray of shape (n_classes,)
    n_threads : ignored
    threads_per_block, n_blocks, tile_width, rows_per_chunk : int, optional
        Launch configuration, as in :func:`binary_sums`.

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
    out = _epoch(
        X,
        y,
        sample_weight,
        W,
        B,
        False,
        dict(
            threads_per_block=threads_per_block,
            n_blocks=n_blocks,
            tile_width=tile_width,
            rows_per_chunk=rows_per_chunk,
        ),
    )
    k = n_classes * n_features
    return (
        float(out[-1]),
        out[:k].reshape(n_classes, n_features).copy(),
        out[k : k + n_classes].copy(),
    )


def linear_predict(
    X,
    W,
    B,
    n_threads=None,
    *,
    threads_per_block=None,
    n_blocks=None,
    tile_width=None,
    rows_per_chunk=None,
):
    """Decision values ``Z = X W^T + B``.

    Parameters
    ----------
    X : ndarray or device array of shape (n_samples, n_features), float32 or float64
    W : ndarray of shape (n_classes, n_features)
    B : ndarray of shape (n_classes,)
    n_threads : ignored
    threads_per_block, n_blocks, tile_width, rows_per_chunk : int, optional

    Returns
    -------
    Z : ndarray of shape (n_samples, n_classes), dtype of X
        A host ndarray for host ``X``; a Numba device array for device ``X``.
    """
    _require_cuda()
    on_device = is_device_array(X)
    X_d = to_device(X)
    if len(X_d.shape) != 2:
        raise ValueError(f"X must be 2-dimensional, got shape {tuple(X_d.shape)}.")
    n_samples, n_features = X_d.shape
    W = np.asarray(W, dtype=np.float64).reshape(-1, n_features)
    B = np.asarray(B, dtype=np.float64).reshape(W.shape[0])
    n_classes = W.shape[0]
    launch = _launch_config(
        n_samples,
        n_features,
        n_classes,
        threads_per_block=threads_per_block,
        n_blocks=n_blocks,
        tile_width=tile_width,
        rows_per_chunk=rows_per_chunk,
    )
    Z_d = cuda.device_array((n_samples, n_classes), dtype=X_d.dtype)
    if n_samples > 0:
        params_d, _ = _upload_params(W, B, 0)
        _linear_predict_kernel[launch.n_blocks, launch.threads_per_block](
            X_d,
            params_d,
            n_classes,
            launch.tile_width,
            launch.rows_per_chunk,
            Z_d,
        )
    return Z_d if on_device else Z_d.copy_to_host()
