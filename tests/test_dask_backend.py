"""Fits on Dask arrays: the same model as in memory, on a cluster and without one.

The cluster is two single-threaded worker processes (with nannies, so a killed worker
comes back). Tests that must run without a distributed client simply do not use the
``client`` fixture: the module's client is not the default one outside it.
"""

import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest
import scipy.sparse as sp

da = pytest.importorskip("dask.array")

from fastlr import LogisticRegression  # noqa: E402
from fastlr.backends import dask_backend  # noqa: E402

N, P, CHUNK = 6000, 6, 1000
TIGHT = {"tol": 1e-10, "max_iter": 500}
# The in-memory reference runs the same Numba kernels ("auto" would pick the NumPy
# backend at these sizes, whose float32 sums stop lbfgs a few iterations early).
NUMBA = {"backend": "numba"}


def make_data(seed, n=N, p=P, n_classes=2, dtype=np.float64, labels=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p)).astype(dtype)
    Z = X.astype(np.float64) @ rng.standard_normal((p, n_classes))
    Z += 0.5 * rng.standard_normal(Z.shape)
    y = Z.argmax(axis=1)
    if labels is not None:
        y = np.asarray(labels)[y]
    return X, y


def to_dask(*arrays, chunk=CHUNK):
    return [da.from_array(a, chunks=(chunk,) + a.shape[1:]) for a in arrays]


def assert_same_model(fitted, reference, rtol=1e-6):
    scale = np.max(np.abs(reference.coef_))
    np.testing.assert_allclose(fitted.coef_, reference.coef_, rtol=rtol, atol=rtol * scale)
    np.testing.assert_allclose(fitted.intercept_, reference.intercept_, rtol=rtol,
                               atol=rtol * scale)
    np.testing.assert_array_equal(fitted.classes_, reference.classes_)


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, host="127.0.0.1") as cluster:
        with distributed.Client(cluster, set_as_default=False) as client:
            yield cluster, client


@pytest.fixture
def client(cluster):
    _, client = cluster
    client.wait_for_workers(2, timeout=60)
    with client.as_current():  # the default client for this test only
        yield client


