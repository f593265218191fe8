"""fastlr.LogisticRegressionCV against scikit-learn 1.9's LogisticRegressionCV: the same
folds, scores, paths, choice of C_ (and l1_ratio_) and coefficients at a tight tol, in
both attribute layouts; sparse input, backends, the path's order; check_estimator."""

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV as SkLogisticRegressionCV
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastlr
from fastlr import LogisticRegressionCV

BACKENDS = [b for b in ("numpy", "numba") if b in fastlr.available_backends()]
TIGHT = dict(tol=1e-10, max_iter=10_000)
RTOL = 1e-4


@functools.lru_cache(maxsize=None)
def _data(n_classes, n_samples=240, n_features=6, seed=0):
    X, y = make_classification(n_samples=n_samples, n_features=n_features,
                               n_informative=3, n_redundant=1, n_classes=n_classes,
                               flip_y=0.1, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _weights(n):
    return np.random.default_rng(1).uniform(0.2, 2.0, n)


def _fit_both(X, y, sample_weight=None, sk_params=None, **params):
    params = dict(dict(Cs=6, cv=4, l1_ratios=(0.0,), scoring="neg_log_loss",
                       use_legacy_attributes=False, **TIGHT), **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SkLogisticRegressionCV(**dict(params, **(sk_params or {}))).fit(
            X, y, sample_weight=sample_weight)
    ours = LogisticRegressionCV(**params).fit(X, y, sample_weight=sample_weight)
    return ours, theirs


def _close(a, b, rtol=RTOL):
    """Equal within rtol of the largest entry (path points near zero included)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    assert a.shape == b.shape
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * max(np.max(np.abs(b)), 1e-12))


def _assert_same(ours, theirs, rtol=RTOL, iterations=False):
    assert ours.C_ == theirs.C_
    assert ours.l1_ratio_ == theirs.l1_ratio_
    np.testing.assert_array_equal(ours.Cs_, theirs.Cs_)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    _close(ours.scores_, theirs.scores_, rtol)
    _close(ours.coefs_paths_, theirs.coefs_paths_, rtol)
    _close(ours.coef_, theirs.coef_, rtol)
    _close(ours.intercept_, theirs.intercept_, rtol)
    assert ours.n_iter_.shape == theirs.n_iter_.shape
    if iterations:
        np.testing.assert_array_equal(ours.n_iter_, theirs.n_iter_)


# -- the same as scikit-learn's ------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("scoring", ["neg_log_loss", None])
def test_l2_path_equals_sklearn(n_classes, scoring):
    X, y = _data(n_classes)
    ours, theirs = _fit_both(X, y, scoring=scoring)
    # the same L-BFGS-B settings from the same starts: the same iterations
    _assert_same(ours, theirs, iterations=True)
    if scoring is None:  # accuracy: the same fractions, to the last bit
        np.testing.assert_array_equal(ours.scores_, theirs.scores_)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_l1_ratios_equal_saga(n_classes):
    X, y = _data(n_classes, n_samples=90, n_features=4)
    # scikit-learn's saga stops within a few epochs where every coefficient is zero,
    # its intercept short of the optimum: Cs where the models are not all zero
    ours, theirs = _fit_both(X, y, Cs=[0.5, 2.0, 8.0], cv=3, l1_ratios=[0.5, 1.0],
                             sk_params=dict(solver="saga", tol=1e-12,
                                            max_iter=100_000),
                             solver="saga")
    _assert_same(ours, theirs, rtol=1e-4)
    # the same zeros on the paths
    paths_ours, paths_theirs = ours.coefs_paths_, theirs.coefs_paths_
    np.testing.assert_array_equal(paths_ours == 0, np.abs(paths_theirs) < 1e-10)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("class_weight", ["balanced", "dict"])
def test_class_weight_equals_sklearn(n_classes, class_weight):
    X, y = _data(n_classes)
    if class_weight == "dict":
        class_weight = {0: 0.5, 1: 2.0, 2: 1.5} if n_classes == 3 else {0: 0.5, 1: 2.0}
    ours, theirs = _fit_both(X, y, class_weight=class_weight)
    _assert_same(ours, theirs)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("scoring", ["neg_log_loss", None])
def test_sample_weight_equals_sklearn(n_classes, scoring):
    X, y = _data(n_classes)
    ours, theirs = _fit_both(X, y, sample_weight=_weights(len(y)), scoring=scoring,
                             class_weight="balanced")
    _assert_same(ours, theirs)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("l1_ratios", [(0.0,), "warn"])
def test_refit_false_equals_sklearn(n_classes, l1_ratios):
    X, y = _data(n_classes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        ours, theirs = _fit_both(X, y, refit=False, l1_ratios=l1_ratios,
                                 scoring="accuracy")
    _assert_same(ours, theirs)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_legacy_attributes_equal_sklearn(n_classes):
    """scikit-learn 1.9's default layout: dicts per class, arrays of C_ and l1_ratio_,
    and its three FutureWarnings."""
    X, y = _data(n_classes)
    with warnings.catch_warnings(record=True) as record_theirs:
        warnings.simplefilter("always")
        theirs = SkLogisticRegressionCV(Cs=4, cv=3, **TIGHT).fit(X, y)
    with warnings.catch_warnings(record=True) as record_ours:
        warnings.simplefilter("always")
        ours = LogisticRegressionCV(Cs=4, cv=3, **TIGHT).fit(X, y)

    def future(record):
        return sorted(str(w.message) for w in record if w.category is FutureWarning)

    assert future(record_ours) == future(record_theirs)
    assert len(future(record_ours)) == 3
    for name in ("C_", "l1_ratio_", "l1_ratios_"):
        ours_value, theirs_value = getattr(ours, name), getattr(theirs, name)
        assert ours_value.shape == theirs_value.shape, name
        assert ours_value.dtype == theirs_value.dtype, name
        np.testing.assert_array_equal(ours_value, theirs_value)
    for name in ("coefs_paths_", "scores_"):
        ours_dict, theirs_dict = getattr(ours, name), getattr(theirs, name)
        assert list(ours_dict) == list(theirs_dict)
        for key in theirs_dict:
            _close(ours_dict[key], theirs_dict[key])
    np.testing.assert_array_equal(ours.n_iter_, theirs.n_iter_)
    _close(ours.coef_, theirs.coef_)


def test_elasticnet_legacy_shapes_equal_sklearn():
    X, y = _data(3, n_samples=90, n_features=4)
    params = dict(Cs=[0.1, 1.0], cv=3, l1_ratios=[0.2, 0.8], solver="saga",
                  scoring="neg_log_loss", use_legacy_attributes=True, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SkLogisticRegressionCV(**params).fit(X, y)
    ours = LogisticRegressionCV(**params).fit(X, y)
    for name in ("coefs_paths_", "scores_"):
        for key in getattr(theirs, name):
            assert getattr(ours, name)[key].shape == getattr(theirs, name)[key].shape
    assert ours.n_iter_.shape == theirs.n_iter_.shape == (1, 3, 2, 2)
    assert ours.C_.shape == ours.l1_ratio_.shape == (3,)


@pytest.mark.parametrize("refit", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_ties_broken_as_sklearn(refit, n_classes):
    """Tied scores: the first maximum in (C index, l1_ratio index) order of the given
    Cs, summed over folds with refit, per fold without."""
    X, y = _data(n_classes, n_samples=90, n_features=4)
    pattern = iter(np.tile([0.5, 0.9, 0.9, 0.1, 0.9, 0.2], 100))

    def tied(est, X_test, y_test):  # the same sequence for both libraries
        return next(pattern)

    Cs = [10.0, 0.1, 1.0]  # not sorted: "first" is in the order of Cs
    # an array: scikit-learn 1.9 indexes l1_ratios with an array when refit=False, which
    # a list does not allow (fastlr takes either)
    params = dict(Cs=Cs, cv=3, l1_ratios=np.array([0.2, 0.7]), solver="saga", refit=refit,
                  use_legacy_attributes=False, tol=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = SkLogisticRegressionCV(scoring=tied, **params).fit(X, y)
    pattern = iter(np.tile([0.5, 0.9, 0.9, 0.1, 0.9, 0.2], 100))
    ours = LogisticRegressionCV(scoring=tied, **params).fit(X, y)
    np.testing.assert_array_equal(ours.scores_, theirs.scores_)
    assert ours.C_ == theirs.C_
    assert ours.l1_ratio_ == theirs.l1_ratio_


def test_folds_missing_classes_equal_sklearn():
    """Training folds without some classes still fit every class's coefficients."""
    X, y = _data(3)
    order = np.argsort(y, kind="stable")
    ours, theirs = _fit_both(X[order], y[order], cv=KFold(3), scoring="neg_brier_score")
    # the intercept of a class absent from the training rows runs off towards -inf
    # until the gradient test stops it: compare what the absent class leaves alone
    assert ours.C_ == theirs.C_
    _close(ours.scores_, theirs.scores_)
    _close(ours.coefs_paths_[..., :-1], theirs.coefs_paths_[..., :-1])
    _close(ours.coef_, theirs.coef_)


def test_string_labels_and_custom_scorer():
    X, y = _data(3)
    labels = np.array(["ant", "bee", "cat"])[y]
    calls = []

    def scorer(est, X_test, y_test):
        calls.append(len(y_test))
        return float(np.mean(est.predict(X_test) == y_test))

    ours, theirs = _fit_both(X, labels, scoring=scorer, Cs=3, cv=4)
    _assert_same(ours, theirs)
    assert len(calls) == 2 * 4 * 3  # (fastlr's and scikit-learn's) x folds x Cs
    assert ours.predict(X[:5]).dtype == labels.dtype


# -- inputs, backends and the path ---------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_classes", [2, 3])
def test_csr_and_backends_give_the_same_model(backend, n_classes):
    X, y = _data(n_classes)
    X = np.where(np.abs(X) > 0.5, X, 0.0)
    params = dict(Cs=5, cv=3, l1_ratios=(0.0,), scoring="neg_log_loss",
                  use_legacy_attributes=False, **TIGHT)
    reference = LogisticRegressionCV(backend="numpy", **params).fit(X, y)
    for X_kind in (X, sp.csr_matrix(X)):
        est = LogisticRegressionCV(backend=backend, **params).fit(X_kind, y)
        assert est.backend_ == backend
        assert est.C_ == reference.C_
        _close(est.coefs_paths_, reference.coefs_paths_, 1e-6)
        _close(est.coef_, reference.coef_, 1e-6)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_accuracy_from_listed_test_rows_equals_the_scorer(monkeypatch, n_classes):
    """scoring=None on the Numba backend: every C's predicted classes in one pass over
    the listed test rows (FoldModel.path_classes), never copied. The scorer route
    (scoring="accuracy": copied test rows, one predict per C) gives the same scores,
    sample weights included."""
    from fastlr import _cv_path

    X, y = _data(n_classes, n_samples=300)
    sw = np.random.default_rng(3).uniform(0.5, 2.0, len(y))
    calls = []
    original = _cv_path.FoldModel.path_classes

    def spy(self, X_test, coefs):
        out = original(self, X_test, coefs)
        calls.append(out is not None)
        return out

    monkeypatch.setattr(_cv_path.FoldModel, "path_classes", spy)
    params = dict(Cs=6, cv=3, l1_ratios=(0.0,), backend="numba",
                  use_legacy_attributes=False, tol=1e-6)
    listed = LogisticRegressionCV(scoring=None, **params).fit(X, y, sample_weight=sw)
    assert calls == [True] * 3
    scored = LogisticRegressionCV(scoring="accuracy", **params).fit(X, y,
                                                                    sample_weight=sw)
    np.testing.assert_array_equal(listed.scores_, scored.scores_)
    assert listed.C_ == scored.C_


def test_path_order_does_not_depend_on_the_order_of_Cs():
    """Each fold's path runs from the smallest C up, whatever the order of Cs; the
    attributes follow the order of Cs."""
    X, y = _data(2)
    Cs = np.logspace(-3, 3, 5)
    params = dict(cv=3, l1_ratios=(0.0,), scoring="neg_log_loss",
                  use_legacy_attributes=False, tol=1e-6)
    up = LogisticRegressionCV(Cs=Cs, **params).fit(X, y)
    down = LogisticRegressionCV(Cs=Cs[::-1], **params).fit(X, y)
    np.testing.assert_array_equal(down.coefs_paths_, up.coefs_paths_[:, :, ::-1])
    np.testing.assert_array_equal(down.scores_, up.scores_[:, :, ::-1])
    assert down.C_ == up.C_


def test_warm_start_saves_iterations():
    """Along the path each C starts from the previous solution: fewer iterations than
    fitting every C from zero."""
    X, y = _data(3)
    Cs = np.logspace(-2, 3, 6)
    est = LogisticRegressionCV(Cs=Cs, cv=3, l1_ratios=(0.0,), scoring="neg_log_loss",
                               use_legacy_attributes=False, tol=1e-8,
                               max_iter=1000).fit(X, y)
    cold = 0
    from sklearn.model_selection import StratifiedKFold

    for train, _ in StratifiedKFold(3).split(X, y):
        for C in Cs:
            cold += fastlr.LogisticRegression(C=C, tol=1e-8, max_iter=1000).fit(
                X[train], y[train]).n_iter_[0]
    assert est.n_iter_.sum() < 0.8 * cold


def test_float32_stays_float32():
    X, y = _data(2)
    est = LogisticRegressionCV(Cs=3, cv=3, l1_ratios=(0.0,), scoring="neg_log_loss",
                               use_legacy_attributes=False).fit(X.astype(np.float32), y)
    assert est.coef_.dtype == est.coefs_paths_.dtype == np.float32


@pytest.mark.parametrize("n_classes", [2, 3])
def test_dask_folds_equal_in_memory(n_classes):
    """Dask X (chunks left where they are, zero weights outside each fold) gives the
    in-memory model; labels and weights may be Dask arrays too."""
    da = pytest.importorskip("dask.array")
    X, y = _data(n_classes, n_samples=120, n_features=4)
    sw = _weights(len(y))
    params = dict(Cs=[0.01, 0.1, 1.0], cv=3, l1_ratios=(0.0,), scoring="neg_log_loss",
                  use_legacy_attributes=False, tol=1e-10, max_iter=1000)
    reference = LogisticRegressionCV(**params).fit(X, y, sample_weight=sw)
    est = LogisticRegressionCV(**params).fit(da.from_array(X, chunks=(50, -1)),
                                             da.from_array(y, chunks=50),
                                             sample_weight=sw)
    assert est.backend_.startswith("dask+")
    assert est.C_ == reference.C_
    _close(est.scores_, reference.scores_, 1e-8)
    _close(est.coefs_paths_, reference.coefs_paths_, 1e-6)
    _close(est.coef_, reference.coef_, 1e-6)


def test_errors_as_sklearn():
    X, y = _data(3)
    with pytest.raises(ValueError, match="l1_ratios must be an array-like"):
        LogisticRegressionCV(penalty="elasticnet", solver="saga", l1_ratios=[2.0],
                             scoring=None, use_legacy_attributes=False).fit(X, y)
    with pytest.raises(ValueError, match="class_weight dict must have the class labels"):
        LogisticRegressionCV(class_weight={7: 1.0}, l1_ratios=(0,), scoring=None,
                             use_legacy_attributes=False).fit(X, y)
    with pytest.raises(ValueError, match="supports only 'l2' or None penalties"):
        LogisticRegressionCV(l1_ratios=(0.5,), scoring=None,
                             use_legacy_attributes=False).fit(X, y)


@pytest.mark.parametrize("Cs", [[0.0, 1.0], [-1.0, 1.0], [np.nan, 1.0], [], [[0.5, 2.0]],
                                ["a"]])
def test_a_bad_grid_of_Cs_is_a_value_error(Cs):
    """scikit-learn 1.9 raises ZeroDivisionError for a C of 0 and TypeError for a 2-d
    grid or strings, and fits a negative or NaN C (it chose C_ = -1 from [-1, 1]);
    fastlr says what is wrong."""
    X, y = _data(3)
    with pytest.raises(ValueError, match="Cs must be an int or a non-empty 1-d"):
        LogisticRegressionCV(Cs=Cs, cv=3, l1_ratios=(0.0,), scoring=None,
                             use_legacy_attributes=False).fit(X, y)


def test_an_empty_list_of_l1_ratios_is_a_value_error():
    X, y = _data(3)
    for solver in ("lbfgs", "saga"):
        with pytest.raises(ValueError, match="l1_ratios must be an array-like"):
            LogisticRegressionCV(Cs=3, cv=3, l1_ratios=[], solver=solver, scoring=None,
                                 use_legacy_attributes=False).fit(X, y)
    # an infinite C is no penalty: a valid grid
    est = LogisticRegressionCV(Cs=[np.inf, 1.0], cv=3, l1_ratios=(0.0,), scoring=None,
                               use_legacy_attributes=False).fit(X, y)
    assert est.C_ in (np.inf, 1.0) and np.all(np.isfinite(est.coef_))


# -- scikit-learn's estimator checks ----------------------------------------------------


@parametrize_with_checks([
    LogisticRegressionCV(Cs=3, cv=3, l1_ratios=(0.0,), scoring="accuracy",
                         use_legacy_attributes=False),
    # small Cs: with large coefficients float32 probabilities underflow to 0, and
    # the check compares their log with predict_log_proba
    LogisticRegressionCV(Cs=[0.1, 1.0], cv=3, l1_ratios=(0.5,), solver="saga",
                         scoring="neg_log_loss", use_legacy_attributes=True),
])
def test_check_estimator(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# -- scikit-learn's callbacks: the folds and the path ------------------------------------


def test_callbacks_show_folds_and_path():
    callback = pytest.importorskip("sklearn.callback")
    from sklearn.callback.tests._utils import RecordingCallback

    X, y = _data(3)
    cb = RecordingCallback()
    Cs = [0.01, 1.0, 0.1]
    est = LogisticRegressionCV(Cs=Cs, cv=3, l1_ratios=(0.0, 0.5), solver="saga",
                               scoring=None, use_legacy_attributes=False, tol=1e-6,
                               max_iter=500)
    est.set_callbacks(cb).fit(X, y)
    ends = [rec for rec in cb.record if rec["name"] == "on_fit_task_end"]
    names = [rec["context"].task_name for rec in ends]
    assert names.count("fold-path") == 3 * 2
    assert names.count("C") == 3 * 2 * 3
    assert names.count("refit") == 1 and names.count("fit") == 1
    assert names[-1] == "fit" and names[-2] == "refit"
    # the first path's points, smallest C first, are the models of coefs_paths_
    points = [rec for rec in ends if rec["context"].task_name == "C"][:3]
    for point, c in zip(points, np.argsort(Cs)):
        model = point["kwargs"]["fitted_estimator"]
        np.testing.assert_array_equal(model.coef_, est.coefs_paths_[0, 0, c, :, :-1])
        np.testing.assert_array_equal(model.intercept_, est.coefs_paths_[0, 0, c, :, -1])
    # under each point, one task per solver iteration and the closing one
    in_paths = [rec for rec in ends if rec["context"].task_name.endswith("-iter")
                and rec["context"].parent.task_name == "C"]
    assert len(in_paths) == est.n_iter_.sum() + est.n_iter_.size
    assert callback is not None


def test_fold_rows_are_numpys_rows():
    from fastlr._cv_path import take_rows

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1001, 7))
    rows = np.sort(rng.choice(1001, 640, replace=False))
    for A in (X, X.astype(np.float32), np.asfortranarray(X)):
        for r in (rows, rows[::-1], np.zeros(0, dtype=np.int64), np.array([3])):
            got = take_rows(A, r)
            np.testing.assert_array_equal(got, A[r])
            assert got.dtype == A.dtype and got.flags.c_contiguous


@pytest.mark.parametrize("n_classes", [2, 3])
def test_fold_rows_weighted_or_copied_give_the_same_model(monkeypatch, n_classes):
    from fastlr import _cv_path

    X, y = make_classification(600, 8, n_informative=5, n_classes=n_classes,
                               random_state=0)
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    fits = {}
    for mode in ("weights", "rows", "copy", "auto"):
        monkeypatch.setattr(_cv_path, "DENSE_FOLD_ROWS", mode)
        fits[mode] = LogisticRegressionCV(Cs=5, cv=3, tol=1e-10, max_iter=1000,
                                          class_weight="balanced").fit(
            X, y, sample_weight=sw)
    for mode in ("rows", "copy", "auto"):
        assert fits[mode].C_[0] == fits["weights"].C_[0]
        np.testing.assert_allclose(fits[mode].coef_, fits["weights"].coef_, rtol=1e-6,
                                   atol=1e-8)
        np.testing.assert_allclose(fits[mode].scores_[1], fits["weights"].scores_[1])


def test_fold_rows_mode_and_runs():
    from sklearn.model_selection import StratifiedKFold

    from fastlr import _cv_path

    X = np.zeros((3000, 4))
    assert _cv_path.fold_rows_mode(X, True, False) == "rows"
    assert _cv_path.fold_rows_mode(X, True, True) == "rows"
    assert _cv_path.fold_rows_mode(X, False, False) == "rows"
    assert _cv_path.fold_rows_mode(X, False, True) == "copy"
    assert _cv_path.fold_rows_mode(sp.csr_matrix(X), True, False) == "copy"
    assert _cv_path.fold_rows_mode(np.asfortranarray(X), True, False) == "copy"
    y = np.random.default_rng(0).integers(0, 2, 3000)
    for train, _ in StratifiedKFold(5).split(X, y):
        assert _cv_path.mostly_runs(np.sort(train))
    for train, _ in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        assert not _cv_path.mostly_runs(np.sort(train))
    assert _cv_path.mostly_runs(np.arange(10))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_auto_fold_rows_hand_the_training_rows_to_the_objective(monkeypatch, n_classes):
    from fastlr import _cv_joint, _cv_path

    monkeypatch.setattr(_cv_joint, "LOCKSTEP", False)  # binary folds: one at a time
    seen = []
    original = _cv_path.LogisticObjective

    def spy(*args, **kwargs):
        objective = original(*args, **kwargs)
        seen.append((kwargs.get("active_rows"), objective._sums_options))
        return objective

    monkeypatch.setattr(_cv_path, "LogisticObjective", spy)
    X, y = make_classification(900, 6, n_informative=4, n_classes=n_classes,
                               random_state=0)
    LogisticRegressionCV(Cs=3, cv=3, backend="numba").fit(X, y)
    assert len(seen) == 3
    for rows, options in seen:
        assert len(rows) == 600 and np.all(np.diff(rows) > 0)
        np.testing.assert_array_equal(options["active_rows"], rows)


def _lockstep_data():
    X, y = make_classification(3000, 12, n_informative=6, random_state=3)
    return X, y


def test_lockstep_folds_give_the_sequential_model(monkeypatch):
    """Binary folds in lockstep (one pass for every fold's evaluation) against the
    same folds one after another: the same fits, and the same fit run after run."""
    from fastlr import _cv_joint

    X, y = _lockstep_data()
    sw = np.random.default_rng(0).uniform(0.5, 2.0, len(y))
    kw = dict(Cs=6, cv=4, tol=1e-10, max_iter=1000, class_weight="balanced",
              backend="numba", use_legacy_attributes=False)
    calls = []
    original = _cv_joint.fit_paths_jointly

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(_cv_joint, "fit_paths_jointly", spy)
    monkeypatch.setattr("fastlr._cv.fit_paths_jointly", spy)
    joint = LogisticRegressionCV(**kw).fit(X, y, sample_weight=sw)
    again = LogisticRegressionCV(**kw).fit(X, y, sample_weight=sw)
    assert len(calls) == 2
    monkeypatch.setattr(_cv_joint, "LOCKSTEP", False)
    alone = LogisticRegressionCV(**kw).fit(X, y, sample_weight=sw)
    assert len(calls) == 2
    np.testing.assert_array_equal(joint.coefs_paths_, again.coefs_paths_)
    np.testing.assert_array_equal(joint.n_iter_, again.n_iter_)
    assert joint.C_ == alone.C_
    np.testing.assert_allclose(joint.coefs_paths_, alone.coefs_paths_, rtol=1e-6,
                               atol=1e-7)
    np.testing.assert_allclose(joint.coef_, alone.coef_, rtol=1e-6, atol=1e-8)


def test_lockstep_not_used_where_folds_must_run_in_turn(monkeypatch):
    from fastlr import _cv_joint

    def fail(*args, **kwargs):
        raise AssertionError("lockstep used")

    monkeypatch.setattr("fastlr._cv.fit_paths_jointly", fail)
    X, y = _lockstep_data()
    Xm, ym = make_classification(600, 8, n_informative=5, n_classes=3, random_state=0)
    LogisticRegressionCV(Cs=2, cv=3, backend="numpy").fit(X, y)  # no fold sums
    LogisticRegressionCV(Cs=2, cv=3, backend="numba").fit(Xm, ym)  # multinomial
    LogisticRegressionCV(Cs=2, cv=3, backend="numba").fit(sp.csr_matrix(X), y)
    LogisticRegressionCV(Cs=2, cv=3, backend="numba", solver="newton-cholesky").fit(X, y)
    LogisticRegressionCV(Cs=2, cv=3, backend="numba", solver="saga", l1_ratios=[0.5],
                         max_iter=20).fit(X, y)
    LogisticRegressionCV(Cs=2, cv=3, backend="numba", solver="gd").fit(X, y)
    assert _cv_joint.LOCKSTEP


def test_lockstep_failures_reach_the_caller(monkeypatch):
    """A fold that fails, or a joint pass that fails, raises in fit (no fold is left
    waiting); warnings from the fold threads reach the caller; BLAS's threads are
    restored."""
    from threadpoolctl import threadpool_info

    from fastlr import _cv_joint, _cv_path

    X, y = _lockstep_data()
    before = [pool["num_threads"] for pool in threadpool_info()]
    with pytest.warns(ConvergenceWarning):
        LogisticRegressionCV(Cs=3, cv=3, max_iter=1, backend="numba").fit(X, y)
    assert [pool["num_threads"] for pool in threadpool_info()] == before

    original = _cv_path.fit_path

    def second_fold_fails(fold, *args, **kwargs):
        if getattr(fold, "index", None) == 1:
            raise ValueError("fold 1 failed")
        return original(fold, *args, **kwargs)

    monkeypatch.setattr(_cv_joint, "fit_path", second_fold_fails)
    with pytest.raises(ValueError, match="fold 1 failed"):
        LogisticRegressionCV(Cs=3, cv=3, backend="numba").fit(X, y)
    monkeypatch.setattr(_cv_joint, "fit_path", original)

    from fastlr.backends.numba import folds

    def broken(*args, **kwargs):
        raise RuntimeError("pass failed")

    monkeypatch.setattr(folds, "binary_fold_sums", broken)
    with pytest.raises(RuntimeError, match="pass failed"):
        LogisticRegressionCV(Cs=3, cv=3, backend="numba").fit(X, y)
    assert [pool["num_threads"] for pool in threadpool_info()] == before
