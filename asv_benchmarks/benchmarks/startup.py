"""Start-up: a new Python process that imports the library and fits a 1000 x 20 problem.

What a user waits for on running a script. ``setup`` runs the same command once, so
the timed runs find Numba's on-disk cache warm (compiled kernels are loaded, not
compiled); the time includes the interpreter start, the imports and the cache load.
``fastlr-numba`` forces the JIT backend (``"auto"`` picks NumPy at this size).
"""

from __future__ import annotations

import subprocess
import sys
import time

_DATA = (
    "from sklearn.datasets import make_classification; "
    "X, y = make_classification(n_samples=1000, n_features=20, random_state=0); "
)

COMMANDS = {
    "fastlr-auto": "import fastlr; " + _DATA
    + "fastlr.LogisticRegression().fit(X, y).predict(X)",
    "fastlr-numba": "import fastlr; " + _DATA
    + "fastlr.LogisticRegression(backend='numba').fit(X, y).predict(X)",
    "sklearn": "from sklearn.linear_model import LogisticRegression; " + _DATA
    + "LogisticRegression().fit(X, y).predict(X)",
}


def _run(code):
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


class StartUp:
    params = [list(COMMANDS)]
    param_names = ["library"]
    timeout = 300
    timer = time.perf_counter  # wall clock: the child's time is not this process's
    number = 1
    repeat = (1, 5, 30.0)
    warmup_time = 0.0

    def setup(self, library):
        _run(COMMANDS[library])  # fills Numba's cache

    def time_new_process_fit(self, library):
        _run(COMMANDS[library])
