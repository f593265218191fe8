"""One epoch, ``J`` and its gradient ``(dw, db)``, on each backend.

``time_loss_and_grad`` is the time of one :func:`fastlr.loss_and_grad` call;
``track_gb_per_s`` is the bandwidth it achieves, bytes of ``X`` / median time. Both
are driven by one table, ``EPOCH_FUNCTIONS``, of (name, function) pairs.

``MultinomialEpoch`` is the same for :func:`fastlr.multinomial_loss_and_grad`, which
is compute-bound rather than memory-bound (``2 K p`` multiply-adds per row, the
scores and then the gradient): ``track_gflop_per_s`` is ``4 K p n`` / median time.

The public function validates its input (one more pass over ``X``) and, on the CUDA
backend, copies host arrays to the device at every call: these numbers are what a
user of ``loss_and_grad`` gets, not the bare kernel inside a fit.
"""

from __future__ import annotations

from functools import partial

import fastlr
import numpy as np

from .common import DTYPES, SIZES, backends, epoch_data, median_seconds, skip_if_too_large

# (name, function(X, y, w, b) -> (J, dw, db)): one row per backend available here.
EPOCH_FUNCTIONS = [
    (name, partial(fastlr.loss_and_grad, backend=name)) for name in backends()
]
MULTINOMIAL_FUNCTIONS = [
    (name, partial(fastlr.multinomial_loss_and_grad, backend=name)) for name in backends()
]

TRACK_REPEATS = 5


class Epoch:
    params = [
        [name for name, _ in EPOCH_FUNCTIONS],
        SIZES["epoch_samples"],
        SIZES["epoch_features"],
        DTYPES,
    ]
    param_names = ["backend", "n_samples", "n_features", "dtype"]
    timeout = 300

    def setup(self, backend, n_samples, n_features, dtype):
        skip_if_too_large(n_samples * n_features)
        self.X, self.y, self.w, self.b = epoch_data(n_samples, n_features, dtype)
        self.fn = dict(EPOCH_FUNCTIONS)[backend]
        self.fn(self.X, self.y, self.w, self.b)  # JIT compilation (or cache load) here

    def time_loss_and_grad(self, backend, n_samples, n_features, dtype):
        self.fn(self.X, self.y, self.w, self.b)

    def track_gb_per_s(self, backend, n_samples, n_features, dtype):
        seconds = median_seconds(lambda: self.fn(self.X, self.y, self.w, self.b),
                                 TRACK_REPEATS)
        return round(self.X.nbytes / seconds / 1e9, 3)

    track_gb_per_s.unit = "GB/s"


class MultinomialEpoch:
    params = [
        [name for name, _ in MULTINOMIAL_FUNCTIONS],
        SIZES["epoch_samples"],
        SIZES["epoch_features"],
        [3, 10],
    ]
    param_names = ["backend", "n_samples", "n_features", "n_classes"]
    timeout = 300

    def setup(self, backend, n_samples, n_features, n_classes):
        skip_if_too_large(n_samples * n_features)
        self.X, _, _, _ = epoch_data(n_samples, n_features, np.float64)
        rng = np.random.default_rng(1)
        self.y = rng.integers(0, n_classes, n_samples)
        self.W = rng.standard_normal((n_classes, n_features)) / np.sqrt(n_features)
        self.B = rng.standard_normal(n_classes)
        self.fn = partial(dict(MULTINOMIAL_FUNCTIONS)[backend], self.X, self.y, self.W,
                          self.B)
        self.fn()  # JIT compilation (or cache load) here

    def time_loss_and_grad(self, backend, n_samples, n_features, n_classes):
        self.fn()

    def track_gflop_per_s(self, backend, n_samples, n_features, n_classes):
        flops = 4.0 * n_classes * n_features * n_samples
        return round(flops / median_seconds(self.fn, TRACK_REPEATS) / 1e9, 3)

    track_gflop_per_s.unit = "GFLOP/s"
