"""What every solver shares: its result, the finiteness check, the iteration hook.

A solver takes the objective (``loss_grad(coef) -> (J, grad)``, the smooth part: loss
plus the penalty's L2 term), the penalty (:mod:`fastlr._penalty`, for its non-smooth
L1 term and the stopping test), a start vector and its settings, and returns a
:class:`SolverResult`.

``callback``, when given, is called as ``callback(coef)`` after every iteration with
the new coefficients (a flat float64 vector the solver will not modify); returning
True stops the solver there. The estimator uses it for scikit-learn's callbacks.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class SolverResult:
    """coef: the flat solution; n_iter: iterations made; converged: the stopping
    test passed (False also when a callback stopped the solver); loss_curve: the
    objective after each iteration; stopped: a callback asked to stop; state: what a
    later run of the same solver can start from (owlqn: its curvature pairs)."""

    coef: np.ndarray
    n_iter: int
    converged: bool
    loss_curve: list = field(default_factory=list)
    stopped: bool = False
    state: object = None


def check_finite(objective, J, grad, it):
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
