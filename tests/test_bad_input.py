"""Every bad input of issue 13 gives one clear line and exit code 2 (or a reported, skipped row
and a run that goes on), never a traceback. Real SQLite files, a real closed port, real
concurrent processes."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
INSTANCE = "demo__textkit-1"


def harness(*argv: str, prelude: str = "", timeout: float = 300) -> subprocess.CompletedProcess:
    """`python -m harness ARGV` in a fresh process of this worktree's code; `prelude` runs
    first (to hide a driver, as an uninstalled one is hidden)."""
    code = f"{prelude}\nimport sys\nfrom harness.cli import main\nsys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


def one_clear_line(done: subprocess.CompletedProcess, *words: str) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr, done.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-3000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def replay(predictions: Path, db: Path, *extra: str) -> subprocess.CompletedProcess:
    return harness("run", "--agent", "replay", "--predictions", str(predictions), "--k", "1",
                   "--instances", INSTANCE, "--db", str(db), *extra)


# --- prediction files ------------------------------------------------------------------------

def test_a_prediction_file_of_undecodable_rows_only_is_an_error_naming_file_and_line(tmp_path):
    predictions = tmp_path / "preds.jsonl"
    row = b'{"instance_id": "%s", "model_patch": "\xff\xfe"}\n' % INSTANCE.encode()
    predictions.write_bytes(row)
    one_clear_line(replay(predictions, tmp_path / "h.db"), f"{predictions}:1", "not UTF-8")


def test_an_undecodable_json_document_is_an_error_with_its_line(tmp_path):
    predictions = tmp_path / "preds.json"
    predictions.write_bytes(b'[{"instance_id": "x",\n "model_patch": "\xff"}]')
    one_clear_line(replay(predictions, tmp_path / "h.db"), f"{predictions}:2", "not UTF-8")


def test_an_empty_prediction_file_is_an_error(tmp_path):
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text("\n\n")
    one_clear_line(replay(predictions, tmp_path / "h.db"), "is empty")


def test_predictions_for_no_selected_task_are_an_error(tmp_path):
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text(json.dumps({"instance_id": "other__repo-1", "model_patch": ""}) + "\n")
    one_clear_line(replay(predictions, tmp_path / "h.db"), "none of the 1 instances")


@pytest.mark.docker
def test_an_undecodable_row_is_skipped_with_file_and_line_and_the_run_goes_on(
    tmp_path, docker_client
):
    predictions = tmp_path / "preds.jsonl"
    good = json.dumps({"instance_id": INSTANCE, "model_patch": ""}).encode()
    predictions.write_bytes(good + b"\n" + b'{"instance_id": "\xc3\x28"}\n')
    db = tmp_path / "h.db"
    done = replay(predictions, db)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"warning: {predictions}:2: skipped: not UTF-8 (byte 0xc3" in done.stderr
    with sqlite3.connect(db) as connection:
        assert connection.execute("select count(*) from attempts").fetchone() == (1,)


# --- the results store ---------------------------------------------------------------------

def test_a_folder_that_cannot_be_created_is_an_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    one_clear_line(harness("run", "--k", "1", "--instances", INSTANCE,
                           "--db", str(blocker / "sub" / "h.db")),
                   "cannot create the folder", str(blocker / "sub"))


def test_a_folder_given_as_the_store_is_an_error(tmp_path):
    one_clear_line(harness("run", "--k", "1", "--instances", INSTANCE, "--db", str(tmp_path)),
                   "is a folder")


def test_a_file_that_is_no_database_is_an_error(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(os.urandom(4096))
    one_clear_line(harness("report", "x", "--no-plots", "--db", str(junk)),
                   "is not a SQLite database")


@pytest.fixture
def read_only_store(tmp_path):
    """A store its user cannot write: mode 444, or immutable for root (who ignores modes)."""
    from harness.store import Store

    path = tmp_path / "ro.db"
    Store(path).close()
    path.chmod(0o444)
    immutable = os.geteuid() == 0
    if immutable:
        made = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
        if made.returncode != 0:
            pytest.skip(f"root ignores file modes and chattr +i failed: {made.stderr.strip()}")
    yield path
    if immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_read_only_store_is_an_error(read_only_store):
    one_clear_line(harness("run", "--k", "1", "--instances", INSTANCE,
                           "--db", str(read_only_store)), "is read-only")


def test_an_unreachable_database_server_is_an_error():
    # Port 1 on the loopback: nothing listens there, so the connection is refused at once.
    one_clear_line(harness("report", "x", "--no-plots",
                           "--db", "postgresql://user:secret@127.0.0.1:1/harness"),
                   "cannot reach the database server", "user:***@127.0.0.1:1")


def test_a_missing_driver_names_the_extra_to_install():
    hide = "import sys\nsys.modules['psycopg'] = None"  # what an uninstalled module looks like
    line = one_clear_line(harness("report", "x", "--no-plots",
                                  "--db", "postgresql://u@127.0.0.1:1/h", prelude=hide),
                          "pip install -e '.[postgres]'")
    assert "secret" not in line


def test_two_processes_creating_one_fresh_store_at_once_both_succeed(tmp_path):
    db = tmp_path / "fresh.db"
    start = time.time() + 2.0  # every process imports first, then all create at this instant
    code = (
        "import sys, time\nfrom harness.store import Store\n"
        f"time.sleep(max(0.0, {start} - time.time()))\nStore(sys.argv[1]).close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", code, str(db)], cwd=ROOT, env=env,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    errors = [(worker.wait(timeout=120), worker.stderr.read()) for worker in workers]
    assert all(code == 0 for code, _ in errors), [text[-800:] for _, text in errors]
    with sqlite3.connect(db) as connection:
        tables = {row[0] for row in connection.execute("select name from sqlite_master")}
    assert {"runs", "run_tasks", "attempts", "evaluations"} <= tables


# --- an oversized candidate --------------------------------------------------------------------

@pytest.mark.docker
def test_a_refused_oversized_patch_is_stored_once_as_size_hash_and_head(tmp_path, docker_client):
    from harness.evaluation.oversize import KEPT_BYTES, MAX_PATCH_BYTES

    path = "textkit/huge.py"
    body = "".join(f"+x_{i} = {'9' * 90}\n" for i in range(40_000))  # about 3.9 MB
    patch = f"diff --git a/{path} b/{path}\nnew file mode 100644\n--- /dev/null\n+++ b/{path}\n"
    patch += f"@@ -0,0 +1,40000 @@\n{body}"
    assert len(patch) > MAX_PATCH_BYTES
    predictions = tmp_path / "preds.jsonl"
    predictions.write_text(json.dumps({"instance_id": INSTANCE, "model_patch": patch}) + "\n")
    db = tmp_path / "h.db"
    done = replay(predictions, db)
    assert done.returncode == 0, done.stderr[-3000:]
    with sqlite3.connect(db) as connection:
        stored = connection.execute("select patch from attempts").fetchone()[0]
        status, evaluation_patch, log = connection.execute(
            "select status, patch, log from evaluations").fetchone()
    assert status == "PATCH_FAILED" and "refused unapplied" in log
    assert stored == evaluation_patch and len(stored) < KEPT_BYTES + 200
    assert f"refused patch of {len(patch.encode())} bytes, sha256 " in stored
    assert patch[:200] in stored
    assert db.stat().st_size < 1_000_000


@pytest.fixture
def postgres_url():
    """A real PostgreSQL server on the loopback, in a throw-away data folder."""
    import shutil
    import socket
    import tempfile

    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    # On PATH, or where Debian's postgresql package puts them.
    found = [shutil.which("pg_ctl")] + sorted(str(p) for p in Path("/usr/lib/postgresql").glob(
        "*/bin/pg_ctl"))
    found = [path for path in found if path]
    if not found:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl)")
    bin_dir = str(Path(found[0]).parent)

    def as_server_user(command: str) -> subprocess.CompletedProcess:
        command = f"PATH={bin_dir}:$PATH; {command}"
        if os.geteuid() != 0:
            return subprocess.run(["sh", "-c", command], capture_output=True, text=True)
        return subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command],
                              capture_output=True, text=True)

    folder = Path(tempfile.mkdtemp(prefix="harness-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    made = as_server_user(f"initdb -D {folder}/data -A trust -U postgres")
    if made.returncode != 0:
        pytest.skip(f"initdb failed: {made.stderr.strip()[-300:]}")
    started = as_server_user(
        f"pg_ctl -D {folder}/data -l {folder}/log -w start "
        f"-o '-p {port} -k {folder} -c listen_addresses=127.0.0.1'"
    )
    assert started.returncode == 0, started.stderr
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        as_server_user(f"pg_ctl -D {folder}/data -m immediate stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_processes_creating_one_fresh_postgresql_store_at_once_all_succeed(postgres_url):
    start = time.time() + 2.0
    code = (
        "import sys, time\nfrom harness.store import Store\n"
        f"time.sleep(max(0.0, {start} - time.time()))\nStore(sys.argv[1]).close()\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen([sys.executable, "-c", code, postgres_url], cwd=ROOT, env=env,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    errors = [(worker.wait(timeout=120), worker.stderr.read()) for worker in workers]
    assert all(code == 0 for code, _ in errors), [text[-800:] for _, text in errors]
