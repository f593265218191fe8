"""L2 fits against the machine's limits and against scikit-learn, its Intel extension
and glum: the figures of the README's "Speed to the roofline" table.

Every figure is measured in one run, as a median of ``--repeats`` (epochs and the
ceilings: more). Parts (``--parts``, comma-separated):

``ceiling``
    the machine's read bandwidth (``np.dot`` of two 1e8 float64 vectors, BLAS) and
    its float64 FMA rate (``dgemm`` of two 2,000 x 2,000 matrices, BLAS, on all
    threads and on one), the limits the epochs are measured against.
``epoch``
    one ``loss_and_grad`` (Numba, all threads, and one thread) on the dense benchmark
    data (``bench_cpu.make_data``, 1,000,000 x 100), float64 and float32, and on the
    wide setting's shape (100,000 x 1,000 float64): bytes of X
    over time, as a fraction of the read bandwidth (the run's, and the mean of two
    measurements right before and after that epoch, since on a shared VM it moves
    between calls); and one multinomial epoch on
    500,000 x 100 with 10 classes: ``2 K p`` multiply-adds per row (the scores, then
    the gradient), as GFLOP/s and as a fraction of the dgemm rate on the same threads
    (the run's, and the mean of two measurements right before and after).
``default``
    fits at scikit-learn's default ``tol`` (1e-4), ``C=1``: fastlr's lbfgs and
    newton-cholesky, scikit-learn's lbfgs and newton-cholesky, scikit-learn-intelex's
    LogisticRegression (oneDAL; lbfgs) and glum (binary only, ``alpha = 1/(C n)``).
    Time, iterations, and the objective's relative distance to the lowest one seen.
``tight``
    time to an objective within ``--gap`` (1e-8, relative) of the lowest any library
    reaches: each library's tolerance is lowered 10x at a time from 1e-4 until its
    objective is there; its time is the median of ``--repeats`` fits at the first
    tolerance that gets there (the ladder's own single fits are kept as
    ``ladder_seconds``).

Settings (``--settings``): ``dense`` (1,000,000 x 100 float64, binary),
``dense32`` (the same in float32; ``default`` only), ``wide`` (100,000 x 1,000
float64), ``scaled`` (200,000 x 100 float64, column scales from 1e-2 to 1e2, where
L-BFGS struggles and Newton does not; not in the default list), ``multi`` (500,000 x
100, 10 classes, ``bench_l1.make_multiclass``; no
Newton there: its Hessian is 1,010 x 1,010, 500 GFLOP per pass, and no glum).

Every library is scored with ``bench_l1.objective`` (scikit-learn's objective over
``C n``, in float64). The mappings: scikit-learn-intelex takes scikit-learn's
parameters; glum's ``alpha = 1 / (C n)`` with ``l1_ratio=0`` (checked numerically by
``bench_l1.py``'s mapping check, and here by the ``tight`` gaps).

Usage::

    python scripts/bench_fit.py                         # everything (about 30 min)
    python scripts/bench_fit.py --quick                 # small sizes, minutes
    python scripts/bench_fit.py --settings dense --parts default,tight --out results/
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import blas_idle, median_time, read_bandwidth, wall_time  # noqa: E402
from bench_cpu import make_data  # noqa: E402
from bench_l1 import make_multiclass, objective  # noqa: E402
from bench_sparse import cpu_flags, isa, markdown_table  # noqa: E402
from compare import machine_info  # noqa: E402

LIBRARIES = ("fastlr-lbfgs", "fastlr-newton", "sklearn-lbfgs", "sklearn-newton",
             "sklearnex", "glum")


def progress(msg):
    print(f"[bench_fit] {msg}", file=sys.stderr, flush=True)


# -- the machine's limits ---------------------------------------------------------------


def dgemm_gflops(threads=None, n=2000, repeats=5):
    """float64 GFLOP/s of BLAS's dgemm (2 n^3 flops) on ``threads`` threads."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((n, n))
    b = np.random.default_rng(1).standard_normal((n, n))
    with threadpool_limits(limits=threads, user_api="blas"):
        seconds = median_time(lambda: a @ b, repeats=repeats, warmup=1)
    blas_idle()
    return 2 * n**3 / seconds / 1e9


def bench_ceiling(args):
    import numba

    progress("ceilings: read bandwidth, dgemm")
    return {"read_GBps": read_bandwidth(repeats=args.epoch_repeats),
            "dgemm_GFLOPs": dgemm_gflops(None, repeats=args.epoch_repeats),
            "dgemm_1thread_GFLOPs": dgemm_gflops(1, repeats=args.epoch_repeats),
            "threads": numba.get_num_threads()}


