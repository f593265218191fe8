"""``lbfgs``: scipy's L-BFGS-B with scikit-learn's settings, for smooth penalties.

``scipy.optimize.minimize(method="L-BFGS-B", jac=True)`` with ``gtol=tol``,
``ftol=64 * eps`` and ``maxls=50``, as scikit-learn's ``LogisticRegression`` calls it,
so that both stop at the same point.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy import optimize
from sklearn.exceptions import ConvergenceWarning

from ._common import SolverResult, check_finite

_STOPPED_BY_CALLBACK = 99  # scipy's status when the callback raised StopIteration


def lbfgs(objective, coef0, *, tol, max_iter, verbose=0, callback=None):
    """Minimise ``objective`` (smooth) from ``coef0``; see :mod:`fastlr.solvers`.

    ``max_iter=0`` returns ``coef0`` (scipy's L-BFGS-B would still take one step, and
    scikit-learn's lbfgs with it), as every other fastlr solver does; bad input is
    still reported by the one evaluation.
    """
    if max_iter == 0:
        J, grad = objective.loss_grad(coef0)
        check_finite(objective, J, grad, 0)
        return SolverResult(np.array(coef0, dtype=np.float64), 0, False, [])
    loss_curve = []

    def fun(coef):
        J, grad = objective.loss_grad(coef)
        check_finite(objective, J, grad, len(loss_curve))
        return J, grad

    def on_iteration(intermediate_result):
        loss_curve.append(float(intermediate_result.fun))
        if verbose:
            print(f"[fastlr lbfgs] iter {len(loss_curve):4d}  J = {loss_curve[-1]:.10g}")
        if callback is not None and callback(intermediate_result.x):
            raise StopIteration

    res = optimize.minimize(
        fun,
        coef0,
        method="L-BFGS-B",
        jac=True,
        callback=on_iteration,
        options={
            "maxiter": max_iter,
            "maxls": 50,
            "gtol": tol,
            "ftol": 64 * np.finfo(float).eps,
        },
    )
    stopped = res.status == _STOPPED_BY_CALLBACK
    converged = res.status == 0
    if not (converged or stopped):
        msg = res.message.decode() if isinstance(res.message, bytes) else res.message
        warnings.warn(
            f"lbfgs failed to converge after {res.nit} iteration(s) (status="
            f"{res.status}): {msg}. Increase max_iter or scale the data.",
            ConvergenceWarning,
            stacklevel=3,
        )
    n_iter = min(int(res.nit), max_iter)  # as scikit-learn reports it
    return SolverResult(np.asarray(res.x, dtype=np.float64), n_iter, converged,
                        loss_curve, stopped)
