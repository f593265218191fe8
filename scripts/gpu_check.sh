#!/usr/bin/env bash
# Every GPU check and benchmark, in one run, from the repository root:
# versions, an editable install without network, the CUDA test files on the GPU (no
# simulator), then scripts/bench_gpu.py. Full logs and JSON go to $OUT (default
# results/gpu_check); the last lines printed are the bench's summary table.
#
#   bash scripts/gpu_check.sh                      # full sizes: 2 to 3 minutes on an H200
#   BENCH_ARGS="--n-samples 2000000" bash scripts/gpu_check.sh
#   NUMBA_ENABLE_CUDASIM=1 BENCH_ARGS=--tiny TESTS=tests/test_cuda_csr.py bash scripts/gpu_check.sh
#     (add SKIP_INSTALL=1 to leave the local environment alone) checks the script itself
set -u
OUT=${OUT:-results/gpu_check}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # in case the install fails
TESTS=${TESTS:-"tests/test_cuda_backend.py tests/test_cuda_csr.py"}

echo "== versions"
{
  date -u
  nvidia-smi || echo "nvidia-smi: not available"
  nvcc --version 2>/dev/null | tail -2
  $PY - <<'PYEOF'
import importlib.metadata as md, platform
print("python", platform.python_version())
for name in ("numpy", "scipy", "scikit-learn", "numba", "numba-cuda", "llvmlite", "cupy-cuda13x",
             "cupy-cuda12x", "torch", "array-api-compat", "array-api-strict"):
    try:
        print(f"{name} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name}: not installed")
try:
    import array_api_compat  # noqa: F401
    print("array_api_compat importable: yes")
except ImportError:
    print("array_api_compat importable: no")
try:
    from numba import cuda
    from numba.cuda.cudadrv import driver, runtime
    print("CUDA driver API version", driver.driver.get_version())
    print("CUDA runtime version (numba)", runtime.runtime.get_version())
    print("numba.cuda.is_available()", cuda.is_available())
    if cuda.is_available():
        cuda.detect()
except Exception as exc:
    print("numba.cuda:", repr(exc))
PYEOF
} 2>&1 | tee "$OUT/versions.txt"

echo "== numpy / numba-cuda compatibility"
# numba-cuda 0.30 registers an overload for np.row_stack, which NumPy 2.5 removed: every
# kernel compilation then fails at import of numba.cuda's typing registries. On such a
# machine, give numba-cuda the alias back (through a .pth file in site-packages, so
# every Python process of the run, pytest's included, sees it; NumPy itself untouched).
$PY - <<'PYEOF'
import numpy as np, site, os
if hasattr(np, "row_stack"):
    print("numpy has row_stack: nothing to do")
else:
    path = os.path.join(site.getsitepackages()[0], "zz_numpy_row_stack_alias.pth")
    with open(path, "w") as f:
        f.write("import numpy; numpy.row_stack = getattr(numpy, 'row_stack', numpy.vstack)\n")
    print(f"numpy {np.__version__} lacks row_stack (numba-cuda needs it): alias added in {path}")
PYEOF

echo "== install"
[ -n "${SKIP_INSTALL:-}" ] && echo "skipped (SKIP_INSTALL)" || $PY -m pip install --no-deps --no-build-isolation -e . >"$OUT/install.log" 2>&1 \
  && echo "pip install -e . : ok" || { echo "pip install -e . failed (using PYTHONPATH=src):"; tail -5 "$OUT/install.log"; }

echo "== tests ($TESTS)"
timeout "${TEST_TIMEOUT:-240}" $PY -m pytest $TESTS -q -p no:cacheprovider -rs --durations=5 \
  >"$OUT/pytest.log" 2>&1
echo "pytest exit status $?"
grep -E "passed|failed|error|SKIPPED|FAILED|ERROR" "$OUT/pytest.log" | tail -25

echo "== bench_gpu.py ${BENCH_ARGS:-}"
timeout "${BENCH_TIMEOUT:-330}" $PY scripts/bench_gpu.py --json "$OUT/bench_gpu.json" ${BENCH_ARGS:-} \
  2>&1 | tee "$OUT/bench_gpu.log"
echo "bench_gpu exit status ${PIPESTATUS[0]}"

if [ -n "${NCU:-}" ]; then
  echo "== Nsight Compute: one launch of each fused epoch (scripts/gpu_profile.py)"
  NCU_BIN=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  for kind in dense csr; do
    [ $kind = dense ] && kern=_rows_binary_kernel || kern=_csr_epoch_kernel
    timeout "${NCU_TIMEOUT:-60}" "$NCU_BIN" --clock-control none --kernel-name regex:$kern \
      --launch-skip 1 --launch-count 1 --section SpeedOfLight --section Occupancy \
      --section LaunchStats --section WarpStateStats --section MemoryWorkloadAnalysis \
      $PY scripts/gpu_profile.py $kind >"$OUT/ncu_$kind.txt" 2>&1
    echo "ncu $kind: exit status $?"
    grep -E "Duration|DRAM Throughput|Memory Throughput|Achieved Occupancy|Theoretical Occupancy|Registers Per|Block Limit Reg|Stall|Warp Cycles Per Issued|Issued Warp|One or More|No Eligible|L1/TEX Hit|L2 Hit" \
      "$OUT/ncu_$kind.txt" | head -30
  done
fi
