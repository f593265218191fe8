"""CSR Numba kernels for Newton's method: the loss, its gradient and its Hessian.

``binary_hessian_sums`` and ``multinomial_hessian_sums`` of the backend contract (see
:mod:`fastlr.backends`) for a ``scipy.sparse`` CSR ``X``, under the same conditions as
:mod:`.sparse` (float32 or float64 values, int32 or int64 indices, structure checked
by the caller; unsorted indices, empty rows, explicit zeros and duplicate entries are
fine, duplicates adding as in scipy).

What is computed
----------------
With ``x~_i = [x_i, 1]`` (the 1 only with an intercept), the Hessian of the summed
loss is ``sum_i s_i a_i (1 - a_i) x~_i x~_i^T`` (binary) and, for ``n_classes = K``,
``sum_i x~_i x~_i^T (x) D_i`` with ``D_i = s_i (diag(p_i) - p_i p_i^T)`` (multinomial;
(x) a Kronecker product, ``p_i`` the row's softmax probabilities). A row with ``m``
stored entries adds ``m~ (m~ + 1) / 2`` products to one triangle, ``m~ = m +
fit_intercept``, each a K x K block for the multinomial loss: the cost per row is the
square of its stored entries (times K^2), against ``m`` for the gradient, so it is
worth Newton's while only for rows of moderate length.

The loss and gradient are :mod:`.sparse`'s ``binary_sums`` / ``multinomial_sums``
(the same bits as the quasi-Newton solvers get); the Hessian is a second pass. Fusing
the two was measured and not taken: the gradient pass costs 1-4% of the Hessian's
(one thread, 100,000 rows of 30 non-zeros, 1,000 features: 3.2 ms against 82 ms
binary, 9 ms against 1.0 s multinomial K = 3), and a fused kernel was no faster within
the noise of a shared machine (binary 109 against 114 ms, multinomial 2.65 against
2.59 s, both with an earlier, slower Hessian loop).

The Hessian pass: each block of ``BLOCK_ROWS`` rows gets ``z`` (or ``Z``) from the
stored values and its Hessian weights (the vectorised exp of :mod:`._elementary`);
then each row's non-zero stored values are copied (as float64, explicit zeros
dropped, the intercept's 1 appended as column ``n_features``) and their pairwise
products added into the chunk's partial ``G``. For an unordered pair of entries
``t < u`` with columns ``c_t, c_u`` the product goes to ``G[min(c), max(c)]`` (a K x K
block there for the multinomial loss, since ``D_i`` is symmetric), and half of each
``t = u`` product to the diagonal, so that ``H = G + G^T``: exact (a power-of-two
halving and doubling), right for duplicate columns, and only one triangle of feature
pairs is ever written. The multinomial partial is laid out ``(q, q, K, K)``, so that a
pair's K x K block is contiguous, and indexed flat (a 2-d view per pair costs two
reference-count updates): 2.2-2.5x faster than a ``(q K, q K)`` partial written
through a K x K view per pair (1,000 to 2,000 features, K = 3). Indices are unsigned
(no wrap-around test): 1.35x on the binary pass.
The final ``G + G^T`` pass, tile by tile, writes the output in the contract's
``[W.ravel(), B]`` order.

Roughly measured (one thread, shared 2-core AMD EPYC VM, random columns): 1.7 ns per
pair (binary) and 2.3 ns per K x K element (multinomial, K = 3) at 1,000 features and
30 non-zeros per row; 0.9 and 0.3 ns at 300 features (100 per row), where the
partial stays in cache; 2.3 and 3.5 ns at 2,000 features (100 per row), where its
random writes miss every cache. Sorted columns ran no faster than unsorted ones,
so rows are not sorted.

Chunks and determinism
----------------------
Rows are split into contiguous chunks, one per thread (``prange``), balanced by their
Hessian work (``m~ (m~ + 1) / 2 + ROW_COST`` per row: with a quadratic cost, balancing
by non-zeros would leave the chunk holding the longest rows far behind). Each chunk
accumulates its own float64 partial; the partials are added in chunk order afterwards
(:func:`.sparse._add_in_order`), so a result depends only on the data and the number
of chunks (one per thread), never on scheduling.

Memory: a chunk's partial is dense, ``q x q`` float64 with ``q = n_features +
fit_intercept`` (``m x m``, ``m = K q``, multinomial), like the result. Chunk 0
accumulates into its own array, which the ``G + G^T`` pass reads once the others are
added into it, and the other chunks' partials together may take at most
``PARTIALS_MAX_BYTES`` (512 MiB): past that, fewer chunks (and threads) are used,
down to one. The peak is then chunk 0's ``m^2`` float64 plus the larger of that
budget and the result's ``m^2`` (the other partials are freed before it is made).
A second chunk is also used only when the rows hold at least one product per element
of a partial: zeroing and adding a partial costs about as much as that many products.

Compile options: as the other kernels (see :mod:`._elementary`); the final
``G + G^T`` and the ordered addition of partials are plain IEEE additions.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._elementary import _FASTMATH, _exp_nonpos_block
from ._threads import n_threads_for, sample_weights, thread_scope
from .sparse import (
    ROW_COST,
    _add_in_order,
    _csr_arrays,
    _csr_dot_rows,
    _row_dot,
    binary_sums,
    multinomial_sums,
)

BLOCK_ROWS = 256

# Most bytes of Hessian partials beyond the one chunk 0 writes into (module docstring).
PARTIALS_MAX_BYTES = 512 * 2**20

# Square tiles of the final G + G^T pass.
SYMMETRISE_TILE = 64


# ---------------------------------------------------------------------------------
# Per-row pieces
# ---------------------------------------------------------------------------------


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _row_entries(data, indices, lo, hi, p, fit_intercept, colmap, xv, cols):
    """Copy one row's non-zero stored values and their columns; returns their count.

    data, indices  # IN the CSR arrays; lo, hi  # IN the row's slice
    colmap  # IN (n_features,) int64: the Hessian column of each feature, -1 for a
            # feature left out (the Hessian of a subset of the columns), or (0,): all
            # features, column = feature
    p  # IN the intercept's column (the number of Hessian columns before it)
    xv  # OUT (>= hi - lo + 1,) float64 values; cols  # OUT same, int64 columns
    With an intercept a last entry (column p, value 1) is appended. Dropping stored
    zeros changes no bit of the sums (their products are zeros).
    """
    d = data[lo:hi]
    ix = indices[lo:hi]
    m = 0
    mapped = colmap.shape[0] > 0
    for t in range(hi - lo):
        x = np.float64(d[t])
        c = np.int64(ix[t])
        if mapped:
            c = colmap[c]
        if x != 0.0 and c >= 0:
            xv[m] = x
            cols[m] = c
            m += 1
    if fit_intercept:
        xv[m] = 1.0
        cols[m] = p
        m += 1
    return m


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_row_outer(xv, cols, m, h, G):
    """G += the row's h x x^T, one triangle (see "What is computed").

    xv, cols  # IN (>= m,) the row's entries; h  # IN float64 weight
    G  # IN/OUT (q, q) float64 partial
    """
    for t in range(m):
        ct = np.uint64(cols[t])  # unsigned: no wrap-around test on every index
        vt = h * xv[t]
        G[ct, ct] += 0.5 * (vt * xv[t])
        for u in range(t + 1, m):
            cu = np.uint64(cols[u])
            G[min(ct, cu), max(ct, cu)] += vt * xv[u]


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _multinomial_row_outer(xv, cols, m, D, q, G):
    """G += the row's (x x^T) (x) D, one triangle of feature pairs.

    D  # IN (K * K,) float64, the symmetric s (diag(p) - p p^T), flat
    q  # IN features (+ 1 with an intercept)
    G  # IN/OUT (q * q * K * K,) float64 partial, flat (q, q, K, K): a pair's K x K
       # block is contiguous
    Flat unsigned indices: a 2-d view per pair would cost two reference-count updates.
    """
    KK = np.uint64(D.shape[0])
    qq = np.uint64(q)
    for t in range(m):
        xt = xv[t]
        ct = np.uint64(cols[t])
        c = 0.5 * (xt * xt)
        base = (ct * qq + ct) * KK
        for a in range(KK):
            G[base + a] += c * D[a]
        for u in range(t + 1, m):
            cu = np.uint64(cols[u])
            base = (min(ct, cu) * qq + max(ct, cu)) * KK
            c = xt * xv[u]
            for a in range(KK):
                G[base + a] += c * D[a]


# ---------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_hessian_csr_kernel(
    data,  # IN (nnz,) float32 or float64
    indices,  # IN (nnz,) int32 or int64, columns in [0, n_features)
    indptr,  # IN (n_samples + 1,) same dtype as indices
    s,  # IN (n_samples,) sample weights (ignored unless has_sw)
    has_sw,  # IN bool
    w,  # IN (n_features,) float64
    b,  # IN float64
    fit_intercept,  # IN bool
    colmap,  # IN (n_features,) int64 or (0,): see _row_entries
    bounds,  # IN (n_chunks + 1,) int64, first row of each chunk, then n_samples
    block_rows,  # IN rows per block
    max_row,  # IN most stored entries in a row
    G0,  # OUT (q, q) float64, zeros on entry: chunk 0's partial
    Gpart,  # OUT (n_chunks - 1, q, q) float64, zeros on entry: chunks 1, 2, ...
):
    """Fills the Hessian partials (one triangle and half diagonals, see the module
    docstring); the caller adds them up in chunk order. ``q`` is the number of
    Hessian columns: the features (or those ``colmap`` keeps) plus the intercept."""
    n_chunks = bounds.shape[0] - 1
    p = G0.shape[0] - 1 if fit_intercept else G0.shape[0]
    for c in prange(n_chunks):
        G = G0 if c == 0 else Gpart[c - 1]
        zb = np.empty(block_rows)
        tb = np.empty(block_rows)
        bits = np.empty(block_rows, dtype=np.int64)
        xv = np.empty(max_row + 1)
        cols = np.empty(max_row + 1, dtype=np.int64)
        for r0 in range(bounds[c], bounds[c + 1], block_rows):
            nb = min(bounds[c + 1] - r0, block_rows)
            _csr_dot_rows(data, indices, indptr, r0, nb, w, b, zb)
            for r in range(nb):
                zb[r] = -abs(zb[r])
            _exp_nonpos_block(zb, nb, tb, bits)  # t = exp(-|z|), not in place
            for r in range(nb):
                t = tb[r]
                u = 1.0 + t
                h = t / (u * u)  # a (1 - a), for either sign of z
                if has_sw:
                    h *= np.float64(s[r0 + r])
                i = r0 + r
                m = _row_entries(data, indices, indptr[i], indptr[i + 1], p,
                                 fit_intercept, colmap, xv, cols)
                _binary_row_outer(xv, cols, m, h, G)


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _multinomial_hessian_csr_kernel(
    data,  # IN (nnz,) float32 or float64
    indices,  # IN (nnz,) int32 or int64
    indptr,  # IN (n_samples + 1,) same dtype as indices
    s,  # IN (n_samples,) sample weights (ignored unless has_sw)
    has_sw,  # IN bool
    WT,  # IN (n_features, n_classes) float64, W transposed
    B,  # IN (n_classes,) float64
    fit_intercept,  # IN bool
    colmap,  # IN (0,) int64: all features (see _row_entries)
    bounds,  # IN (n_chunks + 1,) int64
    block_rows,  # IN
    max_row,  # IN
    G0,  # OUT (q * q * K * K,) float64, zeros on entry: chunk 0's partial
    Gpart,  # OUT (n_chunks - 1, q * q * K * K) float64, zeros on entry
):
    """Fills the Hessian partials, as the binary kernel."""
    n_chunks = bounds.shape[0] - 1
    p, K = WT.shape
    q = p + 1 if fit_intercept else p
    for c in prange(n_chunks):
        G = G0 if c == 0 else Gpart[c - 1]
        Zb = np.empty(block_rows * K)
        Eb = np.empty(block_rows * K)
        bits = np.empty(block_rows * K, dtype=np.int64)
        zmax = np.empty(block_rows)
        D = np.empty(K * K)
        xv = np.empty(max_row + 1)
        cols = np.empty(max_row + 1, dtype=np.int64)
        for r0 in range(bounds[c], bounds[c + 1], block_rows):
            nb = min(bounds[c + 1] - r0, block_rows)
            for r in range(nb):  # z_i = W x_i + B, as in .sparse
                lo = indptr[r0 + r]
                hi = indptr[r0 + r + 1]
                zm = -np.inf
                for k in range(K):
                    zk = B[k] + _row_dot(data[lo:hi], indices[lo:hi], WT[:, k])
                    Zb[r * K + k] = zk
                    zm = max(zm, zk)
                zmax[r] = zm
            for r in range(nb):
                for k in range(K):
                    Zb[r * K + k] -= zmax[r]
            _exp_nonpos_block(Zb, nb * K, Eb, bits)  # unnormalised probabilities
            for r in range(nb):
                e = Eb[r * K:(r + 1) * K]
                S = 0.0
                for k in range(K):
                    S += e[k]
                si = np.float64(s[r0 + r]) if has_sw else 1.0
                inv = 1.0 / S
                for k in range(K):
                    rest = 0.0  # S - e_k without cancellation: 1 - p_k = rest / S
                    for l in range(K):
                        if l != k:
                            rest += e[l]
                    pk = e[k] * inv
                    for l in range(K):
                        D[k * K + l] = -si * pk * (e[l] * inv)
                    D[k * K + k] = si * pk * (rest * inv)
                i = r0 + r
                m = _row_entries(data, indices, indptr[i], indptr[i + 1], p,
                                 fit_intercept, colmap, xv, cols)
                _multinomial_row_outer(xv, cols, m, D, q, G)


@njit(parallel=True, cache=True, error_model="numpy")
def _symmetrise(
    G,  # IN (q, q, K, K) float64: one triangle of pairs, half diagonals
    perm,  # IN (q, K) int64: the output index of feature j (q - 1: intercept), class k
    tile,  # IN features per tile
    H,  # OUT (q K, q K) float64
):
    """H[perm[j, k], perm[i, l]] = G[j, i, k, l] + G[i, j, l, k]: the full Hessian, in
    the contract's order, tile by tile (each element written once)."""
    q = G.shape[0]
    K = G.shape[2]
    n_tiles = (q + tile - 1) // tile
    for tj in prange(n_tiles):
        j0 = tj * tile
        j1 = min(q, j0 + tile)
        for i0 in range(0, q, tile):
            i1 = min(q, i0 + tile)
            for j in range(j0, j1):
                for k in range(K):
                    row = H[perm[j, k]]
                    for i in range(i0, i1):
                        for l in range(K):
                            row[perm[i, l]] = G[j, i, k, l] + G[i, j, l, k]


