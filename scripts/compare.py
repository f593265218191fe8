"""Explicit loops, vectorised NumPy and fused JIT kernels, measured on this machine.

Three parts, each printed as a table of ratios measured in the same run:

1. ``dot``: the dot product of two 1,000,000-vectors, as an explicit Python loop, as
   ``np.dot`` and as a small Numba kernel.
2. ``epoch``: one gradient-descent epoch (the loss ``J`` and the gradients ``dw``,
   ``db`` at given ``w``, ``b``) over a range of ``n_samples``: the explicit-loop
   algorithm (pure Python, timed only at the sizes where it finishes quickly, never
   extrapolated), the vectorised NumPy backend, the fused Numba kernel on one thread
   and on all threads, and CUDA where available. Achieved bandwidth (bytes of ``X`` /
   time) is set against the machine's read bandwidth, measured in the same run.
3. ``fit``: ``fastlr.LogisticRegression`` against scikit-learn's, same ``C`` and
   ``tol``: time, iterations, coefficient difference and accuracy.

Plots (PNG) and a JSON file with every number go to ``--out`` (default ``results/``).
Run ``python scripts/compare.py --help`` for the options; ``--quick`` takes well under
a minute.

The epoch timings call the backend kernels through the registry
(``fastlr.backends.get_backend(name).binary_sums``), which is what a solver calls at
every iteration. The public :func:`fastlr.loss_and_grad` adds input validation (one
more pass over ``X``); its cost is reported separately at the largest size.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import numba
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time, read_bandwidth  # noqa: E402

import fastlr  # noqa: E402
from fastlr.backends import get_backend  # noqa: E402

# Epoch "backends": names on the command line -> labels in tables and plots.
EPOCH_LABELS = {
    "loop": "Python loop",
    "numpy": "NumPy",
    "numba-1": "Numba, 1 thread",
    "numba": "Numba, all threads",
    "cuda": "CUDA",
}
TEXTBOOK = "textbook: loop ~400 ms, np.dot ~2 ms"

_T0 = time.perf_counter()


def progress(msg):
    """One line of progress on stderr, with the time since the start."""
    print(f"[compare {time.perf_counter() - _T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    import numba
    import scipy
    import sklearn

    info = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": None,
        "numba_threads": numba.get_num_threads(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "scikit-learn": sklearn.__version__,
        "numba": numba.__version__,
        "fastlr": fastlr.__version__,
        "available_backends": list(fastlr.available_backends()),
    }
    try:
        import psutil

        info["physical_cores"] = psutil.cpu_count(logical=False)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: p.get(k) for k in ("internal_api", "num_threads", "architecture")}
            for p in threadpool_info()
            if p.get("user_api") == "blas"
        ]
    except ImportError:
        pass
    return info


def machine_line(info):
    cores = info["physical_cores"] or info["logical_cores"]
    return f"{info['cpu']}, {cores} cores ({info['logical_cores']} threads)"


# ---------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------


def print_table(title, header, rows):
    """Print rows (lists of str) under a header, columns right-aligned."""
    cols = list(zip(header, *rows))
    widths = [max(len(c) for c in col) for col in cols]
    print(f"\n{title}")
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths)))
    sys.stdout.flush()


# Pause after functions that call multi-threaded BLAS (see interleaved_medians).
BLAS_SETTLE_S = 0.2


def interleaved_medians(fns, repeats, min_time=0.02, settle_after=("numpy",)):
    """Median seconds per call of each of ``fns`` ({name: callable}).

    Within each repeat the functions are timed in turn, so that a burst of load from
    other processes on a shared machine hits all of them alike and their ratios stay
    fair. With ``min_time``, each function is called once untimed before each timed
    repeat, which calls it enough times to fill ``min_time`` seconds; with ``None``,
    once per repeat, no warm-up.
    """
    numbers = {}
    for name, fn in fns.items():
        if min_time is None:
            numbers[name] = 1
        else:
            t = median_time(fn, repeats=1, warmup=1)
            numbers[name] = max(1, math.ceil(min_time / max(t, 1e-9)))
    samples = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            # with min_time, one untimed call first: after the previous function ran on
            # one core, the other core may be idle, and on a virtual machine waking it
            # took up to 12 ms, which would be charged to a multi-threaded kernel
            warmup = 0 if min_time is None else 1
            samples[name].append(median_time(fn, repeats=1, warmup=warmup,
                                             number=numbers[name]))
            if name in settle_after:
                # OpenBLAS's threads spin for ~0.1 s after a call, taking a core from
                # whatever runs next: let them go to sleep before the next function
                time.sleep(BLAS_SETTLE_S)
    return {name: statistics.median(v) for name, v in samples.items()}


def fmt_time(s):
    if s is None:
        return "-"
    if s >= 1:
        return f"{s:.2f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def fmt_ratio(r):
    if r is None or not math.isfinite(r):
        return "-"
    return f"{r:.3g}x" if r < 1000 else f"{r:,.0f}x"


def fmt_size(n):
    return f"{n:,}"


# ---------------------------------------------------------------------------------
# Part 1: the dot product
# ---------------------------------------------------------------------------------


@njit(fastmath={"reassoc", "contract"})  # lets LLVM vectorise the reduction
def numba_dot(a, b):
    """The same loop as :func:`dot_loop`, compiled by Numba (one thread)."""
    c = 0.0
    for i in range(a.shape[0]):
        c += a[i] * b[i]
    return c


def dot_loop(a, b):
    """The textbook's explicit loop over two NumPy vectors."""
    c = 0.0
    for i in range(len(a)):
        c += a[i] * b[i]
    return c


