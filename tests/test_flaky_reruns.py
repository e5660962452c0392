"""`run --reruns N`: on a task whose validation found flaky tests, each candidate's tests run N
times, every run is stored (`evaluation_reruns`) and the majority verdict kept; other tasks are
evaluated once.

The store tests give the majority rule stored runs to count. The Docker test gives two demo tasks
a genuinely flaky listed test: `tests/test_coin.py::test_coin` passes when /tmp/coin says
"pass". The sandboxes are real; each one writes the next coin of its task's sequence after every
reset (the start of each evaluation), so which runs fail is known in advance and the majority is
deterministic.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import pytest
from local_backend import ScriptedAgent
from sqlalchemy import select

from harness.agents.base import Candidate
from harness.demo import load_demo_tasks
from harness.evaluation.reruns import Rerun, RunVerdict, output_digest
from harness.evaluation.status import EvalStatus
from harness.store import EvaluationRecord, RunRecord, Store, TaskRecord, ValidationRecord, schema
from harness.store.schema import EvaluationRerunRecord

R, U, E = EvalStatus.RESOLVED, EvalStatus.UNRESOLVED, EvalStatus.ERROR
COIN_TEST = "tests/test_coin.py::test_coin"
COIN_FILE = """\
from pathlib import Path


def test_coin():
    assert Path("/tmp/coin").read_text() == "pass"
