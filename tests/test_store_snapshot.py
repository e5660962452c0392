"""benchmarks/store_snapshot.py: a benchmark's store saved compressed and restored whole, on a
real SQLite store; a damaged snapshot or an existing target is one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness.store import Store
from harness.store.schema import RunRecord
from harness.tasks import Task

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "store_snapshot.py"


def _snapshot(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
        check=False,
    )


def test_a_saved_store_restores_with_its_rows(tmp_path):
    db = tmp_path / "store.db"
    store = Store(db)
    task = Task("demo__x-1", "demo/x", "abc", "issue", "", "", ("t",), ())
    record = RunRecord(id="snap", agent="replay", agent_hash="a" * 64, k=3, config={},
                       code_revision="r", package_versions={}, vcpu_hour_dollars=0.04)
    store.open_run("snap", lambda: record, lambda existing: None, 3, [task])
    store.close()
    snapshot = tmp_path / "stores" / "snap.db.xz"
    saved = _snapshot("save", db, snapshot)
    assert saved.returncode == 0, saved.stderr
    assert snapshot.stat().st_size < db.stat().st_size
    restored = tmp_path / "again.db"
    assert _snapshot("restore", snapshot, restored).returncode == 0
    again = Store(restored)
    assert again.run("snap") is not None
    again.close()


def test_restore_refuses_an_existing_store_and_a_damaged_snapshot(tmp_path):
    existing = tmp_path / "there.db"
    existing.write_bytes(b"keep")
    snapshot = tmp_path / "bad.db.xz"
    snapshot.write_bytes(b"not xz at all")
    done = _snapshot("restore", snapshot, existing)
    assert done.returncode == 2 and "exists" in done.stderr and existing.read_bytes() == b"keep"
    done = _snapshot("restore", snapshot, tmp_path / "new.db")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "not an xz snapshot" in done.stderr
    assert not (tmp_path / "new.db").exists()
