"""``fastlr.LogisticRegression``: a drop-in for scikit-learn's ``LogisticRegression``."""

from __future__ import annotations

import contextlib
import inspect
import sys
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.extmath import softmax
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _assert_all_finite,
    _check_sample_weight,
    check_is_fitted,
    column_or_1d,
    validate_data,
)

from . import _solvers
from ._loss import LogisticObjective
from .backends import backend_names, get_backend, resolve_backend_name
from .backends.numpy_backend import sigmoid


def _is_dask(X):
    """True for a Dask collection; never imports Dask (without it, nothing changes)."""
    graph = getattr(X, "__dask_graph__", None) if "dask" in sys.modules else None
    return callable(graph) and graph() is not None


def _dask_predict(est, method, X):
    from ._dask import predict

    return predict(est, method, X)


# "balanced" class weights count weighted samples where scikit-learn can (>= 1.6),
# as scikit-learn's own LogisticRegression does; in-memory and Dask fits both use it.
BALANCED_COUNTS_WEIGHTED = "sample_weight" in inspect.signature(
    compute_class_weight
).parameters


def _label(classes, i):
    """classes[i] as a plain Python value (for messages)."""
    return classes[i : i + 1].tolist()[0]


def check_n_classes(classes):
    """Error for labels of fewer than two classes. Shared by in-memory and Dask fits."""
    if len(classes) < 2:
        raise ValueError(
            "LogisticRegression needs samples of at least 2 classes in the data, "
            f"but the data contains only one class: {_label(classes, 0)!r}."
        )