"""


# --- the majority rule on stored runs (no Docker) ------------------------------------------


def _rerun(status: EvalStatus, failing: tuple[str, ...] = (), output: str = "") -> Rerun:
    return Rerun(RunVerdict(status, failing), 1.0, 2.0, 0.5, output_digest(output))


def _evaluation(store: Store, status: EvalStatus, output: str = "first") -> int:
    """A stored single-run verdict on a task, with per-test verdicts, as a run without reruns
    leaves it."""
    with store.writing() as session:
        task = TaskRecord(instance_id="t", content_hash="h", repo="demo/x", row={})
        session.add(task)
        session.flush()
        record = EvaluationRecord(task_id=task.id, patch_hash="p", status=status, patch="diff",
                                  test_output=output, log="log")
        record.tests = [
            schema.TestResultRecord(name="f2p", kind="FAIL_TO_PASS", status="PASSED", passed=True),
            schema.TestResultRecord(name="p2p", kind="PASS_TO_PASS",
                             status=None if status is U else "PASSED", passed=status is R,
                             counts_against=status is U),
            schema.TestResultRecord(name="skipped", kind="PASS_TO_PASS", status="SKIPPED",
                             passed=False),
        ]
        session.add(record)
        session.flush()
        return record.id


def _verdict(status: EvalStatus, output: str) -> EvaluationRecord:
    """What the runner hands the store for the run whose outcome it carries."""
    record = EvaluationRecord(status=status, test_output=output, log=f"log of {output}",
                              apply_method="git", eval_script="script", seconds=1.0,
                              compute_seconds=2.0, harness_revision="rev", suspicious=False,
                              suspicion="", fault="")
    record.tests = [schema.TestResultRecord(name="f2p", kind="FAIL_TO_PASS", status="PASSED",
                                     passed=status is R)]
    return record


def _stored(store: Store, evaluation_id: int) -> tuple[EvalStatus, list, str, str]:
    with store.reading() as session:
        evaluation = session.get(EvaluationRecord, evaluation_id)
        runs = [(row.index, row.status, row.failing) for row in evaluation.reruns]
        return evaluation.status, runs, evaluation.test_output, evaluation.log


def test_a_verdict_made_once_gets_the_runs_missing_and_their_majority(tmp_path):
    store = Store(str(tmp_path / "s.db"))
    try:
        evaluation_id = _evaluation(store, R)
        assert store.runs_so_far(1) == {"p": (RunVerdict(R, ()),)}
        # Two more runs, both unresolved: the majority is the first of them, made now, so the
        # evaluation takes its output and per-test verdicts.
        status = store.add_runs(evaluation_id, [_rerun(U, ("p2p",), "second"), _rerun(U)], 0,
                                _verdict(U, "second"), new=False)
        assert status is U
        stored_status, runs, output, _ = _stored(store, evaluation_id)
        assert (stored_status, output) == (U, "second")
        # The stored verdict became run 0: the skipped PASS_TO_PASS test does not count.
        assert runs == [(0, R, []), (1, U, ["p2p"]), (2, U, [])]
        with store.reading() as session:
            tests = session.get(EvaluationRecord, evaluation_id).tests
            assert [(t.name, t.passed) for t in tests] == [("f2p", False)]
            assert session.get(EvaluationRerunRecord, 1).output_digest == output_digest("first")
        assert store.runs_so_far(1)["p"] == (RunVerdict(R), RunVerdict(U, ("p2p",)),
                                             RunVerdict(U))
    finally:
        store.close()


def test_a_majority_run_made_earlier_gives_its_status_and_says_the_output_is_another(tmp_path):
    store = Store(str(tmp_path / "s.db"))
    try:
        evaluation_id = _evaluation(store, U, output="unresolved run")
        first = store.add_runs(evaluation_id, [_rerun(R, output="r1"), _rerun(R, output="r2")], 0,
                               _verdict(R, "r1"), new=False)
        assert first is R and _stored(store, evaluation_id)[2] == "r1"
        # [U, R, R] + [U, U]: two resolved of five is no majority; the first unresolved run
        # (run 0, made earlier) stands, and its output is not the one the evaluation holds.
        status = store.add_runs(evaluation_id, [_rerun(U), _rerun(U)], 0, _verdict(U, "u3"),
                                new=False)
        stored_status, runs, output, log = _stored(store, evaluation_id)
        assert status is U and stored_status is U
        assert [index for index, *_ in runs] == [0, 1, 2, 3, 4]
        assert output == "r1" and log.startswith("reruns: the verdict is run 0's of 5")
    finally:
        store.close()


def test_a_tie_is_not_resolved(tmp_path):
    store = Store(str(tmp_path / "s.db"))
    try:
        evaluation_id = _evaluation(store, R)
        status = store.add_runs(evaluation_id, [_rerun(U, output="u")], 0, _verdict(U, "u"),
                                new=False)
        assert status is U and _stored(store, evaluation_id)[2] == "u"
    finally:
        store.close()


def test_reruns_is_a_flag_of_run():
    from harness.cli import parser

    assert parser().parse_args(["run"]).reruns == 1
    assert parser().parse_args(["run", "--reruns", "11"]).reruns == 11
    with pytest.raises(SystemExit):
        parser().parse_args(["run", "--reruns", "0"])


# --- the runner on real Docker sandboxes ---------------------------------------------------


class CoinSandbox:
    """A real sandbox that, after every reset, holds the next coin of its task's sequence in
    /tmp/coin (outside the reset tree's reach until the next reset)."""

    def __init__(self, inner, coins: CoinSequence) -> None:
        self._inner = inner
        self._coins = coins

    def reset(self) -> None:
        self._inner.reset()
        self._inner.write_file("/tmp/coin", self._coins.next())

    def __getattr__(self, name):
        return getattr(self._inner, name)


class CoinSequence:
    def __init__(self) -> None:
        self.coins: list[str] = []
        self.used = 0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            assert self.used < len(self.coins), "more evaluations than the test planned"
            self.used += 1
            return self.coins[self.used - 1]

    def expect(self, *coins: str) -> None:
        self.coins, self.used = list(coins), 0


def _with_coin_test(task):
    """The demo task with one more listed test, which passes only when the coin says so."""
    patch = (
        "diff --git a/tests/test_coin.py b/tests/test_coin.py\nnew file mode 100644\n"
        "--- /dev/null\n+++ b/tests/test_coin.py\n@@ -0,0 +1,5 @@\n"
        + "".join(f"+{line}\n" for line in COIN_FILE.splitlines())
    )
    return dataclasses.replace(task, test_patch=task.test_patch + patch,
                               PASS_TO_PASS=(*task.PASS_TO_PASS, COIN_TEST))


@pytest.fixture(scope="module")
def coin_tasks():
    demo = {task.instance_id: task for task in load_demo_tasks()}
    return [_with_coin_test(demo["demo__textkit-1"]), _with_coin_test(demo["demo__textkit-2"])]


@pytest.fixture(scope="module")
def coin_factory(docker_client, coin_tasks, tmp_path_factory):
    from harness.backends.docker_backend import test_setup_for
    from harness.images.build import prepare_instance_image
    from harness.repos import RepoSource
    from harness.runner import SandboxFactory
    from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

    repos = RepoSource(repos_dir=None, cache_dir=tmp_path_factory.mktemp("repo-cache"))
    images = {task.instance_id: prepare_instance_image(docker_client, task, repos)
              for task in coin_tasks}
    coins = {image: CoinSequence() for image in images.values()}

    def start(image: str) -> CoinSandbox:
        return CoinSandbox(DockerSandbox.start(docker_client, image, SandboxLimits()),
                           coins[image])

    factory = SandboxFactory(lambda task: images[task.instance_id], start, test_setup_for)
    return factory, {instance: coins[image] for instance, image in images.items()}


def _run_tasks(store: Store, factory, tasks, run_id: str, reruns: int) -> str:
    from harness.runner import Runner, RunPlan

    by_id = {task.instance_id: task for task in tasks}
    agent = ScriptedAgent(lambda context: Candidate(by_id[context.task.instance_id].patch))
    plan = RunPlan(run_id=run_id, k=1, seed=0, max_sandboxes=1, vcpu_hour_dollars=0.04,
                   fail_fast=False, reruns=reruns)
    return Runner(store, agent, factory, plan, log=lambda message: None).run(tasks)


def _verdicts(store: Store, instance_id: str) -> tuple[EvalStatus, list[EvalStatus], bool]:
    """The task's one evaluation: its status, its runs' statuses, and whether its output is
    that of the run its status comes from."""
    with store.reading() as session:
        evaluation = session.scalars(
            select(EvaluationRecord).join(TaskRecord)
            .where(TaskRecord.instance_id == instance_id)
        ).one()
        runs = [row.status for row in evaluation.reruns]
        digests = [row.output_digest for row in evaluation.reruns]
        held = output_digest(evaluation.test_output)
        coin = {t.name: t.passed for t in evaluation.tests}[COIN_TEST]
        matches = (digests.index(held) if held in digests else None, coin)
        return evaluation.status, runs, matches


@pytest.mark.docker
@pytest.mark.slow
def test_reruns_keep_the_majority_store_every_run_and_leave_other_tasks_alone(
    tmp_path, coin_factory, coin_tasks
):
    factory, coins = coin_factory
    flaky, steady = (task.instance_id for task in coin_tasks)
    store = Store(str(tmp_path / "runs.db"))
    try:
        with store.writing() as session:
            session.add(ValidationRecord(
                instance_id=flaky, task_hash="h", spec="demo", repo="demo/textkit", version="0.1",
                env_ok=True, gold_resolves=True, empty_unresolved=True, flaky_tests=[COIN_TEST],
                repeats=3, valid=True,
            ))
        # The flaky task: fail, pass, pass. The other task is evaluated once; had it been run
        # again, its next coins would have made it unresolved.
        coins[flaky].expect("fail", "pass", "pass")
        coins[steady].expect("pass", "fail", "fail")
        assert _run_tasks(store, factory, coin_tasks, "three", reruns=3) == "finished"
        assert (coins[flaky].used, coins[steady].used) == (3, 1)
        status, runs, (held, coin_passed) = _verdicts(store, flaky)
        assert (status, runs) == (R, [U, R, R])
        assert held == 1 and coin_passed  # the majority's own run: run 1's output and tests
        with store.reading() as session:
            first = session.scalars(select(EvaluationRerunRecord)
                                    .order_by(EvaluationRerunRecord.id)).first()
            assert first.failing == [COIN_TEST] and first.compute_seconds > 0
            assert session.get(RunRecord, "three").config["reruns"] == 3
        assert _verdicts(store, steady)[:2] == (R, [])
        assert list(store.rerun_counts("three").values()) == [3]

        # The same run resumed with --reruns 5: two more runs, both failing. Two resolved of
        # five is no majority: the first unresolved run (made before) gives the verdict.
        coins[flaky].expect("fail", "fail")
        coins[steady].expect()
        assert _run_tasks(store, factory, coin_tasks, "three", reruns=5) == "finished"
        assert coins[flaky].used == 2
        status, runs, _ = _verdicts(store, flaky)
        assert (status, runs) == (U, [U, R, R, U, U])
        with store.reading() as session:
            assert session.get(RunRecord, "three").config["reruns"] == 5

        # A run without reruns shares the stored verdicts and runs nothing.
        coins[flaky].expect()
        assert _run_tasks(store, factory, coin_tasks, "once", reruns=1) == "finished"
        assert list(store.rerun_counts("once").values()) == [5]
    finally:
        store.close()


@pytest.mark.docker
@pytest.mark.slow
def test_a_verdict_stored_without_reruns_gets_the_runs_missing(tmp_path, coin_factory,
                                                                coin_tasks):
    factory, coins = coin_factory
    flaky = coin_tasks[0]
    store = Store(str(tmp_path / "runs.db"))
    try:
        coins[flaky.instance_id].expect("pass")  # not flaky yet: evaluated once
        assert _run_tasks(store, factory, [flaky], "before", reruns=3) == "finished"
        assert _verdicts(store, flaky.instance_id)[:2] == (R, [])
        with store.writing() as session:
            session.add(ValidationRecord(
                instance_id=flaky.instance_id, task_hash="h", spec="demo", repo="demo/textkit",
                version="0.1", env_ok=True, gold_resolves=True, empty_unresolved=True,
                flaky_tests=[COIN_TEST], repeats=3, valid=True,
            ))
        coins[flaky.instance_id].expect("fail", "fail")
        assert _run_tasks(store, factory, [flaky], "after", reruns=3) == "finished"
        status, runs, (held, coin_passed) = _verdicts(store, flaky.instance_id)
        # The stored verdict is run 0; the majority is run 1, made now: its output and tests.
        assert (status, runs) == (U, [R, U, U]) and held == 1 and not coin_passed
    finally:
        store.close()


def test_report_counts_the_evaluations_rerun(tmp_path):
    """`report` says how many of a run's verdicts are majorities of reruns, from the store."""
    import json
    import subprocess
    import sys

    store = Store(str(tmp_path / "s.db"))
    try:
        evaluation_id = _evaluation(store, R)
        store.add_runs(evaluation_id, [_rerun(U), _rerun(R)], 0, _verdict(U, "u"), new=False)
        with store.writing() as session:
            session.add(RunRecord(id="r", agent="a", agent_hash="h", k=1, config={"reruns": 3},
                                  code_revision="c", package_versions={},
                                  vcpu_hour_dollars=0.0))
            session.flush()
            from harness.store import AttemptRecord, RunTaskRecord

            session.add(RunTaskRecord(run_id="r", task_id=1))
            session.add(AttemptRecord(run_id="r", task_id=1, index=0, seed=0, agent_hash="h",
                                      patch="diff", patch_hash="p", evaluation_id=evaluation_id))
    finally:
        store.close()
    done = subprocess.run(
        [sys.executable, "-m", "harness", "report", "r", "--db", str(tmp_path / "s.db"),
         "--no-plots", "--json"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    notes = json.loads(done.stdout)["runs"][0]["notes"]
    assert any("1 evaluation(s) on flaky tasks were rerun" in note and "3 runs" in note
               for note in notes), notes


@pytest.mark.docker
@pytest.mark.slow
def test_run_reruns_from_the_command_line(tmp_path, docker_client):
    """`run --reruns 3` end to end (replay of the gold patch on a demo task marked flaky): the
    flag reaches the units, three runs are stored, the run's configuration says 3, and
    `report` counts the evaluation rerun."""
    import json
    import subprocess
    import sys

    task = load_demo_tasks()[0]
    db = tmp_path / "runs.db"
    store = Store(str(db))
    try:
        with store.writing() as session:
            session.add(ValidationRecord(
                instance_id=task.instance_id, task_hash="h", spec="demo", repo=task.repo,
                version=task.version, env_ok=True, gold_resolves=True, empty_unresolved=True,
                flaky_tests=[task.PASS_TO_PASS[0]], repeats=3, valid=True,
            ))
    finally:
        store.close()
    predictions = tmp_path / "gold.jsonl"
    predictions.write_text(json.dumps({"instance_id": task.instance_id,
                                       "model_name_or_path": "gold",
                                       "model_patch": task.patch}) + "\n")
    root = Path(__file__).resolve().parent.parent

    def harness(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "harness", *args, "--db", str(db)],
                              cwd=root, capture_output=True, text=True, timeout=600)

    done = harness("run", "--agent", "replay", "--predictions", str(predictions), "--k", "1",
                   "--instances", task.instance_id, "--reruns", "3", "--run-id", "cli",
                   "--max-sandboxes", "1", "--cache-dir", str(tmp_path / "cache"), "--json")
    assert done.returncode == 0, done.stderr
    assert "--reruns 3: each candidate on the 1 task(s)" in done.stderr
    store = Store(str(db))
    try:
        with store.reading() as session:
            runs = session.scalars(select(EvaluationRerunRecord)).all()
            assert [(run.index, run.status) for run in runs] == [(0, R), (1, R), (2, R)]
            assert session.get(RunRecord, "cli").config["reruns"] == 3
    finally:
        store.close()
    report = harness("report", "cli", "--no-plots", "--json")
    assert report.returncode == 0, report.stderr
    notes = json.loads(report.stdout)["runs"][0]["notes"]
    assert any("1 evaluation(s) on flaky tasks were rerun" in note for note in notes), notes


@pytest.mark.docker
@pytest.mark.slow
def test_validate_gives_a_flaky_task_more_repeats_and_a_majority_beyond_chance(
    tmp_path, coin_factory, coin_tasks
):
    """`validate --repeats 2 --flaky-repeats 9`: the task whose coin changed gets 9 repeats,
    and its gold resolving in 8 of them is valid by majority; the steady task stops at 2."""
    from harness.validation import ValidationPool, ValidationSandboxes, stored_validations

    factory, coins = coin_factory
    flaky, steady = coin_tasks
    # Evaluations alternate gold and empty; the empty patch fails whatever the coin says.
    coins[flaky.instance_id].expect("pass", "pass", "fail", "pass", *["pass"] * 14)
    coins[steady.instance_id].expect("pass", "pass", "pass", "pass")
    store = Store(str(tmp_path / "v.db"))
    try:
        pool = ValidationPool(
            store,
            ValidationSandboxes(factory.prepare_image, factory.start,
                                lambda task: ("demo", factory.test_setup(task))),
            repeats=2, max_sandboxes=1, flaky_repeats=9,
        )
        outcome = pool.run(list(coin_tasks))
        assert sorted(outcome.validated) == sorted(task.instance_id for task in coin_tasks)
        assert (coins[flaky.instance_id].used, coins[steady.instance_id].used) == (18, 4)
        records = stored_validations(store, coin_tasks)
        record = records[flaky.instance_id]
        assert (record.repeats, record.valid, record.flaky_tests) == (9, True, [COIN_TEST])
        assert record.reason.startswith("valid by majority: gold resolves in 8/9 runs")
        assert (records[steady.instance_id].repeats, records[steady.instance_id].valid) == (2, True)
    finally:
        store.close()
