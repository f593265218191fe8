"""Solvers. Each asks the objective only for ``(J, grad)`` of the smooth part (the
loss plus the penalty's L2 term) at a flat coefficient vector, and the penalty
(:mod:`fastlr._penalty`) for its L1 term, so each runs unchanged on every backend and
every kind of input.

``lbfgs`` (:mod:`.lbfgs`)
    scipy's L-BFGS-B with scikit-learn's settings; smooth penalties only. After a
    presolve, L-BFGS with the same stopping tests whose Hessian model starts from the
    presolve's curvature pairs (``lbfgs_from_memory``).
``newton`` (:mod:`.newton`)
    Newton's method with a Cholesky solve and the exact Hessian (scikit-learn's
    "newton-cholesky"); smooth penalties only.
``proxnewton`` (:mod:`.proxnewton`)
    proximal Newton for L1 and elastic-net penalties: the exact gradient, the Hessian
    of a sample of the rows, coordinate descent on the model; exact zeros.
``owlqn`` (:mod:`.owlqn`)
    orthant-wise L-BFGS for L1 and elastic-net penalties; exact zeros.
``gd`` (:mod:`.gd`)
    textbook batch gradient descent, proximal (ISTA) with an L1 term.

Every solver returns a :class:`SolverResult` and calls an optional
``callback(coef)`` after each iteration (see :mod:`._common`).
"""

from ._common import SolverResult, check_finite
from ._dispatch import MAX_HESSIAN_BYTES, fastlr_solver, presolve, solve
from .gd import gd, gd_auto_learning_rate
from .lbfgs import lbfgs, lbfgs_from_memory
from .newton import newton
from .owlqn import owlqn
from .proxnewton import proxnewton

__all__ = ["MAX_HESSIAN_BYTES", "SolverResult", "check_finite", "fastlr_solver", "gd",
           "gd_auto_learning_rate", "lbfgs", "lbfgs_from_memory", "newton", "owlqn",
           "presolve", "proxnewton", "solve"]
