"""The Hessian sums for Newton's method: the Numba CSR kernels and the Dask backend,
against the NumPy reference (dense and CSR).

Tolerances. The Numba kernels and the reference both take X's stored values to
float64 first (the reference casts X, float32 included, before its Hessian products),
so float32 input is no looser than float64: the two differ only by float64 rounding
in a different order (sums, ``z``) and by the Hessian weight, which the kernel forms as
``t / (1 + t)^2`` (``t = exp(-|z|)``) and the reference as ``a (1 - a)`` (an absolute
error up to about 2**-52 when ``a`` is near 1). Every element is compared against
``RTOL = 1e-10`` times the sum of the absolute values of its terms,
``S = sum_i s_i |x~_ij| |x~_ik|`` (the weights are at most 1/4); the observed errors
are below 1e-15 of that scale, so the margin is above 10^5, whatever the machine's
vector width or FMA contraction.

The loss and gradient come from the CSR sums kernels (tested against the reference in
``test_sparse_backends.py``); here they are checked against the float64 reference with
the same relative tolerance, and to the bit against :mod:`fastlr.backends.numba.sparse`.
"""

import numpy as np
import pytest
import scipy.sparse as sp

from fastlr.backends import numpy_backend as ref

pytest.importorskip("numba")
from fastlr.backends.numba import sparse as nb_sparse  # noqa: E402
from fastlr.backends.numba import sparse_hessian as nbh  # noqa: E402

RTOL = 1e-10


def make_csr(rng, n, p, dtype=np.float64, index_dtype=np.int32, kind="matrix",
             density=0.3):
    """CSR with unsorted indices, duplicate entries, empty rows (first and last
    included) and explicit zeros; indices and indptr of ``index_dtype``."""
    counts = rng.binomial(p, density, size=n) + rng.integers(0, 2, size=n)
    counts[rng.random(n) < 0.15] = 0
    counts[0] = counts[-1] = 0
    indptr = np.concatenate([[0], np.cumsum(counts)])
    nnz = int(indptr[-1])
    indices = rng.integers(0, p, nnz)  # unsorted, with repeats
    data = rng.standard_normal(nnz) * 1.5
    data[rng.random(nnz) < 0.1] = 0.0
    cls = sp.csr_matrix if kind == "matrix" else sp.csr_array
    X = cls((data.astype(dtype), indices, indptr), shape=(n, p))
    X.indices = indices.astype(index_dtype)
    X.indptr = indptr.astype(index_dtype)
    return X


def _tilde(X, fit_intercept):
    """|[X, 1]| (stored values' absolute values, duplicates kept) in float64."""
    A = abs(X.astype(np.float64))
    if fit_intercept:
        A = sp.hstack([A, np.ones((X.shape[0], 1))]).tocsr()
    return A


def hessian_scale(X, sw, fit_intercept, n_classes=1):
    """S: the sum of the absolute values of each Hessian element's terms (up to the
    weights, which are at most 1), in the contract's order."""
    A = _tilde(X, fit_intercept)
    s = np.ones(X.shape[0]) if sw is None else np.asarray(sw, np.float64)
    S = np.asarray((A.T @ A.multiply(s[:, None]).tocsr()).toarray()) + 1e-300
    if n_classes == 1:
        return S
    p = X.shape[1]
    # feature of each flat index of [W.ravel(), B]
    feat = np.concatenate([np.tile(np.arange(p), n_classes),
                           np.full(n_classes if fit_intercept else 0, p)])
    return S[np.ix_(feat, feat)]


def assert_hessian_close(H, H_ref, S):
    assert H.shape == H_ref.shape and H.dtype == np.float64
    excess = np.max(np.abs(H - H_ref) / (RTOL * S))
    assert excess <= 1.0, f"max error {excess:.3g} x tolerance"


def assert_sums_close(got, exp):
    for g, e in zip(got, exp):
        g, e = np.asarray(g, np.float64), np.asarray(e, np.float64)
        assert g.shape == e.shape
        scale = RTOL * (1.0 + np.max(np.abs(e), initial=0.0))
        np.testing.assert_allclose(g, e, rtol=RTOL, atol=scale)


