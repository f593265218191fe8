"""Load scikit-learn's own ``test_logistic.py`` with one of its classes replaced by
fastlr's, and collect its tests (for ``test_sklearn_cv_suite.py`` and
``test_sklearn_lr_suite.py``).

The module is loaded as a private copy with ``sklearn.linear_model.<name>`` replaced
by fastlr's class while it is imported, so that every reference to the class in it
(the parametrisations included) is fastlr's; its other names stay scikit-learn's. Its
tests ask for scikit-learn's ``global_random_seed`` fixture, which ``conftest.py``
provides.
"""

from __future__ import annotations

import importlib.util
import inspect

import pytest

_NAME = "sklearn.linear_model.tests.test_logistic"


def load_suite(class_name, replacement):
    """The test module with ``class_name`` replaced; the calling test module is skipped
    where scikit-learn's tests are not installed."""
    module = _load(class_name, replacement)
    if module is None:
        pytest.skip("scikit-learn's test_logistic.py is not installed",
                    allow_module_level=True)
    return module


def _load(class_name, replacement):
    try:
        spec = importlib.util.find_spec(_NAME)
    except ModuleNotFoundError:
        spec = None
    if spec is None:
        return None
    import sklearn.linear_model as linear_model

    original = getattr(linear_model, class_name)
    setattr(linear_model, class_name, replacement)
    try:
        module = importlib.util.module_from_spec(spec)
        module.__name__ = f"_fastlr_sklearn_test_logistic_{class_name}"
        spec.loader.exec_module(module)
    except Exception:  # e.g. a test helper that this scikit-learn does not ship
        return None
    finally:
        setattr(linear_model, class_name, original)
    return module


def collect(suite, wanted, excluded, known_failures):
    """``(name, test)`` for every test function whose source passes ``wanted``, not
    in ``excluded``; those in ``known_failures`` marked as expected (non-strict)
    failures with their reason."""
    for name, func in vars(suite).items():
        if not (name.startswith("test_") and inspect.isfunction(func)):
            continue
        if not wanted(inspect.getsource(func)) or name in excluded:
            continue
        if name in known_failures:
            func = pytest.mark.xfail(reason=known_failures[name], strict=False)(func)
        yield name, func
