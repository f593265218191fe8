"""fastlr on a Dask cluster against fastlr in memory and dask-ml, reported as ratios.

A local cluster of worker processes (default: 2 workers x 1 thread) generates the data
itself: X is Gaussian float32, the labels come from a known linear model plus logistic
noise, both computed and persisted on the workers; X is never built on the client.
Then, with the same C and an equivalent tolerance:

1. ``fastlr.LogisticRegression().fit(X, y)`` on the Dask arrays;
2. the same fit in memory on a gathered copy of X (all the machine's cores, as many as
   the cluster's), the baseline for the per-iteration overhead of going through Dask;
3. ``dask_ml.linear_model.LogisticRegression(solver="lbfgs")`` on the same cluster.

dask-ml (dask-glm underneath) minimises ``sum_i loss_i + 1 / (2 C) ||beta||^2`` with
``beta = [w, b]``; fastlr minimises ``mean_i loss_i + 1 / (2 C n) ||w||^2``, which is
the same objective divided by n apart from dask-glm's penalty on the intercept (an
O(1 / (C n)) relative effect). So the same C is passed to both, dask-glm's standardising
of X is switched off (``normalize=False``, else its penalty acts on rescaled
coefficients), and its tolerance, a bound on the gradient of the *sum*, is ``tol * n``.

Usage::

    python scripts/bench_dask.py                        # 4,000,000 x 100
    python scripts/bench_dask.py --n-samples 400000     # a tenth of it
    python scripts/bench_dask.py --quick                # 200,000 x 20, a smoke test
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np


def _progress(msg):
    print(f"[bench_dask] {msg}", file=sys.stderr, flush=True)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-samples", type=int, default=4_000_000)
    ap.add_argument("--n-features", type=int, default=100)
    ap.add_argument("--chunk-rows", type=int, default=None,
                    help="rows per chunk (default: 8 chunks per worker)")
    ap.add_argument("--n-workers", type=int, default=2)
    ap.add_argument("--threads-per-worker", type=int, default=1)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--tol", type=float, default=1e-6,
                    help="fastlr's tol (largest gradient entry of the mean loss)")
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-dask-ml", action="store_true")
    ap.add_argument("--skip-in-memory", action="store_true")
    ap.add_argument("--quick", action="store_true",
                    help="200,000 x 20: checks that everything runs")
    args = ap.parse_args(argv)
    if args.quick:
        args.n_samples, args.n_features = 200_000, 20
    if args.chunk_rows is None:
        args.chunk_rows = max(1000, -(-args.n_samples // (8 * args.n_workers)))
    return args


def make_data(args):
    """X (float32) and y (int8) built and persisted on the workers, and the true model."""
    import dask
    import dask.array as da

    n, p = args.n_samples, args.n_features
    w_true = np.random.default_rng(args.seed).standard_normal(p) * (2 / np.sqrt(p))
    b_true = 0.25
    rng = da.random.default_rng(args.seed + 1)
    X = rng.standard_normal((n, p), chunks=(args.chunk_rows, p), dtype=np.float32)
    noise = rng.logistic(size=n, chunks=args.chunk_rows)
    y = (X.dot(w_true) + b_true + noise > 0).astype(np.int8)
    X, y = dask.persist(X, y)
    return X, y, w_true, b_true


def relative_difference(a, b):
    """Largest absolute difference of coefficient vectors, relative to the largest |b|."""
    a, b = np.ravel(a).astype(np.float64), np.ravel(b).astype(np.float64)
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


class EvaluationTimer:
    """Records the wall time of every objective evaluation (one pass over X) of the
    fastlr fits, so that set-up (label encoding, persisting, checks) and per-pass costs
    can be told apart."""

    def __init__(self):
        from fastlr._loss import LogisticObjective

        self.original = LogisticObjective.loss_grad
        self.times = []
        timer = self

        def loss_grad(objective, coef):
            t0 = time.perf_counter()
            out = timer.original(objective, coef)
            timer.times.append(time.perf_counter() - t0)
            return out

        LogisticObjective.loss_grad = loss_grad

    def fit(self, est, *args):
        """(seconds, evaluations, seconds in evaluations, fitted estimator)."""
        self.times = []
        t0 = time.perf_counter()
        est.fit(*args)
        return time.perf_counter() - t0, len(self.times), sum(self.times), est


def main(argv=None):
    args = parse_args(argv)
    from distributed import Client, LocalCluster, wait

    import fastlr

    n, p = args.n_samples, args.n_features
    _progress(f"cluster: {args.n_workers} workers x {args.threads_per_worker} thread(s)")
    cluster = LocalCluster(n_workers=args.n_workers,
                           threads_per_worker=args.threads_per_worker, processes=True,
                           dashboard_address=None, host="127.0.0.1")
    with cluster, Client(cluster) as client:
        _progress(f"data: {n:,} x {p} float32 ({n * p * 4 / 1e9:.2f} GB) on the workers, "
                  f"chunks of {args.chunk_rows:,} rows")
        X, y, w_true, b_true = make_data(args)
        wait([X, y])
        coef_true = np.append(w_true, b_true)

        def fastlr_model(**kw):
            params = {"C": args.C, "tol": args.tol, "max_iter": args.max_iter, **kw}
            return fastlr.LogisticRegression(**params)

        timer = EvaluationTimer()
        rows = []  # (name, seconds, n_iter, evaluations, seconds in evaluations, coef)

        # fastlr on Dask: a two-iteration fit first loads the JIT kernels on the workers
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fastlr.LogisticRegression(max_iter=2).fit(X, y)
        _progress("fastlr on Dask ...")
        t, n_eval, t_eval, est = timer.fit(fastlr_model(), X, y)
        rows.append(("fastlr on Dask", t, int(est.n_iter_[0]), n_eval, t_eval,
                     np.append(est.coef_[0], est.intercept_[0])))

        if not args.skip_in_memory:
            _progress("gathering X for the in-memory baseline ...")
            X_mem, y_mem = client.compute([X, y], sync=True)
            small = slice(0, min(n, 20_000))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fastlr_model(max_iter=2, backend="numba").fit(X_mem[small], y_mem[small])
            _progress("fastlr in memory ...")
            t, n_eval, t_eval, est_mem = timer.fit(fastlr_model(backend="numba"),
                                                   X_mem, y_mem)
            rows.append(("fastlr in memory", t, int(est_mem.n_iter_[0]), n_eval, t_eval,
                         np.append(est_mem.coef_[0], est_mem.intercept_[0])))
            del X_mem

        if not args.skip_dask_ml:
            from dask_ml.linear_model import LogisticRegression as DaskMLLogisticRegression

            _progress("dask-ml (lbfgs) ...")
            dml = DaskMLLogisticRegression(solver="lbfgs", C=args.C, tol=args.tol * n,
                                           max_iter=args.max_iter,
                                           solver_kwargs={"normalize": False})
            t0 = time.perf_counter()
            dml.fit(X, y)
            rows.append(("dask-ml lbfgs", time.perf_counter() - t0, None, None, None,
                         np.append(np.ravel(dml.coef_), dml.intercept_)))

    ours = rows[0]
    in_memory = [r for r in rows if r[0] == "fastlr in memory"]
    ref = in_memory[0][5] if in_memory else ours[5]
    print(f"\n{n:,} x {p} float32, {args.n_workers} workers x {args.threads_per_worker} "
          f"thread(s), chunks of {args.chunk_rows:,} rows, C={args.C}, tol={args.tol}")
    print(f"{'':17s} {'fit s':>7s} {'iters':>5s} {'evals':>5s} {'s/eval':>7s} "
          f"{'set-up s':>8s} {'fit / ours':>10s} {'coef rel. diff':>14s} {'vs truth':>8s}")

    def cell(v, fmt, width):
        return f"{v:{width}{fmt}}" if v is not None else f"{'-':>{width}s}"

    for name, t, it, n_eval, t_eval, coef in rows:
        print(f"{name:17s} {t:7.2f} {cell(it, 'd', 5)} {cell(n_eval, 'd', 5)} "
              f"{cell(t_eval / n_eval if n_eval else None, '.3f', 7)} "
              f"{cell(t - t_eval if n_eval else None, '.2f', 8)} {t / ours[1]:10.2f} "
              f"{relative_difference(coef, ref):14.2e} "
              f"{relative_difference(coef, coef_true):8.3f}")
    per_eval = ours[4] / ours[3]
    for name, t, it, n_eval, t_eval, _ in rows[1:]:
        if n_eval:
            print(f"Dask overhead per evaluation: {(per_eval - t_eval / n_eval) * 1e3:.1f} "
                  f"ms ({per_eval / (t_eval / n_eval):.2f}x the in-memory pass); "
                  f"set-up {ours[1] - ours[4]:.2f} s per fit")
        else:
            print(f"fastlr on Dask is {t / ours[1]:.1f}x faster than {name} "
                  "(whole fit, same cluster)")
    print("evals: passes over X; set-up: fit time outside them. coef rel. diff: "
          "max |coef - in-memory coef| / max |in-memory coef| over [w, b]; vs truth: "
          "the same against the generating model.")

if __name__ == "__main__":
    main()
