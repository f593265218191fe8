"""The package's shape: no import cycle, every module importable on its own, none
too long, and ``import fastlr`` light."""

import ast
import pathlib
import subprocess
import sys

import pytest

import fastlr

SRC = pathlib.Path(fastlr.__file__).parent
MODULES = sorted(SRC.rglob("*.py"))
MAX_LINES = 600


def _module_name(path):
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path):
    """fastlr modules imported anywhere in ``path`` (module level or inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("fastlr"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("fastlr"):
                continue
            # "from . import x" names a module x where one exists
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in _NAMES else target)
    found.discard(name)
    return found


_NAMES = {_module_name(p) for p in MODULES}


def test_no_import_cycle():
    graph = {_module_name(p): _imports(p) & _NAMES for p in MODULES}
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


@pytest.mark.parametrize("module", sorted(_NAMES))
def test_each_module_imports_alone(module):
    subprocess.run([sys.executable, "-c", f"import {module}"], check=True)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_too_long(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.name} has {n} lines; split it"


def test_import_fastlr_imports_no_numba_dask_or_cuda():
    code = ("import sys, fastlr\n"
            "bad = [m for m in ('numba', 'dask', 'numba.cuda') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)
