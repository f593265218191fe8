"""Measure the CUDA backend on a real GPU and print the ratios that judge it.

In one run, on one device (every timing the median of ``--repeats`` runs after a
warm-up run, bracketed by device synchronisation, so one "epoch" is what a fit pays
per iteration: the coefficients' upload, the launch and the sums' download):

1. copy bandwidth: a device-to-device copy of ``--copy-mib`` MiB, counted as bytes
   read + bytes written per second;
2. the fused binary epoch (``binary_sums``) on a dense ``--n-samples`` x
   ``--n-features`` X resident on the device, float32 and float64, with each dense
   kernel (the row-per-group kernel at a few launch shapes, and the tiled kernel); its
   read bandwidth counts the bytes of X and y once;
3. the same epoch as two matrix-vector products (``z = X w + b``, then
   ``dw = X^T dz``) with CuPy and with PyTorch, each where importable;
4. a multinomial epoch (``--n-classes`` classes), fused and as two matrix products;
5. a CSR epoch (``--csr-samples`` x ``--csr-features``, ``--csr-nnz`` values per row,
   columns drawn with P(j) proportional to 1 / (j + 1), like word counts), fused
   and as two sparse products with ``cupyx.scipy.sparse``; its read bandwidth counts
   data + indices + indptr + y once;
6. full fits on the first ``--fit-samples`` rows (``--fit-dtype``):
   ``fastlr.LogisticRegression(backend="cuda")`` from host arrays (the upload is
   inside the timing), scikit-learn's ``LogisticRegression`` on the same GPU through
   the array API (PyTorch CUDA tensors, else CuPy arrays, already on the device), and
   fastlr's Numba backend on this machine's CPU cores; same ``C``, ``tol`` and
   ``max_iter``, and the objective each reaches, computed in float64 on the host.

A JSON file of every figure is written to ``--json`` if given; a short table is
printed last. Targets: fused read bandwidth >= 80% of the copy bandwidth;
fused epoch >= 2x faster than the two-product epoch; GPU fit >= 5x faster than
scikit-learn's array-API fit on the same GPU.

    python scripts/bench_gpu.py                       # the full sizes (~25 GB of GPU memory)
    NUMBA_ENABLE_CUDASIM=1 python scripts/bench_gpu.py --tiny   # the script runs; timings meaningless

Exits with status 1 and a message when no usable GPU is present.
"""

from __future__ import annotations

import os

# scikit-learn's array-API dispatch needs SciPy's array-API mode, set before SciPy loads.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

TARGET_READ_OVER_COPY = 0.80
TARGET_EPOCH_SPEEDUP = 2.0
TARGET_FIT_SPEEDUP = 5.0

TINY = dict(n_samples=300, n_features=7, n_classes=3, copy_mib=1.0, repeats=2,
            csr_samples=200, csr_features=50, csr_nnz=5, fit_samples=200)


def _parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n-samples", type=int, default=10_000_000)
    p.add_argument("--n-features", type=int, default=100)
    p.add_argument("--n-classes", type=int, default=10)
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                   choices=["float32", "float64"])
    p.add_argument("--repeats", type=int, default=9, help="timed runs; the median counts")
    p.add_argument("--copy-mib", type=float, default=4096.0)
    p.add_argument("--csr-samples", type=int, default=10_000_000, help="0 skips CSR")
    p.add_argument("--csr-features", type=int, default=100_000)
    p.add_argument("--csr-nnz", type=int, default=30)
    p.add_argument("--fit-samples", type=int, default=2_000_000, help="0 skips the fits")
    p.add_argument("--fit-dtype", default="float64", choices=["float32", "float64"])
    p.add_argument("--fit-C", type=float, default=1.0)
    p.add_argument("--fit-tol", type=float, default=1e-6)
    p.add_argument("--fit-max-iter", type=int, default=500)
    p.add_argument("--json", default=None, help="write every figure to this file")
    p.add_argument("--tiny", action="store_true", help="tiny sizes for the simulator")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.tiny:
        for k, v in TINY.items():
            setattr(args, k, v)
    return args