def part_dot(args, rng):
    n = args.dot_size
    a = rng.random(n).astype(args.dtype)
    b = rng.random(n).astype(args.dtype)
    numba_dot(a[:8], b[:8])  # compile before timing
    ref = float(np.dot(a.astype(np.float64), b.astype(np.float64)))
    progress(f"dot: explicit loop over {n:,} elements ({args.loop_repeats} repeat(s))")
    t_loop = median_time(lambda: dot_loop(a, b), repeats=args.loop_repeats, warmup=0)
    progress("dot: np.dot and the Numba kernel")
    t = interleaved_medians({"np.dot": lambda: np.dot(a, b), "numba": lambda: numba_dot(a, b)},
                            args.repeats, settle_after=("np.dot",))
    t_np, t_nb = t["np.dot"], t["numba"]
    results = {}
    for name, t, fn in (("loop", t_loop, dot_loop), ("np.dot", t_np, np.dot),
                        ("numba", t_nb, numba_dot)):
        value = float(fn(a, b)) if name != "loop" else None  # the loop: checked below
        results[name] = {"seconds": t, "gb_per_s": 2 * a.nbytes / t / 1e9,
                         "rel_err": None if value is None else abs(value - ref) / abs(ref)}
    head = float(np.dot(a[:10_000].astype(np.float64), b[:10_000].astype(np.float64)))
    results["loop"]["rel_err"] = abs(dot_loop(a[:10_000], b[:10_000]) - head) / abs(head)
    rows = [
        [name, fmt_time(results[name]["seconds"]), fmt_ratio(t_loop / results[name]["seconds"]),
         fmt_ratio(results[name]["seconds"] / t_np), f"{results[name]['gb_per_s']:.3g}"]
        for name in ("loop", "np.dot", "numba")
    ]
    print_table(
        f"1. Dot product of two {n:,}-vectors ({args.dtype}; {TEXTBOOK})",
        ["method", "time", "speed-up vs loop", "time / np.dot", "GB/s"],
        rows,
    )
    return {"n": n, "results": results}


# ---------------------------------------------------------------------------------
# Part 2: one epoch
# ---------------------------------------------------------------------------------


def epoch_loop(X, y, w, b):
    """One epoch with explicit loops over samples and features (pure Python).

    X : list of n_samples lists of n_features floats; y : list of 0/1 floats;
    w : list of n_features floats; b : float.
    Returns the sums ``(J_sum, dw_sum, db_sum)`` of the backend contract.
    """
    m = len(X)
    n = len(w)
    J = 0.0
    dw = [0.0] * n
    db = 0.0
    for i in range(m):
        xi = X[i]
        z = b
        for j in range(n):
            z += w[j] * xi[j]
        t = math.exp(-abs(z))  # stable sigmoid and log-loss
        a = 1.0 / (1.0 + t) if z >= 0 else t / (1.0 + t)
        J += max(z, 0.0) + math.log1p(t) - y[i] * z  # -(y log a + (1 - y) log(1 - a))
        dz = a - y[i]
        for j in range(n):
            dw[j] += xi[j] * dz
        db += dz
    return J, np.array(dw), db


