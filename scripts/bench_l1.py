"""L1 and elastic-net benchmark: fastlr against scikit-learn's saga and the fast peers.

Every library is scored on one objective, scikit-learn 1.9's for ``C`` and
``l1_ratio`` (``r``), divided by ``C * n`` so that it reads as a mean::

    J(W, b) = mean_i log-loss_i + (1 - r) / (2 C n) ||W||_2^2 + r / (C n) ||W||_1

(scikit-learn's user guide writes ``C sum_i loss_i + (1 - r)/2 ||W||^2 + r ||W||_1``;
the intercept is not penalised; for the multinomial model the log-loss is that of the
softmax and the norms run over every entry of ``W``). It is evaluated in float64, in
row chunks, by :func:`objective`, at every solution of every library.

Settings (``--settings``): the dense benchmark data of ``bench_cpu.py`` (Gaussian,
1,000,000 x 100 float64, labels from a logistic model), binary, ``C=0.1``,
``l1_ratio`` 1 and 0.5; the same generator at 500,000 x 100 with 10 classes drawn
from a softmax model (multinomial); the sparse benchmark matrix of
``bench_sparse.py`` (``make_sparse_problem``, CSR 1,000,000 x 100,000, binary).

Libraries, each where it fits the same model:

- ``fastlr``: ``LogisticRegression(C, l1_ratio, solver="saga")`` (OWL-QN in fastlr);
- ``saga``: scikit-learn's ``LogisticRegression(solver="saga")``; its ``max_iter``
  (epochs) is set from a timed 3-epoch probe so that a fit stops near
  ``--peer-max-seconds``;
- ``glum``: ``GeneralizedLinearRegressor(family="binomial", alpha=1/(C n),
  l1_ratio)``; binary only (glum has no multinomial family);
- ``skglm``: ``SparseLogisticRegression(alpha=1/(C n), l1_ratio)``; binary only:
  for several classes it fits one-vs-rest, another model. It is given ``X`` in the
  layout its coordinate solvers read fastest (Fortran order, or CSC), converted
  outside the timing;
- ``liblinear``: the ``liblinear-official`` package, ``-s 6`` (L1-regularised
  logistic regression, ``||w||_1 + C sum loss``) with ``-B 1 -R``: a bias column of
  ones whose weight is *not* penalised, i.e. exactly scikit-learn's objective.
  ``l1_ratio=1`` only (liblinear has no elastic net), binary only (one-vs-rest
  otherwise). Its time is that of ``train``; converting the data into liblinear's
  own format is timed apart and reported beside it;
- ``snapml``: Snap ML's ``LogisticRegression(penalty="l1", dual=False,
  regularizer=1/C)``; ``l1_ratio=1`` only (its penalties are "l1" and "l2"), binary
  only (one-vs-rest otherwise). Its primal L1 solver returns ``intercept_ == 0``
  even with ``fit_intercept=True`` (seen with snapml 1.17.2; the objective mapping
  check shows it), so the script appends a constant column of value
  ``--snap-intercept-scaling`` to ``X`` (outside the timing) and reads the intercept
  from its weight: the intercept is then penalised, by ``1 / scaling`` of the
  others' weight. Snap ML also copies ``X`` to float32 inside ``fit``
  (``snapml/utils.py``), which is part of its time.

The quality every library must reach is the same: an objective within ``--gap``
(default 1e-8, relative) of the lowest objective any library reached in the run (a
tight fastlr fit is made first, so that the lowest is a good one). Each library
starts at a loose tolerance and lowers it 10x at a time until it reaches that gap,
until a fit takes longer than ``--peer-max-seconds`` (saga: its epoch budget
reaches it), or until the tolerances run out; its time is that of its first fit that
reaches the gap (not the sum of its tries). Ratios are that time over fastlr's, in
this run: above 1, fastlr is faster. Before its first timed fit, every library is
fitted once, untimed, on the setting's first 2,000 rows (skglm compiles its Numba
code there; fastlr's kernels are compiled at the start). The targets (issue 9): at
least 10x faster than saga, and faster than every other peer in the settings where
it fits the same model.

Before any timing, :func:`check_objective_mapping` fits each library tightly on a
small problem and scores its solution with :func:`objective` against fastlr's
optimum: a peer whose parameters were mapped wrongly shows a clear gap.

Usage::

    python scripts/bench_l1.py --quick                 # tiny sizes, a few minutes
    python scripts/bench_l1.py --out results/          # the issue's sizes (hours: saga)
    python scripts/bench_l1.py --help

Tables go to stdout as Markdown (for the README), progress to stderr; ``--out DIR``
writes every figure to ``DIR/bench_l1.json``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import wall_time  # noqa: E402
from bench_cpu import make_data  # noqa: E402
from bench_sparse import (  # noqa: E402
    cpu_flags,
    isa,
    last_level_cache,
    make_sparse_problem,
    markdown_table,
)
from compare import fmt_ratio, fmt_time, machine_info  # noqa: E402

_T0 = time.perf_counter()

LIBRARIES = ("fastlr", "saga", "glum", "skglm", "liblinear", "snapml")
PEERS = LIBRARIES[1:]
SETTINGS = ("dense-l1", "dense-enet", "multinomial-l1", "multinomial-enet", "sparse-l1",
            "sparse-enet")
# the package each library comes from (versions in the header)
PACKAGES = {"fastlr": "fastlr", "saga": "scikit-learn", "glum": "glum", "skglm": "skglm",
            "liblinear": "liblinear-official", "snapml": "snapml"}


def progress(msg):
    """One line of progress on stderr, with the time since the start."""
    print(f"[bench_l1 {time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------


def make_multiclass(n, p, n_classes, seed=0):
    """``X`` of the dense benchmark (``bench_cpu.make_data``), labels from a softmax model.

    ``W`` has standard normal entries scaled by ``2 / sqrt(p)`` (as ``make_data``'s
    ``w``), intercepts are standard normal, and each label is drawn from the softmax of
    ``x W^T + b``: a realistic, non-separable multinomial problem.
    """
    X, _ = make_data(n, p, np.float64, seed=seed)
    rng = np.random.default_rng(seed + 1000)
    W = rng.standard_normal((n_classes, p)) / np.sqrt(p) * 2
    b = rng.standard_normal(n_classes)
    y = np.empty(n, dtype=np.int64)
    step = 65536
    for a in range(0, n, step):
        Z = X[a : a + step] @ W.T + b
        P = np.exp(Z - Z.max(axis=1, keepdims=True))
        cdf = np.cumsum(P / P.sum(axis=1, keepdims=True), axis=1)
        u = rng.random(len(Z))[:, None]
        y[a : a + step] = np.minimum((u > cdf).sum(axis=1), n_classes - 1)
    return X, y


# ---------------------------------------------------------------------------------
# The objective
# ---------------------------------------------------------------------------------


def objective(X, y, W, B, C, l1_ratio, rows_per_chunk=100_000):
    """scikit-learn's L1 / elastic-net objective divided by ``C n``, in float64.

    Binary (``W`` of shape (n_features,), ``B`` a float, ``y`` in {0, 1})::

        mean_i [log(1 + exp(z_i)) - y_i z_i]  + (1 - r)/(2 C n) ||w||^2 + r/(C n) ||w||_1

    with ``z_i = x_i . w + b``. Multinomial (``W`` of shape (n_classes, n_features),
    ``B`` of shape (n_classes,), ``y`` in 0..n_classes-1): the log-loss is
    ``logsumexp(z_i) - z_i[y_i]`` with ``z_i = W x_i + B``, the norms over all of ``W``.
    The intercept is never penalised. ``X`` (ndarray or CSR) is read in row chunks.
    """
    n = X.shape[0]
    W = np.asarray(W, dtype=np.float64)
    loss = 0.0
    for a in range(0, n, rows_per_chunk):
        Xc = X[a : a + rows_per_chunk]
        yc = y[a : a + rows_per_chunk]
        if W.ndim == 1:
            z = np.asarray(Xc @ W, dtype=np.float64).ravel() + float(B)
            loss += float(np.sum(np.logaddexp(0.0, z) - yc * z))
        else:
            Z = np.asarray(Xc @ W.T, dtype=np.float64) + np.asarray(B, dtype=np.float64)
            zmax = Z.max(axis=1)
            lse = zmax + np.log(np.sum(np.exp(Z - zmax[:, None]), axis=1))
            loss += float(np.sum(lse - Z[np.arange(len(yc)), yc]))
    sq = float(np.sum(W * W))
    l1 = float(np.sum(np.abs(W)))
    return loss / n + (1.0 - l1_ratio) * sq / (2.0 * C * n) + l1_ratio * l1 / (C * n)


# ---------------------------------------------------------------------------------
# The libraries: each fit returns W, B in fastlr's convention, and its own iterations
# ---------------------------------------------------------------------------------


def support(name, multiclass, l1_ratio):
    """None if ``name`` fits the same model as fastlr here, else the reason why not."""
    if name in ("fastlr", "saga"):
        return None
    if name == "glum" and multiclass:
        return "no multinomial family"
    if multiclass:
        return "one-vs-rest only: another model"
    if name in ("liblinear", "snapml") and l1_ratio != 1.0:
        return "no elastic net"
    return None


# glum's IRLS builds dense n_features x n_features matrices (the Hessian and its
# factors), also for CSR input: on a 20,000 x 20,000 CSR problem its peak memory grew
# by 3.3 GB at l1_ratio=1 and 14.9 GB (4.6 such matrices) at 0.5
GLUM_DENSE_MATRICES = 5


def available_memory():
    """Bytes of memory available to a new allocation (MemAvailable), or None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def memory_guard(name, prob):
    """A reason not to run ``name`` on ``prob`` because it would not fit in memory."""
    if name != "glum":
        return None
    p = prob.X.shape[1]
    need = GLUM_DENSE_MATRICES * p * p * 8
    free = available_memory()
    if free is not None and need > 0.8 * free:
        return (f"would need about {need / 1e9:,.0f} GB ({GLUM_DENSE_MATRICES} dense "
                f"{p:,} x {p:,} matrices), {free / 1e9:,.0f} GB available")
    return None


