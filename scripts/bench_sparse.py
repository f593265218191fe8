"""Sparse (CSR) benchmark of fastlr: one epoch, full fits against scikit-learn, memory.

The workload is text-like: a CSR matrix of ``n_samples x n_features`` (default
1,000,000 x 100,000) with about 30 non-zeros per row, column frequencies following a
Zipf law (as words do), TF-IDF values, rows scaled to unit L2 norm, and binary labels
drawn from a sparse linear model with label noise. Everything is measured in one run
on this machine, and reported as ratios:

0. the objective mapping: on a small problem, each scikit-learn solver's solution is
   checked to minimise the objective fastlr minimises (``check_objective_mapping``);
1. the machine's read bandwidth, ``scripts/_timing.read_bandwidth``: ``np.dot`` of two
   float64 vectors on BLAS's threads, bytes read (``2 * 8 * n``) / median time;
2. one epoch, ``binary_sums`` of the ``numba`` backend (all Numba threads, and one)
   against the ``numpy`` reference (scipy.sparse products) on the same CSR matrix:
   medians after warm-up, achieved bandwidth
   ``(data.nbytes + indices.nbytes + indptr.nbytes) / time`` against (1);
3. ``fastlr.LogisticRegression(C=1)`` against scikit-learn's ``LogisticRegression``
   with the ``lbfgs``, ``saga`` and ``liblinear`` solvers, at ``tol=1e-4`` (scikit-learn's
   default) and ``tol=1e-8``: every solution is scored with one float64 function,
   ``mean log-loss + ||w||^2 / (2 C n)``, and compared with the lowest value seen in
   the run (relative gap). Peers that stop short of fastlr's gap (default setting) or
   of ``1e-8`` (tight setting) are refitted with a smaller ``tol`` until they reach it
   or run out of their wall-time cap;
4. the peak extra memory of fastlr's ``fit`` (a child process, ``VmHWM``) against
   ``data.nbytes + indices.nbytes`` and against the budget
   ``0.25 * (data.nbytes + indices.nbytes) + n_threads * n_features * 8``, with every
   scipy.sparse densifying method (``toarray``, ``todense``) made to fail during the fit.

Usage::

    python scripts/bench_sparse.py --quick               # 20,000 x 5,000: a minute
    python scripts/bench_sparse.py --out results/        # the issue's sizes (long)
    python scripts/bench_sparse.py --help

Tables go to stdout as Markdown (paste them into the README), progress to stderr;
``--out DIR`` writes every figure to ``DIR/bench_sparse.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _timing import median_time, peak_memory_growth, read_bandwidth  # noqa: E402
from compare import (  # noqa: E402
    fmt_ratio,
    fmt_time,
    interleaved_medians,
    machine_info,
    rel_err,
)

_T0 = time.perf_counter()


def progress(msg):
    """One line of progress on stderr, with the time since the start."""
    print(f"[bench_sparse {time.perf_counter() - _T0:7.1f}s] {msg}", file=sys.stderr,
          flush=True)


# ---------------------------------------------------------------------------------
# The workload
# ---------------------------------------------------------------------------------


def zipf_probabilities(n_features, s=1.05, offset=2.7):
    """Rank-frequency law of the columns: ``p(r) = (r + offset)^-s / sum``, r = 1, 2, ...

    ``s`` near 1 and ``offset`` near 2.7 are Zipf-Mandelbrot values of word
    frequencies in English text.
    """
    p = (np.arange(1, n_features + 1, dtype=np.float64) + offset) ** -s
    return p / p.sum()


def tokens_for_distinct(p, n_distinct):
    """Mean number of draws ``L`` whose expected number of distinct columns is
    ``n_distinct``: solves ``sum_j 1 - (1 - p_j)^L = n_distinct`` by bisection."""
    n_distinct = min(float(n_distinct), 0.999 * len(p))
    log1m = np.log1p(-p)

    def distinct(L):
        return float(np.sum(-np.expm1(L * log1m)))

    lo, hi = n_distinct, 2 * n_distinct + 1
    while distinct(hi) < n_distinct:
        hi *= 2
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if distinct(mid) < n_distinct:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def make_sparse_problem(n_samples=1_000_000, n_features=100_000, nnz_per_row=30,
                        zipf_s=1.05, zipf_offset=2.7, informative=0.05, logit_std=4.0,
                        label_noise=0.05, seed=0, chunk_tokens=4_000_000):
    """A text-like binary classification problem in CSR form, float64.

    Rows are documents: each draws a number of tokens (``1 + Poisson``), each token a
    column from the Zipf law of :func:`zipf_probabilities`, with the ranks spread over
    the columns by a random permutation (as an alphabetical vocabulary does). Repeated
    columns within a row are merged into a term count ``tf``; the mean number of tokens
    is chosen so that the expected number of distinct columns per row is
    ``nnz_per_row``. Values are ``tf * idf`` with scikit-learn's smooth
    ``idf = log((1 + n) / (1 + df)) + 1``, and every row is scaled to unit L2 norm.

    Labels: a sparse true ``w`` (a fraction ``informative`` of the columns, standard
    normal values), logits ``x . w`` centred and scaled to standard deviation
    ``logit_std``, ``y ~ Bernoulli(sigmoid(logit))``, then a fraction ``label_noise``
    of the labels flipped: neither separable nor trivial.

    Generation is vectorised over chunks of about ``chunk_tokens`` tokens; no dense
    ``n_samples x n_features`` array is ever built.

    Returns
    -------
    X : scipy.sparse.csr_matrix of shape (n_samples, n_features), float64
        Sorted indices (int32), no explicit zeros, no empty rows.
    y : ndarray of shape (n_samples,), int64 in {0, 1}
    info : dict
        Statistics of the problem (nnz per row, positive rate, ...).
    """
    rng = np.random.default_rng(seed)
    p = zipf_probabilities(n_features, zipf_s, zipf_offset)
    cdf = np.cumsum(p)
    cdf[-1] = 1.0
    column_of_rank = rng.permutation(n_features).astype(np.int32)
    mean_tokens = tokens_for_distinct(p, nnz_per_row)
    lengths = 1 + rng.poisson(max(mean_tokens - 1.0, 0.0), size=n_samples)

    data_parts, index_parts, row_nnz = [], [], np.empty(n_samples, dtype=np.int64)
    ends = np.cumsum(lengths)
    r0 = 0
    while r0 < n_samples:
        # rows r0:r1 hold about chunk_tokens tokens
        start = ends[r0 - 1] if r0 else 0
        r1 = int(np.searchsorted(ends, start + chunk_tokens, side="right"))
        r1 = min(max(r1, r0 + 1), n_samples)
        lens = lengths[r0:r1]
        n_tok = int(lens.sum())
        cols = column_of_rank[np.searchsorted(cdf, rng.random(n_tok), side="right")]
        rows = np.repeat(np.arange(r1 - r0, dtype=np.int64), lens)
        key = rows * n_features + cols  # sorting the key sorts by row, then column
        key.sort()
        first = np.empty(n_tok, dtype=bool)
        first[0] = True
        np.not_equal(key[1:], key[:-1], out=first[1:])
        starts = np.flatnonzero(first)
        tf = np.diff(np.append(starts, n_tok)).astype(np.float64)  # term counts
        ukey = key[starts]
        index_parts.append((ukey % n_features).astype(np.int32))
        data_parts.append(tf)
        row_nnz[r0:r1] = np.bincount(ukey // n_features, minlength=r1 - r0)
        r0 = r1
    indices = np.concatenate(index_parts)
    del index_parts
    data = np.concatenate(data_parts)
    del data_parts
    indptr = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(row_nnz, out=indptr[1:])
    if indptr[-1] < np.iinfo(np.int32).max:
        indptr = indptr.astype(np.int32)  # as scipy.sparse itself would store it

    df = np.bincount(indices, minlength=n_features)
    idf = np.log((1.0 + n_samples) / (1.0 + df)) + 1.0
    for a in range(0, len(data), chunk_tokens):  # data *= idf[indices], in chunks
        data[a : a + chunk_tokens] *= idf[indices[a : a + chunk_tokens]]
    X = sp.csr_matrix((data, indices, indptr), shape=(n_samples, n_features), copy=False)
    X.has_sorted_indices = True
    from sklearn.preprocessing import normalize

    X = normalize(X, norm="l2", copy=False)  # in place for CSR

    n_inf = max(1, int(round(informative * n_features)))
    w_true = np.zeros(n_features)
    w_true[rng.choice(n_features, n_inf, replace=False)] = rng.standard_normal(n_inf)
    z = X @ w_true
    std = float(z.std()) or 1.0
    logit = (z - z.mean()) * (logit_std / std)
    y = (rng.random(n_samples) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    flip = rng.random(n_samples) < label_noise
    y[flip] = 1 - y[flip]
    info = {
        "n_samples": n_samples, "n_features": n_features, "nnz": int(X.nnz),
        "nnz_per_row_mean": X.nnz / n_samples, "nnz_per_row_max": int(row_nnz.max()),
        "tokens_per_row_mean": float(mean_tokens), "zipf_s": zipf_s,
        "zipf_offset": zipf_offset, "columns_never_used": int(np.sum(df == 0)),
        "informative_columns": n_inf, "logit_std": logit_std, "label_noise": label_noise,
        "rows_without_signal": float(np.mean(z == 0)),
        "positive_rate": float(y.mean()),
        "true_model_accuracy": float(np.mean((logit > 0) == (y == 1))),
        "seed": seed,
    }
    return X, y, info


def with_dtype(X, dtype):
    """``X`` with values of ``dtype``, sharing ``indices`` and ``indptr`` (no copies
    of them, unlike ``X.astype``)."""
    if X.dtype == dtype:
        return X
    Y = sp.csr_matrix((X.data.astype(dtype), X.indices, X.indptr), shape=X.shape,
                      copy=False)
    Y.has_sorted_indices = X.has_sorted_indices
    return Y


def csr_bytes(X):
    """Bytes an epoch must read of ``X``: ``data + indices + indptr``."""
    return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes


# ---------------------------------------------------------------------------------
# The common objective
# ---------------------------------------------------------------------------------


def objective(X, y, w, b, C, rows_per_chunk=200_000):
    """scikit-learn's L2 logistic objective, in float64, with its gradient.

    ``J(w, b) = mean_i [log(1 + exp(z_i)) - y_i z_i] + ||w||^2 / (2 C n)``,
    ``z_i = x_i . w + b``; the intercept is not penalised. Every model in this
    benchmark is scored with this one function. ``X`` is read in row chunks, each
    converted to float64, so a float32 ``X`` is never copied whole.

    Returns
    -------
    J : float
    grad : ndarray of shape (n_features + 1,), the gradient in ``(w, b)``
    """
    n = X.shape[0]
    w = np.asarray(w, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64)
    loss = 0.0
    dw = np.zeros_like(w)
    db = 0.0
    for a in range(0, n, rows_per_chunk):
        Xc = X[a : a + rows_per_chunk].astype(np.float64)
        z = Xc @ w + float(b)
        yc = y[a : a + rows_per_chunk]
        loss += float(np.sum(np.logaddexp(0.0, z) - yc * z))
        dz = 0.5 * (1.0 + np.tanh(0.5 * z)) - yc  # sigmoid(z) - y, stable
        dw += Xc.T @ dz
        db += float(dz.sum())
    J = loss / n + float(w @ w) / (2.0 * C * n)
    grad = np.append(dw / n + w / (C * n), db / n)
    return J, grad


def model_objective(model, X, y, C):
    """:func:`objective` at a fitted binary model's ``coef_`` and ``intercept_``."""
    coef = np.asarray(model.coef_, dtype=np.float64).ravel()
    b = float(np.asarray(model.intercept_, dtype=np.float64).ravel()[0])
    return objective(X, y, coef, b, C)[0]