def _median_seconds(fn, repeats, synchronize):
    fn()
    synchronize()
    times = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        fn()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _fill_uniform_kernel(
    X,  # OUT (n,) flat view: pseudo-random values in [-1, 1)
    seed,
):
    """A counter-based hash per element, so X is made on the device in one pass."""
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for k in range(start, X.shape[0], stride):
        h = (k * 2654435761 + seed * 97 + 12345) & 0xFFFFFFFF
        h ^= h >> 16
        h = (h * 0x45D9F3B) & 0xFFFFFFFF
        h ^= h >> 16
        h = (h * 0x45D9F3B) & 0xFFFFFFFF
        h ^= h >> 16
        X[k] = h * (2.0 / 4294967296.0) - 1.0


def _libraries():
    """{name: module} of CuPy and PyTorch where importable with a GPU; reasons otherwise."""
    libs, missing = {}, {}
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        libs["cupy"] = cupy
    except Exception as exc:
        missing["cupy"] = repr(exc)
    try:
        import torch

        if not torch.cuda.is_available():
            raise RuntimeError("torch.cuda.is_available() is False")
        libs["torch"] = torch
    except Exception as exc:
        missing["torch"] = repr(exc)
    return libs, missing


def _two_product_binary(lib, mod, X_d, y_d, w, b, dtype):
    """The binary epoch as two products with CuPy or PyTorch."""
    if lib == "cupy":
        X, y = mod.asarray(X_d), mod.asarray(y_d)
        w_c = mod.asarray(w.astype(dtype))

        def epoch():
            z = X @ w_c + dtype(b)
            t = mod.exp(-mod.abs(z))
            a = mod.where(z >= 0, 1 / (1 + t), t / (1 + t))
            J = float((mod.maximum(z, 0) + mod.log1p(t) - y * z).sum(dtype=mod.float64))
            dz = a - y
            return J, (X.T @ dz).astype(mod.float64).get(), float(dz.sum(dtype=mod.float64))
        return epoch, mod.cuda.Device().synchronize
    X = mod.as_tensor(X_d, device="cuda")
    y = mod.as_tensor(y_d, device="cuda")
    w_t = mod.as_tensor(w.astype(dtype), device="cuda")

    def epoch():
        z = X @ w_t + float(b)
        J = float((mod.nn.functional.softplus(z) - y * z).sum(dtype=mod.float64))
        dz = mod.sigmoid(z) - y
        return J, (X.T @ dz).double().cpu().numpy(), float(dz.sum(dtype=mod.float64))
    return epoch, mod.cuda.synchronize


def _two_product_multinomial(lib, mod, X_d, yk_d, W, B, dtype):
    if lib == "cupy":
        X, yk = mod.asarray(X_d), mod.asarray(yk_d)
        W_c, B_c = mod.asarray(W.astype(dtype)), mod.asarray(B.astype(dtype))
        rows = mod.arange(X.shape[0])

        def epoch():
            Z = X @ W_c.T + B_c
            Z = Z - Z.max(axis=1, keepdims=True)
            lse = mod.log(mod.exp(Z).sum(axis=1))
            J = float((lse - Z[rows, yk]).sum(dtype=mod.float64))
            P = mod.exp(Z - lse[:, None])
            P[rows, yk] -= 1
            return J, (P.T @ X).astype(mod.float64).get(), P.sum(axis=0, dtype=mod.float64).get()
        return epoch, mod.cuda.Device().synchronize
    X = mod.as_tensor(X_d, device="cuda")
    yk = mod.as_tensor(yk_d, device="cuda").long()
    W_t = mod.as_tensor(W.astype(dtype), device="cuda")
    B_t = mod.as_tensor(B.astype(dtype), device="cuda")

    def epoch():
        Z = X @ W_t.T + B_t
        J = float(mod.nn.functional.cross_entropy(Z, yk, reduction="sum").double())
        P = mod.softmax(Z, dim=1)
        P[mod.arange(X.shape[0], device="cuda"), yk] -= 1
        return J, (P.T @ X).double().cpu().numpy(), P.sum(0, dtype=mod.float64).cpu().numpy()
    return epoch, mod.cuda.synchronize


