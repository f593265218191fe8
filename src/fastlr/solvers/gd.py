"""``gd``: the textbook batch gradient descent, proximal where there is an L1 term.

Each iteration takes ``coef <- coef - learning_rate * grad`` (``w := w - alpha dw``,
``b := b - alpha db``) on the smooth part (loss plus the L2 term), then, where the
penalty has an L1 term, the penalty's proximal operator (soft thresholding at
``learning_rate * l1``, intercepts untouched): proximal gradient descent (ISTA), which
lands on exact zeros. It stops when the optimality violation (the largest absolute
gradient entry; with an L1 term, the distance to the subdifferential) is ``<= tol``.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ._common import SolverResult, check_finite


def gd(objective, coef0, *, tol, max_iter, learning_rate, penalty=None, verbose=0,
       callback=None):
    """Minimise ``objective`` (+ ``penalty``'s L1 term) from ``coef0``."""
    coef = np.array(coef0, dtype=np.float64)
    proximal = penalty is not None and not penalty.smooth
    loss_curve = []
    converged = stopped = False
    it = 0
    if max_iter == 0:  # no step, but bad input is still reported
        J, grad = objective.loss_grad(coef)
        check_finite(objective, J, grad, 0)
    for it in range(1, max_iter + 1):
        J, grad = objective.loss_grad(coef)  # J, dw, db at the current coefficients
        check_finite(objective, J, grad, it)
        if proximal:
            J += penalty.l1_value(coef)
            violation = penalty.violation(coef, grad)
        else:
            violation = np.max(np.abs(grad), initial=0.0)
        loss_curve.append(float(J))
        if verbose:
            print(f"[fastlr gd] iter {it:4d}  J = {J:.10g}")
        if violation <= tol:
            converged = True
            it -= 1  # no step was needed at this iteration
            break
        if proximal:
            coef = penalty.prox(coef - learning_rate * grad, learning_rate)
        else:
            coef -= learning_rate * grad  # w := w - alpha dw ; b := b - alpha db
        if callback is not None and callback(coef):
            stopped = True
            break
    if not (converged or stopped) and max_iter > 0:
        warnings.warn(
            f"gd did not converge after {max_iter} iteration(s) (optimality violation "
            f"> tol={tol}). Increase max_iter or learning_rate.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return SolverResult(coef, max(it, 0), converged, loss_curve, stopped)


def gd_auto_learning_rate(mean_sq_norm, fit_intercept, l2, n_classes=2):
    """A step size that cannot diverge: 1 / L for the smooth part's Lipschitz constant.

    The Hessian of the mean log-loss is ``sum_i s_i h_i x_i x_i^T / sum_i s_i`` with
    ``h_i <= c`` (``c = 1/4`` for the sigmoid, ``1/2`` for the softmax), so its largest
    eigenvalue is at most ``c`` times its trace, the weighted mean of
    ``||x_i||^2 (+ 1 for the intercept)``; the L2 term adds ``l2``. The same step
    suits the proximal variant (ISTA converges for any step <= 1 / L).

    mean_sq_norm : float, the (sample-weighted) mean of ``||x_i||^2``
    """
    c = 0.25 if n_classes == 2 else 0.5
    return 1.0 / max(c * (mean_sq_norm + float(fit_intercept)) + l2, 1e-12)