def binary_problem(rng, X, weights):
    n, p = X.shape
    y = (rng.random(n) < 0.4).astype(X.dtype)
    sw = (rng.random(n) * 3).astype(X.dtype) if weights else None
    return y, sw, rng.standard_normal(p), 0.3


def multinomial_problem(rng, X, weights, K=3):
    n, p = X.shape
    y = rng.integers(0, K, n)
    sw = (rng.random(n) * 3).astype(X.dtype) if weights else None
    return y, sw, rng.standard_normal((K, p)), rng.standard_normal(K)


# ---------------------------------------------------------------------------------
# Numba CSR against the reference
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_binary_matches_reference(dtype, index_dtype, fit_intercept, weights, n_threads):
    rng = np.random.default_rng(1)
    X = make_csr(rng, 300, 13, dtype, index_dtype, kind="array" if weights else "matrix")
    y, sw, w, b = binary_problem(rng, X, weights)
    got = nbh.binary_hessian_sums(X, y, sw, w, b, fit_intercept, n_threads=n_threads)
    X64 = X.astype(np.float64)
    sw64 = None if sw is None else sw.astype(np.float64)
    exp = ref.binary_hessian_sums(X64, y.astype(np.float64), sw64, w, b, fit_intercept)
    assert_sums_close(got[:3], exp[:3])
    S = hessian_scale(X, sw, fit_intercept)
    assert_hessian_close(got[3], exp[3], S)
    # the reference on X itself (float32 stays float32 in its gradient, not in H) and
    # on the dense array (made from float64: float32 toarray() would round the sums
    # of duplicate entries)
    assert_hessian_close(got[3], ref.binary_hessian_sums(X, y, sw, w, b,
                                                         fit_intercept)[3], S)
    dense = ref.binary_hessian_sums(X64.toarray(), y, sw, w, b, fit_intercept)
    assert_hessian_close(got[3], dense[3], S)
    # the loss and gradient are the sums kernel's, to the bit
    sums = nb_sparse.binary_sums(X, y, sw, w, b, n_threads=n_threads)
    assert got[0] == sums[0] and got[2] == sums[2]
    np.testing.assert_array_equal(got[1], sums[1])
    assert np.array_equal(got[3], got[3].T)  # both triangles, exactly


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multinomial_matches_reference(dtype, index_dtype, fit_intercept, weights,
                                       n_threads):
    rng = np.random.default_rng(2)
    X = make_csr(rng, 300, 11, dtype, index_dtype, kind="matrix" if weights else "array")
    y, sw, W, B = multinomial_problem(rng, X, weights)
    got = nbh.multinomial_hessian_sums(X, y, sw, W, B, fit_intercept,
                                       n_threads=n_threads)
    X64 = X.astype(np.float64)
    sw64 = None if sw is None else sw.astype(np.float64)
    exp = ref.multinomial_hessian_sums(X64, y, sw64, W, B, fit_intercept)
    assert_sums_close(got[:3], exp[:3])
    S = hessian_scale(X, sw, fit_intercept, W.shape[0])
    assert_hessian_close(got[3], exp[3], S)
    dense = ref.multinomial_hessian_sums(X64.toarray(), y, sw, W, B, fit_intercept)
    assert_hessian_close(got[3], dense[3], S)
    sums = nb_sparse.multinomial_sums(X, y, sw, W, B, n_threads=n_threads)
    assert got[0] == sums[0]
    np.testing.assert_array_equal(got[1], sums[1])
    np.testing.assert_array_equal(got[2], sums[2])
    assert np.array_equal(got[3], got[3].T)


