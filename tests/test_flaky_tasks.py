"""Flaky tasks: the majority rule for reruns and `report --exclude-flaky` (the runner does not rerun
yet: `run --reruns` is not wired into the executor seam); and tests
marked as needing the network (left out of grading).

The Docker test makes a demo task's test command fail on its first run only (a counter in the
sandbox's /dev/shm, which survives resets): with 3 reruns the gold patch's majority is
resolved although its first evaluation was not, and every run is stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.demo import load_demo_tasks
from harness.evaluation.evaluator import TestSetup
from harness.evaluation.reruns import RunVerdict, majority_index
from harness.evaluation.status import EvalStatus
from harness.store import Store, ValidationRecord

ROOT = Path(__file__).resolve().parent.parent
R, U, E = EvalStatus.RESOLVED, EvalStatus.UNRESOLVED, EvalStatus.ERROR


@pytest.mark.parametrize(
    "statuses,expected",
    [
        ([R], 0), ([U], 0), ([U, R, R], 1), ([R, U, U], 1), ([R, U], 1), ([E, R, U, R, R], 1),
        ([R, R, U, U], 2),
    ],
)
def test_majority_index(statuses, expected):
    assert majority_index([RunVerdict(status) for status in statuses]) == expected


def _validation(store: Store, instance_id: str, flaky: list[str], task_hash: str = "h") -> None:
    with store.writing() as session:
        session.add(ValidationRecord(
            instance_id=instance_id, task_hash=task_hash, spec="s", repo="demo/x", version="1",
            env_ok=True, gold_resolves=True, empty_unresolved=True, flaky_tests=flaky,
            repeats=2, valid=not flaky, reason="flaky" if flaky else "",
        ))


def test_flaky_instances_come_from_each_latest_validation(tmp_path):
    store = Store(str(tmp_path / "v.db"))
    try:
        _validation(store, "a", ["t1"])
        _validation(store, "b", [])
        _validation(store, "c", ["t2"], task_hash="old")
        _validation(store, "c", [], task_hash="new")  # validated again: no longer flaky
        assert store.flaky_instances() == {"a": ["t1"]}
        assert store.flaky_instances(["b", "c"]) == {}
    finally:
        store.close()


def test_report_can_leave_flaky_tasks_out(tmp_path):
    """`report --exclude-flaky` on an external result file measured over a tasks file: the
    flaky task is named, then left out of the counted tasks."""
    demo = load_demo_tasks()[:3]
    ids = [task.instance_id for task in demo]
    db = tmp_path / "v.db"
    store = Store(str(db))
    _validation(store, ids[0], ["tests/test_a.py::test_x"])
    store.close()
    tasks = tmp_path / "tasks.jsonl"
    tasks.write_text("".join(json.dumps(task.to_row()) + "\n" for task in demo))
    resolved = tmp_path / "resolved.json"
    resolved.write_text(json.dumps({"resolved": ids[:2]}))

    def report(*extra: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "harness", "report", str(resolved), "--tasks", str(tasks),
             "--db", str(db), "--no-plots", "--json", *extra],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)["runs"][0]

    counted, left_out = report(), report("--exclude-flaky")
    assert counted["tasks_total"] == 3 and counted["solved_at_least_once"] == 2
    assert any(ids[0] in note and "flaky" in note for note in counted["notes"])
    assert left_out["tasks_total"] == 2 and left_out["solved_at_least_once"] == 1
    assert any("left out (--exclude-flaky)" in note for note in left_out["notes"])


@pytest.mark.docker
def test_network_tests_are_left_out_of_grading_and_said_so(tmp_path, docker_client):
    """A PASS_TO_PASS test that cannot run (here: deselected, as one needing the internet
    fails) keeps gold unresolved, unless the spec marks it as a network test."""
    from harness.evaluation.evaluator import evaluate
    from harness.images.build import prepare_instance_image
    from harness.images.specs import spec_for
    from harness.repos import RepoSource
    from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

    task = load_demo_tasks()[0]
    missing = task.PASS_TO_PASS[0]
    spec = spec_for(task.repo, task.version)
    command = f"{spec.test_cmd} --deselect {missing}"
    repos = RepoSource(repos_dir=None, cache_dir=tmp_path / "cache")
    image = prepare_instance_image(docker_client, task, repos)
    sandbox = DockerSandbox.start(docker_client, image, SandboxLimits())
    try:
        plain = evaluate(task, task.patch, sandbox,
                         TestSetup(command, spec.log_parser, float(spec.test_timeout)))
        marked = evaluate(task, task.patch, sandbox,
                          TestSetup(command, spec.log_parser, float(spec.test_timeout),
                                    not_graded=("*::" + missing.split("::")[-1],)))
    finally:
        sandbox.close()
    assert plain.status is EvalStatus.UNRESOLVED
    assert marked.status is EvalStatus.RESOLVED
    assert missing in marked.log and "not graded" in marked.log
    assert missing not in {verdict.name for verdict in marked.grade.verdicts}


@pytest.mark.docker
def test_a_fail_to_pass_network_test_is_left_out_unless_it_is_the_only_kind(
    tmp_path, docker_client
):
    """A FAIL_TO_PASS test that only the internet lets pass (requests 2.3's https check against
    its own certificate bundle) is left out of grading when other FAIL_TO_PASS tests decide;
    when every one of them is marked, all are graded: such a task cannot validate here."""
    from harness.evaluation.evaluator import evaluate
    from harness.evaluation.fail_fast import evaluate_fail_fast
    from harness.images.build import prepare_instance_image
    from harness.images.specs import spec_for
    from harness.repos import RepoSource
    from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

    task = next(t for t in load_demo_tasks() if t.instance_id == "demo__textkit-4")
    unreachable, deciding = task.FAIL_TO_PASS
    spec = spec_for(task.repo, task.version)
    command = f"{spec.test_cmd} --deselect {unreachable}"

    def setup(*globs: str) -> TestSetup:
        return TestSetup(command, spec.log_parser, float(spec.test_timeout), not_graded=globs)

    image = prepare_instance_image(docker_client, task, RepoSource(None, tmp_path / "cache"))
    sandbox = DockerSandbox.start(docker_client, image, SandboxLimits())
    try:
        plain = evaluate(task, task.patch, sandbox, setup())
        marked = evaluate(task, task.patch, sandbox, setup("*::" + unreachable.split("::")[-1]))
        fast = evaluate_fail_fast(task, task.patch, sandbox,
                                  setup("*::" + unreachable.split("::")[-1]))
        all_marked = evaluate(task, task.patch, sandbox, setup("*"))
    finally:
        sandbox.close()
    assert plain.status is EvalStatus.UNRESOLVED
    assert marked.status is EvalStatus.RESOLVED and fast.status is EvalStatus.RESOLVED
    assert unreachable in marked.log and "not graded" in marked.log
    graded = {verdict.name for verdict in marked.grade.verdicts}
    assert deciding in graded and unreachable not in graded
    assert all_marked.status is EvalStatus.UNRESOLVED
