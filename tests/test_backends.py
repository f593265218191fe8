"""Every CPU backend against the NumPy reference, and the kernels' own maths.

CSR input is tested in ``test_sparse_backends.py``.
"""

import subprocess
import sys

import numpy as np
import pytest

from fastlr.backends import available_backends, get_backend, resolve_backend_name
from fastlr.backends import numpy_backend as ref
from fastlr.backends.numba import _elementary as elem
from fastlr.backends.numba import dense as nbb
from fastlr.backends.numba import dense_multinomial as nbm

CPU_BACKENDS = [b for b in ("numba",) if b in available_backends()]
TOL = {np.float64: dict(rtol=1e-10, atol=1e-10), np.float32: dict(rtol=2e-4, atol=2e-4)}


def _data(rng, n, p, dtype, k=2, weights=True):
    X = rng.standard_normal((n, p)).astype(dtype) * 2
    y01 = (rng.random(n) < 0.4).astype(dtype)
    yk = rng.integers(0, k, n)
    sw = rng.random(n).astype(dtype) * 3 if weights else None
    return X, y01, yk, sw


def _scale(r):
    """Reference magnitude for absolute tolerances (float32 sums over many rows)."""
    return max(1.0, float(np.max(np.abs(r))))


@pytest.mark.parametrize("name", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,p", [(1, 1), (1, 7), (9, 1), (257, 3), (1003, 17), (4099, 64)])
@pytest.mark.parametrize("weights", [False, True])
def test_binary_sums_match_reference(rng, name, dtype, n, p, weights):
    X, y, _, sw = _data(rng, n, p, dtype, weights=weights)
    w = rng.standard_normal(p)
    b = 0.7
    J0, dw0, db0 = ref.binary_sums(X.astype(np.float64), y.astype(np.float64),
                                   None if sw is None else sw.astype(np.float64), w, b)
    J1, dw1, db1 = get_backend(name).binary_sums(X, y, sw, w, b)
    tol = TOL[dtype]
    assert J1 == pytest.approx(J0, rel=tol["rtol"], abs=tol["atol"] * _scale(J0))
    np.testing.assert_allclose(dw1, dw0, rtol=tol["rtol"], atol=tol["atol"] * _scale(dw0))
    assert db1 == pytest.approx(db0, rel=tol["rtol"], abs=tol["atol"] * _scale(db0))


@pytest.mark.parametrize("name", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n,p,k", [(1, 1, 3), (13, 1, 4), (300, 5, 3), (1001, 12, 7),
                                   (517, 100, 10), (130, 9, 2)])
@pytest.mark.parametrize("weights", [False, True])
def test_multinomial_sums_match_reference(rng, name, dtype, n, p, k, weights):
    X, _, y, sw = _data(rng, n, p, dtype, k=k, weights=weights)
    W = rng.standard_normal((k, p))
    B = rng.standard_normal(k)
    J0, dW0, dB0 = ref.multinomial_sums(X.astype(np.float64), y,
                                        None if sw is None else sw.astype(np.float64), W, B)
    J1, dW1, dB1 = get_backend(name).multinomial_sums(X, y, sw, W, B)
    tol = TOL[dtype]
    assert J1 == pytest.approx(J0, rel=tol["rtol"], abs=tol["atol"] * _scale(J0))
    np.testing.assert_allclose(dW1, dW0, rtol=tol["rtol"], atol=tol["atol"] * _scale(dW0))
    np.testing.assert_allclose(dB1, dB0, rtol=tol["rtol"], atol=tol["atol"] * _scale(dB0))


