"""CSR input: the Numba CSR kernels against the NumPy reference (CSR and dense), and
the structural checks that guard them.

Tolerances. The kernels and the float64 references accumulate in float64; for float32
values the products ``data * w`` are float64 products of the same numbers in both, so
the two differ only by float64 rounding in a different order. For a sum of N terms
that difference is at most about ``N * 2**-53`` times the sum of the terms' absolute
values, whatever the machine (AVX2 or AVX-512, with or without FMA contraction). The
checks below compare against ``RTOL = 1e-10`` times that absolute-value scale (see
``_binary_scale``), a margin of more than 1000 over the bound for these sizes; the
kernels' polynomial exp/log1p add less than 1e-15 per row. Against the float32
NumPy reference, whose products and sums run in float32 (unit roundoff 6e-8, at most
a few hundred terms here), the bound is ``F32_RTOL = 1e-4`` of the same scale.
"""

import types

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from fastlr._sparse_checks import check_csr_structure
from fastlr.backends import numpy_backend as ref

nbs = pytest.importorskip("fastlr.backends.numba")
from fastlr.backends.numba import sparse as nb_sparse  # noqa: E402

RTOL = 1e-10
F32_RTOL = 1e-4


def make_csr(rng, n, p, dtype=np.float64, index_dtype=np.int32, kind="matrix",
             density=0.3, empty_ends=False):
    """A CSR matrix exercising the awkward cases: unsorted indices within rows, empty
    rows, duplicate entries, explicit zeros; indices and indptr of ``index_dtype``."""
    counts = rng.binomial(max(p, 1), density, size=n)
    counts[rng.random(n) < 0.15] = 0  # some empty rows
    if empty_ends and n:
        counts[0] = counts[-1] = 0
    indptr = np.concatenate([[0], np.cumsum(counts)])
    nnz = int(indptr[-1])
    indices = rng.integers(0, p, nnz)  # unsorted, with repeats (duplicates)
    data = rng.standard_normal(nnz) * 1.5
    data[rng.random(nnz) < 0.1] = 0.0  # explicit zeros
    data = data.astype(dtype)
    cls = sp.csr_matrix if kind == "matrix" else sp.csr_array
    X = cls((data, indices.astype(np.int64), indptr.astype(np.int64)), shape=(n, p))
    X.indices = indices.astype(index_dtype)  # scipy may have changed the dtype
    X.indptr = indptr.astype(index_dtype)
    assert X.indices.dtype == index_dtype and X.indptr.dtype == index_dtype
    return X


def _f64(X):
    """The same stored values in float64 (duplicates kept, not summed)."""
    return X.astype(np.float64)


def _binary_scale(X, w, b, sw):
    """Absolute-value scales of (J, dw, db): the sums of |terms| behind each output."""
    A = abs(_f64(X))
    s = np.ones(X.shape[0]) if sw is None else np.asarray(sw, np.float64)
    zabs = np.asarray(A @ np.abs(w)).ravel() + abs(b)
    row = s * (1.0 + zabs)
    return float(np.sum(row) + 1.0), np.asarray(A.T @ row).ravel() + 1.0, float(np.sum(row) + 1.0)


def _multinomial_scale(X, W, B, sw):
    A = abs(_f64(X))
    s = np.ones(X.shape[0]) if sw is None else np.asarray(sw, np.float64)
    zabs = np.max(np.asarray(A @ np.abs(W).T) + np.abs(B), axis=1) if X.shape[0] else 0.0
    row = s * (1.0 + 2.0 * zabs)
    return float(np.sum(row) + 1.0), np.asarray(A.T @ row).ravel()[None, :] + 1.0, \
        float(np.sum(row) + 1.0)


def assert_sums_close(got, expected, scale, rtol):
    for g, e, sc in zip(got, expected, scale):
        g, e = np.asarray(g, np.float64), np.asarray(e, np.float64)
        assert g.shape == e.shape
        err = np.abs(g - e)
        assert np.all(err <= rtol * sc), f"max excess {np.max(err / (rtol * sc))}"


