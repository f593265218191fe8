"""Launch each fused CUDA epoch twice (compile, then the run to profile) for Nsight
Compute, e.g.::

    ncu --clock-control none --kernel-name regex:_rows_binary_kernel --launch-skip 1 \\
        --launch-count 1 --section SpeedOfLight --section Occupancy \\
        --section WarpStateStats python scripts/gpu_profile.py dense

``dense``: the binary epoch on 10,000,000 x 100 float32 made on the device;
``csr``: the binary epoch on a 2,000,000 x 100,000 CSR matrix with 30 values per row,
columns drawn with P(j) proportional to 1 / (j + 1).
"""

import sys

import numpy as np
from numba import cuda

from fastlr.backends import cuda as cb


def main(kind):
    rng = np.random.default_rng(0)
    if kind == "dense":
        n, d = 10_000_000, 100
        X = cuda.to_device(rng.random((n // 10, d), dtype=np.float32) - 0.5)
        X_d = cuda.device_array((n, d), dtype=np.float32)
        for k in range(10):  # tile the host block to 10,000,000 rows on the device
            X_d[k * (n // 10):(k + 1) * (n // 10)].copy_to_device(X)
        y_d = cuda.to_device((rng.random(n) < 0.5).astype(np.float32))
    else:
        import scipy.sparse as sp
        n, d, r = 2_000_000, 100_000, 30
        cols = np.minimum(np.exp(rng.random(n * r) * np.log(d + 1.0)).astype(np.int32) - 1, d - 1)
        vals = rng.random(n * r, dtype=np.float32)
        X_d, y_d, _ = cb.prepare(sp.csr_matrix((vals, cols, np.arange(0, n * r + 1, r)), shape=(n, d)),
                                 (rng.random(n) < 0.5).astype(np.float32), None)
    w = rng.normal(scale=0.1, size=d)
    for _ in range(2):
        cb.binary_sums(X_d, y_d, None, w, 0.1)
    cuda.synchronize()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "dense")