@pytest.mark.parametrize("name", CPU_BACKENDS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_linear_predict_matches_reference(rng, name, dtype):
    X = rng.standard_normal((333, 9)).astype(dtype)
    W = rng.standard_normal((3, 9))
    B = rng.standard_normal(3)
    Z = get_backend(name).linear_predict(X, W, B)
    assert Z.dtype == dtype and Z.shape == (333, 3)
    np.testing.assert_allclose(Z, ref.linear_predict(X, W, B), **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("group_size", [1, 4])
def test_numba_predict_classes_of_listed_rows(rng, dtype, group_size):
    """Several models' classes in one pass: linear_predict's scores, then z > 0 (one
    row per model) or the first argmax of each model's rows (ties included)."""
    X = rng.standard_normal((503, 9)).astype(dtype)
    n_models = 5
    W = rng.standard_normal((n_models * group_size, 9))
    B = rng.standard_normal(n_models * group_size)
    if group_size > 1:  # model 1: classes 1 and 3 tie everywhere, class 1 first
        W[group_size + 1] += 5.0 * np.abs(W[group_size + 1]).max()  # they win often
        W[group_size + 3], B[group_size + 3] = W[group_size + 1], B[group_size + 1]
    for rows in (np.arange(503), np.sort(rng.choice(503, 200, replace=False)),
                 np.array([502, 0, 7]), np.zeros(0, dtype=np.intp)):
        got = nbm.predict_classes(X, W, B, group_size, rows)
        Z = nbm.linear_predict(np.ascontiguousarray(X[rows]), W, B).reshape(
            len(rows), n_models, group_size)
        want = (Z[:, :, 0] > 0).astype(np.int64) if group_size == 1 else Z.argmax(axis=2)
        assert got.dtype == np.int64 and got.shape == (len(rows), n_models)
        np.testing.assert_array_equal(got, want)
        if group_size > 1 and len(rows) == 503:
            assert np.any(got[:, 1] == 1) and not np.any(got[:, 1] == 3)


@pytest.mark.parametrize("name", CPU_BACKENDS)
@pytest.mark.parametrize("layout", ["F", "strided_rows", "strided_cols"])
def test_non_contiguous_X(rng, name, layout):
    base = rng.standard_normal((400, 12))
    X = {"F": np.asfortranarray(base), "strided_rows": base[::2],
         "strided_cols": base[:, ::2]}[layout]
    n, p = X.shape
    y = (rng.random(n) < 0.5).astype(np.float64)
    w = rng.standard_normal(p)
    r0 = ref.binary_sums(np.ascontiguousarray(X), y, None, w, -0.2)
    r1 = get_backend(name).binary_sums(X, y, None, w, -0.2)
    assert r1[0] == pytest.approx(r0[0], rel=1e-12)
    np.testing.assert_allclose(r1[1], r0[1], rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("block_rows", [1, 3, 4, 5, 8, 64])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("n", [1, 4, 7, 63, 64, 65, 130])
def test_numba_blocking_and_chunking(rng, block_rows, n_threads, n):
    """Every combination of block size, thread chunks and ragged last blocks."""
    X = rng.standard_normal((n, 6))
    y = (rng.random(n) < 0.5).astype(np.float64)
    sw = rng.random(n)
    w = rng.standard_normal(6)
    r0 = ref.binary_sums(X, y, sw, w, 0.1)
    r1 = nbb.binary_sums(X, y, sw, w, 0.1, n_threads=n_threads, block_rows=block_rows)
    assert r1[0] == pytest.approx(r0[0], rel=1e-12)
    np.testing.assert_allclose(r1[1], r0[1], rtol=1e-10, atol=1e-12)
    assert r1[2] == pytest.approx(r0[2], rel=1e-10, abs=1e-12)
    yk = rng.integers(0, 3, n)
    W, B = rng.standard_normal((3, 6)), rng.standard_normal(3)
    m0 = ref.multinomial_sums(X, yk, sw, W, B)
    m1 = nbm.multinomial_sums(X, yk, sw, W, B, n_threads=n_threads, block_rows=block_rows)
    assert m1[0] == pytest.approx(m0[0], rel=1e-12)
    np.testing.assert_allclose(m1[1], m0[1], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block_rows", [None, 1, 3])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("weights", [False, True])
def test_numba_sub_ranges_side_by_side(rng, dtype, block_rows, n_threads, weights):
    """Long rows are read from four sub-ranges of each chunk side by side (``side``,
    forced here on short rows too): every split of a chunk into four sub-ranges of
    whole blocks and the rows past them sums as the reference does; with listed
    rows ``side`` is not used."""
    for n, p in ((0, 5), (1, 5), (11, 5), (12, 5), (31, 5), (32, 7), (33, 7), (100, 7),
                 (259, 11), (150, 700)):
        X, y, _, sw = _data(rng, n, p, dtype, weights=weights)
        w = rng.standard_normal(p) / np.sqrt(p)
        s64 = None if sw is None else sw.astype(np.float64)
        J0, dw0, db0 = ref.binary_sums(X.astype(np.float64), y.astype(np.float64), s64, w,
                                       0.2)
        J1, dw1, db1 = nbb.binary_sums(X, y, sw, w, 0.2, n_threads=n_threads,
                                       block_rows=block_rows, side=True)
        # float64 sums of float64 products (float32 X converts exactly) in another order
        assert J1 == pytest.approx(J0, rel=1e-10, abs=1e-10)
        np.testing.assert_allclose(dw1, dw0, rtol=1e-10, atol=1e-10 * _scale(dw0))
        assert db1 == pytest.approx(db0, rel=1e-10, abs=1e-10 * _scale(db0))
    rows = np.arange(0, n, 2)
    listed = [nbb.binary_sums(X, y, sw, w, 0.2, n_threads=n_threads, block_rows=block_rows,
                              active_rows=rows, side=side) for side in (True, False)]
    assert listed[0][0] == listed[1][0] and listed[0][2] == listed[1][2]
    np.testing.assert_array_equal(listed[0][1], listed[1][1])


@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("listed", [False, True])
def test_numba_gradient_strips_and_loops_agree(rng, weights, listed):
    """float64 rows from one vector wide to 2.5 KB: the gradient as strips of dw in
    registers (``loops=None``, the default there) and as the Numba loop (``True``)
    give the same sums up to float64 rounding, for any number of rows a block and
    columns past the last whole vector (masked), with listed rows too."""
    lanes = nbb.LANES
    for n, p in ((1, lanes), (5, lanes + 1), (37, 2 * lanes + 3), (200, 100), (90, 300)):
        X, y, _, sw = _data(rng, n, p, np.float64, weights=weights)
        w = rng.standard_normal(p) / np.sqrt(p)
        s, has_sw = (np.empty(1), False) if sw is None else (sw, True)
        rows = np.arange(0, n, 3, dtype=np.intp) if listed else None
        for block_rows in (1, 3, 8, 16):
            out = [nbb._binary_sums_kernel(X, y, s, has_sw, w, 0.2, rows, 2, block_rows, 4,
                                           None, None, loops).sum(axis=0)
                   for loops in (None, True)]
            # two orders of summing the same float64 terms: each within (n - 1) eps
            # of the sum of their magnitudes (|dz| <= the row's weight, losses > 0)
            weight = np.ones(n) if sw is None else sw
            magnitude = np.r_[weight @ np.abs(X), weight.sum(), out[1][-1]]
            bound = 2 * n * np.finfo(np.float64).eps * magnitude
            assert np.all(np.abs(out[0] - out[1]) <= bound)


def _listed(rng, n, kind):
    """Increasing row lists: runs (a fold's training rows), scattered, mixed, empty."""
    if kind == "runs":
        return np.r_[0:n // 3, n // 2:n]
    if kind == "scattered":
        return np.sort(rng.choice(n, (4 * n) // 5, replace=False))
    if kind == "mixed":
        return np.r_[0:n // 2, np.arange(n // 2, n, 3)]
    return np.zeros(0, dtype=np.intp)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["runs", "scattered", "mixed", "empty"])
@pytest.mark.parametrize("block_rows", [4, 5, 64])
@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("weights", [False, True])
def test_numba_active_rows_read_only_those_rows(rng, dtype, kind, block_rows, n_threads,
                                                weights):
    """Sums over listed rows equal the sums over all rows with zero weight elsewhere,
    and rows off the list are never read (NaN there changes nothing)."""
    n, p, k = 701, 9, 4
    X, y, yk, sw = _data(rng, n, p, dtype, k=k, weights=weights)
    rows = _listed(rng, n, kind)
    zero = np.zeros(n, dtype=dtype)
    zero[rows] = 1.0 if sw is None else sw[rows]
    w, W, B = rng.standard_normal(p), rng.standard_normal((k, p)), rng.standard_normal(k)
    J0, dw0, db0 = ref.binary_sums(X.astype(np.float64), y.astype(np.float64),
                                   zero.astype(np.float64), w, 0.3)
    M0 = ref.multinomial_sums(X.astype(np.float64), yk, zero.astype(np.float64), W, B)
    off = np.setdiff1d(np.arange(n), rows)
    X[off] = np.nan  # never read
    opts = dict(n_threads=n_threads, block_rows=block_rows, active_rows=rows)
    J1, dw1, db1 = nbb.binary_sums(X, y, sw, w, 0.3, **opts)
    M1 = nbm.multinomial_sums(X, yk, sw, W, B, **opts)
    tol = TOL[dtype]
    assert J1 == pytest.approx(J0, rel=tol["rtol"], abs=tol["atol"] * _scale(J0))
    np.testing.assert_allclose(dw1, dw0, rtol=tol["rtol"], atol=tol["atol"] * _scale(dw0))
    assert db1 == pytest.approx(db0, rel=tol["rtol"], abs=tol["atol"] * _scale(db0))
    assert M1[0] == pytest.approx(M0[0], rel=tol["rtol"], abs=tol["atol"] * _scale(M0[0]))
    for got, want in zip(M1[1:], M0[1:]):
        np.testing.assert_allclose(got, want, rtol=tol["rtol"],
                                   atol=tol["atol"] * _scale(want))


@pytest.mark.parametrize("name", ["numpy", *CPU_BACKENDS])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("folds", [[0], [1, 3], [0, 1, 2, 3, 4], [4, 2, 0]])
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_binary_fold_sums_are_each_folds_sums(rng, name, dtype, folds, weights,
                                              n_threads):
    """Each requested fold's sums over its training rows (its bit in ``member``), as
    binary_sums with zero weights outside them, at its own coefficients."""
    n, p = 1037, 11
    X, y, _, sw = _data(rng, n, p, dtype, weights=weights)
    member = rng.integers(0, 32, n).astype(np.int64)
    member[:100] = 0  # rows that train no fold
    W = rng.standard_normal((len(folds), p))
    B = rng.standard_normal(len(folds))
    got = get_backend(name).binary_fold_sums(X, y, sw, member, np.array(folds), W, B,
                                             n_threads=n_threads)
    assert len(got) == len(folds)
    tol = TOL[dtype]
    for q, f in enumerate(folds):
        s = ((member >> f) & 1).astype(np.float64)
        if sw is not None:
            s *= sw
        J0, dw0, db0 = ref.binary_sums(X.astype(np.float64), y.astype(np.float64), s,
                                       W[q], B[q])
        J1, dw1, db1 = got[q]
        assert J1 == pytest.approx(J0, rel=tol["rtol"], abs=tol["atol"] * _scale(J0))
        np.testing.assert_allclose(dw1, dw0, rtol=tol["rtol"],
                                   atol=tol["atol"] * _scale(dw0))
        assert db1 == pytest.approx(db0, rel=tol["rtol"], abs=tol["atol"] * _scale(db0))


def test_numba_deterministic_for_fixed_threads(rng):
    X = rng.standard_normal((5000, 33))
    y = (rng.random(5000) < 0.5).astype(np.float64)
    w = rng.standard_normal(33)
    for n_threads in (1, 2):
        first = nbb.binary_sums(X, y, None, w, 0.0, n_threads=n_threads)
        for _ in range(3):
            again = nbb.binary_sums(X, y, None, w, 0.0, n_threads=n_threads)
            assert again[0] == first[0] and again[2] == first[2]
            assert np.array_equal(again[1], first[1])


def test_vectorised_exp_accuracy():
    """The kernels' exp over all arguments <= 0, against NumPy."""
    x = np.concatenate([np.linspace(-745.0, 0.0, 200_001), -np.logspace(-300, 2.5, 20_001),
                        [0.0, -0.0, -1e-320]])
    out = np.empty_like(x)
    bits = np.empty(x.shape[0], dtype=np.int64)
    elem._exp_nonpos_block(x, x.shape[0], out, bits)
    expected = np.exp(np.maximum(x, -700.0))
    # relative accuracy where it matters (x >= -40), absolute everywhere
    near = x >= -40
    np.testing.assert_allclose(out[near], expected[near], rtol=2e-14, atol=0)
    assert np.max(np.abs(out - expected)) < 4e-16
    # below -700 the result is exp(-700): absolutely tiny, never zero or negative
    assert np.all(out > 0)


def test_vectorised_log1p_accuracy():
    from numba import njit

    @njit(fastmath=elem._FASTMATH, error_model="numpy")
    def apply(t, out):
        for i in range(t.shape[0]):
            out[i] = elem._log1p_unit(t[i])

    t = np.concatenate([np.linspace(0.0, 1.0, 200_001), np.logspace(-300, 0, 20_001)])
    out = np.empty_like(t)
    apply(t, out)
    expected = np.log1p(t)
    ulps = np.abs(out - expected) / np.spacing(np.maximum(expected, 1e-300))
    assert np.max(ulps[t > 1e-300]) <= 4


def test_vectorised_log_accuracy():
    """The block log of the softmax's sums: a few ulp on [1, 1e3] (what it gets, sums
    of exponentials whose largest is 1), and relative 1e-15 over every normal float64."""
    rng = np.random.default_rng(0)
    for x, bound in ((np.concatenate([np.linspace(1.0, 1e3, 200_001),
                                      1.0 + np.logspace(-16, 0, 2_001)]), 4),
                     (np.exp(rng.uniform(-700, 700, 100_001)), None)):
        out = np.empty_like(x)
        elem._log_block(x, len(x), out, np.empty(len(x), dtype=np.int64))
        expected = np.log(x)
        if bound is not None:
            ulps = np.abs(out - expected) / np.spacing(np.maximum(np.abs(expected), 1e-300))
            assert np.max(ulps[expected > 0]) <= bound
            assert np.all(out[expected == 0] == 0)
        else:
            np.testing.assert_allclose(out, expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", ["numpy", *CPU_BACKENDS])
def test_large_z_gives_finite_loss_and_gradients(rng, name):
    X = rng.standard_normal((200, 5)) * 1e4
    y = (rng.random(200) < 0.5).astype(np.float64)
    w = rng.standard_normal(5) * 10
    J, dw, db = get_backend(name).binary_sums(X, y, None, w, 0.0)
    assert np.isfinite(J) and np.all(np.isfinite(dw)) and np.isfinite(db)
    J0, dw0, db0 = ref.binary_sums(X, y, None, w, 0.0)
    assert J == pytest.approx(J0, rel=1e-12)
    np.testing.assert_allclose(dw, dw0, rtol=1e-10)
    yk = rng.integers(0, 3, 200)
    Jm, dWm, _ = get_backend(name).multinomial_sums(X, yk, None, rng.standard_normal((3, 5)),
                                                    np.zeros(3))
    assert np.isfinite(Jm) and np.all(np.isfinite(dWm))


def test_auto_backend_selection():
    assert resolve_backend_name("auto", 100 * 20) == "numpy"
    big = resolve_backend_name("auto", 1_000_000 * 100)
    assert big == ("numba" if "numba" in available_backends() else "numpy")
    with pytest.raises(ValueError, match="Unknown backend"):
        resolve_backend_name("fortran")
    assert "numpy" in available_backends()


def test_imports_stay_lazy():
    """Importing fastlr loads no Numba; a dense Numba call loads no sparse kernels."""
    code = (
        "import sys, numpy as np, fastlr\n"
        "assert 'numba' not in sys.modules\n"
        "from fastlr.backends import get_backend\n"
        "X = np.ones((3, 2)); y = np.array([0.0, 1.0, 1.0])\n"
        "get_backend('numba').binary_sums(X, y, None, np.zeros(2), 0.0)\n"
        "assert 'numba' in sys.modules\n"
        "assert 'fastlr.backends.numba.sparse' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
