import numpy as np
import pytest


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(params=["proxnewton", "proxnewton-ws", "owlqn"])
def l1_solver(request, monkeypatch):
    """Each fastlr solver for an L1 term in turn: proximal Newton (chosen up to 2,048
    coefficients where the backend has the Hessian), proximal Newton on working sets
    (chosen past that for the binary model; forced here by lowering the limit to zero,
    with working sets that start at 4 features, so that they grow; a multinomial fit
    then runs OWL-QN) and OWL-QN (forced by lowering the limit to zero and hiding the
    Hessian of a subset of the features)."""
    from fastlr._loss import LogisticObjective
    from fastlr.solvers import _dispatch

    if request.param != "proxnewton":
        monkeypatch.setattr(_dispatch, "PROXNEWTON_MAX_COEF", 0)
    if request.param == "proxnewton-ws":
        import importlib

        module = importlib.import_module("fastlr.solvers.proxnewton")
        monkeypatch.setattr(module, "WS_MIN_NEW", 4)
    if request.param == "owlqn":
        monkeypatch.setattr(LogisticObjective, "has_hessian_cols",
                            property(lambda self: False))
    return request.param


@pytest.fixture
def global_random_seed():
    """scikit-learn's default seed (its conftest's, without the environment variable),
    for its own tests that the ``test_sklearn_*_suite.py`` files run."""
    return 42