def _kernel_resources(dispatcher):
    """Registers, local and shared memory per compiled specialisation (GPU only)."""
    out = []
    for sig, kernel in getattr(dispatcher, "overloads", {}).items():
        row = {"signature": str(sig)[:120]}
        for attr in ("regs_per_thread", "local_mem_per_thread", "shared_mem_per_block",
                     "max_threads_per_block"):
            try:
                row[attr] = int(getattr(kernel, attr))
            except Exception:
                pass
        out.append(row)
    return out


def _dense_section(args, results, libs, sync, fill, copy_gbs):
    from fastlr.backends import cuda as cb
    from fastlr.backends.cuda import driver

    n, d = args.n_samples, args.n_features
    rng = np.random.default_rng(args.seed)
    w_true = rng.normal(scale=2.0 / np.sqrt(d), size=d)
    w = rng.normal(scale=0.1, size=d)
    b = 0.1
    sm = 1 if SIMULATOR else cuda.get_current_device().MULTIPROCESSOR_COUNT
    row_launches = {"rows (default)": {}}
    if not SIMULATOR:
        rows = dict(kernel="rows")
        row_launches.update({
            "rows lanes 16, batch 4": dict(rows, lanes_per_row=16, rows_per_group=4),
            "rows lanes 32, batch 8": dict(rows, lanes_per_row=32, rows_per_group=8),
            "rows lanes 32, batch 4": dict(rows, lanes_per_row=32, rows_per_group=4),
            "rows 256 threads": dict(rows, threads_per_block=256),
            "rows 64 threads": dict(rows, threads_per_block=64),
            "rows 512 threads": dict(rows, threads_per_block=512),
            "rows 2 blocks/SM": dict(rows, n_blocks=2 * sm),
        })
    row_launches["tiles (default)"] = dict(kernel="tiles")
    for dtype_name in args.dtypes:
        dtype = np.dtype(dtype_name).type
        X_d = cuda.device_array((n, d), dtype=dtype)
        fill(X_d.reshape(n * d), args.seed)
        sync()
        z = cb.linear_predict(X_d, w_true.reshape(1, d), np.zeros(1)).copy_to_host()[:, 0]
        y_host = (z + rng.logistic(size=n) > 0).astype(dtype)
        y_d = cuda.to_device(y_host)
        del z
        read_bytes = X_d.nbytes + y_d.nbytes
        res = {"shape": [n, d], "read_bytes": read_bytes, "fused": {}}
        print(f"\n{dtype_name}: X {n} x {d} = {X_d.nbytes / 1e9:.2f} GB (+ y {y_d.nbytes / 1e9:.2f} GB)")
        reference = None
        for name, launch in row_launches.items():
            def fused(launch=launch):
                return cb.binary_sums(X_d, y_d, None, w, b, **launch)
            try:
                J, dw, db = fused()
            except Exception as exc:  # e.g. a launch the kernel's registers do not allow
                res["fused"][name] = {"error": repr(exc)}
                print(f"  fused epoch, {name:<22}: failed, {exc!r}"[:200])
                continue
            if reference is None:
                reference = (J, dw)
            rel = abs(J - reference[0]) / abs(reference[0])
            t = _median_seconds(fused, args.repeats, sync)
            res["fused"][name] = {"seconds": t, "read_GBps": read_bytes / t / 1e9,
                                  "J_rel_diff": rel}
            print(f"  fused epoch, {name:<22}: {t * 1e3:8.3f} ms = "
                  f"{read_bytes / t / 1e9:7.1f} GB/s read ({read_bytes / t / 1e9 / copy_gbs:.0%} "
                  f"of copy), J rel. diff {rel:.1e}")
        res["default_seconds"] = res["fused"]["rows (default)"]["seconds"]
        res["two_product"] = {}
        for lib, mod in libs.items():
            epoch, lib_sync = _two_product_binary(lib, mod, X_d, y_d, w, b, dtype)
            J_t, dw_t, _ = epoch()
            rel = abs(J_t - reference[0]) / abs(reference[0])
            dw_rel = float(np.abs(dw_t - reference[1]).max() / np.abs(reference[1]).max())
            t = _median_seconds(epoch, args.repeats, lambda: (lib_sync(), sync()))
            res["two_product"][lib] = {"seconds": t, "J_rel_diff": rel, "dw_rel_diff": dw_rel}
            print(f"  two-product epoch, {lib:<6}: {t * 1e3:8.3f} ms, "
                  f"{t / res['default_seconds']:.2f}x the fused time (J rel. diff {rel:.1e}, "
                  f"dw {dw_rel:.1e})")
            del epoch
        results["dense"][dtype_name] = res
        if dtype_name == args.dtypes[0]:
            _multinomial_section(args, results, libs, sync, X_d, dtype)
        del X_d, y_d
        gc.collect()
    from fastlr.backends.cuda import kernels, row_kernels
    if not SIMULATOR:
        results["resources"] = {
            "rows_binary": _kernel_resources(row_kernels._rows_binary_kernel),
            "tiled_epoch": _kernel_resources(kernels._epoch_kernel),
            "csr_epoch": _kernel_resources(row_kernels._csr_epoch_kernel),
        }
        for name, rows in results["resources"].items():
            for row in rows:
                print(f"  resources {name}: " + ", ".join(f"{k}={v}" for k, v in row.items()))
    cfg = driver._dense_rows_launch(n, d)
    print(f"  (row kernel default launch: {cfg.n_blocks} blocks of {cfg.threads_per_block} "
          f"threads, {cfg.lanes_per_row} lanes per row)")


