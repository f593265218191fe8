"""Coordinate descent on the proximal Newton model (a Numba kernel; compiled on first
use of :mod:`.proxnewton`, cached on disk).

Minimises over the step ``d``::

    q(d) = g.d + 1/2 d^T H d + l1 * sum_{j < n_penalised} |x_j + d_j|

one coordinate at a time, in order: with ``u = H d`` kept up to date, coordinate j's
one-dimensional problem ``1/2 H_jj e^2 + c e + l1 |x_j + e|`` (``c = g_j + u_j - H_jj
d_j``) is solved exactly by soft thresholding. Sweeps stop when no coordinate moves
by more than ``rel_tol`` times the largest ``|d|`` (or after ``max_sweeps``). A sweep
costs ``n^2`` multiply-adds (the column of ``H`` per moved coordinate); coordinates
that are zero and stay zero are skipped.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True, error_model="numpy")
def cd_prox_newton_step(H, g, x, l1, n_penalised, max_sweeps, rel_tol, d):
    """The step ``d`` (OUT, (n,) float64, also the start) and the sweeps made.

    H  # IN (n, n) float64, symmetric positive semi-definite with H_jj > 0
    g  # IN (n,) gradient of the smooth part at x; x  # IN (n,) the current point
    """
    n = g.shape[0]
    u = H @ d
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
                if xj + dj == 0.0 and abs(c - a * xj) <= l1:
                    new = -xj  # zero stays optimal along j
                else:
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
            if abs(new) > biggest_d:
                biggest_d = abs(new)
        if biggest_move <= rel_tol * biggest_d:
            break
    return sweeps
