"""``fastlr.LogisticRegressionCV``: a drop-in for scikit-learn 1.9's LogisticRegressionCV.

``C`` (and ``l1_ratio``) chosen by cross-validation. The orchestration is scikit-learn's,
step for step, so that the same data, ``cv`` and scoring give the same folds, the same
scores and the same choice:

1. the folds of ``check_cv(cv, y, classifier=True)`` (``StratifiedKFold(5)`` by
   default), split on the checked X and y;
2. for every fold and every ``l1_ratio``, the path over ``Cs`` on the fold's training
   rows (:mod:`fastlr._cv_path`: warm-started, smallest ``C`` first, on the backend the
   registry picks for the fold), each model scored on the test rows;
3. ``refit=True``: the scores summed over folds, the first best ``(C, l1_ratio)`` in
   the order (C index, l1_ratio index) wins, and the model is refitted on all rows from
   the mean of the folds' coefficients there; ``refit=False``: each fold's first best,
   and the mean of those coefficients, ``C`` and ``l1_ratio``.

The objective is :class:`fastlr.LogisticRegression`'s, the same as scikit-learn's for
the same ``C`` and ``l1_ratio``, so with a tight ``tol`` the paths, scores and
coefficients agree with scikit-learn's.
"""

from __future__ import annotations

import numbers
import warnings
from numbers import Integral

import numpy as np
from sklearn.base import _fit_context
from sklearn.metrics import get_scorer, get_scorer_names
from sklearn.model_selection import check_cv
from sklearn.utils import metadata_routing
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _manual_routing,
    _raise_for_params,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.validation import (
    _check_method_params,
    _check_sample_weight,
    _deprecate_positional_args,
)

from . import solvers as _solvers
from ._cv_path import (
    DaskFoldData,
    FoldData,
    FoldModel,
    RowBuffer,
    WeightedFoldData,
    PathSettings,
    PathTasks,
    effective_l1_ratio,
    fit_path,
    fold_rows_mode,
    fold_scorer,
    gd_learning_rate,
    grid_of_Cs,
    dask_test_rows,
    take_rows,
    score_path,
    fold_test_rows,
)
from ._cv_joint import fit_paths_jointly, lockstep_backend
from ._data import fit_data, is_dask
from ._estimator import LogisticRegression, _blas_single_thread, _check_solver
from ._loss import LogisticObjective
from ._penalty import make_penalty


def _in_memory(a):
    """A Dask array computed (labels, weights: one value per row), anything else as is."""
    if is_dask(a):
        from .backends.dask_backend import client, compute

        (a,) = compute(client(), a)
    return np.asarray(a)


