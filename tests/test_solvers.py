"""The solvers on the objective directly: optimality, exact zeros, agreement between
solvers, iteration counts, stopping by callback."""

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from fastlr import solvers
from fastlr._loss import LogisticObjective
from fastlr._penalty import make_penalty
from fastlr.backends import numpy_backend

from _helpers import make_binary


def _problem(rng, n_classes=2, n=300, p=8, C=0.05, l1_ratio=1.0):
    X, y = make_binary(rng, n, p)
    if n_classes > 2:
        y = rng.integers(0, n_classes, n)
        X[np.arange(n), y % p] += 2.0  # informative, but not every feature
    n_rows = 1 if n_classes == 2 else n_classes
    pen = make_penalty(C, l1_ratio, n, n_rows * p)
    obj = LogisticObjective(numpy_backend, X, y, None, n_classes, True, pen.l2)
    return obj, pen


def _F(obj, pen, coef):
    return obj.loss_grad(coef)[0] + pen.l1_value(coef)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_owlqn_reaches_the_optimum_with_exact_zeros(rng, n_classes, l1_ratio):
    obj, pen = _problem(rng, n_classes, l1_ratio=l1_ratio)
    res = solvers.owlqn(obj, pen, np.zeros(obj.n_coef), tol=1e-10, max_iter=2000)
    assert res.converged and not res.stopped
    J, g = obj.loss_grad(res.coef)
    # tol=1e-10 is below what float64 objective values resolve here: the solver stops
    # when F no longer moves (ftol), with a violation of order sqrt(eps * F)
    assert pen.violation(res.coef, g) <= 1e-6
    k = pen.n_penalised
    zeros = res.coef[:k] == 0
    assert zeros.any() and not zeros.all()
    # zero entries are optimal: |g_j| <= l1 there (inside the subdifferential)
    assert np.all(np.abs(g[:k][zeros]) <= pen.l1 * (1 + 1e-6))
    # the objective decreases monotonically (Armijo)
    assert np.all(np.diff(res.loss_curve) <= 1e-15)
    # proximal gradient descent, a different algorithm, finds the same point
    lr = solvers.gd_auto_learning_rate(np.mean(np.sum(obj.X ** 2, axis=1)), True,
                                       pen.l2, n_classes)
    gd = solvers.gd(obj, np.zeros(obj.n_coef), tol=1e-9, max_iter=200_000,
                    learning_rate=lr, penalty=pen)
    assert gd.converged
    np.testing.assert_array_equal(gd.coef[:k] == 0, zeros)
    np.testing.assert_allclose(gd.coef, res.coef, atol=1e-6 * np.abs(res.coef).max())
    assert _F(obj, pen, res.coef) <= _F(obj, pen, gd.coef) + 1e-12


