"""Proximal Newton on working sets against OWL-QN: fastlr's two solvers for binary L1
and elastic-net fits with more than 2,048 coefficients, on the same data.

For each setting and each ``(C, l1_ratio)`` both solvers fit with ``tol=1e-6``
(``--tol``); the table gives each one's time (median of ``--repeats``), iterations,
non-zeros and objective gap to the lower of the two objectives (scikit-learn's
objective, divided by ``C * n`` as in ``bench_l1.py``). OWL-QN is forced by hiding the
backend's Hessian of a subset of the features, as the tests do.

Settings: ``sparse`` (the CSR benchmark matrix of ``bench_sparse.py``,
``--sparse-shape``, default 1,000,000 x 100,000) and ``dense`` (scikit-learn's
``make_classification``, 200 informative features, ``--dense-shape``, default
20,000 x 5,000 float64).

Usage::

    python scripts/bench_working_set.py [--settings sparse,dense] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

GRID = {"sparse": [(0.1, 1.0), (0.1, 0.5), (1.0, 1.0), (1.0, 0.5)],
        "dense": [(0.01, 1.0), (0.01, 0.5), (0.1, 1.0), (0.1, 0.5)]}


def objective(X, y, coef, intercept, C, l1_ratio, chunk=100_000):
    """scikit-learn's objective divided by C n (mean log-loss plus the penalty)."""
    n = X.shape[0]
    loss = 0.0
    for r0 in range(0, n, chunk):
        z = np.asarray(X[r0:r0 + chunk] @ coef).ravel() + intercept
        loss += float(np.sum(np.logaddexp(0.0, z) - y[r0:r0 + chunk] * z))
    return (loss / n + (1 - l1_ratio) / (2 * C * n) * float(coef @ coef)
            + l1_ratio / (C * n) * float(np.abs(coef).sum()))


def fit_once(X, y, C, l1_ratio, tol, max_iter, force_owlqn):
    from fastlr import LogisticRegression
    from fastlr._loss import LogisticObjective

    saved = LogisticObjective.has_hessian_cols
    if force_owlqn:
        LogisticObjective.has_hessian_cols = property(lambda self: False)
    try:
        clf = LogisticRegression(solver="saga", C=C, l1_ratio=l1_ratio, tol=tol,
                                 max_iter=max_iter)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            t0 = time.perf_counter()
            clf.fit(X, y)
            seconds = time.perf_counter() - t0
    finally:
        LogisticObjective.has_hessian_cols = saved
    return clf, seconds, len(caught)


def make_data(setting, args):
    if setting == "sparse":
        from bench_sparse import make_sparse_problem

        n, p = args.sparse_shape
        X, y, _ = make_sparse_problem(n, p, seed=args.seed)
        return X, y
    from sklearn.datasets import make_classification

    n, p = args.dense_shape
    X, y = make_classification(n, p, n_informative=200, random_state=args.seed)
    return np.ascontiguousarray(X), y


def shape(text):
    n, p = text.lower().split("x")
    return int(n), int(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--settings", default="sparse,dense")
    ap.add_argument("--sparse-shape", type=shape, default=(1_000_000, 100_000))
    ap.add_argument("--dense-shape", type=shape, default=(20_000, 5_000))
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--max-iter", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()

    import numba

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"Numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads")
    results = []
    for setting in args.settings.split(","):
        X, y = make_data(setting, args)
        yf = y.astype(np.float64)
        # compile outside the timing
        fit_once(X[:2000], y[:2000], 1.0, 1.0, 1e-3, 5, False)
        fit_once(X[:2000], y[:2000], 1.0, 1.0, 1e-3, 5, True)
        print(f"\n## {setting}: {X.shape[0]:,} x {X.shape[1]:,}")
        print("| C | l1_ratio | solver | seconds | iterations | non-zeros | gap | "
              "warnings |")
        print("|---:|---:|---|---:|---:|---:|---:|---:|")
        for C, l1_ratio in GRID[setting]:
            rows = {}
            for force in (False, True):
                times = []
                for _ in range(args.repeats):
                    clf, seconds, n_warn = fit_once(X, y, C, l1_ratio, args.tol,
                                                    args.max_iter, force)
                    times.append(seconds)
                J = objective(X, yf, clf.coef_[0], clf.intercept_[0], C, l1_ratio)
                rows["owlqn" if force else clf.solver_] = dict(
                    seconds=statistics.median(times), all_seconds=times,
                    n_iter=int(clf.n_iter_[0]), nnz=int(np.count_nonzero(clf.coef_)),
                    J=J, warnings=n_warn)
            best = min(r["J"] for r in rows.values())
            for name, r in rows.items():
                r["gap"] = (r["J"] - best) / abs(best)
                print(f"| {C} | {l1_ratio} | {name} | {r['seconds']:.2f} | "
                      f"{r['n_iter']} | {r['nnz']} | {r['gap']:.1e} | {r['warnings']} |")
            results.append(dict(setting=setting, shape=list(X.shape), C=C,
                                l1_ratio=l1_ratio, solvers=rows))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(dict(command=" ".join(sys.argv), results=results), f, indent=1)


if __name__ == "__main__":
    main()
