"""The backend contract on Dask arrays: the data stays where its chunks live.

:func:`fastlr._data.fit_data` checks and persists a Dask input; the registry
(:func:`fastlr.backends.backend_for`) then hands the objective a :class:`DaskSums`.
The rows of X are split into chunks (Dask's row chunks), each held by some worker and
each a dense ndarray or a ``scipy.sparse`` CSR matrix. One evaluation of the
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

Newton's method asks for ``binary_hessian_sums`` / ``multinomial_hessian_sums``
instead, computed the same way (the in-memory backend's function of the same name on
each chunk, partials added in chunk order): each partial then carries the Hessian too,
``n_coef x n_coef`` float64 (``n_coef = n_classes * (n_features + fit_intercept)``,
or ``n_features + fit_intercept`` for the binary loss): with a distributed client,
each Newton iteration sends one such matrix per chunk (past ``STACKED_PARTIALS_BYTES``
in all, one per worker) to the client, where an lbfgs evaluation sends a vector.

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
It never imports the estimator: the chunk functions below take arrays and
coefficients, and the estimator turns the lazy scores of :meth:`DaskSums.linear_predict`
into probabilities or labels itself.
"""

from __future__ import annotations

import threading

import dask
import numpy as np
import scipy.sparse as sp

from ._registry import get_backend

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


def client():
    """The default ``distributed.Client``, or None (Dask's local schedulers)."""
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:  # no client has been started
        return None


def compute(client, *objs):
    if client is not None:
        return tuple(client.compute(list(objs), sync=True, optimize_graph=False))
    return dask.compute(*objs, optimize_graph=False)


def persist(client, *arrays):
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


def _partial_shape(W, hessian):
    """Shape of one chunk's packed sums (see :func:`_chunks_sums`)."""
    k, p = W.shape
    if hessian is None:
        return (k, p + 2)
    n = k * (p + int(hessian))  # the Hessian is n x n
    return (1 + k * (p + 1) + n * n,)


def _chunks_sums(kernel, n_jobs, Xs, ys, ss, W, B, stack=True, hessian=None):
    """The sums of each of a list of row chunks, packed for adding up.

    Xs  # IN list of (n_rows, n_features) chunks
    ys  # IN list of (n_rows,): {0, 1} in X's dtype (binary) or class indices
    ss  # IN list of (n_rows,) sample weights, or None
    W  # IN (n_classes or 1, n_features) float64; B  # IN (n_classes or 1,) float64
    hessian  # IN None (loss and gradient), or fit_intercept (bool): with the Hessian
    out  # OUT (len(Xs),) + _partial_shape(W, hessian) float64, per chunk:
         # hessian None: (n_classes or 1, n_features + 2), [dW, dB, J], J in row 0;
         # else flat [J, dW.ravel(), dB, H.ravel()];
         # with stack=False, their sum in chunk order, (1, ...)
    """
    backend = get_backend(kernel)
    k, p = W.shape
    out = np.zeros((len(Xs),) + _partial_shape(W, hessian))
    with _chunk_context(kernel, n_jobs) as n_threads:
        for c, X in enumerate(Xs):
            X = as_kernel_input(X)
            s = None if ss is None else ss[c]
            if hessian is not None:
                _pack_hessian(backend, X, ys[c], s, W, B, hessian, n_threads, out[c])
                continue
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


def _pack_hessian(backend, X, y, s, W, B, fit_intercept, n_threads, out):
    """out[:] = [J, dW.ravel(), dB, H.ravel()] of one chunk (binary: k = 1)."""
    k, p = W.shape
    if k == 1:
        J, dW, dB, H = backend.binary_hessian_sums(X, y, s, W[0], B[0], fit_intercept,
                                                   n_threads=n_threads)
    else:
        J, dW, dB, H = backend.multinomial_hessian_sums(X, y, s, W, B, fit_intercept,
                                                        n_threads=n_threads)
    out[0] = J
    out[1:1 + k * p] = np.ravel(dW)
    out[1 + k * p:1 + k * (p + 1)] = dB
    out[1 + k * (p + 1):] = np.ravel(H)


