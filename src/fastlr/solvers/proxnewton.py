"""``proxnewton``: proximal Newton for L1 and elastic-net penalties, with the Hessian
of a sample of the rows.

Minimises ``F(x) = f(x) + l1 ||x_P||_1`` (``f``: loss plus L2 term, the objective's
smooth part; ``P``: the penalised entries). Each iteration

1. stops if the largest pseudo-gradient entry is ``<= tol`` (the test OWL-QN and
   L-BFGS-B use, :meth:`fastlr._penalty.Penalty.pseudo_gradient`);
2. builds the model ``f(x) + g.d + 1/2 d^T H d + l1 ||x + d||_1`` with the exact
   gradient ``g`` of ``f`` and a Hessian ``H`` of ``f`` computed on a sample of the
   rows (``hessian_objective``: the same objective on every 16th row, see
   :meth:`fastlr._loss.LogisticObjective.subsample`; or ``f`` itself), and minimises
   it by coordinate descent (:mod:`._cd`; for the multinomial model each sweep also
   moves each feature's coefficients in every class together, exactly, since the loss
   is flat along that direction and one-coordinate moves would crawl there);
3. backtracks along ``d`` from ``t = 1`` (halving) until
   ``F(x + t d) <= F(x) + sigma t Delta`` with ``Delta = g.d + l1 (||x + d||_1 -
   ||x||_1) < 0`` (Tseng and Yun's sufficient decrease), ``sigma = 1e-4``;
4. stops also when ``F`` no longer moves (relative change ``<= 64 eps``, as OWL-QN).

A sampled Hessian is the mean curvature of the loss over the sample, an estimate of
the full one within a few per cent when the sample has many rows per coefficient; the
gradient is exact, so the iterates converge to the minimiser of ``F`` itself, at a
linear rate set by that few per cent (Byrd, Chin, Neveitt and Nocedal, "On the use of
stochastic Hessian information in optimization methods for machine learning", SIAM J.
Optim. 21, 2011, for the smooth case). The Hessian is computed at the first iteration
and again where the model has drifted: the full step is not accepted, or the actual
decrease of ``F`` is not within 0.8 to 1.25 times the model's. Exact zeros
come from the soft thresholding of the inner coordinate descent.

It needs the Hessian (a backend with ``*_hessian_sums``) and a dense
``n_coef x n_coef`` matrix, so it is chosen only for a moderate number of coefficients
(see :func:`fastlr.solvers.fastlr_solver`); OWL-QN serves the rest.
"""

from __future__ import annotations

import numpy as np

from ._common import (
    SolverResult,
    check_finite,
    end_iteration,
    small_step,
    stalled,
    warn_not_converged,
)

_SIGMA = 1e-4
_MAX_TRIALS = 30
_MAX_SWEEPS = 200
_INNER_TOL = 1e-3  # coordinate descent stops when no move exceeds this times max |d|
_MOVING = ("a step still moved a coefficient by more than tol={tol} times the largest "
           "after {it} iteration(s)")


# Working sets (binary model, many features): the support of x plus the features
# violating their optimality condition most, WS_GROW of them per support feature
# (at least WS_MIN_NEW); past WS_MAX_FEATURES features OWL-QN takes over.
WS_MIN_NEW = 128
WS_GROW = 1.0
WS_MAX_FEATURES = 4096
WS_FAR_PAST = 2


def _line_search(objective, penalty, x, d, F, delta, it):
    """Backtrack along ``d`` from ``t = 1`` (halving) until ``F(x + t d) <= F +
    sigma t delta`` (Tseng and Yun's sufficient decrease): ``(t, x_new, f_new,
    g_new, F_new)``, or None after ``_MAX_TRIALS`` trials. ``it``: the iteration
    under way, for the error message of a non-finite objective."""
    t = 1.0
    for _ in range(_MAX_TRIALS):
        x_new = x + t * d
        f_new, g_new = objective.loss_grad(x_new)
        check_finite(objective, f_new, g_new, it + 1)
        F_new = f_new + penalty.l1_value(x_new)
        if F_new <= F + _SIGMA * t * delta:
            return t, x_new, f_new, g_new, F_new
        t *= 0.5
    return None


def _drift(t, F, F_new, predicted):
    """``(ratio, drifted)``: the actual decrease of F over the model's, and whether
    the curvature should be refreshed (a shortened step, or a full step whose actual
    decrease is not within 0.8 to 1.25 times the model's)."""
    ratio = (F_new - F) / predicted if predicted < 0 else 0.0
    return ratio, t < 1.0 or not 0.8 <= ratio <= 1.25


