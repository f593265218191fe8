import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=["proxnewton", "owlqn"])
def l1_solver(request, monkeypatch):
    """Each fastlr solver for an L1 term in turn: proximal Newton (chosen up to 2,048
    coefficients where the backend has the Hessian) and OWL-QN (forced here by
    lowering that limit to zero)."""
    if request.param == "owlqn":
        from fastlr.solvers import _dispatch

        monkeypatch.setattr(_dispatch, "PROXNEWTON_MAX_COEF", 0)
    return request.param


@pytest.fixture
def global_random_seed():
    """scikit-learn's default seed (its conftest's, without the environment variable),
    for its own tests that the ``test_sklearn_*_suite.py`` files run."""
    return 42
