"""``fastlr.LogisticRegression``: a drop-in for scikit-learn's ``LogisticRegression``.

The estimator is the only orchestrator: it checks the input (:mod:`fastlr._data`, for
every kind of X: dense, CSR, Dask), builds the objective (:mod:`fastlr._loss`) on the
backend the registry picks for that input (:func:`fastlr.backends.backend_for`), runs
the solver (:mod:`fastlr.solvers`) and stores the result.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from joblib import cpu_count
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Hidden, Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.validation import check_is_fitted

from . import solvers as _solvers
from ._data import fit_data, input_kind, is_dask, mean_row_sq_norm, n_elements, predict_data
from ._loss import LogisticObjective
from ._penalty import make_penalty
from .backends import backend_for, backend_names
from .backends.numpy_backend import sigmoid


@contextlib.contextmanager
def _blas_single_thread(active):
    """Hold BLAS to one thread while the JIT kernels run their own threads."""
    if not active:
        yield
        return
    from ._blas import blas_limit

    with blas_limit(1):
        yield


# From the scores Z = X W^T + B (n_samples, 1 or n_classes) to each method's output.
# Module-level functions of ndarrays, so that Dask can run them on every chunk.


def _scores(Z):
    return Z[:, 0] if Z.shape[1] == 1 else Z


def _proba(Z):
    if Z.shape[1] == 1:
        p = sigmoid(Z[:, 0])
        return np.column_stack([1 - p, p])
    return softmax(Z, copy=False)


def _log_proba(Z):
    if Z.shape[1] == 1:
        Z = np.column_stack([np.zeros_like(Z[:, 0]), Z[:, 0]])
    zmax = Z.max(axis=1, keepdims=True)
    return Z - zmax - np.log(np.exp(Z - zmax).sum(axis=1, keepdims=True))


def _labels(Z, classes):
    idx = (Z[:, 0] > 0).astype(np.intp) if Z.shape[1] == 1 else Z.argmax(axis=1)
    return classes[idx]


# -- scikit-learn 1.9's penalty and solver rules ----------------------------------------

_SOLVERS = {"lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga", "gd"}
_L1_SOLVERS = {"liblinear", "saga", "gd"}  # the names that accept an L1 term


def _resolve_penalty(est):
    """``(penalty, C, l1_ratio)`` actually fitted, with scikit-learn 1.9's warnings.

    ``penalty`` (deprecated in scikit-learn 1.8) is one of "l2", "l1", "elasticnet",
    None; it is derived from ``l1_ratio`` and ``C`` when left at "deprecated", and
    overrides them when given.
    """
    l1_ratio = est.l1_ratio
    if est.penalty == "deprecated":
        if l1_ratio is None:
            warnings.warn("'l1_ratio=None' was deprecated in version 1.8 and will "
                          "trigger an error in 1.10. Use 0<=l1_ratio<=1 instead.",
                          FutureWarning, stacklevel=3)
        if not l1_ratio:
            penalty = "l2"
        else:
            penalty = "l1" if l1_ratio == 1 else "elasticnet"
        if est.C == np.inf:
            penalty = None
    else:
        penalty = est.penalty
        warnings.warn(
            "'penalty' was deprecated in version 1.8 and will be removed in 1.10. To "
            "avoid this warning, leave 'penalty' set to its default value and use "
            "'l1_ratio' or 'C' instead. Use l1_ratio=0 instead of penalty='l2', "
            "l1_ratio=1 instead of penalty='l1', l1_ratio set to a float between 0 and "
            "1 instead of penalty='elasticnet', and C=np.inf instead of penalty=None.",
            FutureWarning, stacklevel=3,
        )
    _check_solver(est.solver, penalty, est.dual)
    if penalty != "elasticnet" and l1_ratio is not None and 0 < l1_ratio < 1:
        warnings.warn("l1_ratio parameter is only used when penalty is 'elasticnet'. "
                      f"Got (penalty={penalty})", UserWarning, stacklevel=3)
    if (est.penalty == "l2" and l1_ratio != 0) or (est.penalty == "l1" and l1_ratio != 1):
        warnings.warn(f"Inconsistent values: penalty={est.penalty} with l1_ratio="
                      f"{l1_ratio}. penalty is deprecated. Please use l1_ratio only.",
                      UserWarning, stacklevel=3)
    if penalty == "elasticnet" and l1_ratio is None:
        raise ValueError("l1_ratio must be specified when penalty is elasticnet.")
    if est.penalty is None:
        if est.C != 1.0:
            warnings.warn("Setting penalty=None will ignore the C and l1_ratio "
                          "parameters", UserWarning, stacklevel=3)
        return None, np.inf, 0.0
    ratio = {"l2": 0.0, "l1": 1.0, None: 0.0}.get(penalty, l1_ratio)
    return penalty, float(est.C), float(ratio)


def _check_solver(solver, penalty, dual):
    """The combinations scikit-learn 1.9 rejects, rejected with a ValueError."""
    if solver not in _L1_SOLVERS and penalty not in ("l2", None):
        raise ValueError(f"Solver {solver} supports only 'l2' or None penalties, got "
                         f"{penalty} penalty (l1_ratio > 0 needs solver='saga', "
                         "'liblinear' for l1_ratio=1, or 'gd').")
    if solver != "liblinear" and dual:
        raise ValueError(f"Solver {solver} supports only dual=False, got dual={dual}")
    if penalty == "elasticnet" and solver not in ("saga", "gd"):
        raise ValueError("Only 'saga' solver supports elasticnet penalty, got "
                         f"solver={solver}.")
    if solver == "liblinear" and penalty is None:
        raise ValueError("C=np.inf as well as penalty=None is not supported for the "
                         "liblinear solver")
    if solver == "liblinear" and dual and penalty == "l1":
        raise ValueError("Unsupported set of arguments: the dual formulation "
                         "(dual=True) does not exist for penalty='l1' (l1_ratio=1) "
                         "with the liblinear solver; use dual=False.")


# -- scikit-learn's callback API, without importing it until it is used ---------------

_HAS_SKLEARN_CALLBACKS = importlib.util.find_spec("sklearn.callback") is not None


class _CallbackSupport:
    """``set_callbacks`` as scikit-learn >= 1.9's ``CallbackSupportMixin`` (whose
    methods it uses); ``sklearn.callback`` is imported on first use only, so that
    ``import fastlr`` stays as light as it was."""

    if _HAS_SKLEARN_CALLBACKS:

        def set_callbacks(self, *callbacks):
            """Set callbacks (``sklearn.callback``), used by every solver.

            Parameters
            ----------
            *callbacks : callback instances
                E.g. ``ProgressBar()``, ``ScoringMonitor(scoring="accuracy")``.

            Returns
            -------
            self
            """
            from sklearn.callback import CallbackSupportMixin

            return CallbackSupportMixin.set_callbacks(self, *callbacks)

        def _init_callback_context(self, **kwargs):
            from sklearn.callback import CallbackSupportMixin

            return CallbackSupportMixin._init_callback_context(self, **kwargs)

    def _wants_callbacks(self):
        return _HAS_SKLEARN_CALLBACKS and (
            bool(getattr(self, "_skl_callbacks", None))
            or hasattr(self, "_parent_callback_ctx"))


class LogisticRegression(_CallbackSupport, ClassifierMixin, BaseEstimator):
    """Logistic regression (binary and multinomial) with fused JIT kernels.

    Minimises, over ``W`` and ``B`` (see :mod:`fastlr._loss` and
    :mod:`fastlr._penalty`), with ``r = l1_ratio``::

        sum_i s_i loss_i / sum_i s_i
            + 1 / (C sum_i s_i) * ((1 - r) / 2 ||W||_2^2 + r ||W||_1)

    which is scikit-learn 1.9's objective divided by ``C sum_i s_i``: for the same
    ``C`` and ``l1_ratio`` and a tight ``tol`` both give the same coefficients. The
    intercept is never penalised.

    Parameters
    ----------
    penalty : {"l1", "l2", "elasticnet", None}, default="deprecated"
        Deprecated in scikit-learn 1.8, accepted as there (with its ``FutureWarning``):
        "l2" is ``l1_ratio=0``, "l1" ``l1_ratio=1``, "elasticnet" uses ``l1_ratio``,
        None is ``C=np.inf``.
    C : float, default=1.0
        Inverse regularisation strength; ``np.inf`` means no penalty.
    l1_ratio : float in [0, 1], default=0.0
        Elastic-net mixing: 0 is L2, 1 is L1. ``l1_ratio > 0`` needs
        ``solver="saga"`` (or ``"liblinear"`` for 1, or ``"gd"``), as in scikit-learn.
    dual : bool, default=False
        Only ``solver="liblinear"`` accepts True (with an L2 penalty), as in
        scikit-learn; the primal problem has the same solution, and that is solved.
    tol : float, default=1e-4
        Stop when the largest optimality violation falls below ``tol``: the largest
        absolute gradient entry (as scikit-learn's lbfgs ``gtol``), or, with an L1
        term, the largest distance to the subdifferential.
    fit_intercept : bool, default=True
    intercept_scaling : float > 0, default=1
        Checked as in scikit-learn and otherwise unused: fastlr never penalises the
        intercept (scikit-learn's liblinear does, less as ``intercept_scaling``
        grows).
    class_weight : dict, "balanced" or None, default=None
        Weights multiplied into ``sample_weight`` per class, as in scikit-learn.
    random_state : int, RandomState or None, default=None
        Accepted for compatibility; every solver is deterministic.
    solver : {"lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga", \
"gd"}, default="lbfgs"
        scikit-learn's names each run the fastlr solver that minimises the same
        objective: L-BFGS-B for smooth penalties (Newton's method for
        ``"newton-cholesky"``), proximal Newton with an L1 term (OWL-QN, orthant-wise
        L-BFGS, beyond 2,048 coefficients or without a Hessian on the backend). ``"gd"``: textbook batch gradient descent with
        ``learning_rate`` (proximal with an L1 term).
    max_iter : int, default=100
        Maximum number of solver iterations.
    verbose : int, default=0
        Print ``J`` at each iteration when positive.
    warm_start : bool, default=False
        Start from the previous ``coef_``/``intercept_`` when shapes match.
    n_jobs : int or None, default=None
        Number of Numba threads. ``None`` or ``-1``: all of them, but one per
        1,000,000 elements of X on smaller problems, where waking more threads costs
        more than they save. Below -1, as in joblib: ``n_cpus + 1 + n_jobs`` (-2: all
        the CPUs but one), at least one. The same data, parameters and ``n_jobs`` give
        bitwise-identical coefficients.
    learning_rate : float or "auto", default="auto"
        Step size of ``solver="gd"``; ``"auto"`` uses ``1 / L`` for a bound ``L`` on
        the gradient's Lipschitz constant, which never diverges.
    backend : {"auto", "numpy", "numba", "cuda"}, default="auto"
        Where the loss and gradient are computed. ``"auto"`` uses NumPy for small
        problems and the Numba kernels otherwise.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Exact zeros where an L1 term makes the optimum zero.
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : ndarray of shape (1,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names (a pandas DataFrame).
    loss_curve_ : list of float
        The objective after each iteration.
    backend_ : str
        The backend that was used.
    solver_ : {"lbfgs", "newton", "proxnewton", "proxnewton-ws", "owlqn", "gd"}
        The fastlr solver that ran (see :func:`fastlr.solvers.fastlr_solver`).
    """

    _parameter_constraints: dict = {
        "penalty": [StrOptions({"l1", "l2", "elasticnet"}), None,
                    Hidden(StrOptions({"deprecated"}))],
        "C": [Interval(Real, 0, None, closed="right")],
        "l1_ratio": [Interval(Real, 0, 1, closed="both"), None],
        "dual": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "intercept_scaling": [Interval(Real, 0, None, closed="neither")],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "random_state": ["random_state"],
        "solver": [StrOptions(_SOLVERS)],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "n_jobs": [Integral, None],
        "learning_rate": [Interval(Real, 0, None, closed="neither"),
                          StrOptions({"auto"})],
        "backend": [StrOptions({"auto", *backend_names()})],
    }

    def __init__(
        self,
        penalty="deprecated",
        *,
        C=1.0,
        l1_ratio=0.0,
        dual=False,
        tol=1e-4,
        fit_intercept=True,
        intercept_scaling=1,
        class_weight=None,
        random_state=None,
        solver="lbfgs",
        max_iter=100,
        verbose=0,
        warm_start=False,
        n_jobs=None,
        learning_rate="auto",
        backend="auto",
    ):
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.dual = dual
        self.tol = tol
        self.fit_intercept = fit_intercept
        self.intercept_scaling = intercept_scaling
        self.class_weight = class_weight
        self.random_state = random_state
        self.solver = solver
        self.max_iter = max_iter
        self.verbose = verbose
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.learning_rate = learning_rate
        self.backend = backend

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        if self.solver == "liblinear":
            tags.classifier_tags.multi_class = False
        return tags

    # -- helpers -----------------------------------------------------------------

    def _n_threads(self):
        """Threads for ``n_jobs`` as joblib counts them: -1 all, -2 all but one, ..."""
        if self.n_jobs is None or self.n_jobs == -1:
            return None
        if self.n_jobs == 0:
            raise ValueError("n_jobs=0 means no threads; use a positive number, -1 for "
                             "all the CPUs, -2 for all but one, and so on, or None.")
        if self.n_jobs < 0:
            return max(1, cpu_count() + 1 + int(self.n_jobs))
        return int(self.n_jobs)

    def _backend_for(self, X):
        """``(name, backend)`` for X in its kernel form (see :func:`backend_for`)."""
        kind = input_kind(X)
        size = None if kind == "dask" else n_elements(X)
        return backend_for(self.backend, kind, size, self._n_threads())

    def _dense_coef(self):
        """``coef_`` as an ndarray, also after :meth:`sparsify`."""
        coef = self.coef_
        return coef.toarray() if sp.issparse(coef) else np.asarray(coef)

    # -- fit -----------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : {array-like, sparse matrix, Dask array} of shape (n_samples, n_features)
            float32 stays float32; a C-contiguous float32/float64 array is not copied.
            A sparse matrix is used as CSR (other formats are converted once) and is
            never made dense. A Dask array (dense or CSR chunks, chunked along rows)
            is fitted where its chunks live.
        y : array-like of shape (n_samples,)
            Class labels of any type, two or more classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative, finite weights.

        Returns
        -------
        self
        """
        _, C, l1_ratio = _resolve_penalty(self)
        data = fit_data(self, X, y, sample_weight)
        if self.solver == "liblinear" and data.n_classes > 2:
            raise ValueError(
                "The 'liblinear' solver does not support multiclass classification "
                "(n_classes >= 3). Either use another solver or wrap the estimator in "
                "a OneVsRestClassifier to keep applying a one-versus-rest scheme.")
        self.classes_ = data.classes
        n_rows = 1 if data.n_classes == 2 else data.n_classes
        penalty = make_penalty(C, l1_ratio, data.sw_sum, n_rows * data.n_features)
        n_threads = self._n_threads()
        backend_name, backend = self._backend_for(data.X)
        self.backend_ = backend_name
        objective = LogisticObjective(backend, data.X, data.target, data.sample_weight,
                                      data.n_classes, self.fit_intercept, penalty.l2,
                                      n_threads, sw_sum=data.sw_sum)
        self.solver_ = _solvers.fastlr_solver(self.solver, penalty, objective)
        coef0 = self._start(objective)
        memory = []
        tasks = None
        with _blas_single_thread(backend_name == "numba"):
            if not (self.warm_start and hasattr(self, "coef_")):
                coef0, memory = _solvers.presolve(self.solver_, objective, penalty,
                                                  coef0, tol=self.tol,
                                                  max_iter=self.max_iter)
            if self._wants_callbacks():
                tasks = self._iteration_tasks(objective, data, y, sample_weight, coef0)
            res = self._solve(objective, penalty, data, coef0, tasks, memory)
        W, B = objective.unpack(res.coef)
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(B))):  # defensive
            raise ValueError("The fit produced non-finite coefficients; rescale X.")
        self.coef_ = np.ascontiguousarray(W, dtype=data.dtype)
        self.intercept_ = np.asarray(B, dtype=data.dtype).copy()
        self.n_iter_ = np.array([res.n_iter], dtype=np.int32)
        self.loss_curve_ = res.loss_curve
        if tasks is not None:
            tasks.close()
            self._callback_fit_ctx.call_on_fit_task_end(
                estimator=self, **tasks.hook_data, reconstruction_attributes={})
        return self

    def _start(self, objective):
        """The starting point: zeros, or the previous model with ``warm_start``."""
        coef0 = np.zeros(objective.n_coef)
        if self.warm_start and hasattr(self, "coef_"):
            W_prev = self._dense_coef().astype(np.float64)
            if W_prev.shape == (objective.n_rows, objective.n_features):
                coef0 = objective.pack(W_prev, getattr(self, "intercept_", 0.0))
        return coef0

    def _iteration_tasks(self, objective, data, y, sample_weight, coef0):
        """Open the fit's root task for scikit-learn's callbacks; return the solver's
        per-iteration hook (:class:`fastlr.solvers._callbacks.IterationTasks`)."""
        from .solvers._callbacks import IterationTasks

        if data.kind == "dask":
            labels = y
        else:  # the checked labels, built only if a callback asks for them
            def labels():
                return data.classes[np.asarray(data.target, dtype=np.intp)]
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        root = self._init_callback_context(max_subtasks=max(self.max_iter, 1) + 1)
        root.call_on_fit_task_begin(estimator=self, X=data.X, y=labels,
                                    metadata=metadata)
        dtype = data.dtype

        def unpack(coef):
            W, B = objective.unpack(coef)
            return W.astype(dtype), B.astype(dtype)

        return IterationTasks(root, self, data.X, labels, metadata, unpack, coef0,
                              f"{self.solver_}-iter")

    def _solve(self, objective, penalty, data, coef0, callback=None, memory=None):
        """Run the chosen solver on ``objective`` (``memory``: the presolve's
        curvature pairs); returns its ``SolverResult``."""
        lr = self.learning_rate
        if self.solver_ == "gd" and lr == "auto":
            lr = _solvers.gd_auto_learning_rate(
                mean_row_sq_norm(data.X, data.sample_weight), self.fit_intercept,
                penalty.l2, data.n_classes,
            )
        return _solvers.solve(self.solver_, objective, penalty, coef0, tol=self.tol,
                              max_iter=self.max_iter, verbose=self.verbose,
                              learning_rate=float(lr) if self.solver_ == "gd" else None,
                              callback=callback, memory=memory)

    # -- sparse coefficients ---------------------------------------------------------

    def sparsify(self):
        """Store ``coef_`` as a ``scipy.sparse`` CSR matrix (as scikit-learn does).

        Worth it when most coefficients are zero; prediction works the same either
        way. Returns self.
        """
        check_is_fitted(self, "coef_")
        self.coef_ = sp.csr_matrix(self.coef_)
        return self

    def densify(self):
        """Store ``coef_`` as an ndarray again (the default). Returns self."""
        check_is_fitted(self, "coef_")
        if sp.issparse(self.coef_):
            self.coef_ = self.coef_.toarray()
        return self

    # -- predict -------------------------------------------------------------------

    def _predict(self, X, finish, n_columns, dtype=None):
        """``finish(X W^T + B)`` for any kind of X; lazy, chunk by chunk, for Dask.

        n_columns : None for a 1-D output, else the output's number of columns
        dtype : the output's dtype (default: the scores')
        """
        X = predict_data(self, X)
        _, backend = self._backend_for(X)
        Z = backend.linear_predict(X, self._dense_coef(), self.intercept_,
                                   n_threads=self._n_threads())
        if not is_dask(X):
            return finish(Z)
        dtype = Z.dtype if dtype is None else dtype
        if n_columns is None:
            return Z.map_blocks(finish, drop_axis=1, meta=np.empty((0,), dtype=dtype))
        return Z.map_blocks(finish, chunks=(Z.chunks[0], (n_columns,)),
                            meta=np.empty((0, 0), dtype=dtype))

    def decision_function(self, X):
        """Raw scores ``X W^T + B``: shape (n_samples,) for two classes, else
        (n_samples, n_classes). Dense for every kind of X."""
        check_is_fitted(self)
        k = self.intercept_.shape[0]
        return self._predict(X, _scores, None if k == 1 else k)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns as ``classes_``."""
        check_is_fitted(self)
        return self._predict(X, _proba, len(self.classes_))

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably."""
        check_is_fitted(self)
        return self._predict(X, _log_proba, len(self.classes_))

    def predict(self, X):
        """Predicted class labels, shape (n_samples,)."""
        check_is_fitted(self)
        return self._predict(X, functools.partial(_labels, classes=self.classes_), None,
                             self.classes_.dtype)
