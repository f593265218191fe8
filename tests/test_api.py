"""The public low-level API: sigmoid, loss_and_grad, multinomial_loss_and_grad."""

import os
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import fastlr
from fastlr import loss_and_grad, multinomial_loss_and_grad, sigmoid

BACKENDS = [b for b in ("numpy", "numba") if b in fastlr.available_backends()]


def test_sigmoid_is_stable_for_any_finite_z():
    z = np.array([-1e308, -1e4, -745.0, -40.0, -1.0, 0.0, 1.0, 40.0, 745.0, 1e4, 1e308])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = sigmoid(z)
    assert np.all(np.isfinite(a)) and np.all((a >= 0) & (a <= 1))
    assert a[0] == 0.0 and a[-1] == 1.0 and a[5] == 0.5
    np.testing.assert_allclose(a[3:8], 1 / (1 + np.exp(-z[3:8])), rtol=1e-15)
    assert sigmoid(0.0) == 0.5 and np.ndim(sigmoid(0.0)) == 0
    assert sigmoid(np.float32(2.0)).dtype == np.float32
    np.testing.assert_allclose(sigmoid([[1, -1]]), [[1 / (1 + np.exp(-1)), 1 / (1 + np.e)]])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("l2", [0.0, 0.3])
def test_binary_gradient_matches_finite_differences(rng, backend, l2):
    X = rng.standard_normal((120, 6))
    y = (rng.random(120) < 0.5).astype(float)
    sw = rng.random(120) + 0.1
    w = rng.standard_normal(6) * 0.5
    b = 0.2
    J, dw, db = loss_and_grad(X, y, w, b, sample_weight=sw, l2=l2, backend=backend)
    h = 1e-6
    for j in range(6):
        e = np.zeros(6)
        e[j] = h
        Jp = loss_and_grad(X, y, w + e, b, sample_weight=sw, l2=l2, backend=backend)[0]
        Jm = loss_and_grad(X, y, w - e, b, sample_weight=sw, l2=l2, backend=backend)[0]
        assert dw[j] == pytest.approx((Jp - Jm) / (2 * h), rel=1e-6, abs=1e-8)
    Jp = loss_and_grad(X, y, w, b + h, sample_weight=sw, l2=l2, backend=backend)[0]
    Jm = loss_and_grad(X, y, w, b - h, sample_weight=sw, l2=l2, backend=backend)[0]
    assert db == pytest.approx((Jp - Jm) / (2 * h), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_multinomial_gradient_matches_finite_differences(rng, backend):
    X = rng.standard_normal((90, 4))
    y = rng.integers(0, 3, 90)
    W = rng.standard_normal((3, 4)) * 0.5
    B = rng.standard_normal(3) * 0.1
    J, dW, dB = multinomial_loss_and_grad(X, y, W, B, l2=0.1, backend=backend)
    h = 1e-6
    for k in range(3):
        for j in range(4):
            E = np.zeros_like(W)
            E[k, j] = h
            Jp = multinomial_loss_and_grad(X, y, W + E, B, l2=0.1, backend=backend)[0]
            Jm = multinomial_loss_and_grad(X, y, W - E, B, l2=0.1, backend=backend)[0]
            assert dW[k, j] == pytest.approx((Jp - Jm) / (2 * h), rel=1e-6, abs=1e-8)
        e = np.zeros(3)
        e[k] = h
        Jp = multinomial_loss_and_grad(X, y, W, B + e, l2=0.1, backend=backend)[0]
        Jm = multinomial_loss_and_grad(X, y, W, B - e, l2=0.1, backend=backend)[0]
        assert dB[k] == pytest.approx((Jp - Jm) / (2 * h), rel=1e-6, abs=1e-8)


def test_loss_matches_textbook_cross_entropy(rng):
    X = rng.standard_normal((50, 3))
    y = (rng.random(50) < 0.5).astype(float)
    w, b = rng.standard_normal(3), -0.4
    a = 1 / (1 + np.exp(-(X @ w + b)))
    J_textbook = -np.mean(y * np.log(a) + (1 - y) * np.log(1 - a))
    dw_textbook = X.T @ (a - y) / 50
    for backend in BACKENDS:
        J, dw, db = loss_and_grad(X, y, w, b, backend=backend)
        assert J == pytest.approx(J_textbook, rel=1e-13)
        np.testing.assert_allclose(dw, dw_textbook, rtol=1e-12)
        assert db == pytest.approx(np.mean(a - y), rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_dtypes_are_preserved(rng, backend):
    X = rng.standard_normal((30, 4)).astype(np.float32)
    y = (rng.random(30) < 0.5).astype(np.float32)
    J, dw, db = loss_and_grad(X, y, np.zeros(4), 0.0, backend=backend)
    assert dw.dtype == np.float32 and np.asarray(db).dtype == np.float32
    assert J == pytest.approx(np.log(2), rel=1e-6)
    J, dW, dB = multinomial_loss_and_grad(X, rng.integers(0, 3, 30), np.zeros((3, 4)),
                                          np.zeros(3), backend=backend)
    assert dW.dtype == np.float32 and dB.dtype == np.float32
    assert J == pytest.approx(np.log(3), rel=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(X=np.array([[np.nan, 1.0], [0.0, 1.0]])), "X contains NaN"),
        (dict(X=np.array([[np.inf, 1.0], [0.0, 1.0]])), "X contains NaN or infinity"),
        (dict(X=np.zeros((0, 2))), "empty"),
        (dict(X=np.zeros(4)), "2-dimensional"),
        (dict(y=np.array([0.0, 2.0])), "only 0 and 1"),
        (dict(y=np.array([0.0, 1.0, 1.0])), r"y must have shape \(2,\)"),
        (dict(y=np.array([0.0, np.nan])), "y contains NaN"),
        (dict(w=np.zeros(3)), r"w must have shape \(2,\)"),
        (dict(b=np.nan), "b must be finite"),
        (dict(sample_weight=np.array([1.0, -1.0])), "non-negative"),
        (dict(sample_weight=np.array([1.0, np.inf])), "sample_weight contains NaN"),
        (dict(sample_weight=np.zeros(2)), "must be positive"),
        (dict(l2=-1.0), "l2 must be"),
        (dict(backend="nope"), "Unknown backend"),
    ],
)
def test_bad_input_raises_value_error(kwargs, match):
    args = dict(X=np.array([[1.0, 2.0], [3.0, 4.0]]), y=np.array([0.0, 1.0]), w=np.zeros(2),
                b=0.0)
    args.update(kwargs)
    extra = {k: args.pop(k) for k in ("sample_weight", "l2", "backend") if k in args}
    with pytest.raises(ValueError, match=match):
        loss_and_grad(args["X"], args["y"], args["w"], args["b"], **extra)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("w_value", [0.0, 1.0])