def _binary_problem(rng, X, dtype, weights):
    n, p = X.shape
    y = (rng.random(n) < 0.4).astype(dtype)
    sw = (rng.random(n) * 3).astype(dtype) if weights else None  # float32-exact values
    w = rng.standard_normal(p)
    return y, sw, w, 0.7


# ---------------------------------------------------------------------------------
# Binary and multinomial sums
# ---------------------------------------------------------------------------------

CASES = [  # (n, p, empty_ends)
    (1, 1, False), (1, 9, False), (40, 1, True), (257, 13, True), (600, 40, False),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n,p,empty_ends", CASES)
@pytest.mark.parametrize("weights", [False, True])
def test_binary_csr_matches_references(rng, dtype, index_dtype, n, p, empty_ends, weights):
    X = make_csr(rng, n, p, dtype, index_dtype, empty_ends=empty_ends,
                 kind="array" if n % 2 else "matrix")
    y, sw, w, b = _binary_problem(rng, X, dtype, weights)
    sw64 = None if sw is None else sw.astype(np.float64)
    scale = _binary_scale(X, w, b, sw)
    exp_csr = ref.binary_sums(_f64(X), y.astype(np.float64), sw64, w, b)
    exp_dense = ref.binary_sums(_f64(X).toarray(), y.astype(np.float64), sw64, w, b)
    for n_threads in (1, 2):
        got = nbs.binary_sums(X, y, sw, w, b, n_threads=n_threads)
        assert isinstance(got[1], np.ndarray) and got[1].dtype == np.float64
        assert_sums_close(got, exp_csr, scale, RTOL)
        assert_sums_close(got, exp_dense, scale, RTOL)
    if dtype == np.float32:  # the reference in X's own dtype, float32 products
        assert_sums_close(got, ref.binary_sums(X, y, sw, w, b), scale, F32_RTOL)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n,p,k", [(1, 1, 3), (1, 6, 2), (50, 1, 4), (400, 23, 5)])
@pytest.mark.parametrize("weights", [False, True])
def test_multinomial_csr_matches_references(rng, dtype, index_dtype, n, p, k, weights):
    X = make_csr(rng, n, p, dtype, index_dtype, empty_ends=n > 1,
                 kind="array" if k % 2 else "matrix")
    yk = rng.integers(0, k, n)
    sw = (rng.random(n) * 3).astype(dtype) if weights else None
    sw64 = None if sw is None else sw.astype(np.float64)
    W, B = rng.standard_normal((k, p)), rng.standard_normal(k)
    scale = _multinomial_scale(X, W, B, sw)
    exp_csr = ref.multinomial_sums(_f64(X), yk, sw64, W, B)
    exp_dense = ref.multinomial_sums(_f64(X).toarray(), yk, sw64, W, B)
    for n_threads in (1, 2):
        got = nbs.multinomial_sums(X, yk, sw, W, B, n_threads=n_threads)
        assert got[1].shape == (k, p) and got[2].shape == (k,)
        assert_sums_close(got, exp_csr, scale, RTOL)
        assert_sums_close(got, exp_dense, scale, RTOL)
    if dtype == np.float32:
        assert_sums_close(got, ref.multinomial_sums(X, yk, sw, W, B), scale, F32_RTOL)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("kind", ["matrix", "array"])
def test_linear_predict_csr(rng, dtype, index_dtype, kind):
    X = make_csr(rng, 301, 17, dtype, index_dtype, kind=kind, empty_ends=True)
    W, B = rng.standard_normal((3, 17)), rng.standard_normal(3)
    for n_threads in (1, 2):
        Z = nbs.linear_predict(X, W, B, n_threads=n_threads)
        assert type(Z) is np.ndarray and Z.dtype == dtype and Z.shape == (301, 3)
        Z0 = ref.linear_predict(_f64(X), W, B)
        scale = np.asarray(abs(_f64(X)) @ np.abs(W).T) + np.abs(B) + 1.0
        # float64 accumulation, then one rounding to X's dtype
        tol = RTOL if dtype == np.float64 else 2.0 ** -24 + RTOL
        assert np.all(np.abs(Z - Z0) <= tol * scale)
        np.testing.assert_array_equal(Z[0], B.astype(dtype))  # the empty first row
    z1 = nbs.linear_predict(X, W[0], B[0])  # one class, 1-d coefficients
    assert z1.shape == (301, 1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_numpy_reference_accepts_csr(rng, dtype):
    """The reference on CSR equals the reference on the dense array, dense outputs."""
    X = make_csr(rng, 120, 9, dtype, kind="array")
    y, sw, w, b = _binary_problem(rng, X, dtype, True)
    D = X.toarray()
    tol = dict(rtol=1e-12, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-4, atol=1e-4)
    for got, exp in zip(ref.binary_sums(X, y, sw, w, b), ref.binary_sums(D, y, sw, w, b)):
        assert type(got) in (float, np.ndarray)
        np.testing.assert_allclose(got, exp, **tol)
    yk = rng.integers(0, 3, 120)
    W, B = rng.standard_normal((3, 9)), rng.standard_normal(3)
    for got, exp in zip(ref.multinomial_sums(X, yk, sw, W, B),
                        ref.multinomial_sums(D, yk, sw, W, B)):
        np.testing.assert_allclose(got, exp, **tol)
    Z = ref.linear_predict(X, W, B)
    assert type(Z) is np.ndarray and Z.shape == (120, 3)
    np.testing.assert_allclose(Z, ref.linear_predict(D, W, B), **tol)


def test_test_matrices_have_the_awkward_cases(rng):
    """make_csr really produces what the tests above claim to cover."""
    X = make_csr(rng, 600, 40, empty_ends=True)
    counts = np.diff(X.indptr)
    assert counts[0] == 0 and counts[-1] == 0 and np.sum(counts == 0) > 2
    rows = [X.indices[X.indptr[i]:X.indptr[i + 1]] for i in range(600)]
    assert any(np.any(np.diff(r) < 0) for r in rows)  # unsorted
    assert any(len(np.unique(r)) < len(r) for r in rows)  # duplicates
    assert np.any(X.data == 0)  # explicit zeros


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 40), p=st.integers(1, 12), k=st.integers(2, 4),
       density=st.floats(0.0, 1.0), seed=st.integers(0, 2**32 - 1),
       n_threads=st.sampled_from([1, 2]), dtype=st.sampled_from([np.float32, np.float64]))
