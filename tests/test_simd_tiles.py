"""The register-blocked tiles of the dense multinomial kernels (``_simd``) and the
vector maths of the binary kernel (``_simd_binary``), built for both vector widths
(4 float64 lanes, as on AVX2; 8, as with AVX-512) whatever this CPU has, against
NumPy and the loops they replace."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from fastlr.backends.numba import _simd, _simd_binary
from fastlr.backends.numba import dense as nbb
from fastlr.backends.numba import dense_multinomial as nbm
from fastlr.backends.numba._elementary import _binary_rows_block

LANES = (4, 8)


@pytest.fixture(scope="module", params=LANES)
def tiles(request):
    lanes = request.param
    dot, grads, grads_pf = _simd.make_tiles(lanes)

    @njit
    def dots(X, r, W, k, ahead):
        return dot(X, r, W, k, ahead)

    def make_acc(g4, g2, g1):
        @njit
        def acc(X, r0, n, D, dW):
            K = dW.shape[0]
            k = 0
            while k + 4 <= K:
                g4(X, r0, n, D, K, k, dW)
                k += 4
            if k + 2 <= K:
                g2(X, r0, n, D, K, k, dW)
                k += 2
            if k < K:
                g1(X, r0, n, D, K, k, dW)
        return acc

    return lanes, dots, make_acc(*grads), make_acc(*grads_pf)


def _widths(lanes):
    # one vector, a partial second, exact multiples of one and two vectors, odd sizes
    return sorted({lanes, lanes + 1, 2 * lanes - 1, 2 * lanes, 2 * lanes + 3, 3 * lanes,
                   3 * lanes + 5, 100, 103})


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_dot_tile_matches_numpy(rng, tiles, dtype):
    lanes, dots, _, _ = tiles
    for p in _widths(lanes):
        X = (rng.standard_normal((11, p)) * 3).astype(dtype)
        W = rng.standard_normal((5, p))
        for r, k, ahead in ((0, 0, 0), (3, 2, 4), (7, 3, 64)):  # ahead: past X's end
            got = np.array(dots(X, r, W, k, ahead))
            want = np.array([X[r + q].astype(np.float64) @ W[k + c]
                             for q in range(4) for c in range(2)])
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13 * p)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("K", [1, 2, 3, 4, 5, 7, 10])
def test_grad_groups_match_numpy(rng, tiles, dtype, K):
    lanes, _, acc, acc_pf = tiles
    for p in _widths(lanes):
        X = (rng.standard_normal((70, p)) * 3).astype(dtype)
        D = rng.standard_normal(70 * K)
        dW0 = rng.standard_normal((K, p))
        for r0, n in ((0, 70), (5, 33), (64, 6), (3, 0)):  # prefetch runs past X's end
            want = dW0 + D[:n * K].reshape(n, K).T @ X[r0:r0 + n].astype(np.float64)
            for f in (acc, acc_pf):
                dW = dW0.copy()
                f(X, r0, n, D, dW)
                np.testing.assert_allclose(dW, want, rtol=1e-13, atol=1e-13 * n)


def test_masked_columns_are_not_read_into_the_sums(tiles):
    """The last partial vector is taken over the last LANES columns with the ones
    already counted masked off: inf there must not turn into NaN, nor be counted
    twice."""
    lanes, dots, acc, _ = tiles
    p = 2 * lanes + 1
    X = np.ones((8, p))
    X[:, 2 * lanes - 1] = np.inf  # counted in the full vectors, masked in the tail
    W = np.ones((2, p))
    got = np.array(dots(X, 0, W, 0, 0))
    assert np.all(np.isposinf(got))
    X[:, 2 * lanes - 1] = 1.0
    got = np.array(dots(X, 0, W, 0, 0))
    np.testing.assert_array_equal(got, np.full(8, float(p)))
    dW = np.zeros((1, p))
    acc(X, 0, 8, np.ones(8), dW)
    np.testing.assert_array_equal(dW, np.full((1, p), 8.0))


def test_tiles_refuse_non_contiguous_rows(tiles):
    _, dots, _, _ = tiles
    X = np.ones((8, 16))[:, ::2]
    with pytest.raises(Exception, match="C-contiguous"):
        dots(X, 0, np.ones((2, 8)), 0, 0)


@pytest.mark.parametrize("p", [1, 3, _simd.LANES - 1, _simd.LANES, 2 * _simd.LANES + 1])
@pytest.mark.parametrize("K", [1, 2, 3, 10])
def test_block_helpers_below_and_above_one_vector(rng, p, K):
    """dense's block steps take the tiles from one vector of columns on, plain loops
    below it; both against NumPy, rows past a multiple of four included."""
    X = rng.standard_normal((40, p))
    W = rng.standard_normal((K, p))
    B = rng.standard_normal(K)
    Z = np.zeros(23 * K)
    nbm._multinomial_scores(X, 9, 23, W, B, Z)
    np.testing.assert_allclose(Z.reshape(23, K), X[9:32] @ W.T + B, rtol=1e-13, atol=1e-13)
    D = rng.standard_normal(23 * K)
    dW = np.zeros((K, p))
    nbm._multinomial_accumulate(X, 9, 23, D, dW)
    np.testing.assert_allclose(dW, D.reshape(23, K).T @ X[9:32], rtol=1e-13, atol=1e-13)


def test_fortran_ordered_X_is_copied_not_refused(rng):
    X = rng.standard_normal((300, 20))
    y = rng.integers(0, 3, 300)
    W = rng.standard_normal((3, 20))
    B = np.zeros(3)
    a = nbm.multinomial_sums(X, y, None, W, B)
    b = nbm.multinomial_sums(np.asfortranarray(X), y, None, W, B)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize("K", [2, 3, 10])
def test_a_rows_scores_do_not_depend_on_its_block(rng, K):
    """Rows past a multiple of four are scored by a tile overlapping the previous
    rows, so every block of four rows or more gives a row the same scores, bit for
    bit: what lets predict_classes (blocks of listed rows) and linear_predict
    (blocks of all rows) agree exactly."""
    X = rng.standard_normal((64, 37))
    W = rng.standard_normal((K, 37))
    B = rng.standard_normal(K)
    whole = np.zeros(64 * K)
    nbm._multinomial_scores(X, 0, 64, W, B, whole)
    for r0, n in ((0, 5), (3, 4), (10, 23), (57, 7)):
        part = np.zeros(n * K)
        nbm._multinomial_scores(X, r0, n, W, B, part)
        np.testing.assert_array_equal(part, whole[r0 * K:(r0 + n) * K])


def test_whole_kernels_with_four_lanes(tmp_path):
    """The dense kernels built with 4-lane tiles (what a CPU without AVX-512 gets),
    whatever this CPU has, against the NumPy reference: a new process with the tiles
    rebuilt before the kernels are imported, and a cache of its own (the on-disk cache
    does not know which width a kernel was compiled with)."""
    code = """
