"""One fold of :class:`fastlr.LogisticRegressionCV`: its data, its path over Cs, its scores.

A fold's path fits the training rows at every ``C`` of the grid, from the strongest
penalty (smallest ``C``) to the weakest, each fit starting from the previous solution
(warm start): along the path the optimum moves little from one ``C`` to the next, so
each fit takes a few iterations instead of a fit from zero. The objective
(:class:`fastlr._loss.LogisticObjective`) is built once per fold and only its L2
strength changes from one ``C`` to the next; on the CUDA backend the fold is copied to
the GPU once.

Fold data
---------
A fold's training rows are sample weights that are zero outside the fold
(:class:`WeightedFoldData`), so X is never copied, and the loss passes are also
handed the list of those rows (``active_rows``, where the backend takes it: Numba,
dense X), so they read no other row: runs of consecutive rows in place, scattered
ones gathered a block at a time. Anything else (a Hessian) reads all rows, whose
zero weights give the same sums. Measured with ``scripts/bench_cv.py --fold-data``
(one fold's L2 path, 10 ``Cs``, one process, 2-core AMD EPYC VM): binary 1,000,000 x
100, listed rows 0.220 s, copied rows 0.244 s, zero weights alone 0.264 s; 10
classes, 500,000 x 100, 0.849 s, 1.038 s and 1.050 s. The copy's figure leaves out
its first touch, costly on that VM (a fresh 640 MB array took 0.7 s to fill once,
0.03 s to refill). :func:`fold_rows_mode` chooses (:data:`DENSE_FOLD_ROWS` forces a
mode): listed rows for a dense X, except for a multinomial path whose solver forms
Hessians, whose Hessian passes would read every row at full compute cost: its folds
are copied, as are CSR folds. A copy goes into one buffer (:class:`RowBuffer`) that
every fold's training rows and then its test rows reuse, copied by all threads
(:func:`take_rows`); with a callback set each fold gets arrays of its own. The test
rows of a model scored by accuracy are not copied either
(:func:`fold_test_rows`).

A Dask X always takes zero weights (:class:`DaskFoldData`): copying its training rows
would move chunks between workers, so the rows outside the fold get weight zero and
every chunk stays where it lives; the test rows are gathered (and persisted) once per
fold.

Cores
-----
Every kernel call uses all the threads (``n_jobs``, all cores by default); the
kernels scale with threads up to the memory bandwidth. The folds of a binary L2 path
on a dense X run in lockstep (:mod:`fastlr._cv_joint`): one pass over X serves every
fold's evaluation. Other paths run the folds one after another, each on all cores,
with one fold's memory at a time and results that do not depend on scheduling.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np
from sklearn.metrics import get_scorer, make_scorer
from sklearn.utils._array_api import _average

from . import solvers as _solvers
from ._data import input_kind, is_dask, mean_row_sq_norm, n_elements
from ._estimator import LogisticRegression
from ._loss import LogisticObjective
from ._penalty import make_penalty
from .backends import backend_for


def effective_l1_ratio(penalty, l1_ratio):
    """The l1_ratio actually fitted for scikit-learn's ``penalty`` name: 0 for "l2", 1 for
    "l1" (scikit-learn's solvers ignore ``l1_ratio`` then), ``l1_ratio`` for the elastic
    net."""
    return {"l2": 0.0, "l1": 1.0}.get(penalty, l1_ratio)


def grid_of_Cs(Cs):
    """The values of ``C`` a ``LogisticRegressionCV`` tries: ``Cs`` of them from 1e-4
    to 1e4 on a log scale for an int, else the given ones, which must be positive
    (``inf``: no penalty). A ValueError says what is wrong, where scikit-learn fails
    with a ZeroDivisionError on 0 and fits every fold at a negative ``C``."""
    if isinstance(Cs, numbers.Integral):
        return np.logspace(-4, 4, Cs)
    try:
        values = np.asarray(Cs, dtype=np.float64)
    except (TypeError, ValueError):
        values = None
    if values is None or values.ndim != 1 or values.size == 0 or not np.all(values > 0):
        raise ValueError("Cs must be an int or a non-empty 1-d array-like of positive "
                         f"numbers (np.inf for no penalty); got Cs={Cs!r}.")
    return values


def gd_learning_rate(X, sample_weight, fit_intercept, penalty, n_classes):
    """``solver="gd"``'s automatic step for this data and penalty."""
    return _solvers.gd_auto_learning_rate(mean_row_sq_norm(X, sample_weight),
                                          fit_intercept, penalty.l2, n_classes)


def _dense(X):
    return isinstance(X, np.ndarray) and X.ndim == 2 and X.flags.c_contiguous


def take_rows(X, rows):
    """``X[rows]``; for a C-contiguous ndarray copied by all threads
    (:func:`fastlr.backends.numba.dense.take_rows`): 0.07 s against NumPy's 0.36 s for
    the 800,000 training rows of a 1,000,000 x 100 float64 X in a fold of 5 (the new
    array's page faults spread over the 2 threads)."""
    if _dense(X):
        from .backends.numba.dense import take_rows as parallel_take

        return parallel_take(X, rows)
    return X[rows]


class RowBuffer:
    """One array that every fold's training rows, then its test rows, are copied
    into (a dense X; other kinds are indexed as usual): the array's pages are
    touched once per fit instead of twice per fold, and memory holds one copy of a
    fold's training rows at most. Only where no callback is set: a callback is
    handed the fold's X and might keep it.

    capacity : the most rows any fold takes
    """

    def __init__(self, capacity):
        self.capacity = int(capacity)
        self.buffer = None

    def take(self, X, rows):
        if not _dense(X):
            return take_rows(X, rows)
        if self.buffer is None or self.buffer.dtype != X.dtype:
            self.buffer = np.empty((max(self.capacity, len(rows)), X.shape[1]),
                                   dtype=X.dtype)
        if len(rows) > self.buffer.shape[0]:
            return take_rows(X, rows)
        from .backends.numba.dense import take_rows as parallel_take

        return parallel_take(X, rows, out=self.buffer[:len(rows)])


# How a fold's training rows of a dense in-memory X reach the kernels: "weights" (all
# rows, weight zero outside the fold), "rows" (the same weights, and the loss passes
# read the listed training rows only), "copy" (the rows copied, see RowBuffer), or
# "auto" (see fold_rows_mode). See "Fold data" above for the measurements.
DENSE_FOLD_ROWS = "auto"


def fold_rows_mode(X, binary, hessian):
    """The :data:`DENSE_FOLD_ROWS` mode for a fit of X; "auto" resolved: "rows" for a
    dense X, except for a multinomial path whose solver forms Hessians ("copy": the
    Hessian passes read all rows, and a multinomial row costs its compute whatever
    its weight). Only a dense in-memory X has a choice; anything else is "copy"."""
    if not _dense(X):
        return "copy"
    if DENSE_FOLD_ROWS != "auto":
        return DENSE_FOLD_ROWS
    return "copy" if hessian and not binary else "rows"


def mostly_runs(rows, block=64):
    """Whether most blocks of ``block`` consecutive entries of the increasing ``rows``
    are runs of consecutive integers (the kernels then read them in place; scattered
    rows are gathered, which costs a binary pass more than reading every row)."""
    n = len(rows) // block
    if n == 0:
        return True
    starts = rows[: n * block : block]
    ends = rows[block - 1 : n * block : block]
    return 2 * int(np.count_nonzero(ends - starts == block - 1)) >= n


class WeightedFoldData:
    """A fold as every row of X, with weight zero outside its training rows: no copy
    of X, memory flat (one weight per row). With ``list_rows``, the training rows are
    also handed to the objective (``active_rows``): a backend that takes them reads
    only those rows in its loss passes. ``list_rows="runs"`` lists them only where
    they are :func:`mostly_runs`."""

    def __init__(self, X, target, sample_weight, train, list_rows=False):
        self.X = X
        self.target = target
        w = np.zeros(X.shape[0], dtype=np.float64)
        w[train] = 1.0 if sample_weight is None else sample_weight[train]
        self.sample_weight = w
        self.sw_sum = float(np.sum(w[train], dtype=np.float64))
        rows = np.sort(train) if list_rows else None
        if list_rows == "runs" and not mostly_runs(rows):
            rows = None
        self.active_rows = rows


class FoldData:
    """A fold's training rows as the kernels take them: copies of X's rows, targets,
    weights, and their total weight.

    X : ndarray or CSR matrix, the fitted data (:class:`fastlr._data.FitData`'s X)
    target, sample_weight : that data's targets and (class-weighted) weights
    train : ndarray of int, the fold's training rows
    """

    def __init__(self, X, target, sample_weight, train, take=take_rows):
        self.X = take(X, train)
        self.target = target[train]
        self.sample_weight = None if sample_weight is None else sample_weight[train]
        if self.sample_weight is None:
            self.sw_sum = float(len(train))
        else:
            self.sw_sum = float(np.sum(self.sample_weight, dtype=np.float64))


class PathTasks:
    """scikit-learn's callbacks (``sklearn.callback``) for the folds and their paths.

    Under the fit's root task: one ``"fold-path"`` task per fold and l1_ratio, one
    ``"C"`` task per point of that path (smallest C first), and under it one task per
    solver iteration (:class:`fastlr.solvers._callbacks.IterationTasks`); the
    estimator adds a ``"refit"`` task. The fitted estimator of a point's task is the
    model of that fold at that C. A callback that returns True at an iteration stops
    that point's solver, as in :class:`fastlr.LogisticRegression`.

    root : the fit's root CallbackContext; estimator : the estimator being fitted;
    classes : its classes_ (the hooks receive labels, not encoded targets)
    """

    def __init__(self, root, estimator, classes, max_iter):
        self.root = root
        self.estimator = estimator
        self.classes = classes
        self.max_iter = max_iter

    def _hook_data(self, fold):
        def labels():
            return self.classes[np.asarray(fold.target, dtype=np.intp)]

        metadata = None
        if fold.sample_weight is not None:
            metadata = {"sample_weight": fold.sample_weight}
        return dict(X=fold.X, y=labels, metadata=metadata)

    def begin_path(self, fold, n_cs):
        task = self.root.subcontext(task_name="fold-path", max_subtasks=n_cs)
        task.call_on_fit_task_begin(estimator=self.estimator, **self._hook_data(fold))
        return task

    def begin_point(self, path_task, fold, objective, coef0, solver):
        from .solvers._callbacks import IterationTasks

        task = path_task.subcontext(task_name="C", max_subtasks=self.max_iter + 1)
        data = self._hook_data(fold)
        task.call_on_fit_task_begin(estimator=self.estimator, **data)
        dtype = fold.X.dtype

        def unpack(coef):
            W, B = objective.unpack(coef)
            return W.astype(dtype), B.astype(dtype)

        iterations = IterationTasks(task, self.estimator, fold.X, data["y"],
                                    data["metadata"], unpack, coef0, f"{solver}-iter")
        return task, iterations, unpack

    def end_point(self, point, coef, fold):
        task, iterations, unpack = point
        iterations.close()
        W, B = unpack(coef)
        task.call_on_fit_task_end(estimator=self.estimator, **self._hook_data(fold),
                                  reconstruction_attributes={"coef_": W,
                                                             "intercept_": B})
        return W, B

    def end_path(self, path_task, fold, last):
        attributes = None if last is None else {"coef_": last[0], "intercept_": last[1]}
        path_task.call_on_fit_task_end(estimator=self.estimator, **self._hook_data(fold),
                                       reconstruction_attributes=attributes)


class DaskFoldData:
    """A fold of a Dask X: every row stays where its chunk lives, rows outside the fold
    weigh zero (copying the training rows would move chunks between workers). Each
    epoch reads every row, a cost of ``k / (k - 1)`` against a copy in memory.

    X, target, sample_weight : the persisted Dask arrays of the fitted data
    train : ndarray of int, the fold's training rows
    """

    def __init__(self, X, target, sample_weight, train):
        import dask.array as da

        from .backends.dask_backend import client, compute, persist

        mask = np.zeros(X.shape[0], dtype=X.dtype)
        mask[train] = 1.0
        weights = da.from_array(mask, chunks=(X.chunks[0],))
        if sample_weight is not None:
            weights = weights * sample_weight
        self.X, self.target = X, target
        c = client()
        (self.sample_weight,) = persist(c, weights)
        if sample_weight is None:
            self.sw_sum = float(len(train))
        else:
            (total,) = compute(c, da.sum(self.sample_weight, dtype=np.float64))
            self.sw_sum = float(total)


def dask_test_rows(X, test):
    """The test rows of a Dask X, gathered once and persisted for the fold's scores."""
    from .backends.dask_backend import client, persist

    (X_test,) = persist(client(), X[test])
    return X_test


def fit_path(fold, Cs, l1_ratio, settings, coef0=None):
    """Fit one fold at every C of ``Cs``, smallest C first, each warm-started.

    fold : :class:`FoldData`
    Cs : ndarray of shape (n_cs,), in any order (fitted in increasing order)
    l1_ratio : float, the l1_ratio actually fitted
    settings : :class:`PathSettings`
    coef0 : flat start of the first fit (zeros by default)

    Returns
    -------
    coefs : ndarray of shape (n_cs, n_rows, n_features + fit_intercept), float64, in
        the order of ``Cs``: ``[W | B]`` per C (scikit-learn's layout)
    n_iter : ndarray of shape (n_cs,), int32, in the order of ``Cs``
    """
    s = settings
    kind = input_kind(fold.X)
    size = None if kind == "dask" else n_elements(fold.X)
    name, backend = backend_for(s.backend, kind, size, s.n_threads)
    s.backend_used = name
    wrap = getattr(fold, "wrap_backend", None)  # folds in lockstep (_cv_joint)
    if wrap is not None:
        backend = wrap(backend)
    objective = LogisticObjective(backend, fold.X, fold.target, fold.sample_weight,
                                  s.n_classes, s.fit_intercept, 0.0, s.n_threads,
                                  sw_sum=fold.sw_sum,
                                  active_rows=getattr(fold, "active_rows", None))
    n_rows, p = objective.n_rows, objective.n_features
    coefs = np.zeros((len(Cs), n_rows, p + int(s.fit_intercept)))
    n_iter = np.zeros(len(Cs), dtype=np.int32)
    coef = np.zeros(objective.n_coef) if coef0 is None else np.array(coef0, float)
    mean_sq = None
    tasks = s.tasks
    path_task = tasks.begin_path(fold, len(Cs)) if tasks is not None else None
    last = None
    path_state = {}  # what a solver hands to the next point (proximal Newton's Hessian)
    with s.blas_guard(name == "numba"):
        for i in np.argsort(np.asarray(Cs, dtype=np.float64), kind="stable"):
            penalty = make_penalty(Cs[i], l1_ratio, fold.sw_sum, n_rows * p)
            objective.l2 = penalty.l2
            solver = _solvers.fastlr_solver(s.solver, penalty, objective)
            lr = None
            if solver == "gd":
                if mean_sq is None:
                    mean_sq = mean_row_sq_norm(fold.X, fold.sample_weight)
                lr = _solvers.gd_auto_learning_rate(mean_sq, s.fit_intercept, penalty.l2,
                                                    s.n_classes)
            point = None
            if tasks is not None:
                point = tasks.begin_point(path_task, fold, objective, coef, solver)
            res = _solvers.solve(solver, objective, penalty, coef, tol=s.tol,
                                 max_iter=s.max_iter, verbose=s.verbose,
                                 learning_rate=lr,
                                 callback=None if point is None else point[1],
                                 path_state=path_state)
            if not np.all(np.isfinite(res.coef)):  # defensive
                raise ValueError("The fit produced non-finite coefficients; rescale X.")
            coef = res.coef
            if point is not None:
                last = tasks.end_point(point, coef, fold)
            W, B = objective.unpack(coef)
            coefs[i, :, :p] = W
            if s.fit_intercept:
                coefs[i, :, p] = B
            n_iter[i] = res.n_iter
    if path_task is not None:
        tasks.end_path(path_task, fold, last)
    return coefs, n_iter


class PathSettings:
    """What every fold's path shares (plain attributes)."""

    def __init__(self, *, solver, tol, max_iter, verbose, fit_intercept, n_classes,
                 backend, n_threads, blas_guard, tasks=None):
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.verbose = verbose
        self.fit_intercept = fit_intercept
        self.n_classes = n_classes
        self.backend = backend
        self.n_threads = n_threads
        self.blas_guard = blas_guard
        self.tasks = tasks  # a PathTasks when callbacks are set
        self.backend_used = None  # set by fit_path


# -- scores -----------------------------------------------------------------------------


class FoldModel(LogisticRegression):
    """The model the scorers see: :class:`fastlr.LogisticRegression` with ``coef_`` and
    ``intercept_`` set to each point of a fold's path in turn.

    Its predictions on the fold's test rows (``test_X``, rows of the X the fit already
    checked) go straight to the kernel: checking them again for every ``C`` would read
    them once more per score. Any other X is checked as usual.
    """

    test_X = None
    test_Z = None  # the test rows' scores at the current point (see score_path)

    def _predict(self, X, finish, n_columns, dtype=None):
        if X is not self.test_X or is_dask(X):
            return super()._predict(X, finish, n_columns, dtype)
        if self.test_Z is not None:  # a copy: finish may work in place (softmax)
            return finish(np.array(self.test_Z))
        _, backend = self._backend_for(X)
        return finish(backend.linear_predict(X, self._dense_coef(), self.intercept_,
                                             n_threads=self._n_threads()))

    def path_classes(self, X, coefs):
        """The class indices predicted at every point of the path, shape (n_samples,
        n_cs), for listed test rows (:class:`ListedRows`): one pass over those rows
        for all points (:func:`fastlr.backends.numba.dense_multinomial.predict_classes`);
        the scores the classes come from are those of :meth:`_predict`, bit for bit.
        None for any other X."""
        if not isinstance(X, ListedRows):
            return None
        n_cs, n_rows, n_dof = coefs.shape
        _, backend = self._backend_for(X.X)
        p = self.n_features_in_
        W = coefs[:, :, :p].reshape(n_cs * n_rows, p)
        B = coefs[:, :, p].reshape(-1) if n_dof > p else np.zeros(n_cs * n_rows)
        return backend.predict_classes(X.X, W, B, n_rows, X.rows,
                                       n_threads=self._n_threads())

    def path_scores(self, X, coefs):
        """``X W^T + B`` for every point of a binary path at once, shape (n_samples,
        n_cs, 1): one pass over X instead of one per point, where a point's scores
        are a memory-bound pass (1,000,000 x 100, 5 folds, 10 Cs: 0.18 s of
        predictions one C at a time). None for the multinomial model, whose scores
        cost their compute whether batched or not (measured within 15 %) and would
        hold n_cs times the memory, and for a Dask X (scored lazily, point by
        point)."""
        n_cs, n_rows, n_dof = coefs.shape
        if is_dask(X) or n_rows > 1:
            return None
        p = self.n_features_in_
        W = np.ascontiguousarray(coefs[:, :, :p].reshape(n_cs * n_rows, p))
        B = np.ascontiguousarray(coefs[:, :, p].reshape(-1) if n_dof > p
                                 else np.zeros(n_cs * n_rows))
        _, backend = self._backend_for(X)
        Z = backend.linear_predict(X, W, B, n_threads=self._n_threads())
        return Z.reshape(Z.shape[0], n_cs, n_rows)


class ListedRows:
    """A fold's test rows as X and their indices, never copied: what a path's
    accuracy needs is the classes predicted for them, one pass over the listed rows
    (:meth:`FoldModel.path_classes`)."""

    def __init__(self, X, rows):
        self.X, self.rows = X, np.asarray(rows, dtype=np.intp)


def fold_test_rows(X, test, take, scorer, backend_name):
    """A fold's test rows for :func:`score_path`: listed (:class:`ListedRows`) where
    only the classes predicted for them are needed (accuracy, a dense X on the Numba
    backend, which has ``predict_classes``), else ``take(X, test)`` (a copy: a scorer
    is handed X)."""
    if scorer is None and backend_name == "numba" and _dense(X):
        return ListedRows(X, test)
    return take(X, test)



def fold_scorer(scoring, classes):
    """The scorer a fold's models are scored with, as scikit-learn's LogisticRegressionCV
    builds it: None (the model's own ``score``, accuracy) for ``scoring=None``, else
    :func:`sklearn.metrics.get_scorer`'s, rebuilt with ``labels=classes`` (and, for two
    classes, ``pos_label=classes[-1]``) where its metric takes labels, because a test
    fold need not hold every class."""
    scorer = get_scorer(scoring)
    if scorer is None:
        return None
    score_func = getattr(scorer, "_score_func", None)
    if score_func is None:
        return scorer
    parameters = inspect.signature(score_func).parameters
    if "labels" not in parameters:
        return scorer
    extra = {"labels": classes}
    if len(classes) <= 2 and "pos_label" in parameters:
        extra["pos_label"] = classes[-1]
    return make_scorer(score_func, greater_is_better=scorer._sign == 1,
                       response_method=scorer._response_method, **extra,
                       **getattr(scorer, "_kwargs", {}))


def score_path(model, coefs, Cs, scorer, X_test, y_test, sw_test, score_params):
    """Scores of the fold's model at every C of the path, in the order of ``Cs``.

    model : a :class:`FoldModel` (``classes_`` and ``n_features_in_`` set) whose
        ``coef_``/``intercept_``/``C`` are set to each point of the path in turn
    coefs : ndarray of shape (n_cs, n_rows, n_dof), from :func:`fit_path`
    scorer : from :func:`fold_scorer`; None scores with ``model.score`` (accuracy,
        weighted by the fold's test sample weights ``sw_test``)
    score_params : the scorer's other parameters, already restricted to the test rows
    """
    p = model.n_features_in_
    if scorer is None:
        classes = model.path_classes(X_test, coefs)
        if classes is not None:  # model.score's accuracy at every C, from one pass
            return np.array([float(_average(y_test == model.classes_[classes[:, i]],
                                            weights=sw_test, normalize=True, xp=np))
                             for i in range(len(Cs))])
    model.test_X = X_test
    Z = model.path_scores(X_test, coefs)
    scores = np.empty(len(Cs))
    for i, C in enumerate(Cs):
        model.C = C
        if Z is not None:
            model.test_Z = Z[:, i, :]
        model.coef_ = np.ascontiguousarray(coefs[i, :, :p])
        if coefs.shape[2] > p:
            model.intercept_ = coefs[i, :, p].copy()
        else:
            model.intercept_ = np.zeros(coefs.shape[1])
        if scorer is None:
            # model.score's accuracy_score, without checking the labels again for every
            # C (they are the fold's checked labels and predictions from classes_)
            y_pred = model.predict(X_test)
            scores[i] = float(_average(y_test == y_pred, weights=sw_test, normalize=True,
                                       xp=np))
        else:
            scores[i] = scorer(model, X_test, y_test, **score_params)
    model.test_X = model.test_Z = None
    return scores