def _multinomial_section(args, results, libs, sync, X_d, dtype):
    from fastlr.backends import cuda as cb

    n, d, k = X_d.shape[0], X_d.shape[1], args.n_classes
    rng = np.random.default_rng(args.seed + 1)
    yk_d = cuda.to_device(rng.integers(0, k, size=n).astype(np.int32))
    W = rng.normal(scale=0.1, size=(k, d))
    B = rng.normal(scale=0.1, size=k)

    def fused():
        return cb.multinomial_sums(X_d, yk_d, None, W, B)
    J, _, _ = fused()
    t = _median_seconds(fused, args.repeats, sync)
    read = X_d.nbytes + yk_d.nbytes
    res = {"n_classes": k, "dtype": np.dtype(dtype).name, "fused_seconds": t,
           "read_GBps": read / t / 1e9, "two_product": {}}
    print(f"  multinomial ({k} classes) fused epoch: {t * 1e3:8.3f} ms = {read / t / 1e9:.1f} GB/s read")
    for lib, mod in libs.items():
        epoch, lib_sync = _two_product_multinomial(lib, mod, X_d, yk_d, W, B, dtype)
        J_t = epoch()[0]
        t2 = _median_seconds(epoch, args.repeats, lambda: (lib_sync(), sync()))
        res["two_product"][lib] = {"seconds": t2, "J_rel_diff": abs(J_t - J) / abs(J)}
        print(f"  multinomial two-product, {lib:<6}: {t2 * 1e3:8.3f} ms, {t2 / t:.2f}x the fused time "
              f"(J rel. diff {abs(J_t - J) / abs(J):.1e})")
        del epoch
    results["multinomial"] = res
    del yk_d


