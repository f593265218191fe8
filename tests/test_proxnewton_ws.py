"""Proximal Newton on working sets (``solver_ == "proxnewton-ws"``): the Hessian of a
subset of the features on every backend and input kind, and binary L1 / elastic-net
fits with more than 2,048 coefficients equal to OWL-QN's; and the objective's reuse of
its last pass (a path's next C starts there)."""

import importlib
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from fastlr import LogisticRegression
from fastlr._loss import LogisticObjective
from fastlr.backends import numba as numba_backend
from fastlr.backends import numpy_backend

proxnewton_module = importlib.import_module("fastlr.solvers.proxnewton")
TIGHT = dict(tol=1e-10, max_iter=10_000)


def _hessian_data(rng, n=400, p=60):
    X = sp.random(n, p, density=0.15, random_state=rng, format="csr")
    X.data = rng.normal(size=X.nnz)
    y = (rng.random(n) < 0.4).astype(np.float64)
    w = rng.normal(size=p) * 0.5
    return X, y, w, 0.3, rng.uniform(0.2, 2.0, n)


def _kinds(X):
    """(name, X in that kind, rtol against the float64 reference)."""
    csr64 = X.copy()
    csr64.indices = csr64.indices.astype(np.int64)
    csr64.indptr = csr64.indptr.astype(np.int64)
    dense = np.ascontiguousarray(X.toarray())
    return [("csr", X, 1e-12), ("csr-int64", csr64, 1e-12),
            ("csr-float32", X.astype(np.float32), 1e-5), ("dense", dense, 1e-12),
            ("dense-float32", dense.astype(np.float32), 1e-5)]


