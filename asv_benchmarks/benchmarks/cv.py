"""Cross-validation: ``fastlr.LogisticRegressionCV`` against scikit-learn's, and the
kernel that serves every fold of a binary path in one pass over ``X``.

``CVFit`` fits ``Cs=5, cv=5`` (accuracy scoring, scikit-learn's default ``tol`` and
``max_iter``) with each library, binary and 3 classes; ``track_best_score`` is the
mean cross-validated score at the chosen ``C``, next to ``time_fit``, so a speed-up
that changes the model shows up there.

``FoldSums`` times one evaluation of 5 folds' binary sums: ``time_joint`` is the
Numba backend's ``binary_fold_sums`` (one pass over X for all folds), and
``time_one_fold_at_a_time`` is the same five evaluations as ``binary_sums`` over
each fold's listed training rows (what a fit without lockstep does). Their ratio is
what lockstep gains per pass; ``track_joint_gb_per_s`` the bandwidth of the joint pass.
"""

from __future__ import annotations

import warnings

import numpy as np

from .common import (SIZES, classification_data, epoch_data, median_seconds, parse_shape,
                     skip_if_too_large)

N_FOLDS = 5


class CVFit:
    params = [["fastlr", "sklearn"], [2, 3], SIZES["cv_shapes"]]
    param_names = ["library", "n_classes", "shape"]
    timeout = 900

    def make(self, library):
        if library == "fastlr":
            from fastlr import LogisticRegressionCV
        else:
            from sklearn.linear_model import LogisticRegressionCV
        return LogisticRegressionCV(Cs=5, cv=N_FOLDS, l1_ratios=(0.0,), scoring=None,
                                    use_legacy_attributes=False)

    def setup(self, library, n_classes, shape):
        from sklearn.datasets import make_classification

        n_samples, n_features = parse_shape(shape)
        skip_if_too_large(n_samples * n_features)
        if n_classes == 2:
            self.X, _, self.y, _ = classification_data(shape)
        else:
            self.X, self.y = make_classification(
                n_samples, n_features, n_informative=max(3, n_features // 2),
                n_redundant=0, n_classes=n_classes, random_state=0)
        self.model = self._fit(library)

    def _fit(self, library):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.make(library).fit(self.X, self.y)

    def time_fit(self, library, n_classes, shape):
        self._fit(library)

    time_fit.number = 1
    time_fit.repeat = (1, 3, 60.0)
    time_fit.warmup_time = 0.0

    def peakmem_fit(self, library, n_classes, shape):
        self._fit(library)

    def track_best_score(self, library, n_classes, shape):
        scores = np.asarray(self.model.scores_)
        return float(scores.reshape(N_FOLDS, -1).mean(axis=0).max())

    track_best_score.unit = "accuracy"


class FoldSums:
    params = [SIZES["fold_sums_shapes"], ["float32", "float64"]]
    param_names = ["shape", "dtype"]
    timeout = 300

    def setup(self, shape, dtype):
        from sklearn.model_selection import StratifiedKFold

        from fastlr.backends.numba import dense, folds

        n_samples, n_features = parse_shape(shape)
        skip_if_too_large(n_samples * n_features)
        self.X, self.y, w, b = epoch_data(n_samples, n_features, dtype)
        splits = StratifiedKFold(N_FOLDS).split(self.X, self.y)
        self.trains = [np.sort(train) for train, _ in splits]
        self.member = np.zeros(n_samples, dtype=np.int64)
        self.weights = []
        for f, train in enumerate(self.trains):
            self.member[train] |= np.int64(1) << f
            weight = np.zeros(n_samples, dtype=self.X.dtype)
            weight[train] = 1.0
            self.weights.append(weight)
        rng = np.random.default_rng(1)
        self.W = w + 0.01 * rng.standard_normal((N_FOLDS, n_features))
        self.B = np.full(N_FOLDS, b)
        self.folds = np.arange(N_FOLDS)
        self.joint = folds.binary_fold_sums
        self.one = dense.binary_sums
        self.time_joint(shape, dtype)  # JIT compilation (or cache load) here
        self.time_one_fold_at_a_time(shape, dtype)

    def time_joint(self, shape, dtype):
        self.joint(self.X, self.y, None, self.member, self.folds, self.W, self.B)

    def time_one_fold_at_a_time(self, shape, dtype):
        for f in range(N_FOLDS):
            self.one(self.X, self.y, self.weights[f], self.W[f], self.B[f],
                     active_rows=self.trains[f])

    def track_joint_gb_per_s(self, shape, dtype):
        return self.X.nbytes / median_seconds(lambda: self.time_joint(shape, dtype)) / 1e9

    track_joint_gb_per_s.unit = "GB/s"