def _csr_section(args, results, libs, sync):
    from fastlr.backends import cuda as cb

    n, d, r = args.csr_samples, args.csr_features, args.csr_nnz
    nnz = n * r
    rng = np.random.default_rng(args.seed + 2)
    w = rng.normal(scale=0.1, size=d)
    b = -0.2
    cp = libs.get("cupy")
    if cp is not None:
        import cupyx.scipy.sparse as cusp

        g = cp.random.default_rng(args.seed)
        u = g.random(nnz, dtype=cp.float64)
        indices = cp.minimum(cp.exp(u * np.log(d + 1.0)).astype(cp.int32) - 1, d - 1)
        data = (g.random(nnz, dtype=cp.float32) + 0.1) / np.float32(np.sqrt(r))
        indptr = cp.arange(0, nnz + 1, r, dtype=cp.int32)
        X_c = cusp.csr_matrix((data, indices, indptr), shape=(n, d))
        w_true = cp.asarray(rng.normal(scale=3.0, size=d))
        z = X_c @ w_true.astype(cp.float32)
        u = g.random(n, dtype=cp.float32) * np.float32(0.999998) + np.float32(1e-6)
        y_c = ((z - z.mean()) + cp.log(u / (1 - u)) > 0).astype(cp.float32)  # logistic noise
        X_d = cb.DeviceCSR(cuda.as_cuda_array(data), cuda.as_cuda_array(indices),
                           cuda.as_cuda_array(indptr), (n, d), nnz)
        y_d = cuda.as_cuda_array(y_c)
        del u, z
    else:
        import scipy.sparse as sp
        indices = np.minimum(np.exp(rng.random(nnz) * np.log(d + 1.0)).astype(np.int32) - 1, d - 1)
        data = ((rng.random(nnz) + 0.1) / np.sqrt(r)).astype(np.float32)
        X_host = sp.csr_matrix((data, indices, np.arange(0, nnz + 1, r)), shape=(n, d))
        y_host = (rng.random(n) < 0.5).astype(np.float32)
        X_d, y_d, _ = cb.prepare(X_host, y_host, None)
    read = X_d.data.nbytes + X_d.indices.nbytes + X_d.indptr.nbytes + y_d.nbytes

    def fused():
        return cb.binary_sums(X_d, y_d, None, w, b)
    J, dw, _ = fused()
    t = _median_seconds(fused, args.repeats, sync)
    res = {"shape": [n, d], "nnz": nnz, "read_bytes": read, "fused_seconds": t,
           "read_GBps": read / t / 1e9, "two_product": {}}
    print(f"\nCSR float32/int32: {n} x {d}, {r} values per row ({nnz / 1e6:.0f} M), "
          f"{read / 1e9:.2f} GB read")
    print(f"  fused epoch: {t * 1e3:8.3f} ms = {read / t / 1e9:.1f} GB/s read")
    if cp is not None:
        w_c = cp.asarray(w.astype(np.float32))
        XT = X_c.T.tocsr()  # the transpose built once, as a fit would keep it

        def two_products(XT=None):
            z = X_c @ w_c + np.float32(b)
            t_ = cp.exp(-cp.abs(z))
            a = cp.where(z >= 0, 1 / (1 + t_), t_ / (1 + t_))
            J_ = float((cp.maximum(z, 0) + cp.log1p(t_) - y_c * z).sum(dtype=cp.float64))
            dz = a - y_c
            dw_ = (X_c.T @ dz) if XT is None else (XT @ dz)
            return J_, dw_.astype(cp.float64).get(), float(dz.sum(dtype=cp.float64))
        for name, fn in (("cupyx X.T", two_products),
                         ("cupyx stored X^T", lambda: two_products(XT))):
            J_t, dw_t, _ = fn()
            t2 = _median_seconds(fn, args.repeats, lambda: (cp.cuda.Device().synchronize(), sync()))
            rel = abs(J_t - J) / abs(J)
            dw_rel = float(np.abs(dw_t - dw).max() / np.abs(dw).max())
            res["two_product"][name] = {"seconds": t2, "J_rel_diff": rel, "dw_rel_diff": dw_rel}
            print(f"  two sparse products, {name:<16}: {t2 * 1e3:8.3f} ms, {t2 / t:.2f}x the "
                  f"fused time (J rel. diff {rel:.1e}, dw {dw_rel:.1e})")
        del XT
    else:
        print("  two sparse products: skipped (CuPy not importable)")
    results["csr"] = res


def _objective(X, y, coef, intercept, C):
    """Mean log-loss + ||w||^2 / (2 C n), in float64 on the host (scikit-learn's
    objective divided by C n)."""
    z = X.astype(np.float64, copy=False) @ np.asarray(coef, np.float64).ravel() + float(
        np.asarray(intercept, np.float64).ravel()[0])
    loss = np.maximum(z, 0) + np.log1p(np.exp(-np.abs(z))) - y * z
    w = np.asarray(coef, np.float64).ravel()
    return float(loss.mean() + w @ w / (2 * C * X.shape[0]))


