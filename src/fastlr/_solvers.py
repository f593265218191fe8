"""Solvers. Each asks the objective only for ``(J, grad)`` at a coefficient vector.

``lbfgs``
    ``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` with scikit-learn's
    settings (``gtol=tol``, ``ftol=64 * eps``, ``maxls=50``), so that both stop at the
    same point.
``gd``
    The textbook batch gradient descent ``coef <- coef - learning_rate * grad``,
    stopped when ``max |grad| <= tol``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize
from sklearn.exceptions import ConvergenceWarning


@dataclass
class SolverResult:
    coef: np.ndarray
    n_iter: int
    converged: bool
    loss_curve: list = field(default_factory=list)


def _check_finite(objective, J, grad, it):
    """Stop with a clear error, never hand back NaN coefficients.

    X is not scanned for NaN/inf before the fit (that costs a pass over X as long as
    an epoch): a non-finite value in X makes the very first loss or gradient
    non-finite, and only then is X scanned, to say so.
    """
    if not (np.isfinite(J) and np.all(np.isfinite(grad))):
        message = objective.input_error()
        if message is not None:
            raise ValueError(message)
        raise ValueError(
            f"The objective became non-finite (J={J}) at iteration {it}. For "
            "solver='gd' lower learning_rate; otherwise rescale X (features of very "
            "large magnitude overflow the linear predictor)."
        )


def lbfgs(objective, coef0, *, tol, max_iter, verbose=0):
    loss_curve = []

    def fun(coef):
        J, grad = objective.loss_grad(coef)
        _check_finite(objective, J, grad, len(loss_curve))
        return J, grad

    def callback(intermediate_result):
        loss_curve.append(float(intermediate_result.fun))
        if verbose:
            print(f"[fastlr lbfgs] iter {len(loss_curve):4d}  J = {loss_curve[-1]:.10g}")

    res = optimize.minimize(
        fun,
        coef0,
        method="L-BFGS-B",
        jac=True,
        callback=callback,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    converged = res.status == 0
    if not converged:
        msg = res.message.decode() if isinstance(res.message, bytes) else res.message
        warnings.warn(
            f"lbfgs failed to converge after {res.nit} iteration(s) (status="
            f"{res.status}): {msg}. Increase max_iter or scale the data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return SolverResult(np.asarray(res.x, dtype=np.float64), int(res.nit), converged,
                        loss_curve)


def gd(objective, coef0, *, tol, max_iter, learning_rate, verbose=0):
    coef = np.array(coef0, dtype=np.float64)
    loss_curve = []
    converged = False
    it = 0
    if max_iter == 0:  # no step, but bad input is still reported
        J, grad = objective.loss_grad(coef)
        _check_finite(objective, J, grad, 0)
    for it in range(1, max_iter + 1):
        J, grad = objective.loss_grad(coef)  # J, dw, db at the current coefficients
        _check_finite(objective, J, grad, it)
        loss_curve.append(float(J))
        if verbose:
            print(f"[fastlr gd] iter {it:4d}  J = {J:.10g}")
        if np.max(np.abs(grad), initial=0.0) <= tol:
            converged = True
            it -= 1  # no step was needed at this iteration
            break
        coef -= learning_rate * grad  # w := w - alpha dw ; b := b - alpha db
    if not converged and max_iter > 0:
        warnings.warn(
            f"gd did not converge after {max_iter} iteration(s) (max |grad| > tol="
            f"{tol}). Increase max_iter or learning_rate.",
            ConvergenceWarning,
            stacklevel=3,
        )
    return SolverResult(coef, max(it, 0), converged, loss_curve)


def gd_auto_learning_rate(mean_sq_norm, fit_intercept, l2, n_classes=2):
    """A step size that cannot diverge: 1 / L for the objective's Lipschitz constant.

    The Hessian of the mean log-loss is ``sum_i s_i h_i x_i x_i^T / sum_i s_i`` with
    ``h_i <= c`` (``c = 1/4`` for the sigmoid, ``1/2`` for the softmax), so its largest
    eigenvalue is at most ``c`` times its trace, the weighted mean of
    ``||x_i||^2 (+ 1 for the intercept)``; the penalty adds ``l2``.

    mean_sq_norm : float, the (sample-weighted) mean of ``||x_i||^2``
    """
    c = 0.25 if n_classes == 2 else 0.5
    return 1.0 / max(c * (mean_sq_norm + float(fit_intercept)) + l2, 1e-12)
