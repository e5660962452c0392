"""tools/house_check.py finds import cycles between rooms (also through imports inside
functions, not through TYPE_CHECKING ones) and functions over the line limit."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def check(package: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "tools" / "house_check.py"), "--root", str(package),
         "--max-lines", "5"],
        capture_output=True, text=True, timeout=60,
    )


def test_a_cycle_through_a_function_level_import_and_a_long_function_are_found(tmp_path):
    package = tmp_path / "toy"
    write(package / "__init__.py", "")
    write(package / "store" / "__init__.py", "from toy.store.rows import Row\n")
    write(package / "store" / "rows.py", "class Row:\n    pass\n")
    # flaky.py -> store at the top, store -> flaky inside a function: still a cycle.
    write(package / "flaky.py", "from toy.store import Row\n")
    write(package / "store" / "query.py",
          "def flaky_tasks():\n    from toy import flaky\n    return flaky\n")
    # A TYPE_CHECKING import never runs: no cycle runner <-> reports.
    write(package / "runner.py", "from toy.reports import table\n")
    write(package / "reports" / "__init__.py", "")
    write(package / "reports" / "table.py",
          "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from toy.runner import x\n"
          "def long():\n" + "    a = 1\n" * 6)
    write(package / "store" / "revisions" / "0001.py", "def upgrade():\n" + "    a = 1\n" * 9)
    done = check(package)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "import cycles between the rooms of toy/: 1" in done.stdout
    assert "  flaky <-> store" in done.stdout
    assert "store -> flaky  (toy/store/query.py:2)" in done.stdout
    assert "runner" not in done.stdout.split("functions over")[0]
    assert "functions over 5 lines (store revisions excepted): 1" in done.stdout
    assert "long  toy/reports/table.py:4" in done.stdout


def test_a_clean_package_passes(tmp_path):
    package = tmp_path / "clean"
    write(package / "__init__.py", "")
    write(package / "a.py", "from clean import b\n")
    write(package / "b.py", "def short():\n    return 1\n")
    done = check(package)
    assert done.returncode == 0, done.stdout
    assert "import cycles between the rooms of clean/: 0" in done.stdout
