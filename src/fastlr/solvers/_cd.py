"""Coordinate descent on the proximal Newton model (a Numba kernel; compiled on first
use of :mod:`.proxnewton`, cached on disk).

Minimises over the step ``d``::

    q(d) = g.d + 1/2 d^T H d + l1 * sum_{j < n_penalised} |x_j + d_j|

one coordinate at a time, in order: with ``u = H d`` kept up to date, coordinate j's
one-dimensional problem ``1/2 H_jj e^2 + c e + l1 |x_j + e|`` (``c = g_j + u_j - H_jj
d_j``) is solved exactly by soft thresholding (optionally followed, every sweep, by
exact moves of groups of coordinates together, see
:func:`cd_prox_newton_step_groups`). Sweeps stop when no coordinate moves by more
than ``rel_tol`` times the largest ``|d|`` (or after ``max_sweeps``). A sweep costs
``n^2`` multiply-adds at most (the column of ``H`` per moved coordinate).
"""

from __future__ import annotations

import numpy as np
from numba import njit


def cd_prox_newton_step(H, g, x, l1, n_penalised, max_sweeps, rel_tol, d):
    """The step ``d`` (OUT, (n,) float64, also the start) and the sweeps made.

    H  # IN (n, n) float64, symmetric positive semi-definite with H_jj > 0
    g  # IN (n,) gradient of the smooth part at x; x  # IN (n,) the current point
    """
    n = g.shape[0]
    return cd_prox_newton_step_groups(H, g, x, l1, n_penalised, max_sweeps, rel_tol, d,
                                      np.zeros((0, 1), dtype=np.int64),
                                      np.zeros((n, 0)), np.zeros(0))


@njit(cache=True, nogil=True, error_model="numpy")
def _shift_1d(a, b, l1, v, order_buf):
    """argmin_c 1/2 a c^2 + b c + l1 sum_k |v_k + c|  (a >= 0; exact).

    The derivative ``a c + b + l1 (#{v_k + c > 0} - #{v_k + c < 0})`` is
    non-decreasing; its zero is found between, or at, the sorted breakpoints -v_k.
    """
    K = v.shape[0]
    for k in range(K):
        order_buf[k] = -v[k]
    order_buf[:K].sort()
    t = order_buf[:K]
    # on the open interval with m breakpoints below c the derivative is
    # a c + b + l1 (2 m - K); below every breakpoint m = 0
    for m in range(K + 1):
        slope_const = b + l1 * (2 * m - K)
        lo = -np.inf if m == 0 else t[m - 1]
        hi = np.inf if m == K else t[m]
        if a > 0.0:
            c = -slope_const / a
            if lo < c < hi:
                return c
        elif slope_const == 0.0 and lo < hi:
            return min(max(0.0, lo), hi) if np.isfinite(lo) or np.isfinite(hi) else 0.0
        if m < K:
            # at the breakpoint t[m]: left derivative uses m, right uses m + 1
            left = a * t[m] + slope_const
            right = a * t[m] + b + l1 * (2 * (m + 1) - K)
            if left <= 0.0 <= right:
                return t[m]
    return 0.0


@njit(cache=True, nogil=True, error_model="numpy")
def cd_prox_newton_step_groups(H, g, x, l1, n_penalised, max_sweeps, rel_tol, d,
                               groups, HU, uHu):
    """:func:`cd_prox_newton_step` plus, after every sweep, an exact move of each
    group of coordinates together (``d[groups[i]] += c``).

    groups  # IN (n_groups, K) int64: flat indices moved together (penalised ones)
    HU  # IN (n, n_groups) float64: H times each group's indicator vector
    uHu  # IN (n_groups,) float64: the model's curvature along each group's vector

    For the multinomial model the groups are one feature's coefficients in every class:
    the loss does not change along them (the same number added to every class's score),
    so only the L2 term curves the model there, and one-coordinate moves crawl along
    such a valley; the group move goes to its minimum in one step.
    """
    n = g.shape[0]
    n_groups, K = groups.shape
    u = H @ d
    v = np.empty(K)
    buf = np.empty(K)
    sweeps = 0
    for sweep in range(max_sweeps):
        sweeps = sweep + 1
        biggest_move = 0.0
        biggest_d = 0.0
        for j in range(n):
            a = H[j, j]
            if a <= 0.0:
                continue
            dj = d[j]
            c = g[j] + u[j] - a * dj
            if j < n_penalised:
                xj = x[j]
                z = xj - c / a
                thr = l1 / a
                w = z - thr if z > thr else (z + thr if z < -thr else 0.0)
                new = w - xj
            else:
                new = -c / a
            move = new - dj
            if move != 0.0:
                col = H[j]
                for i in range(n):
                    u[i] += col[i] * move
                d[j] = new
            if abs(move) > biggest_move:
                biggest_move = abs(move)
        for gi in range(n_groups):
            b = 0.0
            for k in range(K):
                idx = groups[gi, k]
                b += g[idx] + u[idx]
                v[k] = x[idx] + d[idx]
            c = _shift_1d(uHu[gi], b, l1, v, buf)
            if c != 0.0:
                for k in range(K):
                    d[groups[gi, k]] += c
                for i in range(n):
                    u[i] += HU[i, gi] * c
                if abs(c) > biggest_move:
                    biggest_move = abs(c)
        for j in range(n):
            if abs(d[j]) > biggest_d:
                biggest_d = abs(d[j])
        if biggest_move <= rel_tol * biggest_d:
            break
    return sweeps
