"""The CUDA backend against the NumPy reference.

Without a GPU these tests run in Numba's CUDA simulator, which must be switched on
before Numba is first imported, so run this file in a process of its own::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/test_cuda_backend.py

Without the simulator and without a usable GPU the whole module is skipped.

The launches are deliberately tiny (a few blocks of 16 or 32 threads, a few rows per
chunk, narrow feature tiles) so that small inputs still exercise every path of the
kernels: the grid-stride loop over chunks (more chunks than blocks, a short last
chunk), the second grid dimension over feature tiles (a short last tile), several
threads per row with a block reduction, several rows per thread, and the gradient
columns shared by several threads or looped over by one.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastlr.backends import cuda as cuda_backend
from fastlr.backends import numpy_backend as reference
from fastlr.backends.cuda import driver, kernels

if not cuda_backend.is_available():
    pytest.skip(
        "no usable CUDA GPU; set NUMBA_ENABLE_CUDASIM=1 (before Numba is imported) "
        "to run these tests in the simulator",
        allow_module_level=True,
    )

pytestmark = pytest.mark.cudasim

SIMULATOR = driver._in_simulator()

N_SAMPLES = 41  # 11 chunks of 4 rows (the last has 1), or 14 chunks of 3
N_FEATURES = 19  # 3 tiles of 8 (the last has 3), or 4 tiles of 5 (the last has 4)
N_CLASSES = 3

LAUNCHES = {
    # The tiled dense kernel (every dense problem with several classes, and binary
    # problems wider than 256 features).
    # 16 threads: one class -> 4 threads per row, gradient columns looped over
    # (9 > 16 // 2) then shared (last tile: 4 columns, 4 threads each); three
    # classes -> one thread per (row, class), columns looped over.
    "t16-tile8-rows4": dict(kernel="tiles", threads_per_block=16, n_blocks=3, tile_width=8,
                            rows_per_chunk=4),
    # 32 threads: one class -> 10 threads per row, 5 threads per gradient column;
    # three classes -> 3 threads per (row, class).
    "t32-tile5-rows3": dict(kernel="tiles", threads_per_block=32, n_blocks=2, tile_width=5,
                            rows_per_chunk=3),
    # The defaults: one tile, one chunk (binary problems take the row kernel).
    "default": {},
}
# The binary row-per-group dense kernel: 19 features need at least 3 lanes per row
# (8 features each), so 4 or 8 lanes; 16 threads make 4 or 2 groups, each taking a
# batch of rows per pass (4 = every lane owns a row; 3 = a lane idles in step 2).
ROW_LAUNCHES = {
    "rows-t16-lanes4": dict(kernel="rows", threads_per_block=16, n_blocks=2, lanes_per_row=4),
    "rows-t16-lanes8-batch3": dict(kernel="rows", threads_per_block=16, n_blocks=2,
                                   lanes_per_row=8, rows_per_group=3),
}
BINARY_LAUNCHES = {**LAUNCHES, **ROW_LAUNCHES}


@pytest.fixture(autouse=True, scope="module")
def _quick_thread_switching():
    """The simulator runs each CUDA thread as a Python thread and meets at every
    syncthreads; a short switch interval makes those meetings ~10x faster."""
    if not SIMULATOR:
        yield
        return
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(old)


def _tolerances(dtype):
    # The reference computes z in X's dtype; the kernels accumulate in float64.
    return dict(rtol=1e-10, atol=1e-10) if dtype == np.float64 else dict(rtol=2e-5, atol=2e-5)


def _assert_close(actual, expected, dtype, scale=1.0):
    tol = _tolerances(dtype)
    np.testing.assert_allclose(actual, expected, rtol=tol["rtol"], atol=tol["atol"] * scale)


def _problem(dtype, n_samples=N_SAMPLES, n_features=N_FEATURES, n_classes=N_CLASSES, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)).astype(dtype)
    y01 = (rng.random(n_samples) < 0.4).astype(dtype)
    y = rng.integers(0, n_classes, size=n_samples)
    sample_weight = rng.uniform(0.1, 3.0, size=n_samples).astype(dtype)
    w = rng.normal(scale=0.5, size=n_features)
    b = 0.3
    W = rng.normal(scale=0.5, size=(n_classes, n_features))
    B = rng.normal(size=n_classes)
    return X, y01, y, sample_weight, w, b, W, B


def _check_binary(X, y, sample_weight, w, b, **launch):
    J, dw, db = cuda_backend.binary_sums(X, y, sample_weight, w, b, **launch)
    J_ref, dw_ref, db_ref = reference.binary_sums(X, y, sample_weight, w, b)
    assert isinstance(J, float) and isinstance(db, float)
    assert dw.dtype == np.float64 and dw.shape == (X.shape[1],)
    scale = max(1.0, float(np.abs(X).sum()))
    _assert_close(J, J_ref, X.dtype, scale)
    _assert_close(dw, dw_ref, X.dtype, scale)
    _assert_close(db, db_ref, X.dtype, scale)


def _check_multinomial(X, y, sample_weight, W, B, **launch):
    J, dW, dB = cuda_backend.multinomial_sums(X, y, sample_weight, W, B, **launch)
    J_ref, dW_ref, dB_ref = reference.multinomial_sums(X, y, sample_weight, W, B)
    assert isinstance(J, float)
    assert dW.dtype == np.float64 and dW.shape == W.shape
    assert dB.dtype == np.float64 and dB.shape == (W.shape[0],)
    scale = max(1.0, float(np.abs(X).sum()))
    _assert_close(J, J_ref, X.dtype, scale)
    _assert_close(dW, dW_ref, X.dtype, scale)
    _assert_close(dB, dB_ref, X.dtype, scale)


@pytest.mark.parametrize("launch", BINARY_LAUNCHES.values(), ids=BINARY_LAUNCHES.keys())
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_sums_match_reference(dtype, weighted, launch):
    X, y01, _, sample_weight, w, b, _, _ = _problem(dtype)
    _check_binary(X, y01, sample_weight if weighted else None, w, b, **launch)


@pytest.mark.parametrize("launch", LAUNCHES.values(), ids=LAUNCHES.keys())
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multinomial_sums_match_reference(dtype, weighted, launch):
    X, _, y, sample_weight, _, _, W, B = _problem(dtype)
    _check_multinomial(X, y, sample_weight if weighted else None, W, B, **launch)


@pytest.mark.parametrize("launch", LAUNCHES.values(), ids=LAUNCHES.keys())
@pytest.mark.parametrize("n_classes", [1, N_CLASSES])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_predict_matches_reference(dtype, n_classes, launch):
    X, _, _, _, _, _, W, B = _problem(dtype, n_classes=n_classes)
    Z = cuda_backend.linear_predict(X, W, B, **launch)
    Z_ref = reference.linear_predict(X, W, B)
    assert isinstance(Z, np.ndarray)
    assert Z.dtype == X.dtype and Z.shape == (X.shape[0], n_classes)
    _assert_close(Z, Z_ref, dtype, scale=10.0)


@pytest.mark.parametrize("launch", [LAUNCHES["t16-tile8-rows4"], {}], ids=["tiled", "default"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_row(dtype, launch):
    X, y01, y, sample_weight, w, b, W, B = _problem(dtype, n_samples=1)
    _check_binary(X, y01, sample_weight, w, b, **launch)
    _check_multinomial(X, y, sample_weight, W, B, **launch)
    Z = cuda_backend.linear_predict(X, W, B, **launch)
    _assert_close(Z, reference.linear_predict(X, W, B), dtype, scale=10.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_feature(dtype):
    X, y01, y, sample_weight, w, b, W, B = _problem(dtype, n_features=1)
    launch = dict(threads_per_block=16, n_blocks=3, rows_per_chunk=5)
    _check_binary(X, y01, sample_weight, w, b, **launch)
    _check_multinomial(X, y, sample_weight, W, B, **launch)
    Z = cuda_backend.linear_predict(X, W, B, **launch)
    _assert_close(Z, reference.linear_predict(X, W, B), dtype, scale=10.0)


def test_no_rows():
    X = np.zeros((0, 4))
    J, dw, db = cuda_backend.binary_sums(X, np.zeros(0), None, np.ones(4), 0.5)
    assert (J, db) == (0.0, 0.0) and np.array_equal(dw, np.zeros(4))
    Z = cuda_backend.linear_predict(X, np.ones((2, 4)), np.ones(2))
    assert Z.shape == (0, 2)


def test_more_threads_than_the_chunk_needs():
    """Many threads, few rows per chunk: most threads of a block idle in every phase."""
    X, y01, y, sample_weight, w, b, W, B = _problem(np.float64, n_samples=7, n_features=3)
    launch = dict(threads_per_block=64, n_blocks=1, rows_per_chunk=2)
    _check_binary(X, y01, sample_weight, w, b, **launch)
    _check_multinomial(X, y, sample_weight, W, B, **launch)


def test_extreme_decision_values_stay_finite():
    """|z| in the hundreds: the stable forms give the reference's finite values."""
    X, y01, y, sample_weight, w, b, W, B = _problem(np.float64)
    X = X * 200.0
    J, dw, db = cuda_backend.binary_sums(X, y01, sample_weight, w, b)
    assert np.isfinite(J) and np.all(np.isfinite(dw)) and np.isfinite(db)
    _check_binary(X, y01, sample_weight, w, b)
    J, dW, dB = cuda_backend.multinomial_sums(X, y, sample_weight, W, B)
    assert np.isfinite(J) and np.all(np.isfinite(dW)) and np.all(np.isfinite(dB))
    _check_multinomial(X, y, sample_weight, W, B)


