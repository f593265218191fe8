"""Binary loss sums of several cross-validation folds in one pass over X.

The folds of a cross-validation share their rows: with k folds every row belongs to
the training rows of k - 1 of them. Fitting the folds one after another reads X once
per fold and evaluation; :func:`binary_fold_sums` serves one evaluation of every fold
(each at its own coefficients) in a single pass. Per block of rows it forms the
scores of all the folds' models as one small product
(:func:`.dense_multinomial._multinomial_scores`, four rows per pass over each model),
the per-row loss maths for every (row, fold) pair with the row's weight in that fold
(zero where the row is not one of its training rows), and every fold's gradient
(:func:`.dense_multinomial._multinomial_accumulate`).

A binary pass over X alone is memory-bound (about 100 multiply-adds per row against
800 bytes read); F folds per pass make it F times the arithmetic for the same bytes:
at 1,000,000 x 100 float64 on the 2-core AMD EPYC machine, 5 folds took about 40 ms
in one pass against 5 x 19 ms one fold at a time.

The rows are split into the same chunks whatever folds are requested, and each
fold's sums are accumulated in the same order within them.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ._elementary import _FASTMATH, _binary_rows_block
from ._threads import n_threads_for, sample_weights, thread_scope
from .dense import BLOCK_ROWS
from .dense_multinomial import _multinomial_accumulate, _multinomial_scores


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _fold_rows_block(Zb, y, s, has_sw, member, bit, r0, nb, F, Tb, Yb, Sb, Lb, bits, Db,
                     Jq, dBq):
    """Per (row, fold) maths for the block of rows r0 .. r0 + nb.

    Zb  # IN (>= nb * F,) z of row r for fold q at r * F + q
    member  # IN (n_samples,) int64, bit ``bit[q]`` set where the row trains fold q
    Tb, Yb, Sb, Lb, bits  # SCRATCH (>= nb * F,)
    Db  # OUT (>= nb * F,) the row's weight in fold q times (sigmoid(z) - y)
    Jq, dBq  # IN/OUT (F,) each fold's running loss and intercept-gradient sums
    The labels and weights (zero where the row is not one of the fold's) are spread
    to the (row, fold) pairs first, so that the maths is the binary kernel's own
    (:func:`._elementary._binary_rows_block`), one flat loop over the pairs.
    """
    for r in range(nb):
        yi = np.float64(y[r0 + r])
        si = np.float64(s[r0 + r]) if has_sw else 1.0
        mi = member[r0 + r]
        for q in range(F):
            Yb[r * F + q] = yi
            Sb[r * F + q] = si if (mi >> bit[q]) & 1 else 0.0
    _binary_rows_block(Zb, Yb, Sb, True, 0, nb * F, Tb, bits, Db, Lb)
    for r in range(nb):
        for q in range(F):
            Jq[q] += Lb[r * F + q]
            dBq[q] += Db[r * F + q]


@njit(parallel=True, cache=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_folds_kernel(
    X,  # IN (n_samples, n_features)
    y,  # IN (n_samples,) {0, 1}
    s,  # IN (n_samples,) sample weights (ignored unless has_sw)
    has_sw,  # IN bool
    member,  # IN (n_samples,) int64 bit sets: the folds each row trains
    bit,  # IN (F,) int64, the bit of each requested fold
    W,  # IN (F, n_features) float64, each requested fold's coefficients
    B,  # IN (F,) float64, their intercepts
    n_chunks,  # IN number of row chunks (one per thread)
    block_rows,  # IN rows per block
):
    """Returns partials (n_chunks, F, n_features + 2): [dw..., db, J] per fold."""
    m, p = X.shape
    F = W.shape[0]
    part = np.zeros((n_chunks, F, p + 2))
    chunk = (m + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(m, start + chunk)
        Zb = np.empty(block_rows * F)
        Tb = np.empty(block_rows * F)
        Yb = np.empty(block_rows * F)
        Sb = np.empty(block_rows * F)
        Lb = np.empty(block_rows * F)
        bits = np.empty(block_rows * F, dtype=np.int64)
        Db = np.empty(block_rows * F)
        dW = np.zeros((F, p))
        dBq = np.zeros(F)
        Jq = np.zeros(F)
        for r0 in range(start, stop, block_rows):
            nb = min(stop - r0, block_rows)
            _multinomial_scores(X, r0, nb, W, B, Zb)
            _fold_rows_block(Zb, y, s, has_sw, member, bit, r0, nb, F, Tb, Yb, Sb, Lb,
                             bits, Db, Jq, dBq)
            _multinomial_accumulate(X, r0, nb, Db, dW)
        for q in range(F):
            for j in range(p):
                part[c, q, j] = dW[q, j]
            part[c, q, p] = dBq[q]
            part[c, q, p + 1] = Jq[q]
    return part


def binary_fold_sums(X, y, sample_weight, member, folds, W, B, n_threads=None,
                     block_rows=BLOCK_ROWS):
    """``binary_sums`` of several folds at once; see :mod:`fastlr.backends`.

    X  # IN (n_samples, n_features) C-contiguous float32 or float64
    y  # IN (n_samples,) {0, 1}; sample_weight  # IN (n_samples,) or None
    member  # IN (n_samples,) int64: bit f set where the row is a training row of fold f
    folds  # IN (F,) the requested folds' numbers (bits of member, < 63)
    W  # IN (F, n_features), B  # IN (F,): each requested fold's coefficients
    Returns a list of F tuples ``(J_sum, dw_sum, db_sum)``, each fold's sums over its
    training rows (weights as ``sample_weight``).
    """
    W = np.ascontiguousarray(W, dtype=np.float64)
    B = np.ascontiguousarray(B, dtype=np.float64)
    F = W.shape[0]
    X = np.ascontiguousarray(X)  # a copy only if it is not (the tiles need whole rows)
    n_threads = n_threads_for(n_threads, X.size * F)
    y = np.asarray(y, dtype=X.dtype)
    s, has_sw = sample_weights(sample_weight, X.dtype)
    member = np.asarray(member, dtype=np.int64)
    bit = np.ascontiguousarray(folds, dtype=np.int64)
    n_chunks = max(1, min(n_threads, -(-X.shape[0] // block_rows)))
    with thread_scope(n_threads):
        part = _binary_folds_kernel(X, y, s, has_sw, member, bit, W, B, n_chunks,
                                    block_rows)
    tot = part[0].copy()
    for c in range(1, n_chunks):  # fixed order: deterministic
        tot += part[c]
    p = X.shape[1]
    return [(float(tot[q, p + 1]), tot[q, :p].copy(), float(tot[q, p])) for q in range(F)]
