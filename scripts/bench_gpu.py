"""Measure the CUDA backend on a real GPU and print the ratios that judge it.

In one run, on one device:

1. the device's copy bandwidth: a device-to-device copy of a large array
   (bytes read + bytes written per second);
2. one fused epoch (``cuda_backend.binary_sums``: loss, gradient and intercept
   gradient in one pass over X) at 10,000,000 x 100, float32 (4 GB) and float64,
   with X, y resident on the device; its read bandwidth is ``X.nbytes / time``;
3. the same epoch written as two matrix-vector products (``z = X w + b`` then
   ``dw = X^T dz``) with CuPy or PyTorch, whichever is importable;
4. a full ``fastlr.LogisticRegression(backend="cuda").fit`` on the first
   ``--fit-samples`` rows.

Then a table of ratios measured in this run: fused read bandwidth / copy bandwidth
(target >= 75%) and two-product time / fused time (target >= 1.8x). Every timing is the
median of ``--repeats`` runs, bracketed by ``cuda.synchronize()``, after a warm-up run
that compiles the kernels.

    python scripts/bench_gpu.py                      # the full sizes (needs ~20 GB)
    python scripts/bench_gpu.py --n-samples 2000000  # a smaller card
    NUMBA_ENABLE_CUDASIM=1 python scripts/bench_gpu.py --n-samples 300 --n-features 7 \\
        --copy-mib 1 --repeats 2 --fit-samples 200  # checks the script runs; timings meaningless

Exits with status 1 and a message when no usable GPU is present.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time

import numpy as np

try:
    from numba import cuda
except Exception:  # no CUDA support in this Numba: main() says so and exits
    cuda = None

TARGET_READ_OVER_COPY = 0.75
TARGET_SPEEDUP = 1.8


def _parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Benchmark the fastlr CUDA backend: copy bandwidth, fused epoch, "
        "two-product epoch (CuPy or PyTorch) and a full fit, with their ratios."
    )
    parser.add_argument("--n-samples", type=int, default=10_000_000,
                        help="rows of X (default: 10,000,000)")
    parser.add_argument("--n-features", type=int, default=100,
                        help="columns of X (default: 100)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"],
                        choices=["float32", "float64"], help="dtypes of X to measure")
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed runs per measurement; the median is reported")
    parser.add_argument("--copy-mib", type=float, default=None,
                        help="size of the array copied for the copy bandwidth, in MiB "
                        "(default: the size of the float32 X, at most 4096)")
    parser.add_argument("--threads-per-block", type=int, default=None,
                        help="threads per block of the fused kernel (default: from the device)")
    parser.add_argument("--n-blocks", type=int, default=None,
                        help="blocks of the fused kernel (default: from the device)")
    parser.add_argument("--fit-samples", type=int, default=1_000_000,
                        help="rows used for the full fit (0 skips the fit)")
    parser.add_argument("--fit-max-iter", type=int, default=100,
                        help="max_iter of the full fit")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def _median_seconds(fn, repeats, synchronize):
    """Median wall time of fn() over repeats runs, after one untimed warm-up run."""
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


def _device_description(cuda, simulator):
    if simulator:
        return "CUDA simulator (NUMBA_ENABLE_CUDASIM=1): timings are meaningless"
    device = cuda.get_current_device()
    name = device.name.decode() if isinstance(device.name, bytes) else str(device.name)
    free, total = cuda.current_context().get_memory_info()
    return (
        f"{name}, compute capability {device.compute_capability[0]}."
        f"{device.compute_capability[1]}, {device.MULTIPROCESSOR_COUNT} SMs, "
        f"{total / 2**30:.1f} GiB ({free / 2**30:.1f} GiB free)"
    )


def _fill_uniform_kernel(
    X,  # OUT (n_samples, n_features): pseudo-random values in [-1, 1)
    seed,
):
    """A counter-based hash per element, so X is made on the device in one pass."""
    n_features = X.shape[1]
    n = X.shape[0] * n_features
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for k in range(start, n, stride):
        h = (k * 2654435761 + seed * 97 + 12345) & 0xFFFFFFFF
        h ^= h >> 16
        h = (h * 0x45D9F3B) & 0xFFFFFFFF
        h ^= h >> 16
        h = (h * 0x45D9F3B) & 0xFFFFFFFF
        h ^= h >> 16
        X[k // n_features, k % n_features] = h * (2.0 / 4294967296.0) - 1.0


def _two_product_epoch(X_d, y_d, w, b, dtype):
    """Return (library name, fn) for the two-product epoch, or (None, reason)."""
    try:
        import cupy as cp

        X = cp.asarray(X_d)
        y = cp.asarray(y_d)
        w_c = cp.asarray(w.astype(dtype))

        def epoch():
            z = X @ w_c + dtype(b)
            t = cp.exp(-cp.abs(z))
            a = cp.where(z >= 0, 1 / (1 + t), t / (1 + t))
            J = float((cp.maximum(z, 0) + cp.log1p(t) - y * z).sum(dtype=cp.float64))
            dz = a - y
            dw = (X.T @ dz).astype(cp.float64).get()
            db = float(dz.sum(dtype=cp.float64))
            return J, dw, db

        return "CuPy " + cp.__version__, epoch, cp.cuda.Device().synchronize
    except ImportError:
        pass
    try:
        import torch

        if not torch.cuda.is_available():
            raise ImportError("torch without CUDA")
        X = torch.as_tensor(X_d, device="cuda")
        y = torch.as_tensor(y_d, device="cuda")
        w_t = torch.as_tensor(w.astype(dtype), device="cuda")

        def epoch():
            z = X @ w_t + float(b)
            J = float((torch.nn.functional.softplus(z) - y * z).sum(dtype=torch.float64))
            dz = torch.sigmoid(z) - y
            dw = (X.T @ dz).double().cpu().numpy()
            db = float(dz.sum(dtype=torch.float64))
            return J, dw, db

        return "PyTorch " + torch.__version__, epoch, torch.cuda.synchronize
    except ImportError:
        return None, "neither CuPy nor PyTorch (with CUDA) is importable", None


def main(argv=None):
    args = _parse_args(argv)
    from fastlr.backends import cuda_backend

    if cuda is None or not cuda_backend.is_available():
        print(
            "bench_gpu: no usable CUDA GPU here (numba.cuda found no device of compute "
            "capability >= 6.0). Run it on a machine with an NVIDIA GPU after "
            "`pip install -e .[cuda]`; to check only that the script runs, set "
            "NUMBA_ENABLE_CUDASIM=1 and pass tiny sizes (see --help).",
            file=sys.stderr,
        )
        return 1

    simulator = cuda_backend._in_simulator()
    fill_uniform = cuda.jit(_fill_uniform_kernel)
    if simulator:
        fill_launch = (4, 32)
    else:
        fill_launch = (4 * cuda.get_current_device().MULTIPROCESSOR_COUNT, 256)
    launch = dict(threads_per_block=args.threads_per_block, n_blocks=args.n_blocks)
    n, d = args.n_samples, args.n_features
    rng = np.random.default_rng(args.seed)
    w_true = rng.normal(scale=2.0 / np.sqrt(d), size=d)
    w = rng.normal(scale=0.1, size=d)
    b = 0.1

    print(f"device: {_device_description(cuda, simulator)}")
    config = cuda_backend._launch_config(n, d, 1, **launch)
    print(
        f"fused kernel launch: {config.n_blocks} x {config.n_tiles} blocks of "
        f"{config.threads_per_block} threads, {config.rows_per_chunk} rows x "
        f"{config.tile_width} features per chunk"
    )
    print(f"timings: median of {args.repeats} runs after a warm-up run\n")

    # 1. Copy bandwidth: read + write of a device-to-device copy.
    copy_mib = args.copy_mib if args.copy_mib is not None else min(4096.0, n * d * 4 / 2**20)
    n_copy = max(1, int(copy_mib * 2**20) // 4)
    src = cuda.device_array(n_copy, dtype=np.float32)
    dst = cuda.device_array(n_copy, dtype=np.float32)
    t_copy = _median_seconds(lambda: dst.copy_to_device(src), args.repeats, cuda.synchronize)
    copy_gbs = 2 * src.nbytes / t_copy / 1e9
    print(f"copy: {src.nbytes / 2**20:.0f} MiB device-to-device in {t_copy * 1e3:.3f} ms "
          f"= {copy_gbs:.1f} GB/s (read + write)")
    del src, dst
    gc.collect()

    rows = []
    for dtype_name in args.dtypes:
        dtype = np.dtype(dtype_name).type
        X_d = cuda.device_array((n, d), dtype=dtype)
        fill_uniform[fill_launch](X_d, args.seed)
        cuda.synchronize()
        z = cuda_backend.linear_predict(X_d, w_true.reshape(1, d), np.zeros(1))
        z = z.copy_to_host()[:, 0] + rng.logistic(size=n)
        y_d = cuda.to_device((z > 0).astype(dtype))
        del z

        # 2. The fused epoch, data resident on the device.
        def fused():
            return cuda_backend.binary_sums(X_d, y_d, None, w, b, **launch)

        t_fused = _median_seconds(fused, args.repeats, cuda.synchronize)
        read_gbs = X_d.nbytes / t_fused / 1e9
        print(f"\n{dtype_name}: X {n} x {d} = {X_d.nbytes / 1e9:.2f} GB")
        print(f"  fused epoch: {t_fused * 1e3:.3f} ms = {read_gbs:.1f} GB/s read")

        # 3. The same epoch as two matrix-vector products.
        library, two_product, lib_sync = _two_product_epoch(X_d, y_d, w, b, dtype)
        t_two = None
        if library is None:
            print(f"  two-product epoch: skipped, {two_product}")
        else:
            J_f, dw_f, db_f = fused()
            J_t, dw_t, db_t = two_product()
            rel = abs(J_f - J_t) / max(1.0, abs(J_t))

            def sync_both():
                lib_sync()
                cuda.synchronize()

            t_two = _median_seconds(two_product, args.repeats, sync_both)
            print(f"  two-product epoch ({library}): {t_two * 1e3:.3f} ms "
                  f"(J agrees to {rel:.1e} relative)")

        # 4. A full fit on the first rows.
        fit = _full_fit(args, cuda_backend, X_d, y_d, w, b, launch)
        rows.append((dtype_name, t_fused, read_gbs, t_two, fit))
        del X_d, y_d
        gc.collect()

    _print_ratios(rows, copy_gbs)
    if simulator:
        print("\n(simulator run: the script works; the numbers mean nothing)")
    return 0


def _full_fit(args, cuda_backend, X_d, y_d, w, b, launch):
    """Time LogisticRegression(backend="cuda").fit on the first --fit-samples rows."""
    m = min(args.fit_samples, X_d.shape[0])
    if m <= 0:
        return None
    try:
        from fastlr import LogisticRegression
    except Exception as exc:  # the estimator may not exist yet
        print(f"  fit: skipped, cannot import fastlr.LogisticRegression ({exc!r})")
        return None
    X_host = X_d[:m].copy_to_host()
    y_host = y_d[:m].copy_to_host()
    try:
        est = LogisticRegression(backend="cuda", max_iter=args.fit_max_iter)
        est.fit(X_host[:10], y_host[:10])  # compile outside the timing
        start = time.perf_counter()
        est.fit(X_host, y_host)
        cuda.synchronize()
        t_fit = time.perf_counter() - start
    except Exception as exc:
        print(f"  fit: failed ({exc!r})")
        return None
    n_iter = int(np.max(getattr(est, "n_iter_", [0])))
    t_epoch = _median_seconds(
        lambda: cuda_backend.binary_sums(X_d[:m], y_d[:m], None, w, b, **launch),
        args.repeats,
        cuda.synchronize,
    )
    per_iter = t_fit / max(1, n_iter)
    print(f"  fit on {m} host rows: {t_fit:.3f} s, {n_iter} iterations, "
          f"{per_iter * 1e3:.3f} ms per iteration; fused epoch on those rows "
          f"{t_epoch * 1e3:.3f} ms")
    return t_fit, n_iter, per_iter, t_epoch


def _print_ratios(rows, copy_gbs):
    print("\nratios (this run, this device)")
    header = (f"{'dtype':<8} {'fused read/copy BW':>19} {'target':>7} "
              f"{'two-product/fused':>18} {'target':>7} {'fit iter/epoch':>15}")
    print(header)
    print("-" * len(header))
    for dtype_name, t_fused, read_gbs, t_two, fit in rows:
        bw = read_gbs / copy_gbs
        bw_cell = f"{bw:.0%} {'ok' if bw >= TARGET_READ_OVER_COPY else 'LOW'}"
        if t_two is None:
            speed_cell = "n/a"
        else:
            speed = t_two / t_fused
            speed_cell = f"{speed:.2f}x {'ok' if speed >= TARGET_SPEEDUP else 'LOW'}"
        fit_cell = "n/a" if fit is None else f"{fit[2] / fit[3]:.2f}x"
        print(f"{dtype_name:<8} {bw_cell:>19} {'>= 75%':>7} {speed_cell:>18} "
              f"{'>= 1.8x':>7} {fit_cell:>15}")
    print("copy BW counts bytes read + written; fused read BW counts X's bytes once.\n"
          "fit iter/epoch: wall time of one fit iteration over one fused epoch on the "
          "same rows (1.0 means the fit adds nothing to the kernel).")


if __name__ == "__main__":
    sys.exit(main())