def _fit_section(args, results, libs, sync, fill):
    import fastlr

    m, d = args.fit_samples, args.n_features
    dtype = np.dtype(args.fit_dtype).type
    rng = np.random.default_rng(args.seed + 3)
    X_d = cuda.device_array((m, d), dtype=dtype)
    fill(X_d.reshape(m * d), args.seed + 3)
    sync()
    X = X_d.copy_to_host()
    del X_d
    w_true = rng.normal(scale=2.0 / np.sqrt(d), size=d)
    y = (X @ w_true + rng.logistic(size=m) > 0).astype(dtype)
    # Unscaled features (scales from 0.3 to 3), as data often comes: lbfgs then needs
    # tens of iterations, and the fit measures the solver loop, not set-up alone.
    X *= np.logspace(-0.5, 0.5, d).astype(dtype)
    kw = dict(C=args.fit_C, tol=args.fit_tol, max_iter=args.fit_max_iter)
    res = {"shape": [m, d], "dtype": args.fit_dtype, **kw, "fits": {}}
    print(f"\nfull fit: {m} x {d} {args.fit_dtype}, feature scales 0.3 to 3, C={args.fit_C}, "
          f"tol={args.fit_tol}, max_iter={args.fit_max_iter}")

    def record(name, fit, coef_of, n_iter_of, data=None):
        X_fit, y_fit = (X, y) if data is None else data
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(X_fit[:64], y_fit[:64])  # compile / warm up outside the timing
            sync()
            start = time.perf_counter()
            model = fit(X_fit, y_fit)
            sync()
            seconds = time.perf_counter() - start
        coef, intercept = coef_of(model)
        obj = _objective(X, y, coef, intercept, args.fit_C)
        n_iter = n_iter_of(model)
        converged = not any("converge" in str(w.message).lower() for w in caught)
        res["fits"][name] = {"seconds": seconds, "objective": obj, "n_iter": n_iter,
                             "converged_without_warning": converged}
        print(f"  {name:<34}: {seconds:8.3f} s, {n_iter} iterations, objective {obj:.12f}"
              f"{'' if converged else ' (ConvergenceWarning)'}")

    def fastlr_fit(backend, **extra):
        def fit(X_, y_):
            return fastlr.LogisticRegression(backend=backend, **kw, **extra).fit(X_, y_)
        return fit

    def fastlr_coef(model):
        return model.coef_, model.intercept_

    def fastlr_iter(model):
        return int(np.max(model.n_iter_))

    record("fastlr cuda (from host arrays)", fastlr_fit("cuda"), fastlr_coef, fastlr_iter)
    # Where the GPU fit's time goes: the upload that prepare() does once per fit, and
    # one epoch on the prepared data (the solver calls it once per iteration or so).
    from fastlr.backends import cuda as cb
    start = time.perf_counter()
    X_p, y_p, _ = cb.prepare(X, y, None)
    sync()
    t_upload = time.perf_counter() - start
    w0 = np.zeros(d)
    t_epoch = _median_seconds(lambda: cb.binary_sums(X_p, y_p, None, w0, 0.0), 5, sync)
    res["fastlr_cuda_upload_seconds"] = t_upload
    res["fastlr_cuda_epoch_seconds"] = t_epoch
    print(f"    (of which: upload of X and y {t_upload * 1e3:.1f} ms; one epoch on the device "
          f"{t_epoch * 1e3:.3f} ms)")
    del X_p, y_p
    record(f"fastlr numba ({os.cpu_count()} CPU threads)", fastlr_fit("numba", n_jobs=-1),
           fastlr_coef, fastlr_iter)
    _sklearn_array_api_fit(res, libs, record, kw, sync, X, y)
    results["fit"] = res