@pytest.mark.parametrize("backend", [numpy_backend, numba_backend],
                         ids=["numpy", "numba"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_hessian_cols_are_rows_and_columns_of_the_full_hessian(rng, backend,
                                                               fit_intercept, weighted):
    X, y, w, b, sw = _hessian_data(rng)
    sw = sw if weighted else None
    p = X.shape[1]
    H = numpy_backend.binary_hessian_sums(X, y, sw, w, b, fit_intercept)[3]
    tail = [p] if fit_intercept else []
    # any order, one column, every column, none
    for cols in (rng.permutation(p)[:17], np.array([5]), np.arange(p),
                 np.zeros(0, dtype=np.int64)):
        want = H[np.ix_(np.r_[cols, tail].astype(int), np.r_[cols, tail].astype(int))]
        for name, Xk, rtol in _kinds(X):
            got = backend.binary_hessian_cols(Xk, sw, w, b, cols, fit_intercept)
            assert got.shape == want.shape, name
            np.testing.assert_allclose(got, want, rtol=rtol,
                                       atol=rtol * np.abs(H).max(), err_msg=name)
            if backend is numba_backend:  # symmetric by construction
                np.testing.assert_array_equal(got, got.T, err_msg=name)


def test_objective_hessian_cols_adds_the_l2_term_to_the_features_only(rng):
    X, y, w, b, sw = _hessian_data(rng)
    obj = LogisticObjective(numba_backend, X, y, sw, 2, True, l2=0.25)
    coef = np.r_[w, b]
    _, _, H = obj.loss_grad_hess(coef)
    cols = np.array([7, 3, 40])
    idx = np.r_[cols, X.shape[1]]
    np.testing.assert_allclose(obj.hessian_cols(coef, cols), H[np.ix_(idx, idx)],
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(obj.column_counts(), np.bincount(X.indices,
                                                                   minlength=X.shape[1]))


def _wide(kind, n=1500, p=2500, seed=0):
    """A binary problem with more features than PROXNEWTON_MAX_COEF, sparse truth."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=0.02, random_state=rng, format="csr")
    X.data = rng.normal(size=X.nnz)
    w = np.zeros(p)
    w[rng.choice(p, 40, replace=False)] = rng.normal(size=40) * 3
    z = X @ w
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - z.mean())))).astype(int)
    return (X if kind == "csr" else np.ascontiguousarray(X.toarray())), y


def _owlqn(monkeypatch, X, y, **kw):
    with monkeypatch.context() as m:
        m.setattr(LogisticObjective, "has_hessian_cols", property(lambda self: False))
        fit = LogisticRegression(**kw).fit(X, y)
    assert fit.solver_ == "owlqn"
    return fit


def _same(a, b, rtol=1e-6):
    scale = max(np.abs(b.coef_).max(), 1.0)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_array_equal(a.coef_ == 0, b.coef_ == 0)


@pytest.mark.parametrize("kind", ["csr", "dense"])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("l1_ratio, C", [(1.0, 0.2), (0.5, 0.1)])
def test_working_set_fit_equals_owlqn(monkeypatch, kind, backend, l1_ratio, C):
    X, y = _wide(kind)
    kw = dict(solver="saga", C=C, l1_ratio=l1_ratio, backend=backend, **TIGHT)
    fit = LogisticRegression(**kw).fit(X, y)
    assert fit.solver_ == "proxnewton-ws"
    assert 0 < np.count_nonzero(fit.coef_) < 0.2 * X.shape[1]
    assert fit.n_iter_[0] < 50
    _same(fit, _owlqn(monkeypatch, X, y, **kw))


def test_sample_weights_and_no_intercept(monkeypatch):
    X, y = _wide("csr", seed=1)
    sw = np.random.default_rng(2).uniform(0.2, 2.0, len(y))
    kw = dict(solver="saga", C=0.2, l1_ratio=1.0, fit_intercept=False, **TIGHT)
    fit = LogisticRegression(**kw).fit(X, y, sample_weight=sw)
    assert fit.solver_ == "proxnewton-ws"
    with monkeypatch.context() as m:
        m.setattr(LogisticObjective, "has_hessian_cols", property(lambda self: False))
        ref = LogisticRegression(**kw).fit(X, y, sample_weight=sw)
    _same(fit, ref)


def test_a_large_working_set_hands_over_to_owlqn(monkeypatch):
    X, y = _wide("csr")
    kw = dict(solver="saga", C=0.2, l1_ratio=1.0, **TIGHT)
    ref = _owlqn(monkeypatch, X, y, **kw)
    support = np.count_nonzero(ref.coef_)
    # a cap below the support: OWL-QN finishes (counting the iterations before it)
    monkeypatch.setattr(proxnewton_module, "WS_MAX_FEATURES", support // 2)
    monkeypatch.setattr(proxnewton_module, "WS_FAR_PAST", 10**6)
    monkeypatch.setattr(proxnewton_module, "WS_MIN_NEW", 8)
    fit = LogisticRegression(**kw, verbose=0).fit(X, y)
    assert fit.solver_ == "proxnewton-ws"
    assert len(fit.loss_curve_) == fit.n_iter_[0]
    _same(fit, ref)
    # many violators from the start: OWL-QN at once, the same iterations as alone
    monkeypatch.setattr(proxnewton_module, "WS_FAR_PAST", 0)
    fit = LogisticRegression(**kw).fit(X, y)
    assert fit.n_iter_[0] == ref.n_iter_[0]
    _same(fit, ref)


def test_warm_start_and_max_iter():
    X, y = _wide("csr")
    kw = dict(solver="saga", C=0.1, l1_ratio=0.5, **TIGHT)
    ref = LogisticRegression(**kw).fit(X, y)
    warm = LogisticRegression(warm_start=True, **kw)
    warm.coef_, warm.intercept_ = ref.coef_.copy(), ref.intercept_.copy()
    warm.fit(X, y)
    assert warm.n_iter_[0] <= 1
    _same(warm, ref)
    assert LogisticRegression(solver="saga", l1_ratio=1.0, max_iter=0).fit(
        X, y).n_iter_[0] == 0
    with pytest.warns(ConvergenceWarning, match="proxnewton failed to converge"):
        LogisticRegression(solver="saga", l1_ratio=1.0, C=0.2, max_iter=1).fit(X, y)


def test_multinomial_and_all_zero_features():
    X, y = _wide("csr")
    y3 = np.where(np.arange(len(y)) % 3 == 0, 2, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = LogisticRegression(solver="saga", l1_ratio=1.0, max_iter=5).fit(X, y3)
    assert fit.solver_ == "owlqn"  # 3 x 2,501 coefficients, no working sets
    # no feature carries any signal: an all-zero model, not a crash
    Z = sp.csr_matrix(X.shape)
    fit = LogisticRegression(solver="saga", l1_ratio=1.0).fit(Z, y)
    assert fit.solver_ == "proxnewton-ws"
    assert np.all(fit.coef_ == 0) and np.isfinite(fit.intercept_).all()


def test_objective_reuses_the_last_pass_at_the_same_point(rng):
    X, y, w, b, sw = _hessian_data(rng)
    obj = LogisticObjective(numba_backend, X, y, sw, 2, True, l2=0.1)
    coef = np.r_[w, b]
    J1, g1 = obj.loss_grad(coef)
    obj.l2 = 0.7  # a path's next C: same point, new L2 term
    J2, g2 = obj.loss_grad(coef.copy())
    assert obj.n_evals == 1
    fresh = LogisticObjective(numba_backend, X, y, sw, 2, True, l2=0.7)
    J3, g3 = fresh.loss_grad(coef)
    assert J2 == J3 and np.array_equal(g2, g3)
    g1[:] = 0.0  # the caller's arrays are its own
    coef2 = coef.copy()
    coef2[0] += 1e-12  # any other point is a new pass
    obj.loss_grad(coef2)
    assert obj.n_evals == 2
    assert obj.loss_grad(coef)[0] == J2 and obj.n_evals == 3
