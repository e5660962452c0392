"""`validate` works like `run`: in parallel, each evaluation stored as it finishes, timestamps
on every line, and a stop that removes its sandboxes and loses nothing finished."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from harness.sandboxes.docker_sandbox import OWNER_PID_LABEL
from harness.store import Store, ValidationRecord, ValidationRunRecord

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = ["demo__textkit-1", "demo__textkit-2", "demo__intervals-1", "demo__ledger-1"]
STAMPED = re.compile(r"^\d\d:\d\d:\d\d ")


def validate(tmp_path: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    return subprocess.Popen(
        [sys.executable, "-m", "harness", "validate", "--dataset", "demo",
         "--instances", *INSTANCES, "--db", str(tmp_path / "v.db"),
         "--cache-dir", str(tmp_path / "cache"), *extra],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


class Lines:
    """Reads a process's stderr as it comes, split on newlines and carriage returns."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stderr:
            self.lines.extend(part for part in re.split(r"[\r\n]", line) if part.strip())

    def wait_for(self, pattern: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not any(re.search(pattern, line) for line in self.lines):
            assert time.monotonic() < deadline, f"no {pattern!r} in {self.lines[-20:]}"
            time.sleep(0.05)


def own_sandboxes(docker_client, pid: int) -> list:
    return [c for c in docker_client.containers.list(filters={"label": "harness.tier=sandbox"})
            if c.labels.get(OWNER_PID_LABEL) == str(pid)]


def stored(tmp_path: Path) -> tuple[int, int]:
    store = Store(str(tmp_path / "v.db"))
    with store.reading() as session:
        runs = session.scalar(select(func.count()).select_from(ValidationRunRecord))
        validations = session.scalar(select(func.count()).select_from(ValidationRecord))
    store.close()
    return runs, validations


def test_a_stopped_validate_removes_its_sandboxes_and_resumes(docker_client, tmp_path):
    first = validate(tmp_path, "--repeats", "2", "--max-sandboxes", "2")
    lines = Lines(first)
    lines.wait_for(r"\d\d:\d\d:\d\d demo__\S+: (gold|empty) 1/2", 300)
    # Something must be in flight when the stop comes, or the test shows nothing.
    lines.wait_for(r"since \d\d:\d\d:\d\d", 60)
    first.send_signal(signal.SIGTERM)
    stopped_at = time.monotonic()
    first.wait(timeout=60)
    lines.thread.join(timeout=5)
    assert first.returncode == 130, lines.lines[-10:]
    assert time.monotonic() - stopped_at < 30
    assert own_sandboxes(docker_client, first.pid) == []
    runs_before, _ = stored(tmp_path)
    assert 1 <= runs_before < len(INSTANCES) * 4
    assert any("stopping" in line for line in lines.lines)

    second = validate(tmp_path, "--repeats", "2", "--max-sandboxes", "2")
    lines = Lines(second)
    out = second.stdout.read()  # stderr is the reader thread's alone
    second.wait(timeout=600)
    lines.thread.join(timeout=5)
    assert second.returncode == 0, lines.lines[-10:]
    written = [line for line in lines.lines if re.search(r"demo__\S+: (gold|empty) \d/2", line)]
    # Only the evaluations the first invocation had not stored are made again.
    assert len(written) == len(INSTANCES) * 4 - runs_before
    assert all(STAMPED.match(line) for line in written)
    assert stored(tmp_path) == (len(INSTANCES) * 4, len(INSTANCES))
    assert "all: 4 of 4 valid" in out


def test_more_repeats_extend_a_stored_validation(tmp_path):
    """`--repeats 3` after a validation with 2 makes the third evaluations only; the same
    command again finds everything done."""
    first = validate(tmp_path, "--repeats", "2", "--max-sandboxes", "2")
    first.communicate(timeout=600)
    assert first.returncode == 0
    more = validate(tmp_path, "--repeats", "3", "--max-sandboxes", "2")
    _, err = more.communicate(timeout=600)
    assert more.returncode == 0, err[-2000:]
    made = [line for line in re.split(r"[\r\n]", err)
            if re.search(r"demo__\S+: (gold|empty) \d/3 (resolved|unresolved)", line)]
    assert len(made) == len(INSTANCES) * 2 and all(" 3/3 " in line for line in made), made
    assert stored(tmp_path) == (len(INSTANCES) * 6, len(INSTANCES))
    again = validate(tmp_path, "--repeats", "3")
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0 and "4 task(s) already validated" in err
    assert stored(tmp_path) == (len(INSTANCES) * 6, len(INSTANCES))