def _sklearn_array_api_fit(res, libs, record, kw, sync, X, y):
    import sklearn
    from sklearn.linear_model import LogisticRegression

    res["sklearn_version"] = sklearn.__version__
    try:
        import array_api_compat  # noqa: F401

        res["array_api_compat"] = getattr(array_api_compat, "__version__", "?")
    except ImportError:
        res["array_api_compat"] = None  # scikit-learn may still carry its vendored copy
    print(f"  scikit-learn {sklearn.__version__}; array-api-compat importable: "
          f"{res['array_api_compat'] is not None}")
    lib = "torch" if "torch" in libs else ("cupy" if "cupy" in libs else None)
    if lib is None:
        print("  scikit-learn array-API fit: skipped (neither PyTorch nor CuPy with a GPU)")
        return
    mod = libs[lib]

    def on_device(a):
        return mod.asarray(a, device="cuda") if lib == "torch" else mod.asarray(a)

    def fit(X_, y_):
        with sklearn.config_context(array_api_dispatch=True):
            return LogisticRegression(**kw).fit(X_, y_)

    def host(a):
        if hasattr(a, "cpu"):
            return a.cpu().numpy()
        return mod.asnumpy(a) if lib == "cupy" else np.asarray(a)

    def coef(model):
        c, i = model.coef_, model.intercept_
        res["sklearn_coef_type"] = type(c).__module__ + "." + type(c).__name__
        return host(c), host(i)

    def n_iter(model):
        return int(np.max(host(model.n_iter_)))

    lib_sync = mod.cuda.synchronize if lib == "torch" else mod.cuda.Device().synchronize
    try:
        # X and y are put on the device before the timing starts: scikit-learn's fit
        # alone is timed (fastlr's timing includes its upload from host arrays).
        data = (on_device(X), on_device(y))
        lib_sync()
        record(f"scikit-learn lbfgs, array API ({lib})", fit, coef, n_iter, data=data)
    except Exception as exc:
        res["fits"][f"scikit-learn array API ({lib})"] = {"error": repr(exc)}
        print(f"  scikit-learn array-API fit failed: {exc!r}")
    lib_sync()


def _summary(results, copy_gbs):
    print("\nsummary (this run, this device)")
    print(f"{'figure':<52} {'value':>12} {'target':>9} {'':>6}")
    rows = []
    for dt, res in results.get("dense", {}).items():
        best = max(((k, v) for k, v in res["fused"].items() if "read_GBps" in v),
                   key=lambda kv: kv[1]["read_GBps"])
        bw = res["fused"]["rows (default)"]["read_GBps"] / copy_gbs
        rows.append((f"{dt} fused read BW / copy BW (default launch)", f"{bw:.0%}",
                     f">= {TARGET_READ_OVER_COPY:.0%}", bw >= TARGET_READ_OVER_COPY))
        rows.append((f"{dt}   best launch: {best[0]}", f"{best[1]['read_GBps'] / copy_gbs:.0%}", "", None))
        for lib, tp in res["two_product"].items():
            s = tp["seconds"] / res["default_seconds"]
            rows.append((f"{dt} two-product ({lib}) / fused time", f"{s:.2f}x",
                         f">= {TARGET_EPOCH_SPEEDUP:.0f}x", s >= TARGET_EPOCH_SPEEDUP))
    mn = results.get("multinomial")
    if mn:
        for lib, tp in mn["two_product"].items():
            s = tp["seconds"] / mn["fused_seconds"]
            rows.append((f"multinomial {mn['dtype']} two-product ({lib}) / fused", f"{s:.2f}x", "", None))
    cs = results.get("csr")
    if cs:
        rows.append(("CSR fused read BW / copy BW", f"{cs['read_GBps'] / copy_gbs:.0%}", "", None))
        for lib, tp in cs["two_product"].items():
            rows.append((f"CSR two products ({lib}) / fused", f"{tp['seconds'] / cs['fused_seconds']:.2f}x", "", None))
    fits = results.get("fit", {}).get("fits", {})
    gpu = next((v for k, v in fits.items() if k.startswith("fastlr cuda")), None)
    for name, v in fits.items():
        if gpu is None or name.startswith("fastlr cuda") or "seconds" not in v:
            continue
        s = v["seconds"] / gpu["seconds"]
        is_sk = name.startswith("scikit-learn")
        rows.append((f"fit: {name[:36]} / fastlr cuda", f"{s:.2f}x",
                     f">= {TARGET_FIT_SPEEDUP:.0f}x" if is_sk else "", (s >= TARGET_FIT_SPEEDUP) if is_sk else None))
    for name, v in fits.items():
        if "objective" in v:
            rows.append((f"objective: {name[:40]}", f"{v['objective']:.10f}", "", None))
    for label, value, target, ok in rows:
        flag = "" if ok is None else ("met" if ok else "MISSED")
        print(f"{label:<52} {value:>12} {target:>9} {flag:>6}")
    print(f"copy BW = 2 x bytes copied / time (read + write) = {copy_gbs:.1f} GB/s; fused read "
          "BW = bytes of X and y (CSR: data, indices, indptr, y) / epoch time.")


