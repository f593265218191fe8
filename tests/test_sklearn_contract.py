"""scikit-learn 1.9's LogisticRegression contract: L1 and elastic-net models equal to
saga's, the same model on every backend and input kind, the same parameters, errors
and warnings as scikit-learn itself, solver names, n_iter_, callbacks."""

import functools
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

import fastlr
from fastlr import LogisticRegression

BACKENDS = [b for b in ("numpy", "numba") if b in fastlr.available_backends()]
TIGHT = dict(tol=1e-10, max_iter=10_000)


@functools.lru_cache(maxsize=None)
def _data(name):
    loader = {"breast_cancer": load_breast_cancer, "iris": load_iris, "wine": load_wine}
    X, y = loader[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y


@functools.lru_cache(maxsize=None)
def _saga(name, C, l1_ratio, weighted=False):
    X, y = _data(name)
    sw = _weights(len(y)) if weighted else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return SkLogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", tol=1e-10,
                                    max_iter=100_000).fit(X, y, sample_weight=sw)


def _weights(n):
    return np.random.default_rng(0).uniform(0.2, 2.0, n)


def _assert_same_model(ours, theirs, rtol):
    scale = np.max(np.abs(theirs.coef_))
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, rtol=rtol,
                               atol=rtol * max(scale, 1.0))


# binary (breast cancer) and multinomial (iris, wine), L1 and elastic net; saga
# converges to tol=1e-10 within a second on each
SAGA_CASES = [("breast_cancer", 0.1, 1.0), ("breast_cancer", 0.5, 0.5),
              ("iris", 1.0, 1.0), ("iris", 0.5, 0.5), ("wine", 0.1, 1.0),
              ("wine", 0.5, 0.5)]


@pytest.mark.parametrize("name, C, l1_ratio", SAGA_CASES)
def test_l1_and_elastic_net_equal_saga(name, C, l1_ratio, l1_solver):
    X, y = _data(name)
    theirs = _saga(name, C, l1_ratio)
    ours = LogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", **TIGHT).fit(X, y)
    binary = len(np.unique(y)) == 2
    assert ours.solver_ == (l1_solver if binary or l1_solver != "proxnewton-ws"
                            else "owlqn")
    _assert_same_model(ours, theirs, 1e-4)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)
    assert 0 < np.count_nonzero(ours.coef_ == 0) < ours.coef_.size
    np.testing.assert_array_equal(ours.predict(X), theirs.predict(X))


def test_sample_weights_with_l1_equal_saga(l1_solver):
    X, y = _data("wine")
    theirs = _saga("wine", 0.5, 1.0, weighted=True)
    ours = LogisticRegression(C=0.5, l1_ratio=1.0, solver="saga", **TIGHT).fit(
        X, y, sample_weight=_weights(len(y)))
    _assert_same_model(ours, theirs, 1e-4)
    np.testing.assert_array_equal(ours.coef_ == 0, theirs.coef_ == 0)


@pytest.mark.parametrize("name, C, l1_ratio", [("breast_cancer", 0.1, 1.0),
                                               ("wine", 0.5, 0.5)])
def test_every_backend_and_input_kind_gives_the_same_model(name, C, l1_ratio,
                                                          l1_solver):
    X, y = _data(name)
    kw = dict(C=C, l1_ratio=l1_ratio, solver="saga", **TIGHT)
    ref = LogisticRegression(backend="numpy", **kw).fit(X, y)
    Xs = sp.csr_matrix(np.where(np.abs(X) > 0.5, X, 0.0))
    ref_sparse = LogisticRegression(backend="numpy", **kw).fit(Xs, y)
    for backend in BACKENDS:
        for data, reference in ((X, ref), (Xs, ref_sparse)):
            fit = LogisticRegression(backend=backend, **kw).fit(data, y)
            _assert_same_model(fit, reference, 1e-6)
            np.testing.assert_array_equal(fit.coef_ == 0, reference.coef_ == 0)
    # the sparse fit is the dense fit of the densified matrix
    _assert_same_model(LogisticRegression(backend="numpy", **kw).fit(Xs.toarray(), y),
                       ref_sparse, 1e-6)


