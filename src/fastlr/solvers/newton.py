"""``newton``: Newton's method with a Cholesky solve, scikit-learn's "newton-cholesky".

Minimises the smooth objective (loss plus L2 term) with the exact Hessian, which the
backend sums in the same pass over X as the loss and gradient
(:meth:`fastlr._loss.LogisticObjective.loss_grad_hess`). Each iteration

1. solves ``H d = -g`` (LAPACK's Cholesky, ``scipy.linalg.solve(assume_a="pos")``);
2. backtracks along ``d`` from ``t = 1`` (halving, at most 21 trials) until the Armijo
   condition ``J(x + t d) <= J(x) + sigma t g.d`` holds with ``sigma = 2^-11``, or the
   loss changes by no more than ``16 eps |J|`` while the gradient's 1-norm falls;
3. stops when ``max |g| <= tol`` at the new point and the Newton decrement
   ``d^T H d / 2 <= tol``.

Steps 2 and 3 are scikit-learn's ``NewtonCholeskySolver``'s (its line search and
stopping rule, on the same objective and scale), so both stop at the same point.

Passes over X: the first trial point of an iteration is evaluated with its Hessian
(``loss_grad_hess``), since a full step is accepted almost always and that Hessian is
the next iteration's; later trials ask for the loss and gradient only. When the
decrement already says the run is about to converge, the trial is evaluated without
the Hessian, so the last iteration costs one gradient pass. One pass per iteration in
all, where scikit-learn's solver makes two (a loss-and-gradient pass in the line
search, then a gradient-and-Hessian pass).

The multinomial model is flat along the directions of
:meth:`~fastlr._loss.LogisticObjective.shift_invariant_groups` (one number added to
every class's intercept; with no L2 term, to every class's coefficient of a feature),
where its Hessian is singular. The gradient is orthogonal to them, so adding
``c u u^T`` for each such direction ``u`` (any ``c > 0``) makes ``H`` positive definite
without changing the step; the result is centred along them at the end (the same
probabilities), as scikit-learn's symmetric parametrisation.

If the Hessian is singular or too ill-conditioned to factor, the step is not a
descent direction or the line search fails, the solver warns and continues with
L-BFGS-B from the current point for the remaining iterations, as scikit-learn's does.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
from sklearn.exceptions import ConvergenceWarning

from ._common import SolverResult, check_finite, end_iteration
from .lbfgs import lbfgs

_BETA, _SIGMA = 0.5, 2.0**-11  # step halving, Armijo constant
_MAX_TRIALS = 21  # down to t = 2^-20


def _newton_step(H, g, groups):
    """``d`` solving ``H d = -g``, with the flat directions of ``groups`` lifted."""
    if groups:
        H = H.copy()
        c = max(float(np.mean(np.diag(H))), 1e-12)
        for idx in groups:
            H[np.ix_(idx, idx)] += c
    with warnings.catch_warnings():
        warnings.simplefilter("error", scipy.linalg.LinAlgWarning)
        return scipy.linalg.solve(H, -g, assume_a="pos", check_finite=False)


def _centre(x, groups):
    for idx in groups:
        x[idx] -= x[idx].mean()
    return x


def newton(objective, coef0, *, tol, max_iter, verbose=0, callback=None):
    """Minimise ``objective`` (smooth) from ``coef0``; see :mod:`fastlr.solvers`."""
    x = np.array(coef0, dtype=np.float64)
    groups = objective.shift_invariant_groups()
    if max_iter == 0:
        f, g = objective.loss_grad(x)
        check_finite(objective, f, g, 0)
        return SolverResult(x, 0, False, [])
    f, g, H = objective.loss_grad_hess(x)
    check_finite(objective, f, g, 0)
    eps = 16 * np.finfo(np.float64).eps
    loss_curve = []
    converged = stopped = False
    fallback = None
    it = 0
    while it < max_iter:
        try:
            d = _newton_step(H, g, groups)
        except (np.linalg.LinAlgError, scipy.linalg.LinAlgWarning) as e:
            fallback = (scipy.linalg.LinAlgWarning,
                        "a singular or very ill-conditioned Hessian matrix at "
                        f"iteration {it + 1} ({e})")
            break
        slope = float(g @ d)
        if not slope < 0:
            fallback = (ConvergenceWarning,
                        f"a Newton step that is not a descent direction at iteration "
                        f"{it + 1}")
            break
        decrement = 0.5 * float(d @ H @ d)
        expect_last = decrement <= tol
        t = 1.0
        H_new = None
        for trial in range(_MAX_TRIALS):
            x_new = x + t * d
            if trial == 0 and not expect_last:
                f_new, g_new, H_new = objective.loss_grad_hess(x_new)
            else:
                f_new, g_new = objective.loss_grad(x_new)
                H_new = None
            check_finite(objective, f_new, g_new, it + 1)
            change = f_new - f
            if change <= t * _SIGMA * slope:
                break
            if abs(change) <= eps * abs(f) and (np.abs(g_new).sum() < np.abs(g).sum()):
                break
            t *= _BETA
        else:
            fallback = (ConvergenceWarning,
                        f"a line search that did not converge after {_MAX_TRIALS} "
                        f"trials at iteration {it + 1}")
            break
        it += 1
        x, f, g = x_new, f_new, g_new
        if end_iteration("newton", it, x, f, loss_curve, verbose, callback,
                         f"  step = {t:g}"):
            stopped = True
            break
        if np.max(np.abs(g), initial=0.0) <= tol and decrement <= tol:
            converged = True
            break
        if H_new is None:
            f, g, H = objective.loss_grad_hess(x)
            check_finite(objective, f, g, it)
        else:
            H = H_new
    if fallback is not None:
        category, what = fallback
        warnings.warn(
            f"The Newton solver ran into {what}; it continues with lbfgs for the "
            "remaining iterations. Removing collinear features of X or a stronger "
            "penalty (smaller C) avoid this.",
            category,
            stacklevel=3,
        )
        # the failed Newton iteration counts against max_iter, as in scikit-learn
        rest = lbfgs(objective, x, tol=tol, max_iter=max(max_iter - it - 1, 0),
                     verbose=verbose, callback=callback)
        return SolverResult(_centre(rest.coef, groups), it + rest.n_iter, rest.converged,
                            loss_curve + rest.loss_curve, rest.stopped)
    if not (converged or stopped):
        warnings.warn(f"The Newton solver did not converge after {it} iterations. "
                      "Increase max_iter or scale the data.", ConvergenceWarning,
                      stacklevel=3)
    return SolverResult(_centre(x, groups), it, converged, loss_curve, stopped)