def check_weight_totals(sw_sum, class_totals, classes):
    """Errors for sample weights that leave nothing, or one class, to fit.

    sw_sum  # IN float: the sum of the (class-weighted) sample weights
    class_totals  # IN (n_classes,): the same sum per class
    Shared by in-memory and Dask fits.
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


@contextlib.contextmanager
def _blas_single_thread(active):
    """Hold BLAS to one thread while the JIT kernels run their own threads."""
    if not active:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


class LogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression (binary and multinomial) with fused JIT kernels.

    Minimises, over ``W`` and ``B`` (see :mod:`fastlr._loss`)::

        sum_i s_i loss_i / sum_i s_i + 1 / (2 C sum_i s_i) ||W||^2

    which is scikit-learn's objective: for the same ``C`` and a tight ``tol`` both give
    the same coefficients.

    Parameters
    ----------
    C : float, default=1.0
        Inverse regularisation strength; ``np.inf`` means no penalty.
    tol : float, default=1e-4
        Stop when the largest absolute gradient entry falls below ``tol`` (as
        scikit-learn's lbfgs ``gtol``).
    max_iter : int, default=100
        Maximum number of solver iterations.
    fit_intercept : bool, default=True
    class_weight : dict, "balanced" or None, default=None
        Weights multiplied into ``sample_weight`` per class, as in scikit-learn.
    solver : {"lbfgs", "gd"}, default="lbfgs"
        ``"lbfgs"``: scipy's L-BFGS-B on the fused loss-and-gradient kernel.
        ``"gd"``: textbook batch gradient descent with ``learning_rate``.
    learning_rate : float or "auto", default="auto"
        Step size of ``solver="gd"``; ``"auto"`` uses ``1 / L`` for a bound ``L`` on
        the gradient's Lipschitz constant, which never diverges.
    backend : {"auto", "numpy", "numba", "cuda"}, default="auto"
        Where the loss and gradient are computed. ``"auto"`` uses NumPy for small
        problems and the Numba kernels otherwise.
    n_jobs : int or None, default=None
        Number of Numba threads. ``None`` or ``-1``: all of them, but one per
        1,000,000 elements of X on smaller problems, where waking more threads costs
        more than they save. The same data, parameters and ``n_jobs`` give
        bitwise-identical coefficients.
    warm_start : bool, default=False
        Start from the previous ``coef_``/``intercept_`` when shapes match.
    verbose : int, default=0
        Print ``J`` at each iteration when positive.
    random_state : int, RandomState or None, default=None
        Accepted for compatibility; both solvers are deterministic.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : ndarray of shape (1,)
    n_features_in_ : int
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Only when X has string column names (a pandas DataFrame).
    loss_curve_ : list of float
        ``J`` after each iteration.
    backend_ : str
        The backend that was used.
    """

    _parameter_constraints: dict = {
        "C": [Interval(Real, 0, None, closed="right")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left")],
        "fit_intercept": ["boolean"],
        "class_weight": [dict, StrOptions({"balanced"}), None],
        "solver": [StrOptions({"lbfgs", "gd"})],
        "learning_rate": [Interval(Real, 0, None, closed="neither"),
                          StrOptions({"auto"})],
        "backend": [StrOptions({"auto", *backend_names()})],
        "n_jobs": [Integral, None],
        "warm_start": ["boolean"],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        C=1.0,
        *,
        tol=1e-4,
        max_iter=100,
        fit_intercept=True,
        class_weight=None,
        solver="lbfgs",
        learning_rate="auto",
        backend="auto",
        n_jobs=None,
        warm_start=False,
        verbose=0,
        random_state=None,
    ):
        self.C = C
        self.tol = tol
        self.max_iter = max_iter
        self.fit_intercept = fit_intercept
        self.class_weight = class_weight
        self.solver = solver
        self.learning_rate = learning_rate
        self.backend = backend
        self.n_jobs = n_jobs
        self.warm_start = warm_start
        self.verbose = verbose
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags

    # -- helpers -----------------------------------------------------------------

    def _n_threads(self):
        if self.n_jobs is None or self.n_jobs == -1:
            return None
        if self.n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer, -1 or None; got {self.n_jobs}.")
        return int(self.n_jobs)

    def _backend_module(self, X):
        name = resolve_backend_name(self.backend, X.shape[0], X.shape[1])
        return name, get_backend(name)

    # -- fit -----------------------------------------------------------------------

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            float32 stays float32; a C-contiguous float32/float64 array is not copied.
        y : array-like of shape (n_samples,)
            Class labels of any type, two or more classes.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative, finite weights.

        Returns
        -------
        self
        """
        if _is_dask(X):  # chunks stay on the Dask workers, see fastlr._dask
            from ._dask import fit

            return fit(self, X, y, sample_weight)
        # X's NaN/inf check is left to the first evaluation of the loss (see
        # _solvers._check_finite): scanning X first would cost as much as an epoch.
        X, y = validate_data(
            self, X, y, dtype=[np.float64, np.float32], order="C",
            ensure_all_finite=False, y_numeric=False,
        )
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc":
            _assert_all_finite(y, input_name="y")
        check_classification_targets(y)
        n_samples, n_features = X.shape
        classes = np.unique(y)
        check_n_classes(classes)
        n_classes = len(classes)
        # Targets for the kernels, made once and kept small: 0/1 in X's dtype for two
        # classes, class indices otherwise (no one-hot matrix).
        if n_classes == 2:
            target = (y == classes[1]).astype(X.dtype)
        else:
            target = np.searchsorted(classes, y)

        sw = None
        if sample_weight is not None:
            sw = _check_sample_weight(sample_weight, X, dtype=X.dtype)
            if np.any(sw < 0):
                raise ValueError("sample_weight must be non-negative; got negative weights.")
        if self.class_weight is not None:
            if BALANCED_COUNTS_WEIGHTED:
                cw = compute_class_weight(self.class_weight, classes=classes, y=y,
                                          sample_weight=sw)
            else:
                cw = compute_class_weight(self.class_weight, classes=classes, y=y)
            cw = np.asarray(cw, dtype=X.dtype)[target.astype(np.intp, copy=False)]
            sw = cw if sw is None else sw * cw
        sw_sum = float(n_samples)
        if sw is not None:
            sw_sum = float(np.sum(sw, dtype=np.float64))
            check_weight_totals(sw_sum, np.bincount(target.astype(np.intp, copy=False),
                                                    weights=sw, minlength=n_classes), classes)

        self.classes_ = classes
        C = float(self.C)
        l2 = 0.0 if np.isinf(C) else 1.0 / (C * sw_sum)
        n_threads = self._n_threads()
        backend_name, backend = self._backend_module(X)
        self.backend_ = backend_name

        objective = LogisticObjective(backend, X, target, sw, n_classes, self.fit_intercept,
                                      l2, n_threads)
        with _blas_single_thread(backend_name == "numba"):
            self._solve(objective, X, sw, l2)
        return self

    def _solve(self, objective, X, sw, l2):
        """Run the chosen solver on ``objective`` and store the fitted attributes.

        Shared by in-memory and Dask fits (``X`` may be a Dask array: it is only read
        here for ``learning_rate="auto"``).
        """
        coef0 = np.zeros(objective.n_coef)
        if self.warm_start and hasattr(self, "coef_"):
            W_prev = np.asarray(self.coef_, dtype=np.float64)
            if W_prev.shape == (objective.n_rows, objective.n_features):
                coef0 = objective.pack(W_prev, getattr(self, "intercept_", 0.0))
        if self.solver == "lbfgs":
            res = _solvers.lbfgs(objective, coef0, tol=self.tol, max_iter=self.max_iter,
                                 verbose=self.verbose)
        else:
            lr = self.learning_rate
            if lr == "auto":
                lr = _solvers.gd_auto_learning_rate(X, self.fit_intercept, l2, sw,
                                                    objective.n_classes)
            res = _solvers.gd(objective, coef0, tol=self.tol, max_iter=self.max_iter,
                              learning_rate=float(lr), verbose=self.verbose)
        W, B = objective.unpack(res.coef)
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(B))):  # defensive
            raise ValueError("The fit produced non-finite coefficients; rescale X.")
        self.coef_ = np.ascontiguousarray(W, dtype=X.dtype)
        self.intercept_ = np.asarray(B, dtype=X.dtype).copy()
        self.n_iter_ = np.array([res.n_iter], dtype=np.int32)
        self.loss_curve_ = res.loss_curve

    # -- predict -------------------------------------------------------------------

    def _check_X(self, X):
        check_is_fitted(self)
        return validate_data(self, X, dtype=[np.float64, np.float32], order="C",
                             ensure_all_finite=True, reset=False)

    def decision_function(self, X):
        """Raw scores ``X W^T + B``: shape (n_samples,) for two classes, else
        (n_samples, n_classes)."""
        if _is_dask(X):
            return _dask_predict(self, "decision_function", X)
        X = self._check_X(X)
        _, backend = self._backend_module(X)
        Z = backend.linear_predict(X, self.coef_, self.intercept_, n_threads=self._n_threads())
        return Z[:, 0] if Z.shape[1] == 1 else Z

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns as ``classes_``."""
        if _is_dask(X):
            return _dask_predict(self, "predict_proba", X)
        Z = self.decision_function(X)
        if Z.ndim == 1:
            p = sigmoid(Z)
            return np.column_stack([1 - p, p])
        return softmax(Z, copy=False)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably."""
        if _is_dask(X):
            return _dask_predict(self, "predict_log_proba", X)
        Z = self.decision_function(X)
        if Z.ndim == 1:
            Z = np.column_stack([np.zeros_like(Z), Z])
        zmax = Z.max(axis=1, keepdims=True)
        return Z - zmax - np.log(np.exp(Z - zmax).sum(axis=1, keepdims=True))

    def predict(self, X):
        """Predicted class labels, shape (n_samples,)."""
        if _is_dask(X):
            return _dask_predict(self, "predict", X)
        Z = self.decision_function(X)
        idx = (Z > 0).astype(np.intp) if Z.ndim == 1 else Z.argmax(axis=1)
        return self.classes_[idx]