@njit(cache=True, nogil=True)
def _pair_work(indptr, extra):
    """(products per triangle summed over rows, most stored entries in a row)."""
    total = 0
    most = 0
    for r in range(indptr.shape[0] - 1):
        m = np.int64(indptr[r + 1] - indptr[r])
        most = max(most, m)
        m += extra
        total += m * (m + 1) // 2
    return total, most


@njit(cache=True, nogil=True)
def _pair_bounds(indptr, extra, row_cost, n_chunks):
    """Row boundaries (n_chunks + 1,) int64 of contiguous chunks of about equal
    ``sum (m~ (m~ + 1) / 2 + row_cost)`` over their rows, ``m~`` a row's stored
    entries plus ``extra``: each boundary goes before or after the row in which its
    target falls, whichever is nearer (a long row is not simply given to the chunk in
    which it starts)."""
    n = indptr.shape[0] - 1
    total = 0.0
    for r in range(n):
        m = np.float64(indptr[r + 1] - indptr[r] + extra)
        total += m * (m + 1.0) * 0.5 + row_cost
    bounds = np.empty(n_chunks + 1, dtype=np.int64)
    bounds[0] = 0
    bounds[n_chunks] = n
    c = 1
    acc = 0.0
    for r in range(n):
        m = np.float64(indptr[r + 1] - indptr[r] + extra)
        cost = m * (m + 1.0) * 0.5 + row_cost
        while c < n_chunks and acc + cost >= total * c / n_chunks:
            bounds[c] = r if total * c / n_chunks <= acc + 0.5 * cost else r + 1
            c += 1
        acc += cost
    while c < n_chunks:
        bounds[c] = n
        c += 1
    return bounds