# ---------------------------------------------------------------------------------
# The same model as in memory
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_weighted_matches_in_memory(client, dtype):
    X, y = make_data(0, dtype=dtype, labels=[-1, 3])
    sw = np.random.default_rng(1).uniform(0.2, 3.0, N).astype(dtype)
    params = dict(TIGHT, class_weight={-1: 0.7, 3: 1.9}, C=0.5)
    ref = LogisticRegression(**params, **NUMBA).fit(X, y, sample_weight=sw)
    Xd, yd, swd = to_dask(X, y, sw)
    est = LogisticRegression(**params).fit(Xd, yd, sample_weight=swd)
    assert est.backend_ == "dask+numba"
    assert est.coef_.dtype == dtype and est.coef_.shape == (1, P)
    assert_same_model(est, ref)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multinomial_balanced_matches_in_memory(client, dtype):
    X, y = make_data(2, n_classes=4, dtype=dtype, labels=["a", "b", "c", "d"])
    y[: N // 2][y[: N // 2] == "d"] = "a"  # unbalanced classes
    sw = np.random.default_rng(3).uniform(0.5, 2.0, N)
    params = dict(TIGHT, class_weight="balanced")
    ref = LogisticRegression(**params, **NUMBA).fit(X, y, sample_weight=sw)
    Xd, yd, swd = to_dask(X, y, sw)
    est = LogisticRegression(**params).fit(Xd, yd, sample_weight=swd)
    assert est.coef_.shape == (4, P)
    assert_same_model(est, ref)


def test_gd_without_intercept_matches_in_memory(client):
    X, y = make_data(4, n_classes=3)
    params = dict(solver="gd", max_iter=40, tol=0.0, fit_intercept=False)
    with pytest.warns(Warning, match="did not converge"):
        ref = LogisticRegression(**params, **NUMBA).fit(X, y)
    with pytest.warns(Warning, match="did not converge"):
        est = LogisticRegression(**params).fit(*to_dask(X, y))
    assert est.n_iter_[0] == ref.n_iter_[0] == 40
    assert_same_model(est, ref)
    np.testing.assert_allclose(est.loss_curve_, ref.loss_curve_, rtol=1e-9)


def test_local_scheduler_without_client():
    assert dask_backend.client() is None
    X, y = make_data(5, n_classes=3)
    ref = LogisticRegression(**TIGHT, **NUMBA).fit(X, y)
    est = LogisticRegression(**TIGHT).fit(*to_dask(X, y))
    assert_same_model(est, ref)
    with pytest.MonkeyPatch.context() as mp:  # coefficients as a separate graph node
        mp.setattr(dask_backend, "INLINE_COEF_BYTES", 0)
        assert_same_model(LogisticRegression(**TIGHT).fit(*to_dask(X, y)), ref)
    proba = est.predict_proba(da.from_array(X, chunks=(700, -1)))
    np.testing.assert_allclose(proba.compute(scheduler="sync"), ref.predict_proba(X),
                               rtol=1e-6, atol=1e-9)


def test_large_coefficients_and_many_partials(client, monkeypatch):
    # the paths taken past the size limits: coefficients sent once per evaluation, and
    # each worker adding up its own chunks before the client adds the workers' sums
    monkeypatch.setattr(dask_backend, "INLINE_COEF_BYTES", 0)
    monkeypatch.setattr(dask_backend, "STACKED_PARTIALS_BYTES", 0)
    X, y = make_data(13, n_classes=3)
    ref = LogisticRegression(**TIGHT, **NUMBA).fit(X, y)
    assert_same_model(LogisticRegression(**TIGHT).fit(*to_dask(X, y)), ref)


def test_numpy_y_and_uneven_chunks(client):
    # y as a NumPy array, weights chunked differently from X: rechunked to X's rows
    X, y = make_data(6)
    sw = np.linspace(0.5, 1.5, N)
    ref = LogisticRegression(**TIGHT, **NUMBA).fit(X, y, sample_weight=sw)
    Xd = da.from_array(X, chunks=((700, 1300, 2500, 1500), (P,)))
    swd = da.from_array(sw, chunks=1700)
    assert_same_model(LogisticRegression(**TIGHT).fit(Xd, y, sample_weight=swd), ref)


def test_column_chunks_are_merged_with_a_warning(client):
    X, y = make_data(7)
    ref = LogisticRegression(**TIGHT, **NUMBA).fit(X, y)
    Xd = da.from_array(X, chunks=(CHUNK, 2))
    with pytest.warns(UserWarning, match="column chunks"):
        est = LogisticRegression(**TIGHT).fit(Xd, da.from_array(y, chunks=CHUNK))
    assert_same_model(est, ref)


def test_X_is_never_gathered(client, monkeypatch):
    X, y = make_data(8)
    ref = LogisticRegression(**TIGHT, **NUMBA).fit(X, y)

    def refuse(*args, **kwargs):
        raise AssertionError("X was converted to a NumPy array on the client")

    Xd, yd = to_dask(X, y)
    monkeypatch.setattr(type(Xd), "__array__", refuse)
    est = LogisticRegression(**TIGHT).fit(Xd, yd)
    monkeypatch.undo()
    assert_same_model(est, ref)


def test_chunk_tasks_use_the_worker_threads(client):
    # single-threaded workers: every chunk kernel gets exactly one Numba thread
    assert client.submit(dask_backend.task_threads, None, pure=False).result() == 1
    assert client.submit(dask_backend.task_threads, 4, pure=False).result() == 1
    assert dask_backend.task_threads(3) == 3  # off a worker: the estimator's n_jobs


# ---------------------------------------------------------------------------------
# Predictions are lazy
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_classes", [2, 3])
def test_predictions_are_lazy_and_match(client, n_classes):
    X, y = make_data(9, n_classes=n_classes, dtype=np.float32,
                     labels=["x", "yy", "zzz"][:n_classes])
    ref = LogisticRegression(**TIGHT, **NUMBA).fit(X, y)
    est = LogisticRegression(**TIGHT).fit(*to_dask(X, y))
    (Xd,) = to_dask(X, chunk=777)
    for method in ("decision_function", "predict_proba", "predict_log_proba", "predict"):
        lazy = getattr(est, method)(Xd)
        assert isinstance(lazy, da.Array), method
        expected = getattr(ref, method)(X)
        assert lazy.shape == expected.shape and lazy.dtype == expected.dtype, method
        got = lazy.compute()
        if method == "predict":
            np.testing.assert_array_equal(got, expected)
        else:
            np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    # an in-memory model predicts lazily on Dask arrays too
    np.testing.assert_array_equal(ref.predict(Xd).compute(), ref.predict(X))
    with pytest.raises(ValueError, match="expecting 6 features"):
        est.predict(Xd[:, :4])


# ---------------------------------------------------------------------------------
# Chunks that are scipy.sparse CSR matrices
# ---------------------------------------------------------------------------------


def sparse_data(seed, n_classes=2):
    X, y = make_data(seed, n_classes=n_classes)
    X[np.abs(X) < 1.0] = 0  # about two thirds zeros
    X[123] = 0  # an empty row
    return X, y


def to_dask_csr(X, chunk=CHUNK):
    """X as a Dask array whose chunks are CSR matrices (never dense on the workers'
    side of the fit)."""
    return da.from_array(X, chunks=(chunk, -1)).map_blocks(
        sp.csr_matrix, dtype=X.dtype, meta=sp.csr_matrix((0, 0), dtype=X.dtype))


@pytest.mark.parametrize("n_classes", [2, 3])
def test_csr_chunks_match_in_memory(client, n_classes):
    X, y = sparse_data(20, n_classes)
    ref = LogisticRegression(**TIGHT, **NUMBA).fit(sp.csr_matrix(X), y)
    Xd = to_dask_csr(X)
    (yd,) = to_dask(y)
    est = LogisticRegression(**TIGHT).fit(Xd, yd)
    assert est.backend_ == "dask+numba"
    assert_same_model(est, ref)
    np.testing.assert_allclose(est.predict_proba(Xd).compute(), ref.predict_proba(X),
                               rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(est.decision_function(Xd).compute(),
                               ref.decision_function(X), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(est.predict(Xd).compute(), ref.predict(X))


def test_csr_chunks_local_scheduler_and_gd():
    X, y = sparse_data(21)
    Xd = to_dask_csr(X)
    (yd,) = to_dask(y)
    assert dask_backend.client() is None
    ref = LogisticRegression(**TIGHT, **NUMBA).fit(sp.csr_matrix(X), y)
    assert_same_model(LogisticRegression(**TIGHT).fit(Xd, yd), ref)
    gd_ref = LogisticRegression(solver="gd", max_iter=50, **NUMBA).fit(X, y)
    with pytest.warns(Warning):  # 50 steps do not converge
        gd = LogisticRegression(solver="gd", max_iter=50).fit(Xd, yd)
    assert_same_model(gd, gd_ref, rtol=1e-9)


def test_csr_chunk_with_nan_is_named(client):
    X, y = sparse_data(22)
    X[4321, 2] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        LogisticRegression().fit(to_dask_csr(X), to_dask(y)[0])


# ---------------------------------------------------------------------------------
# Bad input: clear errors before the solver starts
# ---------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast")
def test_non_finite_inputs_are_named(client):
    X, y = make_data(10)
    sw = np.ones(N)
    X_nan = X.copy()
    X_nan[4321, 2] = np.nan  # in the fifth chunk only
    with pytest.raises(ValueError, match="Input X contains NaN"):
        LogisticRegression().fit(*to_dask(X_nan, y))
    y_nan = y.astype(np.float64)
    y_nan[17] = np.nan
    with pytest.raises(ValueError, match="Input y contains NaN"):
        LogisticRegression().fit(*to_dask(X, y_nan))
    sw_inf = sw.copy()
    sw_inf[5000] = np.inf
    with pytest.raises(ValueError, match="sample_weight contains NaN or infinity"):
        LogisticRegression().fit(*to_dask(X, y), sample_weight=to_dask(sw_inf)[0])
    with pytest.raises(ValueError, match="non-negative"):
        LogisticRegression().fit(*to_dask(X, y), sample_weight=to_dask(-sw)[0])


def test_one_class_and_length_mismatch(client):
    X, y = make_data(11)
    Xd, yd = to_dask(X, np.full(N, 7))
    with pytest.raises(ValueError, match="only one class: 7"):
        LogisticRegression().fit(Xd, yd)
    sw = (y == 1).astype(np.float64)
    with pytest.raises(ValueError, match="Only one class has positive sample weight"):
        LogisticRegression().fit(*to_dask(X, y), sample_weight=to_dask(sw)[0])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        LogisticRegression().fit(Xd, to_dask(y[:-5])[0])
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        LogisticRegression().fit(Xd[Xd[:, 0] > 0], yd[Xd[:, 0] > 0])
    with pytest.raises(ValueError, match="does not run on Dask"):
        LogisticRegression(backend="cuda").fit(*to_dask(X, y))


def test_importing_fastlr_does_not_import_dask():
    code = ("import sys, numpy as np, fastlr\n"
            "X = np.random.rand(50, 3); y = (X[:, 0] > 0.5).astype(int)\n"
            "fastlr.LogisticRegression().fit(X, y).predict(X)\n"
            "assert 'dask' not in sys.modules, 'dask was imported'\n")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------------
# A worker dies during the fit
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("when", ["between evaluations", "during an evaluation"])
def test_fit_survives_a_killed_worker(client, monkeypatch, when):
    X, y = make_data(12, n_classes=3)
    Xd, yd = to_dask(X, y)
    undisturbed = LogisticRegression(**TIGHT).fit(Xd, yd)

    calls = []
    reduce = dask_backend.DaskSums._reduce

    def reduce_and_kill(self, *args):
        calls.append(1)
        if len(calls) == 3:  # after two evaluations: chunks are persisted on both
            pids = client.run(os.getpid)
            victim = sorted(pids)[0]
            has_data = client.run(lambda dask_worker: len(dask_worker.data),
                                  workers=[victim])[victim]
            assert has_data > 0
            if when == "during an evaluation":
                threading.Timer(0.003, os.kill, (pids[victim], signal.SIGKILL)).start()
            else:
                os.kill(pids[victim], signal.SIGKILL)
        return reduce(self, *args)

    monkeypatch.setattr(dask_backend.DaskSums, "_reduce", reduce_and_kill)
    est = LogisticRegression(**TIGHT).fit(Xd, yd)
    monkeypatch.undo()
    assert len(calls) > 3  # the fit went on after the worker died
    # the chunks were recomputed from the graph: bit for bit the same model
    np.testing.assert_array_equal(est.coef_, undisturbed.coef_)
    np.testing.assert_array_equal(est.intercept_, undisturbed.intercept_)
    assert est.n_iter_[0] == undisturbed.n_iter_[0]
    client.wait_for_workers(2, timeout=60)  # the nanny brings the worker back
