"""How many passes over X a binary L2 fit needs, and how close each pass gets.

A pass over X (scores, then the gradient) is the unit of work of every fastlr
solver on data larger than the cache: its time is at least the bytes of X over the
read bandwidth, so a fit at ``k`` passes cannot be faster than ``k`` of those. This
script counts passes, not seconds: it runs fastlr's solvers on one problem and
prints, after each pass over all rows, the objective's relative distance to the
optimum (found first by L-BFGS at ``tol=1e-10``).

Strategies (``--strategies``, comma-separated):

``lbfgs``
    fastlr's lbfgs solver (scipy's L-BFGS-B with scikit-learn's settings) from zero;
``owlqn``
    fastlr's own L-BFGS loop (backtracking line search) from zero;
``presolve-K``
    L-BFGS on every K-th row first, then the fit on all rows from its solution and
    its curvature pairs (what ``fastlr`` does on large data); its evaluations on the
    sample are counted as ``evaluations / K`` passes.
``float32``
    L-BFGS on a float32 copy of X (all rows, float64 sums) first, then the fit on X
    from its solution and curvature pairs: a pass over the copy reads half the bytes.
    Counted in bytes: making the copy (read X, write half as much) as 1.5 passes, each
    evaluation on it as 0.5. It is not something fastlr does (it holds 50% of X more
    in memory); the script measures whether it would pay.

Each is run at ``--tols`` (default ``1e-4,1e-5``), and the table gives the passes over
all rows, the passes' worth spent on the sample (or the float32 copy), the gap after
each pass, and the strategy's wall-clock time (one run, after the counted one; the
float32 copy included, its own time in brackets) against plain ``lbfgs``'s at the same
``tol`` measured right before it.

Usage::

    python scripts/bench_passes.py                          # 100,000 x 1,000 (the wide setting)
    python scripts/bench_passes.py --rows 1000000 --features 100 --seed 2
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import blas_idle  # noqa: E402
from bench_cpu import make_data  # noqa: E402


class Counted:
    """``objective`` with every ``loss_grad`` call's objective value recorded."""

    def __init__(self, objective):
        self.objective = objective
        self.values = []
        self._loss_grad = objective.loss_grad
        objective.loss_grad = self._call

    def _call(self, coef):
        J, grad = self._loss_grad(coef)
        self.values.append(J)
        return J, grad


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=3, help="bench_fit.py's wide setting: 3")
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--tols", default="1e-4,1e-5")
    ap.add_argument("--strategies",
                    default="lbfgs,owlqn,float32,presolve-4,presolve-8,presolve-16")
    args = ap.parse_args(argv)
    strategies = args.strategies.split(",")
    for name in strategies:
        ok = name in ("lbfgs", "owlqn", "float32") or (
            name.startswith("presolve-") and name[9:].isdigit() and int(name[9:]) > 1)
        if not ok:
            ap.error(f"unknown strategy {name!r}: lbfgs, owlqn, float32 or presolve-K "
                     "(K >= 2)")

    from fastlr._loss import LogisticObjective
    from fastlr._penalty import Penalty
    from fastlr.backends import get_backend
    from fastlr.solvers.lbfgs import lbfgs, lbfgs_from_memory
    from fastlr.solvers.owlqn import owlqn

    X, y = make_data(args.rows, args.features, np.float64, seed=args.seed)
    y = y.astype(np.float64)
    n, p = X.shape
    backend = get_backend("numba", X.size)
    l2 = 1.0 / (args.C * n)  # scikit-learn's objective over C n

    def objective(Xs, ys):
        return LogisticObjective(backend, Xs, ys, None, 2, True, l2, sw_sum=float(len(ys)))

    full = Counted(objective(X, y))
    lbfgs(full.objective, np.zeros(p + 1), tol=1e-10, max_iter=10_000)
    best = min(full.values)
    print(f"{n:,} x {p:,} float64, C={args.C}: optimum {best:.12g} "
          f"({len(full.values)} passes at tol=1e-10)")
    print("| strategy | tol | passes over all rows | on the sample | total | gap after each "
          "pass | seconds | lbfgs seconds |")
    print("|:---|---:|---:|---:|---:|:---|---:|---:|")
    zero = np.zeros(p + 1)
    copy_seconds = []  # float32: the copy's time, each run

    def run(name, tol):
        """Fit with ``name``; the passes' worth spent before the fit on all rows."""
        if name == "lbfgs":
            lbfgs(full.objective, zero, tol=tol, max_iter=1000)
        elif name == "owlqn":
            owlqn(full.objective, Penalty(0.0, 0.0, 0), zero, tol=tol, max_iter=1000,
                  name="lbfgs")
        else:
            if name == "float32":
                t0 = time.perf_counter()
                X32 = X.astype(np.float32)
                copy_seconds.append(time.perf_counter() - t0)
                sub = Counted(objective(X32, y.astype(np.float32)))
                step, before = 2, 1.5  # half the bytes a pass; the copy
            else:
                step, before = int(name.split("-")[1]), 0.0
                sample = full.objective.subsample(step)
                if sample is None:  # a class missing from the sample
                    return None
                sub = Counted(sample)
            res = lbfgs(sub.objective, zero, tol=tol, max_iter=1000)
            full.values.clear()
            lbfgs_from_memory(full.objective, res.coef, res.memory, tol=tol,
                              max_iter=1000)
            return before + len(sub.values) / step
        return 0.0

    def timed(name, tol):
        blas_idle()
        t0 = time.perf_counter()
        run(name, tol)
        return time.perf_counter() - t0

    for name in strategies:
        for tol in map(float, args.tols.split(",")):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                full.values.clear()
                on_sample = run(name, tol)
                if on_sample is None:
                    print(f"| {name} | {tol:g} | no sample: a class is missing from it |")
                    continue
                gaps = " ".join(f"{(J - best) / abs(best):.1e}" for J in full.values)
                k = len(full.values)
                t_plain = timed("lbfgs", tol)
                t = timed(name, tol)
            copy = f" (copy {copy_seconds[-1]:.3f})" if name == "float32" else ""
            print(f"| {name} | {tol:g} | {k} | {on_sample:.2f} | {k + on_sample:.2f} | {gaps} "
                  f"| {t:.3f}{copy} | {t_plain:.3f} |", flush=True)

if __name__ == "__main__":
    main()
