"""CPU benchmark of fastlr against NumPy and scikit-learn, reported as ratios.

Everything is measured in one run on this machine, as medians of several repeats:

1. the machine's read bandwidth (``np.dot`` of two 1e8 float64 vectors);
2. one ``loss_and_grad`` epoch, NumPy reference vs the fused Numba kernel, float64 and
   float32, with achieved read bandwidth (bytes of X / time) as a fraction of (1);
3. ``fit`` against scikit-learn's lbfgs (same C and tol): time ratio, iterations,
   largest relative coefficient difference, accuracy; at the large size and at
   1,000 x 20;
4. start-up: a new process importing the library and fitting 1,000 x 20, fastlr next
   to scikit-learn, with a warm JIT cache and (for the Numba backend) a cold one;
5. peak extra memory during ``fit`` (in a child process) against ``X.nbytes``.

Usage::

    python scripts/bench_cpu.py            # the issue's sizes: 1,000,000 x 100
    python scripts/bench_cpu.py --quick    # 200,000 x 100, fewer repeats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time, read_bandwidth  # noqa: E402


def _progress(msg):
    print(f"[bench_cpu] {msg}", file=sys.stderr, flush=True)


def make_data(n, p, dtype, seed=0):
    """Gaussian X filled block by block (no full-size temporaries) and labels drawn from
    a logistic model, so that the fit is a realistic, non-separable problem."""
    rng = np.random.default_rng(seed)
    X = np.empty((n, p), dtype=dtype)
    w = rng.standard_normal(p) / np.sqrt(p) * 2
    y = np.empty(n, dtype=np.int64)
    step = 65536
    for i in range(0, n, step):
        blk = rng.standard_normal((min(step, n - i), p))
        X[i : i + step] = blk
        pr = 1 / (1 + np.exp(-(blk @ w + 0.25)))
        y[i : i + step] = rng.random(len(blk)) < pr
    return X, y


def bench_epoch(n, p, repeats):
    import fastlr

    rows = []
    for dtype in (np.float64, np.float32):
        X, y = make_data(n, p, dtype)
        y01 = y.astype(dtype)
        w = np.random.default_rng(1).standard_normal(p) * 0.1
        t = {}
        for backend in ("numpy", "numba"):
            _progress(f"epoch {n}x{p} {np.dtype(dtype).name} {backend}")
            t[backend] = median_time(
                lambda b=backend: fastlr.loss_and_grad(X, y01, w, 0.1, backend=b),
                repeats=repeats, warmup=1,
            )
        t["numba_1thread"] = median_time(
            lambda: fastlr.loss_and_grad(X, y01, w, 0.1, backend="numba", n_threads=1),
            repeats=max(3, repeats // 2), warmup=1,
        )
        rows.append({
            "dtype": np.dtype(dtype).name, "n_samples": n, "n_features": p,
            "numpy_s": t["numpy"], "numba_s": t["numba"], "numba_1thread_s": t["numba_1thread"],
            "speedup_vs_numpy": t["numpy"] / t["numba"],
            "numba_GBps": X.nbytes / t["numba"] / 1e9,
            "numpy_GBps": X.nbytes / t["numpy"] / 1e9,
        })
    return rows


def bench_fit(n, p, repeats, C=1.0, tol=1e-4):
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression as SkLR

    from fastlr import LogisticRegression

    rows = []
    for dtype in (np.float64, np.float32):
        X, y = make_data(n, p, dtype, seed=2)
        _progress(f"fit {n}x{p} {np.dtype(dtype).name}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            LogisticRegression(C=C, tol=tol).fit(X[:5000], y[:5000])  # JIT warm-up
            ours = LogisticRegression(C=C, tol=tol)
            theirs = SkLR(C=C, tol=tol)
            t_ours = median_time(lambda: ours.fit(X, y), repeats=repeats, warmup=0)
            t_theirs = median_time(lambda: theirs.fit(X, y), repeats=repeats, warmup=0)
        scale = np.max(np.abs(theirs.coef_))
        rows.append({
            "dtype": np.dtype(dtype).name, "n_samples": n, "n_features": p,
            "fastlr_s": t_ours, "sklearn_s": t_theirs, "speedup_vs_sklearn": t_theirs / t_ours,
            "fastlr_backend": ours.backend_,
            "fastlr_iter": int(ours.n_iter_[0]), "sklearn_iter": int(theirs.n_iter_[0]),
            "max_rel_coef_diff": float(np.max(np.abs(ours.coef_ - theirs.coef_)) / scale),
            "fastlr_accuracy": float(ours.score(X, y)),
            "sklearn_accuracy": float(theirs.score(X, y)),
        })
    return rows


_STARTUP = """
import time
t0 = time.perf_counter()
import numpy as np
{imp}
rng = np.random.default_rng(0)
X = rng.standard_normal((1000, 20))
y = (X @ rng.standard_normal(20) + rng.standard_normal(1000) > 0).astype(int)
{fit}
print(time.perf_counter() - t0)
"""


def _run_startup(code, env, repeats):
    """Median wall time of whole new processes (interpreter start included)."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def bench_startup(repeats):
    env = dict(os.environ)
    codes = {
        "fastlr": _STARTUP.format(imp="import fastlr",
                                  fit="fastlr.LogisticRegression().fit(X, y)"),
        "fastlr_numba": _STARTUP.format(
            imp="import fastlr", fit="fastlr.LogisticRegression(backend='numba').fit(X, y)"),
        "sklearn": _STARTUP.format(imp="from sklearn.linear_model import LogisticRegression",
                                   fit="LogisticRegression().fit(X, y)"),
    }
    out = {}
    for name, code in codes.items():
        _progress(f"start-up {name}")
        subprocess.run([sys.executable, "-c", code], env=env, check=True,
                       stdout=subprocess.DEVNULL)  # warm the JIT and file caches
        out[name + "_s"] = _run_startup(code, env, repeats)
    with tempfile.TemporaryDirectory() as cache:
        _progress("start-up fastlr_numba with an empty JIT cache (first-ever compile)")
        cold_env = dict(env, NUMBA_CACHE_DIR=cache)
        out["fastlr_numba_cold_s"] = _run_startup(codes["fastlr_numba"], cold_env, 1)
    out["fastlr_vs_sklearn"] = out["sklearn_s"] / out["fastlr_s"]
    out["fastlr_numba_vs_sklearn"] = out["sklearn_s"] / out["fastlr_numba_s"]
    return out


