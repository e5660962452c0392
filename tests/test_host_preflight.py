"""A host that cannot serve the run says so once, before any work: one line, exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_docker_daemon_is_one_line_before_any_work(tmp_path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-such.sock",
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--k", "3", "--db", str(tmp_path / "h.db")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot reach the Docker daemon" in errors[0]
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    # Nothing was attempted: the run is recorded as stopped by the host, with the reason.
    from harness.store import RunRecord, Store

    store = Store(tmp_path / "h.db")
    with store.reading() as session:
        runs = session.query(RunRecord).all()
        assert [run.status for run in runs] == ["host_error"]
        assert "Docker daemon" in runs[0].note
    store.close()