def _binary_wb(coef, intercept):
    W = np.asarray(coef, dtype=np.float64).ravel()
    return W, float(np.asarray(intercept, dtype=np.float64).ravel()[0])


def _model_wb(model, multiclass):
    if multiclass:
        return (np.asarray(model.coef_, dtype=np.float64),
                np.asarray(model.intercept_, dtype=np.float64))
    return _binary_wb(model.coef_, model.intercept_)


class Problem:
    """One setting's data and what the libraries need of it, prepared once."""

    def __init__(self, name, X, y, C, l1_ratio, args):
        self.name, self.X, self.y, self.C, self.l1_ratio = name, X, y, C, l1_ratio
        self.n = X.shape[0]
        self.multiclass = int(y.max()) > 1
        self.args = args
        self.saga_epoch_s = None
        self._liblinear = None  # (problem, seconds to build it)
        self._snap_X = None
        self._skglm_X = None

    def subset(self, rows):
        """The same setting on the first ``rows`` rows (to warm a library's JIT)."""
        return Problem(self.name + " (warm-up)", self.X[:rows], self.y[:rows], self.C,
                       self.l1_ratio, self.args)

    def skglm_X(self):
        """``X`` in skglm's layout: Fortran order (its solvers read columns), or CSC."""
        if self._skglm_X is None:
            self._skglm_X = self.X.tocsc() if sp.issparse(self.X) else np.asfortranarray(self.X)
        return self._skglm_X

    def liblinear_problem(self):
        if self._liblinear is None:
            from liblinear.liblinearutil import problem

            t0 = time.perf_counter()
            prob = problem(self.y.astype(np.float64), self.X)
            self._liblinear = (prob, time.perf_counter() - t0)
        return self._liblinear

    def snap_X(self):
        """``X`` with a constant column of ``--snap-intercept-scaling`` appended."""
        if self._snap_X is None:
            s = self.args.snap_intercept_scaling
            if sp.issparse(self.X):
                col = sp.csr_matrix(np.full((self.n, 1), s))
                self._snap_X = sp.hstack([self.X, col], format="csr")
            else:
                self._snap_X = np.hstack([self.X, np.full((self.n, 1), s)])
        return self._snap_X


