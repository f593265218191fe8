"""Sizes, data and settings shared by the fastlr asv benchmarks.

Profiles
--------
The environment variable ``FASTLR_ASV_PROFILE`` chooses the problem sizes when asv
discovers the benchmarks (so set it for ``asv run``/``asv continuous`` as a whole):

``small`` (default)
    Small enough that ``asv run --quick`` over one commit takes a few minutes on two
    cores; CI runs this one to keep the benchmarks from rotting.
``large``
    Up to 1,000,000 samples: the sizes where memory bandwidth, not overhead,
    decides. Combinations of more than ``max_elements`` elements of ``X`` are
    skipped.

Results of the two profiles carry different parameters, so asv keeps them apart;
compare commits within one profile.
"""

from __future__ import annotations

import os
import time

import numpy as np

PROFILES = {
    "small": {
        "epoch_samples": [1_000, 100_000],
        "epoch_features": [10, 100],
        "fit_shapes": ["20000x20"],
        "cv_shapes": ["20000x20"],
        "fold_sums_shapes": ["100000x100"],
        "max_elements": 10_000_000,
    },
    "large": {
        "epoch_samples": [1_000, 100_000, 1_000_000],
        "epoch_features": [10, 100, 1_000],
        "fit_shapes": ["100000x100", "1000000x100"],
        "cv_shapes": ["200000x100", "1000000x100"],
        "fold_sums_shapes": ["1000000x100"],
        "max_elements": 100_000_000,
    },
}

PROFILE = os.environ.get("FASTLR_ASV_PROFILE", "").strip().lower() or "small"
if PROFILE not in PROFILES:
    raise ValueError(
        f"FASTLR_ASV_PROFILE={PROFILE!r}; expected one of {sorted(PROFILES)}."
    )
SIZES = PROFILES[PROFILE]

DTYPES = ["float32", "float64"]

# Settings shared by fastlr and the scikit-learn baseline, so the two fit the same model.
C = 1.0
TOL = 1e-4
MAX_ITER = 100


def median_seconds(fn, repeats=5):
    """The median wall-clock time of ``repeats`` calls of ``fn()``: what the
    ``track_*`` rates divide by."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def skip_if_too_large(n_elements):
    """Skip a parameter combination (asv skips on NotImplementedError in setup)."""
    if n_elements > SIZES["max_elements"]:
        raise NotImplementedError(
            f"{n_elements:,} elements is above the {PROFILE!r} profile's "
            f"{SIZES['max_elements']:,}"
        )


def parse_shape(shape):
    """``"20000x20"`` -> ``(20000, 20)``."""
    n_samples, n_features = shape.lower().split("x")
    return int(n_samples), int(n_features)


def epoch_data(n_samples, n_features, dtype, seed=0):
    """A random binary problem and a point ``(w, b)`` at which to take one epoch.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), ``dtype``
    y : ndarray of shape (n_samples,), ``dtype``, values in {0, 1}
    w : ndarray of shape (n_features,), float64
    b : float
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features), dtype=np.dtype(dtype).type)
    w_true = rng.standard_normal(n_features) / np.sqrt(n_features)
    z = X @ w_true.astype(X.dtype)
    y = (rng.random(n_samples) < 1 / (1 + np.exp(-z))).astype(X.dtype)
    w = 0.1 * rng.standard_normal(n_features)
    return X, y, w, 0.1


def classification_data(shape, dtype="float64", seed=0):
    """A synthetic classification problem split into train (80%) and test (20%).

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    from sklearn.datasets import make_classification

    n_samples, n_features = parse_shape(shape)
    n_test = n_samples // 4
    X, y = make_classification(
        n_samples=n_samples + n_test,
        n_features=n_features,
        n_informative=max(2, n_features // 2),
        n_redundant=0,
        random_state=seed,
    )
    X = X.astype(dtype)
    return X[:n_samples], X[n_samples:], y[:n_samples], y[n_samples:]


def backends():
    """Backends to benchmark: NumPy and Numba, and CUDA where a GPU is usable."""
    import fastlr

    return [name for name in ("numpy", "numba", "cuda") if name in fastlr.available_backends()]


# Sparse (CSR) problems, used by sparse.py: text-like matrices of about
# SPARSE_NNZ_PER_ROW non-zeros per row (see sparse_classification_data). Shapes are
# "n_samples x n_features".
SPARSE_PROFILES = {
    "small": {
        "sparse_epoch_shapes": ["100000x10000"],
        "sparse_fit_shapes": ["20000x5000"],
    },
    "large": {
        "sparse_epoch_shapes": ["100000x10000", "1000000x100000"],
        "sparse_fit_shapes": ["200000x20000", "1000000x100000"],
    },
}
SPARSE_SIZES = SPARSE_PROFILES[PROFILE]
SPARSE_NNZ_PER_ROW = 30


def sparse_data(shape, dtype="float64", nnz_per_row=SPARSE_NNZ_PER_ROW, seed=0):
    """A text-like binary problem: CSR ``X`` and labels ``y`` in {0, 1}.

    Each row draws ``nnz_per_row`` column indices from a Zipf law (column ``j`` of
    rank ``r`` with probability proportional to ``1 / (r + 2.7)``, ranks spread over the
    columns by a random permutation), repeats are summed into term counts, values
    are ``count * idf`` and rows are scaled to unit L2 norm (TF-IDF). Labels come from
    a sparse linear model (5% of the columns) with 5% of them flipped.
    ``scripts/bench_sparse.py`` builds the same kind of problem at scale.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), ``dtype``
    y : ndarray of shape (n_samples,), int64
    """
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    n_samples, n_features = parse_shape(shape)
    rng = np.random.default_rng(seed)
    cdf = np.cumsum(1.0 / (np.arange(1, n_features + 1) + 2.7))
    cdf /= cdf[-1]
    column_of_rank = rng.permutation(n_features).astype(np.int32)
    n_tok = n_samples * nnz_per_row
    cols = column_of_rank[np.searchsorted(cdf, rng.random(n_tok), side="right")]
    indptr = np.arange(0, n_tok + 1, nnz_per_row, dtype=np.int64)
    X = sp.csr_matrix((np.ones(n_tok), cols, indptr), shape=(n_samples, n_features))
    X.sum_duplicates()  # term counts; sorts the indices
    df = np.bincount(X.indices, minlength=n_features)
    X.data *= (np.log((1.0 + n_samples) / (1.0 + df)) + 1.0)[X.indices]
    X = normalize(X, copy=False)
    w_true = np.zeros(n_features)
    informative = rng.choice(n_features, max(1, n_features // 20), replace=False)
    w_true[informative] = rng.standard_normal(len(informative))
    z = X @ w_true
    z = 4.0 * (z - z.mean()) / (z.std() or 1.0)
    y = (rng.random(n_samples) < 1.0 / (1.0 + np.exp(-z))).astype(np.int64)
    flip = rng.random(n_samples) < 0.05
    y[flip] = 1 - y[flip]
    return X.astype(dtype), y


def sparse_classification_data(shape, dtype="float64", seed=0):
    """:func:`sparse_data` with ``n_samples`` training rows plus a quarter as many
    test rows.

    Returns
    -------
    X_train, X_test, y_train, y_test
    """
    n_samples, n_features = parse_shape(shape)
    X, y = sparse_data(f"{n_samples + n_samples // 4}x{n_features}", dtype, seed=seed)
    return X[:n_samples], X[n_samples:], y[:n_samples], y[n_samples:]
