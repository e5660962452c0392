"""`--attempts-in-flight N`: the same run gives the same store whatever N is (same attempts, same
patches, same verdicts, each patch evaluated once), and a resumed parallel run ends as a straight
one. Real Docker, the demo suite, at most two sandboxes at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from harness.demo import load_demo_tasks

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parent.parent
TASKS = load_demo_tasks()
INSTANCES = [TASKS[0].instance_id, TASKS[1].instance_id]
K = 8


def run(db: Path, *extra: str, k: int = K) -> subprocess.CompletedProcess:
    command = [
        sys.executable, "-m", "harness", "run", "--k", str(k), "--run-id", "inflight",
        "--db", str(db), "--max-sandboxes", "2", "--instances", *INSTANCES, *extra,
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT t.instance_id, a.[index], a.seed, a.patch_hash, e.status FROM attempts a "
            "JOIN tasks t ON t.id = a.task_id LEFT JOIN evaluations e ON e.id = a.evaluation_id "
            "ORDER BY 1, 2"
        ).fetchall()


def evaluations(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT t.instance_id, e.patch_hash, e.status FROM evaluations e "
            "JOIN tasks t ON t.id = e.task_id ORDER BY 1, 2"
        ).fetchall()


def test_four_in_flight_gives_the_store_of_one_in_flight(tmp_path, docker_client):
    one, four = tmp_path / "one.db", tmp_path / "four.db"
    run(one, "--attempts-in-flight", "1")
    run(four, "--attempts-in-flight", "4", "--eval-sandboxes", "1")
    expected = rows(one)
    assert len(expected) == len(INSTANCES) * K
    assert all(row[4] is not None for row in expected)
    assert rows(four) == expected
    # Deduplication holds with attempts racing: one evaluation per distinct patch.
    distinct = {(row[0], row[3]) for row in expected}
    assert len(evaluations(four)) == len(distinct)
    assert evaluations(four) == evaluations(one)


def test_a_parallel_run_resumed_with_a_larger_k_matches_a_straight_one(tmp_path, docker_client):
    straight, grown = tmp_path / "straight.db", tmp_path / "grown.db"
    run(straight, "--attempts-in-flight", "1")
    run(grown, "--attempts-in-flight", "3", "--eval-sandboxes", "1", k=K // 2)
    assert len(rows(grown)) == len(INSTANCES) * K // 2
    again = run(grown, "--attempts-in-flight", "3", "--eval-sandboxes", "1")
    assert f"{len(INSTANCES) * K // 2} attempts to make" in again.stderr
    assert rows(grown) == rows(straight)