def test_sample_weight_two_equals_duplicated_rows():
    X, y01, y, _, w, b, W, B = _problem(np.float64, n_samples=12)
    twice = np.r_[np.full(6, 2.0), np.ones(6)]
    X_dup = np.vstack([X[:6], X])
    launch = LAUNCHES["t16-tile8-rows4"]
    for got, expected in [
        (
            cuda_backend.binary_sums(X, y01, twice, w, b, **launch),
            cuda_backend.binary_sums(X_dup, np.r_[y01[:6], y01], None, w, b, **launch),
        ),
        (
            cuda_backend.multinomial_sums(X, y, twice, W, B, **launch),
            cuda_backend.multinomial_sums(X_dup, np.r_[y[:6], y], None, W, B, **launch),
        ),
    ]:
        for a, e in zip(got, expected):
            np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


def test_gradient_matches_finite_differences():
    X, y01, _, sample_weight, w, b, _, _ = _problem(np.float64, n_samples=9, n_features=3)
    _, dw, db = cuda_backend.binary_sums(X, y01, sample_weight, w, b)
    eps = 1e-6
    for j in range(3):
        step = np.zeros(3)
        step[j] = eps
        J_plus = cuda_backend.binary_sums(X, y01, sample_weight, w + step, b)[0]
        J_minus = cuda_backend.binary_sums(X, y01, sample_weight, w - step, b)[0]
        assert (J_plus - J_minus) / (2 * eps) == pytest.approx(dw[j], rel=1e-6, abs=1e-6)
    J_plus = cuda_backend.binary_sums(X, y01, sample_weight, w, b + eps)[0]
    J_minus = cuda_backend.binary_sums(X, y01, sample_weight, w, b - eps)[0]
    assert (J_plus - J_minus) / (2 * eps) == pytest.approx(db, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prepared_device_arrays_give_the_same_sums(dtype):
    X, y01, y, sample_weight, w, b, W, B = _problem(dtype)
    X_d, y_d, s_d = cuda_backend.prepare(X, y01, sample_weight)
    for a in (X_d, y_d, s_d):
        assert cuda_backend.is_device_array(a)
    assert not cuda_backend.is_device_array(X)
    # Device arrays are passed through, not copied again.
    assert cuda_backend.to_device(X_d) is X_d
    assert cuda_backend.prepare(X_d, y_d, None) == (X_d, y_d, None)
    launch = LAUNCHES["t32-tile5-rows3"]
    host = cuda_backend.binary_sums(X, y01, sample_weight, w, b, **launch)
    device = cuda_backend.binary_sums(X_d, y_d, s_d, w, b, **launch)
    for a, e in zip(device, host):  # atomics add in any order: equal to rounding
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)
    _, yk_d, _ = cuda_backend.prepare(X_d, y, None)
    host = cuda_backend.multinomial_sums(X, y, None, W, B, **launch)
    device = cuda_backend.multinomial_sums(X_d, yk_d, None, W, B, **launch)
    for a, e in zip(device, host):  # atomics add in any order: equal to rounding
        np.testing.assert_allclose(a, e, rtol=1e-12, atol=1e-12)


