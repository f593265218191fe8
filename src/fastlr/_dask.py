"""Fitting and predicting on Dask arrays: the data stays where its chunks live.

``LogisticRegression.fit`` hands a Dask input to :func:`fit`. The rows of X are split
into chunks (Dask's row chunks), each held by some worker. One evaluation of the
objective is then::

    client                          workers
    ------                          -------
    W, B  --(coef-sized)-->         one task per worker, over the chunks it holds:
                                    J_c, dW_c, dB_c = kernel(X_c, y_c, s_c, W, B)
    J, grad  <--(coef-sized         for each chunk c
          partial per chunk)--
    sum of the partials, in chunk order

so X never moves, only coefficient-sized vectors cross the network, and the solver
(lbfgs, gd) runs on the client unchanged: :class:`DaskSums` fulfils the backend
contract of :mod:`fastlr.backends` (it returns the same *sums*) for
:class:`fastlr._loss.LogisticObjective`. The chunk kernel is the Numba backend's
``binary_sums`` / ``multinomial_sums`` (or the NumPy backend's, with
``backend="numpy"``). Under Dask's local schedulers (no distributed client), each chunk
is a task of its own and the partials are added in a tree (``split_every`` per node).

X, the encoded labels and the sample weights are persisted once per fit
(``client.persist`` with a distributed client, ``dask.persist`` otherwise). A worker
that dies takes its persisted chunks with it; Dask recomputes them from the graph they
were built from and the fit goes on. The partial sums are added in a fixed order and
each chunk uses the same number of threads wherever it runs, so the model does not
depend on where (or how often) a chunk was computed.

Threads
-------
Every kernel call in a task runs on ``min(n_jobs, nthreads)`` Numba threads, where
``nthreads`` is the worker's thread count (``nthreads`` itself when ``n_jobs`` is None),
and the kernel calls of one process take turns (a process-wide lock; Numba's default
"workqueue" threading layer cannot run two parallel kernels at once anyway). A fit's
evaluation sends one task to each worker; prediction tasks or a second fit's tasks
that land on the same worker wait for the kernel in turn. So a worker never runs more
compute threads than its ``nthreads``, whether it has one thread per process or many.
BLAS is held to one thread while chunk tasks run (the Numba kernels use none; the NumPy
kernels' matrix products would otherwise start their own pool in every task). Under
Dask's local schedulers (no distributed client) the chunk tasks take turns the same
way and each kernel uses ``n_jobs`` threads (None: all of Numba's).

This module imports Dask; :mod:`fastlr` imports it only when it is given a Dask input.
"""

from __future__ import annotations

import copy
import threading
import warnings

import dask
import dask.array as da
import numpy as np
from sklearn.exceptions import DataConversionWarning
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ._estimator import BALANCED_COUNTS_WEIGHTED, check_n_classes, check_weight_totals
from ._loss import LogisticObjective
from .backends import get_backend, resolve_backend_name

# Partial sums per node of the reduction tree (local schedulers).
SPLIT_EVERY = 8
# Distributed: largest total size of per-chunk partial sums sent to the client per
# evaluation (see DaskSums._per_worker_sum).
STACKED_PARTIALS_BYTES = 32 * 2**20
# Coefficients up to this size ride inside every chunk task; larger ones are sent once
# per evaluation as a separate piece of data the chunk tasks depend on.
INLINE_COEF_BYTES = 64 * 1024



# ---------------------------------------------------------------------------------
# Scheduler helpers
# ---------------------------------------------------------------------------------