def test_any_shape_matches_dense_reference(n, p, k, density, seed, n_threads, dtype):
    rng = np.random.default_rng(seed)
    X = make_csr(rng, n, p, dtype, density=density)
    y, sw, w, b = _binary_problem(rng, X, dtype, True)
    sw64 = sw.astype(np.float64)
    D = _f64(X).toarray()
    got = nbs.binary_sums(X, y, sw, w, b, n_threads=n_threads)
    exp = ref.binary_sums(D, y.astype(np.float64), sw64, w, b)
    assert_sums_close(got, exp, _binary_scale(X, w, b, sw), RTOL)
    yk = rng.integers(0, k, n)
    W, B = rng.standard_normal((k, p)), rng.standard_normal(k)
    got = nbs.multinomial_sums(X, yk, sw, W, B, n_threads=n_threads)
    exp = ref.multinomial_sums(D, yk, sw64, W, B)
    assert_sums_close(got, exp, _multinomial_scale(X, W, B, sw), RTOL)


def test_duplicates_and_explicit_zeros_are_what_scipy_means(rng):
    """Duplicates add and explicit zeros count for nothing: the same sums as the
    canonical matrix (sorted, summed, zeros dropped)."""
    X = make_csr(rng, 200, 7)
    C = X.copy()
    C.sum_duplicates()
    C.eliminate_zeros()
    assert C.nnz < X.nnz
    y, sw, w, b = _binary_problem(rng, X, np.float64, True)
    got, exp = nbs.binary_sums(X, y, sw, w, b), nbs.binary_sums(C, y, sw, w, b)
    assert_sums_close(got, exp, _binary_scale(X, w, b, sw), RTOL)


