"""The Hessian for Newton's method on dense X: one pass, blocked, on BLAS's dsyrk.

The gradient needs two multiply-adds per element of X; the Hessian ``X^T diag(h) X``
needs ``n_features / 2`` per element (``n_features^2 / 2`` per row), so it is
compute-bound where the gradient is memory-bound, and the fastest code for it is a
register-blocked symmetric rank-k update: BLAS's ``?syrk``. One pass over X, block of
rows by block of rows (about 2 MB each, so the block stays in cache between its uses).

Binary (:func:`binary_hessian_sums`): the rows are split into one chunk per thread
(``prange``), each chunk with its own float64 partials of ``H``, ``[dw, db]`` and ``J``
(added in chunk order afterwards: deterministic for a given thread count). For each
block of its rows a chunk

1. takes ``z = x_i . w + b`` and the per-row maths (the vectorised exp/log of
   :mod:`._elementary`): the loss, ``dz = s (a - y)``, ``h = s a (1 - a)``;
2. adds ``dz_i [x_i, 1]`` to its gradient and writes ``A = diag(sqrt(h)) [X_blk, 1]``
   into a float64 buffer (the column of ones is always there; without an intercept
   its row and column of ``H`` are dropped);
3. calls ``dsyrk`` (``H += A^T A``, one triangle, single-threaded: the threads are
   Numba's), through scipy's Cython BLAS, declared to Numba as an external function
   so that the kernel stays in Numba's disk cache.

Everything is accumulated in float64, whatever X's dtype. Multinomial: the row's
curvature is the K x K matrix ``s (diag(p) - p p^T)``, and::

    sum_r (diag(p_r) - p_r p_r^T) (x) a_r a_r^T
        = sum_k  A^T diag(s p_k) A  (the diagonal blocks)  -  G^T G,

with ``G`` the block's rows ``sqrt(s_r) p_r (x) a_r`` (K * q columns): K small syrks
and one large one per block, from Python (:func:`multinomial_hessian_sums`), BLAS on
``n_threads`` threads (all of Numba's by default) through threadpoolctl; the per-row
maths in NumPy. The Hessian is assembled in (class, feature) order and permuted once,
at the end, to the flat vector's order ``[W.ravel(), B]``. Results do not depend on
the block size beyond rounding.
"""

from __future__ import annotations

import numpy as np
from llvmlite import binding
from numba import njit, prange, types
from numba.extending import get_cython_function_address
from scipy.linalg.blas import dsyrk

from ._elementary import _FASTMATH, _binary_rows_block
from ._threads import n_threads_for, sample_weights, thread_scope

# Bytes of the float64 block buffer: 2 MB stays in the L2/L3 cache between the
# gemv, the scaling and the syrk. 1, 2 and 4 MB measured within 5% at 1,000,000 x 100.
BLOCK_BYTES = 2 * 2**20