_MEMORY = """
import sys, warnings
import numpy as np
sys.path.insert(0, {scripts!r})
from bench_cpu import make_data
from fastlr import LogisticRegression

def status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024

X, y = make_data({n}, {p}, np.{dtype}, seed=3)
LogisticRegression(backend={backend!r}).fit(X[:2000], y[:2000])  # JIT warm-up
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset the peak resident set size (VmHWM) to the current one
before = status("VmRSS")
warnings.simplefilter("ignore")
LogisticRegression(backend={backend!r}).fit(X, y)
print(status("VmHWM") - before, X.nbytes)
"""


def bench_memory(n, p):
    """Peak resident-memory growth during fit, in a child process: the kernel's peak
    counter (VmHWM) is reset just before the fit and read just after it."""
    rows = []
    for dtype in ("float64", "float32"):
        for backend in ("numba", "numpy"):
            _progress(f"memory {n}x{p} {dtype} {backend}")
            code = _MEMORY.format(scripts=str(Path(__file__).resolve().parent), n=n, p=p,
                                  dtype=dtype, backend=backend)
            res = subprocess.run([sys.executable, "-c", code], check=True,
                                 capture_output=True, text=True)
            extra, nbytes = map(int, res.stdout.split())
            rows.append({"dtype": dtype, "backend": backend, "peak_extra_bytes": extra,
                         "X_nbytes": nbytes, "fraction_of_X": extra / nbytes})
    return rows


