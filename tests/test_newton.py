"""Newton's method ("newton-cholesky"): the Hessian sums of every backend against the
NumPy reference and against finite differences of the gradient, and the fits against
scikit-learn's NewtonCholeskySolver."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
from sklearn.datasets import load_breast_cancer, load_iris, load_wine, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.preprocessing import StandardScaler

from fastlr import LogisticRegression, solvers
from fastlr._loss import LogisticObjective
from fastlr._penalty import make_penalty
from fastlr.backends import get_backend, numpy_backend
from fastlr.backends.numba import hessian as dense_hessian

RNG = np.random.default_rng(0)


def _problem(n, p, n_classes, dtype, weighted, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)).astype(dtype)
    s = rng.uniform(0.2, 2.0, n).astype(dtype) if weighted else None
    if n_classes == 2:
        y = (rng.random(n) < 0.4).astype(dtype)
        W, B = rng.standard_normal((1, p)) * 0.3, np.array([0.2])
    else:
        y = rng.integers(0, n_classes, n)
        W, B = rng.standard_normal((n_classes, p)) * 0.3, rng.standard_normal(n_classes)
    return X, y, s, W, B


def _sums(module, X, y, s, W, B, fit_intercept, n_threads=None):
    if W.shape[0] == 1:
        J, dw, db, H = module.binary_hessian_sums(X, y, s, W[0], B[0], fit_intercept,
                                                  n_threads=n_threads)
        return J, dw[None, :], np.array([db]), H
    return module.multinomial_hessian_sums(X, y, s, W, B, fit_intercept,
                                           n_threads=n_threads)


# -- the Hessian sums ---------------------------------------------------------------

CASES = [(n, p, k) for n, p in [(1, 1), (7, 3), (3000, 5), (6000, 40)] for k in (2, 3)]


@pytest.mark.parametrize("n, p, n_classes", CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_dense_blocked_hessian_matches_reference(n, p, n_classes, dtype, weighted,
                                                 fit_intercept):
    X, y, s, W, B = _problem(n, p, n_classes, dtype, weighted)
    if not fit_intercept:
        B = np.zeros_like(B)
    ref = _sums(numpy_backend, X, y, s, W, B, fit_intercept)
    got = _sums(dense_hessian, X, y, s, W, B, fit_intercept)
    q = n_classes if n_classes > 2 else 1
    assert got[3].shape == ((p + fit_intercept) * q,) * 2
    # the Hessian: both sides compute in float64 from the same (exact) float64 X values
    np.testing.assert_allclose(got[3], ref[3], rtol=1e-10, atol=1e-10 * n)
    np.testing.assert_array_equal(got[3], got[3].T)
    # loss and gradient: the reference's products run in X's dtype
    tol = 1e-10 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(got[0], ref[0], rtol=tol)
    np.testing.assert_allclose(got[1], ref[1], rtol=tol, atol=tol * n)
    np.testing.assert_allclose(got[2], ref[2], rtol=tol, atol=tol * n)


def test_dense_blocked_hessian_spans_many_blocks(monkeypatch):
    monkeypatch.setattr(dense_hessian, "BLOCK_BYTES", 1)  # 64 rows per block
    for n_classes in (2, 4):
        X, y, s, W, B = _problem(1000, 6, n_classes, np.float64, True)
        ref = _sums(numpy_backend, X, y, s, W, B, True)
        got = _sums(dense_hessian, X, y, s, W, B, True)
        for a, b in zip(got, ref):
            np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-9)


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kind", ["numpy", "numba", "numpy-csr"])
def test_hessian_is_the_derivative_of_the_gradient(n_classes, kind):
    X, y, s, W, B = _problem(200, 4, n_classes, np.float64, True)
    backend = get_backend(kind.split("-")[0])
    if kind.endswith("csr"):
        X[np.abs(X) < 0.7] = 0.0
        X = sp.csr_matrix(X)
    obj = LogisticObjective(backend, X, y if n_classes > 2 else y, s, n_classes, True,
                            l2=0.05)
    coef = obj.pack(W, B)
    _, g0, H = obj.loss_grad_hess(coef)
    h = 1e-6
    fd = np.empty_like(H)
    for i in range(coef.size):
        e = np.zeros_like(coef)
        e[i] = h
        fd[:, i] = (obj.loss_grad(coef + e)[1] - obj.loss_grad(coef - e)[1]) / (2 * h)
    np.testing.assert_allclose(H, fd, rtol=1e-5, atol=1e-7)
    J, g = obj.loss_grad(coef)
    J2, g2, _ = obj.loss_grad_hess(coef)
    assert J2 == pytest.approx(J, rel=1e-12)
    np.testing.assert_allclose(g2, g, rtol=1e-10, atol=1e-14)


def test_sparse_reference_hessian_equals_dense_reference():
    for n_classes in (2, 3):
        X, y, s, W, B = _problem(300, 6, n_classes, np.float64, True)
        X[np.abs(X) < 0.5] = 0.0
        dense = _sums(numpy_backend, X, y, s, W, B, True)
        sparse = _sums(numpy_backend, sp.csr_matrix(X), y, s, W, B, True)
        np.testing.assert_allclose(sparse[3], dense[3], rtol=1e-12, atol=1e-12)


# -- Newton fits against scikit-learn's newton-cholesky ------------------------------


def _dataset(name):
    if name == "generated":
        return make_classification(2000, 15, n_informative=8, n_redundant=0,
                                   random_state=3)
    if name == "generated-4":
        return make_classification(2000, 15, n_informative=8, n_redundant=0,
                                   n_classes=4, random_state=3)
    loader = {"breast_cancer": load_breast_cancer, "iris": load_iris, "wine": load_wine}
    X, y = loader[name](return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.mark.parametrize("name", ["breast_cancer", "iris", "wine", "generated",
                                  "generated-4"])
@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("params", [dict(C=1.0), dict(C=0.01), dict(C=10.0,
                                    fit_intercept=False), dict(C=1.0, weighted=True)])
def test_newton_gives_scikit_learns_model(name, backend, params):
    X, y = _dataset(name)
    params = dict(params)
    sw = RNG.uniform(0.5, 2.0, len(y)) if params.pop("weighted", False) else None
    ours = LogisticRegression(solver="newton-cholesky", tol=1e-10, backend=backend,
                              **params).fit(X, y, sample_weight=sw)
    theirs = SkLogisticRegression(solver="newton-cholesky", tol=1e-10, **params).fit(
        X, y, sample_weight=sw)
    assert ours.solver_ == "newton"
    scale = np.max(np.abs(theirs.coef_))
    np.testing.assert_allclose(ours.coef_, theirs.coef_, atol=1e-7 * scale)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=1e-7 * scale)
    # the same line search and stopping rule on the same objective: the same steps
    assert abs(int(ours.n_iter_[0]) - int(theirs.n_iter_[0])) <= 1


def test_newton_default_tol_stops_where_scikit_learn_stops():
    X, y = _dataset("breast_cancer")
    ours = LogisticRegression(solver="newton-cholesky").fit(X, y)
    theirs = SkLogisticRegression(solver="newton-cholesky").fit(X, y)
    assert ours.n_iter_[0] == theirs.n_iter_[0]
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-8, atol=1e-10)


def test_newton_on_csr_and_float32_gives_the_same_model():
    X, y = _dataset("generated")
    X = np.where(np.abs(X) < 0.6, 0.0, X)
    dense = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(X, y)
    for backend in ("numpy", "numba"):
        csr = LogisticRegression(solver="newton-cholesky", tol=1e-10,
                                 backend=backend).fit(sp.csr_matrix(X), y)
        np.testing.assert_allclose(csr.coef_, dense.coef_, rtol=1e-8, atol=1e-10)
    f32 = LogisticRegression(solver="newton-cholesky", tol=1e-6).fit(
        X.astype(np.float32), y)
    np.testing.assert_allclose(csr.coef_, dense.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(f32.coef_, dense.coef_, rtol=1e-4, atol=1e-5)
    assert f32.coef_.dtype == np.float32


def test_multinomial_without_penalty_is_centred_like_scikit_learn():
    X, y = _dataset("iris")
    X = X[:, :2]  # not separable: a finite unpenalised optimum
    ours = LogisticRegression(solver="newton-cholesky", C=np.inf, tol=1e-10).fit(X, y)
    theirs = SkLogisticRegression(solver="newton-cholesky", C=np.inf, tol=1e-10).fit(X, y)
    np.testing.assert_allclose(ours.coef_.sum(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ours.intercept_.sum(), 0.0, atol=1e-12)
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-6, atol=1e-8)


def test_singular_hessian_falls_back_to_lbfgs_with_a_warning():
    X, y = _dataset("generated")
    X = np.column_stack([X, X[:, 0]])  # a duplicated column: X^T D X is singular
    with pytest.warns(scipy.linalg.LinAlgWarning, match="continues with lbfgs"):
        clf = LogisticRegression(solver="newton-cholesky", C=np.inf, tol=1e-8).fit(X, y)
    ref = LogisticRegression(C=np.inf, tol=1e-8).fit(X, y)
    np.testing.assert_allclose(clf.predict_proba(X), ref.predict_proba(X), atol=1e-5)
    assert clf.n_iter_[0] >= 1 and np.all(np.isfinite(clf.coef_))


def test_not_converged_warns_and_max_iter_zero():
    X, y = _dataset("breast_cancer")
    with pytest.warns(ConvergenceWarning, match="Newton solver did not converge"):
        clf = LogisticRegression(solver="newton-cholesky", max_iter=1, tol=1e-12).fit(X, y)
    assert clf.n_iter_[0] == 1
    clf = LogisticRegression(solver="newton-cholesky", max_iter=0).fit(X, y)
    assert clf.n_iter_[0] == 0 and np.all(clf.coef_ == 0)


def test_warm_start_from_the_optimum_takes_one_step():
    X, y = _dataset("breast_cancer")
    clf = LogisticRegression(solver="newton-cholesky", warm_start=True, tol=1e-8).fit(X, y)
    coef = clf.coef_.copy()
    clf.fit(X, y)
    assert clf.n_iter_[0] == 1  # scikit-learn's rule: converge after a step
    np.testing.assert_allclose(clf.coef_, coef, rtol=1e-8, atol=1e-12)


def test_non_finite_input_is_named():
    X, y = _dataset("breast_cancer")
    X = X.copy()
    X[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LogisticRegression(solver="newton-cholesky", backend="numba").fit(X, y)


def test_too_large_a_hessian_is_refused(monkeypatch):
    X, y = _dataset("breast_cancer")
    monkeypatch.setattr(solvers._dispatch, "MAX_HESSIAN_BYTES", 1000)
    with pytest.raises(ValueError, match="dense Hessian of all 31 coefficients"):
        LogisticRegression(solver="newton-cholesky").fit(X, y)


def test_a_backend_without_hessian_runs_lbfgs():
    X, y = _dataset("breast_cancer")

    class NoHessian:  # the contract without the optional Hessian sums (as CUDA's)
        binary_sums = staticmethod(numpy_backend.binary_sums)
        multinomial_sums = staticmethod(numpy_backend.multinomial_sums)

    obj = LogisticObjective(NoHessian, X, y.astype(float), None, 2, True, 0.1)
    pen = make_penalty(1.0, 0.0, len(y), X.shape[1])
    assert not obj.has_hessian
    assert solvers.fastlr_solver("newton-cholesky", pen, obj) == "lbfgs"
    assert solvers.fastlr_solver("newton-cholesky", pen, LogisticObjective(
        numpy_backend, X, y.astype(float), None, 2, True, 0.1)) == "newton"


def test_newton_in_cross_validation_matches_scikit_learn():
    from sklearn.linear_model import LogisticRegressionCV as SkCV

    from fastlr import LogisticRegressionCV

    X, y = _dataset("iris")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (ConvergenceWarning, FutureWarning))
        ours = LogisticRegressionCV(Cs=5, solver="newton-cholesky", tol=1e-10,
                                    use_legacy_attributes=False).fit(X, y)
        theirs = SkCV(Cs=5, solver="newton-cholesky", tol=1e-10,
                      use_legacy_attributes=False).fit(X, y)
    assert ours.C_ == theirs.C_
    np.testing.assert_allclose(ours.coef_, theirs.coef_, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_newton_on_dask_gives_the_in_memory_model(n_classes):
    da = pytest.importorskip("dask.array")
    X, y = make_classification(3000, 8, n_informative=5, n_redundant=0,
                               n_classes=n_classes, random_state=1)
    ref = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(X, y)
    dX, dy = da.from_array(X, chunks=(700, 8)), da.from_array(y, chunks=700)
    clf = LogisticRegression(solver="newton-cholesky", tol=1e-10).fit(dX, dy)
    assert clf.solver_ == "newton" and clf.backend_.startswith("dask")
    np.testing.assert_allclose(clf.coef_, ref.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(clf.intercept_, ref.intercept_, rtol=1e-8, atol=1e-10)
    assert clf.n_iter_[0] == ref.n_iter_[0]
