"""The presolve (a large fit starts from the same solver's solution on every 16th row):
where it runs, where it does not, and that the model is the one the stopping test
accepts either way."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_classification

from fastlr import LogisticRegression, solvers
from fastlr._loss import LogisticObjective
from fastlr.backends import numpy_backend
from fastlr.solvers import _dispatch


@pytest.fixture
def small_threshold(monkeypatch):
    monkeypatch.setattr(_dispatch, "PRESOLVE_MIN_ELEMENTS", 1000)
    monkeypatch.setattr(_dispatch, "PRESOLVE_MIN_ROWS", 100)


def _calls(monkeypatch):
    """Record the row counts of every objective a solver is run on."""
    seen = []
    original = _dispatch.solve

    def recording(name, objective, *args, **kwargs):
        seen.append(objective._X_input.shape[0])
        return original(name, objective, *args, **kwargs)

    monkeypatch.setattr(_dispatch, "solve", recording)
    return seen


def _data(n_classes=2, n=4000):
    return make_classification(n, 12, n_informative=6, n_redundant=0,
                               n_classes=n_classes, random_state=0)


@pytest.mark.parametrize("solver, l1_ratio", [("lbfgs", 0.0), ("newton-cholesky", 0.0),
                                              ("saga", 1.0)])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("sparse", [False, True])
def test_presolved_fit_reaches_the_same_optimum(small_threshold, monkeypatch, solver,
                                                l1_ratio, n_classes, sparse):
    X, y = _data(n_classes)
    if sparse:
        X = sp.csr_matrix(np.where(np.abs(X) < 0.5, 0.0, X))
    seen = _calls(monkeypatch)
    params = dict(solver=solver, l1_ratio=l1_ratio, C=0.5, tol=1e-10, max_iter=1000)
    presolved = LogisticRegression(**params).fit(X, y)
    if l1_ratio:  # proximal Newton: no presolve, the sample gives its Hessian instead
        assert presolved.solver_ == "proxnewton" and seen == []
    else:
        assert seen == [len(range(0, 4000, 16))]  # the presolve ran, on every 16th row
    monkeypatch.setattr(_dispatch, "PRESOLVE_MIN_ELEMENTS", 10**12)
    plain = LogisticRegression(**params).fit(X, y)
    scale = np.max(np.abs(plain.coef_))
    np.testing.assert_allclose(presolved.coef_, plain.coef_, atol=1e-5 * scale)
    np.testing.assert_allclose(presolved.intercept_, plain.intercept_, atol=1e-5 * scale)
    np.testing.assert_array_equal(presolved.coef_ == 0, plain.coef_ == 0)


def test_presolve_saves_iterations(small_threshold, monkeypatch):
    X, y = _data(n=20000)
    presolved = LogisticRegression(solver="newton-cholesky").fit(X, y)
    monkeypatch.setattr(_dispatch, "PRESOLVE_MIN_ELEMENTS", 10**12)
    plain = LogisticRegression(solver="newton-cholesky").fit(X, y)
    assert presolved.n_iter_[0] < plain.n_iter_[0]


def test_no_presolve_below_the_threshold_with_warm_start_gd_or_max_iter_zero(
        small_threshold, monkeypatch):
    X, y = _data()
    seen = _calls(monkeypatch)
    LogisticRegression(solver="gd", max_iter=5).fit(X, y)
    LogisticRegression(max_iter=0).fit(X, y)
    clf = LogisticRegression(warm_start=True).fit(X, y)
    seen.clear()
    clf.fit(X, y)
    assert seen == []  # warm start: the previous model is the start
    monkeypatch.setattr(_dispatch, "PRESOLVE_MIN_ELEMENTS", 10**12)
    LogisticRegression().fit(X, y)
    assert seen == []
    monkeypatch.setattr(_dispatch, "PRESOLVE_MIN_ELEMENTS", 1000)
    LogisticRegression().fit(X[:1500], y[:1500])  # 94 rows in the sample: too few
    assert seen == []
    LogisticRegression().fit(X[:, :1], y)  # 250 rows in the sample, 2 coefficients
    assert seen == [250]
    LogisticRegression().fit(np.repeat(X, 6, axis=1)[:, :60], y)  # 250 < 5 * 61
    assert seen == [250]


def test_a_sample_that_misses_a_class_is_not_used(small_threshold, monkeypatch):
    X, y = _data(n_classes=2)
    y = y.copy()
    y[:] = np.where(np.arange(len(y)) % 2 == 0, y % 2, 2)  # class 2 on odd rows only
    seen = _calls(monkeypatch)
    LogisticRegression().fit(X, y)
    assert seen == []
    obj = LogisticObjective(numpy_backend, X, y, None, 3, True, 0.1)
    assert obj.subsample(16) is None


def test_no_subsample_of_data_on_a_device():
    X, y = _data()

    class Device:  # a backend that moves the data elsewhere (as the CUDA one)
        binary_sums = staticmethod(numpy_backend.binary_sums)

        @staticmethod
        def prepare(X, y, s):
            return X, y, s

    obj = LogisticObjective(Device, np.repeat(X, 60, axis=0), np.repeat(y, 60) * 1.0,
                            None, 2, True, 0.1)
    assert obj.subsample(16) is None
    coef0 = np.zeros(13)
    start, memory = solvers.presolve("lbfgs", obj, None, coef0, tol=1e-4, max_iter=10)
    assert start is coef0 and memory == []
