"""fastlr.LogisticRegression: scikit-learn's contract, its coefficients, bad input."""

import threading
import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastlr
from fastlr import LogisticRegression
from fastlr.backends import numpy_backend

from _helpers import make_binary

BACKENDS = [b for b in ("numpy", "numba") if b in fastlr.available_backends()]


@parametrize_with_checks(
    [LogisticRegression(backend=b) for b in BACKENDS]
    + [LogisticRegression(solver="gd", max_iter=500),
       LogisticRegression(solver="saga", l1_ratio=0.5)]
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def _scaled(loader):
    X, y = loader(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _assert_same_model(ours, theirs, X, rtol=1e-4):
    scale = np.max(np.abs(theirs.coef_))
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=rtol,
                               atol=rtol * max(scale, 1.0))
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("loader", [load_breast_cancer, load_iris, load_wine, load_digits])
@pytest.mark.parametrize("C", [0.05, 1.0])
def test_coefficients_match_sklearn(backend, loader, C):
    X, y = _scaled(loader)
    kw = dict(C=C, tol=1e-10, max_iter=10_000)
    ours = LogisticRegression(backend=backend, **kw).fit(X, y)
    theirs = SkLogisticRegression(**kw).fit(X, y)
    _assert_same_model(ours, theirs, X)


@pytest.mark.parametrize("backend", BACKENDS)
def test_weights_intercept_and_no_penalty_match_sklearn(rng, backend):
    X, y = _scaled(load_wine)
    sw = rng.random(len(y)) * 2 + 0.1
    for kw in (dict(class_weight="balanced"), dict(class_weight={0: 1.0, 1: 3.0, 2: 0.5}),
               dict(fit_intercept=False), dict(C=10.0)):
        kw = dict(tol=1e-10, max_iter=10_000, **kw)
        ours = LogisticRegression(backend=backend, **kw).fit(X, y, sample_weight=sw)
        theirs = SkLogisticRegression(**kw).fit(X, y, sample_weight=sw)
        _assert_same_model(ours, theirs, X)
    # C = inf: no penalty, on data that is not separable
    Xb, yb = make_binary(rng, 400, 4)
    yb[:40] = 1 - yb[:40]
    kw = dict(C=np.inf, tol=1e-10, max_iter=10_000)
    _assert_same_model(LogisticRegression(backend=backend, **kw).fit(Xb, yb),
                       SkLogisticRegression(**kw).fit(Xb, yb), Xb)


@pytest.mark.parametrize("backend", BACKENDS)
def test_string_labels_and_label_order(backend):
    X, y = _scaled(load_iris)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = LogisticRegression(backend=backend).fit(X, names)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    assert set(clf.predict(X)) <= set(names)
    assert clf.score(X, names) > 0.9
    binary = np.where(y == 0, "no", "yes")
    clf = LogisticRegression(backend=backend).fit(X, binary)
    assert clf.coef_.shape == (1, 4) and clf.intercept_.shape == (1,)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, rtol=1e-10)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("multiclass", [False, True])