def test_linear_predict_keeps_device_input_on_device():
    X, _, _, _, _, _, W, B = _problem(np.float32)
    X_d = cuda_backend.to_device(X)
    Z_d = cuda_backend.linear_predict(X_d, W, B)
    assert cuda_backend.is_device_array(Z_d)
    Z = Z_d.copy_to_host()
    assert Z.dtype == np.float32
    _assert_close(Z, reference.linear_predict(X, W, B), np.float32, scale=10.0)


def test_prepare_checks_its_inputs():
    X = np.ones((5, 2))
    with pytest.raises(ValueError, match="y must have shape"):
        cuda_backend.prepare(X, np.ones(4))
    with pytest.raises(ValueError, match="sample_weight must have shape"):
        cuda_backend.prepare(X, np.ones(5), np.ones(6))
    with pytest.raises(TypeError, match="float32 or float64"):
        cuda_backend.prepare(X.astype(np.int64), np.ones(5))
    with pytest.raises(TypeError, match="dtype"):
        cuda_backend.to_device(cuda_backend.to_device(X), dtype=np.float32)


def test_launch_configuration_is_checked():
    X, y01, y, _, w, b, _, _ = _problem(np.float64, n_samples=5, n_features=4)
    with pytest.raises(ValueError, match="tile_width"):
        cuda_backend.binary_sums(X, y01, None, w, b, kernel="tiles", tile_width=300)
    with pytest.raises(ValueError, match="rows_per_chunk"):
        cuda_backend.binary_sums(X, y01, None, w, b, kernel="tiles", tile_width=4,
                                 rows_per_chunk=10_000)
    with pytest.raises(ValueError, match="lanes_per_row"):
        cuda_backend.binary_sums(X, y01, None, w, b, lanes_per_row=3)
    with pytest.raises(ValueError, match="lanes_per_row"):
        cuda_backend.binary_sums(X, y01, None, w, b, threads_per_block=24, lanes_per_row=16)
    with pytest.raises(ValueError, match="rows_per_group"):
        cuda_backend.binary_sums(X, y01, None, w, b, lanes_per_row=8, rows_per_group=9)
    with pytest.raises(ValueError, match="kernel"):
        cuda_backend.binary_sums(X, y01, None, w, b, kernel="other")
    with pytest.raises(ValueError, match="binary only"):
        cuda_backend.multinomial_sums(X, y, None, np.zeros((2, 4)), np.zeros(2), kernel="rows")
    with pytest.raises(ValueError, match="at most 256 features"):
        X_wide = np.zeros((2, 257))
        cuda_backend.binary_sums(X_wide, np.zeros(2), None, np.zeros(257), 0.0, kernel="rows")
    with pytest.raises(TypeError, match="Unknown launch"):
        cuda_backend.binary_sums(X, y01, None, w, b, tiles=3)
    with pytest.raises(ValueError, match="threads_per_block"):
        cuda_backend.binary_sums(X, y01, None, w, b, threads_per_block=2048)
    with pytest.raises(ValueError, match="n_blocks"):
        cuda_backend.binary_sums(X, y01, None, w, b, n_blocks=0)
    too_many = kernels._MAX_CLASSES + 1
    with pytest.raises(ValueError, match="classes"):
        cuda_backend.multinomial_sums(X, y, None, np.zeros((too_many, 4)), np.zeros(too_many))


