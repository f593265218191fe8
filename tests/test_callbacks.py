"""scikit-learn's callback API (sklearn.callback, scikit-learn >= 1.9) on every solver:
the task tree, the fitted estimator at each iteration, stopping, ProgressBar and
ScoringMonitor."""

import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from fastlr import LogisticRegression

callback = pytest.importorskip("sklearn.callback")
from sklearn.callback.tests._utils import RecordingCallback  # noqa: E402

# scikit-learn's solver name, its penalty, and the fastlr solver that runs
SOLVERS = [("lbfgs", 0.0, "lbfgs"), ("newton-cholesky", 0.0, "newton"),
           ("saga", 1.0, "proxnewton"), ("saga", 0.5, "proxnewton"),
           ("gd", 0.0, "gd"), ("gd", 1.0, "gd")]
IDS = [f"{s}-l1_ratio={r}" for s, r, _ in SOLVERS]


def _data(n_classes=2):
    return make_classification(n_features=4, n_informative=4, n_redundant=0,
                               n_classes=n_classes, random_state=0)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y)


@pytest.mark.parametrize("max_iter", [2, 1000])
def test_hooks_per_iteration_of_owlqn(l1_solver, max_iter):
    test_hooks_per_iteration("saga", 1.0, l1_solver, max_iter)


@pytest.mark.parametrize("solver, l1_ratio, runs", SOLVERS, ids=IDS)
@pytest.mark.parametrize("max_iter", [0, 2, 1000])
def test_hooks_per_iteration(solver, l1_ratio, runs, max_iter):
    X, y = _data()
    cb = RecordingCallback()
    lr = LogisticRegression(solver=solver, l1_ratio=l1_ratio, C=0.1, max_iter=max_iter)
    _fit(lr.set_callbacks(cb), X, y)
    assert lr.solver_ == runs
    assert cb.count_hooks("setup") == cb.count_hooks("teardown") == 1
    # the root task, one task per iteration, and one last task that ran nothing
    n_tasks = 1 + lr.n_iter_[0] + 1
    assert cb.count_hooks("on_fit_task_begin") == n_tasks
    assert cb.count_hooks("on_fit_task_end") == n_tasks
    names = {rec["context"].task_name for rec in cb.record if "context" in rec}
    assert names == {"fit", f"{runs}-iter"}


@pytest.mark.parametrize("solver, l1_ratio, runs", SOLVERS, ids=IDS)
@pytest.mark.parametrize("n_classes, fit_intercept", [(2, True), (3, False)])
def test_fitted_estimator_is_the_model_after_that_many_iterations(
        solver, l1_ratio, runs, n_classes, fit_intercept):
    X, y = _data(n_classes)
    params = dict(solver=solver, l1_ratio=l1_ratio, C=0.1, fit_intercept=fit_intercept)
    cb = RecordingCallback()
    lr = _fit(LogisticRegression(**params, max_iter=30).set_callbacks(cb), X, y)
    n_iter = lr.n_iter_[0]
    ends = [rec for rec in cb.record
            if rec["name"] == "on_fit_task_end" and rec["context"].task_name.endswith("-iter")]
    assert len(ends) == n_iter + 1
    assert ends[-1]["kwargs"]["fitted_estimator"] is None  # the task that ran nothing
    for i in sorted({0, 1, n_iter // 2, n_iter - 1}):
        est = ends[i]["kwargs"]["fitted_estimator"]
        expected = _fit(LogisticRegression(**params, max_iter=i + 1), X, y)
        np.testing.assert_allclose(est.coef_, expected.coef_, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(est.intercept_, expected.intercept_, rtol=1e-12,
                                   atol=1e-15)
        np.testing.assert_array_equal(est.predict(X), expected.predict(X))
        assert ends[i]["kwargs"]["X"] is not None
        np.testing.assert_array_equal(ends[i]["kwargs"]["y"], y)


class _StopAfter(RecordingCallback):
    def __init__(self, n):
        super().__init__()
        self.n = n
        self.ends = 0

    def on_fit_task_end(self, estimator, context, **kwargs):
        if not context.task_name.endswith("-iter"):
            return False
        self.ends += 1
        return self.ends == self.n


@pytest.mark.parametrize("solver, l1_ratio, runs", SOLVERS, ids=IDS)
def test_a_callback_can_stop_the_fit(solver, l1_ratio, runs):
    X, y = _data(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # a stop is not a failure
        lr = LogisticRegression(solver=solver, l1_ratio=l1_ratio, C=0.1,
                                max_iter=1000).set_callbacks(_StopAfter(3)).fit(X, y)
    assert lr.n_iter_[0] == 3


def test_no_callbacks_no_context():
    X, y = _data()
    lr = LogisticRegression().fit(X, y)
    assert not hasattr(lr, "_callback_fit_ctx")
    with pytest.raises(TypeError, match="FitCallback"):
        LogisticRegression().set_callbacks(object())


def test_progress_bar_and_scoring_monitor():
    pytest.importorskip("rich")
    X, y = _data(3)
    monitor = callback.ScoringMonitor(scoring="accuracy")
    lr = LogisticRegression(solver="saga", l1_ratio=1.0, C=0.1).set_callbacks(
        callback.ProgressBar(), monitor).fit(X, y)
    log = monitor.get_logs()
    rows = [row for row in log.data if row["task_name"] == f"{lr.solver_}-iter"]
    assert len(rows) == lr.n_iter_[0]
    assert rows[-1]["accuracy"] == pytest.approx(lr.score(X, y))