def test_non_finite_X_is_reported_after_the_kernel(rng, backend, bad, w_value):
    """X is not scanned up front; a non-finite entry must still surface as an error,
    whatever the coefficients (w = 0 makes inf * 0 = NaN; w = 1 makes z infinite)."""
    X = rng.standard_normal((300, 4))
    X[137, 2] = bad
    y = (rng.random(300) < 0.5).astype(float)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        loss_and_grad(X, y, np.full(4, w_value), 0.0, backend=backend)
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        multinomial_loss_and_grad(X, (y * 2).astype(int), np.full((3, 4), w_value),
                                  np.zeros(3), backend=backend)
    sw = np.ones(300)
    sw[137] = 0.0  # a zero weight must not hide the bad value either
    with pytest.raises(ValueError, match="X contains NaN or infinity"):
        loss_and_grad(X, y, np.full(4, w_value), 0.0, sample_weight=sw, backend=backend)


def test_overflow_is_an_error_not_a_silent_inf():
    X = np.array([[1e300, 1.0], [-1e300, 2.0]])
    with pytest.raises(ValueError, match="overflowed"):
        loss_and_grad(X, np.array([0.0, 1.0]), np.array([1e10, 0.0]), 0.0, backend="numpy")


def test_multinomial_bad_labels():
    X = np.ones((3, 2))
    with pytest.raises(ValueError, match="class indices"):
        multinomial_loss_and_grad(X, np.array([0, 1, 3]), np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="W must have shape"):
        multinomial_loss_and_grad(X, np.array([0, 1, 2]), np.zeros((3, 5)), np.zeros(3))


finite = st.floats(-30, 30, allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=int(os.environ.get("FASTLR_HYPOTHESIS_EXAMPLES", 40)), deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    data=st.data(),
    n=st.integers(1, 300),
    p=st.integers(1, 20),
    dtype=st.sampled_from([np.float32, np.float64]),
)
def test_property_numba_matches_numpy(data, n, p, dtype):
    if "numba" not in BACKENDS:
        pytest.skip("numba backend unavailable")
    X = data.draw(hnp.arrays(dtype, (n, p), elements=finite.map(dtype)))
    y = data.draw(hnp.arrays(np.float64, n, elements=st.sampled_from([0.0, 1.0])))
    w = data.draw(hnp.arrays(np.float64, p, elements=st.floats(-3, 3)))
    b = data.draw(st.floats(-5, 5))
    sw = data.draw(st.none() | hnp.arrays(np.float64, n, elements=st.floats(0.01, 10)))
    J0, dw0, db0 = loss_and_grad(X, y, w, b, sample_weight=sw, backend="numpy")
    J1, dw1, db1 = loss_and_grad(X, y, w, b, sample_weight=sw, backend="numba")
    assert np.isfinite(J1) and np.all(np.isfinite(dw1))
    tol = 1e-9 if dtype == np.float64 else 2e-4
    scale = max(1.0, abs(J0))
    assert abs(J1 - J0) <= tol * scale
    gscale = max(1.0, float(np.max(np.abs(X))))
    np.testing.assert_allclose(dw1, dw0, rtol=tol, atol=tol * gscale)
    assert abs(float(db1) - float(db0)) <= tol * 2
