"""Benchmarks are run by hand, so nothing else notices when the package moves a name they use
(two of them imported a factory the CLI no longer had). Every `from harness... import name` in
them, at module level or inside a function, must resolve."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.py"))


def _harness_imports(path: Path) -> list[tuple[str, str]]:
    tree = ast.parse(path.read_text())
    return [
        (node.module, alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        and node.module.split(".")[0] == "harness"
        for alias in node.names
    ]


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda path: path.name)
def test_every_name_a_benchmark_imports_from_the_package_exists(path):
    missing = []
    for module_name, name in _harness_imports(path):
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            try:
                importlib.import_module(f"{module_name}.{name}")
            except ImportError:
                missing.append(f"{module_name}.{name}")
    assert missing == []


@pytest.mark.parametrize("path", BENCHMARKS, ids=lambda path: path.name)
def test_a_benchmark_runs_the_package_of_its_own_checkout(path):
    """`python benchmarks/x.py` puts benchmarks/ first on the path, so without this line it
    measures whichever harness is installed (one benchmark ran another checkout's code)."""
    if not _harness_imports(path):
        return
    lines = path.read_text().splitlines()
    assert "sys.path.insert(0, str(Path(__file__).resolve().parents[1]))" in [
        line.strip() for line in lines
    ] or "sys.path.insert(0, str(ROOT))" in [line.strip() for line in lines]
