"""The reference backend: the textbook equations, vectorised with NumPy.

Every other backend is tested against this one. The two products with X run in X's
dtype (BLAS); the per-sample maths in between runs in float64, so that float32 input
gives a loss accurate enough for L-BFGS's line search. Row-major notation is used
(``X`` has one sample per row), so the textbook's ``Z = w^T X + b`` reads ``z = X w + b``
and ``dw = X dZ^T / m`` reads ``dw = X^T dz / m``.

``X`` may also be a ``scipy.sparse`` CSR matrix (``csr_matrix`` or ``csr_array``; any
scipy.sparse format works here): the same equations, with the two products done by
scipy.sparse (``X @ w`` and ``X.T @ dz``) and never a dense copy of ``X``. Outputs are
dense NumPy arrays either way.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import issparse

NAME = "numpy"


def is_available():
    return True


def _softplus(z):
    """log(1 + exp(z)) without overflow: max(z, 0) + log1p(exp(-|z|))."""
    return np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z)))


def sigmoid(z):
    """Numerically stable logistic function 1 / (1 + exp(-z)), elementwise."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    t = np.exp(-np.abs(z))  # in (0, 1]: never overflows
    return np.where(z >= 0, 1 / (1 + t), t / (1 + t))


def _t_matmul(X, D):
    """X^T D as a float64 ndarray: (n_features,) for D of shape (n_samples,), or
    (n_classes, n_features) for D of shape (n_samples, n_classes)."""
    D = D.astype(X.dtype)
    if issparse(X):
        return np.ascontiguousarray(np.asarray(X.T @ D, dtype=np.float64).T)
    if D.ndim == 1:
        return np.asarray(X.T @ D, dtype=np.float64)
    return np.asarray(D.T @ X, dtype=np.float64)


def binary_sums(X, y, sample_weight, w, b, n_threads=None):
    z = np.asarray(X @ np.asarray(w, dtype=X.dtype), dtype=np.float64)
    z = z + float(b)  # Z = w^T X + b
    y = np.asarray(y, dtype=np.float64)
    a = sigmoid(z)  # A = sigma(Z)
    loss = _softplus(z) - y * z  # -(y log a + (1 - y) log(1 - a)), stable form
    dz = a - y  # dZ = A - Y
    if sample_weight is not None:
        loss = loss * sample_weight
        dz = dz * sample_weight
    J_sum = float(np.sum(loss))
    dw_sum = _t_matmul(X, dz)  # X dZ^T
    db_sum = float(np.sum(dz, dtype=np.float64))
    return J_sum, dw_sum, db_sum


def multinomial_sums(X, y, sample_weight, W, B, n_threads=None):
    n_classes = W.shape[0]
    Z = np.asarray(X @ np.asarray(W, dtype=X.dtype).T, dtype=np.float64)
    Z += np.asarray(B, np.float64)
    zmax = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - zmax)
    S = E.sum(axis=1, keepdims=True)
    P = E / S  # softmax
    rows = np.arange(X.shape[0])
    loss = (np.log(S[:, 0]) + zmax[:, 0]) - Z[rows, y]  # logsumexp(z) - z_y
    dZ = P
    dZ[rows, y] -= 1  # P - onehot(y)
    if sample_weight is not None:
        loss = loss * sample_weight
        dZ = dZ * sample_weight[:, None]
    J_sum = float(np.sum(loss, dtype=np.float64))
    dW_sum = _t_matmul(X, dZ).reshape(n_classes, -1)
    dB_sum = np.asarray(dZ.sum(axis=0, dtype=np.float64), dtype=np.float64)
    return J_sum, dW_sum, dB_sum


def linear_predict(X, W, B, n_threads=None):
    W = np.asarray(W, dtype=X.dtype)
    return np.asarray(X @ W.T) + np.asarray(B, dtype=X.dtype)
