"""Which fastlr solver runs for scikit-learn's solver name, and running it.

Every name scikit-learn accepts runs a fastlr solver that minimises the same
objective (so the model is the same):

- ``"newton-cholesky"`` with a smooth penalty: :func:`.newton.newton`, where the
  backend computes the Hessian and it fits in memory (:data:`MAX_HESSIAN_BYTES`);
- any other name with a smooth penalty: :func:`.lbfgs.lbfgs`;
- an L1 term: :func:`.proxnewton.proxnewton` where the backend computes the Hessian
  and there are at most :data:`PROXNEWTON_MAX_COEF` coefficients; for the binary
  model with more, proximal Newton on working sets of features
  (``"proxnewton-ws"``) where the backend computes the Hessian of a subset of the
  features; otherwise :func:`.owlqn.owlqn`;
- ``"gd"``: :func:`.gd.gd`.

:func:`presolve` finds the starting point of a large fit: the same solver on a sample
of the rows.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .gd import gd
from .lbfgs import lbfgs, lbfgs_from_memory
from .newton import newton
from .owlqn import owlqn
from .proxnewton import proxnewton

# Largest dense Hessian Newton's method forms (n_coef^2 float64 values): 2 GiB, about
# 16,000 coefficients. Past it "newton-cholesky" is refused with a ValueError.
MAX_HESSIAN_BYTES = 2 * 2**30


# Proximal Newton minimises an L1 term where there are at most PROXNEWTON_MAX_COEF
# coefficients (a dense Hessian; a coordinate-descent sweep costs n_coef^2) and one
# Hessian costs at most PROXNEWTON_MAX_HESSIAN_PASSES gradient passes in multiply-adds
# (rows x n_coef^2 / 2 against n_samples x n_coef, rows: the sample's, see
# _hessian_rows); OWL-QN otherwise. Proximal Newton took 3 Hessians and about 15
# gradients where OWL-QN took 130 to 400 gradients; measured: 500,000 x 100 with 10
# classes (a sample, 32 passes' worth) 2.2 s against 9 s, and 100,000 x 100 with 10
# classes (no sample, 505 passes' worth) 6.2 s against 4.6 s.
PROXNEWTON_MAX_COEF = 2048
PROXNEWTON_MAX_HESSIAN_PASSES = 64
# Past PROXNEWTON_MAX_COEF coefficients a binary L1 fit runs proximal Newton on working
# sets (the Hessian of the support and the worst violators only, exact over all rows;
# OWL-QN takes over if the working set passes proxnewton.WS_MAX_FEATURES). Measured on
# the CSR benchmark matrix (1,000,000 x 100,000, C = 0.1, to within 1e-8 of the best
# objective): 0.71 s against OWL-QN's 3.2 s (l1_ratio = 1), 1.7 s against 4.4 s
# (l1_ratio = 0.5).


def fastlr_solver(solver, penalty, objective=None):
    """The fastlr solver ("lbfgs", "newton", "proxnewton", "proxnewton-ws", "owlqn"
    or "gd") for scikit-learn's ``solver`` name, the penalty and (for the Newton
    methods) the objective: its backend must compute the Hessian."""
    if solver == "gd":
        return "gd"
    if not penalty.smooth:
        if objective is None:
            return "owlqn"
        if objective.n_coef <= PROXNEWTON_MAX_COEF:
            if (objective.has_hessian
                    and _hessian_rows(objective) * objective.n_coef
                    <= 2 * PROXNEWTON_MAX_HESSIAN_PASSES * objective._X_input.shape[0]):
                return "proxnewton"
        elif objective.has_hessian_cols and objective.rows_in_memory:
            return "proxnewton-ws"
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
          learning_rate=None, callback=None, path_state=None, memory=None):
    """Run the fastlr solver ``name`` (see :func:`fastlr_solver`); its SolverResult.

    ``memory``: curvature pairs that came with ``coef0`` (:func:`presolve`'s); lbfgs
    then starts its Hessian model from them (:func:`.lbfgs.lbfgs_from_memory`).

    ``path_state``: a dict kept by the caller across a sequence of fits of the same
    ``objective`` with different penalties (a regularisation path): proximal Newton
    keeps its row sample and its last Hessian there, and the next fit starts from
    that Hessian (the loss's curvature at a nearby point, with the new L2 term)
    instead of computing one first.
    """
    common = dict(tol=tol, max_iter=max_iter, verbose=verbose, callback=callback)
    if name == "lbfgs":
        if memory:
            return lbfgs_from_memory(objective, coef0, memory, **common)
        return lbfgs(objective, coef0, **common)
    if name == "newton":
        return newton(objective, coef0, **common)
    if name == "owlqn":
        return owlqn(objective, penalty, coef0, **common)
    # the L1 solvers stand in for scikit-learn's saga: a fit stops on saga's test
    # (each step, relative to the largest coefficient), the points of a path on the
    # largest pseudo-gradient entry, which needs fewer iterations and Hessians there
    # (500,000 x 100, 10 classes, l1_ratios=[0.5, 1], cv=5: 476 iterations and 87
    # sampled Hessians, 59 s, with saga's test on every point against 124, 22 s)
    if name == "proxnewton":
        if path_state is None:
            sample = _sample(objective)
        else:
            if "sample" not in path_state:
                path_state["sample"] = _sample(objective)
            sample = path_state["sample"]
            if sample is not None:
                sample.l2 = objective.l2
        return proxnewton(objective, penalty, coef0, hessian_objective=sample,
                          hessian_state=path_state, step_test=path_state is None,
                          **common)
    if name == "proxnewton-ws":
        return proxnewton(objective, penalty, coef0, working_set=True,
                          step_test=path_state is None, **common)
    return gd(objective, coef0, learning_rate=learning_rate, penalty=penalty, **common)


# A fit starts from the solution of the same problem on every PRESOLVE_STEP-th row (see
# presolve) when X has at least PRESOLVE_MIN_ELEMENTS stored values, and the sample
# has at least PRESOLVE_MIN_ROWS rows and PRESOLVE_ROWS_PER_COEF rows per coefficient
# of one class (fewer, and its optimum is too far from the full one to save passes).
PRESOLVE_STEP = 16
PRESOLVE_MIN_ELEMENTS = 20_000_000
PRESOLVE_MIN_ROWS = 200_000 // PRESOLVE_STEP
PRESOLVE_ROWS_PER_COEF = 5


def _worth_sampling(objective):
    """Whether X is large enough for a sample of every ``PRESOLVE_STEP``-th row (the
    thresholds above) and in memory (not Dask or already on a GPU)."""
    if not objective.rows_in_memory:
        return False
    X = objective._X_input
    n_sample = -(-X.shape[0] // PRESOLVE_STEP)
    stored = X.nnz if hasattr(X, "nnz") else X.size
    return not (stored < PRESOLVE_MIN_ELEMENTS or n_sample < PRESOLVE_MIN_ROWS
                or n_sample < PRESOLVE_ROWS_PER_COEF * (X.shape[1] + 1))


def _hessian_rows(objective):
    """Rows the proximal Newton Hessian is summed over: the sample's, or all."""
    n = objective._X_input.shape[0]
    return -(-n // PRESOLVE_STEP) if _worth_sampling(objective) else n


def _sample(objective):
    """The objective on every ``PRESOLVE_STEP``-th row where that sample is worth
    taking, else None: the presolve's problem, and proximal Newton's Hessian source
    (None: the objective itself)."""
    return objective.subsample(PRESOLVE_STEP) if _worth_sampling(objective) else None


def presolve(name, objective, penalty, coef0, *, tol, max_iter):
    """A starting point for ``objective``: the same solver's solution on a sample.

    The objective on every ``PRESOLVE_STEP``-th row (same penalty strength) has its
    optimum within sampling error of the full one (about ``1 / sqrt(n_rows / step)``
    relative), and costs ``1 / PRESOLVE_STEP`` of a pass per evaluation. From there the
    fit on all rows needs fewer passes over X: L-BFGS starts from the sample's
    curvature pairs (its Hessian is the full one's, up to sampling error), Newton's
    method starts in its quadratic phase. The fit on all rows still runs to its own
    stopping test, so the model is the one that test accepts.

    Returns ``(coef, memory)``: the start, and lbfgs's last curvature pairs on the
    sample (empty for the other solvers), for :func:`solve`. ``coef0`` and no pairs
    where there is no sample worth taking (see the thresholds above; Dask or GPU
    data; a class missing from the sample) or the presolve does not give a finite
    point; ``"gd"`` and the proximal Newton solvers are not presolved.
    """
    if name in ("gd", "proxnewton", "proxnewton-ws") or max_iter == 0:
        return coef0, []
    sub = _sample(objective)
    if sub is None:
        return coef0, []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            res = solve(name, sub, penalty, coef0, tol=tol, max_iter=max_iter)
        except ValueError:  # non-finite: the fit on all rows will say why
            return coef0, []
    if not np.all(np.isfinite(res.coef)):
        return coef0, []
    return res.coef, res.memory