def test_weight_two_equals_duplicated_rows(rng):
    X = make_csr(rng, 150, 11)
    y, _, w, b = _binary_problem(rng, X, np.float64, False)
    sw = np.ones(150)
    sw[::3] = 2.0
    rows = np.concatenate([np.arange(150), np.arange(0, 150, 3)])
    got = nbs.binary_sums(X, y, sw, w, b)
    exp = nbs.binary_sums(X[rows], y[rows], None, w, b)
    assert_sums_close(got, exp, _binary_scale(X, w, b, sw), RTOL)


# ---------------------------------------------------------------------------------
# Chunking, determinism, wide X
# ---------------------------------------------------------------------------------


@pytest.mark.parametrize("n_chunks", [1, 2, 3, 7])
@pytest.mark.parametrize("block_rows", [1, 5, 64])
def test_chunks_and_blocks(rng, n_chunks, block_rows):
    """Any number of chunks (more than threads, empty ones) and ragged blocks."""
    X = make_csr(rng, 37, 8, empty_ends=True)
    y, sw, w, b = _binary_problem(rng, X, np.float64, True)
    exp = ref.binary_sums(X, y, sw, w, b)
    scale = _binary_scale(X, w, b, sw)
    got = nb_sparse.binary_sums(X, y, sw, w, b, n_threads=2, block_rows=block_rows,
                                n_chunks=n_chunks)
    assert_sums_close(got, exp, scale, RTOL)
    yk = rng.integers(0, 3, 37)
    W, B = rng.standard_normal((3, 8)), rng.standard_normal(3)
    got = nb_sparse.multinomial_sums(X, yk, sw, W, B, n_threads=2, block_rows=block_rows,
                                     n_chunks=n_chunks)
    assert_sums_close(got, ref.multinomial_sums(X, yk, sw, W, B),
                      _multinomial_scale(X, W, B, sw), RTOL)


def test_parallel_and_serial_addition_of_partials_agree_bitwise(rng, monkeypatch):
    X = make_csr(rng, 90, 23)
    y, sw, w, b = _binary_problem(rng, X, np.float64, True)
    yk = rng.integers(0, 3, 90)
    W, B = rng.standard_normal((3, 23)), rng.standard_normal(3)

    def run():
        return (nb_sparse.binary_sums(X, y, sw, w, b, n_threads=2, n_chunks=3),
                nb_sparse.multinomial_sums(X, yk, sw, W, B, n_threads=2, n_chunks=3))

    serial = run()
    monkeypatch.setattr(nb_sparse, "SERIAL_ADD_MAX_ELEMENTS", 0)
    monkeypatch.setattr(nb_sparse, "REDUCE_BLOCK", 5)  # several blocks, a ragged last one
    parallel = run()
    for one, other in zip(serial, parallel):
        for u, v in zip(one, other):
            assert np.array_equal(u, v)


def test_chunk_bounds_balance_nonzeros():
    indptr = np.array([0, 100, 100, 101, 102, 103, 104, 200], dtype=np.int32)
    b = nb_sparse._chunk_bounds(indptr, 2, row_cost=0)
    assert list(b) == [0, 1, 7]  # 100 stored values on each side
    for n_chunks in (1, 2, 3, 9):
        b = nb_sparse._chunk_bounds(indptr, n_chunks)
        assert b[0] == 0 and b[-1] == 7 and np.all(np.diff(b) >= 0)
    empty = nb_sparse._chunk_bounds(np.zeros(1, dtype=np.int64), 3)
    assert list(empty) == [0, 0, 0, 0]


