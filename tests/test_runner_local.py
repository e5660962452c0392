"""The runner's own logic without Docker: resume, infrastructure retries, deduplication and
budget stops, on local (bubblewrap) sandboxes with real evaluations of the demo tasks, against
in-memory SQLite and a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from local_backend import LocalSandboxes, ScriptedAgent, run_demo, stored_rows
from needs import bubblewrap_present

from harness.agents.base import AttemptContext, AttemptError, Candidate
from harness.agents.mutation import MutationAgent
from harness.demo import load_demo_tasks
from harness.models.budget import Budget, Limits
from harness.models.ledger import Ledger
from harness.reports.render import build_report
from harness.runner import Runner, RunPlan
from harness.store import EvaluationRecord, Store, TaskRecord

REPO = Path(__file__).resolve().parents[1]
INSTANCES = ["demo__ledger-1", "demo__textkit-1"]
TASKS = {task.instance_id: task for task in load_demo_tasks() if task.instance_id in INSTANCES}
K = 3
# Applies cleanly and changes nothing the tests look at: unresolved.
UNRELATED = (
    "diff --git a/NOTES.txt b/NOTES.txt\nnew file mode 100644\n--- /dev/null\n"
    "+++ b/NOTES.txt\n@@ -0,0 +1 @@\n+a note\n"
)



@pytest.fixture(autouse=True)
def _bubblewrap():
    bubblewrap_present()


@pytest.fixture(params=["sqlite-memory", "postgresql"])
def store(request):
    if request.param == "sqlite-memory":
        store = Store("sqlite://")
    else:
        store = Store(request.getfixturevalue("postgres_server").create_database())
    yield store
    store.close()


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """Images (checkouts) shared by the tests of this module."""
    return tmp_path_factory.mktemp("local-cache")


def gold(context: AttemptContext) -> str:
    return TASKS[context.task.instance_id].patch


def run(store, agent, sandboxes, run_id="r", k=K) -> tuple[Runner, str]:
    plan = RunPlan(run_id=run_id, k=k, seed=7, max_sandboxes=1, vcpu_hour_dollars=0.04)
    runner = Runner(store, agent, sandboxes.factory(), plan, log=lambda message: None)
    if isinstance(agent, InterruptingAgent):
        agent.runner = runner
    status = runner.run([TASKS[instance] for instance in INSTANCES])
    return runner, status


class InterruptingAgent(MutationAgent):
    """The mutation agent, stopping the run (as Ctrl-C does) during its `after`-th attempt."""

    def __init__(self, after: int) -> None:
        super().__init__()
        self.after = after
        self.calls = 0
        self.runner: Runner | None = None

    def attempt(self, context, sandbox):
        self.calls += 1
        if self.calls == self.after:
            assert self.runner is not None
            self.runner.stop.set()
        return super().attempt(context, sandbox)


class CountingMutationAgent(MutationAgent):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def attempt(self, context, sandbox):
        self.calls += 1
        return super().attempt(context, sandbox)


def test_an_interrupted_run_resumes_to_the_rows_of_an_uninterrupted_one(store, cache):
    _, status = run(store, MutationAgent(), LocalSandboxes(cache), run_id="whole")
    assert status == "finished"
    whole = stored_rows(store, "whole")
    assert len(whole) == len(INSTANCES) * K and all(verdict for *_, verdict in whole)

    _, status = run(store, InterruptingAgent(after=2), LocalSandboxes(cache), run_id="resumed")
    assert status == "interrupted"
    # The attempt in flight when the stop came is finished and kept; nothing after it.
    assert len(stored_rows(store, "resumed")) == 2

    again = CountingMutationAgent()
    _, status = run(store, again, LocalSandboxes(cache), run_id="resumed")
    assert status == "finished"
    assert again.calls == len(INSTANCES) * K - 2
    assert stored_rows(store, "resumed") == whole


def test_agent_infrastructure_errors_are_made_again_by_the_next_invocation(store, cache):
    def flaky(context):
        if context.index == 1:
            return Candidate("", error=AttemptError.INFRA, error_message="model API unreachable")
        return Candidate(gold(context))

    _, status = run(store, ScriptedAgent(flaky), LocalSandboxes(cache))
    # Infrastructure errors are not results: the run is incomplete without them. They stay in
    # the store, unevaluated, until a later invocation makes them again.
    assert status == "incomplete"
    rows = stored_rows(store, "r")
    assert [index for _, index, _, _ in rows] == [0, 1, 2] * len(INSTANCES)
    assert [verdict for _, index, _, verdict in rows if index == 1] == [None] * len(INSTANCES)

    healthy = ScriptedAgent(lambda context: Candidate(gold(context)))
    _, status = run(store, healthy, LocalSandboxes(cache))
    assert status == "finished"
    assert sorted(healthy.calls) == [(instance, 1) for instance in INSTANCES]
    report = build_report(store, "r", bootstrap_samples=20)
    assert (report.infra_errors, report.attempts_counted, report.solved_tasks) == (0, 2 * K, 2)


def test_sandbox_start_failures_are_retried_on_a_fresh_sandbox(store, cache):
    sandboxes = LocalSandboxes(cache, fail_starts=2)  # INFRA_TRIES is 3: the third start works
    _, status = run(store, ScriptedAgent(lambda context: Candidate(gold(context))), sandboxes)
    assert status == "finished"
    assert sandboxes.failed_starts == 2
    report = build_report(store, "r", bootstrap_samples=20)
    assert (report.attempts_pending, report.infra_errors, report.solved_tasks) == (0, 0, 2)


def test_evaluations_failing_on_every_try_are_left_pending_then_finished(store, cache):
    broken = LocalSandboxes(cache, fail_starts=10**6)
    agent = ScriptedAgent(lambda context: Candidate(gold(context)))
    run(store, agent, broken)
    report = build_report(store, "r", bootstrap_samples=20)
    assert (report.attempts_pending, report.attempts_counted) == (len(INSTANCES) * K, 0)
    assert broken.starts == 0

    agent = ScriptedAgent(lambda context: Candidate(gold(context)))
    _, status = run(store, agent, LocalSandboxes(cache))
    assert status == "finished" and agent.calls == []  # nothing remade, only evaluated
    report = build_report(store, "r", bootstrap_samples=20)
    assert (report.attempts_pending, report.attempts_counted) == (0, len(INSTANCES) * K)
    assert report.solved_tasks == 2


def test_equal_patches_are_evaluated_once_across_attempts_and_runs(store, cache):
    def variants(context):
        patch = gold(context)
        # The same change without git's index lines: another text, the same normalized patch.
        bare = "".join(line for line in patch.splitlines(True) if not line.startswith("index "))
        return Candidate([patch, bare, UNRELATED, patch, "", UNRELATED][context.index])

    sandboxes = LocalSandboxes(cache)
    run(store, ScriptedAgent(variants), sandboxes, run_id="first", k=6)
    with store.reading() as session:
        evaluations = session.query(TaskRecord.instance_id, EvaluationRecord.status).join(
            EvaluationRecord, EvaluationRecord.task_id == TaskRecord.id
        ).all()
        per_task = sorted((instance, status.value) for instance, status in evaluations)
    # Per task: the gold change, the unrelated one, the empty patch; no more.
    assert per_task == sorted(
        (instance, status) for instance in INSTANCES
        for status in ("empty_patch", "resolved", "unresolved")
    )
    rows = stored_rows(store, "first")
    for instance in INSTANCES:
        verdicts = [verdict for task, _, _, verdict in rows if task == instance]
        assert verdicts == ["resolved", "resolved", "unresolved", "resolved", "empty_patch",
                            "unresolved"]
    assert sandboxes.starts == len(INSTANCES)  # one evaluation sandbox per task worker

    run(store, ScriptedAgent(variants), sandboxes, run_id="second", k=6)
    with store.reading() as session:
        assert session.query(EvaluationRecord).count() == len(evaluations)
    assert sandboxes.starts == len(INSTANCES)  # every verdict came from the store
    assert [row[1:] for row in stored_rows(store, "second")] == [row[1:] for row in rows]


def test_a_run_budget_stops_the_run_and_a_larger_one_resumes_it(store, cache):
    budget = Budget(max_cost=0.035, ledger=Ledger(store))
    agent = ScriptedAgent(lambda context: Candidate(gold(context)), budget)
    _, status = run(store, agent, LocalSandboxes(cache))
    assert status == "budget_exhausted"
    # Checked before each $0.01 attempt: $0, $0.01, $0.02 and $0.03 are under $0.035.
    assert len(agent.calls) == 4 and len(stored_rows(store, "r")) == 4
    stored_run = store.run("r")
    assert stored_run is not None and "run budget exhausted" in stored_run.note

    # A new invocation's budget reads what the run already spent from the store's ledger.
    budget = Budget(max_cost=1.0, ledger=Ledger(store))
    assert budget.ledger.spent("r")[0] == pytest.approx(0.04)
    more = ScriptedAgent(lambda context: Candidate(gold(context)), budget)
    _, status = run(store, more, LocalSandboxes(cache))
    assert status == "finished" and len(more.calls) == len(INSTANCES) * K - 4
    assert build_report(store, "r", bootstrap_samples=20).model_dollars == pytest.approx(0.06)


def test_an_instance_budget_ends_only_that_tasks_attempts(store, cache):
    budget = Budget(per_instance=Limits(dollars=0.015), ledger=Ledger(store))
    agent = ScriptedAgent(lambda context: Candidate(gold(context)), budget)
    _, status = run(store, agent, LocalSandboxes(cache))
    # $0 and $0.01 are under $0.015: two attempts per task, then that task stops.
    assert sorted(agent.calls) == sorted((i, n) for i in INSTANCES for n in range(2))
    assert status == "budget_exhausted"
    stored_run = store.run("r")
    assert stored_run is not None and "instance" in stored_run.note


def test_two_drivers_on_one_postgresql_store_do_not_interfere(postgres_server, tmp_path):
    """Two processes run the demo tasks with different run ids at once on one PostgreSQL
    store; they share task rows and evaluations, and each run ends with exactly the rows a
    run alone on SQLite gets."""
    url = postgres_server.create_database()
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}
    drivers = [
        subprocess.Popen(
            [sys.executable, str(REPO / "tests" / "local_backend.py"), url, run_id,
             "--instances", *INSTANCES, "--k", "4", "--cache", str(tmp_path / run_id)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for run_id in ("driver-a", "driver-b")
    ]
    outputs = [driver.communicate(timeout=600) for driver in drivers]
    assert [driver.returncode for driver in drivers] == [0, 0], outputs
    assert [out for out, _ in outputs] == ["finished\n", "finished\n"]

    alone = Store("sqlite://")
    try:
        status = run_demo(alone, "alone", INSTANCES, 4, tmp_path / "alone")
        assert status == "finished"
        expected = stored_rows(alone, "alone")
    finally:
        alone.close()

    shared = Store(url)
    try:
        for run_id in ("driver-a", "driver-b"):
            assert stored_rows(shared, run_id) == expected
        with shared.reading() as session:
            assert session.query(TaskRecord).count() == len(INSTANCES)
            hashes = {(task, digest) for task, _, digest, _ in stored_rows(shared, "driver-a")}
            assert session.query(EvaluationRecord).count() == len(hashes)
    finally:
        shared.close()
