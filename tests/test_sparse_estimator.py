"""Sparse X through the estimator and the public functions: the same model as dense,
never densified, every sparse format, bad structure named."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression as SkLogisticRegression

import fastlr
from fastlr import LogisticRegression

BACKENDS = [b for b in ("numpy", "numba") if b in fastlr.available_backends()]
TIGHT = {"tol": 1e-10, "max_iter": 1000}


def make_sparse(seed, n=400, p=60, density=0.08, n_classes=2, dtype=np.float64,
                index_dtype=np.int32):
    """A CSR X with empty rows and an empty column, labels from a linear model."""
    rng = np.random.default_rng(seed)
    X = sp.random(n, p, density=density, format="csr", random_state=rng,
                  data_rvs=lambda k: rng.uniform(0.1, 2.0, k)).astype(dtype)
    X = X.tolil()
    X[5, :] = 0
    X[n - 1, :] = 0
    X[:, min(7, p - 1)] = 0
    X = X.tocsr()
    X.eliminate_zeros()
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    Z = X.toarray().astype(np.float64) @ rng.standard_normal((p, n_classes)) * 2
    Z += 0.5 * rng.standard_normal(Z.shape)
    y = Z.argmax(axis=1)
    return X, y


def _same(a, b, rtol):
    scale = max(np.max(np.abs(b.coef_)), 1.0)
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_csr_fit_matches_dense(backend, n_classes, dtype):
    X, y = make_sparse(0, n_classes=n_classes, dtype=dtype)
    sw = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    params = dict(TIGHT, backend=backend, C=0.7, class_weight="balanced")
    dense = LogisticRegression(**params).fit(X.toarray(), y, sample_weight=sw)
    csr = LogisticRegression(**params).fit(X, y, sample_weight=sw)
    # The Numba kernels sum float64 products (float32 data converts exactly), so CSR
    # and dense differ by float64 rounding and stop within tol of one optimum. The
    # NumPy reference multiplies float32 X in float32: gradient entries carry errors
    # of about eps32 * mean|x| ~ 1e-7, and the strong-convexity constant here is at
    # least l2 = 1 / (C sum s) ~ 3e-3, so the two optima may differ by ~4e-5.
    float32_blas = dtype == np.float32 and backend == "numpy"
    _same(csr, dense, 2e-4 if float32_blas else 1e-5)
    assert csr.coef_.dtype == dtype
    for method in ("decision_function", "predict_proba", "predict_log_proba"):
        out = getattr(csr, method)(X)
        assert isinstance(out, np.ndarray)
        np.testing.assert_allclose(out, getattr(csr, method)(X.toarray()),
                                   rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-6 if dtype == np.float32 else 1e-12)
    np.testing.assert_array_equal(csr.predict(X), csr.predict(X.toarray()))


def test_csr_matches_scikit_learn():
    X, y = make_sparse(2, n=600, p=40, density=0.2)
    ours = LogisticRegression(C=0.5, **TIGHT).fit(X, y)
    theirs = SkLogisticRegression(C=0.5, tol=1e-12, max_iter=1000).fit(X, y)
    _same(ours, theirs, 1e-5)


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil", "dok", "bsr"])
def test_other_formats_are_converted(fmt):
    X, y = make_sparse(3)
    ref = LogisticRegression(backend="numba", **TIGHT).fit(X, y)
    other = LogisticRegression(backend="numba", **TIGHT).fit(X.asformat(fmt), y)
    _same(other, ref, 1e-8)
    np.testing.assert_array_equal(other.predict(X.asformat(fmt)), ref.predict(X))


@pytest.mark.parametrize("backend", BACKENDS)
def test_csr_array_int64_unsorted_duplicates_explicit_zeros(backend):
    X, y = make_sparse(4, index_dtype=np.int64)
    ref = LogisticRegression(backend=backend, **TIGHT).fit(X, y)
    # the same matrix, stored differently: reversed indices within each row, one
    # value split in two duplicates, explicit zeros, as a csr_array
    rows = []
    data, indices, indptr = [], [], [0]
    for i in range(X.shape[0]):
        lo, hi = X.indptr[i], X.indptr[i + 1]
        d, j = list(X.data[lo:hi][::-1]), list(X.indices[lo:hi][::-1])
        if d:
            d = [d[0] / 2, d[0] / 2] + d[1:] + [0.0]
            j = [j[0], j[0]] + j[1:] + [(j[0] + 1) % X.shape[1]]
        data += d
        indices += j
        indptr.append(len(data))
        rows.append(i)
    Y = sp.csr_array((np.array(data), np.array(indices, dtype=np.int64),
                      np.array(indptr, dtype=np.int64)), shape=X.shape)
    assert not Y.has_sorted_indices
    got = LogisticRegression(backend=backend, **TIGHT).fit(Y, y)
    _same(got, ref, 1e-6)
    np.testing.assert_allclose(got.decision_function(Y), ref.decision_function(X),
                               rtol=1e-6, atol=1e-8)


def test_sparse_x_is_never_densified(monkeypatch):
    X, y = make_sparse(5)

    def refuse(*args, **kwargs):
        raise AssertionError("X was made dense")

    for cls in (sp.csr_matrix, sp.csr_array):
        monkeypatch.setattr(cls, "toarray", refuse)
        monkeypatch.setattr(cls, "todense", refuse)
    for backend in BACKENDS:
        clf = LogisticRegression(backend=backend).fit(X, y)
        clf.predict_proba(X)
        LogisticRegression(backend=backend, solver="gd", max_iter=5).fit(X, y)


def test_sparsify_densify():
    X, y = make_sparse(6, n_classes=3)
    clf = LogisticRegression().fit(X, y)
    dense_coef = clf.coef_.copy()
    proba = clf.predict_proba(X)
    assert clf.sparsify() is clf
    assert sp.issparse(clf.coef_)
    np.testing.assert_array_equal(clf.coef_.toarray(), dense_coef)
    np.testing.assert_allclose(clf.predict_proba(X), proba)
    np.testing.assert_allclose(clf.predict_proba(X.toarray()), proba)
    clf.set_params(warm_start=True, max_iter=3).fit(X, y)  # starts from sparse coef_
    assert isinstance(clf.coef_, np.ndarray)
    clf.sparsify()
    assert clf.densify() is clf
    assert isinstance(clf.coef_, np.ndarray)


@pytest.mark.parametrize("backend", BACKENDS)
def test_loss_and_grad_accept_csr(backend):
    X, y = make_sparse(7)
    rng = np.random.default_rng(8)
    w = rng.standard_normal(X.shape[1])
    sw = rng.uniform(0.5, 2.0, X.shape[0])
    J, dw, db = fastlr.loss_and_grad(X, y.astype(float), w, 0.3, sample_weight=sw,
                                     l2=0.01, backend=backend)
    Jd, dwd, dbd = fastlr.loss_and_grad(X.toarray(), y.astype(float), w, 0.3,
                                        sample_weight=sw, l2=0.01, backend="numpy")
    np.testing.assert_allclose(J, Jd, rtol=1e-12)
    np.testing.assert_allclose(dw, dwd, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(db, dbd, rtol=1e-10, atol=1e-14)
    Xk, yk = make_sparse(9, n_classes=4)
    W = rng.standard_normal((4, Xk.shape[1]))
    B = rng.standard_normal(4)
    got = fastlr.multinomial_loss_and_grad(Xk.tocoo(), yk, W, B, backend=backend)
    ref = fastlr.multinomial_loss_and_grad(Xk.toarray(), yk, W, B, backend="numpy")
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------------------------
# Bad input: a clear ValueError before any kernel runs
# ---------------------------------------------------------------------------------


def _broken(kind):
    X, _ = make_sparse(10, n=20, p=6, density=0.4)
    data, indices, indptr = X.data.copy(), X.indices.copy(), X.indptr.copy()
    if kind == "index out of range":
        indices[3] = 6
    elif kind == "negative index":
        indices[3] = -1
    elif kind == "non-monotone indptr":
        indptr[4], indptr[5] = indptr[5], indptr[4]
    elif kind == "indptr too short":
        indptr = indptr[:-1]
    # built without scipy's own checks, as a buggy producer of CSR arrays could
    Y = sp.csr_matrix(X.shape, dtype=X.dtype)
    Y.data, Y.indices, Y.indptr = data, indices, indptr
    return Y


@pytest.mark.parametrize("kind, match", [
    ("index out of range", "indices"),
    ("negative index", "indices"),
    ("non-monotone indptr", "indptr"),
    ("indptr too short", "indptr"),
])
@pytest.mark.parametrize("backend", BACKENDS)
def test_broken_structure_is_named(kind, match, backend):
    X = _broken(kind)
    y = np.arange(X.shape[0]) % 2
    with pytest.raises(ValueError, match=match):
        LogisticRegression(backend=backend).fit(X, y)
    with pytest.raises(ValueError, match=match):
        fastlr.loss_and_grad(X, y.astype(float), np.zeros(X.shape[1]), 0.0,
                             backend=backend)
    good, _ = make_sparse(10, n=20, p=6, density=0.4)
    clf = LogisticRegression(backend=backend).fit(good, y)
    with pytest.raises(ValueError, match=match):
        clf.predict(X)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_data_is_named(backend, bad):
    X, y = make_sparse(11)
    X = X.copy()
    X.data[17] = bad
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match="Input X contains NaN or infinity"):
            LogisticRegression(backend=backend).fit(X, y)
        with pytest.raises(ValueError, match="NaN or infinity"):
            fastlr.loss_and_grad(X, (y == 1).astype(float), np.zeros(X.shape[1]), 0.0,
                                 backend=backend)
    clf = LogisticRegression(backend=backend).fit(make_sparse(11)[0], y)
    with pytest.raises(ValueError, match="NaN|infinity"):
        clf.predict(X)