def fit_library(name, prob, tol, max_iter):
    """Fit library ``name`` on ``prob`` at ``tol``; returns (seconds, W, B, n_iter, extra)."""
    X, y, C, r, n = prob.X, prob.y, prob.C, prob.l1_ratio, prob.n
    extra = {}
    if name == "fastlr":
        import fastlr

        model = fastlr.LogisticRegression(C=C, l1_ratio=r, solver="saga", tol=tol,
                                          max_iter=max_iter)
        t = wall_time(lambda: model.fit(X, y))
        extra["fastlr_solver"] = model.solver_
        return t, *_model_wb(model, prob.multiclass), int(np.max(model.n_iter_)), extra
    if name == "saga":
        from sklearn.linear_model import LogisticRegression

        model = LogisticRegression(C=C, l1_ratio=r, solver="saga", tol=tol, max_iter=max_iter)
        t = wall_time(lambda: model.fit(X, y))
        return t, *_model_wb(model, prob.multiclass), int(np.max(model.n_iter_)), extra
    if name == "glum":
        from glum import GeneralizedLinearRegressor

        model = GeneralizedLinearRegressor(family="binomial", alpha=1.0 / (C * n), l1_ratio=r,
                                           gradient_tol=tol, max_iter=max_iter)
        yf = y.astype(np.float64)
        t = wall_time(lambda: model.fit(X, yf))
        return t, *_binary_wb(model.coef_, model.intercept_), int(model.n_iter_), extra
    if name == "skglm":
        from skglm import SparseLogisticRegression

        model = SparseLogisticRegression(alpha=1.0 / (C * n), l1_ratio=r, tol=tol,
                                         max_iter=max_iter)
        Xf = prob.skglm_X()
        t = wall_time(lambda: model.fit(Xf, y))
        return t, *_binary_wb(model.coef_, model.intercept_), int(model.n_iter_), extra
    if name == "liblinear":
        from liblinear.liblinearutil import parameter, train

        lprob, build_s = prob.liblinear_problem()
        extra["data_conversion_seconds"] = build_s
        param = parameter(f"-s 6 -c {C!r} -e {tol!r} -B 1 -R -q")
        box = {}
        t = wall_time(lambda: box.setdefault("m", train(lprob, param)))
        m = box["m"]
        w, b = m.get_decfun(0)
        W, B = np.asarray(w, dtype=np.float64), float(b)
        if m.get_labels()[0] != 1:  # liblinear's first label is its positive class
            W, B = -W, -B
        return t, W, B, None, extra
    if name == "snapml":
        import snapml

        import numba

        Xs = prob.snap_X()
        s = prob.args.snap_intercept_scaling
        model = snapml.LogisticRegression(penalty="l1", dual=False, regularizer=1.0 / C,
                                          fit_intercept=False, tol=tol, max_iter=max_iter,
                                          n_jobs=numba.get_num_threads())
        t = wall_time(lambda: model.fit(Xs, y))
        w = np.asarray(model.coef_, dtype=np.float64).ravel()
        extra["intercept_scaling"] = s
        return t, w[:-1], float(w[-1] * s), int(np.max(model.n_iter_)), extra
    raise ValueError(name)


