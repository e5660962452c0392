"""Bad input to the command line gets one clear line and exit code 2, never a traceback; none of
these reach Docker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from harness.store import Store

ROOT = Path(__file__).resolve().parents[1]


def test_bad_input_gets_one_clear_line_and_exit_code_2(tmp_path):
    def run(*argv: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness", *argv], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    missing = run("run", "--dataset", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "d"))
    assert missing.returncode == 2 and "is neither a file nor" in missing.stderr
    typo = run("run", "--instances", "demo__nope-9", "--db", str(tmp_path / "d"))
    assert typo.returncode == 2 and "no task matches: demo__nope-9" in typo.stderr
    no_store = run("report", "no-such-run", "--db", str(tmp_path / "absent.db"))
    assert no_store.returncode == 2 and "no results store at" in no_store.stderr
    Store(tmp_path / "empty.db").close()
    no_run = run("report", "no-such-run", "--db", str(tmp_path / "empty.db"))
    assert no_run.returncode == 2 and "no run 'no-such-run'" in no_run.stderr
    outputs = missing.stderr + typo.stderr + no_store.stderr + no_run.stderr
    assert "Traceback" not in outputs
