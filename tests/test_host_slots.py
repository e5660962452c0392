"""One host, one budget of sandboxes: every harness process on the host shares it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.demo import load_demo_tasks
from harness.sandboxes.docker_sandbox import OWNER_PID_LABEL
from harness.sandboxes.host_slots import HostLimitError, HostSlots, host_limit

ROOT = Path(__file__).resolve().parents[1]


def test_workers_never_hold_more_slots_than_the_limit_and_never_deadlock(tmp_path):
    slots = HostSlots(3, tmp_path / "slots", poll_seconds=0.01)
    held = 0
    most = 0
    guard = threading.Lock()
    waits: list[int] = []
    slots.on_wait = waits.append

    def worker(count: int) -> None:
        nonlocal held, most
        for _ in range(5):
            with slots.hold(count) as ok:
                assert ok
                with guard:
                    held += min(count, 3)
                    most = max(most, held)
                time.sleep(0.01)
                with guard:
                    held -= min(count, 3)

    threads = [threading.Thread(target=worker, args=(2 if n % 2 else 1,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "workers deadlocked"
    assert most <= 3 and most >= 2
    assert max(waits) >= 1 and slots.waiting == 0


def test_a_stopped_run_stops_waiting_for_a_slot(tmp_path):
    slots = HostSlots(1, tmp_path / "slots", poll_seconds=0.01)
    stop = threading.Event()
    with slots.hold() as first:
        assert first
        stop.set()
        with slots.hold(stop=stop) as second:
            assert not second


def test_host_limit_comes_from_the_flag_then_the_environment(monkeypatch):
    monkeypatch.setenv("HARNESS_HOST_MAX_SANDBOXES", "3")
    assert host_limit(5) == 5
    assert host_limit() == 3
    monkeypatch.setenv("HARNESS_HOST_MAX_SANDBOXES", "many")
    with pytest.raises(HostLimitError):
        host_limit()
    with pytest.raises(HostLimitError):
        host_limit(0)


@pytest.mark.docker
def test_two_harness_processes_never_hold_more_sandboxes_than_the_host_limit(
    docker_client, tmp_path
):
    tasks = load_demo_tasks()[:3]
    predictions = tmp_path / "gold.jsonl"
    predictions.write_text("".join(
        json.dumps({"instance_id": task.instance_id, "model_patch": task.patch}) + "\n"
        for task in tasks
    ))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_CACHE_HOME": str(tmp_path / "xdg")}
    env.pop("HARNESS_HOST_MAX_SANDBOXES", None)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "harness", "run", "--agent", "replay",
             "--predictions", str(predictions), "--k", "1",
             "--instances", *[task.instance_id for task in tasks],
             # Each process alone would run three sandboxes at once; the host allows one.
             "--max-sandboxes", "3", "--host-max-sandboxes", "1",
             "--db", str(tmp_path / f"run{number}.db"), "--cache-dir", str(tmp_path / "cache")],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for number in range(2)
    ]
    pids = {str(process.pid) for process in processes}
    most = 0
    deadline = time.monotonic() + 500
    while any(process.poll() is None for process in processes):
        assert time.monotonic() < deadline, "the runs did not finish"
        running = [
            container for container in docker_client.containers.list(
                filters={"label": "harness.tier=sandbox"}
            )
            if container.labels.get(OWNER_PID_LABEL) in pids
        ]
        most = max(most, len(running))
        time.sleep(0.1)
    outputs = [process.communicate() for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert "3 solved at least once" in out, out
    assert most == 1, f"at most {most} sandboxes of the two runs at once (host limit 1)"