def _resolve_grid(est):
    """``(penalty, l1_ratios, scoring, use_legacy_attributes)`` as scikit-learn 1.9
    resolves its deprecated defaults, with the same warnings."""
    l1_ratios = est.l1_ratios
    if isinstance(l1_ratios, str) and l1_ratios == "warn":
        l1_ratios = None
        warnings.warn(
            "The default value for l1_ratios will change from None to (0.0,) in version "
            "1.10. From version 1.10 onwards, only array-like with values in [0, 1] will "
            "be allowed, None will be forbidden. To avoid this warning, explicitly set a "
            "value, e.g. l1_ratios=(0,).", FutureWarning, stacklevel=3)
    if est.penalty == "deprecated":
        if est.l1_ratios is None:
            # "valuesin" (sic) is scikit-learn's text, kept so that the same filters match
            warnings.warn("'l1_ratios=None' was deprecated in version 1.8 and will "
                          "trigger an error in 1.10. Use an array-like with valuesin "
                          "[0, 1] instead.", FutureWarning, stacklevel=3)
        if l1_ratios is None or np.all(np.asarray(l1_ratios) == 0):
            penalty = "l2"
        elif np.all(np.asarray(l1_ratios) == 1):
            penalty = "l1"
        else:
            penalty = "elasticnet"
    else:
        penalty = est.penalty
        warnings.warn(
            "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To "
            "avoid this warning, leave 'penalty' set to its default value and use "
            "'l1_ratios' and 'Cs' instead. Use l1_ratios=(0,) instead of penalty='l2', "
            "l1_ratios=(1,) instead of penalty='l1', l1_ratios set to floats between 0 "
            "and 1 instead of penalty='elasticnet', and Cs=(np.inf,) instead of "
            "penalty=None.", FutureWarning, stacklevel=3)
    scoring = est.scoring
    if isinstance(scoring, str) and scoring == "warn":
        warnings.warn(
            "The default value of the parameter 'scoring' will change from None, i.e. "
            "accuracy, to 'neg_log_loss' in version 1.11. To silence this warning, "
            "explicitly set the scoring parameter: scoring='neg_log_loss' for the new, "
            "scoring='accuracy' or scoring=None for the old default.",
            FutureWarning, stacklevel=3)
        scoring = None
    legacy = est.use_legacy_attributes
    if isinstance(legacy, str) and legacy == "warn":
        name = type(est).__name__
        warnings.warn(
            f"The fitted attributes of {name} will be simplified in scikit-learn 1.10 "
            # the missing space after "Set" is scikit-learn's: the same text, so that
            # the same warning filters match
            "to remove redundancy. Set`use_legacy_attributes=False` to enable the new "
            "behavior now, or set it to `True` to silence this warning during the "
            "transition period while keeping the deprecated behavior for the time "
            "being. The default value of use_legacy_attributes will change from True "
            f"to False in scikit-learn 1.10. See the docstring of {name} for more "
            "details.", FutureWarning, stacklevel=3)
        legacy = True
    _check_solver(est.solver, penalty, est.dual)
    if penalty == "elasticnet" or (l1_ratios is not None and len(l1_ratios) == 0):
        if (l1_ratios is None or len(l1_ratios) == 0 or any(
                not isinstance(r, numbers.Number) or not 0 <= r <= 1 for r in l1_ratios)):
            raise ValueError("l1_ratios must be an array-like of numbers between 0 and "
                             f"1; got (l1_ratios={l1_ratios!r})")
    elif l1_ratios is not None and est.penalty != "deprecated":
        warnings.warn("l1_ratios parameter is only used when penalty is 'elasticnet'. "
                      f"Got (penalty={penalty})", UserWarning, stacklevel=3)
    return penalty, l1_ratios, scoring, bool(legacy)


