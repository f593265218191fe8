"""scikit-learn's own LogisticRegression tests, run against fastlr.LogisticRegression.

``sklearn/linear_model/tests/test_logistic.py`` is loaded with its
``LogisticRegression`` replaced by fastlr's (see :mod:`_sklearn_suite`); every test
that builds a ``LogisticRegression`` and not a ``LogisticRegressionCV`` (those are
:mod:`test_sklearn_cv_suite`'s) is collected. Those that test scikit-learn's private
functions are left out; those that check a solver-specific quirk fastlr does not
reproduce are expected to fail (``KNOWN_FAILURES``; the README's "scikit-learn's own
tests" under "Penalties and solvers" says the same).
"""

from __future__ import annotations

from _sklearn_suite import collect, load_suite

import fastlr

EXCLUDED = {
    "test_logreg_predict_proba_multinomial": "calls scikit-learn's private "
    "_predict_proba_lr",
}

KNOWN_FAILURES: dict[str, str] = {
    "test_max_iter": "checks each solver's own ConvergenceWarning wording ('newton-cg "
    "failed to converge', 'Liblinear failed to converge'); fastlr runs L-BFGS for those "
    "names and says so",
    "test_dtype_match": "expects liblinear's float64 coef_ for float32 input; fastlr "
    "keeps float32 for every solver name",
    "test_large_sparse_matrix": "expects liblinear, sag and saga to refuse int64 sparse "
    "indices; fastlr accepts them for every solver name",
    "test_liblinear_dual_random_state": "expects liblinear's dual solver to depend on "
    "random_state; fastlr's solvers are deterministic",
    "test_liblinear_with_large_values": "expects liblinear's refusal of values above "
    "1e30; fastlr fits them (or names the overflow)",
    "test_warm_start_newton_solver": "the newton-cg cases: fastlr runs L-BFGS for "
    "newton-cg, whose curvature memory does not survive a warm restart, so two "
    "1-iteration fits differ from one 2-iteration fit (the newton-cholesky cases pass)",
    "test_logisticregression_warns_with_n_jobs": "expects a warning that n_jobs has no "
    "effect; in fastlr n_jobs sets the kernel threads",
    "test_logistic_regression_callback_support": "the max_iter=0 case expects one "
    "iteration task: scikit-learn's lbfgs takes a step at max_iter=0, fastlr's solvers "
    "return the start",
    "test_logistic_regression_callback_support_warning": "expects a warning that a "
    "solver does not support callbacks; every fastlr solver supports them",
    "test_elastic_net_vs_l1_l2": "the C=1 case, at tol=1e-2: the grid's cross-validated "
    "scores are within the fits' error of one another, and fastlr's l1_ratio=0 fit "
    "(L-BFGS, gradient test) and l1_ratio=0.25 fit (proximal Newton, saga's step test) "
    "rank differently from saga's; the search picks 0.25, test accuracy 0.808 against "
    "0.816. At tol <= 1e-4 it picks 0 and scores 0.816, as scikit-learn does",
}

_suite = load_suite("LogisticRegression", fastlr.LogisticRegression)
pytestmark = getattr(_suite, "pytestmark", [])


def _wanted(source):
    return "LogisticRegression(" in source and "LogisticRegressionCV" not in source


def _collect():
    return collect(_suite, _wanted, EXCLUDED, KNOWN_FAILURES)


globals().update(dict(_collect()))


def test_suite_was_collected():
    """The copy really holds fastlr's class, and the tests were found."""
    assert _suite.LogisticRegression is fastlr.LogisticRegression
    assert sum(1 for _ in _collect()) >= 40