def make_epoch_data(n_samples, n_features, dtype, rng):
    X = rng.standard_normal((n_samples, n_features), dtype=np.float64 if dtype == "float64"
                            else np.float32)
    w_true = rng.standard_normal(n_features) / math.sqrt(n_features)
    z = X[: min(n_samples, 100_000)] @ w_true.astype(X.dtype)
    # labels from the model for the first rows, then repeated: cheap and realistic
    p = 1 / (1 + np.exp(-z))
    y_head = (rng.random(z.shape[0]) < p).astype(X.dtype)
    y = np.resize(y_head, n_samples)
    w = 0.1 * rng.standard_normal(n_features)
    b = 0.1
    return X, y, w, b


def epoch_functions(names, X, y, w, b):
    """{name: zero-argument callable returning (J_sum, dw_sum, db_sum)}."""
    fns = {}
    for name in names:
        if name == "loop":
            Xl, yl, wl = X.tolist(), y.tolist(), w.tolist()
            fns[name] = lambda Xl=Xl, yl=yl, wl=wl: epoch_loop(Xl, yl, wl, b)
        elif name == "numpy":
            be = get_backend("numpy")
            fns[name] = lambda be=be: be.binary_sums(X, y, None, w, b)
        elif name == "numba-1":
            be = get_backend("numba")
            fns[name] = lambda be=be: be.binary_sums(X, y, None, w, b, n_threads=1)
        elif name == "numba":
            be = get_backend("numba")
            n_all = numba.get_num_threads()  # explicit: the default uses fewer on small X
            fns[name] = lambda be=be: be.binary_sums(X, y, None, w, b, n_threads=n_all)
        elif name == "cuda":
            be = get_backend("cuda")
            X_d, y_d, _ = be.prepare(X, y)  # data stays on the device, as in a fit
            fns[name] = lambda be=be, X_d=X_d, y_d=y_d: be.binary_sums(X_d, y_d, None, w, b)
    return fns


def rel_err(res, ref):
    J, dw, db = res
    J0, dw0, db0 = ref
    scale = max(np.max(np.abs(dw0)), abs(db0), 1e-30)
    return max(abs(J - J0) / max(abs(J0), 1e-30),
               float(np.max(np.abs(np.asarray(dw) - dw0))) / scale,
               abs(db - db0) / scale)


