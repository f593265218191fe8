"""Dense Numba kernels of the multinomial model, and the scores of every dense
prediction.

The multinomial pass is :mod:`.dense`'s binary pass with K classes: ``n_chunks``
contiguous chunks of rows, one per thread, each walked in blocks of ``BLOCK_ROWS``
rows: the scores ``Z_blk = X_blk W^T + B`` four rows and two classes at a time in
registers (:func:`._simd.dot_tile`), the softmax, loss and ``D = softmax - onehot``
over the block (:func:`._elementary._softmax_rows_block`), then ``dW += D^T X_blk``
with strips of dW in registers (:func:`._simd.grad_group_4` and its kin) while the
block is still in cache. Partials per chunk, added in chunk order afterwards, as in
:mod:`.dense`.

``linear_predict`` (``X W^T + B``) and ``predict_classes`` (the classes several
models predict for listed rows, without storing their scores) read X with the same
score tiles; a binary model's ``linear_predict`` has a plain kernel of its own.
:mod:`.folds` uses the block scores and gradient for several folds' models at once.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._elementary import _FASTMATH, _softmax_rows_block
from ._simd import (LANES, dot_tile, grad_group_1, grad_group_1p, grad_group_2, grad_group_2p,
                    grad_group_4, grad_group_4p)
from ._threads import n_threads_for, sample_weights, thread_scope
from .dense import BLOCK_ROWS, _listed_block, _listed_rows, _n_chunks

# ---------------------------------------------------------------------------------
# Fused kernels
# ---------------------------------------------------------------------------------


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _multinomial_scores(X, r0, n, W, B, Z):
    """Z[r K + k] = X[r0 + r] . W[k] + B[k] for r < n.

    Four rows and two classes at a time in registers (:func:`._simd.dot_tile`);
    with an odd number of classes the last pair overlaps the one before it, with
    rows past a multiple of four the last four rows overlap the ones before: a
    row's scores are the same whichever block it is in, as long as that block has
    four rows or more. Fewer rows, X narrower than one vector or a single class: one
    dot product at a time.
    """
    K, p = W.shape
    if p >= LANES and K >= 2 and n >= 4:
        for r4 in range(0, n, 4):
            r = min(r4, n - 4)
            for k2 in range(0, K, 2):
                k = min(k2, K - 2)
                t = dot_tile(X, r0 + r, W, k, n if k2 == 0 else 0)
                i = r * K + k
                for q in range(4):
                    Z[i + q * K] = t[2 * q] + B[k]
                    Z[i + q * K + 1] = t[2 * q + 1] + B[k + 1]
        return
    for r in range(n):
        xr = X[r0 + r]
        for k in range(K):
            wk = W[k]
            acc = 0.0
            for j in range(p):
                acc += xr[j] * wk[j]
            Z[r * K + k] = acc + B[k]


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _multinomial_accumulate(X, r0, n, D, dW):
    """dW[k] += sum_r D[r K + k] X[r0 + r] for r < n.

    Four classes at a time (then two, then one), each strip of their columns of dW
    held in registers over all n rows (:func:`._simd.grad_group_4`); X narrower
    than one vector row by row.
    """
    K, p = dW.shape
    if p >= LANES:
        if K >= 4:
            grad_group_4p(X, r0, n, D, K, 0, dW)
            k = 4
        elif K >= 2:
            grad_group_2p(X, r0, n, D, K, 0, dW)
            k = 2
        else:
            grad_group_1p(X, r0, n, D, K, 0, dW)
            k = 1
        while k + 4 <= K:
            grad_group_4(X, r0, n, D, K, k, dW)
            k += 4
        if k + 2 <= K:
            grad_group_2(X, r0, n, D, K, k, dW)
            k += 2
        if k < K:
            grad_group_1(X, r0, n, D, K, k, dW)
        return
    for r in range(n):
        xr = X[r0 + r]
        for k in range(K):
            d = D[r * K + k]
            dk = dW[k]
            for j in range(p):
                dk[j] += d * xr[j]


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _multinomial_sums_kernel(
    X,  # IN (n_samples, n_features)
    y,  # IN (n_samples,) class indices
    s,  # IN (n_samples,) sample weights (ignored unless has_sw)
    has_sw,  # IN bool
    W,  # IN (n_classes, n_features) float64
    B,  # IN (n_classes,) float64
    rows,  # IN None (all rows) or (n_rows,) int, the rows to sum over, increasing
    n_chunks,  # IN
    block_rows,  # IN
):
    """Returns partials (n_chunks, n_classes, n_features + 2): [dW_k..., dB_k, J].
    With ``rows``, the chunks split the list, each block read in place or gathered
    (:func:`.dense._listed_block`), as in :func:`.dense._binary_chunk`."""
    m = X.shape[0] if rows is None else rows.shape[0]
    p = X.shape[1]
    K = W.shape[0]
    part = np.zeros((n_chunks, K, p + 2))
    chunk = (m + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(m, start + chunk)
        Zb = np.empty(block_rows * K)
        Eb = np.empty(block_rows * K)
        bits = np.empty(block_rows * K, dtype=np.int64)
        zmax = np.empty(block_rows)
        Sb = np.empty(2 * block_rows)
        Xb = np.empty((block_rows if rows is not None else 0, p), dtype=X.dtype)
        yb = np.empty(block_rows, dtype=y.dtype)
        sb = np.empty(block_rows, dtype=s.dtype)
        dW = np.zeros((K, p))
        dB = np.zeros(K)
        J = 0.0
        for i0 in range(start, stop, block_rows):
            nb = min(stop - i0, block_rows)
            if rows is None:
                Xr, yr, sr, r0 = X, y, s, i0
            else:
                Xr, yr, sr, r0 = _listed_block(X, y, s, has_sw, rows, i0, nb, Xb, yb, sb)
            _multinomial_scores(Xr, r0, nb, W, B, Zb)
            J = _softmax_rows_block(Zb, zmax, yr, sr, has_sw, r0, nb, K, Eb, bits, Sb, dB, J)
            _multinomial_accumulate(Xr, r0, nb, Eb, dW)  # the block still in cache
        for k in range(K):
            for j in range(p):
                part[c, k, j] = dW[k, j]
            part[c, k, p] = dB[k]
        part[c, 0, p + 1] = J
    return part


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _linear_predict_one_kernel(X, w, b, z):
    """z = X w + b for a single model (binary): one dot product per row, the
    scores' plain path (:func:`_multinomial_scores` with one class), in a kernel of
    its own so that a binary model's first predict does not compile the tiles
    (0.67 s against 1.40 s, cold cache)."""
    p = X.shape[1]
    for i in prange(X.shape[0]):
        acc = 0.0
        for j in range(p):
            acc += X[i, j] * w[j]
        z[i] = acc + b


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _linear_predict_kernel(
    X,  # IN (n_samples, n_features) C-contiguous
    W,  # IN (n_classes, n_features) float64
    B,  # IN (n_classes,) float64
    n_chunks,  # IN
    block_rows,  # IN
    Z,  # OUT (n_samples, n_classes)
):
    """Z = X W^T + B, block by block (:func:`_multinomial_scores`)."""
    m = X.shape[0]
    G = W.shape[0]
    chunk = (m + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        Zb = np.empty(block_rows * G)
        for r0 in range(c * chunk, min(m, (c + 1) * chunk), block_rows):
            nb = min(min(m, (c + 1) * chunk) - r0, block_rows)
            _multinomial_scores(X, r0, nb, W, B, Zb)
            for r in range(nb):
                for g in range(G):
                    Z[r0 + r, g] = Zb[r * G + g]


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _predict_classes_rows_kernel(X, rows, W, B, K, n_chunks, block_rows, out):
    """out[i, g] = the class the g-th model of W predicts for X[rows[i]]: models of K
    rows of W each, ``argmax_k`` of their scores (the first of equal ones), or for
    K = 1 (binary) 1 where the score is > 0. The scores are
    :func:`_linear_predict_kernel`'s (:func:`_multinomial_scores` of blocks of the
    listed rows, read in place or gathered, rounded to X's dtype), never stored."""
    n = rows.shape[0]
    G = W.shape[0]
    p = X.shape[1]
    n_groups = G // K
    chunk = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        Zb = np.empty(block_rows * G)
        Xb = np.empty((block_rows, p), dtype=X.dtype)
        z = np.empty(G, dtype=X.dtype)
        stop = min(n, (c + 1) * chunk)
        for i0 in range(c * chunk, stop, block_rows):
            nb = min(stop - i0, block_rows)
            Xr, r0 = _listed_rows(X, rows, i0, nb, Xb)
            _multinomial_scores(Xr, r0, nb, W, B, Zb)
            for r in range(nb):
                for g in range(G):
                    z[g] = Zb[r * G + g]
                for g in range(n_groups):
                    if K == 1:
                        out[i0 + r, g] = 1 if z[g] > 0 else 0
                    else:
                        best = 0
                        top = z[g * K]
                        for k in range(1, K):
                            if z[g * K + k] > top:
                                top = z[g * K + k]
                                best = k
                        out[i0 + r, g] = best

