"""CSR Numba kernels: fused, parallel, one pass over ``data``/``indices``/``indptr``.

X is a ``scipy.sparse`` CSR matrix (``csr_matrix`` or ``csr_array``) with float32 or
float64 values and int32 or int64 indices, whose structure the caller has checked
(:func:`fastlr._sparse_checks.check_csr_structure`: ``boundscheck`` is off here, so a
bad ``indptr`` or an index out of range would read or write out of bounds). Indices
need not be sorted; empty rows, explicit zeros and duplicate entries are fine
(duplicates add, as in scipy).

Each evaluation walks the stored values once. Rows are split into ``n_chunks``
contiguous chunks (one per thread, ``prange``) whose boundaries are chosen from
``indptr`` so that every chunk holds about the same number of non-zeros plus rows;
inside a chunk, rows are processed in blocks of ``block_rows``:

1. ``z_i = sum_k data[k] w[indices[k]] + b`` for each row of the block, in float64;
2. the per-row maths over the whole block (the vectorised exp/log1p of
   :mod:`._elementary`, as in the dense kernels);
3. the gradient scatter ``dw[indices[k]] += dz_i data[k]``, while the block's rows are
   still in cache.

Each chunk accumulates into its own float64 partial ``dw``; the partials are added in
chunk order afterwards, so a result depends only on the data and ``n_threads``.

Very wide X (many features)
---------------------------
A dense per-chunk partial costs ``n_features`` float64 of memory per chunk and, per
evaluation, a pass to zero it and one to add it in. Strategy:

* chunk 0 accumulates straight into the output ``dw``, so one thread needs no partial
  at all and ``n`` chunks need ``n - 1`` partials (memory ``(n - 1) * n_features * 8``
  bytes, inside the ``n_threads * n_features * 8`` the memory target allows);
* the partials are allocated by the driver with ``np.zeros``: large ones come from the
  system as zero pages (NumPy asks for huge pages), so there is no separate zeroing
  pass, and each page is first touched by the thread that owns the chunk; the
  partials are added in chunk order by NumPy in the calling thread when small
  (``SERIAL_ADD_MAX_ELEMENTS``), by a parallel kernel over blocks of columns when
  large (each column still summed in chunk order: the same bits either way);
* a second chunk is used only when the rows hold at least
  ``MIN_NNZ_PER_PARTIAL_COLUMN`` non-zeros per feature; below that (few, wide rows:
  O(n_features) bookkeeping would cost more than the scatter it parallelises) the
  kernel runs on one chunk.

Rough measurement (2-core AMD EPYC VM shared with other jobs, so the two-thread
timings were not usable: a second thread often waited a scheduler tick, 12-16 ms, for
a free core): 1,000,000 rows of 30 non-zeros, float64, log-uniform (Zipf-like)
columns, one binary evaluation on one thread, against the scipy reference's two
products (``X @ w``, ``X.T @ dz``) in the same run:

============  ===============  ===============  ===============================
n_features    fused, 1 thread  scipy reference  allocate, touch and add dw and
                                                one partial (measured alone)
============  ===============  ===============  ===============================
100,000       40 ms            76 ms            0.04 ms
1,000,000     61 ms            82 ms            0.33 ms
10,000,000    214 ms           241 ms           12 ms (2 x 80 MB)
============  ===============  ===============  ===============================

In one quieter moment the 100,000-feature evaluation took 23 ms on two threads (1.85x
one thread, 3.0x the scipy reference, 15.7 GB/s of data and indices).

So even at 10^7 features a second partial costs about 6% of a one-thread pass, paid
once per evaluation, and its memory stays within the allowance; with 30 non-zeros per
feature or fewer the pass itself is dominated by random access to ``w`` and ``dw``.
Per-chunk lists of touched columns were considered and not taken: with word-like
(Zipf) columns every chunk touches a large share of the columns anyway, and the lists
would cost a scatter of their own.

The multinomial kernel keeps ``W`` transposed, shape (n_features, n_classes), so that
the K weights of one stored value are contiguous for both the forward pass and the
scatter; every chunk has a (n_features, n_classes) partial, chunk 0's receives the
others and is then copied, transposed, into the output.

Compile options: as the dense kernels (see :mod:`._elementary`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._elementary import _FASTMATH, _binary_rows_block, _softmax_rows_block
from ._threads import n_threads_for, sample_weights, thread_scope

# Rows per block: 256 rows of 30 non-zeros are ~92 KB of data and indices, in L2
# between the forward pass and the scatter. Roughly measured (one thread, 500,000 x
# 100,000, 30 per row, shared machine): 64 rows 2.24 ns per non-zero, 128 2.10,
# 256 2.04, 512 2.00, 1024 2.08 (float64); float32 alike.
BLOCK_ROWS = 256

# Chunk boundaries balance "non-zeros + ROW_COST * rows" (the per-row maths and loop
# overhead, in units of one stored value).
ROW_COST = 4

# The partials are added by NumPy in the calling thread up to this many elements
# (about a millisecond), above it by a parallel kernel in blocks of REDUCE_BLOCK.
SERIAL_ADD_MAX_ELEMENTS = 1_000_000
REDUCE_BLOCK = 16384

# See the module docstring ("Very wide X").
MIN_NNZ_PER_PARTIAL_COLUMN = 1.0


# ---------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------


# Indexing note for the loops below. Numba wraps negative indices around, so with a
# signed loop variable that LLVM cannot prove non-negative (k from indptr[i] to
# indptr[i + 1]) every data[k] and indices[k] carries a select, and the vectorised
# loop turned those contiguous loads into gathers. The loops therefore run over
# row slices (data[lo:hi], t from 0), and the column indices are read as unsigned
# (they are checked non-negative beforehand). Roughly measured (one thread, 300,000
# rows of 30, 100,000 features, float64): forward 1.92 -> 1.09 ns per non-zero,
# scatter 2.05 -> 1.67.


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy", inline="always")
def _row_dot(d, ix, v):
    """sum_t d[t] * v[ix[t]] in float64, for one row's values d and columns ix.

    d  # IN (m,) the row's stored values; ix  # IN (m,) their columns
    v  # IN (n_features,) float64 (may be strided, e.g. a column of W^T)
    Four accumulators: one chain of dependent additions costs an add latency per
    stored value (roughly 1.37 against 1.09 ns per non-zero, float64).
    """
    m = d.shape[0]
    a0 = 0.0
    a1 = 0.0
    a2 = 0.0
    a3 = 0.0
    t = 0
    while t + 4 <= m:
        a0 += d[t] * v[np.uint64(ix[t])]
        a1 += d[t + 1] * v[np.uint64(ix[t + 1])]
        a2 += d[t + 2] * v[np.uint64(ix[t + 2])]
        a3 += d[t + 3] * v[np.uint64(ix[t + 3])]
        t += 4
    while t < m:
        a0 += d[t] * v[np.uint64(ix[t])]
        t += 1
    return (a0 + a1) + (a2 + a3)


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _csr_dot_rows(data, indices, indptr, r0, n, w, b, z):
    """z[:n] = X[r0:r0 + n] @ w + b, accumulated in float64.

    data, indices, indptr  # IN the CSR arrays of X
    w  # IN (n_features,) float64; b  # IN float64
    z  # OUT (>= n,) float64
    """
    for r in range(n):
        lo = indptr[r0 + r]
        hi = indptr[r0 + r + 1]
        z[r] = b + _row_dot(data[lo:hi], indices[lo:hi], w)


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _csr_scatter_rows(data, indices, indptr, r0, n, dz, acc):
    """acc += dz[:n] @ X[r0:r0 + n] (duplicates add).

    dz  # IN (>= n,) float64 row coefficients
    acc  # IN/OUT (n_features,) float64
    """
    for r in range(n):
        dr = dz[r]
        lo = indptr[r0 + r]
        hi = indptr[r0 + r + 1]
        d = data[lo:hi]
        ix = indices[lo:hi]
        for t in range(hi - lo):
            acc[np.uint64(ix[t])] += dr * d[t]


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_csr_kernel(
    data,  # IN (nnz,) float32 or float64
    indices,  # IN (nnz,) int32 or int64, columns in [0, n_features)
    indptr,  # IN (n_samples + 1,) same dtype as indices
    y,  # IN (n_samples,) {0, 1}
    s,  # IN (n_samples,) sample weights (ignored unless has_sw)
    has_sw,  # IN bool
    w,  # IN (n_features,) float64
    b,  # IN float64
    bounds,  # IN (n_chunks + 1,) int64, first row of each chunk, then n_samples
    block_rows,  # IN rows per block
    dw,  # OUT (n_features,) float64, zeros on entry: chunk 0's partial
    part,  # OUT (n_chunks - 1, n_features) float64, zeros on entry: chunks 1, 2, ...
):
    """Fills the partials dw, part[0], part[1], ... and returns sc (n_chunks, 2) =
    [db, J] per chunk; the caller adds them up in chunk order (:func:`_add_in_order`)."""
    n_chunks = bounds.shape[0] - 1
    sc = np.zeros((n_chunks, 2))
    for c in prange(n_chunks):
        acc = dw if c == 0 else part[c - 1]
        zb = np.empty(block_rows)
        tb = np.empty(block_rows)
        bits = np.empty(block_rows, dtype=np.int64)
        dzb = np.empty(block_rows)
        lb = np.empty(block_rows)
        db = 0.0
        J = 0.0
        for r0 in range(bounds[c], bounds[c + 1], block_rows):
            nb = min(bounds[c + 1] - r0, block_rows)
            _csr_dot_rows(data, indices, indptr, r0, nb, w, b, zb)
            _binary_rows_block(zb, y, s, has_sw, r0, nb, tb, bits, dzb, lb)
            for r in range(nb):
                J += lb[r]
                db += dzb[r]
            _csr_scatter_rows(data, indices, indptr, r0, nb, dzb, acc)
        sc[c, 0] = db
        sc[c, 1] = J
    return sc


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _multinomial_csr_kernel(
    data,  # IN (nnz,) float32 or float64
    indices,  # IN (nnz,) int32 or int64
    indptr,  # IN (n_samples + 1,) same dtype as indices
    y,  # IN (n_samples,) class indices in [0, n_classes)
    s,  # IN (n_samples,) sample weights (ignored unless has_sw)
    has_sw,  # IN bool
    WT,  # IN (n_features, n_classes) float64, W transposed
    B,  # IN (n_classes,) float64
    bounds,  # IN (n_chunks + 1,) int64
    block_rows,  # IN
    part,  # OUT (n_chunks, n_features, n_classes) float64, zeros on entry: partial dW^T
):
    """Fills the partials and returns sc (n_chunks, n_classes + 1) = [dB_0, ...,
    dB_{K-1}, J] per chunk; the caller adds the partials up in chunk order."""
    n_chunks = bounds.shape[0] - 1
    p, K = WT.shape
    sc = np.zeros((n_chunks, K + 1))
    for c in prange(n_chunks):
        acc = part[c]
        Zb = np.empty(block_rows * K)
        Eb = np.empty(block_rows * K)
        bits = np.empty(block_rows * K, dtype=np.int64)
        zmax = np.empty(block_rows)
        Sb = np.empty(2 * block_rows)
        dB = np.zeros(K)
        J = 0.0
        for r0 in range(bounds[c], bounds[c + 1], block_rows):
            nb = min(bounds[c + 1] - r0, block_rows)
            for r in range(nb):  # forward pass: z_i = W x_i + B
                lo = indptr[r0 + r]
                hi = indptr[r0 + r + 1]
                d = data[lo:hi]
                ix = indices[lo:hi]
                for k in range(K):
                    # one class at a time, with _row_dot's four accumulators: the
                    # row's W^T lines stay in L1 after the first class. Roughly
                    # measured, this forward pass is 2x faster than all classes per
                    # stored value (whose K running sums go through memory) for
                    # K = 3 or 5, 1.4x for K = 10; the whole K = 5 evaluation 1.35x.
                    Zb[r * K + k] = B[k] + _row_dot(d, ix, WT[:, k])
            # softmax, loss, and Eb <- d_ik = s_i (p_ik - [k == y_i])
            J = _softmax_rows_block(Zb, zmax, y, s, has_sw, r0, nb, K, Eb, bits, Sb, dB, J)
            for r in range(nb):  # scatter, the block still in cache
                lo = indptr[r0 + r]
                hi = indptr[r0 + r + 1]
                d = data[lo:hi]
                ix = indices[lo:hi]
                for t in range(hi - lo):
                    x = np.float64(d[t])
                    col = np.uint64(ix[t])
                    for k in range(K):
                        acc[col, k] += Eb[r * K + k] * x
        for k in range(K):
            sc[c, k] = dB[k]
        sc[c, K] = J
    return sc


@njit(parallel=True, cache=True, error_model="numpy")
def _add_partials(
    out,  # IN/OUT (n,) float64
    part,  # IN (n_parts, n) float64
    col_block,  # IN elements per block
):
    """out += part[0]; out += part[1]; ... (in that order for every element, so the
    result is the same as NumPy's in-place adds), parallel over blocks of elements.
    No fastmath: plain IEEE additions."""
    n = out.shape[0]
    n_blocks = (n + col_block - 1) // col_block
    for jb in prange(n_blocks):
        j0 = jb * col_block
        j1 = min(n, j0 + col_block)
        for c in range(part.shape[0]):
            for j in range(j0, j1):
                out[j] += part[c, j]


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _linear_predict_csr_kernel(
    data,  # IN (nnz,)
    indices,  # IN (nnz,)
    indptr,  # IN (n_samples + 1,)
    W,  # IN (n_classes, n_features) float64
    B,  # IN (n_classes,) float64
    Z,  # OUT (n_samples, n_classes)
):
    m = indptr.shape[0] - 1
    K = W.shape[0]
    for i in prange(m):
        lo = indptr[i]
        hi = indptr[i + 1]
        d = data[lo:hi]
        ix = indices[lo:hi]
        for k in range(K):
            Z[i, k] = _row_dot(d, ix, W[k]) + B[k]


# ---------------------------------------------------------------------------------
# Drivers
# ---------------------------------------------------------------------------------


def _csr_arrays(X):
    """(data, indices, indptr) of X as C-contiguous arrays the kernels are compiled for.

    Values become float64 unless float32; indices and indptr get one common integer
    dtype (int32 or int64), so that each kernel has at most four compiled variants.
    """
    if getattr(X, "format", None) != "csr":
        raise TypeError(
            f"The Numba sparse kernels take CSR input, got {type(X).__name__}; "
            "convert once with X.tocsr()."
        )
    data, indices, indptr = X.data, X.indices, X.indptr
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    kinds = (np.int32, np.int64)
    if indices.dtype not in kinds or indptr.dtype not in kinds:
        indices, indptr = indices.astype(np.int64), indptr.astype(np.int64)
    elif indices.dtype != indptr.dtype:
        # scipy keeps the two equal; a mix is converted, the short indptr if it can be.
        if indptr[-1] <= np.iinfo(indices.dtype).max:
            indptr = indptr.astype(indices.dtype)
        else:
            indices = indices.astype(indptr.dtype)
    return (np.ascontiguousarray(data), np.ascontiguousarray(indices),
            np.ascontiguousarray(indptr))


def _chunk_bounds(indptr, n_chunks, row_cost=ROW_COST):
    """Row boundaries (n_chunks + 1,) int64 splitting rows into contiguous chunks of
    about equal cost ``non-zeros + row_cost * rows`` (a bisection per boundary on the
    increasing ``indptr[r] + row_cost * r``, without a temporary of n_samples)."""
    m = indptr.shape[0] - 1
    total = int(indptr[m]) + row_cost * m
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    bounds[0], bounds[n_chunks] = 0, m
    lo = 0
    for c in range(1, n_chunks):
        target = (total * c) // n_chunks
        hi = m
        while lo < hi:  # first r with cost(r) >= target
            mid = (lo + hi) // 2
            if int(indptr[mid]) + row_cost * mid < target:
                lo = mid + 1
            else:
                hi = mid
        bounds[c] = lo
    return bounds


def _add_in_order(out, part):
    """out += part[0] + part[1] + ..., in that order (deterministic)."""
    if part.shape[0] == 0:
        return
    if part.size <= SERIAL_ADD_MAX_ELEMENTS:
        for c in range(part.shape[0]):
            out += part[c]
    else:
        _add_partials(out, part, REDUCE_BLOCK)


def _n_chunks(n_samples, nnz, n_features, n_threads):
    """Chunks for a sums kernel: one per thread, fewer for few rows or very wide X."""
    n = min(n_threads, max(1, n_samples))
    if n > 1 and nnz < MIN_NNZ_PER_PARTIAL_COLUMN * n_features:
        n = 1
    return n


def binary_sums(X, y, sample_weight, w, b, n_threads=None, block_rows=BLOCK_ROWS,
                n_chunks=None):
    """Binary loss sums for CSR X; see :mod:`fastlr.backends` for the contract.

    ``block_rows`` and ``n_chunks`` (default: chosen by :func:`_n_chunks`) are exposed
    for tests and tuning.
    """
    data, indices, indptr = _csr_arrays(X)
    m, p = X.shape
    n_threads = n_threads_for(n_threads, int(indptr[-1]))
    y = np.asarray(y, dtype=data.dtype)
    s, has_sw = sample_weights(sample_weight, data.dtype)
    w = np.ascontiguousarray(w, dtype=np.float64)
    if n_chunks is None:
        n_chunks = _n_chunks(m, int(indptr[-1]), p, n_threads)
    bounds = _chunk_bounds(indptr, n_chunks)
    # Allocated here, not in the kernel: NumPy asks for huge pages on large arrays
    # (fewer page faults and TLB misses) and np.zeros gets them zeroed by the system.
    dw = np.zeros(p)
    part = np.zeros((n_chunks - 1, p))
    with thread_scope(n_threads):
        sc = _binary_csr_kernel(data, indices, indptr, y, s, has_sw, w, float(b),
                                bounds, block_rows, dw, part)
        _add_in_order(dw, part)
    del part
    tot = sc[0].copy()
    for c in range(1, sc.shape[0]):  # fixed order: deterministic
        tot += sc[c]
    return float(tot[1]), dw, float(tot[0])


def multinomial_sums(X, y, sample_weight, W, B, n_threads=None, block_rows=BLOCK_ROWS,
                     n_chunks=None):
    """Multinomial loss sums for CSR X; see :mod:`fastlr.backends` for the contract."""
    data, indices, indptr = _csr_arrays(X)
    m, p = X.shape
    K = W.shape[0]
    n_threads = n_threads_for(n_threads, int(indptr[-1]) * K)
    y = np.asarray(y, dtype=np.intp)
    s, has_sw = sample_weights(sample_weight, data.dtype)
    WT = np.ascontiguousarray(np.asarray(W, dtype=np.float64).T)
    B = np.ascontiguousarray(B, dtype=np.float64)
    if n_chunks is None:
        n_chunks = _n_chunks(m, int(indptr[-1]), p, n_threads)
    bounds = _chunk_bounds(indptr, n_chunks)
    part = np.zeros((n_chunks, p, K))
    with thread_scope(n_threads):
        sc = _multinomial_csr_kernel(data, indices, indptr, y, s, has_sw, WT, B,
                                     bounds, block_rows, part)
        _add_in_order(part[0].reshape(-1), part[1:].reshape(n_chunks - 1, p * K))
    dW = np.ascontiguousarray(part[0].T)
    del part
    tot = sc[0].copy()
    for c in range(1, sc.shape[0]):
        tot += sc[c]
    return float(tot[K]), dW, tot[:K].copy()


def linear_predict(X, W, B, n_threads=None):
    """``X W^T + B`` for CSR X: (n_samples, n_classes), dtype of X's values."""
    data, indices, indptr = _csr_arrays(X)
    W = np.ascontiguousarray(np.atleast_2d(W), dtype=np.float64)
    B = np.ascontiguousarray(np.atleast_1d(B), dtype=np.float64)
    n_threads = n_threads_for(n_threads, int(indptr[-1]) * W.shape[0])
    Z = np.empty((X.shape[0], W.shape[0]), dtype=data.dtype)
    with thread_scope(n_threads):
        _linear_predict_csr_kernel(data, indices, indptr, W, B, Z)
    return Z
