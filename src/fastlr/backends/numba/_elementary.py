"""Vectorisable elementary functions and per-row loss maths shared by the Numba kernels.

The PyPI llvmlite has no SVML, so ``np.exp``/``np.log1p`` inside a loop are scalar libm
calls (~15 ns each). The helpers below use a polynomial ``exp`` and ``log1p`` that
LLVM vectorises, applied to a whole block of rows at once.

Numba compiles a jitted callee with its caller's flags and then reuses (and caches)
that one variant for every caller with the same signature. The helpers are therefore
compiled with the kernels' fastmath flags themselves, and written so that
reassociation cannot hurt them: a one-constant range reduction and a log1p form
without any "(1 + t) - 1" cancellation trick.

Compile options (shared by every Numba kernel of fastlr, see :data:`FASTMATH`):
``fastmath={"reassoc", "contract", "nsz", "arcp"}`` so the reductions vectorise;
``nnan``/``ninf`` are never enabled. ``error_model="numpy"`` drops Python's
ZeroDivisionError check on every division, which would otherwise keep the per-row
loops from vectorising.
"""

from __future__ import annotations

import numpy as np
from numba import njit

FASTMATH = {"reassoc", "contract", "nsz", "arcp"}
_FASTMATH = FASTMATH  # the name the kernels and tests have always used


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _exp_nonpos_block(x, n, out, bits):
    """out[:n] = exp(x[:n]) for x <= 0 (arguments below -700 are clamped).

    x  # IN (>= n,) float64, all <= 0
    out  # OUT (>= n,) float64, not x: in place, LLVM's overlap check at run time
         # sends the loop to its scalar version (2.4 ns a value instead of 0.37)
    bits  # SCRATCH (>= n,) int64
    Range reduction x = k ln2 + r, |r| <= ln2 / 2, a degree-13 Taylor polynomial for
    exp(r) (truncation error < 3e-17 relative), and 2**k built from its bits. The
    relative error is below 1.2e-16 * (2 + |k|), i.e. an absolute error below 4e-16
    for every x <= 0: what a sum of losses and gradients needs.
    """
    for i in range(n):
        xi = max(x[i], -700.0)
        k = np.floor(xi * 1.4426950408889634 + 0.5)
        r = xi - k * 0.6931471805599453
        p = 1.0 / 6227020800.0
        p = p * r + 1.0 / 479001600.0
        p = p * r + 1.0 / 39916800.0
        p = p * r + 1.0 / 3628800.0
        p = p * r + 1.0 / 362880.0
        p = p * r + 1.0 / 40320.0
        p = p * r + 1.0 / 5040.0
        p = p * r + 1.0 / 720.0
        p = p * r + 1.0 / 120.0
        p = p * r + 1.0 / 24.0
        p = p * r + 1.0 / 6.0
        p = p * r + 0.5
        p = p * r + 1.0
        p = p * r + 1.0
        out[i] = p
        bits[i] = (np.int64(k) + 1023) << 52
    scale = bits.view(np.float64)
    for i in range(n):
        out[i] = out[i] * scale[i]


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy", inline="always")
def _log1p_unit(t):
    """log(1 + t) for t in [0, 1] to a few ulp, relative, even for tiny t.

    log(1 + t) = 2 atanh(s) with s = t / (2 + t) for t <= sqrt(2) - 1, and
    log(1 + t) = ln 2 + 2 atanh(s) with s = (t - 1) / (t + 3) above (that is
    log((1 + t) / 2)); either way |s| <= 0.1716 and 11 terms of the atanh series
    reach float64 precision.
    """
    big = np.float64(t > 0.41421356237309503)
    s = (t - big) / (2.0 + t + big)
    s2 = s * s
    q = 1.0 / 23.0
    q = q * s2 + 1.0 / 21.0
    q = q * s2 + 1.0 / 19.0
    q = q * s2 + 1.0 / 17.0
    q = q * s2 + 1.0 / 15.0
    q = q * s2 + 1.0 / 13.0
    q = q * s2 + 1.0 / 11.0
    q = q * s2 + 1.0 / 9.0
    q = q * s2 + 1.0 / 7.0
    q = q * s2 + 1.0 / 5.0
    q = q * s2 + 1.0 / 3.0
    logm = 2.0 * s + 2.0 * s * (s2 * q)
    return big * 0.6931471805599453 + logm


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _log_block(x, n, out, bits):
    """out[:n] = log(x[:n]) for positive normal float64 x.

    x  # IN (>= n,) float64; out  # OUT (>= n,) float64, not x
    bits  # SCRATCH (>= n,) int64
    x = 2**e m with m in [1, 2) from the bits of x, and log(x) = e ln 2 + log1p(m - 1)
    by :func:`_log1p_unit`: a vectorisable loop, where ``np.log`` is a libm call per
    value (a softmax's sums: 10 classes, one log per row cost a quarter of the
    per-row maths).
    """
    xb = x.view(np.int64)
    for i in range(n):
        bits[i] = (xb[i] & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000
    m = bits.view(np.float64)
    for i in range(n):
        e = np.float64((xb[i] >> 52) - 1023)
        out[i] = e * 0.6931471805599453 + _log1p_unit(m[i] - 1.0)


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _binary_rows_block(z, y, s, has_sw, row0, n, t, bits, dz, loss):
    """Per-row maths of the binary loss for one block of n rows.

    z  # IN (>= n,) float64, z = x_i . w + b
    y, s  # IN (n_samples,) labels in {0, 1} and sample weights, read at row0 + i
    t, bits  # SCRATCH (>= n,)
    dz  # OUT (>= n,) s_i * (sigmoid(z_i) - y_i)
    loss  # OUT (>= n,) s_i * (softplus(z_i) - y_i z_i); first the exponent's argument
    """
    for i in range(n):
        loss[i] = -abs(z[i])
    _exp_nonpos_block(loss, n, t, bits)  # t = exp(-|z|) in (0, 1]
    for i in range(n):
        zi = z[i]
        ti = t[i]
        yi = np.float64(y[row0 + i])
        u = 1.0 + ti
        a = 1.0 / u if zi >= 0 else ti / u
        li = max(zi, 0.0) + _log1p_unit(ti) - yi * zi
        di = a - yi
        if has_sw:
            si = np.float64(s[row0 + i])
            li *= si
            di *= si
        dz[i] = di
        loss[i] = li


@njit(cache=True, nogil=True, fastmath=_FASTMATH, error_model="numpy")
def _softmax_rows_block(Zb, zmax, y, s, has_sw, row0, n, K, Eb, bits, Sb, dB, J):
    """Per-row maths of the multinomial loss for one block of n rows.

    Zb  # IN/SCRATCH (>= n * K,) z_ik = W_k . x_i + B_k, row-major; left holding
        # z_ik - max_k z_ik
    zmax  # SCRATCH (>= n,) max_k z_ik
    y, s  # IN (n_samples,) class indices and sample weights, read at row0 + i
    bits  # SCRATCH (>= n * K,); Sb  # SCRATCH (>= 2 n,) float64
    Eb  # OUT (>= n * K,) d_ik = s_i (p_ik - [k == y_i]), the rows' gradient weights
    dB  # IN/OUT (K,) += sum_i d_ik
    J  # IN the running loss sum; returned with s_i (logsumexp(z_i) - z_i[y_i]) added
       # row by row, in the same order as a caller adding them itself
    Shared by the dense and CSR kernels, which differ only in how they form z and
    spread d_ik over X's row. The exponentials and the logarithms of the sums are
    each one vectorisable loop over the block (the exponentials from Zb into Eb: not
    in place, see :func:`_exp_nonpos_block`).
    """
    for r in range(n):
        zm = -np.inf
        for k in range(K):
            zm = max(zm, Zb[r * K + k])
        zmax[r] = zm
    for r in range(n):
        for k in range(K):
            Zb[r * K + k] -= zmax[r]
    _exp_nonpos_block(Zb, n * K, Eb, bits)
    for r in range(n):
        S = 0.0
        for k in range(K):
            S += Eb[r * K + k]
        Sb[r] = S  # >= 1: the largest term is exp(0)
    logS = Sb[n:2 * n]
    _log_block(Sb, n, logS, bits)
    for r in range(n):
        yi = y[row0 + r]
        si = np.float64(s[row0 + r]) if has_sw else 1.0
        J += si * (logS[r] - Zb[r * K + yi])
        inv = si / Sb[r]
        for k in range(K):
            d = Eb[r * K + k] * inv
            if k == yi:
                d -= si
            dB[k] += d
            Eb[r * K + k] = d
    return J
