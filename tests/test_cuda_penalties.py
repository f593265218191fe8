"""L1 and elastic-net fits on the CUDA backend give the CPU model (owlqn asks the
backend only for the smooth part's loss and gradient). Tiny, for Numba's CUDA
simulator, which must be switched on before Numba is imported::

    NUMBA_ENABLE_CUDASIM=1 python -m pytest tests/test_cuda_penalties.py

Without a GPU and without the simulator, the plain test run starts that command
itself (one more process, about 15 s), so the suite checks these fits everywhere.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from fastlr.backends import cuda as cuda_backend

AVAILABLE = cuda_backend.is_available()


@pytest.mark.skipif(AVAILABLE, reason="the CUDA tests run in this process")
def test_in_the_simulator():
    pytest.importorskip("numba.cuda", reason="numba-cuda is not installed")
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
         "-k", "on_cuda"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "3 passed" in result.stdout


@pytest.mark.cudasim
@pytest.mark.skipif(not AVAILABLE, reason="no usable CUDA GPU or simulator")
@pytest.mark.parametrize("n_classes, l1_ratio, sparse", [(2, 1.0, False), (3, 0.5, False),
                                                         (2, 1.0, True)])
def test_l1_on_cuda_matches_cpu(n_classes, l1_ratio, sparse):
    from fastlr import LogisticRegression

    rng = np.random.default_rng(5)
    X = rng.normal(size=(40, 5))
    y = (X[:, :2] @ rng.normal(size=(2, n_classes))).argmax(axis=1)
    if sparse:
        X[np.abs(X) < 0.5] = 0.0
        X = sp.csr_matrix(X)
    kw = dict(solver="saga", l1_ratio=l1_ratio, C=0.05, tol=1e-10, max_iter=200)
    gpu = LogisticRegression(backend="cuda", **kw).fit(X, y)
    cpu = LogisticRegression(backend="numpy", **kw).fit(X, y)
    assert gpu.backend_ == "cuda" and gpu.solver_ == "owlqn"
    assert np.any(cpu.coef_ == 0)
    np.testing.assert_array_equal(gpu.coef_ == 0, cpu.coef_ == 0)
    scale = np.abs(cpu.coef_).max()
    np.testing.assert_allclose(gpu.coef_, cpu.coef_, rtol=1e-6, atol=1e-6 * scale)
    np.testing.assert_allclose(gpu.intercept_, cpu.intercept_, rtol=1e-6, atol=1e-6 * scale)