def test_owlqn_without_l1_is_lbfgs(rng):
    obj, pen = _problem(rng, l1_ratio=0.0, C=1.0)
    a = solvers.owlqn(obj, pen, np.zeros(obj.n_coef), tol=1e-10, max_iter=500)
    b = solvers.lbfgs(obj, np.zeros(obj.n_coef), tol=1e-10, max_iter=500)
    np.testing.assert_allclose(a.coef, b.coef, rtol=1e-6, atol=1e-6 * np.abs(b.coef).max())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_lbfgs_memory_is_the_curvature_of_its_last_steps(rng, n_classes):
    """lbfgs hands back up to MEMORY pairs (s, y) of its accepted iterates, oldest
    first: positive curvature, and near the optimum y = H s for the exact Hessian."""
    obj, pen = _problem(rng, n_classes, l1_ratio=0.0, C=1.0)
    res = solvers.lbfgs(obj, np.zeros(obj.n_coef), tol=1e-8, max_iter=500)
    assert res.converged and res.n_iter > 10
    assert len(res.memory) == 10  # L-BFGS-B's maxcor, scikit-learn's
    for s, y in res.memory:
        assert np.dot(s, y) > 0
    s, y = res.memory[-1]
    _, _, H = obj.loss_grad_hess(res.coef)
    np.testing.assert_allclose(y, H @ s, atol=1e-3 * np.abs(y).max())
    x_last = res.coef - s  # the pairs end at the solution
    np.testing.assert_allclose(obj.loss_grad(res.coef)[1] - obj.loss_grad(x_last)[1], y,
                               rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_lbfgs_from_memory_reaches_lbfgs_optimum_in_fewer_iterations(rng, n_classes):
    """Started from a sample's solution and curvature pairs (what the presolve hands
    over), L-BFGS with that memory reaches the optimum L-BFGS-B reaches, with fewer
    iterations than L-BFGS-B from the same start; bad pairs (another problem's) and
    no pairs still get there."""
    obj, pen = _problem(rng, n_classes, n=4000, l1_ratio=0.0, C=1.0)
    sample = obj.subsample(4)
    pre = solvers.lbfgs(sample, np.zeros(obj.n_coef), tol=1e-6, max_iter=500)
    ref = solvers.lbfgs(obj, np.zeros(obj.n_coef), tol=1e-10, max_iter=1000)
    scale = np.abs(ref.coef).max()
    plain = solvers.lbfgs(obj, pre.coef, tol=1e-6, max_iter=500)
    seeded = solvers.lbfgs_from_memory(obj, pre.coef, pre.memory, tol=1e-6,
                                                    max_iter=500)
    assert seeded.converged and seeded.n_iter < plain.n_iter
    assert np.all(np.diff(seeded.loss_curve) <= 1e-15)
    assert np.max(np.abs(obj.loss_grad(seeded.coef)[1])) <= 1e-6
    np.testing.assert_allclose(seeded.coef, ref.coef, atol=1e-4 * scale)
    other, _ = _problem(np.random.default_rng(99), n_classes, n=300, l1_ratio=0.0,
                        C=1e-3)
    bad = solvers.lbfgs(other, np.zeros(other.n_coef), tol=1e-8, max_iter=500).memory
    for memory in (bad, []):
        res = solvers.lbfgs_from_memory(obj, pre.coef, memory, tol=1e-8,
                                                     max_iter=500)
        assert res.converged
        np.testing.assert_allclose(res.coef, ref.coef, atol=1e-5 * scale)


def test_lbfgs_from_memory_warns_and_stops_as_asked(rng):
    obj, pen = _problem(rng, l1_ratio=0.0, C=1.0)
    x0 = np.zeros(obj.n_coef)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        res = solvers.lbfgs_from_memory(obj, x0, [], tol=1e-12, max_iter=2)
    assert res.n_iter == 2 and not res.converged
    seen = []
    res = solvers.lbfgs_from_memory(
        obj, x0, [], tol=1e-12, max_iter=100, callback=lambda x: seen.append(x) or True)
    assert res.stopped and res.n_iter == 1 and len(seen) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solvers.lbfgs_from_memory(obj, x0, [], tol=1e-4, max_iter=0)
    assert res.n_iter == 0 and np.array_equal(res.coef, x0)


def test_strong_l1_gives_all_zero_coefficients(rng):
    """Above the critical strength (l1 >= max |grad at w = 0, b optimal|) w = 0."""
    obj, pen = _problem(rng, C=1.0)
    res0 = solvers.owlqn(obj, make_penalty(np.inf, 1.0, 300, pen.n_penalised),
                         np.zeros(obj.n_coef), tol=1e-12, max_iter=500)
    coef = np.zeros(obj.n_coef)
    coef[-1] = np.log(obj.y.mean() / (1 - obj.y.mean()))  # the best intercept alone
    g = obj.loss_grad(coef)[1]
    C_max = 1.0 / (np.abs(g[:-1]).max() * 300)  # alpha = 1 / (C n) = max |g|
    for C in (C_max * 0.99, C_max * 0.5):
        pen = make_penalty(C, 1.0, 300, obj.n_features)
        res = solvers.owlqn(obj, pen, np.zeros(obj.n_coef), tol=1e-10, max_iter=500)
        assert np.all(res.coef[:-1] == 0.0)
        assert res.coef[-1] == pytest.approx(coef[-1], abs=1e-8)
    assert np.all(res0.coef[:-1] != 0.0)
    res = solvers.owlqn(obj, make_penalty(C_max * 1.05, 1.0, 300, obj.n_features),
                        np.zeros(obj.n_coef), tol=1e-10, max_iter=500)
    assert np.count_nonzero(res.coef[:-1]) >= 1


def test_all_zero_features_stay_zero():
    X = np.zeros((50, 4))
    y = np.r_[np.zeros(20), np.ones(30)]
    pen = make_penalty(1.0, 1.0, 50, 4)
    obj = LogisticObjective(numpy_backend, X, y, None, 2, True, pen.l2)
    res = solvers.owlqn(obj, pen, np.zeros(5), tol=1e-10, max_iter=100)
    assert res.converged
    assert np.all(res.coef[:4] == 0.0)
    assert res.coef[4] == pytest.approx(np.log(30 / 20), abs=1e-8)


@pytest.mark.parametrize("name", ["lbfgs", "owlqn", "gd"])
def test_max_iter_zero_and_callback_stop(rng, name):
    obj, pen = _problem(rng, C=0.5, l1_ratio=0.5 if name != "lbfgs" else 0.0)

    def run(max_iter, callback=None):
        kw = dict(tol=1e-12, max_iter=max_iter, callback=callback)
        if name == "lbfgs":
            return solvers.lbfgs(obj, np.zeros(obj.n_coef), **kw)
        if name == "owlqn":
            return solvers.owlqn(obj, pen, np.zeros(obj.n_coef), **kw)
        return solvers.gd(obj, np.zeros(obj.n_coef), learning_rate=0.5, penalty=pen, **kw)

    assert run(0).n_iter == 0
    seen = []

    def stop_at_three(coef):
        seen.append(coef.copy())
        return len(seen) == 3

    res = run(1000, stop_at_three)
    assert res.stopped and not res.converged and res.n_iter == 3 and len(seen) == 3
    np.testing.assert_array_equal(seen[-1], res.coef)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        same = run(3)
    np.testing.assert_array_equal(same.coef, res.coef)  # stopping is not a detour


def test_owlqn_warns_when_not_converged(rng):
    obj, pen = _problem(rng)
    with pytest.warns(ConvergenceWarning, match="owlqn failed to converge"):
        solvers.owlqn(obj, pen, np.zeros(obj.n_coef), tol=1e-12, max_iter=2)


def test_owlqn_names_non_finite_input(rng):
    obj, pen = _problem(rng)
    obj.X[3, 2] = np.nan
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        solvers.owlqn(obj, pen, np.zeros(obj.n_coef), tol=1e-4, max_iter=10)