def bench_epoch(args, ceiling):
    import fastlr

    rows = []
    n = args.rows
    for n_rows, p, dtype in ((n, 100, np.float64), (n, 100, np.float32),
                             (n // 10, 1000, np.float64)):
        X, y = make_data(n_rows, p, dtype)
        y01 = y.astype(dtype)
        w = np.random.default_rng(1).standard_normal(p) * (1.0 / np.sqrt(p))
        name = np.dtype(dtype).name + ("" if p == 100 else f", {n_rows:,} x {p:,}")
        for threads in (None, 1):
            progress(f"epoch {name}, threads={threads or 'all'}")
            # the read bandwidth of this VM moves between calls (43-71 GB/s in one
            # day): measured again right before and after this epoch, and the epoch
            # compared with the mean of the two as well as with the run's ceiling
            before = read_bandwidth(repeats=5)
            t = median_time(lambda: fastlr.loss_and_grad(X, y01, w, 0.1, backend="numba",
                                                         n_threads=threads),
                            repeats=args.epoch_repeats, warmup=2)
            after = read_bandwidth(repeats=5)
            gbps = X.nbytes / t / 1e9
            rows.append({"what": f"binary epoch {name}",
                         "threads": threads or ceiling["threads"], "seconds": t,
                         "GBps": gbps, "fraction": gbps / ceiling["read_GBps"],
                         "limit": "read bandwidth",
                         "adjacent_read_GBps": [before, after],
                         "adjacent_fraction": gbps / (0.5 * (before + after))})
        del X
    X, y = make_multiclass(args.rows // 2, 100, 10)
    W = np.random.default_rng(2).standard_normal((10, 100)) * 0.1
    B = np.zeros(10)
    for threads in (None, 1):
        progress(f"multinomial epoch, threads={threads or 'all'}")
        # the dgemm rate on the same threads right before and after, as the bandwidth
        # above: the second vCPU's share of its core moves between calls on this VM
        before = dgemm_gflops(threads, repeats=3)
        t = median_time(lambda: fastlr.multinomial_loss_and_grad(
            X, y, W, B, backend="numba", n_threads=threads),
            repeats=args.epoch_repeats, warmup=2)
        after = dgemm_gflops(threads, repeats=3)
        gflops = 4 * 10 * 100 * X.shape[0] / t / 1e9  # 2 K p multiply-adds per row
        peak = ceiling["dgemm_GFLOPs"] if threads is None else ceiling["dgemm_1thread_GFLOPs"]
        rows.append({"what": "multinomial epoch float64, 10 classes",
                     "threads": threads or ceiling["threads"], "seconds": t,
                     "GFLOPs": gflops, "fraction": gflops / peak, "limit": "dgemm rate",
                     "adjacent_GFLOPs": [before, after],
                     "adjacent_fraction": gflops / (0.5 * (before + after))})
    return rows


# -- the fits ------------------------------------------------------------------------------


class Setting:
    def __init__(self, name, args):
        self.name = name
        n = args.rows
        if name in ("dense", "dense32"):
            dtype = np.float32 if name == "dense32" else np.float64
            self.X, self.y = make_data(n, 100, dtype, seed=2)
        elif name == "wide":
            self.X, self.y = make_data(n // 10, 1000, np.float64, seed=3)
        elif name == "scaled":  # badly scaled columns: 10^-2 .. 10^2
            X, self.y = make_data(n // 5, 100, np.float64, seed=4)
            X *= 10.0 ** np.random.default_rng(5).uniform(-2, 2, 100)
            self.X = X
        elif name == "multi":
            self.X, self.y = make_multiclass(n // 2, 100, 10)
        else:
            raise ValueError(name)
        self.multiclass = int(self.y.max()) > 1
        self.C = args.C

    def supports(self, lib):
        if lib == "glum" and self.multiclass:
            return "no multinomial family"
        if lib.endswith("newton") and self.multiclass:
            return "not run: a 1,010 x 1,010 Hessian, 500 GFLOP per pass"
        return None


def _estimator(lib, C, tol):
    if lib.startswith("fastlr"):
        import fastlr

        solver = "newton-cholesky" if lib.endswith("newton") else "lbfgs"
        return fastlr.LogisticRegression(C=C, tol=tol, solver=solver, max_iter=10_000)
    if lib.startswith("sklearn-"):
        from sklearn.linear_model import LogisticRegression

        solver = "newton-cholesky" if lib.endswith("newton") else "lbfgs"
        return LogisticRegression(C=C, tol=tol, solver=solver, max_iter=10_000)
    if lib == "sklearnex":
        from sklearnex.linear_model import LogisticRegression

        return LogisticRegression(C=C, tol=tol, max_iter=10_000)
    raise ValueError(lib)


def fit_once(lib, s, tol):
    """One fit: (seconds, W, B, n_iter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if lib == "glum":
            from glum import GeneralizedLinearRegressor

            model = GeneralizedLinearRegressor(family="binomial",
                                               alpha=1.0 / (s.C * s.X.shape[0]),
                                               l1_ratio=0.0, gradient_tol=tol,
                                               max_iter=10_000)
            yf = s.y.astype(np.float64)
            t = wall_time(lambda: model.fit(s.X, yf))
            return t, np.asarray(model.coef_, np.float64), float(model.intercept_), \
                int(model.n_iter_)
        model = _estimator(lib, s.C, tol)
        t = wall_time(lambda: model.fit(s.X, s.y))
        W = np.asarray(model.coef_, dtype=np.float64)
        B = np.asarray(model.intercept_, dtype=np.float64)
        if not s.multiclass:
            W, B = W.ravel(), float(B[0])
        return t, W, B, int(np.max(model.n_iter_))


def run(lib, s, tol, repeats=1):
    times = []
    for _ in range(repeats):
        t, W, B, it = fit_once(lib, s, tol)
        times.append(t)
    J = objective(s.X, s.y, W, B, s.C, 0.0)
    return {"library": lib, "tol": tol, "seconds": float(np.median(times)),
            "all_seconds": times, "n_iter": it, "J": J}


def warm(lib, s):
    """Untimed fit on 2,000 rows: imports, JIT compilation, library start-up."""
    small = Setting.__new__(Setting)
    small.__dict__.update(s.__dict__)
    small.X, small.y = s.X[:2000], s.y[:2000]
    fit_once(lib, small, 1e-4)


def bench_setting(s, args, parts):
    progress(f"{s.name}: reference (fastlr newton/lbfgs, tol=1e-10)")
    ref_lib = "fastlr-lbfgs" if s.multiclass else "fastlr-newton"
    warm(ref_lib, s)
    best = [run(ref_lib, s, 1e-10)["J"]]
    out = {"setting": s.name, "shape": list(s.X.shape), "dtype": s.X.dtype.name,
           "n_classes": int(s.y.max()) + 1, "C": s.C, "libraries": {}}
    for lib in args.libraries:
        why = s.supports(lib)
        if why:
            out["libraries"][lib] = {"skipped": why}
            continue
        try:
            warm(lib, s)
        except ImportError as exc:
            out["libraries"][lib] = {"skipped": f"not installed ({exc})"}
            continue
        entry = out["libraries"][lib] = {}
        if "default" in parts:
            progress(f"{s.name}: {lib}, tol=1e-4 x{args.repeats}")
            entry["default"] = run(lib, s, 1e-4, repeats=args.repeats)
            best[0] = min(best[0], entry["default"]["J"])
        if "tight" in parts and s.name != "dense32":
            entry["tight"] = ladder(lib, s, best, args)
    J = best[0]
    out["best_J"] = J
    for entry in out["libraries"].values():
        for run_ in [entry.get("default")] + entry.get("tight", []):
            if run_:
                run_["rel_gap"] = (run_["J"] - J) / abs(J)
    for lib, entry in out["libraries"].items():
        reached = [r for r in entry.get("tight", []) if r["rel_gap"] <= args.gap]
        if reached:
            # the ladder timed one fit per tolerance; the figure is the median of
            # --repeats fits at the tolerance that reached the gap, as for the default
            first = reached[0]
            progress(f"{s.name}: {lib}, tol={first['tol']:g} x{args.repeats}")
            again = run(lib, s, first["tol"], repeats=args.repeats)
            entry["tight_result"] = dict(first, seconds=again["seconds"],
                                         all_seconds=again["all_seconds"],
                                         ladder_seconds=first["seconds"])
    return out


def ladder(lib, s, best, args):
    runs = []
    tol = 1e-4
    while tol >= 1e-12:
        progress(f"{s.name}: {lib}, tight ladder, tol={tol:g}")
        r = run(lib, s, tol)
        runs.append(r)
        best[0] = min(best[0], r["J"])
        gap = (r["J"] - best[0]) / abs(best[0])
        progress(f"  {r['seconds']:.3f} s, {r['n_iter']} iterations, gap {gap:.2e}")
        if gap <= args.gap or r["seconds"] > args.peer_max_seconds:
            break
        if len(runs) > 1 and abs(r["J"] - runs[-2]["J"]) <= 1e-15 * abs(r["J"]):
            break
        tol /= 10
    return runs


# -- the report --------------------------------------------------------------------------


def _fmt(x, unit="s"):
    return "-" if x is None else f"{x:.3f} {unit}"


def _adjacent(e):
    """'71% of 42.5 / 42.9 GB/s': the epoch against its limit measured around it."""
    if "adjacent_fraction" not in e:
        return ""
    values, unit = ((e["adjacent_read_GBps"], "GB/s") if "adjacent_read_GBps" in e
                    else (e["adjacent_GFLOPs"], "GFLOP/s"))
    return (f"{100 * e['adjacent_fraction']:.0f}% of "
            + " / ".join(f"{g:.1f}" for g in values) + f" {unit}")


def report(res):
    lines = [f"Machine: {res['machine'].get('cpu', '?')} ({res['isa']}), "
             f"{res['ceiling'].get('threads', '?')} threads." if "ceiling" in res else ""]
    c = res.get("ceiling")
    if c:
        lines.append(f"Read bandwidth {c['read_GBps']:.1f} GB/s; dgemm "
                     f"{c['dgemm_GFLOPs']:.1f} GFLOP/s (1 thread: "
                     f"{c['dgemm_1thread_GFLOPs']:.1f}).\n")
    if res.get("epoch"):
        rows = [[e["what"], e["threads"], f"{e['seconds'] * 1e3:.1f} ms",
                 f"{e.get('GBps', e.get('GFLOPs')):.1f} "
                 + ("GB/s" if "GBps" in e else "GFLOP/s"),
                 f"{100 * e['fraction']:.0f}% of {e['limit']}",
                 _adjacent(e)]
                for e in res["epoch"]]
        lines.append(markdown_table(["epoch", "threads", "time", "rate", "of the limit",
                                     "of the limit measured just before / after"], rows))
    for st in res.get("settings", []):
        libs = st["libraries"]
        lines.append(f"\n{st['setting']}: {st['shape'][0]:,} x {st['shape'][1]:,} "
                     f"{st['dtype']}, {st['n_classes']} classes, C={st['C']}")
        base = libs.get("fastlr-lbfgs", {}).get("default")
        rows = []
        for name, e in libs.items():
            if "skipped" in e:
                rows.append([name, e["skipped"], "", "", "", "", ""])
                continue
            d, t = e.get("default"), e.get("tight_result")
            ratio = f"{d['seconds'] / base['seconds']:.2f}x" if d and base else "-"
            rows.append([name, _fmt(d and d["seconds"]), d and d["n_iter"],
                         f"{d['rel_gap']:.1e}" if d else "-", ratio,
                         _fmt(t and t["seconds"]),
                         f"tol={t['tol']:g}" if t else
                         ("not reached" if e.get("tight") else "-")])
        lines.append(markdown_table(["library", "default tol", "iter", "gap",
                                     "time / fastlr lbfgs", "to gap 1e-8", "at"], rows))
    return "\n".join(lines)


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", default="ceiling,epoch,default,tight")
    ap.add_argument("--settings", default="dense,dense32,wide,multi")
    ap.add_argument("--libraries", default=",".join(LIBRARIES))
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epoch-repeats", type=int, default=9)
    ap.add_argument("--gap", type=float, default=1e-8)
    ap.add_argument("--peer-max-seconds", type=float, default=120.0)
    ap.add_argument("--quick", action="store_true", help="100,000 rows, fewer repeats")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.rows, args.repeats, args.epoch_repeats = 100_000, 1, 3
    args.libraries = [x for x in args.libraries.split(",") if x]
    return args


def main(argv=None):
    args = parse_args(argv)
    parts = set(args.parts.split(","))
    res = {"machine": machine_info(), "isa": isa(cpu_flags()), "args": {
        k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    started = time.time()
    if parts & {"ceiling", "epoch"}:
        res["ceiling"] = bench_ceiling(args)
    if "epoch" in parts:
        res["epoch"] = bench_epoch(args, res["ceiling"])
    if parts & {"default", "tight"}:
        res["settings"] = []
        for name in args.settings.split(","):
            s = Setting(name, args)
            res["settings"].append(bench_setting(s, args, parts))
            del s
    res["wall_seconds"] = time.time() - started
    print(report(res))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_fit.json").write_text(json.dumps(res, indent=1, default=float))
    return res


if __name__ == "__main__":
    main()
