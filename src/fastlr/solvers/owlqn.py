"""``owlqn``: orthant-wise limited-memory quasi-Newton, for L1 and elastic-net penalties.

Minimises ``F(x) = f(x) + l1 * ||x_P||_1`` where ``f`` is the smooth part (loss plus
the L2 term: ``objective.loss_grad``) and ``P`` the penalised entries, after Andrew
and Gao, "Scalable training of L1-regularized log-linear models" (ICML 2007). Within
one orthant ``F`` is smooth (the L1 term is linear there), so L-BFGS's model of ``f``
applies; each iteration

1. takes the pseudo-gradient ``pg`` (the minimum-norm subgradient of ``F``,
   :meth:`fastlr._penalty.Penalty.pseudo_gradient`) and stops if ``max |pg| <= tol``,
   the same test, on the same scale, as L-BFGS-B's ``gtol`` in the lbfgs solver;
2. turns ``-pg`` into a direction with the two-loop recursion over the last
   ``memory`` pairs ``(s, y)`` (``y`` from gradients of ``f`` only), and zeroes every
   penalised entry whose sign disagrees with ``-pg`` (the direction stays in the
   orthant that ``-pg`` points to);
3. backtracks along it, each trial point projected onto the orthant of the current
   point (``sign(x_j)``, or ``sign(-pg_j)`` where ``x_j = 0``): a penalised entry
   that would cross zero is set to exactly zero, which is where the zeros of
   ``coef_`` come from; the trial is accepted on sufficient decrease of ``F``;
4. stops also when ``F`` no longer moves: ``(F_old - F_new) <= ftol * max(|F_old|,
   |F_new|, 1)``, as L-BFGS-B's ``ftol``.

Only ``loss_grad`` is asked for, so it runs unchanged on every backend and input kind.
With no L1 term it is plain L-BFGS with a backtracking line search.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ._common import (
    SolverResult,
    check_finite,
    end_iteration,
    stalled,
    two_loop,
    warn_not_converged,
)

_C1 = 1e-4  # sufficient decrease (Armijo) constant


def owlqn(objective, penalty, coef0, *, tol, max_iter, memory=10, maxls=50,
          ftol=64 * np.finfo(float).eps, verbose=0, callback=None, start_pairs=(),
          name="owlqn"):
    """Minimise ``objective`` + ``penalty``'s L1 term from ``coef0``; a SolverResult
    whose ``memory`` holds the last curvature pairs.

    ``start_pairs``: curvature pairs ``(s, y)``, oldest first, of a problem with about
    the same Hessian, the start of the L-BFGS model (pairs without positive curvature
    are left out). ``name``: the solver's name in messages. With a penalty that has no
    L1 term and no penalised entries the orthant steps do nothing, and this is plain
    L-BFGS with a backtracking line search (:func:`.lbfgs.lbfgs_from_memory`).
    """
    k = penalty.n_penalised
    x = np.array(coef0, dtype=np.float64)
    f, g = objective.loss_grad(x)
    check_finite(objective, f, g, 0)
    F = f + penalty.l1_value(x)
    pairs = deque(((s, y, 1.0 / np.dot(s, y)) for s, y in start_pairs
                   if np.dot(s, y) > 1e-12 * np.dot(y, y)), maxlen=memory)
    loss_curve = []
    converged = stopped = False
    message = ""
    it = 0
    while it < max_iter:
        pg = penalty.pseudo_gradient(x, g)
        if np.max(np.abs(pg), initial=0.0) <= tol:
            converged = True
            break
        accepted = None
        for fresh in (False, True):  # on failure, retry once from steepest descent
            if fresh or not pairs:
                pairs.clear()
                d = -pg
                t = min(1.0, 1.0 / np.linalg.norm(pg))
            else:
                d = -two_loop(pg, pairs)
                t = 1.0
            d[:k][d[:k] * pg[:k] >= 0] = 0.0  # stay in the orthant -pg points to
            if np.dot(pg, d) >= 0:  # no descent: the model is stale
                if fresh:
                    break
                continue
            orthant = np.where(x[:k] != 0, np.sign(x[:k]), np.sign(-pg[:k]))
            for _ in range(maxls):
                x_new = x + t * d
                xk = x_new[:k]
                xk[xk * orthant <= 0] = 0.0  # crossing zero stops at zero
                f_new, g_new = objective.loss_grad(x_new)
                check_finite(objective, f_new, g_new, it + 1)
                F_new = f_new + penalty.l1_value(x_new)
                if F_new <= F + _C1 * np.dot(pg, x_new - x):
                    accepted = (x_new, f_new, g_new, F_new)
                    break
                t *= 0.5
            if accepted is not None:
                break
        if accepted is None:
            message = "the line search found no decrease of the objective"
            break
        it += 1
        x_new, f_new, g_new, F_new = accepted
        s, y = x_new - x, g_new - g
        sy = np.dot(s, y)
        if sy > 1e-12 * np.dot(y, y):  # keep only pairs with positive curvature
            pairs.append((s, y, 1.0 / sy))
        small_change = stalled(F, F_new, ftol)
        x, f, g, F = x_new, f_new, g_new, F_new
        if end_iteration(name, it, x, F, loss_curve, verbose, callback):
            stopped = True
            break
        if small_change:
            converged = True
            break
    if not (converged or stopped) and max_iter > 0:
        warn_not_converged(name, message, tol, it)
    return SolverResult(x, it, converged, loss_curve, stopped,
                        [(s, y) for s, y, _ in pairs])