def part_epoch(args, rng, bandwidth):
    p = args.n_features
    sizes = sorted(args.sizes)
    X_all, y_all, w, b = make_epoch_data(max(sizes), p, args.dtype, rng)
    names = [n for n in EPOCH_LABELS if n in args.backends]
    # warm every JIT kernel on a tiny problem of the same dtype before any timing
    for fn in epoch_functions([n for n in names if n != "loop"], X_all[:300], y_all[:300],
                              w, b).values():
        fn()
    tol = 1e-9 if args.dtype == "float64" else 1e-4
    rows = []
    for k, n in enumerate(sizes, 1):
        X, y = X_all[:n], y_all[:n]
        ref = get_backend("numpy").binary_sums(X, y, None, w, b)
        todo = [name for name in names if name != "loop" or n * p <= args.loop_max_elements]
        fns = epoch_functions(todo, X, y, w, b)
        row = {"n_samples": n, "n_features": p, "bytes": X.nbytes, "seconds": {},
               "gb_per_s": {}, "rel_err": {}}
        progress(f"epoch [{k}/{len(sizes)}] n_samples={n:,}: "
                 + ", ".join(EPOCH_LABELS[name] for name in fns))
        times = interleaved_medians({m: f for m, f in fns.items() if m != "loop"}, args.repeats)
        if "loop" in fns:
            times["loop"] = median_time(fns["loop"], repeats=args.loop_repeats, warmup=0)
        for name, fn in fns.items():
            t = times[name]
            err = rel_err(fn(), ref)
            if err > tol:
                warnings.warn(f"{name} at n_samples={n}: relative error {err:.2e} against "
                              "the NumPy reference", stacklevel=1)
            row["seconds"][name] = t
            row["gb_per_s"][name] = X.nbytes / t / 1e9
            row["rel_err"][name] = err
        rows.append(row)

    # the public API on top of the kernels, at the largest size
    api = {}
    X, y = X_all, y_all
    for name in ("numpy", "numba"):
        if name in names:
            progress(f"epoch: fastlr.loss_and_grad(backend={name!r}) at n_samples={len(X):,}")
            t = median_time(lambda name=name: fastlr.loss_and_grad(X, y, w, b, backend=name),
                            repeats=args.repeats, warmup=1, min_time=0.02)
            api[name] = {"seconds": t, "over_kernel": t / rows[-1]["seconds"][name]}

    header = ["n_samples", "MB of X"] + [EPOCH_LABELS[n] for n in names]
    print_table(
        f"2a. One epoch (J, dw, db), n_features={p}, {args.dtype}: median time",
        header,
        [[fmt_size(r["n_samples"]), f"{r['bytes'] / 1e6:.3g}"]
         + [fmt_time(r["seconds"].get(n)) for n in names] for r in rows],
    )
    print_table(
        "2b. Speed-up against NumPy (NumPy time / time)",
        header,
        [[fmt_size(r["n_samples"]), f"{r['bytes'] / 1e6:.3g}"]
         + [fmt_ratio(r["seconds"]["numpy"] / r["seconds"][n]) if n in r["seconds"]
            and "numpy" in r["seconds"] else "-" for n in names] for r in rows],
    )
    print_table(
        f"2c. Achieved GB/s (bytes of X / time) and fraction of the read bandwidth "
        f"({bandwidth:.3g} GB/s, np.dot); above 100% means X sits in cache",
        header,
        [[fmt_size(r["n_samples"]), f"{r['bytes'] / 1e6:.3g}"]
         + [f"{r['gb_per_s'][n]:.3g} ({100 * r['gb_per_s'][n] / bandwidth:.0f}%)"
            if n in r["gb_per_s"] else "-" for n in names] for r in rows],
    )
    if api:
        print_table(
            f"2d. Public fastlr.loss_and_grad (input checks + kernel) against the kernel "
            f"alone, n_samples={len(X_all):,}",
            ["backend", "loss_and_grad", "kernel", "ratio"],
            [[n, fmt_time(a["seconds"]), fmt_time(rows[-1]["seconds"][n]),
              fmt_ratio(a["over_kernel"])] for n, a in api.items()],
        )
    return {"backends": names, "labels": {n: EPOCH_LABELS[n] for n in names},
            "rows": rows, "loss_and_grad": api}


# ---------------------------------------------------------------------------------
# Part 3: a full fit against scikit-learn
# ---------------------------------------------------------------------------------


def fit_configs(names):
    """(label, factory) pairs; the factory takes (C, tol, max_iter)."""
    from sklearn.linear_model import LogisticRegression as SkLR

    configs = [("scikit-learn (lbfgs)", lambda C, tol, it: SkLR(C=C, tol=tol, max_iter=it))]
    for name in names:
        if name == "loop":
            continue
        backend = "numba" if name == "numba-1" else name
        n_jobs = 1 if name == "numba-1" else None
        configs.append((
            f"fastlr lbfgs, {EPOCH_LABELS[name]}",
            lambda C, tol, it, backend=backend, n_jobs=n_jobs: fastlr.LogisticRegression(
                C=C, tol=tol, max_iter=it, backend=backend, n_jobs=n_jobs),
        ))
    return configs