# starting tolerance of each library (its default, or near it) and its max_iter
START_TOL = {"fastlr": 1e-4, "saga": 1e-4, "glum": 1e-4, "skglm": 1e-4, "liblinear": 1e-2,
             "snapml": 1e-3}
MAX_ITER = {"fastlr": 100_000, "glum": 10_000, "skglm": 1_000, "snapml": 100_000}


def run_fit(name, prob, tol, max_iter):
    """:func:`fit_library` plus the objective and the non-zeros of its solution."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t, W, B, it, extra = fit_library(name, prob, tol, max_iter)
    J = objective(prob.X, prob.y, W, B, prob.C, prob.l1_ratio)
    return {"library": name, "tol": tol, "max_iter": max_iter, "seconds": t, "J": J,
            "n_iter": it, "nnz": int(np.count_nonzero(W)), "n_coef": int(W.size),
            "hit_max_iter": bool(it is not None and it >= max_iter), **extra}


# ---------------------------------------------------------------------------------
# 0. The objective mapping
# ---------------------------------------------------------------------------------


def check_objective_mapping(args, n=3000, p=30, n_classes=3, seed=1):
    """Fit every library tightly on small problems; score each with :func:`objective`.

    Each row: the relative gap of the library's objective to fastlr's at ``tol=1e-12``
    (negative: the library went lower), the largest coefficient difference relative to
    fastlr's largest coefficient, the intercept difference, and whether the sets of
    zero coefficients agree. A wrongly mapped ``alpha``/``C`` gives gaps of 1e-3 and
    more; Snap ML is shown with its own ``fit_intercept=True`` as well. The multinomial
    problem has an odd number of classes: with an even number, the L1 minimiser is not
    unique (adding to a column of ``W`` any constant between the middle two of its
    entries leaves the softmax and the L1 norm unchanged), so coefficients could differ
    at equal objectives.
    """
    out = []
    Xb, yb = make_data(n, p, np.float64, seed=seed)
    Xm, ym = make_multiclass(n, p, n_classes, seed=seed)
    cases = [("binary", Xb, yb, 1.0), ("binary", Xb, yb, 0.5),
             ("multinomial", Xm, ym, 1.0), ("multinomial", Xm, ym, 0.5)]
    for kind, X, y, r in cases:
        prob = Problem(f"mapping {kind} r={r}", X, y, args.C, r, args)
        progress(f"objective mapping: {kind}, l1_ratio={r}")
        ref = run_fit("fastlr", prob, 1e-12, 100_000)
        W0, B0 = fit_library("fastlr", prob, 1e-12, 100_000)[1:3]
        scale = float(np.max(np.abs(W0)))
        for name in PEERS:
            if name not in args.libraries:
                continue
            why = support(name, prob.multiclass, r)
            if why:
                out.append({"case": kind, "l1_ratio": r, "library": name, "skipped": why})
                continue
            tol = {"liblinear": 1e-8, "snapml": 1e-12}.get(name, 1e-12)
            max_iter = 100_000 if name != "skglm" else 1_000
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    _, W, B, it, extra = fit_library(name, prob, tol, max_iter)
            except Exception as exc:  # reported, not fatal
                out.append({"case": kind, "l1_ratio": r, "library": name,
                            "error": f"{type(exc).__name__}: {exc}"[:300]})
                continue
            J = objective(X, y, W, B, args.C, r)
            out.append({"case": kind, "l1_ratio": r, "library": name, "tol": tol,
                        "rel_gap": (J - ref["J"]) / abs(ref["J"]),
                        "max_rel_coef_diff": float(np.max(np.abs(W - W0))) / scale,
                        "max_intercept_diff": float(np.max(np.abs(np.asarray(B) - B0))),
                        "same_zeros": bool(np.array_equal(W == 0, W0 == 0)),
                        "nnz": int(np.count_nonzero(W)), "fastlr_nnz": ref["nnz"]})
        if "snapml" in args.libraries and kind == "binary" and r == 1.0:
            out.append(_snap_own_intercept(prob, ref["J"], W0, B0, scale))
    return {"n_samples": n, "n_features": p, "n_classes": n_classes, "C": args.C,
            "rows": out}


def _snap_own_intercept(prob, J0, W0, B0, scale):
    """Snap ML with its own ``fit_intercept=True`` (the reason for the extra column)."""
    try:
        import snapml

        model = snapml.LogisticRegression(penalty="l1", dual=False, regularizer=1.0 / prob.C,
                                          fit_intercept=True, intercept_scaling=1.0,
                                          tol=1e-12, max_iter=100_000)
        model.fit(prob.X, prob.y)
    except Exception as exc:
        return {"case": "binary", "l1_ratio": 1.0, "library": "snapml, fit_intercept=True",
                "error": f"{type(exc).__name__}: {exc}"[:300]}
    W, B = _binary_wb(model.coef_, model.intercept_)
    J = objective(prob.X, prob.y, W, B, prob.C, 1.0)
    return {"case": "binary", "l1_ratio": 1.0, "library": "snapml, fit_intercept=True",
            "tol": 1e-12, "rel_gap": (J - J0) / abs(J0),
            "max_rel_coef_diff": float(np.max(np.abs(W - W0))) / scale,
            "max_intercept_diff": abs(B - B0), "same_zeros": bool(np.array_equal(W == 0, W0 == 0)),
            "nnz": int(np.count_nonzero(W)), "intercept": B}


# ---------------------------------------------------------------------------------
# 1. Time to the same objective
# ---------------------------------------------------------------------------------


def ladder(name, prob, best, args):
    """Fit ``name`` at tolerances lowered 10x at a time until its objective is within
    ``args.gap`` of ``best[0]`` (updated in place), a fit takes ``--peer-max-seconds``,
    a lower tolerance no longer changes the objective, or ``--max-refits`` is spent."""
    cap = args.peer_max_seconds
    max_iter = MAX_ITER.get(name, 100_000)
    if name == "saga":
        if prob.saga_epoch_s is None:  # a 3-epoch probe (tol=0: it runs all three)
            progress(f"{prob.name}: saga, time of one epoch")
            prob.saga_epoch_s = run_fit("saga", prob, 0.0, 3)["seconds"] / 3
        max_iter = max(3, int(cap / prob.saga_epoch_s))
    runs = []
    tol = START_TOL[name]
    k = 0
    while k <= args.max_refits:
        progress(f"{prob.name}: {name}, tol={tol:g}, max_iter={max_iter}")
        run = run_fit(name, prob, tol, max_iter)
        runs.append(run)
        best[0] = min(best[0], run["J"])
        gap = (run["J"] - best[0]) / abs(best[0])
        progress(f"  {fmt_time(run['seconds'])}, {run['n_iter']} iterations, gap {gap:.2e}, "
                 f"{run['nnz']} non-zeros")
        if gap <= args.gap or run["seconds"] >= cap:
            break
        if len(runs) > 1 and abs(run["J"] - runs[-2]["J"]) <= 1e-15 * abs(run["J"]):
            break  # a smaller tol no longer changes the result
        if name == "saga" and run["hit_max_iter"]:
            # the probe's fixed costs make it overestimate an epoch: rerun at the same
            # tol with the epochs this run's own pace fits into the cap, once
            more = int(cap / (run["seconds"] / run["n_iter"]))
            if more < 1.5 * max_iter:
                break
            max_iter = more
            continue
        tol /= 10.0
        k += 1
    return runs


def bench_setting(prob, args):
    """Every library on one setting; gaps to the lowest objective of the setting."""
    best = [math.inf]
    progress(f"{prob.name}: reference, fastlr at tol={args.reference_tol:g}")
    ref = run_fit("fastlr", prob, args.reference_tol, 100_000)
    best[0] = ref["J"]
    libs = {}
    for name in args.libraries:
        why = support(name, prob.multiclass, prob.l1_ratio)
        if why:
            libs[name] = {"skipped": why}
            continue
        why = memory_guard(name, prob)
        if why:
            progress(f"{prob.name}: {name} not run: {why}")
            libs[name] = {"not_run": why}
            continue
        try:
            if name != "fastlr":  # compile a JIT (skglm), load libraries, untimed
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit_library(name, prob.subset(min(prob.n, 2000)), START_TOL[name],
                                MAX_ITER.get(name, 100))
            libs[name] = {"runs": ladder(name, prob, best, args)}
        except Exception as exc:  # a peer that fails is reported, not fatal
            progress(f"  {name} failed: {type(exc).__name__}: {exc}")
            libs[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
    # gaps against the lowest objective of the whole setting, then each library's
    # first fit within --gap of it
    J_best = best[0]
    ref["rel_gap"] = (ref["J"] - J_best) / abs(J_best)
    for lib in libs.values():
        for run in lib.get("runs", []):
            run["rel_gap"] = (run["J"] - J_best) / abs(J_best)
        if "runs" in lib:
            reached = [r for r in lib["runs"] if r["rel_gap"] <= args.gap]
            lib["reached"] = bool(reached)
            lib["result"] = reached[0] if reached else min(lib["runs"], key=lambda r: r["J"])
    ours = libs.get("fastlr", {}).get("result")
    for name, lib in libs.items():
        if "result" in lib and ours is not None:
            lib["ratio"] = lib["result"]["seconds"] / ours["seconds"]
    return {"setting": prob.name, "n_samples": prob.n, "n_features": prob.X.shape[1],
            "n_classes": int(prob.y.max()) + 1, "sparse": bool(sp.issparse(prob.X)),
            "C": prob.C, "l1_ratio": prob.l1_ratio, "best_J": J_best, "reference": ref,
            "libraries": libs}


def target_verdict(name, lib, fastlr_reached):
    """Whether fastlr meets issue 9's target against ``name`` in this setting."""
    if "ratio" not in lib:
        return "-"
    need = 10.0 if name == "saga" else 1.0
    if not fastlr_reached:
        return "no (fastlr missed the gap)"
    if not lib["reached"]:
        return "yes: the peer did not reach the gap"
    ok = lib["ratio"] >= need if name == "saga" else lib["ratio"] > need
    return ("yes" if ok else "no") + f" (needs {'>= 10x' if name == 'saga' else '> 1x'})"