@pytest.mark.parametrize("K", [2, 5])
def test_multinomial_more_classes_and_extreme_scores(K):
    # large coefficients: probabilities near 0 and 1, where 1 - p cancels
    rng = np.random.default_rng(3)
    X = make_csr(rng, 200, 7, density=0.5)
    y, sw, W, B = multinomial_problem(rng, X, True, K)
    W *= 8.0
    got = nbh.multinomial_hessian_sums(X, y, sw, W, B, True)
    exp = ref.multinomial_hessian_sums(X, y, sw, W, B, True)
    assert_hessian_close(got[3], exp[3], hessian_scale(X, sw, True, K))


def test_bitwise_deterministic_per_thread_count():
    rng = np.random.default_rng(4)
    X = make_csr(rng, 2000, 20, density=0.25)
    y, sw, w, b = binary_problem(rng, X, True)
    yk, _, W, B = multinomial_problem(rng, X, True)
    q = X.shape[1] + 1
    work = int(nbh._pair_work(X.indptr, 1)[0])
    assert nbh._n_chunks(X.shape[0], work, q * q, 2) == 2  # really two chunks
    assert nbh._n_chunks(X.shape[0], work * 9, (3 * q) ** 2, 2) == 2
    for n_threads in (1, 2):
        first = nbh.binary_hessian_sums(X, y, sw, w, b, n_threads=n_threads)[3]
        again = nbh.binary_hessian_sums(X, y, sw, w, b, n_threads=n_threads)[3]
        assert np.array_equal(first, again)
        first = nbh.multinomial_hessian_sums(X, yk, sw, W, B, n_threads=n_threads)[3]
        again = nbh.multinomial_hessian_sums(X, yk, sw, W, B, n_threads=n_threads)[3]
        assert np.array_equal(first, again)
    one = nbh.binary_hessian_sums(X, y, sw, w, b, n_threads=1)[3]
    two = nbh.binary_hessian_sums(X, y, sw, w, b, n_threads=2)[3]
    assert_hessian_close(two, one, hessian_scale(X, sw, True))


@pytest.mark.parametrize("n_chunks", [1, 2, 3, 7, 40])
@pytest.mark.parametrize("block_rows", [1, 5, 256])
def test_chunks_and_blocks(n_chunks, block_rows):
    # more chunks than threads (and than rows: 40 > 37) and tiny blocks give the
    # same Hessian within rounding
    rng = np.random.default_rng(5)
    X = make_csr(rng, 37, 8)
    y, sw, w, b = binary_problem(rng, X, True)
    got = nbh.binary_hessian_sums(X, y, sw, w, b, n_chunks=n_chunks,
                                  block_rows=block_rows)[3]
    exp = ref.binary_hessian_sums(X, y, sw, w, b)[3]
    assert_hessian_close(got, exp, hessian_scale(X, sw, True))
    yk, _, W, B = multinomial_problem(rng, X, True, 4)
    got = nbh.multinomial_hessian_sums(X, yk, sw, W, B, False, n_chunks=n_chunks,
                                       block_rows=block_rows)[3]
    exp = ref.multinomial_hessian_sums(X, yk, sw, W, B, False)[3]
    assert_hessian_close(got, exp, hessian_scale(X, sw, False, 4))


def test_memory_budget_and_small_work_use_fewer_chunks(monkeypatch):
    # a partial of 10,000 x 10,000 float64 is 800 MB: over the budget, one chunk
    assert nbh._n_chunks(10**6, 10**12, 10**8, 8) == 1
    # 100 MB partials: 5 extra fit in 512 MiB
    assert nbh._n_chunks(10**6, 10**12, 125 * 10**5, 16) == 6
    # little work per partial element: one chunk; enough rows and work: all threads
    assert nbh._n_chunks(10**6, 10**4, 10**4, 8) == 1
    assert nbh._n_chunks(10**6, 10**9, 10**4, 8) == 8
    assert nbh._n_chunks(3, 10**9, 10**4, 8) == 3
    monkeypatch.setattr(nbh, "PARTIALS_MAX_BYTES", 0)
    rng = np.random.default_rng(6)
    X = make_csr(rng, 500, 6, density=0.6)
    y, sw, w, b = binary_problem(rng, X, False)
    assert nbh._n_chunks(500, 10**9, 49, 2) == 1
    one = nbh.binary_hessian_sums(X, y, sw, w, b, n_threads=2)[3]
    assert np.array_equal(one, nbh.binary_hessian_sums(X, y, sw, w, b, n_threads=1,
                                                       n_chunks=1)[3])