def part_fit(args, rng):
    from sklearn.datasets import make_classification

    n, p = args.fit_samples, args.fit_features
    n_test = max(n // 4, 100)
    X, y = make_classification(n_samples=n + n_test, n_features=p,
                               n_informative=max(2, p // 2), n_redundant=0,
                               random_state=int(rng.integers(2**31)))
    X = X.astype(args.dtype)
    X_train, X_test, y_train, y_test = X[:n], X[n:], y[:n], y[n:]
    configs = fit_configs(args.backends)
    # warm the JIT (and scipy) on a tiny problem of the same dtype
    for _, make in configs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            make(args.C, args.tol, 5).fit(X_train[:200], y_train[:200])
    holders = {label: {} for label, _ in configs}
    count = [0]
    total = len(configs) * args.fit_repeats

    def run(make, holder, label):
        count[0] += 1
        progress(f"fit [{count[0]}/{total}] {label}, {n:,} x {p}")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            holder["model"] = make(args.C, args.tol, args.max_iter).fit(X_train, y_train)
        holder["warnings"] = [str(w.message) for w in caught]

    times = interleaved_medians(
        {label: (lambda make=make, label=label: run(make, holders[label], label))
         for label, make in configs},
        args.fit_repeats, min_time=None,
        settle_after=("scikit-learn (lbfgs)", f"fastlr lbfgs, {EPOCH_LABELS['numpy']}"))
    rows = []
    for label, _ in configs:
        t = times[label]
        holder = holders[label]
        m = holder["model"]
        coef = np.concatenate([np.ravel(m.coef_), np.ravel(m.intercept_)]).astype(np.float64)
        rows.append({"label": label, "seconds": t, "n_iter": int(np.max(m.n_iter_)),
                     "coef": coef, "accuracy": float(m.score(X_test, y_test)),
                     "warnings": holder["warnings"]})
    ref = rows[0]
    for r in rows:
        r["speedup_vs_sklearn"] = ref["seconds"] / r["seconds"]
        r["coef_rel_diff"] = float(np.max(np.abs(r["coef"] - ref["coef"]))
                                   / max(np.max(np.abs(ref["coef"])), 1e-30))
        r["coef"] = r["coef"].tolist()
    print_table(
        f"3. Full fit, {n:,} x {p} {args.dtype} (make_classification), C={args.C}, "
        f"tol={args.tol}, test set {n_test:,}",
        ["model", "time", "speed-up vs sklearn", "iterations", "max|coef diff| (rel)",
         "accuracy"],
        [[r["label"], fmt_time(r["seconds"]), fmt_ratio(r["speedup_vs_sklearn"]),
          str(r["n_iter"]), f"{r['coef_rel_diff']:.1e}", f"{r['accuracy']:.4f}"]
         for r in rows],
    )
    for r in rows:
        for w in r["warnings"]:
            print(f"   note ({r['label']}): {w.splitlines()[0]}")
    return {"n_samples": n, "n_features": p, "n_test": n_test, "C": args.C, "tol": args.tol,
            "max_iter": args.max_iter, "rows": rows}


# ---------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------

_STYLE = {
    "loop": dict(color="tab:gray", marker="s"),
    "numpy": dict(color="tab:blue", marker="o"),
    "numba-1": dict(color="tab:orange", marker="v", linestyle="--"),
    "numba": dict(color="tab:red", marker="^"),
    "cuda": dict(color="tab:green", marker="D"),
}


def plot_epoch(epoch, bandwidth, info, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_t, ax_bw) = plt.subplots(1, 2, figsize=(12, 5.2), layout="constrained")
    for name in epoch["backends"]:
        pts = [(r["n_samples"], r["seconds"][name], r["gb_per_s"][name])
               for r in epoch["rows"] if name in r["seconds"]]
        if not pts:
            continue
        ns, ts, gbs = zip(*pts)
        label = EPOCH_LABELS[name]
        ax_t.plot(ns, ts, label=label, **_STYLE[name])
        ax_bw.plot(ns, gbs, label=label, **_STYLE[name])
    ax_t.set_xscale("log")
    ax_t.set_yscale("log")
    ax_t.set_xlabel("n_samples")
    ax_t.set_ylabel("time of one epoch (s), median")
    ax_t.set_title("Time per epoch (lower is better)")
    ax_t.grid(True, which="both", alpha=0.3)
    ax_bw.axhline(bandwidth, color="black", linestyle=":",
                  label=f"read bandwidth, np.dot ({bandwidth:.3g} GB/s)")
    ax_bw.set_xscale("log")
    ax_bw.set_yscale("log")
    ax_bw.set_xlabel("n_samples")
    ax_bw.set_ylabel("bytes of X / time (GB/s)")
    ax_bw.set_title("Achieved bandwidth (higher is better)")
    ax_bw.grid(True, which="both", alpha=0.3)
    handles, labels = ax_bw.get_legend_handles_labels()  # every line, and the ceiling
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 6),
               frameon=False)
    fig.suptitle(f"One epoch (J, dw, db), n_features={args.n_features}, {args.dtype}\n"
                 f"{machine_line(info)}")
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_fit(fit, info, args, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = fit["rows"]
    labels = [r["label"] for r in rows]
    times = [r["seconds"] for r in rows]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(rows) + 1.8), constrained_layout=True)
    colors = ["tab:purple"] + ["tab:red"] * (len(rows) - 1)
    bars = ax.barh(labels, times, color=colors)
    for bar, r in zip(bars, rows):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f"  {fmt_time(r['seconds'])}, {fmt_ratio(r['speedup_vs_sklearn'])} vs sklearn,"
                f" {r['n_iter']} it.", va="center", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("fit time (s), median")
    ax.set_xlim(0, max(times) * 1.9)
    ax.set_title(f"Fit, {fit['n_samples']:,} x {fit['n_features']} {args.dtype}, "
                 f"C={fit['C']}, tol={fit['tol']}\n{machine_line(info)}")
    fig.savefig(path, dpi=90)
    plt.close(fig)