def _unpack_hessian(total, k, p, fit_intercept):
    """(J, dW, dB, H) from a sum of :func:`_pack_hessian` vectors; dW (k, p)."""
    n = k * (p + int(fit_intercept))
    return (float(total[0]), total[1:1 + k * p].reshape(k, p).copy(),
            total[1 + k * p:1 + k * (p + 1)].copy(),
            total[1 + k * (p + 1):].reshape(n, n).copy())


def _chunk_sums(kernel, n_jobs, X, y, s, W, B, hessian=None):
    """:func:`_chunks_sums` of one chunk."""
    return _chunks_sums(kernel, n_jobs, [X], [y], None if s is None else [s], W, B,
                        hessian=hessian)[0]


def _add(*parts):
    """Sum of partials, in argument order (so the result never depends on timing)."""
    total = parts[0].copy()
    for part in parts[1:]:
        total += part
    return total


def _linear_predict_chunk(X, kernel, n_jobs, W, B):
    with _chunk_context(kernel, n_jobs) as n_threads:
        return get_backend(kernel).linear_predict(as_kernel_input(X), W, B,
                                                  n_threads=n_threads)


def as_kernel_input(X):
    """A chunk as the in-memory kernels take it: CSR stays CSR (other sparse formats
    become CSR), anything else a C-contiguous ndarray."""
    if sp.issparse(X):
        return X if X.format == "csr" else X.tocsr()
    return np.ascontiguousarray(X)


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
    """The backend contract (``binary_sums``, ``multinomial_sums``, their
    ``*_hessian_sums`` and ``linear_predict``) on Dask arrays chunked along rows, the
    chunks dense or CSR.

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

    def _reduce(self, X, y, s, W, B, hessian=None):
        """The chunks' packed sums (:func:`_chunks_sums`), added in chunk order."""
        W = np.ascontiguousarray(W, dtype=np.float64)
        B = np.ascontiguousarray(B, dtype=np.float64)
        live = [i for i, n in enumerate(X.sizes) if n > 0]
        if self.client is None:
            return self._tree_sum(live, X, y, s, W, B, hessian)
        return self._per_worker_sum(live, X, y, s, W, B, hessian)

    def _tree_sum(self, live, X, y, s, W, B, hessian):
        """Local schedulers: one task per chunk, then a tree of additions."""
        if W.nbytes > INLINE_COEF_BYTES:
            W = dask.delayed(W)
        task = dask.delayed(_chunk_sums, pure=True)
        parts = [task(self.kernel, self.n_jobs, X.blocks[i], y.blocks[i],
                      None if s is None else s.blocks[i], W, B, hessian) for i in live]
        add = dask.delayed(_add, pure=True)
        while len(parts) > self.split_every:
            parts = [add(*parts[i : i + self.split_every])
                     for i in range(0, len(parts), self.split_every)]
        return _add(*compute(None, *parts))  # the tree's root

    def _per_worker_sum(self, live, X, y, s, W, B, hessian):
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
        size = int(np.prod(_partial_shape(W, hessian)))
        stack = len(live) * size * 8 <= STACKED_PARTIALS_BYTES
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
                hessian, workers=None if addr is None else [addr],
                allow_other_workers=addr is not None, pure=False,  # None: anywhere
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

    def binary_hessian_sums(self, X, y, sample_weight, w, b, fit_intercept=True,
                            n_threads=None):
        total = self._reduce(X, y, sample_weight, np.reshape(w, (1, -1)), [b],
                             hessian=bool(fit_intercept))
        J, dw, db, H = _unpack_hessian(total, 1, np.size(w), fit_intercept)
        return J, dw[0], float(db[0]), H

    def multinomial_hessian_sums(self, X, y, sample_weight, W, B, fit_intercept=True,
                                 n_threads=None):
        k, p = np.shape(W)
        total = self._reduce(X, y, sample_weight, W, B, hessian=bool(fit_intercept))
        return _unpack_hessian(total, k, p, fit_intercept)

    def linear_predict(self, X, W, B, n_threads=None):
        """Lazy ``X W^T + B`` of shape (n_samples, n_classes), dense, in X's dtype."""
        W = np.atleast_2d(np.asarray(W, dtype=np.float64))
        B = np.atleast_1d(np.asarray(B, dtype=np.float64))
        return X.map_blocks(_linear_predict_chunk, self.kernel, self.n_jobs, W, B,
                            chunks=(X.chunks[0], (W.shape[0],)),
                            meta=np.empty((0, 0), dtype=X.dtype))


