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


def binary_fold_sums(X, y, sample_weight, member, folds, W, B, n_threads=None):
    """:func:`binary_sums` of each requested fold over its training rows: fold
    ``folds[q]`` at ``(W[q], B[q])`` over the rows whose bit ``folds[q]`` is set in
    ``member``. A list of ``(J_sum, dw_sum, db_sum)``."""
    member = np.asarray(member, dtype=np.int64)
    out = []
    for q, f in enumerate(folds):
        s = ((member >> int(f)) & 1).astype(np.float64)
        if sample_weight is not None:
            s = s * np.asarray(sample_weight, dtype=np.float64)
        out.append(binary_sums(X, y, s, W[q], B[q]))
    return out


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


# -- Newton: the Hessian of the summed loss ------------------------------------------


def _as_float64(X):
    if issparse(X):
        return X.astype(np.float64)
    return np.asarray(X, dtype=np.float64)


def _gram(X, d):
    """X^T diag(d) X as a dense float64 (n_features, n_features) array (d may be < 0)."""
    if issparse(X):
        return np.asarray((X.T @ X.multiply(d[:, None]).tocsr()).toarray())
    return X.T @ (d[:, None] * X)


def binary_hessian_sums(X, y, sample_weight, w, b, fit_intercept=True, n_threads=None):
    """:func:`binary_sums` and the Hessian of the summed loss, ``H_sum``.

    H_sum  # OUT (q, q) float64, q = n_features + fit_intercept:
           #     sum_i s_i a_i (1 - a_i) [x_i, 1] [x_i, 1]^T (the 1 only with an intercept)
    """
    J_sum, dw_sum, db_sum = binary_sums(X, y, sample_weight, w, b)
    Xd = _as_float64(X)
    z = np.asarray(Xd @ np.asarray(w, dtype=np.float64)) + float(b)
    a = sigmoid(z)
    h = a * (1 - a)  # d^2 L / dz^2
    if sample_weight is not None:
        h = h * sample_weight
    return J_sum, dw_sum, db_sum, _binary_hessian(Xd, h, fit_intercept)


def _binary_hessian(Xd, h, fit_intercept):
    """sum_i h_i [x_i, 1] [x_i, 1]^T (the 1 only with an intercept)."""
    p = Xd.shape[1]
    q = p + int(fit_intercept)
    H = np.empty((q, q))
    H[:p, :p] = _gram(Xd, h)
    if fit_intercept:
        H[:p, p] = H[p, :p] = np.asarray(Xd.T @ h).ravel()
        H[p, p] = h.sum()
    return H


def binary_hessian_cols(X, sample_weight, w, b, cols, fit_intercept=True,
                        n_threads=None):
    """The rows and columns of :func:`binary_hessian_sums`'s ``H_sum`` for the
    coefficients of the features ``cols`` (sorted, distinct) and the intercept.

    H_sum  # OUT (len(cols) + fit_intercept,) * 2 float64
    """
    Xd = _as_float64(X)
    z = np.asarray(Xd @ np.asarray(w, dtype=np.float64)) + float(b)
    a = sigmoid(z)
    h = a * (1 - a)
    if sample_weight is not None:
        h = h * sample_weight
    return _binary_hessian(Xd[:, np.asarray(cols, dtype=np.intp)], h, fit_intercept)


def multinomial_hessian_sums(X, y, sample_weight, W, B, fit_intercept=True,
                             n_threads=None):
    """:func:`multinomial_sums` and the Hessian of the summed loss, ``H_sum``.

    H_sum  # OUT (n, n) float64, n = n_classes * (n_features + fit_intercept), in the
           #     order of the flat vector [W.ravel(), B]: the entry for W[k, j], W[l, i]
           #     is sum_r s_r p_rk (delta_kl - p_rl) x_rj x_ri (x_r. = 1 for B)
    """
    J_sum, dW_sum, dB_sum = multinomial_sums(X, y, sample_weight, W, B)
    Xd = _as_float64(X)
    K, p = W.shape
    Z = np.asarray(Xd @ np.asarray(W, dtype=np.float64).T) + np.asarray(B, np.float64)
    Z -= Z.max(axis=1, keepdims=True)
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    s = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight,
                                                                     np.float64)
    n = K * (p + int(fit_intercept))
    H = np.empty((n, n))
    for k in range(K):
        for l in range(K):
            d = s * P[:, k] * (float(k == l) - P[:, l])
            H[k * p:(k + 1) * p, l * p:(l + 1) * p] = _gram(Xd, d)
            if fit_intercept:
                H[k * p:(k + 1) * p, K * p + l] = np.asarray(Xd.T @ d).ravel()
                H[K * p + l, k * p:(k + 1) * p] = H[k * p:(k + 1) * p, K * p + l]
                H[K * p + k, K * p + l] = d.sum()
    return J_sum, dW_sum, dB_sum, H