def main(argv=None):
    args = _parse_args(argv)
    global cuda, SIMULATOR
    try:
        from numba import cuda

        from fastlr.backends import cuda as cb
        from fastlr.backends.cuda._compat import SIMULATOR
    except Exception as exc:
        print(f"bench_gpu: cannot import numba.cuda / the CUDA backend ({exc!r})", file=sys.stderr)
        return 1
    if not cb.is_available():
        print("bench_gpu: no usable CUDA GPU (compute capability >= 6.0) here; to check "
              "only that the script runs, set NUMBA_ENABLE_CUDASIM=1 and pass --tiny.",
              file=sys.stderr)
        return 1
    fill_kernel = cuda.jit(_fill_uniform_kernel)
    if SIMULATOR:
        def fill(a, seed):
            fill_kernel[2, 32](a, seed)
        device = "CUDA simulator (NUMBA_ENABLE_CUDASIM=1): timings are meaningless"
    else:
        dev = cuda.get_current_device()

        def fill(a, seed):
            fill_kernel[4 * dev.MULTIPROCESSOR_COUNT, 256](a, seed)
        name = dev.name.decode() if isinstance(dev.name, bytes) else str(dev.name)
        free, total = cuda.current_context().get_memory_info()
        device = (f"{name}, compute capability {dev.compute_capability[0]}."
                  f"{dev.compute_capability[1]}, {dev.MULTIPROCESSOR_COUNT} SMs, "
                  f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)")
    sync = cuda.synchronize
    libs, missing = _libraries()
    print(f"device: {device}")
    for lib, why in missing.items():
        print(f"{lib}: not used ({why})")
    results = {"device": device, "args": vars(args), "dense": {},
               "libraries": {k: getattr(v, "__version__", "?") for k, v in libs.items()}}

    n_copy = max(1, int(args.copy_mib * 2**20) // 4)
    src = cuda.device_array(n_copy, dtype=np.float32)
    fill(src, 1)
    dst = cuda.device_array(n_copy, dtype=np.float32)
    t_copy = _median_seconds(lambda: dst.copy_to_device(src), args.repeats, sync)
    copy_gbs = 2 * src.nbytes / t_copy / 1e9
    results["copy"] = {"bytes": src.nbytes, "seconds": t_copy, "GBps_read_plus_write": copy_gbs}
    print(f"copy: {src.nbytes / 2**20:.0f} MiB device-to-device in {t_copy * 1e3:.3f} ms = "
          f"{copy_gbs:.1f} GB/s (read + write)")
    del src, dst
    gc.collect()

    sections = [("dense", lambda: _dense_section(args, results, libs, sync, fill, copy_gbs))]
    if args.csr_samples > 0:
        sections.append(("csr", lambda: _csr_section(args, results, libs, sync)))
    if args.fit_samples > 0:
        sections.append(("fit", lambda: _fit_section(args, results, libs, sync, fill)))
    for name, run in sections:
        try:
            run()
        except Exception as exc:  # keep going: one broken section must not hide the rest
            import traceback

            traceback.print_exc()
            results.setdefault("errors", {})[name] = repr(exc)
            print(f"section {name} failed: {exc!r}")
        gc.collect()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1, default=str)
    _summary(results, copy_gbs)
    if SIMULATOR:
        print("\n(simulator run: the script works; the numbers mean nothing)")
    return 1 if results.get("errors") else 0


cuda = None
SIMULATOR = False

if __name__ == "__main__":
    sys.exit(main())
