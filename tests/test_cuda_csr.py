"""CSR input on the CUDA backend, against the NumPy reference on the densified data.

Like ``test_cuda_backend.py`` this runs in Numba's CUDA simulator without a GPU::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/test_cuda_csr.py

The matrices are tiny and awkward on purpose: empty rows (first, middle, last),
explicit zeros, duplicate entries in a row (they add up), indices in random order,
int32 and int64 indices; the launches are a few blocks of 8 or 16 threads so that
the grid-stride loop runs several passes per block, with one, two or four lanes per
row.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from fastlr.backends import cuda as cuda_backend
from fastlr.backends import numpy_backend as reference
from fastlr.backends.cuda import driver

if not cuda_backend.is_available():
    pytest.skip(
        "no usable CUDA GPU; set NUMBA_ENABLE_CUDASIM=1 (before Numba is imported) "
        "to run these tests in the simulator",
        allow_module_level=True,
    )

pytestmark = pytest.mark.cudasim

N_SAMPLES = 23
N_FEATURES = 17
N_CLASSES = 3

LAUNCHES = {
    "t16-lanes4": dict(threads_per_block=16, n_blocks=2, lanes_per_row=4),
    "t8-lanes1": dict(threads_per_block=8, n_blocks=3, lanes_per_row=1),
    "default": {},
}


@pytest.fixture(autouse=True, scope="module")
def _quick_thread_switching():
    """The simulator meets at every barrier; a short switch interval speeds that up."""
    import sys

    if not driver._in_simulator():
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _csr(dtype, index_dtype, n_samples=N_SAMPLES, n_features=N_FEATURES, seed=0,
         container=sp.csr_matrix):
    """A CSR matrix with unsorted indices, duplicates, explicit zeros, empty rows."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 7, size=n_samples)
    counts[[0, n_samples // 2, n_samples - 1]] = 0  # empty rows
    indptr = np.r_[0, np.cumsum(counts)]
    nnz = int(indptr[-1])
    indices = rng.integers(0, n_features, size=nnz)  # with repeats, in random order
    data = rng.normal(size=nnz)
    data[rng.random(nnz) < 0.15] = 0.0  # explicit zeros
    X = container((data.astype(dtype), indices, indptr), shape=(n_samples, n_features))
    # scipy may narrow the index arrays on construction; set the dtype asked for.
    X.indices = X.indices.astype(index_dtype)
    X.indptr = X.indptr.astype(index_dtype)
    assert X.nnz == nnz and not X.has_canonical_format
    return X


def _targets(n_samples, seed=1):
    rng = np.random.default_rng(seed)
    y01 = (rng.random(n_samples) < 0.4).astype(np.float64)
    y = rng.integers(0, N_CLASSES, size=n_samples)
    sample_weight = rng.uniform(0.1, 3.0, size=n_samples)
    w = rng.normal(scale=0.5, size=N_FEATURES)
    W = rng.normal(scale=0.5, size=(N_CLASSES, N_FEATURES))
    B = rng.normal(size=N_CLASSES)
    return y01, y, sample_weight, w, 0.3, W, B


def _assert_close(actual, expected, X):
    # The reference multiplies in X's dtype; the kernels in float64.
    tol = 1e-10 if X.dtype == np.float64 else 2e-5
    scale = max(1.0, float(np.abs(X.data).sum()))
    np.testing.assert_allclose(actual, expected, rtol=tol, atol=tol * scale)


def _check_binary(X, y, s, w, b, **launch):
    J, dw, db = cuda_backend.binary_sums(X, y, s, w, b, **launch)
    J_ref, dw_ref, db_ref = reference.binary_sums(X.toarray(), y.astype(X.dtype),
                                                  None if s is None else s.astype(X.dtype),
                                                  w, b)
    assert isinstance(J, float) and isinstance(db, float)
    assert dw.dtype == np.float64 and dw.shape == (X.shape[1],)
    _assert_close(J, J_ref, X)
    _assert_close(dw, dw_ref, X)
    _assert_close(db, db_ref, X)


def _check_multinomial(X, y, s, W, B, **launch):
    J, dW, dB = cuda_backend.multinomial_sums(X, y, s, W, B, **launch)
    J_ref, dW_ref, dB_ref = reference.multinomial_sums(
        X.toarray(), y, None if s is None else s.astype(X.dtype), W, B
    )
    assert isinstance(J, float)
    assert dW.shape == W.shape and dB.shape == (W.shape[0],)
    _assert_close(J, J_ref, X)
    _assert_close(dW, dW_ref, X)
    _assert_close(dB, dB_ref, X)


@pytest.mark.parametrize("launch", LAUNCHES.values(), ids=LAUNCHES.keys())
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_sums_match_dense_reference(dtype, index_dtype, launch):
    X = _csr(dtype, index_dtype)
    y01, _, s, w, b, _, _ = _targets(X.shape[0])
    _check_binary(X, y01, s, w, b, **launch)


@pytest.mark.parametrize("launch", LAUNCHES.values(), ids=LAUNCHES.keys())
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multinomial_sums_match_dense_reference(dtype, index_dtype, launch):
    X = _csr(dtype, index_dtype)
    _, y, s, _, _, W, B = _targets(X.shape[0])
    _check_multinomial(X, y, s, W, B, **launch)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unweighted_sums_and_csr_array(dtype):
    X = _csr(dtype, np.int32, container=sp.csr_array, seed=4)
    y01, y, _, w, b, W, B = _targets(X.shape[0])
    launch = LAUNCHES["t16-lanes4"]
    _check_binary(X, y01, None, w, b, **launch)
    _check_multinomial(X, y, None, W, B, **launch)


@pytest.mark.parametrize("launch", [LAUNCHES["t16-lanes4"], {}], ids=["t16-lanes4", "default"])
@pytest.mark.parametrize("n_classes", [1, N_CLASSES])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_predict_matches_dense_reference(dtype, index_dtype, n_classes, launch):
    X = _csr(dtype, index_dtype, seed=2)
    _, _, _, _, _, W, B = _targets(X.shape[0])
    W, B = W[:n_classes], B[:n_classes]
    Z = cuda_backend.linear_predict(X, W, B, **launch)
    Z_ref = reference.linear_predict(X.toarray(), W, B)
    assert isinstance(Z, np.ndarray)
    assert Z.dtype == X.dtype and Z.shape == (X.shape[0], n_classes)
    _assert_close(Z, Z_ref, X)


def test_prepare_uploads_csr_once_and_gives_the_same_sums():
    X = _csr(np.float64, np.int64, seed=3)
    y01, y, s, w, b, W, B = _targets(X.shape[0])
    X_d, y_d, s_d = cuda_backend.prepare(X, y01, s)
    assert isinstance(X_d, cuda_backend.DeviceCSR)
    assert cuda_backend.is_device_array(X_d) and not cuda_backend.is_device_array(X)
    assert X_d.shape == X.shape and X_d.nnz == X.nnz and X_d.dtype == X.dtype
    assert np.dtype(X_d.indices.dtype) == np.int64
    # A DeviceCSR is passed through, not copied again.
    assert cuda_backend.prepare(X_d, y_d, None)[0] is X_d
    launch = LAUNCHES["t16-lanes4"]
    host = cuda_backend.binary_sums(X, y01, s, w, b, **launch)
    device = cuda_backend.binary_sums(X_d, y_d, s_d, w, b, **launch)
    for a, e in zip(device, host):  # atomics add in any order: equal to rounding
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
    _, yk_d, _ = cuda_backend.prepare(X_d, y, None)
    host = cuda_backend.multinomial_sums(X, y, None, W, B, **launch)
    device = cuda_backend.multinomial_sums(X_d, yk_d, None, W, B, **launch)
    for a, e in zip(device, host):  # atomics add in any order: equal to rounding
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
    Z_d = cuda_backend.linear_predict(X_d, W, B, **launch)
    assert cuda_backend.is_device_array(Z_d)
    np.testing.assert_array_equal(Z_d.copy_to_host(),
                                  cuda_backend.linear_predict(X, W, B, **launch))


def test_extra_storage_past_the_last_row_is_ignored():
    """data and indices may be longer than indptr[-1]; only indptr[-1] values count."""
    X = _csr(np.float64, np.int32, seed=5)
    y01, _, s, w, b, _, _ = _targets(X.shape[0])
    padded = sp.csr_matrix(X.shape)
    padded.data = np.r_[X.data, 1e6, -1e6]
    padded.indices = np.r_[X.indices, 0, 1].astype(np.int32)
    padded.indptr = X.indptr.copy()
    launch = LAUNCHES["t16-lanes4"]
    expected = cuda_backend.binary_sums(X, y01, s, w, b, **launch)
    got = cuda_backend.binary_sums(padded, y01, s, w, b, **launch)
    for a, e in zip(got, expected):  # atomics add in any order: equal to rounding
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


def test_no_rows_and_no_stored_values():
    launch = LAUNCHES["t8-lanes1"]
    X = sp.csr_matrix((0, 4))
    J, dw, db = cuda_backend.binary_sums(X, np.zeros(0), None, np.ones(4), 0.5, **launch)
    assert (J, db) == (0.0, 0.0) and np.array_equal(dw, np.zeros(4))
    assert cuda_backend.linear_predict(X, np.ones((2, 4)), np.ones(2)).shape == (0, 2)
    # Rows without stored values: z = b for every row.
    X = sp.csr_matrix((5, 4))
    y01 = np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    _check_binary(X, y01, None, np.ones(4), 0.5, **launch)
    _check_multinomial(X, np.array([0, 1, 2, 1, 0]), None, np.ones((3, 4)),
                       np.array([0.1, -0.2, 0.3]), **launch)


def test_bad_csr_dtypes_and_structure_are_refused():
    X = _csr(np.float64, np.int32)
    bad = X.copy()
    bad.data = bad.data.astype(np.int64)
    with pytest.raises(TypeError, match="float32 or float64"):
        cuda_backend.prepare(bad, np.zeros(X.shape[0]))
    bad = X.copy()
    bad.indptr = bad.indptr[:-1]
    with pytest.raises(ValueError, match="indptr"):
        cuda_backend.prepare(bad, np.zeros(X.shape[0]))
    with pytest.raises(ValueError, match="lanes_per_row"):
        cuda_backend.binary_sums(X, np.zeros(X.shape[0]), None, np.zeros(N_FEATURES), 0.0,
                                 lanes_per_row=64)


def _sparse_supported():
    from fastlr import LogisticRegression

    tags = LogisticRegression().__sklearn_tags__()
    return bool(tags.input_tags.sparse)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_estimator_on_cuda_fits_csr_like_dense(n_classes):
    from sklearn.exceptions import ConvergenceWarning

    from fastlr import LogisticRegression

    if not _sparse_supported():
        pytest.skip("fastlr.LogisticRegression does not accept sparse input yet "
                    "(input_tags.sparse is False)")
    X = _csr(np.float64, np.int32, n_samples=40, seed=6)
    rng = np.random.default_rng(7)
    y = rng.integers(0, n_classes, size=X.shape[0])
    sw = rng.uniform(0.5, 2.0, size=X.shape[0])
    kw = dict(C=0.5, tol=1e-8, max_iter=30, backend="cuda")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sparse = LogisticRegression(**kw).fit(X, y, sample_weight=sw)
        dense = LogisticRegression(**kw).fit(X.toarray(), y, sample_weight=sw)
    assert sparse.backend_ == "cuda"
    np.testing.assert_allclose(sparse.coef_, dense.coef_, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(sparse.intercept_, dense.intercept_, rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(sparse.predict_proba(X), dense.predict_proba(X.toarray()),
                               rtol=1e-7, atol=1e-7)