class LogisticRegressionCV(LogisticRegression):
    """Logistic regression with ``C`` (and ``l1_ratio``) chosen by cross-validation.

    A drop-in for scikit-learn 1.9's ``LogisticRegressionCV``: the same parameters,
    defaults (with their deprecation warnings), folds, scores, choice of ``C_`` and
    fitted attributes. Each fold's path over ``Cs`` runs smallest ``C`` first, every
    fit warm-started from the previous one, on fastlr's kernels (any backend; dense, CSR
    or Dask X). Prediction is :class:`fastlr.LogisticRegression`'s.

    Parameters
    ----------
    Cs : int or array-like of float, default=10
        The grid of ``C``; an int ``n`` means ``np.logspace(-4, 4, n)``.
    l1_ratios : array-like of float in [0, 1] or None, default="warn"
        The grid of ``l1_ratio`` (0: L2, 1: L1). ``"warn"`` is None with scikit-learn
        1.9's FutureWarning (an L2 path, and attributes without the l1_ratio axis).
        ``l1_ratio > 0`` needs ``solver="saga"`` (or ``"liblinear"`` for 1, or
        ``"gd"``), as in scikit-learn; fastlr fits it with proximal Newton (OWL-QN
        beyond 2,048 coefficients), see :class:`fastlr.LogisticRegression`.
    fit_intercept : bool, default=True
    cv : int, cross-validation generator or iterable, default=None
        As scikit-learn's: None is ``StratifiedKFold(5)``, an int ``k`` is
        ``StratifiedKFold(k)``.
    dual : bool, default=False
        Accepted where scikit-learn accepts it (liblinear, L2); the primal is solved.
    penalty : {"l1", "l2", "elasticnet"}, default="deprecated"
        Deprecated in scikit-learn 1.8, accepted as there.
    scoring : str, callable or None, default="warn"
        None (and "warn", with scikit-learn's FutureWarning): accuracy, through the
        model's ``score``; otherwise :func:`sklearn.metrics.get_scorer`'s scorer.
    solver : {"lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga", \
"gd"}, default="lbfgs"
        scikit-learn's names; each runs fastlr's solver for the same objective (L-BFGS,
        Newton's method for ``"newton-cholesky"``, proximal Newton or OWL-QN with an L1
        term; ``"gd"``: gradient descent with the automatic step).
    tol : float, default=1e-4
    max_iter : int, default=100
        Per ``C`` of every path, and for the refit.
    class_weight : dict, "balanced" or None, default=None
        "balanced" weights are computed once on all rows (with ``sample_weight``), as
        in scikit-learn.
    n_jobs : int or None, default=None
        Threads of the kernels (all cores for None or -1, -2 all but one as in joblib).
        Folds run one after another, each kernel call on all threads (see
        :mod:`fastlr._cv_path`).
    verbose : int, default=0
    refit : bool, default=True
    intercept_scaling : float, default=1.0
        Checked and otherwise unused (fastlr never penalises the intercept).
    random_state : int, RandomState or None, default=None
        Accepted for compatibility; the solvers are deterministic. As in scikit-learn
        it does not seed the folds.
    use_legacy_attributes : bool, default="warn"
        scikit-learn 1.9's switch between the legacy attribute layout (True, the
        default, with its FutureWarning) and the new one (False), see Attributes.
    backend : {"auto", "numpy", "numba", "cuda"}, default="auto"

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    Cs_ : ndarray of shape (n_cs,)
    l1_ratios_ : ndarray of shape (n_l1_ratios,); ``[None]`` when ``l1_ratios`` is None
    C_ : float (new layout), or ndarray of shape (1,) (binary) or (n_classes,)
    l1_ratio_ : float (new layout), or ndarray as ``C_``
    coefs_paths_ : ndarray of shape (n_folds, n_l1_ratios, n_cs, n_classes or 1, n_dof)
        (new layout), or a dict from class (the positive class only when binary) to an
        ndarray of shape (n_folds, n_cs, n_l1_ratios, n_dof), without the l1_ratio axis
        when ``l1_ratios`` is None. ``n_dof`` is ``n_features + fit_intercept``, the
        intercept last.
    scores_ : ndarray of shape (n_folds, n_l1_ratios, n_cs) (new layout), or a dict as
        ``coefs_paths_`` with values of shape (n_folds, n_cs[, n_l1_ratios])
    n_iter_ : ndarray of shape (n_folds, n_l1_ratios, n_cs) (new layout), or of shape
        (1, n_folds, n_cs[, n_l1_ratios])
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
    backend_ : str, the backend of the last fit (the refit's, or the last fold's)
    """

    __metadata_request__score = {"sample_weight": metadata_routing.UNUSED}

    _parameter_constraints: dict = {
        key: value for key, value in LogisticRegression._parameter_constraints.items()
        if key not in ("C", "warm_start", "l1_ratio", "learning_rate")
    }
    _parameter_constraints.update({
        "Cs": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "l1_ratios": ["array-like", None, Hidden(StrOptions({"warn"}))],
        "cv": ["cv_object"],
        "scoring": [StrOptions(set(get_scorer_names())), callable, None,
                    Hidden(StrOptions({"warn"}))],
        "refit": ["boolean"],
        "penalty": [StrOptions({"l1", "l2", "elasticnet"}),
                    Hidden(StrOptions({"deprecated"}))],
        "use_legacy_attributes": ["boolean", Hidden(StrOptions({"warn"}))],
    })

    def __init__(
        self,
        *,
        Cs=10,
        l1_ratios="warn",
        fit_intercept=True,
        cv=None,
        dual=False,
        penalty="deprecated",
        scoring="warn",
        solver="lbfgs",
        tol=1e-4,
        max_iter=100,
        class_weight=None,
        n_jobs=None,
        verbose=0,
        refit=True,
        intercept_scaling=1.0,
        random_state=None,
        use_legacy_attributes="warn",
        backend="auto",
    ):
        self.Cs = Cs
        self.l1_ratios = l1_ratios
        self.fit_intercept = fit_intercept
        self.cv = cv
        self.dual = dual
        self.penalty = penalty
        self.scoring = scoring
        self.solver = solver
        self.tol = tol
        self.max_iter = max_iter
        self.class_weight = class_weight
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.refit = refit
        self.intercept_scaling = intercept_scaling
        self.random_state = random_state
        self.use_legacy_attributes = use_legacy_attributes
        self.backend = backend

    # -- fit -------------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None, **params):
        """Fit the model, choosing ``C`` (and ``l1_ratio``) by cross-validation.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask array} of shape (n_samples, n_features)
            float32 stays float32; a sparse matrix is used as CSR, never made dense.
            A Dask array's chunks stay where they are: each fold's rows are chosen by
            zero sample weights, the test rows gathered once per fold for the scores.
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the fits, and of the default (accuracy) scores; passed to a
            ``scoring`` scorer as scikit-learn does.
        **params : dict
            Parameters of the splitter and the scorer (metadata routing), as in
            scikit-learn.

        Returns
        -------
        self
        """
        _raise_for_params(params, self, "fit")
        penalty, l1_ratios, scoring, legacy = _resolve_grid(self)
        grid = [None] if l1_ratios is None else list(l1_ratios)
        if isinstance(self.class_weight, dict):
            classes = np.unique(_in_memory(y))
            if not set(self.class_weight) <= set(classes):
                raise ValueError(
                    "The given class_weight dict must have the class labels as keys; "
                    f"classes={classes} but key={self.class_weight.keys()}")
        data = fit_data(self, X, y, sample_weight)
        classes = self.classes_ = data.classes
        n_classes, p = data.n_classes, data.n_features
        if self.solver == "liblinear" and n_classes > 2:
            raise ValueError(
                "The 'liblinear' solver does not support multiclass classification "
                "(n_classes >= 3). Either use another solver or wrap the estimator in "
                "a OneVsRestClassifier to keep applying a one-versus-rest scheme.")
        y_checked = classes[np.asarray(_in_memory(data.target), dtype=np.intp)]

        if _routing_enabled():
            routed = process_routing(self, "fit", sample_weight=sample_weight, **params)
        else:
            score_kwargs = dict(params)
            if sample_weight is not None:
                score_kwargs["sample_weight"] = sample_weight
            routed = _manual_routing({"splitter": {}, "scorer": {"score": score_kwargs}})
        folds = list(check_cv(self.cv, y_checked, classifier=True).split(
            data.X, y_checked, **routed.splitter.split))

        self.Cs_ = Cs = grid_of_Cs(self.Cs)
        raw_sw = None
        if sample_weight is not None:
            raw_sw = _check_sample_weight(_in_memory(sample_weight), y_checked)
        scorer = fold_scorer(scoring, classes)
        settings = PathSettings(
            solver=self.solver, tol=self.tol, max_iter=self.max_iter,
            verbose=self.verbose, fit_intercept=self.fit_intercept,
            n_classes=n_classes, backend=self.backend, n_threads=self._n_threads(),
            blas_guard=_blas_single_thread)
        root = None
        if self._wants_callbacks():
            metadata = None if sample_weight is None else {"sample_weight": sample_weight}
            hook_data = dict(X=data.X, y=y_checked, metadata=metadata)
            root = self._init_callback_context(
                max_subtasks=len(folds) * len(grid) + int(self.refit))
            root.call_on_fit_task_begin(estimator=self, **hook_data)
            settings.tasks = PathTasks(root, self, classes, self.max_iter)
        model = FoldModel(solver=self.solver, backend=self.backend, n_jobs=self.n_jobs)
        model.classes_ = classes
        model.n_features_in_ = p

        n_rows = 1 if n_classes == 2 else n_classes
        n_dof = p + int(self.fit_intercept)
        paths = np.empty((len(folds), len(grid), len(Cs), n_rows, n_dof))
        scores = np.empty((len(folds), len(grid), len(Cs)))
        n_iter = np.empty((len(folds), len(grid), len(Cs)), dtype=np.int32)
        on_dask = data.kind == "dask"
        # a dense X: zero weights outside each fold, the loss passes reading the
        # training rows only, or copied rows (_cv_path.fold_rows_mode); the test rows
        # (and the training rows, if copied) are copied into one buffer where no
        # callback is set
        hessian = (self.solver == "newton-cholesky"
                   or any(effective_l1_ratio(penalty, r) > 0 for r in grid))
        mode = fold_rows_mode(data.X, n_rows == 1, hessian)
        weighted = mode in ("weights", "rows")
        take = take_rows
        if settings.tasks is None and not on_dask:
            take = RowBuffer(max(len(te) if weighted else max(len(tr), len(te))
                                 for tr, te in folds)).take
        lockstep = lockstep_backend(data.X, settings, len(folds), n_rows == 1,
                                    not hessian, mode)
        if lockstep is not None:  # the folds' paths side by side (_cv_joint)
            fit_paths_jointly(lockstep, data, [tr for tr, _ in folds], Cs,
                              [effective_l1_ratio(penalty, r) for r in grid], settings,
                              paths, n_iter)
        for f, (train, test) in enumerate(folds):
            if lockstep is None:
                if on_dask:
                    fold = DaskFoldData(data.X, data.target, data.sample_weight, train)
                elif weighted:
                    fold = WeightedFoldData(
                        data.X, data.target, data.sample_weight, train,
                        mode == "rows" and (True if n_rows > 1 else "runs"))
                else:
                    fold = FoldData(data.X, data.target, data.sample_weight, train, take)
                for j, ratio in enumerate(grid):
                    paths[f, j], n_iter[f, j] = fit_path(
                        fold, Cs, effective_l1_ratio(penalty, ratio), settings)
                del fold  # the training copy goes before the test rows are taken
            if on_dask:
                X_test = dask_test_rows(data.X, test)
            else:
                X_test = fold_test_rows(data.X, test, take, scorer,
                                        settings.backend_used)
            y_test = y_checked[test]
            sw_test = None if raw_sw is None else raw_sw[test]
            score_params = {}
            if scorer is not None:
                score_params = _check_method_params(y_checked, params=routed.scorer.score,
                                                    indices=test)
            for j in range(len(grid)):
                scores[f, j] = score_path(model, paths[f, j], Cs, scorer, X_test, y_test,
                                          sw_test, score_params)
            del X_test  # before the next fold's training copy
        self.backend_ = settings.backend_used

        w, C_, l1_ratio_ = self._choose(paths, scores, Cs, grid, penalty)
        if self.refit:
            w = self._refit(data, w, C_, effective_l1_ratio(penalty, l1_ratio_), root,
                            y_checked)
        self._store(w, C_, l1_ratio_, paths, scores, n_iter, grid, l1_ratios, legacy,
                    data.dtype, p)
        if root is not None:
            root.call_on_fit_task_end(estimator=self, **hook_data,
                                      reconstruction_attributes={})
        return self

    def _choose(self, paths, scores, Cs, grid, penalty):
        """``(w, C_, l1_ratio_)`` as scikit-learn chooses them (see the module docstring):
        w of shape (n_rows, n_dof) is the start of the refit, or the model itself
        without refit."""
        n_folds, n_l1, n_cs = scores.shape
        by_c = scores.transpose(0, 2, 1)  # (n_folds, n_cs, n_l1): scikit-learn's order
        if self.refit:
            best_c, best_l1 = np.unravel_index(np.argmax(by_c.sum(axis=0)), (n_cs, n_l1))
            w = paths[:, best_l1, best_c].mean(axis=0)
            return w, Cs[best_c], grid[best_l1]
        best = np.argmax(by_c.reshape(n_folds, -1), axis=1)
        best_c, best_l1 = np.unravel_index(best, (n_cs, n_l1))
        w = np.mean([paths[f, best_l1[f], best_c[f]] for f in range(n_folds)], axis=0)
        C_ = np.mean(Cs[best_c])
        l1_ratio_ = 0.0
        if penalty == "elasticnet":
            l1_ratio_ = np.mean(np.asarray(grid, dtype=np.float64)[best_l1])
        return w, C_, l1_ratio_

    def _refit(self, data, w0, C, l1_ratio, root=None, labels=None):
        """The model fitted on every row at ``C``, ``l1_ratio``, started from ``w0``;
        a ``"refit"`` task of the callbacks' ``root`` when there is one."""
        n_threads = self._n_threads()
        name, backend = self._backend_for(data.X)
        objective = LogisticObjective(backend, data.X, data.target, data.sample_weight,
                                      data.n_classes, self.fit_intercept, 0.0, n_threads,
                                      sw_sum=data.sw_sum)
        penalty = make_penalty(C, l1_ratio, data.sw_sum,
                               objective.n_rows * objective.n_features)
        objective.l2 = penalty.l2
        p = objective.n_features
        coef0 = objective.pack(w0[:, :p], w0[:, p] if self.fit_intercept else None)
        solver = _solvers.fastlr_solver(self.solver, penalty, objective)
        lr = None
        if solver == "gd":
            lr = gd_learning_rate(data.X, data.sample_weight, self.fit_intercept,
                                  penalty, data.n_classes)
        task = iterations = None
        if root is not None:
            from .solvers._callbacks import IterationTasks

            metadata = None
            if data.sample_weight is not None:
                metadata = {"sample_weight": data.sample_weight}
            hook_data = dict(X=data.X, y=labels, metadata=metadata)
            task = root.subcontext(task_name="refit", max_subtasks=self.max_iter + 1)
            task.call_on_fit_task_begin(estimator=self, **hook_data)
            dtype = data.dtype

            def unpack(coef):
                W, B = objective.unpack(coef)
                return W.astype(dtype), B.astype(dtype)

            iterations = IterationTasks(task, self, data.X, labels, metadata, unpack,
                                        coef0, f"{solver}-iter")
        with _blas_single_thread(name == "numba"):
            res = _solvers.solve(solver, objective, penalty, coef0, tol=self.tol,
                                 max_iter=self.max_iter,
                                 verbose=max(0, self.verbose - 1), learning_rate=lr,
                                 callback=iterations)
        self.backend_ = name
        W, B = objective.unpack(res.coef)
        if task is not None:
            iterations.close()
            task.call_on_fit_task_end(
                estimator=self, **hook_data,
                reconstruction_attributes={"coef_": W.astype(dtype),
                                           "intercept_": B.astype(dtype)})
        w = np.zeros_like(w0)
        w[:, :p] = W
        if self.fit_intercept:
            w[:, p] = B
        return w

    def _store(self, w, C_, l1_ratio_, paths, scores, n_iter, grid, l1_ratios, legacy,
               dtype, p):
        """Set the fitted attributes in scikit-learn 1.9's layouts."""
        n_rows = w.shape[0]
        self.coef_ = np.ascontiguousarray(w[:, :p], dtype=dtype)
        if self.fit_intercept:
            self.intercept_ = np.asarray(w[:, p], dtype=dtype).copy()
        else:
            self.intercept_ = np.zeros(n_rows, dtype=dtype)
        self.l1_ratios_ = np.asarray(grid)
        paths = paths.astype(dtype, copy=False)
        if not legacy:
            self.C_ = float(C_)
            if l1_ratios is None:
                self.l1_ratio_ = 1.0 if self.penalty == "l1" else 0.0
            else:
                self.l1_ratio_ = float(l1_ratio_)
            self.coefs_paths_ = paths
            self.scores_ = scores
            self.n_iter_ = n_iter
            return
        self.C_ = np.asarray(np.tile([C_], n_rows))
        self.l1_ratio_ = np.asarray(np.tile(np.array([l1_ratio_], dtype=object
                                                     if l1_ratio_ is None else None),
                                            n_rows))
        keys = self.classes_[1:] if n_rows == 1 else self.classes_
        # (n_folds, n_l1, n_cs, ...) -> (n_folds, n_cs, n_l1, ...)
        per_class = paths.transpose(3, 0, 2, 1, 4)
        by_c = scores.transpose(0, 2, 1)
        iters = n_iter.transpose(0, 2, 1)[None]
        if l1_ratios is None:
            per_class, by_c, iters = per_class[:, :, :, 0], by_c[:, :, 0], iters[..., 0]
        self.coefs_paths_ = {k: per_class[i] for i, k in enumerate(keys)}
        self.scores_ = {k: by_c.copy() for k in keys}
        self.n_iter_ = iters

    # -- score and routing, as scikit-learn's ---------------------------------------------

    @_deprecate_positional_args(version="1.11")
    def score(self, X, y, *, sample_weight=None, **score_params):
        """Score with ``scoring`` (accuracy when None) on the given data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sample_weight : array-like of shape (n_samples,), default=None
        **score_params : dict
            Parameters of the scorer (metadata routing).

        Returns
        -------
        score : float
        """
        _raise_for_params(score_params, self, "score")
        if sample_weight is not None:
            score_params["sample_weight"] = sample_weight
        scorer = self._get_scorer()
        if _routing_enabled():
            routed = process_routing(self, "score", **score_params)
        else:
            sw = score_params.get("sample_weight")
            routed = _manual_routing(
                {"scorer": {"score": {} if sw is None else {"sample_weight": sw}}})
        return scorer(self, X, y, **routed.scorer.score)

    def get_metadata_routing(self):
        """Metadata routing of this object: the splitter's ``split`` and the scorer's
        ``score`` (see scikit-learn's user guide on metadata routing).

        Returns
        -------
        routing : MetadataRouter
        """
        return (
            MetadataRouter(owner=self)
            .add_self_request(self)
            .add(splitter=self.cv,
                 method_mapping=MethodMapping().add(caller="fit", callee="split"))
            .add(scorer=self._get_scorer(),
                 method_mapping=MethodMapping().add(caller="score", callee="score")
                 .add(caller="fit", callee="score"))
        )

    def _get_scorer(self):
        """The scorer of :meth:`score`: ``scoring``'s, accuracy by default."""
        if isinstance(self.scoring, str) and self.scoring == "warn":
            return get_scorer("accuracy")
        return get_scorer(self.scoring or "accuracy")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
