"""Proximal Newton (the L1 / elastic-net solver for up to 2,048 coefficients): its
coordinate-descent kernel, and its fits against OWL-QN's."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from fastlr import LogisticRegression
from fastlr._loss import LogisticObjective
from fastlr._penalty import make_penalty
from fastlr.backends import numpy_backend
from fastlr.solvers import owlqn, proxnewton
from fastlr.solvers._cd import cd_prox_newton_step


def _model_value(H, g, x, l1, k, d):
    return g @ d + 0.5 * d @ H @ d + l1 * np.abs(x[:k] + d[:k]).sum()


@pytest.mark.parametrize("seed", range(5))
def test_coordinate_descent_minimises_the_model(seed):
    rng = np.random.default_rng(seed)
    n, k = 12, 9  # the last three entries unpenalised (intercepts)
    A = rng.standard_normal((40, n))
    H = A.T @ A / 40 + 0.01 * np.eye(n)
    g, x = rng.standard_normal(n), rng.standard_normal(n) * (rng.random(n) < 0.5)
    l1 = 0.3
    d = np.zeros(n)
    cd_prox_newton_step(H, g, x, l1, k, 10_000, 1e-14, d)
    best = _model_value(H, g, x, l1, k, d)
    # optimality: no coordinate and no random direction lowers the model
    for _ in range(200):
        e = rng.standard_normal(n) * 1e-4
        assert _model_value(H, g, x, l1, k, d + e) >= best - 1e-12
    # exact zeros where the soft threshold puts them, and only on penalised entries
    w = x + d
    grad = g + H @ d
    assert np.all(np.abs(grad[:k][w[:k] == 0]) <= l1 + 1e-9)
    np.testing.assert_allclose(grad[:k][w[:k] != 0], -l1 * np.sign(w[:k][w[:k] != 0]),
                               atol=1e-9)
    np.testing.assert_allclose(grad[k:], 0, atol=1e-9)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_proxnewton_and_owlqn_reach_the_same_model(n_classes, l1_ratio):
    X, y = make_classification(3000, 20, n_informative=6, n_redundant=0,
                               n_classes=n_classes,
                               random_state=2)
    n_rows = 1 if n_classes == 2 else n_classes
    obj = LogisticObjective(numpy_backend, X, y if n_classes > 2 else y * 1.0, None,
                            n_classes, True, 0.0)
    pen = make_penalty(0.05, l1_ratio, len(y), n_rows * 20)
    obj.l2 = pen.l2
    x0 = np.zeros(obj.n_coef)
    a = proxnewton(obj, pen, x0, tol=1e-10, max_iter=500)
    b = owlqn(obj, pen, x0, tol=1e-10, max_iter=5000)
    assert a.converged and a.n_iter < 50
    np.testing.assert_allclose(a.coef, b.coef, atol=1e-6)
    np.testing.assert_array_equal(a.coef[: pen.n_penalised] == 0,
                                  b.coef[: pen.n_penalised] == 0)
    assert 0 < np.count_nonzero(a.coef[: pen.n_penalised] == 0) < pen.n_penalised


@pytest.mark.parametrize("n_classes", [2, 3])
def test_saga_step_test_leaves_coefficients_within_tol(n_classes):
    """A fit stops on scikit-learn's saga test applied to each step (every coefficient,
    relative to the largest): the model is then within a small fraction of tol of the
    optimum; the pseudo-gradient test (step_test=False, the points of a CV path)
    stops no later and may be further off."""
    X, y = make_classification(4000, 30, n_informative=8, n_redundant=4,
                               n_classes=n_classes, random_state=5)
    n_rows = 1 if n_classes == 2 else n_classes
    obj = LogisticObjective(numpy_backend, X, y if n_classes > 2 else y * 1.0, None,
                            n_classes, True, 0.0)
    pen = make_penalty(0.05, 0.5, len(y), n_rows * 30)
    obj.l2 = pen.l2
    x0 = np.zeros(obj.n_coef)
    best = proxnewton(obj, pen, x0, tol=1e-12, max_iter=500).coef
    scale = np.abs(best).max()
    for tol in (1e-2, 1e-4):
        step = proxnewton(obj, pen, x0, tol=tol, max_iter=500)
        grad = proxnewton(obj, pen, x0, tol=tol, max_iter=500, step_test=False)
        assert step.converged and grad.converged
        assert grad.n_iter <= step.n_iter
        assert np.abs(step.coef - best).max() <= tol * scale


def test_small_step_is_sagas_test_with_the_intercepts():
    from fastlr.solvers._common import small_step

    x = np.array([0.0, 2.0, -4.0, 0.5])
    assert small_step(np.array([0.0, 4e-4, 0.0, 0.0]), x, 1e-4)
    assert not small_step(np.array([0.0, 5e-4, 0.0, 0.0]), x, 1e-4)
    assert not small_step(np.array([0.0, 0.0, 0.0, 1e-3]), x, 1e-4)  # an intercept
    zero = np.zeros(3)
    assert small_step(zero, zero, 1e-4)  # all zero, and staying there
    assert not small_step(np.array([0.0, 0.0, 1e-9]), np.array([0.0, 0.0, 1e-9]), 0.5)


def test_estimator_chooses_by_size_and_backend(monkeypatch):
    X, y = make_classification(500, 30, random_state=0)
    assert LogisticRegression(solver="saga", l1_ratio=1.0).fit(X, y).solver_ == "proxnewton"
    from fastlr.solvers import _dispatch

    monkeypatch.setattr(_dispatch, "PROXNEWTON_MAX_COEF", 30)  # 31 coefficients
    clf = LogisticRegression(solver="saga", l1_ratio=1.0)
    assert clf.fit(X, y).solver_ == "proxnewton-ws"  # binary: working sets
    assert clf.fit(X, np.arange(500) % 3).solver_ == "owlqn"  # multinomial
    from fastlr._loss import LogisticObjective

    monkeypatch.setattr(LogisticObjective, "has_hessian_cols", property(lambda s: False))
    assert clf.fit(X, y).solver_ == "owlqn"


def test_not_converged_warns_and_max_iter_zero():
    X, y = make_classification(500, 10, random_state=0)
    with pytest.warns(ConvergenceWarning, match="proxnewton failed to converge"):
        clf = LogisticRegression(solver="saga", l1_ratio=1.0, max_iter=1,
                                 tol=1e-12).fit(X, y)
    assert clf.n_iter_[0] == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = LogisticRegression(solver="saga", l1_ratio=1.0, max_iter=0).fit(X, y)
    assert clf.n_iter_[0] == 0 and np.all(clf.coef_ == 0)


@pytest.mark.parametrize("seed", range(20))
def test_group_shift_is_the_exact_one_dimensional_minimum(seed):
    from fastlr.solvers._cd import _shift_1d

    rng = np.random.default_rng(seed)
    K = int(rng.integers(1, 6))
    v = rng.standard_normal(K) * (rng.random(K) < 0.7)
    a = 0.0 if seed % 4 == 0 else float(rng.uniform(0.01, 2.0))
    b, l1 = float(rng.standard_normal()), float(rng.uniform(0.1, 1.0))
    if a == 0.0:
        b = float(rng.uniform(-0.9, 0.9)) * l1 * K  # bounded below without curvature

    def f(c):
        return 0.5 * a * c * c + b * c + l1 * np.abs(v + c).sum()

    c = _shift_1d(a, b, l1, v, np.empty(K))
    grid = np.linspace(-6, 6, 120_001)
    assert f(c) <= min(f(t) for t in grid) + 1e-9


def test_grouped_coordinate_descent_minimises_the_model():
    from fastlr.solvers._cd import cd_prox_newton_step_groups

    rng = np.random.default_rng(3)
    K, p = 4, 5
    n = K * p
    # a multinomial-like Hessian: flat along each feature's all-class vector, plus a
    # small ridge (elastic net), so the model is badly conditioned along those vectors
    A = rng.standard_normal((60, n))
    A = A.reshape(60, K, p) - A.reshape(60, K, p).mean(axis=1, keepdims=True)
    A = A.reshape(60, n)
    H = A.T @ A / 60 + 1e-4 * np.eye(n)
    g = rng.standard_normal(n) * 0.1
    x = rng.standard_normal(n) * (rng.random(n) < 0.5)
    l1 = 0.05
    groups = np.ascontiguousarray(np.arange(n).reshape(K, p).T)
    U = np.zeros((n, p))
    U[groups.ravel(), np.repeat(np.arange(p), K)] = 1.0
    HU = np.ascontiguousarray(H @ U)
    d = np.zeros(n)
    cd_prox_newton_step_groups(H, g, x, l1, n, 20_000, 1e-12, d, groups, HU,
                               np.einsum("ij,ij->j", U, HU))
    w, grad = x + d, g + H @ d
    assert np.all(np.abs(grad[w == 0]) <= l1 + 1e-7)
    np.testing.assert_allclose(grad[w != 0], -l1 * np.sign(w[w != 0]), atol=1e-7)


def test_a_costly_hessian_makes_owlqn_the_choice(monkeypatch):
    from fastlr.solvers import _dispatch

    X, y = make_classification(500, 30, random_state=0)
    monkeypatch.setattr(_dispatch, "PROXNEWTON_MAX_HESSIAN_PASSES", 15)  # 31 / 2 > 15
    assert LogisticRegression(solver="saga", l1_ratio=1.0).fit(X, y).solver_ == "owlqn"


def test_a_path_hands_the_hessian_to_its_next_point(monkeypatch):
    """LogisticRegressionCV's L1 paths start each point from the previous point's
    Hessian: the same paths as computing it afresh, with fewer Hessians."""
    from fastlr import LogisticRegressionCV
    from fastlr._loss import LogisticObjective
    from fastlr.solvers import _dispatch

    X, y = make_classification(400, 6, n_informative=4, n_classes=3, random_state=0)
    kw = dict(Cs=4, cv=3, l1_ratios=[0.5, 1.0], solver="saga", tol=1e-10,
              max_iter=1000, use_legacy_attributes=False)
    counts = []
    original = LogisticObjective.loss_grad_hess

    def counting(self, coef):
        counts.append(1)
        return original(self, coef)

    monkeypatch.setattr(LogisticObjective, "loss_grad_hess", counting)
    handed = LogisticRegressionCV(**kw).fit(X, y)
    n_handed = len(counts)
    counts.clear()
    import fastlr._cv_path as cv_path

    monkeypatch.setattr(cv_path._solvers, "solve",  # no path state: afresh
                        lambda *a, path_state=None, **k: _dispatch.solve(*a, **k))
    fresh = LogisticRegressionCV(**kw).fit(X, y)
    assert n_handed < len(counts)
    # both stop on the relative-decrease test with objectives equal to ~1e-15; along
    # the multinomial model's flat directions the coefficients then differ by ~1e-5
    scale = np.abs(fresh.coefs_paths_).max()
    np.testing.assert_allclose(handed.coefs_paths_, fresh.coefs_paths_, rtol=0,
                               atol=1e-4 * scale)
    np.testing.assert_array_equal(handed.scores_, fresh.scores_)
    assert handed.C_ == fresh.C_ and handed.l1_ratio_ == fresh.l1_ratio_
