"""fastlr: fast, faithful logistic regression.

Importing fastlr imports neither Numba nor CUDA; backends load on first use.
"""

from ._api import loss_and_grad, multinomial_loss_and_grad, sigmoid
from ._cv import LogisticRegressionCV
from ._estimator import LogisticRegression
from .backends import available_backends

__version__ = "0.1.0"

__all__ = [
    "LogisticRegression",
    "LogisticRegressionCV",
    "available_backends",
    "loss_and_grad",
    "multinomial_loss_and_grad",
    "sigmoid",
    "__version__",
]