@njit(cache=True, nogil=True)
def _count_columns(indices, n_features):
    """Stored entries per column (int64): np.bincount without its int64 copy of the
    indices (20 ms against 70-580 ms for 30,000,000 int32 indices)."""
    counts = np.zeros(n_features, dtype=np.int64)
    for c in indices:
        counts[c] += 1
    return counts


def column_counts(X):
    """Stored entries per column of the CSR matrix X, int64."""
    return _count_columns(_csr_arrays(X)[1], X.shape[1])


# ---------------------------------------------------------------------------------
# Drivers
# ---------------------------------------------------------------------------------


def _n_chunks(n_samples, work, partial_elements, n_threads):
    """Chunks: one per thread, fewer for few rows, little work or large partials."""
    partial_elements = max(partial_elements, 1)
    n = min(n_threads, max(1, n_samples))
    n = min(n, 1 + PARTIALS_MAX_BYTES // (8 * partial_elements))
    return max(1, min(n, work // partial_elements))


def _output_order(q, n_features, n_classes):
    """perm (q, K) int64: the contract's index of (feature j, class k), j = n_features
    the intercept: W[k, j] is at k p + j, B[k] at K p + k."""
    j = np.arange(q, dtype=np.int64)[:, None]
    k = np.arange(n_classes, dtype=np.int64)[None, :]
    return np.where(j < n_features, k * n_features + j, n_classes * n_features + k)


def _hessian(kernel, X, sample_weight, coef, K, fit_intercept, n_threads, block_rows,
             n_chunks, cols=None):
    """Run a Hessian kernel over chunks, add the partials in chunk order and return the
    symmetrised (q K, q K) float64 Hessian in the contract's order; with ``cols``
    (binary only) the Hessian of those features' coefficients and the intercept."""
    data, indices, indptr = _csr_arrays(X)
    fi = bool(fit_intercept)
    if cols is None:
        p = X.shape[1]
        colmap = np.zeros(0, dtype=np.int64)
    else:
        p = len(cols)
        colmap = np.full(X.shape[1], -1, dtype=np.int64)
        colmap[cols] = np.arange(p, dtype=np.int64)
    q = p + fi
    pairs, most = _pair_work(indptr, int(fi))
    work = int(pairs) * K * K
    n_threads = n_threads_for(n_threads, work + int(indptr[-1]) * K)
    if n_chunks is None:
        n_chunks = _n_chunks(X.shape[0], work, (q * K) ** 2, n_threads)
    bounds = _pair_bounds(indptr, int(fi), ROW_COST, n_chunks)
    s, has_sw = sample_weights(sample_weight, data.dtype)
    shape = (q, q) if K == 1 else (q * q * K * K,)
    # Allocated here, as in .sparse: large zeroed arrays come from the system as zero
    # pages, each first touched by the thread that owns the chunk.
    G = np.zeros(shape)
    Gpart = np.zeros((n_chunks - 1,) + shape)
    with thread_scope(n_threads):
        kernel(data, indices, indptr, s, has_sw, *coef, fi, colmap, bounds, block_rows,
               int(most), G, Gpart)
        _add_in_order(G.reshape(-1), Gpart.reshape(n_chunks - 1, G.size))
        del Gpart
        H = np.empty((q * K, q * K))
        _symmetrise(G.reshape(q, q, K, K), _output_order(q, p, K), SYMMETRISE_TILE, H)
    return H


def binary_hessian_sums(X, y, sample_weight, w, b, fit_intercept=True, n_threads=None,
                        block_rows=BLOCK_ROWS, n_chunks=None):
    """Binary loss sums and Hessian for CSR X; see :mod:`fastlr.backends`.

    J_sum, dw_sum, db_sum are :func:`.sparse.binary_sums`'s, to the bit. ``block_rows``
    and ``n_chunks`` (of the Hessian kernel; default: see "Chunks and determinism")
    are exposed for tests and tuning.
    """
    J, dw, db = binary_sums(X, y, sample_weight, w, b, n_threads=n_threads)
    coef = (np.ascontiguousarray(w, dtype=np.float64), float(b))
    H = _hessian(_binary_hessian_csr_kernel, X, sample_weight, coef, 1, fit_intercept,
                 n_threads, block_rows, n_chunks)
    return J, dw, db, H


def binary_hessian_cols(X, sample_weight, w, b, cols, fit_intercept=True, n_threads=None,
                        block_rows=BLOCK_ROWS, n_chunks=None):
    """The binary Hessian of the summed loss over the coefficients of the features
    ``cols`` (sorted, distinct) and the intercept, for CSR X; see
    :mod:`fastlr.backends`. Only the entries of those columns enter the pair products:
    a row costs the square of its entries among them."""
    coef = (np.ascontiguousarray(w, dtype=np.float64), float(b))
    cols = np.asarray(cols, dtype=np.int64)
    return _hessian(_binary_hessian_csr_kernel, X, sample_weight, coef, 1, fit_intercept,
                    n_threads, block_rows, n_chunks, cols=cols)


def multinomial_hessian_sums(X, y, sample_weight, W, B, fit_intercept=True,
                             n_threads=None, block_rows=BLOCK_ROWS, n_chunks=None):
    """Multinomial loss sums and Hessian for CSR X; see :mod:`fastlr.backends`."""
    J, dW, dB = multinomial_sums(X, y, sample_weight, W, B, n_threads=n_threads)
    coef = (np.ascontiguousarray(np.asarray(W, dtype=np.float64).T),
            np.ascontiguousarray(B, dtype=np.float64))
    H = _hessian(_multinomial_hessian_csr_kernel, X, sample_weight, coef, W.shape[0],
                 fit_intercept, n_threads, block_rows, n_chunks)
    return J, dW, dB, H
