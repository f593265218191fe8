"""Public low-level functions: the loss and gradient of one epoch, on any backend."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._data import check_csr, n_elements
from ._loss import LogisticObjective
from .backends import get_backend
from .backends.numpy_backend import sigmoid as _sigmoid


def sigmoid(z):
    """Logistic function ``1 / (1 + exp(-z))``, elementwise, stable for any finite z.

    Parameters
    ----------
    z : array-like or scalar

    Returns
    -------
    a : ndarray (or scalar) of the same shape, floating dtype of z (float64 for ints)
    """
    a = _sigmoid(z)
    return a[()] if np.ndim(a) == 0 else a


def _check_X(X):
    """X as the kernels take it: a float32/float64 ndarray or CSR matrix."""
    sparse = sp.issparse(X)
    if sparse:
        X = X if X.format == "csr" or X.ndim != 2 else X.tocsr()
    else:
        X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ValueError(f"X must be numeric; got dtype {X.dtype}.")
        X = X.astype(np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-dimensional (n_samples, n_features); got shape {X.shape}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X is empty: shape {X.shape}.")
    return check_csr(X) if sparse else X


def _check_result(objective, J, grad):
    """Raise a clear ValueError instead of returning a non-finite loss or gradient.

    X is not scanned before the kernel runs (that would read it a second time): a
    NaN or infinity anywhere in X makes the gradient non-finite (``dz_i * x_ij`` is
    NaN or infinite for every ``dz_i``), so X is only scanned when that happens, to
    say which problem it is.
    """
    if np.isfinite(J) and np.all(np.isfinite(grad)):
        return
    raise ValueError(
        objective.input_error()
        or "The loss or its gradient overflowed (features of very large magnitude); "
        "rescale X."
    )


def _check_vector(v, name, n, dtype, allow_none=False):
    if v is None and allow_none:
        return None
    v = np.asarray(v)
    if v.ndim != 1 or v.shape[0] != n:
        raise ValueError(f"{name} must have shape ({n},); got {v.shape}.")
    v = v.astype(dtype, copy=False)
    if not np.all(np.isfinite(v)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return v


def _check_weights(sample_weight, n, dtype):
    sw = _check_vector(sample_weight, "sample_weight", n, dtype, allow_none=True)
    if sw is not None:
        if np.any(sw < 0):
            raise ValueError("sample_weight must be non-negative.")
        if not np.sum(sw, dtype=np.float64) > 0:
            raise ValueError("The sum of sample_weight must be positive.")
    return sw


def _check_l2(l2):
    l2 = float(l2)
    if not (np.isfinite(l2) and l2 >= 0):
        raise ValueError(f"l2 must be a finite number >= 0; got {l2}.")
    return l2


def loss_and_grad(X, y, w, b, *, sample_weight=None, l2=0.0, backend="auto", n_threads=None):
    """Cross-entropy cost ``J`` of the binary model and its gradient, in one pass.

    ``J = sum_i s_i L(a_i, y_i) / sum_i s_i + l2 / 2 * ||w||^2`` with
    ``a = sigmoid(X w + b)`` and ``L(a, y) = -(y log a + (1 - y) log(1 - a))``.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
        Sparse input is used as CSR (never made dense).
    y : ndarray of shape (n_samples,), values in {0, 1}
    w : ndarray of shape (n_features,)
    b : float
    sample_weight : ndarray of shape (n_samples,), default=None
    l2 : float, default=0.0
    backend : str, default="auto"
        One of :func:`fastlr.available_backends`, or ``"auto"``.
    n_threads : int, default=None
        Threads for the Numba backend (all by default).

    Returns
    -------
    J : float
    dw : ndarray of shape (n_features,), dtype of X
    db : scalar of the dtype of X
    """
    X = _check_X(X)
    n, p = X.shape
    y = _check_vector(y, "y", n, X.dtype)
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y must contain only 0 and 1.")
    w = _check_vector(w, "w", p, np.float64)
    b = float(b)
    if not np.isfinite(b):
        raise ValueError("b must be finite.")
    sw = _check_weights(sample_weight, n, X.dtype)
    l2 = _check_l2(l2)
    objective = LogisticObjective(get_backend(backend, n_elements(X)), X, y, sw, 2, True, l2,
                                  n_threads)
    J, grad = objective.loss_grad(np.append(w, b))
    _check_result(objective, J, grad)
    return J, grad[:p].astype(X.dtype), X.dtype.type(grad[p])


def multinomial_loss_and_grad(X, y, W, B, *, sample_weight=None, l2=0.0, backend="auto",
                              n_threads=None):
    """Softmax cross-entropy ``J`` and its gradient, in one pass.

    ``J = sum_i s_i (logsumexp(z_i) - z_i[y_i]) / sum_i s_i + l2 / 2 * ||W||^2`` with
    ``z_i = W x_i + B``.

    Parameters
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,), integer class indices in [0, n_classes)
    W : ndarray of shape (n_classes, n_features)
    B : ndarray of shape (n_classes,)

    Returns
    -------
    J : float
    dW : ndarray of shape (n_classes, n_features), dtype of X
    dB : ndarray of shape (n_classes,), dtype of X
    """
    X = _check_X(X)
    n, p = X.shape
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2 or W.shape[1] != p:
        raise ValueError(f"W must have shape (n_classes, {p}); got {W.shape}.")
    if not np.all(np.isfinite(W)):
        raise ValueError("W contains NaN or infinity.")
    k = W.shape[0]
    B = _check_vector(B, "B", k, np.float64)
    y = np.asarray(y)
    if y.ndim != 1 or y.shape[0] != n:
        raise ValueError(f"y must have shape ({n},); got {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer) or (n and (y.min() < 0 or y.max() >= k)):
        raise ValueError(f"y must hold integer class indices in [0, {k}).")
    y = y.astype(np.intp, copy=False)
    sw = _check_weights(sample_weight, n, X.dtype)
    l2 = _check_l2(l2)
    objective = LogisticObjective(get_backend(backend, n_elements(X)), X, y, sw, k, True, l2,
                                  n_threads, multinomial=True)
    J, grad = objective.loss_grad(objective.pack(W, B))
    _check_result(objective, J, grad)
    dW, dB = objective.unpack(grad)
    dW, dB = dW.astype(X.dtype), dB.astype(X.dtype)
    return J, dW, dB