def test_sample_weight_k_equals_repeating_rows(rng, backend, multiclass):
    X, y = _scaled(load_iris)
    if not multiclass:
        y = (y == 2).astype(int)
    k = rng.integers(0, 4, len(y))
    kw = dict(backend=backend, tol=1e-10, max_iter=10_000)
    weighted = LogisticRegression(**kw).fit(X, y, sample_weight=k)
    repeated = LogisticRegression(**kw).fit(np.repeat(X, k, axis=0), np.repeat(y, k))
    np.testing.assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(weighted.intercept_, repeated.intercept_, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_class_weight_equals_sample_weight(backend):
    X, y = _scaled(load_iris)
    cw = {0: 2.0, 1: 0.5, 2: 1.5}
    kw = dict(backend=backend, tol=1e-10, max_iter=10_000)
    a = LogisticRegression(class_weight=cw, **kw).fit(X, y)
    b = LogisticRegression(**kw).fit(X, y, sample_weight=np.array([cw[c] for c in y]))
    np.testing.assert_array_equal(a.coef_, b.coef_)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("multiclass", [False, True])
def test_float32_stays_float32_and_agrees(backend, multiclass):
    X, y = _scaled(load_iris if multiclass else load_breast_cancer)
    X32 = X.astype(np.float32)
    kw = dict(backend=backend, tol=1e-6, max_iter=10_000)
    m32 = LogisticRegression(**kw).fit(X32, y)
    m64 = LogisticRegression(**kw).fit(X, y)
    assert m32.coef_.dtype == np.float32 and m32.intercept_.dtype == np.float32
    assert m32.predict_proba(X32).dtype == np.float32
    np.testing.assert_allclose(m32.coef_, m64.coef_, rtol=1e-3,
                               atol=1e-3 * np.abs(m64.coef_).max())
    assert np.mean(m32.predict(X32) == m64.predict(X)) > 0.99


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_c_contiguous_X_is_not_copied(monkeypatch, rng, backend, dtype):
    X, y = make_binary(rng, 300, 5, dtype)
    seen = []
    module = fastlr.backends.get_backend(backend)
    original = module.binary_sums

    def spy(Xk, *args, **kwargs):
        seen.append(Xk)
        return original(Xk, *args, **kwargs)

    monkeypatch.setattr(module, "binary_sums", spy)
    LogisticRegression(backend=backend).fit(X, y)
    assert seen and all(s is X or np.shares_memory(s, X) for s in seen)


def test_gd_solver_reaches_the_lbfgs_model(rng):
    X, y = make_binary(rng, 500, 4)
    y[:50] = 1 - y[:50]
    lb = LogisticRegression(tol=1e-10, max_iter=1000).fit(X, y)
    gd = LogisticRegression(solver="gd", tol=1e-7, max_iter=20_000).fit(X, y)
    np.testing.assert_allclose(gd.coef_, lb.coef_, rtol=1e-4, atol=1e-5)
    assert np.all(np.diff(gd.loss_curve_) <= 1e-12)  # a safe step never increases J
    assert len(gd.loss_curve_) >= gd.n_iter_[0]
    gd_lr = LogisticRegression(solver="gd", learning_rate=0.5, tol=1e-7,
                               max_iter=20_000).fit(X, y)
    np.testing.assert_allclose(gd_lr.coef_, lb.coef_, rtol=1e-4, atol=1e-5)


def test_gd_divergence_is_an_error_not_nan(rng):
    X, y = make_binary(rng, 200, 3, scale=1e3)
    y[:20] = 1 - y[:20]
    clf = LogisticRegression(solver="gd", learning_rate=1e6, max_iter=500, C=1e-3)
    with pytest.raises(ValueError, match="non-finite"):
        clf.fit(X, y)
    assert not hasattr(clf, "coef_")


def test_not_converged_warns():
    X, y = _scaled(load_digits)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        LogisticRegression(max_iter=2).fit(X, y)
    with pytest.warns(ConvergenceWarning, match="gd did not converge"):
        LogisticRegression(solver="gd", max_iter=2).fit(X, y)


def test_loss_curve_and_n_iter():
    X, y = _scaled(load_breast_cancer)
    clf = LogisticRegression().fit(X, y)
    assert clf.n_iter_.shape == (1,) and clf.n_iter_.dtype == np.int32
    assert len(clf.loss_curve_) == clf.n_iter_[0]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] < np.log(2)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bitwise_reproducible_and_thread_safe(backend):
    X, y = _scaled(load_digits)
    X = np.ascontiguousarray(np.tile(X, (3, 1)))
    y = np.tile(y, 3)
    kw = dict(backend=backend, n_jobs=2, max_iter=30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = LogisticRegression(**kw).fit(X, y).coef_
        assert np.array_equal(LogisticRegression(**kw).fit(X, y).coef_, ref)
        results = [None] * 4

        def work(i):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                results[i] = LogisticRegression(**kw).fit(X, y).coef_

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for r in results:
        assert np.array_equal(r, ref)


def test_n_jobs_one_and_two_agree(rng):
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    # One and two threads add the same float64 terms in a different order, so the two
    # fits may stop at points that differ by the gradient they stopped at, not by
    # rounding: the tolerance comes from strong convexity. With H >= mu I on the
    # segment between the two points, ||a - b|| <= (||g(a)|| + ||g(b)||) / mu,
    # g and H computed here in float64 with the NumPy reference.
    X, y = make_binary(rng, 20_000, 10)
    a = LogisticRegression(backend="numba", n_jobs=1, tol=1e-10).fit(X, y)
    b = LogisticRegression(backend="numba", n_jobs=2, tol=1e-10).fit(X, y)
    n = X.shape[0]
    l2 = 1.0 / n  # C = 1
    X1 = np.column_stack([X, np.ones(n)])

    def grad(clf):
        coef = np.append(clf.coef_[0], clf.intercept_)
        z = X1 @ coef
        g = X1.T @ (numpy_backend.sigmoid(z) - y) / n
        g[:-1] += l2 * coef[:-1]
        return coef, g, z

    ca, ga, za = grad(a)
    cb, gb, _ = grad(b)
    h = numpy_backend.sigmoid(za) * (1 - numpy_backend.sigmoid(za))
    H = (X1 * h[:, None]).T @ X1 / n + np.diag(np.append(np.full(X.shape[1], l2), 0))
    mu = 0.5 * np.linalg.eigvalsh(H)[0]  # half: H changes little over the segment
    bound = (np.linalg.norm(ga) + np.linalg.norm(gb)) / mu
    assert bound < 1e-5 * np.linalg.norm(ca)  # both fits did reach the optimum
    assert np.linalg.norm(ca - cb) <= bound + 1e-14 * np.linalg.norm(ca)
    # the same n_jobs gives the same bits
    a2 = LogisticRegression(backend="numba", n_jobs=1, tol=1e-10).fit(X, y)
    np.testing.assert_array_equal(a.coef_, a2.coef_)


def test_n_jobs_counts_as_joblib(rng):
    """-2 is all the CPUs but one (at least one thread), as in joblib; 0 is an error."""
    from joblib import cpu_count

    X, y = make_binary(rng, 2_000, 5)
    cpus = cpu_count()
    est = LogisticRegression(backend="numba", n_jobs=-2)
    assert est._n_threads() == max(1, cpus - 1)
    assert LogisticRegression(n_jobs=-10_000)._n_threads() == 1
    a = est.fit(X, y)
    b = LogisticRegression(backend="numba", n_jobs=max(1, cpus - 1)).fit(X, y)
    np.testing.assert_array_equal(a.coef_, b.coef_)  # the same threads, the same bits
    with pytest.raises(ValueError, match="n_jobs=0 means no threads"):
        LogisticRegression(n_jobs=0).fit(X, y)

@pytest.mark.parametrize("backend", BACKENDS)
def test_large_features_give_finite_model(rng, backend):
    X, y = make_binary(rng, 500, 3, scale=1e4)
    y[:25] = 1 - y[:25]
    clf = LogisticRegression(backend=backend, max_iter=1000).fit(X, y)
    assert np.all(np.isfinite(clf.coef_)) and np.all(np.isfinite(clf.intercept_))
    assert np.all(np.isfinite(clf.predict_proba(X)))
    assert np.all(np.isfinite(clf.loss_curve_))


def test_warm_start_continues():
    X, y = _scaled(load_digits)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = LogisticRegression(warm_start=True, max_iter=5).fit(X, y)
        j5 = clf.loss_curve_[-1]
        clf.fit(X, y)
    assert clf.loss_curve_[0] <= j5 + 1e-12
    cold = LogisticRegression(max_iter=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cold.fit(X, y)
    assert clf.loss_curve_[-1] < cold.loss_curve_[-1]


def test_feature_names_from_dataframe():
    pd = pytest.importorskip("pandas")
    X, y = _scaled(load_iris)
    df = pd.DataFrame(X, columns=["a", "b", "c", "d"])
    clf = LogisticRegression().fit(df, y)
    assert list(clf.feature_names_in_) == ["a", "b", "c", "d"]
    assert clf.n_features_in_ == 4
    np.testing.assert_array_equal(clf.predict(df), clf.predict(X))


def test_decision_function_shapes():
    X, y = _scaled(load_iris)
    assert LogisticRegression().fit(X, y).decision_function(X).shape == (150, 3)
    assert LogisticRegression().fit(X, y == 1).decision_function(X).shape == (150,)


GOOD_X = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
GOOD_Y = np.array([0, 1, 1, 0])


@pytest.mark.parametrize(
    "params, X, y, sw, match",
    [
        ({}, np.array([[np.nan, 1.0]] * 4), GOOD_Y, None, "NaN"),
        ({}, np.array([[np.inf, 1.0]] * 4), GOOD_Y, None, "infinity"),
        ({}, GOOD_X, np.array([0, 1, np.nan, 0]), None, "NaN"),
        ({}, GOOD_X, GOOD_Y, np.array([1.0, np.nan, 1.0, 1.0]), "NaN"),
        ({}, GOOD_X, GOOD_Y[:3], None, "inconsistent numbers of samples"),
        ({}, GOOD_X, GOOD_Y, np.ones(3), "sample_weight"),
        ({}, GOOD_X, np.zeros(4), None, "one class"),
        ({}, GOOD_X, GOOD_Y, np.array([1.0, -1.0, 1.0, 1.0]), "non-negative"),
        ({}, GOOD_X, GOOD_Y, np.array([1.0, 0.0, 0.0, 1.0]), "Only one class"),
        ({}, GOOD_X, GOOD_Y, np.zeros(4), "zero|Only one class"),
        ({}, np.zeros((0, 2)), np.zeros(0), None, "0 sample"),
        ({}, np.zeros(4), GOOD_Y, None, "2D array"),
        ({"C": 0.0}, GOOD_X, GOOD_Y, None, "'C' parameter"),
        ({"C": -1.0}, GOOD_X, GOOD_Y, None, "'C' parameter"),
        ({"C": np.nan}, GOOD_X, GOOD_Y, None, "'C' parameter"),
        ({"learning_rate": 0.0, "solver": "gd"}, GOOD_X, GOOD_Y, None, "learning_rate"),
        ({"learning_rate": -1.0, "solver": "gd"}, GOOD_X, GOOD_Y, None, "learning_rate"),
        ({"solver": "newton"}, GOOD_X, GOOD_Y, None, "solver"),
        ({"backend": "fortran"}, GOOD_X, GOOD_Y, None, "backend"),
        ({"n_jobs": 0}, GOOD_X, GOOD_Y, None, "n_jobs"),
        ({}, GOOD_X, GOOD_Y, np.full(4, 1e-320), "too small: the penalty strength"),
        ({"C": 1e-320}, GOOD_X, GOOD_Y, None, "too small: the penalty strength"),
        ({}, GOOD_X, GOOD_Y, np.full(4, 1e308), "sum of sample weights overflows"),
        ({"tol": -1.0}, GOOD_X, GOOD_Y, None, "tol"),
        ({}, GOOD_X, np.array([0.5, 1.5, 2.5, 3.5]), None, "Unknown label type"),
    ],
)
def test_bad_input_raises_value_error(params, X, y, sw, match):
    with pytest.raises(ValueError, match=match):
        LogisticRegression(**params).fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("solver,max_iter", [("lbfgs", 100), ("lbfgs", 0), ("gd", 100), ("gd", 0)])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_X_found_by_the_first_evaluation(rng, backend, solver, max_iter, bad):
    """X is not scanned before fitting; the first loss evaluation must catch it."""
    X, y = make_binary(rng, 500, 4)
    X[321, 1] = bad
    clf = LogisticRegression(backend=backend, solver=solver, max_iter=max_iter,
                             warm_start=True)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        clf.fit(X, y)
    assert not hasattr(clf, "coef_")
    X[321, 1] = 0.0
    clf.fit(X, y)  # warm start from a fitted, nonzero model
    X[321, 1] = bad
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        clf.fit(X, y)


def test_predict_checks_input():
    clf = LogisticRegression().fit(GOOD_X, GOOD_Y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(np.ones((2, 3)))
    with pytest.raises(ValueError, match="NaN"):
        clf.predict(np.array([[np.nan, 0.0]]))


def test_same_objective_as_reference(rng):
    """The fitted point is the minimiser: its gradient, from the reference backend, is ~0."""
    X, y = make_binary(rng, 300, 4)
    y[:30] = 1 - y[:30]
    clf = LogisticRegression(C=0.5, tol=1e-12, max_iter=1000).fit(X, y)
    l2 = 1.0 / (0.5 * len(y))
    J, dw, db = numpy_backend.binary_sums(X, y.astype(float), None, clf.coef_[0],
                                          clf.intercept_[0])
    grad = dw / len(y) + l2 * clf.coef_[0]
    assert np.max(np.abs(grad)) < 1e-8 and abs(db / len(y)) < 1e-8