def test_bitwise_deterministic_for_fixed_threads(rng):
    X = make_csr(rng, 3000, 50, density=0.1)
    y, sw, w, b = _binary_problem(rng, X, np.float64, True)
    yk = rng.integers(0, 4, 3000)
    W, B = rng.standard_normal((4, 50)), rng.standard_normal(4)
    for n_threads in (1, 2):
        first = nbs.binary_sums(X, y, sw, w, b, n_threads=n_threads)
        mfirst = nbs.multinomial_sums(X, yk, sw, W, B, n_threads=n_threads)
        for _ in range(3):
            again = nbs.binary_sums(X, y, sw, w, b, n_threads=n_threads)
            assert again[0] == first[0] and again[2] == first[2]
            assert np.array_equal(again[1], first[1])
            magain = nbs.multinomial_sums(X, yk, sw, W, B, n_threads=n_threads)
            assert magain[0] == mfirst[0]
            assert np.array_equal(magain[1], mfirst[1])
            assert np.array_equal(magain[2], mfirst[2])


def test_wide_x_uses_one_chunk_and_stays_correct(rng):
    """Fewer stored values than features: no per-thread partials (one chunk)."""
    n, p = 30, 5000
    X = make_csr(rng, n, p, density=0.002)
    assert X.nnz < p
    assert nb_sparse._n_chunks(n, X.nnz, p, 2) == 1
    assert nb_sparse._n_chunks(n, 10 * p, p, 2) == 2
    y, sw, w, b = _binary_problem(rng, X, np.float64, True)
    got = nbs.binary_sums(X, y, sw, w, b, n_threads=2)
    assert_sums_close(got, ref.binary_sums(X, y, sw, w, b), _binary_scale(X, w, b, sw), RTOL)


def test_mixed_index_dtypes(rng):
    X = make_csr(rng, 90, 12, index_dtype=np.int32)
    X.indptr = X.indptr.astype(np.int64)  # int32 indices, int64 indptr
    y, sw, w, b = _binary_problem(rng, X, np.float64, False)
    assert_sums_close(nbs.binary_sums(X, y, sw, w, b), ref.binary_sums(X, y, sw, w, b),
                      _binary_scale(X, w, b, sw), RTOL)


def test_other_sparse_formats_are_refused(rng):
    X = make_csr(rng, 10, 4).tocsc()
    with pytest.raises(TypeError, match="CSR"):
        nbs.binary_sums(X, np.zeros(10), None, np.zeros(4), 0.0)


# ---------------------------------------------------------------------------------
# Gradients against finite differences
# ---------------------------------------------------------------------------------


def test_binary_gradient_matches_finite_differences(rng):
    X = make_csr(rng, 60, 5)
    y, sw, w, b = _binary_problem(rng, X, np.float64, True)
    J, dw, db = nbs.binary_sums(X, y, sw, w, b, n_threads=2)
    h = 1e-6
    for j in range(5):
        e = np.zeros(5)
        e[j] = h
        fd = (nbs.binary_sums(X, y, sw, w + e, b)[0] - nbs.binary_sums(X, y, sw, w - e, b)[0])
        assert fd / (2 * h) == pytest.approx(dw[j], rel=1e-6, abs=1e-6)
    fd = nbs.binary_sums(X, y, sw, w, b + h)[0] - nbs.binary_sums(X, y, sw, w, b - h)[0]
    assert fd / (2 * h) == pytest.approx(db, rel=1e-6, abs=1e-6)


