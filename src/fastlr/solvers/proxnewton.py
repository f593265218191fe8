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
    stalled,
    warn_not_converged,
)

_SIGMA = 1e-4
_MAX_TRIALS = 30
_MAX_SWEEPS = 200
_INNER_TOL = 1e-3  # coordinate descent stops when no move exceeds this times max |d|


def proxnewton(objective, penalty, coef0, *, tol, max_iter, hessian_objective=None,
               ftol=64 * np.finfo(float).eps, verbose=0, callback=None):
    """Minimise ``objective`` + ``penalty``'s L1 term from ``coef0``; a SolverResult."""
    from ._cd import cd_prox_newton_step_groups

    hess_obj = objective if hessian_objective is None else hessian_objective
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
    loss_curve = []
    converged = stopped = False
    message = ""
    it = 0
    while it < max_iter:
        pg = penalty.pseudo_gradient(x, g)
        violation = float(np.max(np.abs(pg), initial=0.0))
        if violation <= tol:
            converged = True
            break
        if H is None:
            _, _, H = hess_obj.loss_grad_hess(x)
            H = np.ascontiguousarray(H)
            HU = np.ascontiguousarray(H @ U)
            uHu = np.einsum("ij,ij->j", U, HU)
        d = np.zeros_like(x)
        cd_prox_newton_step_groups(H, g, x, l1, k, _MAX_SWEEPS, _INNER_TOL, d, groups,
                                   HU, uHu)
        l1_x = penalty.l1_value(x)
        delta = float(g @ d) + penalty.l1_value(x + d) - l1_x
        predicted = delta + 0.5 * float(d @ H @ d)  # the model's change of F
        if not delta < 0:
            if hessian_objective is not None and hess_obj is not objective:
                hess_obj, H = objective, None  # the sample's model fails: use all rows
                continue
            message = "the proximal Newton model gave no descent direction"
            break
        t = 1.0
        accepted = None
        for _ in range(_MAX_TRIALS):
            x_new = x + t * d
            f_new, g_new = objective.loss_grad(x_new)
            check_finite(objective, f_new, g_new, it + 1)
            F_new = f_new + penalty.l1_value(x_new)
            if F_new <= F + _SIGMA * t * delta:
                accepted = (x_new, f_new, g_new, F_new)
                break
            t *= 0.5
        if accepted is None:
            message = "the line search found no decrease of the objective"
            break
        x_new, f_new, g_new, F_new = accepted
        # refresh the curvature where the model has drifted: a shortened step, or a
        # full step whose actual decrease is far from the model's
        ratio = (F_new - F) / predicted if predicted < 0 else 0.0
        if t < 1.0 or not 0.8 <= ratio <= 1.25:
            H = None
        it += 1
        small_change = stalled(F, F_new, ftol)
        x, f, g, F = x_new, f_new, g_new, F_new
        if end_iteration("proxnewton", it, x, F, loss_curve, verbose, callback,
                         f"  step = {t:g}  actual / model decrease = {ratio:.3g}"):
            stopped = True
            break
        if small_change:
            converged = True
            break
    if not (converged or stopped) and max_iter > 0:
        warn_not_converged("proxnewton", message, tol, it)
    if not objective.binary and objective.fit_intercept:
        # F does not change when one number is added to every class's intercept; the
        # coordinate descent may drift along that direction. Centred, as the
        # gradient-based solvers' (and scikit-learn's) intercepts are.
        B = x[objective.n_rows * objective.n_features:]
        B -= B.mean()
    return SolverResult(x, it, converged, loss_curve, stopped)