def _client():
    """The default ``distributed.Client``, or None (Dask's local schedulers)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client has been started
        return None


def _compute(client, *objs):
    if client is not None:
        return tuple(client.compute(list(objs), sync=True, optimize_graph=False))
    return dask.compute(*objs, optimize_graph=False)


def _persist(client, *arrays):
    todo = [a for a in arrays if a is not None]
    done = iter(client.persist(todo) if client is not None else dask.persist(*todo))
    return tuple(None if a is None else next(done) for a in arrays)


# ---------------------------------------------------------------------------------
# What runs in the chunk tasks
# ---------------------------------------------------------------------------------

_KERNEL_LOCK = threading.Lock()  # one Numba kernel at a time in a process


class _BlasOneThread:
    """Hold BLAS to one thread while any chunk task of this process runs.

    threadpoolctl's limits are process-wide, so concurrent tasks share one limit: the
    first task to enter sets it, the last to leave restores the original.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._active = 0
        self._controller = None
        self._limiter = None

    def __enter__(self):
        with self._lock:
            if self._active == 0:
                if self._controller is None:
                    from threadpoolctl import ThreadpoolController

                    self._controller = ThreadpoolController()
                self._limiter = self._controller.limit(limits=1, user_api="blas")
            self._active += 1
        return self

    def __exit__(self, *exc):
        with self._lock:
            self._active -= 1
            if self._active == 0:
                self._limiter.restore_original_limits()
                self._limiter = None
        return False


_BLAS_ONE_THREAD = _BlasOneThread()


def _worker_nthreads():
    """``nthreads`` of the Dask worker running this task, or None off a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return None
    n = getattr(getattr(worker, "state", None), "nthreads", None)
    if n is None:
        n = getattr(worker, "nthreads", None)
    return int(n) if n else None


def task_threads(n_jobs):
    """Numba threads for one chunk kernel here (see "Threads" in the module docstring).

    n_jobs : int or None
        The estimator's ``n_jobs`` (None: no limit of its own).
    """
    nthreads = _worker_nthreads()
    if nthreads is None:
        return n_jobs
    return nthreads if n_jobs is None else max(1, min(int(n_jobs), nthreads))


class _chunk_context:
    """BLAS held to one thread, the kernel lock where the kernel is Numba's; yields the
    Numba thread count."""

    def __init__(self, kernel, n_jobs):
        self.kernel = kernel
        self.n_jobs = n_jobs

    def __enter__(self):
        _BLAS_ONE_THREAD.__enter__()
        self.locked = self.kernel != "numpy"
        if self.locked:
            _KERNEL_LOCK.acquire()
        return task_threads(self.n_jobs)

    def __exit__(self, *exc):
        try:
            if self.locked:
                _KERNEL_LOCK.release()
        finally:
            _BLAS_ONE_THREAD.__exit__(*exc)
        return False


def _chunks_sums(kernel, n_jobs, Xs, ys, ss, W, B, stack=True):
    """The sums of each of a list of row chunks, packed for adding up.

    Xs  # IN list of (n_rows, n_features) chunks
    ys  # IN list of (n_rows,): {0, 1} in X's dtype (binary) or class indices
    ss  # IN list of (n_rows,) sample weights, or None
    W  # IN (n_classes or 1, n_features) float64; B  # IN (n_classes or 1,) float64
    out  # OUT (len(Xs), n_classes or 1, n_features + 2) float64: [dW, dB, J] per
         # chunk, J in row 0; with stack=False, their sum in chunk order, (1, ...)
    """
    backend = get_backend(kernel)
    k, p = W.shape
    out = np.zeros((len(Xs), k, p + 2))
    with _chunk_context(kernel, n_jobs) as n_threads:
        for c, X in enumerate(Xs):
            X = np.ascontiguousarray(X)
            s = None if ss is None else ss[c]
            if k == 1:
                J, dw, db = backend.binary_sums(X, ys[c], s, W[0], B[0],
                                                n_threads=n_threads)
                out[c, 0, :p] = dw
                out[c, 0, p] = db
            else:
                J, dW, dB = backend.multinomial_sums(X, ys[c], s, W, B,
                                                     n_threads=n_threads)
                out[c, :, :p] = dW
                out[c, :, p] = dB
            out[c, 0, p + 1] = J
    return out if stack else _add(*out)[None]


def _chunk_sums(kernel, n_jobs, X, y, s, W, B):
    """:func:`_chunks_sums` of one chunk: (n_classes or 1, n_features + 2)."""
    return _chunks_sums(kernel, n_jobs, [X], [y], None if s is None else [s], W, B)[0]


def _add(*parts):
    """Sum of partials, in argument order (so the result never depends on timing)."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _encode_chunk(y, classes, binary, dtype):
    """Labels -> class indices (multinomial) or {0, 1} in X's dtype (binary)."""
    idx = np.searchsorted(classes, y)
    return (idx == 1).astype(dtype) if binary else idx.astype(np.intp)