# ---------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------


def versions():
    out = {}
    for name, pkg in PACKAGES.items():
        try:
            out[name] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def report(res):
    m = res["machine"]
    v = res["versions"]
    out = []
    missing = res.get("not_installed", {})
    peers = ", ".join(f"{PACKAGES[k]} (not importable)" if k in missing
                      else f"{PACKAGES[k]} {v[k]}" if v[k] else f"{PACKAGES[k]} (not installed)"
                      for k in PEERS if k != "saga")
    out.append(f"fastlr L1 / elastic-net benchmark: {m['cpu']} ({m['isa']}), "
               f"{m['physical_cores'] or m['logical_cores']} cores "
               f"({m['logical_cores']} threads), last-level cache "
               f"{m.get('last_level_cache') or '?'}, {m['numba_threads']} Numba threads; "
               f"Python {m['python']}, NumPy {m['numpy']}, SciPy {m['scipy']}, "
               f"scikit-learn {m['scikit-learn']}, Numba {m['numba']}, fastlr {m['fastlr']}; "
               f"{peers}.")
    out.append(f"Command: `{res['command']}`.")
    for name, err in missing.items():
        out.append(f"{name}: not installed or not importable ({err}).")
    if "mapping" in res:
        mp = res["mapping"]
        out.append("")
        out.append(f"Objective mapping, Gaussian {mp['n_samples']:,} x {mp['n_features']} "
                   f"(multinomial: {mp['n_classes']} classes), C={mp['C']:g}: each library "
                   "fitted tightly, its solution scored with `mean log-loss + (1-r)/(2Cn) "
                   "||W||^2 + r/(Cn) ||W||_1` against fastlr's at tol=1e-12 (negative gap: "
                   "lower than fastlr's).")
        out.append("")
        rows = []
        for r in mp["rows"]:
            head = [r["case"], f"{r['l1_ratio']:g}", r["library"]]
            if "skipped" in r:
                rows.append(head + ["-", "-", "-", "-", f"not run: {r['skipped']}"])
            elif "error" in r:
                rows.append(head + ["-", "-", "-", "-", r["error"]])
            else:
                rows.append(head + [f"{r['rel_gap']:.1e}", f"{r['max_rel_coef_diff']:.1e}",
                                    f"{r['max_intercept_diff']:.1e}",
                                    f"{r['nnz']} ({'same' if r['same_zeros'] else 'other'} "
                                    "zeros)", f"tol={r['tol']:g}"])
        out.append(markdown_table(["problem", "l1_ratio", "library", "relative gap",
                                   "max rel coef diff", "intercept diff", "non-zeros",
                                   "note"], rows))
    out.append("")
    out.append(f"Time to an objective within {res['options']['gap']:g} (relative) of the "
               "lowest any library reached in the setting; ratio = library time / fastlr "
               "time (above 1: fastlr faster); the time is that of the library's first fit "
               "(tol lowered 10x at a time) that reached it; non-zeros = of coef_.")
    for s in res.get("settings", []):
        libs = s["libraries"]
        fl = libs.get("fastlr", {})
        shape = (f"{'CSR ' if s['sparse'] else ''}{s['n_samples']:,} x {s['n_features']:,}, "
                 f"{s['n_classes']} classes")
        out.append("")
        out.append(f"**{s['setting']}**: {shape}, C={s['C']:g}, l1_ratio={s['l1_ratio']:g}; "
                   f"lowest objective {s['best_J']:.12g}.")
        out.append("")
        rows = []
        for name, lib in libs.items():
            label = f"{name} {res['versions'].get(name) or ''}".strip()
            if "skipped" in lib:
                rows.append([label, "-", "-", "-", "-", "-", f"not comparable: {lib['skipped']}"])
                continue
            if "error" in lib:
                rows.append([label, "-", "-", "-", "-", "-", f"failed: {lib['error']}"])
                continue
            if "not_run" in lib:
                rows.append([label, "-", "-", "-", "-", "-", f"not run: {lib['not_run']}"])
                continue
            r = lib["result"]
            last = lib["runs"][-1]
            note = "" if lib["reached"] else (
                f"did not reach the gap ({len(lib['runs'])} fits, last tol={last['tol']:g})")
            if r.get("hit_max_iter"):
                note = (note + "; " if note else "") + "all of max_iter"
            if "data_conversion_seconds" in r:
                note = (note + "; " if note else "") + (
                    f"+ {fmt_time(r['data_conversion_seconds'])} to convert X, not in the ratio")
            if name != "fastlr":
                note = (note + "; " if note else "") + "target: " + target_verdict(
                    name, lib, fl.get("reached", False))
            rows.append([label, fmt_time(r["seconds"]),
                         "1x" if name == "fastlr" else fmt_ratio(lib.get("ratio")),
                         f"{r['rel_gap']:.1e}", f"{r['tol']:g}",
                         f"{r['nnz']} / {r['n_coef']}", note])
        out.append(markdown_table(["library", "time", "ratio", "gap", "tol", "non-zeros",
                                   "note"], rows))
    if res.get("settings"):
        out.append("")
        out.append("Targets: fastlr at least 10x faster than saga, and faster than each other "
                   "peer where it fits the same model (ratio at the same objective; "
                   "'n/a': not the same model, or not installed).")
        out.append("")
        names = [k for k in PEERS if k in res["options"]["libraries"] or k in missing]
        rows = []
        for s in res["settings"]:
            libs = s["libraries"]
            reached = libs.get("fastlr", {}).get("reached", False)
            row = [s["setting"]]
            for name in names:
                lib = libs.get(name, {})
                if "ratio" not in lib:
                    row.append("failed" if "error" in lib else
                               "not run (memory)" if "not_run" in lib else "n/a")
                    continue
                verdict = target_verdict(name, lib, reached).split(" ")[0].rstrip(":")
                row.append(f"{fmt_ratio(lib['ratio'])}: {verdict}"
                           + ("" if lib["reached"] else " (peer short of the gap)"))
            rows.append(row)
        out.append(markdown_table(["setting"] + names, rows))
    return "\n".join(out)


