"""Tiled dense kernels of the CUDA backend (``@cuda.jit`` device code only).

These are the tiled kernels: the dense multinomial epoch, the dense binary epoch for
rows wider than 256 features, and dense prediction. The row-per-group kernels (the
dense binary epoch for narrower rows, and every CSR kernel) are in
:mod:`fastlr.backends.cuda.row_kernels`; host code (data movement, launch
configuration, the backend functions) in :mod:`fastlr.backends.cuda.driver`.

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
The driver checks that the chosen launch fits those buffers.
"""

from __future__ import annotations

import math

from ._compat import cuda, float64

# Compile-time shapes of the per-block shared-memory buffers (float64 elements).
# 16 + 8 + 8 + 8 KiB = 40 KiB per block, under the 48 KiB static limit.
_STAGE_SIZE = 2048  # staged chunk of X: rows_per_chunk * (tile_width | 1)
_Z_SIZE = 1024  # z, then dz, of the staged rows: rows_per_chunk * n_classes
_ACC_SIZE = 1024  # the block's gradient accumulator: n_classes * (tile_width + 1)
_RED_SIZE = 1024  # one value per thread for block reductions: threads per block

_MAX_TILE_WIDTH = 255  # leaves room for at least 8 staged rows
_MAX_CLASSES = _ACC_SIZE // 2


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