# ---------------------------------------------------------------------------------
# Drivers
# ---------------------------------------------------------------------------------


def multinomial_sums(X, y, sample_weight, W, B, n_threads=None, block_rows=BLOCK_ROWS,
                     active_rows=None):
    """``active_rows``: as in :func:`.dense.binary_sums`. X is read in place when
    C-contiguous (the tiles of :mod:`._simd` need whole rows), else copied."""
    X = np.ascontiguousarray(X)
    n_active = X.shape[0] if active_rows is None else len(active_rows)
    n_threads = n_threads_for(n_threads, n_active * X.shape[1] * W.shape[0])
    y = np.asarray(y, dtype=np.intp)
    s, has_sw = sample_weights(sample_weight, X.dtype)
    W = np.ascontiguousarray(W, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    n_chunks = _n_chunks(n_active, n_threads, block_rows)
    rows = None if active_rows is None else np.ascontiguousarray(active_rows, dtype=np.intp)
    with thread_scope(n_threads):
        part = _multinomial_sums_kernel(X, y, s, has_sw, W, B, rows, n_chunks, block_rows)
    tot = part[0].copy()
    for c in range(1, n_chunks):
        tot += part[c]
    p = X.shape[1]
    return float(tot[0, p + 1]), tot[:, :p], tot[:, p].copy()


def linear_predict(X, W, B, n_threads=None):
    """``X W^T + B`` of shape (n_samples, n_classes), dtype of X."""
    X = np.ascontiguousarray(X)  # a copy only if it is not (the tiles need whole rows)
    n_threads = n_threads_for(n_threads, X.size * np.atleast_2d(W).shape[0])
    W = np.ascontiguousarray(np.atleast_2d(W), dtype=np.float64)
    B = np.ascontiguousarray(np.atleast_1d(B), dtype=np.float64)
    Z = np.empty((X.shape[0], W.shape[0]), dtype=X.dtype)
    n_chunks = _n_chunks(X.shape[0], n_threads, BLOCK_ROWS)
    with thread_scope(n_threads):
        if W.shape[0] == 1:
            _linear_predict_one_kernel(X, W[0], float(B[0]), Z.reshape(-1))
        else:
            _linear_predict_kernel(X, W, B, n_chunks, BLOCK_ROWS, Z)
    return Z


def predict_classes(X, W, B, group_size, rows, n_threads=None):
    """The classes that the models stacked in W (``group_size`` rows each: 1 for a
    binary model, ``n_classes`` for a multinomial one) predict for ``X[rows]``, as
    an int64 array of shape (len(rows), n_models) of class indices: one pass over
    the listed rows (read in place) for every model, instead of one per model and an
    array of scores per model."""
    X = np.ascontiguousarray(X)  # a copy only if it is not (the tiles need whole rows)
    W = np.ascontiguousarray(np.atleast_2d(W), dtype=np.float64)
    B = np.ascontiguousarray(np.atleast_1d(B), dtype=np.float64)
    rows = np.ascontiguousarray(rows, dtype=np.intp)
    n_threads = n_threads_for(n_threads, len(rows) * X.shape[1] * W.shape[0])
    out = np.empty((len(rows), W.shape[0] // group_size), dtype=np.int64)
    n_chunks = _n_chunks(len(rows), n_threads, BLOCK_ROWS)
    with thread_scope(n_threads):
        _predict_classes_rows_kernel(X, rows, W, B, int(group_size), n_chunks, BLOCK_ROWS,
                                     out)
    return out