# ---------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="tiny sizes (dense 20,000 x 100, multinomial 10,000 x 100, CSR "
                         "10,000 x 2,000) and a 20 s cap")
    ap.add_argument("--settings", default=",".join(SETTINGS),
                    help="comma-separated subset of " + ",".join(SETTINGS))
    ap.add_argument("--libraries", default=",".join(LIBRARIES),
                    help="comma-separated subset of " + ",".join(LIBRARIES))
    ap.add_argument("--dense-shape", default=None, help="default 1000000x100")
    ap.add_argument("--multinomial-shape", default=None, help="default 500000x100")
    ap.add_argument("--n-classes", type=int, default=10)
    ap.add_argument("--sparse-shape", default=None, help="default 1000000x100000")
    ap.add_argument("--C", type=float, default=0.1)
    ap.add_argument("--gap", type=float, default=1e-8,
                    help="relative objective gap to the lowest of the setting to reach")
    ap.add_argument("--reference-tol", type=float, default=1e-10,
                    help="tol of the first, reference fastlr fit of each setting")
    ap.add_argument("--max-refits", type=int, default=8,
                    help="how many times a library's tol is lowered 10x")
    ap.add_argument("--peer-max-seconds", type=float, default=None,
                    help="no further refits of a library after a fit this long; saga's "
                         "epochs are capped to fit in it (default 600, --quick 20)")
    ap.add_argument("--snap-intercept-scaling", type=float, default=1000.0,
                    help="value of the constant column appended for Snap ML's intercept")
    ap.add_argument("--no-mapping", action="store_true",
                    help="skip the objective mapping check")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None,
                    help="write every figure to DIR/bench_l1.json")
    args = ap.parse_args(argv)

    def shape(text, default, quick):
        a, b = (text or (quick if args.quick else default)).lower().split("x")
        return int(float(a)), int(float(b))

    args.dense_shape = shape(args.dense_shape, "1000000x100", "20000x100")
    args.multinomial_shape = shape(args.multinomial_shape, "500000x100", "10000x100")
    args.sparse_shape = shape(args.sparse_shape, "1000000x100000", "10000x2000")
    args.peer_max_seconds = args.peer_max_seconds or (20.0 if args.quick else 600.0)
    args.settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    args.libraries = [s.strip() for s in args.libraries.split(",") if s.strip()]
    for s in args.settings:
        if s not in SETTINGS:
            ap.error(f"--settings: {s!r} is not one of {SETTINGS}")
    for s in args.libraries:
        if s not in LIBRARIES:
            ap.error(f"--libraries: {s!r} is not one of {LIBRARIES}")
    if "fastlr" not in args.libraries:
        args.libraries.insert(0, "fastlr")
    return args


