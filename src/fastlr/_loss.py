"""The objective: mean weighted log-loss plus an L2 penalty.

For the binary model (``y`` in {0, 1}, one coefficient vector ``w``, intercept ``b``)::

    J(w, b) = sum_i s_i L(sigmoid(x_i . w + b), y_i) / sum_i s_i  +  l2 / 2 * ||w||^2
    L(a, y) = -(y log(a) + (1 - y) log(1 - a))

and for the multinomial model (``W`` of shape (n_classes, n_features), ``B``)::

    J(W, B) = sum_i s_i (logsumexp(W x_i + B) - (W x_i + B)[y_i]) / sum_i s_i
              + l2 / 2 * ||W||_F^2

This is scikit-learn's objective for ``LogisticRegression(C=C)`` with
``l2 = 1 / (C * sum_i s_i)``, so the same ``C`` gives the same model. The intercept is
never penalised. The backends compute the sums; this module divides and adds the
penalty.

Newton's method also asks for the Hessian (:meth:`LogisticObjective.loss_grad_hess`),
which the backends sum in the same pass as the loss and gradient.

This is the smooth part of every objective: with ``l1_ratio = r`` the estimator passes
``l2 = (1 - r) / (C * sum_i s_i)`` and the L1 term ``r / (C * sum_i s_i) * ||W||_1``
stays with the penalty object (:mod:`fastlr._penalty`), which the L1-capable solvers
ask for its value and subdifferential; no backend ever sees it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def input_error(X):
    """A message naming the problem if X holds NaN or infinity, else None.

    X is a dense ndarray or a CSR matrix (its stored values are searched). A Dask X
    was searched before its fit started, in the same pass that found the classes.
    """
    if hasattr(X, "__dask_graph__"):
        return None
    values = X.data if sp.issparse(X) else X
    with np.errstate(invalid="ignore"):
        finite = bool(np.all(np.isfinite(values)))
    return None if finite else "Input X contains NaN or infinity."


class LogisticObjective:
    """``J`` and its gradient as a function of one flat float64 coefficient vector.

    Parameters
    ----------
    backend : module
        A backend from :mod:`fastlr.backends` (``binary_sums``/``multinomial_sums``).
    X : ndarray, CSR matrix or Dask array of shape (n_samples, n_features)
        Whatever ``backend`` takes.
    y : ndarray of shape (n_samples,)
        Binary: floats in {0, 1} (dtype of X). Multinomial: integer class indices.
    sample_weight : ndarray of shape (n_samples,) or None
    n_classes : int
        2 selects the binary model; more, the multinomial one.
    fit_intercept : bool
    l2 : float
        Penalty strength (0 for none).
    n_threads : int or None
        Passed to the backend.
    multinomial : bool or None
        Force the multinomial (softmax) model even for two classes; by default it is
        used for more than two.
    sw_sum : float or None
        The total sample weight when the caller knows it already (computed here
        otherwise).
    active_rows : ndarray of int or None
        Increasing indices of the only rows whose ``sample_weight`` may be non-zero
        (a cross-validation fold given as zero weights over all of X). A hint: a
        backend whose ``takes_active_rows(X)`` is true reads those rows only in its
        loss-and-gradient passes; every other computation reads all rows, whose zero
        weights give the same sums.

    The flat vector is ``[w, b]`` (binary) or ``[W.ravel(), B]`` (multinomial), with
    ``b``/``B`` present only when ``fit_intercept``.
    """

    def __init__(self, backend, X, y, sample_weight, n_classes, fit_intercept, l2,
                 n_threads=None, multinomial=None, sw_sum=None, active_rows=None):
        self.backend = backend
        self.n_features = X.shape[1]
        self.n_classes = n_classes
        self.binary = n_classes == 2 if multinomial is None else not multinomial
        self.fit_intercept = fit_intercept
        self.l2 = float(l2)
        self.n_threads = n_threads
        if sw_sum is not None:
            self.sw_sum = float(sw_sum)
        elif sample_weight is None:
            self.sw_sum = float(X.shape[0])
        else:
            self.sw_sum = float(np.sum(sample_weight, dtype=np.float64))
        self._X_input = X
        prepare = getattr(backend, "prepare", None)
        if prepare is not None:  # e.g. the CUDA backend copies the data to the GPU once
            X, y, sample_weight = prepare(X, y, sample_weight)
        self.X, self.y, self.sample_weight = X, y, sample_weight
        takes_rows = getattr(backend, "takes_active_rows", None)
        self._sums_options = {}
        if active_rows is not None and takes_rows is not None and takes_rows(X):
            self._sums_options["active_rows"] = np.asarray(active_rows, dtype=np.intp)
        self.n_rows = 1 if self.binary else n_classes
        self.n_evals = 0
        self._last_sums = None  # (coef, J_sum, dW_sum, dB_sum) of the last pass
        self._column_counts = None  # column_counts(), once asked for

    @property
    def rows_in_memory(self):
        """Whether X is an ndarray or CSR matrix in this process that the backend reads
        as it is (not Dask, and not copied to a GPU by ``prepare``)."""
        return not (hasattr(self._X_input, "__dask_graph__")
                    or getattr(self.backend, "prepare", None))

    def subsample(self, step):
        """The same objective (same ``l2``) on every ``step``-th row, or None.

        Its optimum is a statistical estimate of this one's (the mean loss over a
        sample of the rows), which makes it a good, cheap starting point. None where
        the rows are not in this process's memory as an ndarray or CSR matrix (Dask,
        or data already on a GPU), or where the sample misses a class (the mean loss
        would then have no finite minimiser).
        """
        if not self.rows_in_memory:
            return None
        X, y, sample_weight = self._X_input, self.y, self.sample_weight
        rows = slice(None, None, int(step))
        Xs = X[rows] if sp.issparse(X) else np.ascontiguousarray(X[rows])
        ys = np.ascontiguousarray(y[rows])  # contiguous: the kernels' compiled layout
        labels = ys.astype(np.intp) if self.binary else ys
        if np.any(np.bincount(labels, minlength=self.n_classes)[: self.n_classes] == 0):
            return None
        sws = None if sample_weight is None else np.ascontiguousarray(sample_weight[rows])
        return LogisticObjective(self.backend, Xs, ys, sws, self.n_classes,
                                 self.fit_intercept, self.l2, self.n_threads,
                                 multinomial=not self.binary)

    def input_error(self):
        """A message naming the problem if X holds NaN or infinity, else None."""
        return input_error(self._X_input)

    @property
    def n_coef(self):
        return self.n_rows * (self.n_features + int(self.fit_intercept))

    def unpack(self, coef):
        """Flat vector -> (W of shape (n_rows, n_features), B of shape (n_rows,))."""
        k, p = self.n_rows, self.n_features
        W = coef[: k * p].reshape(k, p)
        B = coef[k * p :] if self.fit_intercept else np.zeros(k, dtype=coef.dtype)
        return W, B

    def pack(self, W, B):
        W = np.asarray(W, dtype=np.float64).reshape(self.n_rows, self.n_features)
        parts = [W.ravel()]
        if self.fit_intercept:
            parts.append(np.asarray(B, dtype=np.float64).reshape(self.n_rows))
        return np.concatenate(parts)

    def loss_grad(self, coef):
        """Return ``(J, grad)``, both float64, at the flat coefficient vector ``coef``.

        The backend's sums at the last point evaluated are kept: asked again at the
        same point (bit for bit), after ``l2`` has changed or not, the objective is
        assembled from them without a pass over X. A regularisation path asks exactly
        that: each ``C``'s fit starts where the previous one stopped, and its first
        evaluation is the previous fit's last (1,000,000 x 100, ``Cs=10``: half of
        the passes of :class:`fastlr.LogisticRegressionCV`'s L-BFGS path).
        """
        W, B = self.unpack(coef)
        last = self._last_sums
        if last is not None and np.array_equal(last[0], coef):
            return self._assemble(W, *last[1:])
        self.n_evals += 1
        # NaN/inf from bad input are reported by the solver (see input_error)
        with np.errstate(invalid="ignore", over="ignore"):
            if self.binary:
                J_sum, dw, db = self.backend.binary_sums(
                    self.X, self.y, self.sample_weight, W[0], B[0],
                    n_threads=self.n_threads, **self._sums_options,
                )
                dW = dw[None, :]
                dB = np.array([db])
            else:
                J_sum, dW, dB = self.backend.multinomial_sums(
                    self.X, self.y, self.sample_weight, W, B, n_threads=self.n_threads,
                    **self._sums_options,
                )
        # copies: a backend may hand out buffers it reuses
        self._last_sums = (np.array(coef, dtype=np.float64), J_sum, np.array(dW),
                           np.array(dB))
        return self._assemble(W, J_sum, dW, dB)

    def _assemble(self, W, J_sum, dW, dB):
        """The backend's sums -> ``(J, grad)`` of the mean loss plus the L2 term."""
        inv = 1.0 / self.sw_sum
        J = J_sum * inv + 0.5 * self.l2 * float(np.dot(W.ravel(), W.ravel()))
        grad = np.empty(self.n_coef, dtype=np.float64)
        k, p = self.n_rows, self.n_features
        grad[: k * p] = (np.asarray(dW, dtype=np.float64) * inv + self.l2 * W).ravel()
        if self.fit_intercept:
            grad[k * p :] = np.asarray(dB, dtype=np.float64) * inv
        return J, grad

    @property
    def has_hessian(self):
        """Whether the backend computes the Hessian (Newton's method needs it)."""
        name = "binary_hessian_sums" if self.binary else "multinomial_hessian_sums"
        return hasattr(self.backend, name)

    def hessian_nbytes(self):
        """Bytes of the dense ``n_coef x n_coef`` Hessian."""
        return 8 * self.n_coef**2

    def loss_grad_hess(self, coef):
        """``(J, grad, H)`` at ``coef``: :meth:`loss_grad` and the Hessian, of shape
        (n_coef, n_coef), in one pass over X::

            H = sum_i s_i (d^2 loss_i / d coef^2) / sum_i s_i  +  l2 * I (on W only)
        """
        self.n_evals += 1
        W, B = self.unpack(coef)
        with np.errstate(invalid="ignore", over="ignore"):
            if self.binary:
                J_sum, dw, db, H = self.backend.binary_hessian_sums(
                    self.X, self.y, self.sample_weight, W[0], B[0], self.fit_intercept,
                    n_threads=self.n_threads,
                )
                dW, dB = dw[None, :], np.array([db])
            else:
                J_sum, dW, dB, H = self.backend.multinomial_hessian_sums(
                    self.X, self.y, self.sample_weight, W, B, self.fit_intercept,
                    n_threads=self.n_threads,
                )
        J, grad = self._assemble(W, J_sum, dW, dB)
        H = np.asarray(H, dtype=np.float64) * (1.0 / self.sw_sum)
        n_pen = self.n_rows * self.n_features
        H[np.arange(n_pen), np.arange(n_pen)] += self.l2
        return J, grad, H

    @property
    def has_hessian_cols(self):
        """Whether the backend computes the binary Hessian of a subset of the features
        (the working-set proximal Newton solver needs it)."""
        return self.binary and hasattr(self.backend, "binary_hessian_cols")

    def column_counts(self):
        """Stored entries per column of a CSR X (int64, computed once), else None."""
        X = self._X_input
        if not sp.issparse(X):
            return None
        if self._column_counts is None:
            if X.format == "csr":
                from .backends.numba.sparse_hessian import column_counts

                self._column_counts = column_counts(X)
            else:  # the NumPy backend takes any scipy.sparse format
                self._column_counts = np.bincount(X.tocsr().indices,
                                                  minlength=self.n_features)
        return self._column_counts

    def hessian_cols(self, coef, cols):
        """The rows and columns of the Hessian (as in :meth:`loss_grad_hess`) for the
        coefficients of the features ``cols`` (distinct, in any order) and the
        intercept, in that order; binary model only. One pass over X, no loss or
        gradient."""
        W, B = self.unpack(coef)
        cols = np.asarray(cols, dtype=np.int64)
        with np.errstate(invalid="ignore", over="ignore"):
            H = self.backend.binary_hessian_cols(
                self.X, self.sample_weight, W[0], B[0], cols, self.fit_intercept,
                n_threads=self.n_threads)
        H = np.asarray(H, dtype=np.float64) * (1.0 / self.sw_sum)
        m = len(cols)
        H[np.arange(m), np.arange(m)] += self.l2
        return H

    def shift_invariant_groups(self):
        """Groups of flat-vector entries along which the objective is flat.

        The multinomial model's probabilities do not change when one number is added
        to every class's intercept, nor (with no L2 term) to every class's coefficient
        of one feature. Its Hessian is singular along those directions, and the
        gradient is orthogonal to them. Binary: none.
        """
        if self.binary:
            return []
        k, p = self.n_rows, self.n_features
        groups = []
        if self.fit_intercept:
            groups.append(np.arange(k * p, k * p + k))
        if self.l2 == 0:
            groups.extend(np.arange(j, k * p, p) for j in range(p))
        return groups