# ---------------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------------

PEERS = ("lbfgs", "saga", "liblinear")


def make_model(name, C, tol, max_iter, intercept_scaling=100.0, n_jobs=None):
    """``"fastlr"`` or a scikit-learn solver name -> an unfitted estimator."""
    if name == "fastlr":
        import fastlr

        return fastlr.LogisticRegression(C=C, tol=tol, max_iter=max_iter, n_jobs=n_jobs)
    from sklearn.linear_model import LogisticRegression

    if name == "liblinear":
        # liblinear appends a constant column of value intercept_scaling and
        # penalises its weight like any other: the intercept's penalty is divided by
        # intercept_scaling^2. Too small a value fits another objective; too large a
        # one makes the problem ill-conditioned and liblinear stops early (at 1e3, a
        # relative objective gap of 3e-7 on 20,000 x 5,000 whatever its tol): see
        # check_objective_mapping
        return LogisticRegression(C=C, tol=tol, max_iter=max_iter, solver=name,
                                  intercept_scaling=intercept_scaling)
    return LogisticRegression(C=C, tol=tol, max_iter=max_iter, solver=name)


def timed_fit(model, X, y, repeats=1):
    """Fit ``model`` ``repeats`` times; return (median seconds, the fitted model)."""
    from sklearn.exceptions import ConvergenceWarning

    times = []
    for _ in range(max(1, repeats)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            t0 = time.perf_counter()
            model.fit(X, y)
            times.append(time.perf_counter() - t0)
    return float(np.median(times)), model


def n_iter(model):
    return int(np.max(model.n_iter_))


def solve_objective(X, y, C, gtol=1e-13):
    """The minimiser of :func:`objective` by scipy's L-BFGS-B on it directly (small X
    only): a reference that involves neither fastlr nor scikit-learn's estimator."""
    from scipy.optimize import minimize

    p = X.shape[1]
    res = minimize(lambda v: objective(X, y, v[:p], v[p], C), np.zeros(p + 1), jac=True,
                   method="L-BFGS-B",
                   options={"maxiter": 100_000, "gtol": gtol, "ftol": 1e-16, "maxcor": 20})
    return res.x[:p], float(res.x[p])


def check_objective_mapping(n_samples=2_000, n_features=500, C=1.0, intercept_scaling=100.0,
                            seed=1, include_fastlr=True):
    """Check on a small problem that every model minimises :func:`objective`.

    The minimiser of :func:`objective` is first found by scipy's L-BFGS-B on the
    function itself. Each model is then fitted to a very tight tolerance and scored
    by: the relative gap of its objective to the minimum, the largest absolute entry of
    the gradient of :func:`objective` at its solution (zero at the minimiser; a model
    minimising another objective leaves it clearly non-zero), and its largest
    coefficient difference to the minimiser relative to the largest coefficient.
    ``liblinear`` is listed at several ``intercept_scaling``: at 1 (scikit-learn's
    default) its intercept is penalised like a weight, which is another objective.

    Returns
    -------
    rows : list of dict
    """
    X, y, _ = make_sparse_problem(n_samples, n_features, nnz_per_row=30, seed=seed)
    w0, b0 = solve_objective(X, y, C)
    J0 = objective(X, y, w0, b0, C)[0]
    scale = max(float(np.max(np.abs(w0))), abs(b0))
    cases = [
        ("lbfgs", make_model("lbfgs", C, 1e-12, 100_000)),
        ("saga", make_model("saga", C, 1e-12, 100_000)),
    ]
    for s in sorted({1.0, 10.0, float(intercept_scaling), 1000.0}):
        label = f"liblinear, intercept_scaling={s:g}"
        if s == intercept_scaling:
            label += " (used)"
        cases.append((label, make_model("liblinear", C, 1e-12, 100_000, s)))
    if include_fastlr:
        cases.insert(0, ("fastlr", make_model("fastlr", C, 1e-12, 100_000)))
    rows = []
    for label, model in cases:
        try:
            timed_fit(model, X, y)
        except Exception as exc:  # e.g. fastlr before it accepts CSR: reported, not fatal
            rows.append({"model": label, "error": f"{type(exc).__name__}: {exc}"[:200]})
            continue
        w = np.asarray(model.coef_, dtype=np.float64).ravel()
        b = float(np.asarray(model.intercept_).ravel()[0])
        J, g = objective(X, y, w, b, C)
        rows.append({
            "model": label, "rel_gap": (J - J0) / abs(J0),
            "max_abs_grad": float(np.max(np.abs(g))),
            "max_rel_coef_diff": max(float(np.max(np.abs(w - w0))), abs(b - b0)) / scale,
            "intercept": b, "n_iter": n_iter(model),
        })
    return {"n_samples": n_samples, "n_features": n_features, "C": C, "J_min": J0,
            "intercept_min": b0, "rows": rows}


# ---------------------------------------------------------------------------------
# Part 1: one epoch
# ---------------------------------------------------------------------------------


def bench_epoch(X, y, repeats, n_threads):
    """One ``binary_sums`` call on CSR: NumPy reference vs Numba (all threads, one)."""
    from fastlr.backends import get_backend

    y01 = y.astype(X.dtype)
    rng = np.random.default_rng(5)
    w = 0.1 * rng.standard_normal(X.shape[1])
    b = 0.1
    ref_be, nb = get_backend("numpy"), get_backend("numba")
    fns = {
        "numpy": lambda: ref_be.binary_sums(X, y01, None, w, b),
        "numba": lambda: nb.binary_sums(X, y01, None, w, b, n_threads=n_threads),
        "numba-1": lambda: nb.binary_sums(X, y01, None, w, b, n_threads=1),
    }
    small = X[:1000]  # compile (or load from the cache) before any timing
    nb.binary_sums(small, y01[:1000], None, w, b, n_threads=n_threads)
    nb.binary_sums(small, y01[:1000], None, w, b, n_threads=1)
    ref = fns["numpy"]()
    errors = {name: rel_err(fns[name](), ref) for name in ("numba", "numba-1")}
    times = interleaved_medians(fns, repeats, min_time=0.05)
    nbytes = csr_bytes(X)
    out = {"dtype": X.dtype.name, "bytes": nbytes, "n_threads": n_threads,
           "seconds": times, "rel_err_vs_numpy": errors,
           "gb_per_s": {k: nbytes / t / 1e9 for k, t in times.items()},
           "speedup_vs_numpy": {k: times["numpy"] / t for k, t in times.items()}}
    try:  # the public function: input checks on top of the kernel
        import fastlr

        t_api = median_time(lambda: fastlr.loss_and_grad(X, y01, w, b, backend="numba",
                                                          n_threads=n_threads),
                            repeats=repeats, warmup=1)
        out["loss_and_grad_over_kernel"] = t_api / times["numba"]
    except (TypeError, ValueError) as exc:
        out["loss_and_grad_error"] = f"{type(exc).__name__}: {exc}"[:200]
    return out


# ---------------------------------------------------------------------------------
# Part 2: fits
# ---------------------------------------------------------------------------------


class Scoreboard:
    """Objective values of every fit of one problem; gaps are taken to the lowest."""

    def __init__(self, X, y, C):
        self.X, self.y, self.C = X, y, C
        self.best = math.inf
        self.runs = []
        self.saga_epoch_s = None  # seconds per saga epoch, measured once

    def add(self, run, model):
        run["J"] = model_objective(model, self.X, self.y, self.C)
        run["n_iter"] = n_iter(model)
        self.best = min(self.best, run["J"])
        self.runs.append(run)
        return run

    def gap(self, J):
        return (J - self.best) / abs(self.best)

    def meets(self, J, target):
        """Whether objective ``J`` reaches ``target``: ``{"J": value}`` (at most that
        objective) or ``{"gap": value}`` (at most that gap to the best so far)."""
        if "J" in target:
            return J <= target["J"]
        return self.gap(J) <= target["gap"]

    def finish(self):
        """Gaps of every run to the lowest objective of the whole run."""
        for run in self.runs:
            run["rel_gap"] = self.gap(run["J"])


def fit_peer(name, board, setting, tols, target, cap_s, repeats, C, intercept_scaling,
             max_iter):
    """Fit one scikit-learn solver with ``tols`` in turn, until its objective meets
    ``target`` (see :meth:`Scoreboard.meets`) or a fit takes longer than ``cap_s``.

    The first ``tol`` is the setting's own, so the first run is the like-for-like one.
    A refit that ends at the same objective as the previous run (the solver stops
    for another reason than ``tol``, e.g. float32 round-off) is the last.
    ``saga``'s ``max_iter`` (epochs) is set from a timed 3-epoch probe so that a run
    stops near ``cap_s``; a run that used them all short of the target is repeated
    once more at the same ``tol`` with the epochs its own pace fits into ``cap_s``.
    """
    X, y = board.X, board.y
    runs = []
    epochs = max_iter
    if name == "saga":
        if board.saga_epoch_s is None:  # a 3-epoch probe (tol=0: it runs all three)
            progress(f"fit {X.dtype.name}: scikit-learn saga, time of one epoch")
            t, _ = timed_fit(make_model("saga", C, 0.0, 3), X, y)
            board.saga_epoch_s = t / 3
        epochs = max(3, int(cap_s / board.saga_epoch_s))
    k = 0
    while k < len(tols):
        tol = tols[k]
        progress(f"fit {X.dtype.name} {setting}: scikit-learn {name}, tol={tol:g}, "
                 f"max_iter={epochs}")
        t, model = timed_fit(make_model(name, C, tol, epochs, intercept_scaling), X, y,
                             repeats)
        run = board.add({"model": name, "setting": setting, "tol": tol, "max_iter": epochs,
                         "seconds": t}, model)
        run["hit_max_iter"] = run["n_iter"] >= epochs
        runs.append(run)
        progress(f"  {fmt_time(t)}, {run['n_iter']} iterations, gap {board.gap(run['J']):.2e}")
        if board.meets(run["J"], target) or t >= cap_s:
            break
        if len(runs) > 1 and abs(run["J"] - runs[-2]["J"]) <= 1e-15 * abs(run["J"]):
            break  # a smaller tol no longer changes the result
        if name == "saga" and run["hit_max_iter"]:
            # the probe's fixed costs make it overestimate an epoch: rerun at the same
            # tol with the epochs that this run's own pace fits into the cap
            more = int(cap_s / (t / run["n_iter"]))
            if more < 1.5 * epochs:
                break
            epochs = more
            continue
        k += 1
    return runs


def bench_fit(X, y, C, settings, peers, args):
    """fastlr against the scikit-learn solvers at each (setting name, tol)."""
    board = Scoreboard(X, y, C)
    name = X.dtype.name
    # a reference solution first, so that "the best objective seen" is a tight one
    progress(f"fit {name}: reference, fastlr at tol={args.reference_tol:g}")
    t, model = timed_fit(make_model("fastlr", C, args.reference_tol, args.max_iter), X, y)
    board.add({"model": "fastlr", "setting": "reference", "tol": args.reference_tol,
               "seconds": t}, model)
    out = {"dtype": name, "settings": []}
    for setting, tol, tight_gap in settings:
        progress(f"fit {name} {setting}: fastlr, tol={tol:g}")
        t, model = timed_fit(make_model("fastlr", C, tol, args.max_iter), X, y,
                             args.fit_repeats)
        ours = board.add({"model": "fastlr", "setting": setting, "tol": tol, "seconds": t,
                          "backend": getattr(model, "backend_", None)}, model)
        # the quality the peers must reach: fastlr's own objective at the default
        # setting, the gap (1e-8) at the tight one
        target = {"J": ours["J"]} if tight_gap is None else {"gap": tight_gap}
        tols = [tol * 10.0 ** (-2 * k) for k in range(args.max_refits + 1)]
        peer_runs = {}
        for peer in peers:
            peer_runs[peer] = fit_peer(peer, board, setting, tols, target,
                                       args.peer_max_seconds, args.fit_repeats, C,
                                       args.intercept_scaling, args.max_iter)
        out["settings"].append({"setting": setting, "tol": tol, "target": target,
                                "fastlr": ours, "peers": peer_runs})
    board.finish()
    out["best_J"] = board.best
    out["reference"] = board.runs[0]
    for s in out["settings"]:
        # every gap against the lowest objective of the whole run
        if "J" in s["target"]:
            s["target_gap"] = s["fastlr"]["rel_gap"]
        else:
            s["target_gap"] = s["target"]["gap"]
        s["fastlr_reached_target"] = bool(s["fastlr"]["rel_gap"] <= s["target_gap"])
        for peer, runs in s["peers"].items():
            reached = [r for r in runs if r["rel_gap"] <= s["target_gap"]]
            s.setdefault("summary", {})[peer] = {
                "same_tol_seconds": runs[0]["seconds"],
                "same_tol_ratio": runs[0]["seconds"] / s["fastlr"]["seconds"],
                "same_tol_gap": runs[0]["rel_gap"],
                "same_tol_n_iter": runs[0]["n_iter"],
                "reached_target": bool(reached),
                "matched": reached[0] if reached else runs[-1],
                "matched_ratio": (reached[0] if reached else runs[-1])["seconds"]
                / s["fastlr"]["seconds"],
            }
    return out


# ---------------------------------------------------------------------------------
# Part 3: memory
# ---------------------------------------------------------------------------------

_MEMORY_SETUP = """
import warnings
import numpy as np
import scipy.sparse as sp
import fastlr

d = np.load({path!r} + "/data.npy")
X = sp.csr_matrix((d, np.load({path!r} + "/indices.npy"), np.load({path!r} + "/indptr.npy")),
                  shape={shape!r}, copy=False)
y = np.load({path!r} + "/y.npy")
fastlr.LogisticRegression(C={C!r}, n_jobs={n_jobs!r}).fit(X[:2000], y[:2000])  # JIT warm-up

# every scipy.sparse method that makes a dense array now fails loudly
densified = []
def _refuse(name):
    def method(self, *args, **kwargs):
        densified.append(name)
        raise AssertionError("a sparse matrix was densified with " + name)
    return method
for cls in type(X).__mro__:
    for name in ("toarray", "todense"):
        if name in vars(cls):
            setattr(cls, name, _refuse(cls.__name__ + "." + name))
warnings.simplefilter("ignore")
"""

_MEMORY_FIT = """
model = fastlr.LogisticRegression(C={C!r}, tol={tol!r}, max_iter={max_iter!r},
                                  n_jobs={n_jobs!r}).fit(X, y)
report["n_iter"] = int(model.n_iter_[0])
report["densified"] = densified
"""


def bench_memory(X, y, C, tol, max_iter, n_threads, workdir):
    """Peak extra memory of one fastlr fit, in a child process (see _timing)."""
    path = Path(workdir) / X.dtype.name
    path.mkdir(parents=True, exist_ok=True)
    for key, arr in (("data", X.data), ("indices", X.indices), ("indptr", X.indptr),
                     ("y", y)):
        np.save(path / f"{key}.npy", arr)
    rep = peak_memory_growth(
        _MEMORY_SETUP.format(path=str(path), shape=X.shape, C=C, n_jobs=n_threads),
        _MEMORY_FIT.format(C=C, tol=tol, max_iter=max_iter, n_jobs=n_threads),
    )
    data_idx = X.data.nbytes + X.indices.nbytes
    budget = 0.25 * data_idx + n_threads * X.shape[1] * 8
    dense = X.shape[0] * X.shape[1] * X.dtype.itemsize
    return {"dtype": X.dtype.name, "peak_extra_bytes": rep["peak_extra_bytes"],
            "data_plus_indices_bytes": data_idx, "budget_bytes": budget,
            "fraction_of_data_plus_indices": rep["peak_extra_bytes"] / data_idx,
            "fraction_of_budget": rep["peak_extra_bytes"] / budget,
            "dense_copy_bytes": dense, "densified": rep["densified"],
            "n_iter": rep["n_iter"], "n_threads": n_threads, "tol": tol}


# ---------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------


def markdown_table(header, rows):
    """A Markdown table: first column left-aligned, the others right-aligned."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def isa(flags):
    for name, flag in (("AVX-512", "avx512f"), ("AVX2", "avx2"), ("AVX", "avx")):
        if flag in flags:
            return name
    return "no AVX"


def last_level_cache():
    """Size of the largest CPU cache as the kernel reports it (e.g. "32768K"), or None."""
    sizes = []
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            sizes.append((int((index / "level").read_text()),
                          (index / "size").read_text().strip()))
        except (OSError, ValueError):
            pass
    return max(sizes)[1] if sizes else None


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def report(res):
    """The Markdown that goes into the README, from the results dict."""
    m = res["machine"]
    w = res["workload"]
    out = []
    out.append(f"fastlr sparse benchmark: {m['cpu']} ({m['isa']}), "
               f"{m['physical_cores'] or m['logical_cores']} cores "
               f"({m['logical_cores']} threads), last-level cache "
               f"{m.get('last_level_cache') or '?'}, {m['numba_threads']} Numba threads; "
               f"Python {m['python']}, NumPy {m['numpy']}, SciPy {m['scipy']}, "
               f"scikit-learn {m['scikit-learn']}, Numba {m['numba']}, "
               f"fastlr {m['fastlr']}.")
    out.append(f"Command: `{res['command']}`.")
    out.append(f"Workload: CSR {w['n_samples']:,} x {w['n_features']:,}, "
               f"{w['nnz']:,} non-zeros ({w['nnz_per_row_mean']:.1f} per row), Zipf "
               f"columns (s={w['zipf_s']}, offset={w['zipf_offset']}), TF-IDF values, rows "
               f"of unit L2 norm; labels: {w['positive_rate']:.1%} positive, the true "
               f"model scores {w['true_model_accuracy']:.1%} on them; C=1. Generated in "
               f"{w['seconds']:.1f} s.")
    out.append(f"Read bandwidth: {res['read_GBps']:.1f} GB/s (np.dot of two "
               f"{res['bandwidth_elements']:,}-element float64 vectors on BLAS's threads; "
               "bytes read / median time).")
    if "mapping" in res:
        mp = res["mapping"]
        out.append("")
        out.append(f"Objective mapping, {mp['n_samples']:,} x {mp['n_features']} CSR, C=1, "
                   "tol=1e-12: each model against the minimiser of "
                   "`mean log-loss + ||w||^2 / (2 C n)` found by L-BFGS-B on it directly.")
        out.append("")
        rows = []
        for r in mp["rows"]:
            if "error" in r:
                rows.append([r["model"], "-", "-", "-", r["error"]])
            else:
                rows.append([r["model"], f"{r['rel_gap']:.1e}", f"{r['max_abs_grad']:.1e}",
                             f"{r['max_rel_coef_diff']:.1e}", str(r["n_iter"])])
        out.append(markdown_table(["model", "relative objective gap", "max abs gradient",
                                   "max rel coef diff", "iterations"], rows))
    if res.get("epoch"):
        out.append("")
        out.append("One epoch (`binary_sums`: J, dw, db) on CSR; bytes = data + indices + "
                   "indptr; speed-up = NumPy time / time; % of the read bandwidth.")
        out.append("")
        rows = []
        for e in res["epoch"]:
            s, g = e["seconds"], e["gb_per_s"]
            rows.append([e["dtype"], f"{e['bytes'] / 1e6:,.0f}", fmt_time(s["numpy"]),
                         fmt_time(s["numba-1"]),
                         f"{fmt_time(s['numba'])} ({e['n_threads']} threads)",
                         fmt_ratio(e["speedup_vs_numpy"]["numba"]),
                         f"{g['numba']:.1f} GB/s ({g['numba'] / res['read_GBps']:.0%})",
                         f"{e['rel_err_vs_numpy']['numba']:.1e}"])
        out.append(markdown_table(["dtype", "MB read", "NumPy/scipy", "Numba, 1 thread",
                                   "Numba", "speed-up", "Numba bandwidth",
                                   "rel. diff to NumPy"], rows))
    if res.get("fit"):
        out.append("")
        out.append("Fit, C=1: ratio = scikit-learn time / fastlr time (above 1: fastlr "
                   "faster); gap = relative gap of `mean log-loss + ||w||^2 / (2 C n)` to "
                   "the lowest value of the run for that dtype. The first columns are the "
                   "peer at fastlr's tol; 'same objective' is its first run (tol lowered "
                   "100x at a time) that reaches the target: fastlr's objective at the "
                   f"default tol, a gap of {res['options']['tight_gap']:g} at the tight one.")
        out.append("")
        rows = []
        for f in res["fit"]:
            for s in f["settings"]:
                ours = s["fastlr"]
                if "J" in s["target"]:
                    note = "target: fastlr's objective"
                else:
                    note = f"target gap {s['target_gap']:g}" + (
                        "" if s["fastlr_reached_target"] else ", missed by fastlr")
                rows.append([f"{f['dtype']}, tol={s['tol']:g}", "fastlr",
                             fmt_time(ours["seconds"]), "1x", str(ours["n_iter"]),
                             f"{ours['rel_gap']:.1e}", "-", note])
                for peer, sm in s["summary"].items():
                    mt = sm["matched"]
                    if sm["reached_target"]:
                        same = (f"{fmt_ratio(sm['matched_ratio'])} at tol={mt['tol']:g}, "
                                f"{mt['n_iter']} it."
                                + (" (all of max_iter)" if mt.get("hit_max_iter") else ""))
                    else:
                        same = (f"not reached: gap {mt['rel_gap']:.2e} after "
                                f"{fmt_time(mt['seconds'])} (tol={mt['tol']:g})")
                    rows.append(["", f"sklearn {peer}", fmt_time(sm["same_tol_seconds"]),
                                 fmt_ratio(sm["same_tol_ratio"]), str(sm["same_tol_n_iter"]),
                                 f"{sm['same_tol_gap']:.1e}", same, ""])
        out.append(markdown_table(["dtype, setting", "model", "time (same tol)",
                                   "ratio", "iterations", "gap", "same objective: ratio",
                                   "note"], rows))
    if res.get("memory"):
        out.append("")
        out.append("Peak extra memory during fastlr's fit (child process, VmHWM): budget = "
                   "0.25 (data + indices) + n_threads n_features 8 bytes.")
        out.append("")
        rows = []
        for r in res["memory"]:
            rows.append([r["dtype"], f"{r['peak_extra_bytes'] / 2**20:,.1f} MiB",
                         f"{r['fraction_of_data_plus_indices']:.1%}",
                         f"{r['budget_bytes'] / 2**20:,.1f} MiB",
                         f"{r['fraction_of_budget']:.0%}",
                         "none" if not r["densified"] else ", ".join(r["densified"]),
                         f"{r['dense_copy_bytes'] / 2**30:,.1f} GiB"])
        out.append(markdown_table(["dtype", "peak extra", "of data + indices", "budget",
                                   "of budget", "densifying calls", "a dense copy would be"],
                                  rows))
    return "\n".join(out)


# ---------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true",
                    help="20,000 x 5,000, fewer repeats, short caps (CI-sized)")
    ap.add_argument("--n-samples", type=int, default=None, help="default 1,000,000")
    ap.add_argument("--n-features", type=int, default=None, help="default 100,000")
    ap.add_argument("--nnz-per-row", type=float, default=30.0)
    ap.add_argument("--dtypes", default="float64,float32",
                    help="comma-separated, from float64 and float32")
    ap.add_argument("--parts", default="mapping,epoch,fit,memory",
                    help="comma-separated subset of mapping,epoch,fit,memory")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="scikit-learn solvers to fit, from " + ",".join(PEERS))
    ap.add_argument("--C", type=float, default=1.0)
    ap.add_argument("--tols", default="1e-4,1e-8",
                    help="fit settings; the tightest must reach --tight-gap")
    ap.add_argument("--tight-gap", type=float, default=1e-8,
                    help="relative objective gap every model must reach at the tightest tol")
    ap.add_argument("--reference-tol", type=float, default=1e-10,
                    help="tol of the first, reference fastlr fit")
    ap.add_argument("--max-iter", type=int, default=100_000,
                    help="max_iter of fastlr, lbfgs and liblinear (saga: from the cap)")
    ap.add_argument("--max-refits", type=int, default=4,
                    help="how many times a peer's tol is lowered 100x to reach the target")
    ap.add_argument("--peer-max-seconds", type=float, default=None,
                    help="no further refits of a peer after a fit this long (default 900, "
                         "--quick 20); saga's epochs are capped to fit in it")
    ap.add_argument("--intercept-scaling", type=float, default=100.0,
                    help="liblinear's intercept_scaling (its intercept is penalised)")
    ap.add_argument("--repeats", type=int, default=None, help="epoch repeats (7; quick 3)")
    ap.add_argument("--fit-repeats", type=int, default=1, help="repeats of every fit")
    ap.add_argument("--bandwidth-elements", type=float, default=None,
                    help="elements per vector of the read-bandwidth probe (1e8; quick 2e7)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None,
                    help="write every figure to DIR/bench_sparse.json")
    args = ap.parse_args(argv)
    args.n_samples = args.n_samples or (20_000 if args.quick else 1_000_000)
    args.n_features = args.n_features or (5_000 if args.quick else 100_000)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.peer_max_seconds = args.peer_max_seconds or (20.0 if args.quick else 900.0)
    args.bandwidth_elements = int(args.bandwidth_elements or (2e7 if args.quick else 1e8))
    args.dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    args.parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    args.peers = [p.strip() for p in args.peers.split(",") if p.strip()]
    args.tols = sorted((float(t) for t in args.tols.split(",")), reverse=True)
    for d in args.dtypes:
        if d not in ("float64", "float32"):
            ap.error(f"--dtypes: {d!r} is not float64 or float32")
    for p in args.peers:
        if p not in PEERS:
            ap.error(f"--peers: {p!r} is not one of {PEERS}")
    unknown = args.parts - {"mapping", "epoch", "fit", "memory"}
    if unknown:
        ap.error(f"--parts: unknown {sorted(unknown)}")
    return args


def main(argv=None):
    args = parse_args(argv)
    import numba

    n_threads = numba.get_num_threads()
    info = machine_info()
    flags = cpu_flags()
    info["isa"] = isa(flags)
    info["vendor"] = ("AMD" if "AMD" in info["cpu"] else "Intel" if "Intel" in info["cpu"]
                      else "other")
    info["last_level_cache"] = last_level_cache()
    res = {"command": "python scripts/bench_sparse.py " + " ".join(
        sys.argv[1:] if argv is None else argv), "machine": info,
        "options": {k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path)
                        else v) for k, v in vars(args).items()}}

    if "mapping" in args.parts:
        progress("objective mapping check on a small problem")
        res["mapping"] = check_objective_mapping(C=args.C,
                                                 intercept_scaling=args.intercept_scaling)

    progress(f"read bandwidth ({args.bandwidth_elements:,} float64 elements per vector)")
    res["bandwidth_elements"] = args.bandwidth_elements
    res["read_GBps"] = read_bandwidth(n=args.bandwidth_elements, repeats=5)

    progress(f"workload {args.n_samples:,} x {args.n_features:,}")
    t0 = time.perf_counter()
    X64, y, winfo = make_sparse_problem(args.n_samples, args.n_features, args.nnz_per_row,
                                        seed=args.seed)
    winfo["seconds"] = time.perf_counter() - t0
    res["workload"] = winfo
    progress(f"  {winfo['seconds']:.1f} s, {winfo['nnz']:,} non-zeros")

    settings = [(f"tol={t:g}", t, args.tight_gap if t == min(args.tols) else None)
                for t in args.tols]
    res["epoch"], res["fit"], res["memory"] = [], [], []
    with tempfile.TemporaryDirectory() as workdir:
        for dtype in args.dtypes:
            X = with_dtype(X64, np.dtype(dtype))
            if "epoch" in args.parts:
                progress(f"epoch {dtype}")
                res["epoch"].append(bench_epoch(X, y, args.repeats, n_threads))
            if "fit" in args.parts:
                res["fit"].append(bench_fit(X, y, args.C, settings, args.peers, args))
            if "memory" in args.parts:
                progress(f"memory {dtype}")
                res["memory"].append(bench_memory(X, y, args.C, min(args.tols), args.max_iter,
                                                  n_threads, workdir))
            del X

    text = report(res)
    print(text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench_sparse.json").write_text(json.dumps(res, indent=2, default=float))
        progress(f"wrote {args.out / 'bench_sparse.json'}")
    return res


if __name__ == "__main__":
    main()
