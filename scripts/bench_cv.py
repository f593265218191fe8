"""Cross-validation benchmark: fastlr.LogisticRegressionCV against scikit-learn's.

Four cases, each fitted once by each library, ``Cs=10`` and ``cv=5`` (scikit-learn's
``StratifiedKFold(5)``, the same folds for both), scoring ``None`` (accuracy; see
``--scoring``), ``tol=1e-4`` and ``max_iter=100`` (scikit-learn's defaults), default
threads for both (fastlr: its kernels on every core, folds one after another;
scikit-learn: ``n_jobs=None``, BLAS's threads):

========== ======================================= ======================================
case       data (float64, 100 features)             scikit-learn
========== ======================================= ======================================
binary     1,000,000 rows, 2 classes                ``solver="lbfgs"``, ``l1_ratios=(0,)``
multi      500,000 rows, 10 classes                 ``solver="lbfgs"``, ``l1_ratios=(0,)``
binary-en  as binary                                ``solver="saga"``, ``l1_ratios=[0.5, 1]``
multi-en   as multi                                 ``solver="saga"``, ``l1_ratios=[0.5, 1]``
========== ======================================= ======================================

Every fit runs in a child process of its own (``scripts/_timing.peak_memory_growth``):
the child builds the data (and, for fastlr, compiles the kernels on a small fit), then
the measured part times one ``fit`` and records the peak resident memory it added
(``VmHWM``), ``C_``, ``l1_ratio_`` and ``coef_``. Reported, per case: the time ratio
(scikit-learn / fastlr), whether ``C_`` (and ``l1_ratio_``) are the same, the largest
difference of ``coef_`` relative to the largest coefficient, and both peaks.

``--fold-data`` measures instead the choice made in :mod:`fastlr._cv_path`: one fold's
path (10 Cs) on copied training rows, on all rows with zero sample weights outside the
fold, and on those weights with the loss passes reading the listed training rows only
(binary 1,000,000 rows and 10 classes 500,000 rows).

Usage::

    python scripts/bench_cv.py --quick               # 20,000 / 10,000 rows: minutes
    python scripts/bench_cv.py --out results/        # the issue's sizes (long: saga)
    python scripts/bench_cv.py --fold-data           # copy, zero weights, listed rows
    python scripts/bench_cv.py --cases binary multi  # a subset
    python scripts/bench_cv.py --fastlr-only --cases multi-en  # fastlr's side only

Tables go to stdout as Markdown, progress to stderr; ``--out DIR`` writes every figure
to ``DIR/bench_cv.json``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import peak_memory_growth  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

CASES = {
    # name: (n_classes, l1_ratios, scikit-learn's solver)
    "binary": (2, (0.0,), "lbfgs"),
    "multi": (10, (0.0,), "lbfgs"),
    "binary-en": (2, (0.5, 1.0), "saga"),
    "multi-en": (10, (0.5, 1.0), "saga"),
}
FULL_ROWS = {2: 1_000_000, 10: 500_000}
QUICK_ROWS = {2: 20_000, 10: 10_000}
N_FEATURES = 100


def make_data(n_samples, n_features, n_classes, seed=0):
    """Standard normal X (float64) and labels drawn from a linear model with noise."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features))
    W = rng.standard_normal((n_classes if n_classes > 2 else 1, n_features))
    W *= 2.0 / np.sqrt(n_features)
    W[:, n_features // 2:] = 0.0  # half the features carry nothing (L1 has work to do)
    Z = X @ W.T
    if n_classes == 2:
        y = (Z[:, 0] + rng.logistic(size=n_samples) > 0).astype(np.int64)
    else:
        y = np.argmax(Z + rng.gumbel(size=Z.shape), axis=1)
    return X, y


_SETUP = """
import sys, warnings
sys.path.insert(0, {scripts!r})
import numpy as np
from bench_cv import make_data
X, y = make_data({n}, {p}, {k})
params = dict(Cs=10, cv=5, l1_ratios={l1_ratios!r}, scoring={scoring!r},
              use_legacy_attributes=False, tol=1e-4, max_iter=100)
if {library!r} == "fastlr":
    import fastlr
    Est = fastlr.LogisticRegressionCV
    solver = "saga" if max(params["l1_ratios"]) > 0 else "lbfgs"
    Xs, ys = make_data(2_000, {p}, {k}, seed=1)  # compile the kernels outside the timing
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        Est(Cs=2, cv=2, l1_ratios=params["l1_ratios"], scoring=params["scoring"],
            solver=solver,
            use_legacy_attributes=False, max_iter=5).fit(Xs, ys)
    del Xs, ys
else:
    from sklearn.linear_model import LogisticRegressionCV as Est
    solver = {sk_solver!r}
est = Est(solver=solver, **params)
"""

_MEASURED = """
import time
t0 = time.perf_counter()
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    est.fit(X, y)
report["seconds"] = time.perf_counter() - t0
report["C_"] = float(est.C_)
report["l1_ratio_"] = float(est.l1_ratio_)
report["coef"] = est.coef_.tolist()
report["intercept"] = est.intercept_.tolist()
report["n_iter_total"] = int(np.sum(est.n_iter_))
report["convergence_warnings"] = sum("converge" in str(w.message) for w in caught)
report["backend"] = getattr(est, "backend_", "")
"""


def run_fit(library, case, n, scoring=None):
    n_classes, l1_ratios, sk_solver = CASES[case]
    setup = _SETUP.format(scripts=str(ROOT / "scripts"), n=n, p=N_FEATURES, k=n_classes,
                          l1_ratios=l1_ratios, library=library, sk_solver=sk_solver,
                          scoring=scoring)
    return peak_memory_growth(setup, _MEASURED, cwd=str(ROOT))


def compare(case, n, log, scoring=None):
    log(f"{case}: {n:,} x {N_FEATURES}, fastlr ...")
    ours = run_fit("fastlr", case, n, scoring)
    log(f"{case}: fastlr {ours['seconds']:.1f} s; scikit-learn ...")
    theirs = run_fit("sklearn", case, n, scoring)
    log(f"{case}: scikit-learn {theirs['seconds']:.1f} s")
    a, b = np.asarray(ours["coef"]), np.asarray(theirs["coef"])
    return {
        "case": case, "n_samples": n, "n_features": N_FEATURES,
        "n_classes": CASES[case][0], "l1_ratios": list(CASES[case][1]),
        "sklearn_solver": CASES[case][2], "scoring": scoring,
        "fastlr": ours,  # coef_ included: how far each is from the optimum can be
        "sklearn": theirs,  # checked afterwards (10 x 100 values at most)
        "time_ratio": theirs["seconds"] / ours["seconds"],
        "same_C": ours["C_"] == theirs["C_"],
        "same_l1_ratio": ours["l1_ratio_"] == theirs["l1_ratio_"],
        "coef_max_rel_diff": float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300)),
    }