def _take_chunk(idx, values):
    return values[np.asarray(idx, dtype=np.intp)]


def _linear_predict_chunk(X, kernel, n_jobs, W, B):
    with _chunk_context(kernel, n_jobs) as n_threads:
        return get_backend(kernel).linear_predict(np.ascontiguousarray(X), W, B,
                                                  n_threads=n_threads)


def _predict_chunk(X, est, method):
    est = copy.copy(est)
    with _chunk_context(getattr(est, "backend", "auto"), est._n_threads()) as n_threads:
        est.n_jobs = n_threads
        return getattr(est, method)(X)


# ---------------------------------------------------------------------------------
# The backend on Dask arrays
# ---------------------------------------------------------------------------------


def _flat(keys):
    """Nested lists of chunk keys (tuples) -> one flat list, in chunk order."""
    if isinstance(keys, list):
        return [k for sub in keys for k in _flat(sub)]
    return [keys]


class _Chunks:
    """The row chunks of a persisted Dask array: Futures with a distributed client,
    Delayed objects otherwise."""

    def __init__(self, a, client):
        self.array = a  # holds the persisted chunks for as long as the fit runs
        self.sizes = a.chunks[0]
        if client is None:
            self.blocks = list(a.to_delayed().ravel())
            return
        from distributed import futures_of

        by_key = {f.key: f for f in futures_of(a)}
        self.keys = _flat(a.__dask_keys__())
        self.blocks = [by_key[k] for k in self.keys]


