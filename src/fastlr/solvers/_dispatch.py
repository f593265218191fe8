"""Which fastlr solver runs for scikit-learn's solver name, and running it.

Every name scikit-learn accepts runs a fastlr solver that minimises the same
objective (so the model is the same):

- ``"newton-cholesky"`` with a smooth penalty: :func:`.newton.newton`, where the
  backend computes the Hessian and it fits in memory (:data:`MAX_HESSIAN_BYTES`);
- any other name with a smooth penalty: :func:`.lbfgs.lbfgs`;
- an L1 term: :func:`.owlqn.owlqn`; ``"gd"``: :func:`.gd.gd`.
"""

from __future__ import annotations

from .gd import gd
from .lbfgs import lbfgs
from .newton import newton
from .owlqn import owlqn

# Largest dense Hessian Newton's method forms (n_coef^2 float64 values): 2 GiB, about
# 16,000 coefficients. Past it "newton-cholesky" is refused with a ValueError.
MAX_HESSIAN_BYTES = 2 * 2**30


def fastlr_solver(solver, penalty, objective=None):
    """The fastlr solver ("lbfgs", "newton", "owlqn" or "gd") for scikit-learn's
    ``solver`` name, the penalty and (for Newton) the objective's backend."""
    if solver == "gd":
        return "gd"
    if not penalty.smooth:
        return "owlqn"
    if solver == "newton-cholesky" and objective is not None and objective.has_hessian:
        nbytes = objective.hessian_nbytes()
        if nbytes > MAX_HESSIAN_BYTES:
            raise ValueError(
                f"solver='newton-cholesky' forms the dense Hessian of all "
                f"{objective.n_coef} coefficients ({nbytes / 2**30:.1f} GiB, more than "
                f"the {MAX_HESSIAN_BYTES / 2**30:.0f} GiB allowed); use solver='lbfgs' "
                "for this many features and classes.")
        return "newton"
    return "lbfgs"


def solve(name, objective, penalty, coef0, *, tol, max_iter, verbose=0,
          learning_rate=None, callback=None):
    """Run the fastlr solver ``name`` (see :func:`fastlr_solver`); its SolverResult."""
    common = dict(tol=tol, max_iter=max_iter, verbose=verbose, callback=callback)
    if name == "lbfgs":
        return lbfgs(objective, coef0, **common)
    if name == "newton":
        return newton(objective, coef0, **common)
    if name == "owlqn":
        return owlqn(objective, penalty, coef0, **common)
    return gd(objective, coef0, learning_rate=learning_rate, penalty=penalty, **common)