def machine():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="200,000 x 100 and fewer repeats (about a minute)")
    ap.add_argument("--n-samples", type=int, default=None, help="rows of the large problem")
    ap.add_argument("--n-features", type=int, default=100, help="columns of the large problem")
    ap.add_argument("--repeats", type=int, default=None, help="timed repeats (median)")
    ap.add_argument("--skip", nargs="*", default=[],
                    choices=["epoch", "fit", "small", "startup", "memory"],
                    help="sections to leave out")
    ap.add_argument("--json", type=Path, default=None, help="write all numbers here")
    args = ap.parse_args(argv)
    n = args.n_samples or (200_000 if args.quick else 1_000_000)
    p = args.n_features
    reps = args.repeats or (3 if args.quick else 7)

    import fastlr
    import numba

    res = {"machine": machine(), "numba_threads": numba.get_num_threads(),
           "backends": list(fastlr.available_backends())}
    _progress("read bandwidth")
    res["read_GBps"] = read_bandwidth(repeats=5)
    if "epoch" not in args.skip:
        res["epoch"] = bench_epoch(n, p, reps)
    if "fit" not in args.skip:
        res["fit"] = bench_fit(n, p, max(3, reps // 2))
    if "small" not in args.skip:
        res["fit_small"] = bench_fit(1000, 20, 3 * reps)
    if "startup" not in args.skip:
        res["startup"] = bench_startup(3 if args.quick else 5)
    if "memory" not in args.skip:
        res["memory"] = bench_memory(n, p)

    m = res["machine"]
    print(f"\nfastlr CPU benchmark on {m['cpu']} ({m['cores']} cores, "
          f"{res['numba_threads']} Numba threads), Python {m['python']}")
    bw = res["read_GBps"]
    print(f"machine read bandwidth (np.dot of two 1e8 float64 vectors): {bw:.1f} GB/s\n")
    if "epoch" in res:
        print(f"one loss_and_grad epoch, {n:,} x {p}")
        print(f"{'dtype':8} {'numba vs numpy':>15} {'1 thread vs numpy':>18} "
              f"{'numba GB/s':>11} {'of machine bw':>14}")
        for r in res["epoch"]:
            print(f"{r['dtype']:8} {r['speedup_vs_numpy']:14.2f}x "
                  f"{r['numpy_s'] / r['numba_1thread_s']:17.2f}x {r['numba_GBps']:11.1f} "
                  f"{r['numba_GBps'] / bw:13.0%}")
        print()
    for key in ("fit", "fit_small"):
        if key in res:
            r0 = res[key][0]
            print(f"fit vs scikit-learn lbfgs, {r0['n_samples']:,} x {r0['n_features']}, "
                  "C=1, tol=1e-4")
            print(f"{'dtype':8} {'speed-up':>9} {'backend':>8} {'iters (ours/sk)':>16} "
                  f"{'max rel coef diff':>18} {'accuracy (ours/sk)':>19}")
            for r in res[key]:
                print(f"{r['dtype']:8} {r['speedup_vs_sklearn']:8.2f}x {r['fastlr_backend']:>8} "
                      f"{r['fastlr_iter']:>7}/{r['sklearn_iter']:<8} "
                      f"{r['max_rel_coef_diff']:18.1e} "
                      f"{r['fastlr_accuracy']:9.4f}/{r['sklearn_accuracy']:.4f}")
            print()
    if "startup" in res:
        s = res["startup"]
        print("new process: import + first fit of 1,000 x 20 (median wall time)")
        print(f"  fastlr (auto backend), warm cache : {s['fastlr_s']:.2f} s  "
              f"(scikit-learn / fastlr = {s['fastlr_vs_sklearn']:.2f})")
        print(f"  fastlr backend='numba', warm cache: {s['fastlr_numba_s']:.2f} s  "
              f"(scikit-learn / fastlr = {s['fastlr_numba_vs_sklearn']:.2f})")
        print(f"  fastlr backend='numba', cold cache: {s['fastlr_numba_cold_s']:.2f} s "
              "(first-ever compile)")
        print(f"  scikit-learn                      : {s['sklearn_s']:.2f} s\n")
    if "memory" in res:
        print(f"peak extra memory during fit, {n:,} x {p}")
        for r in res["memory"]:
            print(f"  {r['dtype']:8} {r['backend']:6} {r['peak_extra_bytes'] / 2**20:8.1f} MiB "
                  f"= {r['fraction_of_X']:6.1%} of X.nbytes")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