# ---------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------


def _int_list(text):
    return [int(float(v)) for v in text.split(",") if v.strip()]


def _shape(text):
    a, b = text.lower().split("x")
    return int(float(a)), int(float(b))


def parse_args(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__.split("\nPlots")[0].strip() + "\n\nPrints tables of ratios "
        "and writes PNG plots and a JSON file of every number\nto --out. Default run: "
        "under a minute on two cores; --quick: seconds.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--quick", action="store_true",
                    help="smaller sizes and fewer repeats: a run well under 30 s")
    ap.add_argument("--out", default="results", help="folder for the PNG plots and JSON (default results/)")
    ap.add_argument("--parts", default="dot,epoch,fit",
                    help="comma-separated subset of dot,epoch,fit (default all three)")
    ap.add_argument("--sizes", type=_int_list, default=None,
                    help="epoch n_samples, comma-separated (1e3 notation allowed); "
                    "default 1e3,3e3,...,1e6 (--quick: up to 1e5)")
    ap.add_argument("--n-features", type=int, default=100, help="epoch n_features (default 100)")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                    help="dtype of X everywhere (default float64)")
    ap.add_argument("--backends", default=None,
                    help="comma-separated subset of " + ",".join(EPOCH_LABELS)
                    + " ('numba-1' is Numba on one thread); default all, with cuda "
                    "only where fastlr.available_backends() lists it")
    ap.add_argument("--repeats", type=int, default=None,
                    help="timed repeats per measurement, median reported "
                    "(default 7, --quick 3)")
    ap.add_argument("--loop-repeats", type=int, default=None,
                    help="repeats of the slow pure-Python loops (default 3, --quick 1)")
    ap.add_argument("--loop-max-elements", type=float, default=None,
                    help="time the explicit-loop epoch only where n_samples * n_features "
                    "is at most this (default 3e6, --quick 2e5); never extrapolated")
    ap.add_argument("--dot-size", type=int, default=1_000_000,
                    help="length of the vectors of part 1 (default 1000000)")
    ap.add_argument("--bandwidth-elements", type=float, default=None,
                    help="float64 elements per vector of the np.dot bandwidth probe "
                    "(default 1e8, i.e. 1.6 GB read; --quick 3e7)")
    ap.add_argument("--fit-shape", type=_shape, default=None,
                    help="n_samples x n_features of the fit, e.g. 100000x100 "
                    "(default 100000x100, --quick 20000x50)")
    ap.add_argument("--fit-repeats", type=int, default=None,
                    help="repeats of each fit (default 3, --quick 1)")
    ap.add_argument("--C", type=float, default=1.0, help="inverse regularisation, both models (default 1.0)")
    ap.add_argument("--tol", type=float, default=1e-6, help="tolerance, both models (default 1e-6)")
    ap.add_argument("--max-iter", type=int, default=1000, help="iteration cap, both models (default 1000)")
    ap.add_argument("--seed", type=int, default=0, help="random seed of the data (default 0)")
    ap.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    args = ap.parse_args(argv)

    q = args.quick
    if args.sizes is None:
        args.sizes = ([1_000, 3_000, 10_000, 30_000, 100_000] if q else
                      [1_000, 3_000, 10_000, 30_000, 100_000, 300_000, 1_000_000])
    if args.repeats is None:
        args.repeats = 3 if q else 7
    if args.loop_repeats is None:
        args.loop_repeats = 1 if q else 3
    if args.loop_max_elements is None:
        args.loop_max_elements = 2e5 if q else 3e6
    if args.bandwidth_elements is None:
        args.bandwidth_elements = 3e7 if q else 1e8
    if args.fit_shape is None:
        args.fit_shape = (20_000, 50) if q else (100_000, 100)
    args.fit_samples, args.fit_features = args.fit_shape
    if args.fit_repeats is None:
        args.fit_repeats = 1 if q else 3
    args.parts = [s.strip() for s in args.parts.split(",") if s.strip()]
    bad = set(args.parts) - {"dot", "epoch", "fit"}
    if bad:
        ap.error(f"unknown part(s) {sorted(bad)}; choose from dot, epoch, fit")

    available = fastlr.available_backends()
    if args.backends is None:
        args.backends = [n for n in EPOCH_LABELS if n != "cuda" or "cuda" in available]
    else:
        args.backends = [s.strip() for s in args.backends.split(",") if s.strip()]
        bad = set(args.backends) - set(EPOCH_LABELS)
        if bad:
            ap.error(f"unknown backend(s) {sorted(bad)}; choose from {list(EPOCH_LABELS)}")
        if "cuda" in args.backends and "cuda" not in available:
            ap.error(f"backend 'cuda' is not available here (available: {available})")
    if "epoch" in args.parts and "numpy" not in args.backends:
        args.backends.insert(0, "numpy")  # the reference for ratios and correctness
    return args