import numpy as np
from fastlr.backends.numba import _simd
_simd.LANES = 4  # before _simd_binary is imported: its tiles are built for it
(_simd.dot_tile, (_simd.grad_group_4, _simd.grad_group_2, _simd.grad_group_1),
 (_simd.grad_group_4p, _simd.grad_group_2p, _simd.grad_group_1p)) = _simd.make_tiles(4)
from fastlr.backends.numba import dense, dense_multinomial
from fastlr.backends import numpy_backend as ref
assert dense.LANES == 4 and dense_multinomial.LANES == 4
rng = np.random.default_rng(0)
for n, p, k in ((517, 6, 10), (300, 13, 3), (64, 4, 2)):
    X = rng.standard_normal((n, p))
    y = rng.integers(0, k, n)
    W = rng.standard_normal((k, p))
    B = rng.standard_normal(k)
    J0, dW0, dB0 = ref.multinomial_sums(X, y, None, W, B)
    J1, dW1, dB1 = dense_multinomial.multinomial_sums(X, y, None, W, B)
    assert abs(J1 - J0) <= 1e-10 * abs(J0), (n, p, k)
    np.testing.assert_allclose(dW1, dW0, rtol=1e-10, atol=1e-10 * np.abs(dW0).max())
    np.testing.assert_allclose(dense_multinomial.linear_predict(X, W, B), X @ W.T + B,
                               rtol=1e-12, atol=1e-12)
from fastlr.backends.numba import _simd_binary
assert _simd_binary.LANES == 4
for n, p, rows, dtype in ((517, 6, None, np.float64), (300, 100, 8, np.float64),
                          (301, 13, 12, np.float64), (90, 3, 5, np.float64),
                          (517, 100, None, np.float32), (203, 9, 64, np.float32)):
    X = rng.standard_normal((n, p)).astype(dtype)
    y = (rng.random(n) < 0.4).astype(np.float64)
    w = rng.standard_normal(p)
    sw = rng.random(n)
    J0, dw0, db0 = ref.binary_sums(X.astype(np.float64), y, sw.astype(dtype), w, 0.3)
    J1, dw1, db1 = dense.binary_sums(X, y, sw, w, 0.3, block_rows=rows)
    assert abs(J1 - J0) <= 1e-12 * abs(J0) and abs(db1 - db0) <= 1e-12 * n, (n, p, rows)
    np.testing.assert_allclose(dw1, dw0, rtol=1e-12, atol=1e-12 * np.abs(dw0).max())