def table(rows):
    lines = [
        "| case | rows | fastlr (s) | scikit-learn (s) | ratio | same C_ (l1_ratio_) "
        "| coef_ max rel. diff | peak MB fastlr | peak MB scikit-learn |",
        "|---|---:|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in rows:
        same = "yes" if r["same_C"] else (
            f"no ({r['fastlr']['C_']:.3g} vs {r['sklearn']['C_']:.3g})")
        if r["l1_ratios"] != [0.0]:
            same += ", yes" if r["same_l1_ratio"] else (
                f", no ({r['fastlr']['l1_ratio_']} vs {r['sklearn']['l1_ratio_']})")
        lines.append(
            f"| {r['case']} ({r['sklearn_solver']}) | {r['n_samples']:,} "
            f"| {r['fastlr']['seconds']:.2f} | {r['sklearn']['seconds']:.2f} "
            f"| {r['time_ratio']:.1f}x | {same} | {r['coef_max_rel_diff']:.1e} "
            f"| {r['fastlr']['peak_extra_bytes'] / 1e6:.0f} "
            f"| {r['sklearn']['peak_extra_bytes'] / 1e6:.0f} |")
    return "\n".join(lines)


# -- fold data: copied rows or zero weights ----------------------------------------------


def fold_data_timing(n, repeats=3):
    """Seconds of one fold's path (10 Cs) on copied rows, on zero-weighted rows, and on
    zero-weighted rows whose loss passes read the listed training rows only, for the
    binary and the 10-class data (``n`` and ``n // 2`` rows)."""
    from sklearn.model_selection import StratifiedKFold

    from fastlr._cv_path import FoldData, PathSettings, WeightedFoldData, fit_path
    from fastlr._estimator import _blas_single_thread

    modes = {"copy": FoldData,
             "zero weights": WeightedFoldData,
             "listed rows": functools.partial(WeightedFoldData, list_rows=True)}
    out = {}
    for n_classes, rows in ((2, n), (10, n // 2)):
        X, y = make_data(rows, N_FEATURES, n_classes)
        train, _ = next(StratifiedKFold(5).split(X, y))
        target = y.astype(np.float64) if n_classes == 2 else y
        Cs = np.logspace(-4, 4, 10)
        settings = PathSettings(solver="lbfgs", tol=1e-4, max_iter=100, verbose=0,
                                fit_intercept=True, n_classes=n_classes, backend="numba",
                                n_threads=None, blas_guard=_blas_single_thread)
        for make in modes.values():  # compile
            fit_path(make(X, target, None, train), Cs[:2], 0.0, settings)
        times = {name: [] for name in modes}
        for _ in range(repeats):
            for name, make in modes.items():
                t0 = time.perf_counter()
                fit_path(make(X, target, None, train), Cs, 0.0, settings)
                times[name].append(time.perf_counter() - t0)
        out[f"{n_classes} classes, {rows:,} rows"] = {
            name: float(np.median(t)) for name, t in times.items()}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="20,000 (binary) and 10,000 (10 classes) rows")
    ap.add_argument("--out", type=Path, default=None, help="write DIR/bench_cv.json")
    ap.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    ap.add_argument("--scoring", default=None,
                    help="scoring of both (default: None, accuracy, as scikit-learn's); "
                    "neg_log_loss makes the choice of C_ less sensitive to tol")
    ap.add_argument("--fold-data", action="store_true",
                    help="only time copied fold rows against zero weights")
    ap.add_argument("--fastlr-only", action="store_true",
                    help="fit only fastlr (its time, C_, l1_ratio_, peak memory): to "
                    "time a change where scikit-learn's side takes long (saga)")
    args = ap.parse_args(argv)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    results = {}
    if args.fold_data:
        n = 50_000 if args.quick else 1_000_000
        t = fold_data_timing(n)
        results["fold_data"] = t
        print(f"One fold's path (10 Cs, {N_FEATURES} features, numba), median of 3, "
              "in one process (the copy's first touch is not included)\n\n"
              "| data | copied rows (s) | zero weights (s) | listed rows (s) |\n"
              "|---|---:|---:|---:|")
        for data, row in t.items():
            print(f"| {data} | {row['copy']:.3f} | {row['zero weights']:.3f} | "
                  f"{row['listed rows']:.3f} |")
    elif args.fastlr_only:
        rows_for = QUICK_ROWS if args.quick else FULL_ROWS
        results["fastlr_only"] = []
        print("| case | rows | fastlr (s) | C_ | l1_ratio_ | peak MB |\n"
              "|---|---:|---:|---:|---:|---:|")
        for case in args.cases:
            n = rows_for[CASES[case][0]]
            log(f"{case}: {n:,} x {N_FEATURES}, fastlr ...")
            ours = run_fit("fastlr", case, n, args.scoring)
            results["fastlr_only"].append(dict(case=case, n_samples=n, fastlr=ours))
            print(f"| {case} | {n:,} | {ours['seconds']:.2f} | {ours['C_']:.4g} "
                  f"| {ours['l1_ratio_']} | {ours['peak_extra_bytes'] / 1e6:.0f} |")
    else:
        rows_for = QUICK_ROWS if args.quick else FULL_ROWS
        rows = [compare(case, rows_for[CASES[case][0]], log, args.scoring)
                for case in args.cases]
        results["cases"] = rows
        print(table(rows))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_cv.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
