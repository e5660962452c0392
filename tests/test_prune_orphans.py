"""`sandbox prune --orphans` removes the sandboxes of dead owners, even when a dead owner's PID
now belongs to a live process or to a thread, and never a live owner's."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading

import pytest

from harness.sandboxes import owner
from harness.sandboxes.owner import (
    BOOT_LABEL,
    HOST_LABEL,
    PID_LABEL,
    START_LABEL,
    owner_is_gone,
    owner_labels,
)


def labels_of(pid: int) -> dict[str, str]:
    return {**owner_labels(), PID_LABEL: str(pid), START_LABEL: owner.start_time(pid)}


@pytest.fixture
def live_thread():
    """A running thread of this process: its id is a PID that `os.kill(pid, 0)` accepts."""
    ready, done = threading.Event(), threading.Event()
    ids: list[int] = []

    def body() -> None:
        ids.append(threading.get_native_id())
        ready.set()
        done.wait(60)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    ready.wait(10)
    yield ids[0]
    done.set()
    thread.join()


@pytest.fixture
def dead_owner():
    """Labels of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    labels = labels_of(child.pid)
    child.communicate(b"")
    return labels


def test_a_live_owner_is_not_gone():
    assert not owner_is_gone(owner_labels())


def test_a_dead_owner_is_gone(dead_owner):
    assert owner_is_gone(dead_owner)


def test_a_dead_owner_whose_pid_a_live_process_reuses_is_gone(dead_owner):
    # The PID now names this very (live) process; the recorded start time is the dead one's.
    reused = {**dead_owner, PID_LABEL: str(os.getpid())}
    os.kill(os.getpid(), 0)  # what the old check asked, and it says "alive"
    assert owner_is_gone(reused)


def test_a_dead_owner_whose_pid_is_now_a_thread_id_is_gone(dead_owner, live_thread):
    os.kill(live_thread, 0)  # a thread id passes the old check too
    assert owner_is_gone({**dead_owner, PID_LABEL: str(live_thread)})


def test_an_owner_of_an_earlier_boot_is_gone():
    assert owner_is_gone({**owner_labels(), BOOT_LABEL: "0" * 8 + "-rebooted"})


def test_another_hosts_sandbox_is_never_ours_to_remove(dead_owner):
    assert not owner_is_gone({**dead_owner, HOST_LABEL: "some-other-host"})


@pytest.mark.docker
def test_prune_orphans_removes_dead_owners_sandboxes_and_keeps_live_ones(
    docker_client, dead_owner, live_thread, tmp_path
):
    from harness.demo import load_demo_tasks
    from harness.images.build import prepare_instance_image
    from harness.repos import RepoSource
    from harness.sandboxes.prune import prune

    task = load_demo_tasks()[0]
    image = prepare_instance_image(docker_client, task, RepoSource(None, tmp_path / "repos"))
    token = secrets.token_hex(6)
    live_run = subprocess.Popen(["sleep", "120"])  # another live run on this host
    cases = {
        "live-self": (owner_labels(), True),
        "live-other-run": (labels_of(live_run.pid), True),
        "other-host": ({**dead_owner, HOST_LABEL: "some-other-host"}, True),
        "dead": (dead_owner, False),
        "dead-pid-reused-by-live-process": ({**dead_owner, PID_LABEL: str(os.getpid())}, False),
        "dead-pid-reused-as-thread": ({**dead_owner, PID_LABEL: str(live_thread)}, False),
        "earlier-boot": ({**owner_labels(), BOOT_LABEL: "rebooted"}, False),
    }
    made = {}
    try:
        for name, (labels, _) in cases.items():
            container = docker_client.containers.run(
                image, ["sleep", "600"], detach=True, network_mode="none", name=f"{token}-{name}",
                labels={**labels, "harness.prune-test": token},
            )
            made[name] = container
        report = prune(docker_client, label=f"harness.prune-test={token}", orphans_only=True)
        removed = {name.removeprefix(f"{token}-") for name in report.containers}
        assert removed == {name for name, (_, keep) in cases.items() if not keep}, report
        left = docker_client.containers.list(all=True,
                                             filters={"label": f"harness.prune-test={token}"})
        assert {c.name.removeprefix(f"{token}-") for c in left} == {
            name for name, (_, keep) in cases.items() if keep
        }
    finally:
        live_run.kill()
        live_run.wait()
        for container in made.values():
            try:
                container.remove(force=True)
            except Exception:  # removed by the prune under test
                pass


@pytest.mark.docker
def test_the_next_run_reaps_dead_runs_sandboxes_and_says_so(docker_client, dead_owner, tmp_path):
    """A sandbox of a killed run (a real container labelled with a dead owner) is removed by the
    next `run` on the host, which says how many it removed; a live owner's sandbox stays."""
    from harness.demo import load_demo_tasks
    from harness.images.build import prepare_instance_image
    from harness.repos import RepoSource

    task = load_demo_tasks()[0]
    image = prepare_instance_image(docker_client, task, RepoSource(None, tmp_path / "repos"))
    token = secrets.token_hex(6)
    live_run = subprocess.Popen(["sleep", "300"])
    made = []
    try:
        for name, labels in (("dead", dead_owner), ("live", labels_of(live_run.pid))):
            made.append(docker_client.containers.run(
                image, ["sleep", "600"], detach=True, network_mode="none",
                name=f"{token}-{name}", labels={**labels, "harness": "1"},
            ))
        done = subprocess.run(
            [sys.executable, "-m", "harness", "run", "--k", "1", "--instances", task.instance_id,
             "--db", str(tmp_path / "h.db"), "--cache-dir", str(tmp_path / "cache"),
             "--max-sandboxes", "1", "--images", "build",
             # Not kept waiting by other harness processes on a shared host.
             "--host-max-sandboxes", "16"],
            capture_output=True, text=True, timeout=600,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        said = [line for line in done.stderr.splitlines() if "left by runs that died" in line]
        assert len(said) == 1, done.stderr[-3000:]
        count = int(said[0].split()[1])  # "removed N sandbox(es) ..."; other dead runs' too
        assert count >= 1
        names = {c.name for c in docker_client.containers.list(all=True)}
        assert f"{token}-dead" not in names
        assert f"{token}-live" in names
    finally:
        live_run.kill()
        live_run.wait()
        for container in made:
            try:
                container.remove(force=True)
            except Exception:  # removed by the run under test
                pass
