"""Sparse (CSR) input: one epoch per backend, and fits with scikit-learn alongside.

``SparseEpoch`` times one ``binary_sums`` call (``J`` and its gradient, the call a
solver makes at every iteration) of the ``numpy`` reference (scipy.sparse products)
and of the ``numba`` kernel on all Numba threads, on the same CSR matrix, and tracks
the bandwidth achieved: ``(data.nbytes + indices.nbytes + indptr.nbytes) / median time``.

``SparseFastlrFit`` and ``SparseSklearnFit`` fit the same CSR problem with the same
``C``, ``tol`` and ``max_iter`` (scikit-learn with lbfgs), with ``track_test_score``
next to ``time_fit`` so that a speed-up which costs accuracy shows up beside it.
The problems are text-like (Zipf-distributed columns, TF-IDF values, unit rows; see
``common.sparse_data``); ``scripts/bench_sparse.py`` is the full comparison.
"""

from __future__ import annotations

import numpy as np

from . import estimator
from .common import (
    DTYPES,
    MAX_ITER,
    SPARSE_SIZES,
    TOL,
    C,
    backends,
    median_seconds,
    sparse_classification_data,
    sparse_data,
)

TRACK_REPEATS = 5


class SparseEpoch:
    params = [["numpy", "numba"], SPARSE_SIZES["sparse_epoch_shapes"], DTYPES]
    param_names = ["backend", "shape", "dtype"]
    timeout = 300

    def setup(self, backend, shape, dtype):
        import numba

        from fastlr.backends import get_backend

        X, y = sparse_data(shape, dtype)
        self.X, self.y = X, y.astype(X.dtype)
        self.w = 0.1 * np.random.default_rng(1).standard_normal(X.shape[1])
        self.b = 0.1
        self.sums = get_backend(backend).binary_sums
        self.n_threads = numba.get_num_threads()  # all of them, explicitly
        self.nbytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
        self.time_binary_sums(backend, shape, dtype)  # JIT compilation (or cache load)

    def time_binary_sums(self, backend, shape, dtype):
        self.sums(self.X, self.y, None, self.w, self.b, n_threads=self.n_threads)

    def track_gb_per_s(self, backend, shape, dtype):
        seconds = median_seconds(lambda: self.time_binary_sums(backend, shape, dtype),
                                 TRACK_REPEATS)
        return round(self.nbytes / seconds / 1e9, 3)

    track_gb_per_s.unit = "GB/s"


class _SparseFit(estimator._FitBenchmark):
    """The fit benchmarks of ``estimator.py`` (``time_fit``, ``peakmem_fit``,
    ``time_predict``, ``track_test_score``) on a CSR problem."""

    def setup(self, *params):
        shape = params[-1]
        self.X_train, self.X_test, self.y_train, self.y_test = sparse_classification_data(
            shape)
        self.model = self._fit(*params)  # also compiles the JIT kernels


class SparseFastlrFit(_SparseFit):
    params = [backends(), SPARSE_SIZES["sparse_fit_shapes"]]
    param_names = ["backend", "shape"]

    def make(self, backend, shape):
        import fastlr

        return fastlr.LogisticRegression(C=C, tol=TOL, max_iter=MAX_ITER, backend=backend)


class SparseSklearnFit(_SparseFit):
    """The baseline: scikit-learn's ``LogisticRegression`` (lbfgs) on the same CSR."""

    params = [["lbfgs"], SPARSE_SIZES["sparse_fit_shapes"]]
    param_names = ["solver", "shape"]

    def make(self, solver, shape):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, tol=TOL, max_iter=MAX_ITER, solver=solver)
