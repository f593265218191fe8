"""Data makers shared by the tests."""

import numpy as np


def make_binary(rng, n, p, dtype=np.float64, scale=1.0):
    """Gaussian X (times ``scale``) and labels from a random linear model plus noise."""
    X = (rng.standard_normal((n, p)) * scale).astype(dtype)
    w = rng.standard_normal(p)
    z = X.astype(np.float64) @ w / max(scale, 1.0) + 0.3 * rng.standard_normal(n)
    y = (z > 0).astype(dtype)
    return X, y