print("ok")
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


@pytest.fixture(scope="module", params=LANES)
def maths(request):
    lanes = request.param
    one_vector = _simd_binary.make_binary_maths(lanes)

    @njit
    def run(z, n, y, s, has_sw, row0, dz, loss):
        for i in range(0, n, lanes):
            one_vector(z, i, n, y, s, has_sw, row0, dz, loss)

    return lanes, run


@pytest.mark.parametrize("label_dtype", [np.float64, np.float32])
@pytest.mark.parametrize("has_sw", [False, True])
def test_binary_maths_matches_the_block_loop(rng, maths, label_dtype, has_sw):
    """The vector maths against ``_binary_rows_block`` (the loop it replaces for whole
    vectors of rows) on scores from -800 to 800, signed zeros and the branch points
    of its exp and log1p; and against NumPy."""
    lanes, run = maths
    z = np.concatenate([rng.standard_normal(40) * 5,
                        [0.0, -0.0, 800.0, -800.0, 700.0, -700.0, 40.0, -40.0, 1e-300,
                         -1e-300, 0.8813735870195430, -0.8813735870195430,
                         0.34657359027997264, -0.34657359027997264, 36.7, -36.7]])
    n = len(z)
    y = np.zeros(n + 3, dtype=label_dtype)
    y[3:] = rng.random(n) < 0.4
    s = rng.random(n + 3).astype(label_dtype) if has_sw else np.empty(1, label_dtype)
    t, bits = np.empty(n), np.empty(n, np.int64)
    dz0, loss0 = np.empty(n), np.empty(n)
    _binary_rows_block(z, y, s, has_sw, 3, n, t, bits, dz0, loss0)
    dz1, loss1 = np.full(n, np.nan), np.full(n, np.nan)
    run(z, n, y, s, has_sw, 3, dz1, loss1)
    # the same functions, a few roundings apart at most: the polynomials are evaluated
    # in another order (Estrin's scheme against Horner's rule), and LLVM may or may
    # not fuse a multiply and an add (fastmath "contract"), differently in each build.
    # dz = s (sigmoid - y): sigmoid within a few eps relative, then the subtraction,
    # which cancels for y = 1; the loss, max(z, 0) + log1p(e) - y z, moves by up to
    # an ulp of |z| (absolute), large relative to a small loss.
    eps = np.finfo(np.float64).eps
    s_sig = np.abs(dz0 + (s[3:] if has_sw else 1.0) * y[3:])  # s sigmoid(z)
    assert np.all(np.abs(dz1 - dz0) <= 4 * eps * (s_sig + np.abs(dz0)))
    assert np.all(np.abs(loss1 - loss0) <= 4 * eps * (np.abs(z) + 1.0))
    # a count that is not a multiple of the width: the lanes past it untouched
    for m in (1, lanes - 1, lanes + 3, n - 5):
        dz2, loss2 = np.full(n, np.nan), np.full(n, np.nan)
        run(z, m, y, s, has_sw, 3, dz2, loss2)
        np.testing.assert_array_equal(dz2[:m], dz1[:m])
        np.testing.assert_array_equal(loss2[:m], loss1[:m])
        assert np.isnan(dz2[m:]).all() and np.isnan(loss2[m:]).all()
    yy = y[3:].astype(np.float64)
    sw = s[3:].astype(np.float64) if has_sw else 1.0
    want_loss = sw * (np.logaddexp(0.0, z) - yy * z)
    want_dz = sw * (0.5 * (1.0 + np.tanh(0.5 * z)) - yy)
    # softplus(z) - y z cancels for y = 1 and z > 0. Both sides first round a sum near
    # z + log1p(exp(-z)) (ours max(z, 0) + log1p, NumPy's logaddexp), an error of at
    # most eps (z + ln 2) / 2 each, and the subtraction of y z after it is exact
    # (Sterbenz) or rounds only the small result: together at most eps |z| plus a few
    # eps of the log1p term (<= ln 2), below the 1.8 eps (1 + |z|) allowed here. Where
    # nothing cancels, the relative term covers each side's few eps.
    assert np.all(np.abs(loss1 - want_loss) <= 1e-14 * np.abs(want_loss)
                  + 4e-16 * (1.0 + np.abs(z)) * sw)
    # NumPy's 0.5 (1 + tanh(z / 2)) is within about eps / 2 of sigmoid absolute (tanh
    # within an ulp of 1, then the rounding of 1 + tanh), not relative: far below 0
    # 1 + tanh cancels. Ours is within a few eps relative (above).
    assert np.all(np.abs(dz1 - want_dz) <= eps * sw + 4 * eps * (s_sig + np.abs(want_dz)))