def _working_set(x, pg, k, counts=None):
    """The working set's features: the support of ``x[:k]`` and the largest violators
    of the optimality condition (``pg != 0``) outside it; sorted, or, given the
    stored entries per column (``counts``, CSR X), the most frequent first."""
    support = np.flatnonzero(x[:k])
    score = np.abs(pg[:k])
    score[support] = 0.0
    n_new = max(WS_MIN_NEW, int(WS_GROW * len(support)))
    candidates = np.flatnonzero(score)
    if len(candidates) > n_new:
        top = np.argpartition(score[candidates], len(candidates) - n_new)
        candidates = candidates[top[len(candidates) - n_new:]]
    ws = np.union1d(support, candidates)
    if counts is not None:
        # the pairs of frequent columns, most of a sparse Hessian's products, then
        # fall in one corner of it, which stays in cache: 0.33 s against 0.41 s for
        # a working set of 2,843 columns of the sparse benchmark matrix (2 threads)
        ws = ws[np.argsort(-counts[ws], kind="stable")]
    return ws


def proxnewton(objective, penalty, coef0, *, tol, max_iter, hessian_objective=None,
               working_set=False, hessian_state=None, ftol=64 * np.finfo(float).eps,
               verbose=0, callback=None, step_test=True):
    """Minimise ``objective`` + ``penalty``'s L1 term from ``coef0``; a SolverResult.

    ``step_test``: stop on scikit-learn's saga test applied to each step
    (:func:`._common.small_step`), else on the largest pseudo-gradient entry
    (``<= tol``), the cheaper and looser test the points of a regularisation path
    use (see :func:`fastlr.solvers.solve`).

    ``working_set`` (binary model): each model covers only the working set's features
    and the intercept, with their exact Hessian over all rows
    (:meth:`fastlr._loss.LogisticObjective.hessian_cols`); ``hessian_objective`` is
    then not used.

    ``hessian_state`` (a dict, or None): where the loss part of the last Hessian is
    left for the next fit of a path, and taken from (with this objective's L2 term
    added) for the first model; the usual refresh test replaces it once the model
    drifts. On 500,000 x 100 with 10 classes, ``Cs=10``, ``l1_ratios=[0.5, 1]``, 5
    folds, the CV took 45.3 s with a sampled Hessian computed first at every point of
    the paths.
    """
    from ._cd import cd_prox_newton_step_groups

    hess_obj = objective if hessian_objective is None else hessian_objective
    if working_set:
        return _proxnewton_ws(objective, penalty, coef0, tol=tol, max_iter=max_iter,
                              ftol=ftol, verbose=verbose, callback=callback,
                              step_test=step_test)
    k, l1 = penalty.n_penalised, penalty.l1
    x = np.array(coef0, dtype=np.float64)
    f, g = objective.loss_grad(x)
    check_finite(objective, f, g, 0)
    F = f + penalty.l1_value(x)
    # groups of coordinates the coordinate descent also moves together: for the
    # multinomial model, one feature's coefficients in every class (binary: none)
    K, p = objective.n_rows, objective.n_features
    groups = np.ascontiguousarray(np.arange(K * p).reshape(K, p).T)
    if objective.binary:
        groups = groups[:0]
    U = np.zeros((objective.n_coef, len(groups)))
    U[groups.ravel(), np.repeat(np.arange(len(groups)), groups.shape[1])] = 1.0
    H = HU = uHu = None
    n_pen = objective.n_rows * objective.n_features
    diag = np.arange(n_pen)
    inherited = hessian_state is not None and hessian_state.get("H_loss") is not None
    if inherited:
        H = hessian_state["H_loss"].copy()
        H[diag, diag] += hess_obj.l2
    loss_curve = []
    converged = stopped = False
    message = ""
    it = 0
    while it < max_iter:
        if _optimal(penalty.pseudo_gradient(x, g), tol, step_test):
            converged = True
            break
        if H is None:
            _, _, H = hess_obj.loss_grad_hess(x)
            H = np.ascontiguousarray(H)
            inherited = False
        if HU is None:
            HU = np.ascontiguousarray(H @ U)
            uHu = np.einsum("ij,ij->j", U, HU)
        d = np.zeros_like(x)
        cd_prox_newton_step_groups(H, g, x, l1, k, _MAX_SWEEPS, _INNER_TOL, d, groups,
                                   HU, uHu)
        l1_x = penalty.l1_value(x)
        delta = float(g @ d) + penalty.l1_value(x + d) - l1_x
        predicted = delta + 0.5 * float(d @ H @ d)  # the model's change of F
        if not delta < 0:
            if inherited:  # the previous fit's curvature fails here: compute it
                H = HU = None
                inherited = False
                continue
            if hessian_objective is not None and hess_obj is not objective:
                hess_obj, H, HU = objective, None, None  # the sample fails: use all rows
                continue
            message = "the proximal Newton model gave no descent direction"
            break
        accepted = _line_search(objective, penalty, x, d, F, delta, it)
        if accepted is None:
            message = "the line search found no decrease of the objective"
            break
        t, x_new, f_new, g_new, F_new = accepted
        ratio, drifted = _drift(t, F, F_new, predicted)
        if drifted:
            H = HU = None
        it += 1
        done = stalled(F, F_new, ftol) or (step_test and small_step(d, x_new, tol))
        x, f, g, F = x_new, f_new, g_new, F_new
        if end_iteration("proxnewton", it, x, F, loss_curve, verbose, callback,
                         f"  step = {t:g}  actual / model decrease = {ratio:.3g}"):
            stopped = True
            break
        if done:
            converged = True
            break
    if not (converged or stopped) and max_iter > 0:
        warn_not_converged("proxnewton", message or (
            _MOVING.format(tol=tol, it=it) if step_test else ""), tol, it)
    if hessian_state is not None and H is not None:
        H_loss = H.copy()
        H_loss[diag, diag] -= hess_obj.l2
        hessian_state["H_loss"] = H_loss
    if not objective.binary and objective.fit_intercept:
        # F does not change when one number is added to every class's intercept; the
        # coordinate descent may drift along that direction. Centred, as the
        # gradient-based solvers' (and scikit-learn's) intercepts are.
        B = x[objective.n_rows * objective.n_features:]
        B -= B.mean()
    return SolverResult(x, it, converged, loss_curve, stopped)


