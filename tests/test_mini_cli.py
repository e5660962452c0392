"""`python -m harness run --agent mini` end to end, as a mini-swe-agent user runs it: k = 8 on a
demo task in real Docker sandboxes, model calls over real HTTP to the stand-in playing
mini-swe-agent's side (look around, fix, write patch.txt, submit). The same store whatever
--attempts-in-flight is, a SIGKILL mid-run then a rerun ends as an uninterrupted run, the ledger
is the stand-in's bill, `show`/`export` write its .traj.json, `compare` takes two mini
configurations; and its own batch command makes the same commands as the harness at k = 1."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI, mini_swe_conversation
from llm_helpers import MODEL, price_file

from harness.demo import load_demo_tasks

pytest.importorskip("minisweagent", reason="pip install 'harness[mini]'")
pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
TASK = load_demo_tasks()[0]
K = 8
ENV = {**os.environ, "PYTHONUNBUFFERED": "1"}


def conversation() -> FakeOpenAI:
    return FakeOpenAI(responder=mini_swe_conversation({TASK.problem_statement[:200]: TASK.patch}))


def command(db: Path, server: FakeOpenAI, prices: Path, *extra: str, k: int = K) -> list[str]:
    return [
        sys.executable, "-m", "harness", "run", "--agent", "mini", "--k", str(k),
        "--instances", TASK.instance_id, "--model", MODEL, "--api-base", server.base_url,
        "--prices", str(prices), "--db", str(db), "--max-sandboxes", "2", *extra,
    ]


def harness(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "harness", *args], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT t.instance_id, a.[index], a.seed, a.patch_hash, a.error_kind, e.status "
            "FROM attempts a JOIN tasks t ON t.id = a.task_id "
            "LEFT JOIN evaluations e ON e.id = a.evaluation_id ORDER BY 1, 2"
        ).fetchall()


def ledger(db: Path) -> tuple[float, int]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT coalesce(sum(dollars), 0), count(*) FROM model_calls WHERE outcome = 'ok'"
        ).fetchone()


def run_id(db: Path) -> str:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT id FROM runs").fetchone()[0]


@pytest.fixture(scope="module")
def straight(tmp_path_factory, docker_client):
    """One uninterrupted run, one attempt in flight: (db, the stand-in's bill)."""
    folder = tmp_path_factory.mktemp("straight")
    db = folder / "one.db"
    with conversation() as server:
        done = subprocess.run(
            command(db, server, price_file(folder), "--attempts-in-flight", "1"), cwd=ROOT,
            env=ENV, capture_output=True, text=True, timeout=1200,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return db, server.bill, done


def test_k8_gold_is_resolved_and_the_ledger_is_the_bill(straight):
    db, bill, done = straight
    found = rows(db)
    assert len(found) == K
    assert {(row[4], row[5]) for row in found} == {(None, "RESOLVED")}
    assert "solve rate" in done.stdout
    dollars, calls = ledger(db)
    assert calls == bill.calls == 4 * K
    assert dollars == pytest.approx(bill.dollars, rel=1e-9)
    with sqlite3.connect(db) as connection:
        stored = connection.execute("SELECT trajectory, details FROM attempts").fetchall()
    for trajectory, details in stored:
        messages, details = json.loads(trajectory), json.loads(details)
        assert messages[-1]["role"] == "exit" and details["exit_status"] == "Submitted"
        assert details["steps"] == 4


def test_four_in_flight_gives_the_rows_of_one(straight, tmp_path):
    db, _, _ = straight
    four = tmp_path / "four.db"
    with conversation() as server:
        harness(*command(four, server, price_file(tmp_path), "--attempts-in-flight", "4",
                        "--eval-sandboxes", "1")[3:])
        bill = server.bill
    assert rows(four) == rows(db)
    dollars, calls = ledger(four)
    assert (calls, dollars) == (bill.calls, pytest.approx(bill.dollars, rel=1e-9))


def test_sigkill_mid_run_then_a_rerun_ends_with_the_rows_of_an_uninterrupted_run(
    straight, tmp_path, docker_client
):
    db, _, _ = straight
    killed = tmp_path / "killed.db"
    prices = price_file(tmp_path)
    with conversation() as server:
        argv = command(killed, server, prices, "--attempts-in-flight", "1")
        process = subprocess.Popen(argv, cwd=ROOT, env=ENV, start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            if killed.exists():
                try:
                    if len(rows(killed)) >= 3:
                        break
                except sqlite3.OperationalError:
                    pass  # tables not made yet
            time.sleep(0.2)
        assert process.poll() is None, "the run finished before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        partial = len(rows(killed))
        assert 0 < partial < K
        harness("sandbox", "prune", "--orphans", timeout=300)
        harness(*argv[3:])
        bill = server.bill
    assert rows(killed) == rows(db)
    # Every call the killed run paid for is in the ledger too: still the provider's bill.
    dollars, calls = ledger(killed)
    assert (calls, dollars) == (bill.calls, pytest.approx(bill.dollars, rel=1e-9))


def test_show_and_export_write_its_traj_json(straight, tmp_path):
    db, _, _ = straight
    run = run_id(db)
    path = tmp_path / "attempt.traj.json"
    shown = harness("show", run, TASK.instance_id, "0", "--db", str(db),
                    "--traj-json", str(path))
    assert "[tool call]" in shown.stdout and "COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT" in shown.stdout
    data = json.loads(path.read_text())
    assert data["trajectory_format"] == "mini-swe-agent-1.1"
    assert data["info"]["exit_status"] == "Submitted"
    assert data["info"]["model_stats"]["api_calls"] == 4
    harness("export", run, "--db", str(db), "--out", str(tmp_path / "export"))
    exported = json.loads(
        (tmp_path / "export" / "trajs" / f"{TASK.instance_id}.traj.json").read_text())
    assert exported["info"]["submission"] == data["info"]["submission"]


def test_two_mini_configurations_are_two_runs_that_compare(tmp_path, docker_client):
    db = tmp_path / "two.db"
    prices = price_file(tmp_path)
    with conversation() as server:
        harness(*command(db, server, prices, k=2)[3:])
        harness(*command(db, server, prices, "--agent-set",
                         "agent.system_template=You fix bugs in Python code.", k=2)[3:])
    with sqlite3.connect(db) as connection:
        runs = [row[0] for row in connection.execute("SELECT id FROM runs ORDER BY created_at")]
        hashes = {row[0] for row in connection.execute("SELECT agent_hash FROM attempts")}
    assert len(runs) == 2 and len(hashes) == 2  # a changed prompt is a new run
    compared = subprocess.run(
        [sys.executable, "-m", "harness", "compare", runs[0], runs[1], "--db", str(db)],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300,
    )
    assert compared.returncode in (0, 1), compared.stderr[-2000:]
    assert runs[0] in compared.stdout and runs[1] in compared.stdout


def test_the_ray_executor_builds_the_same_agent_on_its_workers(straight, tmp_path):
    """Each Ray worker builds mini from the run's options: same rows as the local run, and
    the cluster's ledger is the stand-in's bill."""
    pytest.importorskip("ray")
    from ray_cluster import LocalRayCluster, ray_environment

    db, _, _ = straight
    on_ray = tmp_path / "ray.db"
    cluster = LocalRayCluster(workers=1).start()
    try:
        with conversation() as server:
            done = subprocess.run(
                command(on_ray, server, price_file(tmp_path), "--executor", "ray",
                        "--ray-address", cluster.address, "--attempts-in-flight", "1"),
                cwd=ROOT, env=ray_environment(), capture_output=True, text=True, timeout=1500,
            )
            bill = server.bill
    finally:
        cluster.stop()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert rows(on_ray) == rows(db)
    dollars, calls = ledger(on_ray)
    assert (calls, dollars) == (bill.calls, pytest.approx(bill.dollars, rel=1e-9))