def test_multinomial_gradient_matches_finite_differences(rng):
    X = make_csr(rng, 60, 4)
    yk = rng.integers(0, 3, 60)
    W, B = rng.standard_normal((3, 4)), rng.standard_normal(3)
    J, dW, dB = nbs.multinomial_sums(X, yk, None, W, B, n_threads=2)
    h = 1e-6
    for k in range(3):
        for j in range(4):
            E = np.zeros((3, 4))
            E[k, j] = h
            fd = (nbs.multinomial_sums(X, yk, None, W + E, B)[0]
                  - nbs.multinomial_sums(X, yk, None, W - E, B)[0])
            assert fd / (2 * h) == pytest.approx(dW[k, j], rel=1e-6, abs=1e-6)
        e = np.zeros(3)
        e[k] = h
        fd = (nbs.multinomial_sums(X, yk, None, W, B + e)[0]
              - nbs.multinomial_sums(X, yk, None, W, B - e)[0])
        assert fd / (2 * h) == pytest.approx(dB[k], rel=1e-6, abs=1e-6)


# ---------------------------------------------------------------------------------
# check_csr_structure
# ---------------------------------------------------------------------------------


def _parts(**changes):
    """A valid 3 x 4 CSR description, with some of its parts replaced."""
    parts = dict(shape=(3, 4), data=np.array([1.0, 2.0, 3.0, 4.0]),
                 indices=np.array([0, 3, 1, 2], dtype=np.int32),
                 indptr=np.array([0, 2, 2, 4], dtype=np.int32))
    parts.update(changes)
    return types.SimpleNamespace(**parts)


@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_check_csr_structure_accepts_valid(rng, index_dtype):
    check_csr_structure(_parts())
    check_csr_structure(make_csr(rng, 50, 6, index_dtype=index_dtype, kind="array",
                                 empty_ends=True))
    check_csr_structure(sp.csr_matrix((0, 5)))
    check_csr_structure(sp.csr_matrix((4, 0)))
    # spare storage after indptr[-1], as scipy allows: never read, so accepted, and an
    # out-of-range index there is no error
    check_csr_structure(_parts(indptr=np.array([0, 2, 2, 3]),
                               indices=np.array([0, 3, 1, 99], dtype=np.int32)))


@pytest.mark.parametrize("changes,message", [
    (dict(indptr=np.array([0, 2, 4])), "indptr has length 3.*n_samples \\+ 1 = 4"),
    (dict(indptr=np.array([1, 2, 2, 4])), "indptr must start at 0"),
    (dict(indptr=np.array([0, 3, 2, 4])), "non-decreasing: indptr\\[2\\] = 2 < indptr\\[1\\] = 3"),
    (dict(indptr=np.array([0, 2, 2, 5]), data=np.arange(5.0)),
     "indptr\\[-1\\] = 5.*exceeds len\\(indices\\) = 4"),
    (dict(indptr=np.array([0, 2, 2, 5]), indices=np.array([0, 3, 1, 2, 0])),
     "indptr\\[-1\\] = 5 exceeds len\\(data\\) = 4"),
    (dict(indices=np.array([0, 3, 4, 2], dtype=np.int32)), "out of range \\[0, 4\\).*indices\\[2\\] = 4"),
    (dict(indices=np.array([0, -1, 1, 2], dtype=np.int32)), "indices\\[1\\] = -1"),
    (dict(indices=np.array([0, -1, 1, 2], dtype=np.int64)), "indices\\[1\\] = -1"),
    (dict(indices=np.array([0, 3, 1, 2], dtype=np.uint32) + np.uint32(7)), "out of range"),
    (dict(shape=(3, -4)), "negative shape"),
    (dict(shape=(-1, 4)), "negative shape"),
    (dict(indices=np.array([0.0, 3.0, 1.0, 2.0])), "indices must be integers"),
    (dict(indptr=np.array([[0, 2, 2, 4]])), "indptr must be 1-d"),
])
def test_check_csr_structure_names_the_problem(changes, message):
    with pytest.raises(ValueError, match=message):
        check_csr_structure(_parts(**changes))


def test_check_csr_structure_on_scipy_objects(rng):
    X = make_csr(rng, 20, 5, kind="array")
    X.indices = X.indices.copy()
    X.indices[-1] = 5
    with pytest.raises(ValueError, match="out of range"):
        check_csr_structure(X)