def _optimal(pg, tol, step_test):
    """The stopping test before a step: with the step test only an exact optimum (no
    pseudo-gradient entry at all), else the largest entry ``<= tol``."""
    if step_test:
        return not np.any(pg)
    return float(np.max(np.abs(pg), initial=0.0)) <= tol


def _proxnewton_ws(objective, penalty, coef0, *, tol, max_iter, ftol, verbose, callback,
                   step_test):
    """Proximal Newton on working sets (see :func:`proxnewton`)."""
    from ._cd import cd_prox_newton_step

    k, l1 = penalty.n_penalised, penalty.l1
    n = objective.n_coef
    rest = np.arange(k, n)  # the intercept
    counts = objective.column_counts()
    x = np.array(coef0, dtype=np.float64)
    f, g = objective.loss_grad(x)
    check_finite(objective, f, g, 0)
    F = f + penalty.l1_value(x)
    H = ws_H = None
    loss_curve = []
    converged = stopped = False
    message = ""
    it = 0
    while it < max_iter:
        pg = penalty.pseudo_gradient(x, g)
        if _optimal(pg, tol, step_test):
            converged = True
            break
        ws = _working_set(x, pg, k, counts)
        # the support plus every violator predicts the solution's support (on the
        # CSR benchmark matrix, from zero: 3,169 against a final 2,843, 65,720
        # against 58,127 with a weaker penalty): far past the cap, OWL-QN at once
        if (len(ws) > WS_MAX_FEATURES
                or np.count_nonzero(pg[:k]) > WS_FAR_PAST * WS_MAX_FEATURES):
            return _hand_over(objective, penalty, x, it, loss_curve, tol=tol,
                              max_iter=max_iter, verbose=verbose, callback=callback)
        if H is None or not np.array_equal(ws, ws_H):
            H = np.ascontiguousarray(objective.hessian_cols(x, ws))
            ws_H = ws
        idx = np.concatenate([ws, rest])
        g_s, x_s = g[idx], x[idx]
        d_s = np.zeros(len(idx))
        cd_prox_newton_step(H, g_s, x_s, l1, len(ws), _MAX_SWEEPS, _INNER_TOL, d_s)
        d = np.zeros_like(x)
        d[idx] = d_s
        l1_x = penalty.l1_value(x)
        delta = float(g_s @ d_s) + penalty.l1_value(x + d) - l1_x
        predicted = delta + 0.5 * float(d_s @ H @ d_s)
        if not delta < 0:
            message = "the proximal Newton model gave no descent direction"
            break
        accepted = _line_search(objective, penalty, x, d, F, delta, it)
        if accepted is None:
            message = "the line search found no decrease of the objective"
            break
        t, x_new, f_new, g_new, F_new = accepted
        ratio, drifted = _drift(t, F, F_new, predicted)
        if drifted:
            H = None
        it += 1
        done = stalled(F, F_new, ftol) or (step_test and small_step(d, x_new, tol))
        x, f, g, F = x_new, f_new, g_new, F_new
        if end_iteration("proxnewton", it, x, F, loss_curve, verbose, callback,
                         f"  working set = {len(ws)}  step = {t:g}  "
                         f"actual / model decrease = {ratio:.3g}"):
            stopped = True
            break
        if done:
            converged = True
            break
    if not (converged or stopped) and max_iter > 0:
        warn_not_converged("proxnewton", message or (
            _MOVING.format(tol=tol, it=it) if step_test else ""), tol, it)
    return SolverResult(x, it, converged, loss_curve, stopped)


def _hand_over(objective, penalty, x, it, loss_curve, *, tol, max_iter, verbose,
               callback):
    """OWL-QN from ``x`` for the iterations left (a working set too large for a dense
    Hessian: the solution is not sparse enough)."""
    from .owlqn import owlqn

    res = owlqn(objective, penalty, x, tol=tol, max_iter=max_iter - it, verbose=verbose,
                callback=callback)
    return SolverResult(res.coef, it + res.n_iter, res.converged,
                        loss_curve + res.loss_curve, res.stopped)
