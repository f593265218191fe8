"""Fit and predict with ``fastlr.LogisticRegression``, with scikit-learn alongside.

Each class fits one model in ``setup`` (which also compiles the JIT kernels), then
times a fresh fit (``time_fit``), its peak memory (``peakmem_fit``), prediction on the
test set (``time_predict``), and tracks the test accuracy (``track_test_score``), so
that a speed-up which costs accuracy shows up next to it. ``SklearnFit`` runs the same
problems with the same ``C``, ``tol`` and ``max_iter``: the ratio of the two
``time_fit`` histories is fastlr's speed-up.
"""

from __future__ import annotations

import warnings

from .common import C, MAX_ITER, SIZES, TOL, backends, classification_data


class _FitBenchmark:
    """Shared methods; subclasses define ``params``, ``param_names`` and ``make``."""

    timeout = 600

    def make(self, *params):
        raise NotImplementedError

    def _fit(self, *params):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # gd may stop at max_iter: tracked as score
            return self.make(*params).fit(self.X_train, self.y_train)

    def setup(self, *params):
        shape = params[-1]
        self.X_train, self.X_test, self.y_train, self.y_test = classification_data(shape)
        self.model = self._fit(*params)

    def time_fit(self, *params):
        self._fit(*params)

    time_fit.number = 1
    time_fit.repeat = (1, 5, 60.0)
    time_fit.warmup_time = 0.0

    def peakmem_fit(self, *params):
        self._fit(*params)

    def time_predict(self, *params):
        self.model.predict(self.X_test)

    def track_test_score(self, *params):
        return float(self.model.score(self.X_test, self.y_test))

    track_test_score.unit = "accuracy"


class FastlrFit(_FitBenchmark):
    params = [["lbfgs", "gd"], backends(), SIZES["fit_shapes"]]
    param_names = ["solver", "backend", "shape"]

    def make(self, solver, backend, shape):
        import fastlr

        return fastlr.LogisticRegression(C=C, tol=TOL, max_iter=MAX_ITER, solver=solver,
                                         backend=backend)


class SklearnFit(_FitBenchmark):
    """The baseline: scikit-learn's ``LogisticRegression`` on the same problems."""

    params = [["lbfgs"], SIZES["fit_shapes"]]
    param_names = ["solver", "shape"]

    def make(self, solver, shape):
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(C=C, tol=TOL, max_iter=MAX_ITER, solver=solver)