class DaskSums:
    """The backend contract (``binary_sums``, ``multinomial_sums``, ``linear_predict``)
    on Dask arrays chunked along rows.

    Parameters
    ----------
    kernel : {"numba", "numpy"}
        The in-memory backend each chunk task calls.
    client : distributed.Client or None
        None: Dask's local scheduler.
    n_jobs : int or None
        Most Numba threads per chunk kernel (also bounded by the worker's threads).
    split_every : int
        Partial sums added per node of the reduction tree.
    """

    NAME = "dask"

    def __init__(self, kernel="numba", client=None, n_jobs=None, split_every=SPLIT_EVERY):
        self.kernel = kernel
        self.client = client
        self.n_jobs = n_jobs
        self.split_every = max(2, int(split_every))

    def prepare(self, X, y, sample_weight):
        """Wrap the (already persisted) arrays as lists of chunks, once per fit."""
        c = self.client
        return (_Chunks(X, c), _Chunks(y, c),
                None if sample_weight is None else _Chunks(sample_weight, c))

    def _reduce(self, X, y, s, W, B):
        W = np.ascontiguousarray(W, dtype=np.float64)
        B = np.ascontiguousarray(B, dtype=np.float64)
        live = [i for i, n in enumerate(X.sizes) if n > 0]
        if self.client is None:
            return self._tree_sum(live, X, y, s, W, B)
        return self._per_worker_sum(live, X, y, s, W, B)

    def _tree_sum(self, live, X, y, s, W, B):
        """Local schedulers: one task per chunk, then a tree of additions."""
        if W.nbytes > INLINE_COEF_BYTES:
            W = dask.delayed(W)
        task = dask.delayed(_chunk_sums, pure=True)
        parts = [task(self.kernel, self.n_jobs, X.blocks[i], y.blocks[i],
                      None if s is None else s.blocks[i], W, B) for i in live]
        add = dask.delayed(_add, pure=True)
        while len(parts) > self.split_every:
            parts = [add(*parts[i : i + self.split_every])
                     for i in range(0, len(parts), self.split_every)]
        return _add(*_compute(None, *parts))  # the tree's root

    def _per_worker_sum(self, live, X, y, s, W, B):
        """Distributed: one task per worker, over the chunks that worker holds.

        The scheduler spends about a millisecond per task, so one task per chunk and
        evaluation would cost more than the kernels on chunks of a few tens of MB. Each
        task returns its chunks' partial sums one by one and the client adds them in
        chunk order, so the result does not depend on which worker holds which chunk
        (or on a worker dying and its chunks being recomputed elsewhere). Past
        STACKED_PARTIALS_BYTES of partials in all, each task adds up its own chunks
        first, and the last bits of the sums then follow the placement.
        """
        client = self.client
        stack = len(live) * W.shape[0] * (W.shape[1] + 2) * 8 <= STACKED_PARTIALS_BYTES
        holders = client.who_has([X.blocks[i] for i in live])
        groups = {}
        for i in live:
            where = holders.get(X.keys[i]) or (None,)  # None: lost, being recomputed
            groups.setdefault(where[0], []).append(i)
        if W.nbytes > INLINE_COEF_BYTES:
            W = client.scatter(W, broadcast=True, hash=False)
        futures = [
            client.submit(
                _chunks_sums, self.kernel, self.n_jobs,
                [X.blocks[i] for i in idx], [y.blocks[i] for i in idx],
                None if s is None else [s.blocks[i] for i in idx], W, B, stack,
                workers=None if addr is None else [addr], allow_other_workers=True,
                pure=False,
            )
            for addr, idx in groups.items()
        ]
        parts = {}
        for idx, out in zip(groups.values(), client.gather(futures)):
            parts.update(zip(idx, out) if stack else [(idx[0], out[0])])
        return _add(*(parts[i] for i in sorted(parts)))

    # n_threads is the contract's argument; the chunk tasks use n_jobs and the
    # worker's threads instead (see "Threads" above).

    def binary_sums(self, X, y, sample_weight, w, b, n_threads=None):
        total = self._reduce(X, y, sample_weight, np.reshape(w, (1, -1)), [b])
        p = total.shape[1] - 2
        return float(total[0, p + 1]), total[0, :p].copy(), float(total[0, p])

    def multinomial_sums(self, X, y, sample_weight, W, B, n_threads=None):
        total = self._reduce(X, y, sample_weight, W, B)
        p = total.shape[1] - 2
        return float(total[0, p + 1]), total[:, :p].copy(), total[:, p].copy()

    def linear_predict(self, X, W, B, n_threads=None):
        """Lazy ``X W^T + B`` of shape (n_samples, n_classes), in X's dtype."""
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        B = np.atleast_1d(np.asarray(B, dtype=np.float64))
        return X.map_blocks(_linear_predict_chunk, self.kernel, self.n_jobs, W, B,
                            chunks=(X.chunks[0], (W.shape[0],)),
                            meta=np.empty((0, 0), dtype=X.dtype))


# ---------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------


def _as_dask_array(a, name):
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


def _check_X(X, n_features=None):
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


def _check_rows(a, name, X, dtype=None):
    """y or sample_weight as a 1-D Dask array with X's row chunks."""
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


def _class_weights(class_weight, classes, counts):
    """Per-class weights as :func:`sklearn.utils.class_weight.compute_class_weight`,
    from per-class (weighted) counts instead of the labels."""
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = np.asarray(counts, dtype=np.float64)
        return counts.sum() / (len(classes) * counts)
    return compute_class_weight(class_weight, classes=classes, y=classes)


# ---------------------------------------------------------------------------------
# Estimator hooks
# ---------------------------------------------------------------------------------


