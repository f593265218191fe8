"""Any accepted input -> what the objective needs, with the checks every kind shares.

Three kinds of X reach :class:`fastlr.LogisticRegression`:

``"dense"``
    anything array-like; becomes a C-contiguous float32/float64 ndarray (float32
    stays float32, a C-contiguous float array is not copied);
``"csr"``
    any ``scipy.sparse`` matrix or array; becomes CSR (other formats are converted
    once, as scikit-learn does), never dense. Its structure (``indptr``, ``indices``)
    is checked here, once, because the kernels read it without bounds checks;
``"dask"``
    a Dask array chunked along rows, each chunk dense or CSR; checked and persisted
    in one pass over the chunks, which stay where they are.

:func:`fit_data` returns a :class:`FitData`: X in its kernel form, the targets the
kernels take (0/1 in X's dtype for two classes, class indices otherwise, never a
one-hot matrix), the sample weights with the class weights folded in, the classes and
the weight total. The checks that do not depend on the kind (labels of fewer than two
classes, weight totals, class weights) are written once, below, for every kind.

NaN and infinity in an in-memory X are not searched for here: that would read X
once more per fit. The first loss evaluation finds them (every gradient entry turns
non-finite) and :func:`fastlr._loss.input_error` then names the problem.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.extmath import row_norms
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _assert_all_finite,
    _check_sample_weight,
    column_or_1d,
    validate_data,
)

from ._loss import input_error

# "balanced" class weights count weighted samples where scikit-learn can (>= 1.6),
# as scikit-learn's own LogisticRegression does; every input kind uses it.
BALANCED_COUNTS_WEIGHTED = "sample_weight" in inspect.signature(
    compute_class_weight
).parameters

_FLOATS = [np.float64, np.float32]


# ---------------------------------------------------------------------------------
# Kinds of input
# ---------------------------------------------------------------------------------


def is_dask(X):
    """True for a Dask collection; never imports Dask (without it, nothing changes)."""
    graph = getattr(X, "__dask_graph__", None) if "dask" in sys.modules else None
    return callable(graph) and graph() is not None


def input_kind(X):
    """``"dask"``, ``"csr"`` or ``"dense"`` for an X already in its kernel form."""
    if is_dask(X):
        return "dask"
    return "csr" if sp.issparse(X) else "dense"


def n_elements(X):
    """The number of stored values of X: what one epoch reads."""
    return X.nnz if sp.issparse(X) else X.shape[0] * X.shape[1]


def check_csr(X):
    """The structure of a CSR X, checked before any kernel reads it unchecked."""
    from ._sparse_checks import check_csr_structure

    check_csr_structure(X)
    return X


def mean_row_sq_norm(X, sample_weight=None):
    """The (weighted) mean of ``||x_i||^2`` over the rows of any kind of X, a float.

    A pass over X, made only where it is needed (``solver="gd"``'s automatic step).
    """
    if is_dask(X):
        from .backends.dask_backend import client, compute

        sq = X.map_blocks(_row_sq_norms, drop_axis=1, dtype=np.float64,
                          meta=np.empty((0,), dtype=np.float64))
        if sample_weight is None:
            (total,) = compute(client(), sq.sum())
            return float(total) / X.shape[0]
        total, weight = compute(client(), (sq * sample_weight).sum(),
                                sample_weight.sum(dtype=np.float64))
        return float(total) / float(weight)
    return float(np.average(_row_sq_norms(X), weights=sample_weight))


def _row_sq_norms(X):
    """``||x_i||^2`` of every row of an in-memory X (dense or sparse), float64."""
    if sp.issparse(X):
        X = X.tocsr()
        return row_norms(X.astype(np.float64, copy=False), squared=True)
    return np.einsum("ij,ij->i", X, X, dtype=np.float64)


# ---------------------------------------------------------------------------------
# Checks shared by every kind
# ---------------------------------------------------------------------------------


def _label(classes, i):
    """classes[i] as a plain Python value (for messages)."""
    return classes[i : i + 1].tolist()[0]


def check_n_classes(classes):
    """Error for labels of fewer than two classes."""
    if len(classes) < 2:
        raise ValueError(
            "LogisticRegression needs samples of at least 2 classes in the data, "
            f"but the data contains only one class: {_label(classes, 0)!r}."
        )


def check_weight_totals(sw_sum, class_totals, classes):
    """Errors for sample weights that leave nothing, or one class, to fit.

    sw_sum  # IN float: the sum of the (class-weighted) sample weights
    class_totals  # IN (n_classes,): the same sum per class
    """
    if not np.isfinite(sw_sum):
        raise ValueError("The sum of sample weights overflows; rescale sample_weight.")
    if sw_sum <= 0:
        raise ValueError("The sum of sample weights is zero: nothing to fit.")
    weighted = np.asarray(class_totals) > 0
    if weighted.sum() < 2:
        raise ValueError(
            "Only one class has positive sample weight (class "
            f"{_label(classes, int(np.argmax(weighted)))!r}); at least 2 classes are needed."
        )


def class_weights(class_weight, classes, counts):
    """Per-class weights as :func:`sklearn.utils.class_weight.compute_class_weight`,
    from the per-class (weighted) counts instead of the labels themselves.

    counts  # IN (n_classes,): samples (or, where scikit-learn does so, the sample
            # weights) per class
    """
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.asarray(counts, dtype=np.float64)
        return counts.sum() / (len(classes) * counts)
    return compute_class_weight(class_weight, classes=classes, y=classes)


def _counts_weighted(class_weight, sw):
    """Whether "balanced" counts the sample weights (where scikit-learn does so)."""
    return (sw is not None and BALANCED_COUNTS_WEIGHTED
            and isinstance(class_weight, str))


def classes_and_index(y):
    """``np.unique(y)`` and each label's index in it (intp).

    Integer labels in a range no wider than the number of labels (the usual 0..K-1
    case) are counted with ``bincount``, one pass, instead of hashing them for the
    classes and searching for the index.
    """
    if y.dtype.kind in "iu" and y.size:
        lo, hi = int(y.min()), int(y.max())
        if hi - lo < max(1024, y.size) and -(2**62) < lo and hi < 2**62:
            offset = y.astype(np.intp) - lo  # in intp: no wrap-around of small types
            present = np.bincount(offset) > 0
            classes = (np.flatnonzero(present) + lo).astype(y.dtype)
            return classes, (np.cumsum(present) - 1)[offset]
    classes = np.unique(y)
    return classes, np.searchsorted(classes, y).astype(np.intp, copy=False)


def encode_targets(y, classes, dtype):
    """Labels -> 0/1 in ``dtype`` (two classes) or integer class indices (more)."""
    idx = np.searchsorted(classes, y)
    return (idx == 1).astype(dtype) if len(classes) == 2 else idx.astype(np.intp)


# ---------------------------------------------------------------------------------
# The result
# ---------------------------------------------------------------------------------


@dataclass
class FitData:
    """What the objective needs, for any kind of input.

    X : ndarray, CSR matrix or Dask array of shape (n_samples, n_features)
    target : (n_samples,) 0/1 in X's dtype (two classes) or class indices
    sample_weight : (n_samples,) in X's dtype, class weights folded in, or None
    classes : ndarray of shape (n_classes,)
    sw_sum : float, the total sample weight (n_samples without weights)
    kind : "dense", "csr" or "dask"
    """

    X: object
    target: object
    sample_weight: object
    classes: np.ndarray
    sw_sum: float
    kind: str

    @property
    def n_classes(self):
        return len(self.classes)

    @property
    def n_features(self):
        return self.X.shape[1]

    @property
    def dtype(self):
        return self.X.dtype


def fit_data(est, X, y, sample_weight=None):
    """Check ``X, y, sample_weight`` for ``est.fit`` and turn them into a
    :class:`FitData`. Sets ``est.n_features_in_`` (and ``feature_names_in_``) as
    scikit-learn's ``validate_data`` does."""
    if is_dask(X):
        return _dask_fit_data(est, X, y, sample_weight)
    X, y = validate_data(
        est, X, y, accept_sparse="csr", dtype=_FLOATS, order="C",
        ensure_all_finite=False, y_numeric=False, accept_large_sparse=True,
    )
    if sp.issparse(X):
        check_csr(X)
    y = column_or_1d(y, warn=True)
    if y.dtype.kind in "fc":
        _assert_all_finite(y, input_name="y")
    if y.dtype.kind not in "iu":  # integer labels in 1-D are always valid classes
        check_classification_targets(y)
    classes, idx = classes_and_index(y)
    check_n_classes(classes)
    n_classes = len(classes)
    target = (idx == 1).astype(X.dtype) if n_classes == 2 else idx

    sw = None
    if sample_weight is not None:
        sw = _check_sample_weight(sample_weight, X, dtype=X.dtype)
        if np.any(sw < 0):
            raise ValueError("sample_weight must be non-negative; got negative weights.")
    if est.class_weight is not None:
        weights = sw if _counts_weighted(est.class_weight, sw) else None
        counts = np.bincount(idx, weights=weights, minlength=n_classes)
        cw = np.asarray(class_weights(est.class_weight, classes, counts), dtype=X.dtype)
        sw = cw[idx] if sw is None else sw * cw[idx]
    sw_sum = float(X.shape[0])
    if sw is not None:
        sw_sum = float(np.sum(sw, dtype=np.float64))
        check_weight_totals(sw_sum, np.bincount(idx, weights=sw, minlength=n_classes),
                            classes)
    return FitData(X, target, sw, classes, sw_sum, input_kind(X))


def predict_data(est, X):
    """X checked for prediction with a fitted ``est``: same kinds as :func:`fit_data`,
    NaN/inf rejected (prediction reads X once anyway)."""
    if is_dask(X):
        return _dask_X(X, est.n_features_in_)
    X = validate_data(est, X, accept_sparse="csr", dtype=_FLOATS, order="C",
                      ensure_all_finite=True, reset=False, accept_large_sparse=True)
    return check_csr(X) if sp.issparse(X) else X


# ---------------------------------------------------------------------------------
# Dask arrays (Dask is imported only here, and only for Dask input)
# ---------------------------------------------------------------------------------


def _as_dask_array(a, name):
    import dask.array as da

    if hasattr(a, "to_dask_array"):  # a Dask DataFrame or Series
        a = a.to_dask_array(lengths=True)
    if not isinstance(a, da.Array):
        raise TypeError(f"{name} must be a Dask array; got {type(a).__name__}.")
    if any(np.isnan(c) for dim in a.chunks for c in dim):
        raise ValueError(
            f"{name} has unknown chunk sizes; call {name}.compute_chunk_sizes() (or "
            "to_dask_array(lengths=True) on a DataFrame) before fitting."
        )
    return a


def _dask_X(X, n_features=None):
    X = _as_dask_array(X, "X")
    if X.ndim != 2:
        raise ValueError(f"Expected a 2-D array for X; got {X.ndim} dimension(s).")
    n_samples, p = X.shape
    if n_samples == 0 or p == 0:
        raise ValueError(f"Found array with shape {X.shape}; at least 1 sample and 1 "
                         "feature are needed.")
    if n_features is not None and p != n_features:
        raise ValueError(f"X has {p} features, but LogisticRegression is expecting "
                         f"{n_features} features as input.")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    if len(X.chunks[1]) > 1:
        warnings.warn(
            f"X is chunked along its columns ({len(X.chunks[1])} column chunks); "
            "fastlr needs whole rows in every chunk and rechunks X to one column chunk. "
            "Chunk X along rows only (e.g. chunks=(100_000, -1)) to avoid this copy.",
            UserWarning,
            stacklevel=5,
        )
        X = X.rechunk({1: -1})
    return X


def _dask_rows(a, name, X, dtype=None):
    """y or sample_weight as a 1-D Dask array with X's row chunks."""
    import dask.array as da

    n = X.shape[0]
    if a is not None and not hasattr(a, "__dask_graph__"):
        a = np.asarray(a)
        if a.ndim == 0 and name == "sample_weight":
            a = np.full(n, a, dtype=dtype)
        a = da.from_array(a, chunks=(X.chunks[0],) + a.shape[1:])
    a = _as_dask_array(a, name)
    if a.ndim == 2 and a.shape[1] == 1:
        warnings.warn(f"A column-vector {name} was passed when a 1d array was expected.",
                      DataConversionWarning, stacklevel=5)
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D; got shape {a.shape}.")
    if a.shape[0] != n:
        raise ValueError(f"Found input variables with inconsistent numbers of samples: "
                         f"X has {n} rows, {name} has {a.shape[0]}.")
    if dtype is not None and a.dtype != dtype:
        a = a.astype(dtype)
    if a.chunks[0] != X.chunks[0]:
        a = a.rechunk((X.chunks[0],))
    return a


def _chunk_check(X):
    """True if a chunk of X holds only finite values; a CSR chunk's structure is
    checked too (a ValueError raised here reaches the caller of ``fit``)."""
    if sp.issparse(X):
        X = check_csr(X.tocsr())
    return input_error(X) is None


def _dask_fit_data(est, X, y, sample_weight):
    """:func:`fit_data` for Dask input: X persisted, the checks that need no classes
    and the classes themselves found in one pass over the chunks."""
    import dask
    import dask.array as da

    from .backends.dask_backend import client, compute, persist

    c = client()
    X = _dask_X(X)
    n_samples = X.shape[0]
    y = _dask_rows(y, "y", X)
    sw = None if sample_weight is None else _dask_rows(sample_weight, "sample_weight",
                                                      X, X.dtype)
    (X,) = persist(c, X)
    chunk_ok = [dask.delayed(_chunk_check, pure=True)(b) for b in X.to_delayed().ravel()]
    first = [*da.unique(y, return_counts=True), *chunk_ok]
    if sw is not None:
        first += [da.isfinite(sw).all(), (sw < 0).any()]
    n_chunks = len(chunk_ok)
    classes, counts, *rest = compute(c, *first)
    if not all(rest[:n_chunks]):
        raise ValueError("Input X contains NaN or infinity.")
    if sw is not None:
        sw_finite, sw_negative = rest[n_chunks:]
        if not sw_finite:
            raise ValueError("Input sample_weight contains NaN or infinity.")
        if sw_negative:
            raise ValueError("sample_weight must be non-negative; got negative weights.")
    check_classification_targets(classes)  # names y if it holds NaN
    check_n_classes(classes)
    n_classes = len(classes)

    # Labels -> targets per chunk, class weights folded into the sample weights.
    meta = np.empty((0,), dtype=X.dtype if n_classes == 2 else np.intp)
    target = y.map_blocks(encode_targets, classes, X.dtype, meta=meta)
    idx = target.astype(np.intp) if n_classes == 2 else target
    if est.class_weight is not None:
        if _counts_weighted(est.class_weight, sw):
            (counts,) = compute(c, da.bincount(idx, weights=sw, minlength=n_classes))
        cw = np.asarray(class_weights(est.class_weight, classes, counts), dtype=X.dtype)
        cw_rows = idx.map_blocks(_take, cw, meta=np.empty((0,), dtype=X.dtype))
        sw = cw_rows if sw is None else sw * cw_rows
    target, sw = persist(c, target, sw)

    sw_sum = float(n_samples)
    if sw is not None:
        idx = target.astype(np.intp) if n_classes == 2 else target
        sw_sum, per_class = compute(c, da.sum(sw, dtype=np.float64),
                                    da.bincount(idx, weights=sw, minlength=n_classes))
        sw_sum = float(sw_sum)
        check_weight_totals(sw_sum, per_class, classes)
    est.n_features_in_ = X.shape[1]
    if hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    return FitData(X, target, sw, classes, sw_sum, "dask")


def _take(idx, values):
    return values[np.asarray(idx, dtype=np.intp)]
