"""`--executor ray` on a real Ray cluster of this machine (loopback only, two worker nodes
advertising `docker`): one worker node is SIGKILLed mid-unit, Ray runs the unit again on the
other, and the store ends with exactly the rows of an uninterrupted local run.

The replay agent keeps it small for two cores: no agent sandbox, one evaluation sandbox per
unit, so never more than two sandboxes at once.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.demo import load_demo_tasks

pytest.importorskip("ray")
from fake_openai import FakeOpenAI, text_reply  # noqa: E402
from llm_helpers import MODEL, definition_file, price_file  # noqa: E402
from ray_cluster import LocalRayCluster, ray_environment  # noqa: E402

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
TASKS = {task.instance_id: task for task in load_demo_tasks()}
INSTANCES = ["demo__textkit-1", "demo__intervals-1", "demo__ledger-1"]
K = 4
NEW_FILE = (
    "diff --git a/harness_note.py b/harness_note.py\nnew file mode 100644\n"
    "--- /dev/null\n+++ b/harness_note.py\n@@ -0,0 +1 @@\n+NOTE = 1\n"
)
NOT_APPLYING = "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-a\n+b\n"


def write_predictions(path: Path) -> Path:
    """Per task: the gold patch, an empty one, gold plus a new file, one that does not apply."""
    rows = []
    for instance in INSTANCES:
        gold = TASKS[instance].patch
        for patch in (gold, "", gold + NEW_FILE, NOT_APPLYING):
            rows.append({"instance_id": instance, "model_name_or_path": "t", "model_patch": patch})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def command(db: Path, predictions: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "harness", "run", "--agent", "replay", "--predictions",
        str(predictions), "--k", str(K), "--run-id", "ray-test", "--db", str(db),
        "--instances", *INSTANCES, *extra,
    ]


def rows(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT t.instance_id, a.[index], a.patch_hash, e.status FROM attempts a "
            "JOIN tasks t ON t.id = a.task_id LEFT JOIN evaluations e ON e.id = a.evaluation_id "
            "ORDER BY 1, 2"
        ).fetchall()


def evaluation_count(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT count(*) FROM evaluations").fetchone()[0]


@pytest.fixture(scope="module")
def cluster(docker_client):
    started = LocalRayCluster(workers=2).start()
    yield started
    started.stop()


def sandboxes_of(docker_client, pids: set[int]) -> list[str]:
    """Ids of the sandboxes started by these processes (one listing call: containers of other
    runs come and go meanwhile)."""
    owned = []
    for container in docker_client.api.containers(all=True, filters={"label": "harness=1"}):
        owner = (container.get("Labels") or {}).get("harness.owner.pid", "")
        if owner.isdigit() and int(owner) in pids:
            owned.append(container["Id"])
    return owned


def test_model_calls_from_every_node_share_one_connection_limit_and_one_budget(
    tmp_path, cluster, docker_client
):
    """Two nodes, two attempts in flight on each, --max-connections 1 and --max-cost $0.01 at
    $0.0028 a call: never two calls at once, and the run stops after the fourth call."""
    answer = text_reply("no idea", delay=0.5, prompt_tokens=2000, completion_tokens=400)
    db = tmp_path / "llm.db"
    with FakeOpenAI(responder=lambda body: answer) as server:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "run", "--agent", "oneshot", "--agent-config",
             str(definition_file(tmp_path, "oneshot", samples_per_call=1)), "--model", MODEL,
             "--api-base", server.base_url, "--prices", str(price_file(tmp_path)),
             "--no-cache", "--max-connections", "1", "--max-cost", "0.01", "--k", "4",
             "--run-id", "gate", "--db", str(db), "--instances", *INSTANCES[:2],
             "--executor", "ray", "--ray-address", cluster.address, "--attempts-in-flight",
             "2", "--attempts-per-unit", "2"],
            cwd=ROOT, env=ray_environment(), capture_output=True, text=True, timeout=600,
        )
        calls, most_at_once = len(server.completions), server.max_in_flight
    assert done.returncode == 1, done.stderr[-3000:]
    assert "run budget exhausted" in done.stderr
    assert most_at_once == 1
    assert calls == 4
    with sqlite3.connect(db) as connection:
        spent = connection.execute("SELECT sum(model_dollars) FROM attempts").fetchone()[0]
        config = json.loads(connection.execute("SELECT config FROM runs").fetchone()[0])
    assert spent == pytest.approx(4 * 0.0028)
    # The driver records what the cluster's ledger spent.
    assert config["budget"]["spent"] == pytest.approx(4 * 0.0028)
    assert config["budget"]["calls"] == 4


def test_a_worker_node_killed_mid_unit_changes_nothing_in_the_store(
    tmp_path, cluster, docker_client
):
    predictions = write_predictions(tmp_path / "predictions.jsonl")
    env = ray_environment()
    local = tmp_path / "local.db"
    done = subprocess.run(command(local, predictions, "--max-sandboxes", "1"), cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    expected = rows(local)
    assert len(expected) == len(INSTANCES) * K and all(row[3] for row in expected)

    on_ray = tmp_path / "ray.db"
    process = subprocess.Popen(
        command(on_ray, predictions, "--executor", "ray", "--ray-address", cluster.address,
                "--attempts-in-flight", "1", "--attempts-per-unit", "2"),
        cwd=ROOT, env=env, stdout=(tmp_path / "out.txt").open("w"),
        stderr=(tmp_path / "err.txt").open("w"), text=True,
    )
    try:
        finished_after_kill(process, cluster, docker_client, on_ray, expected, local)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def finished_after_kill(process, cluster, docker_client, on_ray, expected, local) -> None:
    victim = cluster.nodes[0]
    # Kill the node while it holds a sandbox, i.e. in the middle of a unit.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if sandboxes_of(docker_client, cluster.node_pids(victim)):
            break
        time.sleep(0.2)
    assert process.poll() is None, "the run ended before a node could be killed"
    killed = cluster.kill_node(victim)
    assert sandboxes_of(docker_client, killed), "the node held no sandbox when it was killed"
    process.wait(timeout=600)
    stdout = (on_ray.parent / "out.txt").read_text()
    stderr = (on_ray.parent / "err.txt").read_text()
    assert process.returncode == 0, stdout[-2000:] + stderr[-3000:]
    assert "status=finished" in stdout

    assert rows(on_ray) == expected
    assert evaluation_count(on_ray) == evaluation_count(local)

    # The dead node could not remove its sandboxes; `prune --orphans` finds them by owner.
    pruned = subprocess.run([sys.executable, "-m", "harness", "sandbox", "prune", "--orphans"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert pruned.returncode == 0, pruned.stderr
    assert sandboxes_of(docker_client, killed) == []
