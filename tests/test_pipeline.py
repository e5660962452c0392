"""The whole pipeline on the bundled demo suite, with the real Docker daemon.

Gold and empty patches on every demo task, patches that do not apply, candidates that try to
spoof a pass, and a run killed with SIGKILL that, resumed, ends exactly as an uninterrupted one.
"""

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

from harness.demo import load_demo_tasks
from harness.evaluation.evaluator import TestSetup, evaluate
from harness.evaluation.status import EvalStatus, TestStatus
from harness.images.build import prepare_instance_image
from harness.images.specs import spec_for
from harness.repos import RepoSource
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

pytestmark = pytest.mark.docker

TASKS = load_demo_tasks()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def images(docker_client, tmp_path_factory):
    repos = RepoSource(repos_dir=None, cache_dir=tmp_path_factory.mktemp("repo-cache"))
    return {task.instance_id: prepare_instance_image(docker_client, task, repos) for task in TASKS}


def setup_for(task) -> TestSetup:
    spec = spec_for(task.repo, task.version)
    return TestSetup(spec.test_cmd, spec.log_parser, float(spec.test_timeout))


@pytest.fixture
def sandbox_for(docker_client, images):
    opened = []

    def start(task):
        sandbox = DockerSandbox.start(docker_client, images[task.instance_id], SandboxLimits())
        opened.append(sandbox)
        return sandbox

    yield start
    for sandbox in opened:
        sandbox.close()


@pytest.mark.parametrize("task", TASKS, ids=[task.instance_id for task in TASKS])
def test_gold_resolves_and_empty_patch_does_not(task, sandbox_for):
    sandbox = sandbox_for(task)
    gold = evaluate(task, task.patch, sandbox, setup_for(task))
    assert gold.status is EvalStatus.RESOLVED, gold.log + gold.test_output
    assert gold.apply_method == "git-apply"
    assert all(verdict.passed for verdict in gold.grade.verdicts)

    empty = evaluate(task, "", sandbox, setup_for(task), run_empty=True)
    assert empty.status is EvalStatus.UNRESOLVED, empty.log + empty.test_output
    f2p = [v for v in empty.grade.verdicts if v.kind == "FAIL_TO_PASS"]
    p2p = [v for v in empty.grade.verdicts if v.kind == "PASS_TO_PASS"]
    assert f2p and not any(v.passed for v in f2p)
    assert all(v.passed for v in p2p)
    # The empty patch is not run at all in a normal evaluation, as officially.
    assert evaluate(task, "", sandbox, setup_for(task)).status is EvalStatus.EMPTY_PATCH


def test_patches_that_do_not_apply_are_recorded_as_such(sandbox_for):
    task = TASKS[0]
    sandbox = sandbox_for(task)
    target = "nonexistent/module.py"
    broken = (
        f"diff --git a/{target} b/{target}\n--- a/{target}\n+++ b/{target}\n"
        "@@ -1,2 +1,2 @@\n-old line\n+new line\n context\n"
    )
    outcome = evaluate(task, broken, sandbox, setup_for(task))
    assert outcome.status is EvalStatus.PATCH_FAILED
    assert "did not apply" in outcome.log

    garbage = evaluate(task, "this is not a diff at all\n", sandbox, setup_for(task))
    assert garbage.status is EvalStatus.PATCH_FAILED

    huge = "diff --git a/x b/x\n" + "+" * 3_000_000
    assert evaluate(task, huge, sandbox, setup_for(task)).status is EvalStatus.PATCH_FAILED

    # After failed applies the sandbox still evaluates the gold patch correctly.
    assert evaluate(task, task.patch, sandbox, setup_for(task)).status is EvalStatus.RESOLVED


def _file_patch(path: str, old: str | None, new: str) -> str:
    """A git diff that turns `old` (None: the file does not exist) into `new`."""
    import difflib

    before = [] if old is None else old.splitlines(keepends=True)
    after = new.splitlines(keepends=True)
    body = "".join(
        difflib.unified_diff(
            before, after, "/dev/null" if old is None else f"a/{path}", f"b/{path}"
        )
    )
    mode = "new file mode 100644\n" if old is None else ""
    return f"diff --git a/{path} b/{path}\n{mode}{body}"


def _existing(sandbox, path: str) -> str | None:
    """The file as the base commit has it (an evaluation leaves its tree changed)."""
    sandbox.reset()
    try:
        return sandbox.read_file(f"/testbed/{path}").decode()
    except FileNotFoundError:
        return None


SPOOF_CONFTEST = """\
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    report.outcome = "passed"
"""


