"""Numba CPU backend: fused, parallel, one-pass kernels for dense and CSR input.

The backend contract (see :mod:`fastlr.backends`) is answered here by dispatching on
the kind of ``X``: NumPy arrays go to :mod:`.dense` (binary) and
:mod:`.dense_multinomial` (multinomial, and the scores of predictions), scipy.sparse
CSR matrices and arrays to :mod:`.sparse`. Each kernel module is imported on its
first use and each kernel compiles (or loads from Numba's on-disk cache) on its
first call, so a dense fit never loads the sparse kernels and vice versa.

Modules: :mod:`._elementary` (the vectorisable exp/log1p and per-row loss maths),
:mod:`.dense`, :mod:`.dense_multinomial`, :mod:`.sparse`, :mod:`._threads` (thread
counts, launch lock).
"""

from __future__ import annotations

from scipy.sparse import issparse

NAME = "numba"


def is_available():
    return True


def _kernels(X, multi=False):
    """The kernel module for X's kind, imported on first use: for dense X the binary
    kernels, or with ``multi`` the multinomial ones and the prediction scores."""
    if issparse(X):
        from . import sparse

        return sparse
    if multi:
        from . import dense_multinomial

        return dense_multinomial
    from . import dense

    return dense


def takes_active_rows(X):
    """Whether ``binary_sums``/``multinomial_sums`` take ``active_rows`` for this X
    (a dense array: they then read only those rows)."""
    return not issparse(X)


def binary_sums(X, y, sample_weight, w, b, n_threads=None, **options):
    """Binary loss sums, see :mod:`fastlr.backends`; ``X`` dense or CSR."""
    return _kernels(X).binary_sums(X, y, sample_weight, w, b, n_threads=n_threads,
                                   **options)


def binary_fold_sums(X, y, sample_weight, member, folds, W, B, n_threads=None):
    """Several folds' binary sums in one pass over a dense X, see
    :mod:`fastlr.backends`."""
    from . import folds as module

    return module.binary_fold_sums(X, y, sample_weight, member, folds, W, B,
                                   n_threads=n_threads)


def multinomial_sums(X, y, sample_weight, W, B, n_threads=None, **options):
    """Multinomial loss sums, see :mod:`fastlr.backends`; ``X`` dense or CSR."""
    return _kernels(X, True).multinomial_sums(X, y, sample_weight, W, B,
                                              n_threads=n_threads, **options)


def binary_hessian_sums(X, y, sample_weight, w, b, fit_intercept=True, n_threads=None):
    """Binary sums and the Hessian, see :mod:`fastlr.backends`; ``X`` dense or CSR."""
    if issparse(X):
        from . import sparse_hessian as module
    else:
        from . import hessian as module
    return module.binary_hessian_sums(X, y, sample_weight, w, b, fit_intercept,
                                      n_threads=n_threads)


def binary_hessian_cols(X, sample_weight, w, b, cols, fit_intercept=True, n_threads=None):
    """The binary Hessian over the features ``cols`` and the intercept, see
    :mod:`fastlr.backends`; ``X`` dense or CSR."""
    if issparse(X):
        from . import sparse_hessian as module
    else:
        from . import hessian as module
    return module.binary_hessian_cols(X, sample_weight, w, b, cols, fit_intercept,
                                      n_threads=n_threads)


def multinomial_hessian_sums(X, y, sample_weight, W, B, fit_intercept=True,
                             n_threads=None):
    """Multinomial sums and the Hessian, see :mod:`fastlr.backends`; dense or CSR."""
    if issparse(X):
        from . import sparse_hessian as module
    else:
        from . import hessian as module
    return module.multinomial_hessian_sums(X, y, sample_weight, W, B, fit_intercept,
                                           n_threads=n_threads)


def predict_classes(X, W, B, group_size, rows, n_threads=None):
    """The classes several models predict for ``X[rows]``, dense X only (see
    :func:`.dense_multinomial.predict_classes`); an optional backend function."""
    from . import dense_multinomial

    return dense_multinomial.predict_classes(X, W, B, group_size, rows,
                                             n_threads=n_threads)


def linear_predict(X, W, B, n_threads=None):
    """``X W^T + B`` of shape (n_samples, n_classes), see :mod:`fastlr.backends`."""
    return _kernels(X, True).linear_predict(X, W, B, n_threads=n_threads)