def test_proximal_gd_reaches_the_owlqn_model():
    X, y = _data("iris")
    kw = dict(C=0.5, l1_ratio=0.5)
    ref = LogisticRegression(solver="saga", **kw, **TIGHT).fit(X, y)
    gd = LogisticRegression(solver="gd", tol=1e-8, max_iter=100_000, **kw).fit(X, y)
    assert gd.solver_ == "gd"
    _assert_same_model(gd, ref, 1e-5)
    np.testing.assert_array_equal(gd.coef_ == 0, ref.coef_ == 0)


def test_all_zero_features_give_all_zero_coef():
    X = np.zeros((40, 3))
    y = np.r_[np.zeros(10), np.ones(30)]
    for kind in (X, sp.csr_matrix(X)):
        clf = LogisticRegression(solver="saga", l1_ratio=1.0, tol=1e-10).fit(kind, y)
        assert np.all(clf.coef_ == 0.0)
        assert clf.intercept_[0] == pytest.approx(np.log(3.0), abs=1e-8)
    yk = np.r_[np.zeros(10), np.ones(10), 2 * np.ones(20)]
    clf = LogisticRegression(solver="saga", l1_ratio=0.5).fit(X, yk)
    assert np.all(clf.coef_ == 0.0) and clf.coef_.shape == (3, 3)


# -- solver names ------------------------------------------------------------------

SMOOTH_NAMES = ["lbfgs", "newton-cg", "newton-cholesky", "sag", "saga", "liblinear"]


def test_each_solver_name_runs_the_solver_for_the_same_objective():
    X, y = _data("breast_cancer")
    lbfgs = LogisticRegression(solver="lbfgs").fit(X, y)
    for solver in SMOOTH_NAMES:
        clf = LogisticRegression(solver=solver).fit(X, y)
        if solver == "newton-cholesky":  # fastlr's own Newton solver, same objective
            assert clf.solver_ == "newton"
            tight = [LogisticRegression(solver=s, tol=1e-10).fit(X, y)
                     for s in ("lbfgs", solver)]
            # L-BFGS-B stops on its relative-decrease test (64 eps) first
            np.testing.assert_allclose(tight[1].coef_, tight[0].coef_,
                                       atol=1e-5 * np.max(np.abs(tight[1].coef_)))
            continue
        assert clf.solver_ == "lbfgs"
        np.testing.assert_array_equal(clf.coef_, lbfgs.coef_)
    saga = LogisticRegression(solver="saga", l1_ratio=1.0, C=0.1).fit(X, y)
    liblinear = LogisticRegression(solver="liblinear", l1_ratio=1.0, C=0.1).fit(X, y)
    assert liblinear.solver_ == saga.solver_ == "proxnewton"
    np.testing.assert_array_equal(liblinear.coef_, saga.coef_)
    # liblinear's dual=True is accepted with L2 (same solution as the primal)
    dual = LogisticRegression(solver="liblinear", dual=True).fit(X, y)
    np.testing.assert_array_equal(dual.coef_, lbfgs.coef_)


@pytest.mark.parametrize("solver", SMOOTH_NAMES + ["gd"])
def test_max_iter_zero_gives_n_iter_zero(solver):
    X, y = _data("breast_cancer")
    for l1_ratio in {0.0, 1.0 if solver in ("saga", "liblinear", "gd") else 0.0}:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf = LogisticRegression(solver=solver, l1_ratio=l1_ratio, max_iter=0).fit(X, y)
        assert clf.n_iter_.tolist() == [0] and clf.n_iter_.dtype == np.int32
        # no step at all (scikit-learn's lbfgs takes one; its other solvers do not)
        assert np.all(clf.coef_ == 0.0) and np.all(clf.intercept_ == 0.0)
        np.testing.assert_allclose(clf.predict_proba(X), 0.5)


def test_signature_and_defaults_are_scikit_learns():
    ours = LogisticRegression().get_params()
    theirs = SkLogisticRegression().get_params()
    assert set(ours) - set(theirs) == {"backend", "learning_rate"}
    for name, value in theirs.items():
        assert ours[name] == value, name
    with pytest.raises(TypeError):
        LogisticRegression("l2", 1.0)  # C is keyword-only, as in scikit-learn


# -- errors and warnings, checked against scikit-learn itself ------------------------