def test_pair_bounds_balance_the_quadratic_work():
    # one row of 100 entries outweighs 99 rows of 3: it gets a chunk of its own
    counts = np.array([3] * 50 + [100] + [3] * 49)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    assert list(nbh._pair_bounds(indptr, 1, 4, 3)) == [0, 50, 51, 100]
    work, most = nbh._pair_work(indptr, 1)
    assert most == 100 and work == 99 * 10 + 101 * 51
    # no rows, or fewer rows than chunks
    assert list(nbh._pair_bounds(np.zeros(1, np.int64), 0, 4, 2)) == [0, 0, 0]
    assert list(nbh._pair_bounds(np.array([0, 2]), 0, 4, 3)) == [0, 0, 1, 1]
    bounds = nbh._pair_bounds(np.arange(0, 3001, 3), 1, 4, 4)  # equal rows
    assert list(bounds) == [0, 250, 500, 750, 1000]


def test_edge_shapes():
    # one feature, one row, all rows empty, the intercept alone
    rng = np.random.default_rng(7)
    for X in (make_csr(rng, 30, 1, density=0.8), sp.csr_matrix(np.array([[0.0, 2.0]])),
              sp.csr_matrix((5, 4))):
        X.indices = X.indices.astype(np.int32)
        X.indptr = X.indptr.astype(np.int32)
        for fi in (True, False):
            y, sw, w, b = binary_problem(rng, X, True)
            got = nbh.binary_hessian_sums(X, y, sw, w, b, fi)
            exp = ref.binary_hessian_sums(X, y, sw, w, b, fi)
            assert_hessian_close(got[3], exp[3], hessian_scale(X, sw, fi))
            yk, _, W, B = multinomial_problem(rng, X, True)
            got = nbh.multinomial_hessian_sums(X, yk, sw, W, B, fi)
            exp = ref.multinomial_hessian_sums(X, yk, sw, W, B, fi)
            assert_hessian_close(got[3], exp[3], hessian_scale(X, sw, fi, 3))


def test_dispatch_from_the_numba_backend():
    from fastlr.backends import numba as nb

    rng = np.random.default_rng(8)
    X = make_csr(rng, 50, 5)
    y, sw, w, b = binary_problem(rng, X, True)
    got = nb.binary_hessian_sums(X, y, sw, w, b, False, n_threads=1)
    direct = nbh.binary_hessian_sums(X, y, sw, w, b, False, n_threads=1)
    assert np.array_equal(got[3], direct[3]) and got[3].shape == (5, 5)


# ---------------------------------------------------------------------------------
# Dask
# ---------------------------------------------------------------------------------

da = pytest.importorskip("dask.array")
from fastlr.backends import dask_backend  # noqa: E402

N_DASK, P_DASK, CHUNKS = 900, 6, (200, 300, 100, 250, 50)


