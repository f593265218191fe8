"""The register-blocked tiles of the dense multinomial kernels (``_simd``), built for
both vector widths (4 float64 lanes, as on AVX2; 8, as with AVX-512) whatever this
CPU has, against NumPy."""

import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit

from fastlr.backends.numba import _simd
from fastlr.backends.numba import dense as nbb

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
    nbb._multinomial_scores(X, 9, 23, W, B, Z)
    np.testing.assert_allclose(Z.reshape(23, K), X[9:32] @ W.T + B, rtol=1e-13, atol=1e-13)
    D = rng.standard_normal(23 * K)
    dW = np.zeros((K, p))
    nbb._multinomial_accumulate(X, 9, 23, D, dW)
    np.testing.assert_allclose(dW, D.reshape(23, K).T @ X[9:32], rtol=1e-13, atol=1e-13)


def test_fortran_ordered_X_is_copied_not_refused(rng):
    X = rng.standard_normal((300, 20))
    y = rng.integers(0, 3, 300)
    W = rng.standard_normal((3, 20))
    B = np.zeros(3)
    a = nbb.multinomial_sums(X, y, None, W, B)
    b = nbb.multinomial_sums(np.asfortranarray(X), y, None, W, B)
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
    nbb._multinomial_scores(X, 0, 64, W, B, whole)
    for r0, n in ((0, 5), (3, 4), (10, 23), (57, 7)):
        part = np.zeros(n * K)
        nbb._multinomial_scores(X, r0, n, W, B, part)
        np.testing.assert_array_equal(part, whole[r0 * K:(r0 + n) * K])


def test_whole_kernels_with_four_lanes(tmp_path):
    """The dense kernels built with 4-lane tiles (what a CPU without AVX-512 gets),
    whatever this CPU has, against the NumPy reference: a new process with the tiles
    rebuilt before the kernels are imported, and a cache of its own (the on-disk cache
    does not know which width a kernel was compiled with)."""
    code = """
import numpy as np
from fastlr.backends.numba import _simd
_simd.LANES = 4
(_simd.dot_tile, (_simd.grad_group_4, _simd.grad_group_2, _simd.grad_group_1),
 (_simd.grad_group_4p, _simd.grad_group_2p, _simd.grad_group_1p)) = _simd.make_tiles(4)
from fastlr.backends.numba import dense
from fastlr.backends import numpy_backend as ref
assert dense.LANES == 4
rng = np.random.default_rng(0)
for n, p, k in ((517, 6, 10), (300, 13, 3), (64, 4, 2)):
    X = rng.standard_normal((n, p))
    y = rng.integers(0, k, n)
    W = rng.standard_normal((k, p))
    B = rng.standard_normal(k)
    J0, dW0, dB0 = ref.multinomial_sums(X, y, None, W, B)
    J1, dW1, dB1 = dense.multinomial_sums(X, y, None, W, B)
    assert abs(J1 - J0) <= 1e-10 * abs(J0), (n, p, k)
    np.testing.assert_allclose(dW1, dW0, rtol=1e-10, atol=1e-10 * np.abs(dW0).max())
    np.testing.assert_allclose(dense.linear_predict(X, W, B), X @ W.T + B, rtol=1e-12,
                               atol=1e-12)
print("ok")
"""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")