PARAMS = [
    dict(solver="lbfgs", l1_ratio=0.5), dict(solver="lbfgs", l1_ratio=1.0),
    dict(solver="newton-cg", l1_ratio=1.0), dict(solver="newton-cholesky", l1_ratio=0.3),
    dict(solver="sag", l1_ratio=1.0), dict(solver="liblinear", l1_ratio=0.5),
    dict(dual=True), dict(dual=True, solver="saga"), dict(dual=True, solver="liblinear"),
    dict(dual=True, solver="liblinear", l1_ratio=1.0),
    dict(l1_ratio=1.5), dict(l1_ratio=-0.1), dict(l1_ratio=np.nan), dict(l1_ratio="a"),
    dict(l1_ratio=None), dict(solver="saga", l1_ratio=None, penalty="elasticnet"),
    dict(solver="saga", l1_ratio=0.5, C=np.inf), dict(solver="saga", l1_ratio=1.0, C=np.inf),
    dict(solver="lbfgs", l1_ratio=0.5, C=np.inf), dict(solver="liblinear", C=np.inf),
    dict(solver="liblinear", C=np.inf, l1_ratio=1.0), dict(solver="liblinear", penalty=None),
    dict(intercept_scaling=0), dict(intercept_scaling=-1.0), dict(solver="newton"),
    dict(penalty="foo"), dict(penalty="l1"), dict(penalty="l1", solver="saga"),
    dict(penalty="l1", solver="liblinear"), dict(penalty="elasticnet", solver="saga"),
    dict(penalty="elasticnet", solver="saga", l1_ratio=0.5),
    dict(penalty=None), dict(penalty=None, C=2.0), dict(penalty="l2", l1_ratio=0.5),
    dict(penalty="l1", solver="saga", l1_ratio=0.0), dict(C=0.0), dict(C=-1.0),
    dict(tol=-1.0), dict(max_iter=-1), dict(solver="saga", l1_ratio=0.5),
]


def _outcome(cls, params, X, y):
    """(exception type or None, sorted warning categories other than convergence)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            cls(max_iter=params.pop("max_iter", 50), **params).fit(X, y)
            error = None
        except Exception as exc:  # noqa: BLE001 - the type is what is compared
            error = type(exc)
    categories = sorted({w.category.__name__ for w in record
                         if not issubclass(w.category, ConvergenceWarning)})
    return error, categories


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()))
@pytest.mark.parametrize("n_classes", [2, 3])
def test_errors_and_warnings_are_scikit_learns(params, n_classes):
    X, y = _data("iris")
    if n_classes == 2:
        y = (y == 1).astype(int)
    ours = _outcome(LogisticRegression, dict(params), X, y)
    theirs = _outcome(SkLogisticRegression, dict(params), X, y)
    assert ours == theirs


def test_error_messages_say_what_is_wrong():
    X, y = _data("iris")
    with pytest.raises(ValueError, match="lbfgs supports only 'l2' or None"):
        LogisticRegression(l1_ratio=1.0).fit(X, y)
    with pytest.raises(ValueError, match="dual=False"):
        LogisticRegression(dual=True, solver="saga").fit(X, y)
    with pytest.raises(ValueError, match="l1_ratio"):
        LogisticRegression(l1_ratio=np.nan).fit(X, y)
    with pytest.raises(ValueError, match="intercept_scaling"):
        LogisticRegression(intercept_scaling=0).fit(X, y)
    with pytest.raises(ValueError, match="does not support multiclass"):
        LogisticRegression(solver="liblinear").fit(X, y)
    with pytest.raises(ValueError, match="C=np.inf"):
        LogisticRegression(solver="liblinear", C=np.inf).fit(X, y == 1)
    with pytest.warns(FutureWarning, match="'penalty' was deprecated"):
        clf = LogisticRegression(penalty="l1", solver="saga", l1_ratio=1.0, C=0.5).fit(X, y)
    ref = LogisticRegression(solver="saga", l1_ratio=1.0, C=0.5).fit(X, y)
    np.testing.assert_array_equal(clf.coef_, ref.coef_)
    with pytest.warns(FutureWarning, match="'penalty' was deprecated"):
        none = LogisticRegression(penalty=None).fit(X, y)
    np.testing.assert_array_equal(none.coef_, LogisticRegression(C=np.inf).fit(X, y).coef_)
