"""Solvers. Each asks the objective only for ``(J, grad)`` of the smooth part (the
loss plus the penalty's L2 term) at a flat coefficient vector, and the penalty
(:mod:`fastlr._penalty`) for its L1 term, so each runs unchanged on every backend and
every kind of input.

``lbfgs`` (:mod:`.lbfgs`)
    scipy's L-BFGS-B with scikit-learn's settings; smooth penalties only.
``owlqn`` (:mod:`.owlqn`)
    orthant-wise L-BFGS for L1 and elastic-net penalties; exact zeros.
``gd`` (:mod:`.gd`)
    textbook batch gradient descent, proximal (ISTA) with an L1 term.

Every solver returns a :class:`SolverResult` and calls an optional
``callback(coef)`` after each iteration (see :mod:`._common`).
"""

from ._common import SolverResult, check_finite
from .gd import gd, gd_auto_learning_rate
from .lbfgs import lbfgs
from .owlqn import owlqn

__all__ = ["SolverResult", "check_finite", "gd", "gd_auto_learning_rate", "lbfgs",
           "owlqn"]