def test_candidate_cannot_spoof_a_pass_with_conftest_or_test_edits(sandbox_for):
    task = TASKS[0]
    sandbox = sandbox_for(task)
    test_dir = task.test_files[0].rsplit("/", 1)[0]
    for where in ("conftest.py", f"{test_dir}/conftest.py"):
        old = _existing(sandbox, where)
        spoof = _file_patch(where, old, (old or "") + "\n" + SPOOF_CONFTEST)
        outcome = evaluate(task, spoof, sandbox, setup_for(task))
        assert outcome.status is EvalStatus.UNRESOLVED, (where, outcome.test_output[-2000:])

    # A candidate that replaces the test file with trivially passing tests.
    test_file = task.test_files[0]
    names = [n.split("::")[1].split("[")[0] for n in task.FAIL_TO_PASS if n.startswith(test_file)]
    fake = "".join(f"def {name}():\n    pass\n\n\n" for name in dict.fromkeys(names))
    rewrite = _file_patch(test_file, _existing(sandbox, test_file), fake)
    outcome = evaluate(task, rewrite, sandbox, setup_for(task))
    assert outcome.status is EvalStatus.UNRESOLVED
    # The gold patch plus a test edit still resolves: the edit is simply undone.
    outcome = evaluate(task, task.patch + rewrite, sandbox, setup_for(task))
    assert outcome.status is EvalStatus.RESOLVED, outcome.log


def test_a_test_run_that_times_out_is_never_a_pass(sandbox_for):
    task = TASKS[0]
    sandbox = sandbox_for(task)
    hang = _file_patch("harmless_new_file.py", None, "x = 1\n")
    quick = TestSetup(test_cmd="sleep 30; python3 -m pytest -rA", log_parser="pytest",
                      test_timeout=2)
    outcome = evaluate(task, task.patch + hang, sandbox, quick)
    assert outcome.status is EvalStatus.TIMEOUT


def test_statuses_are_parsed_from_the_real_test_output(sandbox_for):
    task = TASKS[0]
    outcome = evaluate(task, task.patch, sandbox_for(task), setup_for(task))
    assert f"PASSED {task.FAIL_TO_PASS[0]}" in outcome.test_output
    statuses = {v.name: v.status for v in outcome.grade.verdicts}
    assert statuses[task.FAIL_TO_PASS[0]] is TestStatus.PASSED


# --- the run command, killed and resumed -----------------------------------------------------

RUN_INSTANCES = [TASKS[0].instance_id, TASKS[-1].instance_id]
K = 12


def _run_command(db: Path) -> list[str]:
    return [
        sys.executable, "-m", "harness", "run", "--k", str(K), "--run-id", "resume-test",
        "--db", str(db), "--max-sandboxes", "2", "--instances", *RUN_INSTANCES,
    ]


def _attempts(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT t.instance_id, a.[index], a.patch_hash, e.status FROM attempts a "
            "JOIN tasks t ON t.id = a.task_id LEFT JOIN evaluations e ON e.id = a.evaluation_id "
            "ORDER BY 1, 2"
        ).fetchall()


def _count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as connection:
            return connection.execute("SELECT count(*) FROM attempts").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # tables not created yet


def test_run_killed_with_sigkill_resumes_to_exactly_the_uninterrupted_result(
    tmp_path, images, docker_client
):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    straight = tmp_path / "straight.db"
    done = subprocess.run(_run_command(straight), cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "solve rate" in done.stdout

    killed = tmp_path / "killed.db"
    process = subprocess.Popen(_run_command(killed), cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while _count(killed) < K // 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert process.poll() is None, "the run finished before it could be killed"
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    partial = _count(killed)
    # The killed run could not remove its sandboxes; `prune --orphans` finds them by owner.
    owned = {"label": f"harness.owner.pid={process.pid}"}
    assert docker_client.containers.list(all=True, filters=owned)
    pruned = subprocess.run([sys.executable, "-m", "harness", "sandbox", "prune", "--orphans"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert pruned.returncode == 0, pruned.stderr
    assert docker_client.containers.list(all=True, filters=owned) == []
    assert 0 < partial < 2 * K

    resumed = subprocess.run(_run_command(killed), cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]

    expected = _attempts(straight)
    assert len(expected) == 2 * K
    assert all(row[3] is not None for row in expected)
    assert _attempts(killed) == expected

    # A third call finds everything done and does nothing.
    again = subprocess.run(_run_command(killed), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0
    assert "attempts to make or evaluate" not in again.stderr
    assert _attempts(killed) == expected


def test_a_malformed_dataset_row_is_reported_and_the_run_goes_on(tmp_path, images):
    dataset = tmp_path / "tasks.jsonl"
    good = TASKS[0].to_row()
    broken = {**good, "instance_id": "demo__broken-1", "FAIL_TO_PASS": "not json"}
    dataset.write_text(
        "\n".join([json.dumps(good), "{truncated", json.dumps(broken)]) + "\n"
    )
    db = tmp_path / "h.db"
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--k", "2", "--dataset", str(dataset),
         "--db", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{dataset}:2: skipped: not valid JSON" in done.stderr
    assert f"{dataset}:3: skipped: FAIL_TO_PASS is a string but not JSON" in done.stderr
    assert [row[:2] for row in _attempts(db)] == [(TASKS[0].instance_id, 0),
                                                 (TASKS[0].instance_id, 1)]