def test_prefetch_rows_is_only_a_hint(rng):
    """Prefetching rows far past the end of X (or before it) reads nothing and
    faults nothing; rows whose length is not a multiple of a cache line included."""

    @njit
    def touch(X, far):
        total = 0.0
        for r in range(-far, X.shape[0] + far, 7):
            _simd.prefetch_rows(X, r, 1 + r % 5)
            if 0 <= r < X.shape[0]:
                total += X[r].sum()
        return total

    for p, dtype in ((100, np.float64), (13, np.float32), (1, np.float64)):
        X = rng.standard_normal((50, p)).astype(dtype)
        want = sum(X[r].sum(dtype=np.float64) for r in range(0, 50, 7))
        assert touch(X, 0) == pytest.approx(want, rel=1e-6)
        assert touch(X, 7 * 150_000) == touch(X, 0)  # the same rows summed


def test_binary_blocking_by_row_length():
    """Rows up to 2.5 KB: a prefetch about 12 KB ahead, and float64 blocks of whole
    vectors of about 6 KB (float32: 64 rows, whole 16-row steps of either width);
    longer rows: four sub-ranges read side by side in 8-row blocks, no prefetch."""
    for p, dtype in ((1, np.float64), (20, np.float64), (100, np.float64),
                     (100, np.float32), (300, np.float64), (640, np.float32)):
        rows, ahead, side = nbb.binary_blocking(np.empty((2, p), dtype))
        assert not side
        row_bytes = p * np.dtype(dtype).itemsize
        assert rows % (2 * _simd.LANES if dtype == np.float32 else _simd.LANES) == 0
        if dtype == np.float64:
            assert rows * row_bytes <= max(6400, _simd.LANES * row_bytes)
        assert ahead >= 1 and ahead * row_bytes <= 12800
    assert nbb.binary_blocking(np.empty((2, 100)))[0] == 8  # 800-byte rows, either width
    for p, dtype in ((321, np.float64), (641, np.float32), (1000, np.float64)):
        assert nbb.binary_blocking(np.empty((2, p), dtype)) == (nbb.SIDE_ROWS, 0, True)


@pytest.fixture(scope="module", params=LANES)
def step(request):
    lanes = request.param
    one_step = _simd_binary.make_binary_step(lanes)

    @njit
    def run(X, r, w, bias, y, s, has_sw, ahead, dw, dz, loss, i):
        one_step(X, r, w, bias, y, s, has_sw, ahead, dw, dz, loss, i)

    return lanes, run


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("has_sw", [False, True])
def test_binary_step_matches_numpy(rng, step, dtype, has_sw):
    """The whole binary step over 2 LANES rows (scores, maths, gradient) against
    NumPy, for row lengths around the vector width; prefetching rows past X's end."""
    lanes, run = step
    R = 2 * lanes
    for p in _widths(lanes):
        n = R + 5
        X = (rng.standard_normal((n, p)) * 2).astype(dtype)
        w = rng.standard_normal(p) * 0.5
        y = (rng.random(n) < 0.4).astype(dtype)
        s = rng.random(n).astype(dtype) if has_sw else np.empty(1, dtype)
        dw0 = rng.standard_normal(p)
        dw, dz, loss = dw0.copy(), np.full(R + 3, np.nan), np.full(R + 3, np.nan)
        run(X, 5, w, 0.25, y, s, has_sw, 1000, dw, dz, loss, 3)
        Xb = X[5:5 + R].astype(np.float64)
        z = Xb @ w + 0.25
        yy = y[5:5 + R].astype(np.float64)
        sw = s[5:5 + R].astype(np.float64) if has_sw else 1.0
        want_dz = sw * (0.5 * (1.0 + np.tanh(0.5 * z)) - yy)
        want_loss = sw * (np.logaddexp(0.0, z) - yy * z)
        np.testing.assert_allclose(dz[3:], want_dz, rtol=1e-13, atol=1e-13)
        assert np.all(np.abs(loss[3:] - want_loss) <= 1e-13 * (1.0 + np.abs(z)))
        assert np.isnan(dz[:3]).all() and np.isnan(loss[:3]).all()  # only its own slots
        np.testing.assert_allclose(dw, dw0 + want_dz @ Xb, rtol=1e-13,
                                   atol=1e-13 * R * np.abs(Xb).max())