def available(args):
    """Drop the libraries that cannot be imported; return {name: error}."""
    modules = {"glum": "glum", "skglm": "skglm", "liblinear": "liblinear.liblinearutil",
               "snapml": "snapml"}
    missing = {}
    for name in list(args.libraries):
        if name in modules:
            try:
                importlib.import_module(modules[name])
            except Exception as exc:
                missing[name] = f"{type(exc).__name__}: {exc}"[:300]
                args.libraries.remove(name)
    return missing


def warm_up():
    """Compile fastlr's kernels (dense, CSR, binary, multinomial) before any timing."""
    import fastlr

    X, y = make_data(2000, 10, np.float64, seed=9)
    Xm, ym = make_multiclass(2000, 10, 3, seed=9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for XX, yy in ((X, y), (Xm, ym), (sp.csr_matrix(X), y), (sp.csr_matrix(Xm), ym)):
            fastlr.LogisticRegression(C=0.1, l1_ratio=0.5, solver="saga").fit(XX, yy)


def main(argv=None):
    args = parse_args(argv)
    info = machine_info()
    info["isa"] = isa(cpu_flags())
    info["last_level_cache"] = last_level_cache()
    res = {"command": "python scripts/bench_l1.py " + " ".join(
        sys.argv[1:] if argv is None else argv), "machine": info, "versions": versions(),
        "options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    res["not_installed"] = available(args)
    progress("compiling fastlr's kernels")
    warm_up()
    if not args.no_mapping:
        res["mapping"] = check_objective_mapping(args)

    res["settings"] = []
    data = {}
    for setting in args.settings:
        kind, pen = setting.split("-")
        r = 1.0 if pen == "l1" else 0.5
        if kind not in data:
            data.clear()  # one workload in memory at a time
            t0 = time.perf_counter()
            if kind == "dense":
                n, p = args.dense_shape
                progress(f"workload: dense {n:,} x {p}")
                data[kind] = make_data(n, p, np.float64, seed=args.seed)
            elif kind == "multinomial":
                n, p = args.multinomial_shape
                progress(f"workload: multinomial {n:,} x {p}, {args.n_classes} classes")
                data[kind] = make_multiclass(n, p, args.n_classes, seed=args.seed)
            else:
                n, p = args.sparse_shape
                progress(f"workload: CSR {n:,} x {p:,}")
                X, y, _ = make_sparse_problem(n, p, seed=args.seed)
                data[kind] = (X, y)
            progress(f"  {time.perf_counter() - t0:.1f} s")
        X, y = data[kind]
        prob = Problem(setting, X, y, args.C, r, args)
        res["settings"].append(bench_setting(prob, args))

    print(report(res))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_l1.json").write_text(json.dumps(res, indent=2, default=float))
        progress(f"wrote {args.out / 'bench_l1.json'}")
    return res


if __name__ == "__main__":
    main()
