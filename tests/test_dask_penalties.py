"""L1 and elastic-net fits and scikit-learn's callbacks on Dask arrays (dense and CSR
chunks), on Dask's local scheduler: the same model as in memory."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

da = pytest.importorskip("dask.array")

from fastlr import LogisticRegression  # noqa: E402

TIGHT = dict(tol=1e-10, max_iter=1000)
# the in-memory reference runs the same Numba kernels as the chunks
NUMBA = dict(backend="numba")


def _data(seed, n=3000, p=8, n_classes=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    Z = X[:, :4] @ rng.standard_normal((4, n_classes)) + 0.5 * rng.standard_normal((n, n_classes))
    return X, Z.argmax(axis=1)


def _same(a, b, rtol=1e-6):
    scale = np.max(np.abs(b.coef_))
    np.testing.assert_allclose(a.coef_, b.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(a.intercept_, b.intercept_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_array_equal(a.coef_ == 0, b.coef_ == 0)


@pytest.mark.parametrize("n_classes, l1_ratio", [(2, 1.0), (3, 0.5)])
def test_dense_chunks_match_in_memory(n_classes, l1_ratio):
    X, y = _data(1, n_classes=n_classes)
    kw = dict(solver="saga", C=0.01, l1_ratio=l1_ratio, **TIGHT)
    ref = LogisticRegression(**NUMBA, **kw).fit(X, y)
    assert np.any(ref.coef_ == 0)
    fit = LogisticRegression(**kw).fit(da.from_array(X, chunks=(700, -1)),
                                       da.from_array(y, chunks=700))
    assert fit.backend_.startswith("dask") and fit.solver_ == "proxnewton"
    _same(fit, ref)


def test_csr_chunks_and_proximal_gd_match_in_memory():
    X, y = _data(2)
    X[np.abs(X) < 0.7] = 0.0
    Xs = sp.csr_matrix(X)
    Xd = da.from_array(X, chunks=(1000, -1)).map_blocks(sp.csr_matrix, dtype=X.dtype)
    yd = da.from_array(y, chunks=1000)
    for kw in (dict(solver="saga", **TIGHT),
               dict(solver="gd", tol=1e-7, max_iter=20_000)):
        kw.update(C=0.01, l1_ratio=1.0)
        ref = LogisticRegression(**NUMBA, **kw).fit(Xs, y)
        _same(LogisticRegression(**kw).fit(Xd, yd), ref, 1e-6)


def test_callbacks_on_dask():
    pytest.importorskip("sklearn.callback")
    from sklearn.callback.tests._utils import RecordingCallback

    X, y = _data(3)
    cb = RecordingCallback()
    Xd, yd = da.from_array(X, chunks=(1000, -1)), da.from_array(y, chunks=1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        lr = LogisticRegression(solver="saga", l1_ratio=1.0, C=0.01).set_callbacks(cb)
        lr.fit(Xd, yd)
    n_tasks = 1 + lr.n_iter_[0] + 1
    assert cb.count_hooks("on_fit_task_begin") == cb.count_hooks("on_fit_task_end") == n_tasks
    ends = [r for r in cb.record if r["name"] == "on_fit_task_end"
            and r["context"].task_name == f"{lr.solver_}-iter"]
    last = ends[-2]["kwargs"]["fitted_estimator"]  # after the last iteration
    np.testing.assert_array_equal(last.coef_, lr.coef_)
