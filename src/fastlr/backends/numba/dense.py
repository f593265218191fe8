"""Dense Numba kernels of the binary model: fused, parallel, one pass over X.

Each kernel walks X once. Rows are split into ``n_chunks`` contiguous chunks, one per
thread (``prange``); inside a chunk, rows are processed in blocks of ``block_rows``:

1. ``z = X_blk w + b`` (a dot product per row, vectorised over features, summed
   in float64);
2. the per-row scalar maths (exp, log1p, sigmoid, loss, ``dz``) over the whole block at
   once, with the polynomial exp/log of :mod:`._elementary` (vectorised by LLVM, or
   written as vectors in :mod:`._simd_binary`);
3. ``dw += dz_blk^T X_blk`` in float64, while the block is still in cache.

The kernels take their blocks and prefetch distance from the row length
(:func:`binary_blocking`). The multinomial kernels and the prediction scores, built
the same way on :mod:`._simd`'s register tiles, are in :mod:`.dense_multinomial`,
which shares this module's ``BLOCK_ROWS`` and listed-row helpers.

Each chunk keeps its own partial ``dw``, ``db`` and ``J`` (accumulated in float64);
the partials are added in chunk order afterwards, so a result depends only on the data
and ``n_threads``, never on thread scheduling.

Compile options: see :mod:`._elementary` (``fastmath`` without ``nnan``/``ninf``,
``error_model="numpy"``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._elementary import _FASTMATH
from ._simd import LANES, grad_group_1, prefetch_rows
from ._simd_binary import binary_maths, binary_step
from ._threads import n_threads_for, sample_weights, thread_scope

# Rows per block of the multinomial kernels and of the binary ones on float32 rows up
# to 2.5 KB (see binary_blocking): 64 rows of 100 float64 features is 51 KB, in L1/L2
# between the forward and the gradient step. 32 to 256 measured within 5% of one
# another at 1,000,000 x 100 (binary, before binary_blocking); 64 was best for float32.
BLOCK_ROWS = 64
# Rows per block of the binary kernels on longer rows (see binary_blocking): 8 faster
# than 4 and 16 at 100,000 x 1,000 float64 (two threads); for float32 as fast as 16.
SIDE_ROWS = 8


@njit(cache=True, nogil=True, inline="always")
def _consecutive(rows, i0, n):
    """Whether the n increasing listed rows from ``rows[i0]`` on are consecutive."""
    return rows[i0 + n - 1] - rows[i0] == n - 1


@njit(cache=True, nogil=True)
def _listed_rows(X, rows, i0, n, Xb):
    """The block ``rows[i0:i0 + n]`` of a list of increasing rows of X, as the fused
    kernels read it: ``(X, r0)`` with the block at rows ``r0 .. r0 + n`` when the
    listed rows are consecutive (a fold's rows mostly are), else the rows gathered
    into the scratch ``Xb`` (at least n rows) and r0 = 0."""
    if _consecutive(rows, i0, n):
        return X, rows[i0]
    p = X.shape[1]
    for r in range(n):
        src = X[rows[i0 + r]]
        dst = Xb[r]
        for j in range(p):
            dst[j] = src[j]
    return Xb, 0


@njit(cache=True, nogil=True)
def _listed_block(X, y, s, has_sw, rows, i0, n, Xb, yb, sb):
    """:func:`_listed_rows` with the rows' labels and weights: ``(X, y, s, r0)``,
    those too gathered (into the scratch ``yb``, ``sb``) where the rows are."""
    if _consecutive(rows, i0, n):
        return X, y, s, rows[i0]
    Xr, _ = _listed_rows(X, rows, i0, n, Xb)
    for r in range(n):
        yb[r] = y[rows[i0 + r]]
        if has_sw:
            sb[r] = s[rows[i0 + r]]
    return Xr, yb, sb, 0


# ---------------------------------------------------------------------------------
# Fused kernels
# ---------------------------------------------------------------------------------


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _scores_side(X, i0, q, n, w, b, zs):
    """``zs[g, r] = X[i0 + g q + r] . w + b``, g < 4, r < n: four rows per pass over w."""
    for r in range(n):
        x0 = X[i0 + r]
        x1 = X[i0 + q + r]
        x2 = X[i0 + 2 * q + r]
        x3 = X[i0 + 3 * q + r]
        a0 = a1 = a2 = a3 = b
        for j in range(X.shape[1]):
            wj = w[j]
            a0 += x0[j] * wj
            a1 += x1[j] * wj
            a2 += x2[j] * wj
            a3 += x3[j] * wj
        zs[0, r] = a0
        zs[1, r] = a1
        zs[2, r] = a2
        zs[3, r] = a3


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_chunk(X, y, s, has_sw, rows, start, stop, w, b, block_rows, ahead, dw, tiled,
                  side, loops):
    """One thread's rows: ``X[start:stop]``, or where ``rows`` is not None the listed
    rows ``rows[start:stop]`` (each block read in place or gathered, see
    :func:`_listed_block`). Block by block: forward pass, per-row maths, then
    ``dw += dz^T X_blk`` while the block is still in cache, prefetching the rows
    ``ahead`` rows on (see :func:`binary_blocking`). Returns (J, db), the rows added
    one by one.

    ``tiled`` True: the whole step in vector registers, 2 LANES rows at a time
    (:func:`._simd_binary.binary_step`), then the rows past the last whole step as
    with None: the scores as a Numba loop over rows, the maths as vectors
    (:func:`._simd_binary.binary_maths`), then the gradient. None is a type of its
    own, so its kernels do not compile the tile (1 s). The tile for float32 X, the
    loops for float64: each the faster there (see README).

    ``loops`` None: the gradient with strips of ``dw`` in registers over the block's
    rows (:func:`._simd.grad_group_1`, rows of at least LANES features); True: as a
    Numba loop, four rows per pass over ``dw`` (rows narrower than a vector, the
    rows past the float32 tile's steps, and ``side``, where the strips were no
    faster). Each kernel compiles only one of the two (the strips with the loops
    beside them cost a cold first fit 0.4 s more).

    ``side`` True (rows None, tiled None; long rows): the chunk's first rows as four
    equal sub-ranges read side by side, the scores of a block of each four rows (one
    of each) per pass over ``w`` (:func:`_scores_side`), then each block's maths and
    gradient as with None; the rows past them (under four blocks) as with None. One
    core reads more from four streams than from one (see :func:`binary_blocking`).

    The block step is written out here, its loops too: called per block, a function
    with a dozen array arguments cost 60 ns of reference counts (8 ns a row), even
    with ``inline="always"``, and the scores and gradient loops as two functions
    about 1-2 ns a row (one thread, 8-row blocks of 100 float64 features).

    The scores are summed in float64 also for float32 X: multiplying in float32 was
    up to 1.35x faster at 1,000,000 x 100, but the loss then carries float32 noise
    (~1e-7 relative) that stalls L-BFGS's line search at tight tolerances and makes
    fits depend on how rows are chunked. The gradient updates ``dw`` once per four
    rows: once per row, its loads and stores cost as much as reading X.
    """
    p = X.shape[1]
    zb = np.empty(block_rows)
    dzb = np.empty(block_rows + 2 * LANES)
    lb = np.empty(block_rows + 2 * LANES)
    Xb = np.empty((block_rows if rows is not None else 0, p), dtype=X.dtype)
    yb = np.empty(block_rows, dtype=y.dtype)
    sb = np.empty(block_rows, dtype=s.dtype)
    J = 0.0
    db = 0.0
    if loops is None:  # dw as the one row of grad_group_1's dW (no alias elsewhere)
        dw_row = dw.reshape((1, p))
    q = 0  # rows per sub-range (side): whole blocks
    if side is not None:
        q = (stop - start) // (4 * block_rows) * block_rows
        zs = np.empty((4, block_rows))
    n_side = 4 * (q // block_rows)  # blocks read side by side
    for blk in range(n_side + (stop - start - 4 * q + block_rows - 1) // block_rows):
        i0 = start + 4 * q + (blk - n_side) * block_rows
        scored = False  # the block's scores: computed below unless read side by side
        if side is not None:
            if blk < n_side:  # block t of sub-range g, after block t of sub-ranges < g
                g = blk % 4
                i0 = start + g * q + (blk // 4) * block_rows
                if g == 0:
                    _scores_side(X, i0, q, block_rows, w, b, zs)
                for r in range(block_rows):
                    zb[r] = zs[g, r]
                scored = True
        nb = min(stop - i0, block_rows)
        if rows is None:
            Xr, yr, sr, r0 = X, y, s, i0
        else:
            Xr, yr, sr, r0 = _listed_block(X, y, s, has_sw, rows, i0, nb, Xb, yb, sb)
        i = 0
        if tiled is not None:
            while i + 2 * LANES <= nb and p >= LANES:
                binary_step(Xr, r0 + i, w, b, yr, sr, has_sw, ahead, dw, dzb, lb, 0)
                for r in range(2 * LANES):
                    J += lb[r]
                    db += dzb[r]
                i += 2 * LANES
        if i == nb:
            continue
        n = nb - i
        q0 = r0 + i
        for r in range(0 if scored else n):  # scores, in float64 (see below)
            if ahead:
                prefetch_rows(Xr, q0 + r + ahead, 1)
            acc = b
            for j in range(p):
                acc += Xr[q0 + r, j] * w[j]
            zb[r] = acc
        for k in range(0, n, LANES):
            binary_maths(zb, k, n, yr, sr, has_sw, q0, dzb, lb)
        for r in range(n):
            J += lb[r]
            db += dzb[r]
        if loops is None:  # float64 rows from LANES features to 2.5 KB
            grad_group_1(Xr, q0, n, dzb, 1, 0, dw_row)  # strips of dw in registers
            continue
        r = 0
        while r + 4 <= n:  # dw += dz^T X_blk, four rows per pass over dw
            if ahead:
                prefetch_rows(Xr, q0 + r + ahead, 4)
            x0 = Xr[q0 + r]
            x1 = Xr[q0 + r + 1]
            x2 = Xr[q0 + r + 2]
            x3 = Xr[q0 + r + 3]
            d0 = dzb[r]
            d1 = dzb[r + 1]
            d2 = dzb[r + 2]
            d3 = dzb[r + 3]
            for j in range(p):
                dw[j] += (d0 * x0[j] + d1 * x1[j]) + (d2 * x2[j] + d3 * x3[j])
            r += 4
        while r < n:
            xr = Xr[q0 + r]
            dr = dzb[r]
            for j in range(p):
                dw[j] += dr * xr[j]
            r += 1
    return J, db


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_sums_kernel(
    X,  # IN (n_samples, n_features)
    y,  # IN (n_samples,) {0, 1}
    s,  # IN (n_samples,) sample weights (ignored unless has_sw)
    has_sw,  # IN bool
    w,  # IN (n_features,) float64
    b,  # IN float64
    rows,  # IN None (all rows) or (n_rows,) int, the rows to sum over, increasing
    n_chunks,  # IN number of chunks of the rows (one per thread)
    block_rows,  # IN rows per block
    ahead,  # IN rows between a row read and the row prefetched (0: none)
    tiled,  # IN None, or True for the float32 tile: see _binary_chunk
    side,  # IN None, or True for four sub-ranges read side by side (rows None)
    loops,  # IN None (the gradient as strips in registers), or True: see _binary_chunk
):
    """Returns partials of shape (n_chunks, n_features + 2): [dw..., db, J] per chunk.

    Everything is accumulated in float64, row by row, so that the result does not
    depend on how rows are split into blocks or chunks beyond float64 rounding.
    With ``rows``, the chunks split the list (each thread gets as many rows).
    """
    m = X.shape[0] if rows is None else rows.shape[0]
    p = X.shape[1]
    part = np.zeros((n_chunks, p + 2))
    chunk = (m + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(m, start + chunk)
        dw = np.zeros(p)
        J, db = _binary_chunk(X, y, s, has_sw, rows, start, stop, w, b, block_rows, ahead,
                              dw, tiled, side, loops)
        for j in range(p):
            part[c, j] = dw[j]
        part[c, p] = db
        part[c, p + 1] = J
    return part


# ---------------------------------------------------------------------------------
# Drivers
# ---------------------------------------------------------------------------------


def _n_chunks(n_samples, n_threads, block_rows):
    return max(1, min(n_threads, -(-n_samples // block_rows)))


def binary_blocking(X):
    """(rows per block, rows between a row read and the row prefetched, whether four
    sub-ranges of each chunk are read side by side) for the binary kernels on X.

    Rows of up to 2.5 KB are prefetched about 12 KB ahead (float64: from the scores'
    loop; float32: from both loops of its tile), so that the reads of the next rows
    overlap the maths and the gradient; float64 X is read in blocks of about 6 KB (a multiple of ``LANES``
    rows, so the maths runs as whole vectors), which stay in L1 from the scores to
    the gradient. Longer rows stream well from the hardware prefetcher alone, and
    prefetching them was slower; they are read from four places at once instead (see
    :func:`_binary_chunk`; one thread, 100,000 x 1,000 float64: 31 against 26 GB/s),
    8-row blocks, four of them (256 KB of 1,000 float64 features) in L2 from the
    scores to the gradient. The measurements are in the README ("Speed to the
    roofline").
    """
    row_bytes = X.shape[1] * X.itemsize
    if row_bytes > 2560:
        return SIDE_ROWS, 0, True
    ahead = max(1, 12800 // row_bytes)
    if X.dtype == np.float32:  # whole 16-row steps (see _binary_chunk)
        return BLOCK_ROWS, ahead, False
    return LANES * max(1, 6400 // (row_bytes * LANES)), ahead, False


def binary_sums(X, y, sample_weight, w, b, n_threads=None, block_rows=None,
                active_rows=None, side=None):
    """``active_rows``: the increasing indices of the only rows whose weight may be
    non-zero (see :mod:`fastlr.backends`), or None: only those rows are read.
    ``block_rows``, ``side``: None for :func:`binary_blocking`'s (``side`` is unused
    with ``active_rows``: listed blocks are read, or gathered, one at a time)."""
    n_active = X.shape[0] if active_rows is None else len(active_rows)
    n_threads = n_threads_for(n_threads, n_active * X.shape[1])
    X = np.ascontiguousarray(X)  # a copy only if it is not (rows are prefetched whole)
    y = np.ascontiguousarray(y, dtype=X.dtype)
    s, has_sw = sample_weights(sample_weight, X.dtype)
    w = np.ascontiguousarray(w, dtype=np.float64)
    default_rows, ahead, default_side = binary_blocking(X)
    block_rows = default_rows if block_rows is None else block_rows
    n_chunks = _n_chunks(n_active, n_threads, block_rows)
    rows = None if active_rows is None else np.ascontiguousarray(active_rows, dtype=np.intp)
    side = (default_side if side is None else bool(side)) and rows is None
    tiled = True if X.dtype == np.float32 and not side else None
    loops = True if tiled or side or X.shape[1] < LANES else None
    with thread_scope(n_threads):
        part = _binary_sums_kernel(X, y, s, has_sw, w, float(b), rows, n_chunks, block_rows,
                                   ahead, tiled, True if side else None, loops)
    tot = part[0].copy()
    for c in range(1, n_chunks):  # fixed order: deterministic
        tot += part[c]
    p = X.shape[1]
    return float(tot[p + 1]), tot[:p], float(tot[p])


@njit(parallel=True, cache=True)
def _take_rows_kernel(X, rows, n_chunks, out):
    """out[i] = X[rows[i]], the rows split into n_chunks contiguous ranges."""
    n = rows.shape[0]
    per = (n + n_chunks - 1) // n_chunks
    p = X.shape[1]
    for c in prange(n_chunks):
        for i in range(c * per, min(n, (c + 1) * per)):
            src = X[rows[i]]
            dst = out[i]
            for j in range(p):  # an explicit loop: 0.034 s against 0.05 s for a slice
                dst[j] = src[j]  # assignment per row (800,000 rows of 100 float64)


def take_rows(X, rows, n_threads=None, out=None):
    """``X[rows]`` for a C-contiguous 2-d ndarray, copied by the threads in parallel.

    Each thread copies, and so first touches, its own contiguous part of the new
    array: the page faults of a large new array are spread over the threads, where
    NumPy's ``X[rows]`` takes them on one (see :mod:`fastlr._cv_path` for the times).
    ``out``: a C-contiguous array of that shape and dtype to copy into instead.
    """
    rows = np.ascontiguousarray(rows, dtype=np.intp)
    if out is None:
        out = np.empty((len(rows), X.shape[1]), dtype=X.dtype)
    n_threads = n_threads_for(n_threads, out.size)
    with thread_scope(n_threads):
        _take_rows_kernel(X, rows, max(1, min(n_threads, len(rows))), out)
    return out