def dask_problem(seed, n_classes, weights, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((N_DASK, P_DASK)).astype(dtype)
    X[np.abs(X) < 0.8] = 0  # sparse enough for CSR chunks
    X[17] = 0
    if n_classes == 2:
        y = (rng.random(N_DASK) < 0.4).astype(dtype)
        coef = (rng.standard_normal(P_DASK), 0.2)
    else:
        y = rng.integers(0, n_classes, N_DASK)
        coef = (rng.standard_normal((n_classes, P_DASK)), rng.standard_normal(n_classes))
    sw = rng.uniform(0.2, 2.0, N_DASK).astype(dtype) if weights else None
    return X, y, sw, coef


def dask_inputs(X, y, sw, csr, client=None, wait=True):
    Xd = da.from_array(X, chunks=(CHUNKS, -1))
    if csr:
        Xd = Xd.map_blocks(sp.csr_matrix, dtype=X.dtype,
                           meta=sp.csr_matrix((0, 0), dtype=X.dtype))
    yd = da.from_array(y, chunks=(CHUNKS,))
    swd = None if sw is None else da.from_array(sw, chunks=(CHUNKS,))
    arrays = dask_backend.persist(client, Xd, yd, swd)
    if client is not None and wait:
        from distributed import wait as wait_for

        with client.as_current():  # until every chunk is held by a worker
            wait_for([a for a in arrays if a is not None])
    return arrays


def check_dask(sums, X, y, sw, coef, fit_intercept, csr, wait=True):
    Xc, yc, sc = sums.prepare(*dask_inputs(X, y, sw, csr, sums.client, wait))
    # the float64 reference: float32 input keeps the reference's gradient in float32
    Xr = X.astype(np.float64)
    Xr = sp.csr_matrix(Xr) if csr else Xr
    sw = None if sw is None else sw.astype(np.float64)
    if np.ndim(coef[0]) == 1:
        got = sums.binary_hessian_sums(Xc, yc, sc, *coef, fit_intercept)
        exp = ref.binary_hessian_sums(Xr, y.astype(np.float64), sw, *coef,
                                      fit_intercept)
        S = hessian_scale(sp.csr_matrix(X), sw, fit_intercept)
        assert isinstance(got[0], float) and isinstance(got[2], float)
    else:
        got = sums.multinomial_hessian_sums(Xc, yc, sc, *coef, fit_intercept)
        exp = ref.multinomial_hessian_sums(Xr, y, sw, *coef, fit_intercept)
        S = hessian_scale(sp.csr_matrix(X), sw, fit_intercept, coef[0].shape[0])
    assert_sums_close(got[:3], exp[:3])
    assert_hessian_close(got[3], exp[3], S)
    return got


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("kernel,csr", [("numba", True), ("numpy", True),
                                        ("numpy", False)])
def test_dask_local_scheduler(kernel, csr, n_classes, fit_intercept):
    assert dask_backend.client() is None
    X, y, sw, coef = dask_problem(10 + n_classes, n_classes, weights=fit_intercept)
    sums = dask_backend.DaskSums(kernel, client=None, n_jobs=1, split_every=2)
    got = check_dask(sums, X, y, sw, coef, fit_intercept, csr)
    # the gradient path is untouched: the same loss and gradient as binary_sums
    Xc, yc, sc = sums.prepare(*dask_inputs(X, y, sw, csr))
    if n_classes == 2:
        plain = sums.binary_sums(Xc, yc, sc, *coef)
    else:
        plain = sums.multinomial_sums(Xc, yc, sc, *coef)
    assert_sums_close(got[:3], plain)


def test_dask_float32_csr_and_separate_coefficients(monkeypatch):
    monkeypatch.setattr(dask_backend, "INLINE_COEF_BYTES", 0)
    X, y, sw, coef = dask_problem(20, 4, True, np.float32)
    sums = dask_backend.DaskSums("numba", client=None, n_jobs=2)
    check_dask(sums, X, y, sw, coef, True, csr=True)


def test_dask_distributed_client(monkeypatch):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster, set_as_default=False) as client:
        sums = dask_backend.DaskSums("numba", client=client, n_jobs=None)
        X, y, sw, coef = dask_problem(30, 3, True)
        stacked = check_dask(sums, X, y, sw, coef, True, csr=True)
        # chunks persisted but maybe not yet held by any worker: tasks go anywhere
        X2, y2, sw2, coef2 = dask_problem(31, 2, False)
        check_dask(sums, X2, y2, sw2, coef2, False, csr=True, wait=False)
        # past STACKED_PARTIALS_BYTES each worker adds its own chunks first
        monkeypatch.setattr(dask_backend, "STACKED_PARTIALS_BYTES", 0)
        per_worker = check_dask(sums, X, y, sw, coef, True, csr=True)
        assert_hessian_close(per_worker[3], stacked[3],
                             hessian_scale(sp.csr_matrix(X), sw, True, 3))