def main(argv=None):
    args = parse_args(argv)
    import numba

    EPOCH_LABELS["numba"] = f"Numba, {numba.get_num_threads()} threads"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    info = machine_info()
    print(f"Machine: {machine_line(info)}; Numba threads {info['numba_threads']}; "
          f"numpy {info['numpy']}, numba {info['numba']}, scikit-learn "
          f"{info['scikit-learn']}; backends {info['available_backends']}")
    report = {"machine": info, "args": {k: v for k, v in vars(args).items()}}

    bandwidth = None
    if "epoch" in args.parts:
        n_bw = int(args.bandwidth_elements)
        progress(f"read bandwidth: np.dot of two float64 vectors of {n_bw:,} elements")
        bandwidth = read_bandwidth(n_bw, repeats=args.repeats)
        print(f"Read bandwidth (np.dot, {16 * n_bw / 1e9:.3g} GB read): {bandwidth:.3g} GB/s")
        report["read_bandwidth_gb_per_s"] = bandwidth
    if "dot" in args.parts:
        report["dot"] = part_dot(args, rng)
    if "epoch" in args.parts:
        report["epoch"] = part_epoch(args, rng, bandwidth)
    if "fit" in args.parts:
        report["fit"] = part_fit(args, rng)

    written = []
    if not args.no_plots:
        if "epoch" in report:
            plot_epoch(report["epoch"], bandwidth, info, args, out / "compare_epoch.png")
            written.append(out / "compare_epoch.png")
        if "fit" in report:
            plot_fit(report["fit"], info, args, out / "compare_fit.png")
            written.append(out / "compare_fit.png")
    report["total_seconds"] = time.perf_counter() - _T0
    with open(out / "compare.json", "w") as f:
        json.dump(report, f, indent=1, default=float)
    written.append(out / "compare.json")
    print(f"\nWrote {', '.join(str(p) for p in written)} "
          f"(total {report['total_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
