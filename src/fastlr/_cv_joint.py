"""Cross-validation folds in lockstep: one pass over X serves every fold's evaluation.

With k folds every row of X is a training row of k - 1 of them, and a binary pass
over X is memory-bound: reading 800 bytes of a row costs more than its 100
multiply-adds. So the folds' paths run side by side, one Python thread each, and
whenever every fold still on its path has asked for its loss and gradient, one pass
over X (the backend's ``binary_fold_sums``) computes all of them, each at its own
coefficients and over its own training rows. A fold that has finished its path
leaves; the others go on in smaller passes.

Nothing else changes: each fold runs :func:`fastlr._cv_path.fit_path` (the same
solver, warm starts and stopping rules), and its objective sees zero weights outside
the fold for anything but its loss passes. The result does not depend on thread
scheduling: a pass runs only once every fold still on its path has asked, so the
k-th pass always serves the folds that need a k-th evaluation, and the sums of a
fold are computed with the same chunks and order whatever passes it shares (the
folds' sums were even bit for bit the same alone or shared, on the machine below,
though only the former is relied upon). Measured (``scripts/bench_cv.py --cases
binary``, 1,000,000 x 100, 5 folds, 10 Cs, 2-core AMD EPYC): see the README.

Used for a binary model on a dense in-memory X with an L2 path (L-BFGS), no callback
and no verbose output (both would interleave the folds), and a backend that has
``binary_fold_sums`` (Numba); everything else fits the folds one after another.
"""

from __future__ import annotations

import contextlib
import threading

import numpy as np

from ._cv_path import WeightedFoldData, fit_path
from ._data import input_kind, n_elements
from .backends import backend_for

# Folds in lockstep where possible (tests switch it off to compare).
LOCKSTEP = True
MAX_FOLDS = 62  # a row's folds are the bits of an int64


class JointPasses:
    """The rendezvous of the folds' loss evaluations.

    A fold asks :meth:`sums` for its sums at ``(w, b)`` and waits; when every fold
    still on its path has asked, the last to ask runs one pass for all of them. A
    fold calls :meth:`leave` when its path is done (or failed).
    """

    def __init__(self, backend, X, y, sample_weight, member, n_folds, n_threads):
        self.backend = backend
        self.X, self.y, self.sample_weight, self.member = X, y, sample_weight, member
        self.n_threads = n_threads
        self.active = set(range(n_folds))
        self.pending = {}
        self.results = {}
        self.cond = threading.Condition()

    def sums(self, fold, w, b):
        with self.cond:
            self.pending[fold] = (np.array(w, dtype=np.float64), float(b))
            self._run_if_complete()
            while fold not in self.results:
                self.cond.wait()
            out = self.results.pop(fold)
        if isinstance(out, BaseException):
            raise out
        return out

    def leave(self, fold):
        with self.cond:
            self.active.discard(fold)
            self._run_if_complete()

    def _run_if_complete(self):
        if not self.pending or set(self.pending) != self.active:
            return
        folds = sorted(self.pending)
        W = np.stack([self.pending[f][0] for f in folds])
        B = np.array([self.pending[f][1] for f in folds])
        self.pending = {}
        try:
            sums = self.backend.binary_fold_sums(
                self.X, self.y, self.sample_weight, self.member, np.array(folds), W, B,
                n_threads=self.n_threads)
        except BaseException as exc:  # every waiting fold raises it
            sums = [exc] * len(folds)
        self.results.update(zip(folds, sums))
        self.cond.notify_all()


class _FoldBackend:
    """The backend a fold's objective sees: its ``binary_sums`` go through the joint
    pass, everything else to the backend itself (the fold's zero weights make any
    other computation the fold's own)."""

    def __init__(self, joint, fold, backend):
        self._joint, self._fold, self._backend = joint, fold, backend

    def binary_sums(self, X, y, sample_weight, w, b, n_threads=None, **options):
        return self._joint.sums(self._fold, w, b)

    def takes_active_rows(self, X):
        return False

    def __getattr__(self, name):
        return getattr(self._backend, name)


class JointFoldData(WeightedFoldData):
    """A fold of a lockstep run: :class:`WeightedFoldData` whose loss passes are the
    joint ones (``fit_path`` asks :meth:`wrap_backend`)."""

    def __init__(self, X, target, sample_weight, train, joint, index):
        super().__init__(X, target, sample_weight, train)
        self.joint, self.index = joint, index

    def wrap_backend(self, backend):
        return _FoldBackend(self.joint, self.index, backend)


def lockstep_backend(X, settings, n_folds, binary, smooth, mode):
    """The backend to run ``n_folds`` folds in lockstep with, or None where they run
    one after another (see the module docstring for when)."""
    if not (LOCKSTEP and binary and smooth and mode == "rows" and settings.solver != "gd"
            and settings.tasks is None and not settings.verbose
            and 2 <= n_folds <= MAX_FOLDS):
        return None
    _, backend = backend_for(settings.backend, input_kind(X), n_elements(X),
                             settings.n_threads)
    # the NumPy reference has binary_fold_sums too, one fold after another: no gain
    one_pass = hasattr(backend, "binary_fold_sums") and backend.NAME != "numpy"
    return backend if one_pass else None


def fit_paths_jointly(backend, data, trains, Cs, l1_ratios, settings, paths, n_iter):
    """Every fold's path at every l1_ratio (:func:`fit_path`), the folds in lockstep.

    data : the fit's :class:`fastlr._data.FitData`; trains : the folds' training rows
    l1_ratios : the l1_ratios actually fitted (all 0: an L2 path)
    paths, n_iter : OUT arrays of shape (n_folds, n_l1_ratios, ...), as the fold loop
        of :meth:`fastlr.LogisticRegressionCV.fit` fills them
    """
    X, target, sample_weight = data.X, data.target, data.sample_weight
    member = np.zeros(X.shape[0], dtype=np.int64)
    for f, train in enumerate(trains):
        member[train] |= np.int64(1) << f
    guard = settings.blas_guard
    settings.blas_guard = _no_guard  # set once below, not from every thread
    try:
        with guard(True):
            for j, l1_ratio in enumerate(l1_ratios):
                joint = JointPasses(backend, X, target, sample_weight, member,
                                    len(trains), settings.n_threads)
                folds = [JointFoldData(X, target, sample_weight, train, joint, f)
                         for f, train in enumerate(trains)]
                for f, res in enumerate(_run_folds(folds, Cs, l1_ratio, settings)):
                    paths[f, j], n_iter[f, j] = res
    finally:
        settings.blas_guard = guard


def _run_folds(folds, Cs, l1_ratio, settings):
    """fit_path of every fold, one thread each; the first failure raised."""
    results = [None] * len(folds)
    errors = [None] * len(folds)

    def run(f):
        try:
            results[f] = fit_path(folds[f], Cs, l1_ratio, settings)
        except BaseException as exc:
            errors[f] = exc
        finally:
            folds[f].joint.leave(f)

    threads = [threading.Thread(target=run, args=(f,), daemon=True)
               for f in range(len(folds))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for exc in errors:
        if exc is not None:
            raise exc
    return results


def _no_guard(active):
    return contextlib.nullcontext()