def _block_rows(width):
    return max(64, BLOCK_BYTES // (8 * max(width, 1)))


def _blas_threads(n_threads):
    """BLAS on ``n_threads`` threads (None: as many as Numba's), also inside a fit that
    holds BLAS to one thread while the Numba kernels run."""
    from numba import config

    from ..._blas import blas_limit

    return blas_limit(int(n_threads or config.NUMBA_NUM_THREADS))


# BLAS's dsyrk from scipy's Cython BLAS (the same OpenBLAS as scipy.linalg.blas), which
# the Numba kernels call from every thread. It is registered with LLVM under a name of
# its own and declared as an external function, so the kernels refer to it by name (a
# ctypes pointer would be a "dynamic global" and keep them out of Numba's disk cache).
# Fortran convention: every argument by address (pointers passed as integers).
binding.add_symbol("fastlr_cython_blas_dsyrk",
                   get_cython_function_address("scipy.linalg.cython_blas", "dsyrk"))
_dsyrk = types.ExternalFunction("fastlr_cython_blas_dsyrk",
                                types.void(*[types.uintp] * 10))


@njit(nogil=True, cache=True)
def _syrk_lower(A, m, H, ints, reals, chars):
    """H += A[:m]^T A[:m] into H's lower triangle (row-major view), single call to dsyrk.

    A  # IN (>= m, q) C-ordered float64 (column-major: A^T, q x m, leading dimension q)
    H  # IN/OUT (q, q) C-ordered float64 (column-major: its upper triangle is updated)
    ints, reals, chars  # SCRATCH (4,) int32, (2,) float64, (2,) uint8
    """
    q = A.shape[1]
    ints[0] = q
    ints[1] = m
    ints[2] = q
    ints[3] = q
    reals[0] = 1.0
    reals[1] = 1.0
    chars[0] = 85  # "U"
    chars[1] = 78  # "N": C = alpha A^T (A^T)^T + beta C in column-major terms
    _dsyrk(chars[0:].ctypes.data, chars[1:].ctypes.data, ints[0:].ctypes.data,
               ints[1:].ctypes.data, reals[0:].ctypes.data, A.ctypes.data,
               ints[2:].ctypes.data, reals[1:].ctypes.data, H.ctypes.data,
               ints[3:].ctypes.data)


def _syrk(A, H, alpha=1.0):
    """H (upper triangle) += alpha A^T A, in place; A C-ordered (m, q), H F-ordered."""
    dsyrk(alpha, A.T, beta=1.0, c=H, trans=0, lower=0, overwrite_c=1)


def _mirror(H):
    """The full symmetric matrix from its upper triangle, C-ordered."""
    upper = np.triu(H)
    return np.ascontiguousarray(upper + np.triu(H, 1).T)


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_block(X, r0, m, coef, y, s, has_sw, A, grad, z, t, bits, dz, loss):
    """Steps 1-3 and the scaling of step 4 for the block of rows r0 .. r0 + m.

    X  # IN (n_samples, n_features); coef  # IN (n_features + 1,) float64 [w, b]
    y, s  # IN (n_samples,) labels and sample weights (s unused unless has_sw)
    A  # OUT (>= m, n_features + 1) float64: sqrt(h_i) [x_i, 1]
    grad  # IN/OUT (n_features + 1,) float64: += sum_i dz_i [x_i, 1]
    z, t, bits, dz, loss  # SCRATCH (>= m,)
    Returns the block's summed loss.
    """
    p = X.shape[1]
    for i in range(m):
        xi = X[r0 + i]
        acc = 0.0
        for j in range(p):
            acc += np.float64(xi[j]) * coef[j]
        z[i] = acc + coef[p]
    _binary_rows_block(z, y, s, has_sw, r0, m, t, bits, dz, loss)  # t = exp(-|z|)
    J = 0.0
    for i in range(m):
        J += loss[i]
        u = 1.0 + t[i]
        h = t[i] / (u * u)  # a (1 - a), either sign of z
        if has_sw:
            h *= np.float64(s[r0 + i])
        r = np.sqrt(h)
        d = dz[i]
        xi = X[r0 + i]
        Ai = A[i]
        for j in range(p):
            v = np.float64(xi[j])
            grad[j] += d * v
            Ai[j] = r * v
        grad[p] += d
        Ai[p] = r
    return J


@njit(parallel=True, nogil=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_hessian_kernel(X, coef, y, s, has_sw, n_chunks, block_rows, H_parts,
                           g_parts, J_parts):
    """Steps 1-4 over row chunks, one per thread, each calling single-threaded dsyrk.

    X  # IN (n_samples, n_features); coef  # IN (n_features + 1,) float64 [w, b]
    H_parts  # OUT (n_chunks, q, q) float64, q = n_features + 1: each chunk's sum of
             # A^T A, lower triangle (row-major), the rest zero
    g_parts  # OUT (n_chunks, q) float64; J_parts  # OUT (n_chunks,) float64
    """
    n = X.shape[0]
    q = X.shape[1] + 1
    per_chunk = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        r_end = min(n, (c + 1) * per_chunk)
        A = np.empty((block_rows, q))
        z = np.empty(block_rows)
        t = np.empty(block_rows)
        dz = np.empty(block_rows)
        loss = np.empty(block_rows)
        bits = np.empty(block_rows, dtype=np.int64)
        ints = np.empty(4, dtype=np.int32)
        reals = np.empty(2)
        chars = np.empty(2, dtype=np.uint8)
        J = 0.0
        r0 = c * per_chunk
        while r0 < r_end:
            m = min(block_rows, r_end - r0)
            J += _binary_block(X, r0, m, coef, y, s, has_sw, A, g_parts[c], z, t, bits,
                               dz, loss)
            _syrk_lower(A, m, H_parts[c], ints, reals, chars)
            r0 += m
        J_parts[c] = J


def binary_hessian_sums(X, y, sample_weight, w, b, fit_intercept=True, n_threads=None):
    """See :mod:`fastlr.backends`: ``(J_sum, dw_sum, db_sum, H_sum)``.

    X  # IN (n_samples, n_features) float32 or float64, C-contiguous
    y  # IN (n_samples,) {0, 1}; sample_weight  # IN (n_samples,) or None
    """
    n, p = X.shape
    q = p + 1  # the intercept's column is always there; dropped from H without one
    coef = np.zeros(q)
    coef[:p] = w
    coef[p] = b
    rows = min(_block_rows(q), max(n, 1))
    n_chunks = n_threads_for(n_threads, X.size * max(1, q // 8))
    n_chunks = max(1, min(n_chunks, -(-n // rows)))
    s, has_sw = sample_weights(sample_weight, X.dtype)
    H_parts = np.zeros((n_chunks, q, q))
    g_parts = np.zeros((n_chunks, q))
    J_parts = np.zeros(n_chunks)
    with _blas_threads(1), thread_scope(n_chunks):
        _binary_hessian_kernel(X, coef, y, s, has_sw, n_chunks, rows, H_parts, g_parts,
                               J_parts)
    H = _sum_in_order(H_parts)
    grad = _sum_in_order(g_parts)
    H = np.tril(H) + np.tril(H, -1).T
    q_out = p + int(fit_intercept)
    return (float(_sum_in_order(J_parts)), grad[:p].copy(), float(grad[p]),
            np.ascontiguousarray(H[:q_out, :q_out]))


def binary_hessian_cols(X, sample_weight, w, b, cols, fit_intercept=True,
                        n_threads=None):
    """The binary Hessian over the features ``cols`` and the intercept (see
    :mod:`fastlr.backends`): ``z`` from the parallel dense kernel, then, block of rows
    by block of rows, ``A = diag(sqrt(h)) [X_blk[:, cols], 1]`` and BLAS's ``dsyrk``
    on ``n_threads`` threads. Extra memory: one block (about ``BLOCK_BYTES``)."""
    from .dense_multinomial import linear_predict

    cols = np.asarray(cols, dtype=np.intp)
    n = X.shape[0]
    m = len(cols)
    q = m + 1
    z = linear_predict(X, np.asarray(w)[None, :], b, n_threads=n_threads)[:, 0]
    z = z.astype(np.float64)  # in X's dtype: ample for curvature weights
    t = np.exp(-np.abs(z))
    h = t / ((1.0 + t) * (1.0 + t))  # a (1 - a), either sign of z
    if sample_weight is not None:
        h *= sample_weight
    r = np.sqrt(h)
    H = np.zeros((q, q), order="F")
    rows = min(_block_rows(q), max(n, 1))
    A = np.empty((rows, q))
    with _blas_threads(n_threads):
        for r0 in range(0, n, rows):
            k = min(rows, n - r0)
            blk = A[:k]
            np.multiply(X[r0:r0 + k][:, cols], r[r0:r0 + k, None], out=blk[:, :m])
            blk[:, m] = r[r0:r0 + k]
            _syrk(blk, H)
    H = _mirror(H)
    q_out = m + int(fit_intercept)
    return np.ascontiguousarray(H[:q_out, :q_out])


def _sum_in_order(parts):
    """parts[0] + parts[1] + ..., in that order (deterministic per chunk count)."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def multinomial_hessian_sums(X, y, sample_weight, W, B, fit_intercept=True,
                             n_threads=None):
    """See :mod:`fastlr.backends`: ``(J_sum, dW_sum, dB_sum, H_sum)``.

    X  # IN (n_samples, n_features) float32 or float64, C-contiguous
    y  # IN (n_samples,) class indices; sample_weight  # IN (n_samples,) or None
    W  # IN (n_classes, n_features); B  # IN (n_classes,)
    """
    n, p = X.shape
    K = W.shape[0]
    q = p + 1  # the intercepts' column is always there; dropped from H without one
    coef = np.zeros((K, q))
    coef[:, :p] = W
    coef[:, p] = B
    rows = _block_rows(K * q)
    A = np.ones((min(rows, max(n, 1)), q))
    G = np.empty((A.shape[0], K, q))
    Hkq = np.zeros((K * q, K * q), order="F")  # (class, feature) order
    Hdiag = [np.zeros((q, q), order="F") for _ in range(K)]
    grad = np.zeros((K, q))
    J = 0.0
    with _blas_threads(n_threads):
        for r0 in range(0, n, rows):
            m = min(rows, n - r0)
            Ab = A[:m]
            Ab[:, :p] = X[r0:r0 + m]
            Ab[:, p] = 1.0
            Z = Ab @ coef.T
            Z -= Z.max(axis=1, keepdims=True)
            P = np.exp(Z)
            S = P.sum(axis=1)
            P /= S[:, None]
            yb = np.asarray(y[r0:r0 + m], dtype=np.intp)
            idx = np.arange(m)
            loss = np.log(S) - Z[idx, yb]
            D = P.copy()
            D[idx, yb] -= 1.0
            if sample_weight is None:
                s = np.ones(m)
            else:
                s = np.asarray(sample_weight[r0:r0 + m], dtype=np.float64)
                loss *= s
                D *= s[:, None]
            J += float(loss.sum())
            grad += D.T @ Ab
            root_s = np.sqrt(s)
            for k in range(K):
                _syrk(Ab * np.sqrt(s * P[:, k])[:, None], Hdiag[k])
            Gb = G[:m]
            np.multiply((root_s[:, None] * P)[:, :, None], Ab[:, None, :], out=Gb)
            _syrk(Gb.reshape(m, K * q), Hkq, alpha=-1.0)
    Hkq = _mirror(Hkq)
    for k in range(K):
        Hkq[k * q:(k + 1) * q, k * q:(k + 1) * q] += _mirror(Hdiag[k])
    # (class, feature) order -> the flat vector's order [W.ravel(), B]
    order = np.arange(K * q).reshape(K, q)
    perm = order[:, :p].ravel()
    if fit_intercept:
        perm = np.concatenate([perm, order[:, p]])
    H = np.ascontiguousarray(Hkq[np.ix_(perm, perm)])
    return J, np.ascontiguousarray(grad[:, :p]), grad[:, p].copy(), H

