"""``fastlr.LogisticRegression``: a drop-in for scikit-learn's ``LogisticRegression``.

The estimator is the only orchestrator: it checks the input (:mod:`fastlr._data`, for
every kind of X: dense, CSR, Dask), builds the objective (:mod:`fastlr._loss`) on the
backend the registry picks for that input (:func:`fastlr.backends.backend_for`), runs
the solver (:mod:`fastlr._solvers`) and stores the result.
"""

from __future__ import annotations

import contextlib
import functools
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.validation import check_is_fitted

from . import solvers as _solvers
from ._data import fit_data, input_kind, is_dask, mean_row_sq_norm, n_elements, predict_data
from ._loss import LogisticObjective
from .backends import backend_for, backend_names
from .backends.numpy_backend import sigmoid


@contextlib.contextmanager
def _blas_single_thread(active):
    """Hold BLAS to one thread while the JIT kernels run their own threads."""
    if not active:
        yield
        return
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
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
        tags.input_tags.sparse = True
        return tags

    # -- helpers -----------------------------------------------------------------

    def _n_threads(self):
        if self.n_jobs is None or self.n_jobs == -1:
            return None
        if self.n_jobs < 1:
            raise ValueError(f"n_jobs must be a positive integer, -1 or None; got {self.n_jobs}.")
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
        data = fit_data(self, X, y, sample_weight)
        self.classes_ = data.classes
        C = float(self.C)
        l2 = 0.0 if np.isinf(C) else 1.0 / (C * data.sw_sum)
        n_threads = self._n_threads()
        backend_name, backend = self._backend_for(data.X)
        self.backend_ = backend_name
        objective = LogisticObjective(backend, data.X, data.target, data.sample_weight,
                                      data.n_classes, self.fit_intercept, l2, n_threads,
                                      sw_sum=data.sw_sum)
        with _blas_single_thread(backend_name == "numba"):
            res = self._solve(objective, data, l2)
        W, B = objective.unpack(res.coef)
        if not (np.all(np.isfinite(W)) and np.all(np.isfinite(B))):  # defensive
            raise ValueError("The fit produced non-finite coefficients; rescale X.")
        self.coef_ = np.ascontiguousarray(W, dtype=data.dtype)
        self.intercept_ = np.asarray(B, dtype=data.dtype).copy()
        self.n_iter_ = np.array([res.n_iter], dtype=np.int32)
        self.loss_curve_ = res.loss_curve
        return self

    def _solve(self, objective, data, l2):
        """Run the chosen solver on ``objective``; returns its ``SolverResult``."""
        coef0 = np.zeros(objective.n_coef)
        if self.warm_start and hasattr(self, "coef_"):
            W_prev = self._dense_coef().astype(np.float64)
            if W_prev.shape == (objective.n_rows, objective.n_features):
                coef0 = objective.pack(W_prev, getattr(self, "intercept_", 0.0))
        if self.solver == "lbfgs":
            return _solvers.lbfgs(objective, coef0, tol=self.tol, max_iter=self.max_iter,
                                  verbose=self.verbose)
        lr = self.learning_rate
        if lr == "auto":
            lr = _solvers.gd_auto_learning_rate(
                mean_row_sq_norm(data.X, data.sample_weight), self.fit_intercept, l2,
                data.n_classes,
            )
        return _solvers.gd(objective, coef0, tol=self.tol, max_iter=self.max_iter,
                           learning_rate=float(lr), verbose=self.verbose)

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