def test_default_launch_fits_the_shared_buffers():
    for n_features, n_classes in [(1, 1), (100, 1), (255, 1), (256, 1), (10_000, 1),
                                  (100, 10), (3, 512)]:
        launch = driver._launch_config(1000, n_features, n_classes)
        ld = launch.tile_width | 1
        assert launch.n_tiles * launch.tile_width >= n_features
        assert (launch.n_tiles - 1) * launch.tile_width < n_features
        assert launch.rows_per_chunk * ld <= kernels._STAGE_SIZE
        assert launch.rows_per_chunk * n_classes <= kernels._Z_SIZE
        assert n_classes * (launch.tile_width + 1) <= kernels._ACC_SIZE
        assert launch.threads_per_block <= kernels._RED_SIZE
    # Rows that fit one tile are read once: one column of blocks.
    assert driver._launch_config(1000, 100, 1).n_tiles == 1
    assert driver._launch_config(1000, 100, 10).n_tiles == 1


def test_is_available_is_false_without_numba_cuda():
    """A Numba that cannot import numba.cuda leaves the module importable and the
    backend unavailable (and out of the registry's list)."""
    code = (
        "import sys\n"
        "sys.modules['numba.cuda'] = None\n"
        "from fastlr.backends import available_backends\n"
        "from fastlr.backends import cuda as cuda_backend\n"
        "assert cuda_backend.is_available() is False\n"
        "assert 'cuda' not in available_backends()\n"
        "try:\n"
        "    cuda_backend.to_device([1.0])\n"
        "except RuntimeError as exc:\n"
        "    assert 'numba.cuda' in str(exc)\n"
        "else:\n"
        "    raise AssertionError('to_device should have raised')\n"
    )
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("solver", ["lbfgs", "gd"])
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_estimator_on_cuda_matches_cpu(solver, n_classes, dtype):
    """LogisticRegression(backend="cuda") gives the CPU model, for every solver."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from fastlr import LogisticRegression

    rng = np.random.default_rng(3)
    X = rng.normal(size=(48, 6)).astype(dtype)
    y = rng.integers(0, n_classes, size=48)
    sw = rng.uniform(0.5, 2.0, size=48)
    kw = dict(solver=solver, C=0.5, tol=1e-6, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        gpu = LogisticRegression(backend="cuda", **kw).fit(X, y, sample_weight=sw)
        cpu = LogisticRegression(backend="numpy", **kw).fit(X, y, sample_weight=sw)
    assert gpu.backend_ == "cuda"
    assert gpu.coef_.dtype == dtype
    tol = 1e-9 if dtype == np.float64 else 2e-4
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=tol, atol=tol)
    np.testing.assert_allclose(gpu.intercept_, cpu.intercept_, rtol=tol, atol=tol)
    np.testing.assert_allclose(gpu.predict_proba(X), cpu.predict_proba(X), rtol=tol, atol=tol)
    np.testing.assert_array_equal(gpu.predict(X), cpu.predict(X))
