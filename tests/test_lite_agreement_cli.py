"""benchmarks/lite_agreement.py's selection and report, without Docker: a filter that matches
nothing is one line and exit code 2; --instances is not narrowed by a default repository; the
per-version table comes from what the store holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.data_paths import SWEBENCH

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "lite_agreement.py"


def _agreement(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    if not (SWEBENCH / "swe_bench_lite.jsonl").is_file():
        pytest.skip(f"no SWE-bench data at {SWEBENCH} (set HARNESS_SWEBENCH)")
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--data", str(SWEBENCH), "--repos-dir", str(tmp_path),
         "--db", str(tmp_path / "agreement.db"), "--cache-dir", str(tmp_path / "cache"), *args],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=300, check=False,
    )


def test_a_filter_that_matches_nothing_is_one_line_and_exit_code_2(tmp_path):
    done = _agreement(tmp_path, "--instances", "no_such_repo__x-1", "--no-run")
    assert done.returncode == 2
    assert done.stderr.strip() == "error: no task matches: no_such_repo__x-1"
    assert "Traceback" not in done.stderr


def test_named_instances_are_not_hidden_by_the_default_repositories(tmp_path):
    # astropy is not among the Lite default repositories (sympy, pytest, flask).
    done = _agreement(tmp_path, "--instances", "astropy__astropy-12907", "--no-run")
    assert "Traceback" not in done.stderr
    assert "| astropy/astropy | 4.3 | 1 | 0 | 0 | 0 | - |" in done.stdout
    assert done.stdout.rstrip().endswith("nothing replayed yet")


def test_the_table_has_one_row_per_version_of_the_selection(tmp_path):
    done = _agreement(tmp_path, "--dataset", "verified", "--repo", "pylint-dev/pylint",
                      "--no-run")
    rows = [line for line in done.stdout.splitlines() if line.startswith("| pylint-dev/pylint")]
    assert [row.split(" | ")[1] for row in rows] == ["2.9", "2.10", "2.14", "2.15", "3.0"]
    assert "| all | | 10 | 0 | 0 | 0 | 0/0 |" in done.stdout