def fit(est, X, y, sample_weight=None):
    """``est.fit`` for Dask inputs: the same checks and the same model as in memory."""
    client = _client()
    X = _check_X(X)
    n_samples, n_features = X.shape
    y = _check_rows(y, "y", X)
    sw = None if sample_weight is None else _check_rows(sample_weight, "sample_weight",
                                                       X, X.dtype)
    kernel = "numba" if est.backend == "auto" else est.backend
    if kernel == "cuda":
        raise ValueError("backend='cuda' does not run on Dask arrays; use 'auto', "
                         "'numba' or 'numpy'.")
    kernel = resolve_backend_name(kernel)

    # X stays in the workers' memory for the whole fit (persist returns at once with a
    # client); the classes and the checks that need no classes share one pass.
    (X,) = _persist(client, X)
    first = [*da.unique(y, return_counts=True), da.isfinite(X).all()]
    if sw is not None:
        first += [da.isfinite(sw).all(), (sw < 0).any()]
    classes, counts, X_finite, *sw_checks = _compute(client, *first)
    if not X_finite:
        raise ValueError("Input X contains NaN or infinity.")
    if sw is not None:
        if not sw_checks[0]:
            raise ValueError("Input sample_weight contains NaN or infinity.")
        if sw_checks[1]:
            raise ValueError("sample_weight must be non-negative; got negative weights.")
    check_classification_targets(classes)  # names y if it holds NaN
    check_n_classes(classes)
    n_classes = len(classes)

    # Labels -> targets per chunk, class weights folded into the sample weights.
    binary = n_classes == 2
    meta = np.empty((0,), dtype=X.dtype if binary else np.intp)
    target = y.map_blocks(_encode_chunk, classes, binary, X.dtype, meta=meta)
    y_idx = target.astype(np.intp) if binary else target
    if est.class_weight is not None:
        if sw is not None and BALANCED_COUNTS_WEIGHTED and est.class_weight == "balanced":
            (counts,) = _compute(client, da.bincount(y_idx, weights=sw,
                                                     minlength=n_classes))
        cw = np.asarray(_class_weights(est.class_weight, classes, counts), dtype=X.dtype)
        cw_rows = y_idx.map_blocks(_take_chunk, cw, meta=np.empty((0,), dtype=X.dtype))
        sw = cw_rows if sw is None else sw * cw_rows
    target, sw = _persist(client, target, sw)

    sw_sum = float(n_samples)
    if sw is not None:
        y_idx = target.astype(np.intp) if binary else target
        sw_sum, per_class = _compute(client, da.sum(sw, dtype=np.float64),
                                     da.bincount(y_idx, weights=sw, minlength=n_classes))
        sw_sum = float(sw_sum)
        check_weight_totals(sw_sum, per_class, classes)

    est.classes_ = classes
    C = float(est.C)
    l2 = 0.0 if np.isinf(C) else 1.0 / (C * sw_sum)
    n_jobs = est._n_threads()
    backend = DaskSums(kernel, client, n_jobs)
    objective = LogisticObjective(backend, X, target, sw, n_classes, est.fit_intercept,
                                  l2, n_jobs)
    est._solve(objective, X, sw, l2)
    est.n_features_in_ = n_features
    if hasattr(est, "feature_names_in_"):
        del est.feature_names_in_
    est.backend_ = f"dask+{kernel}"
    return est


def predict(est, method, X):
    """``est.<method>(X)`` for a Dask array X: a lazy Dask array, one task per row chunk.

    method : {"decision_function", "predict_proba", "predict_log_proba", "predict"}
    """
    check_is_fitted(est)
    X = _check_X(X, est.n_features_in_)
    n_classes = len(est.classes_)
    if method == "predict":
        kwargs = {"drop_axis": 1, "meta": np.empty((0,), dtype=est.classes_.dtype)}
    elif method == "decision_function" and est.coef_.shape[0] == 1:
        kwargs = {"drop_axis": 1, "meta": np.empty((0,), dtype=X.dtype)}
    else:
        kwargs = {"chunks": (X.chunks[0], (n_classes,)),
                  "meta": np.empty((0, 0), dtype=X.dtype)}
    return X.map_blocks(_predict_chunk, est, method, **kwargs)
