"""How the runner cuts work into units and sizes its parallelism (pure: no Docker)."""

from __future__ import annotations

import pytest

from harness.demo import load_demo_tasks
from harness.executors.base import AttemptSpec, PendingEvaluation, Unit
from harness.executors.ray_gate import ModelGate, _flatten, _rebuild
from harness.models.budget import BudgetExhausted, Limits
from harness.runner import attempt_seed, default_attempts_in_flight

TASK = load_demo_tasks()[0]


def unit(attempts: int, pending: int = 1) -> Unit:
    return Unit(
        task=TASK, task_id=1,
        attempts=tuple(AttemptSpec(index, attempt_seed(0, TASK.instance_id, index))
                       for index in range(attempts)),
        pending=tuple(PendingEvaluation(90 + n, f"h{n}", "p") for n in range(pending)),
        evaluated=frozenset({"done"}),
    )


def test_chunks_keep_every_attempt_once_in_order_and_pending_with_the_first():
    whole = unit(7, pending=2)
    parts = whole.chunks(3)
    assert [len(part.attempts) for part in parts] == [3, 3, 1]
    assert [spec for part in parts for spec in part.attempts] == list(whole.attempts)
    assert parts[0].pending == whole.pending and all(not part.pending for part in parts[1:])
    assert all(part.evaluated == whole.evaluated for part in parts)
    # A unit with only evaluations left stays one unit.
    assert unit(0, pending=3).chunks(2) == [unit(0, pending=3)]


def test_default_attempts_in_flight_fill_max_sandboxes_with_the_tasks_left():
    assert default_attempts_in_flight(8, 1) == 8
    assert default_attempts_in_flight(8, 3) == 2
    assert default_attempts_in_flight(2, 13) == 1
    assert default_attempts_in_flight(1, 0) == 1


def test_the_gate_keeps_one_ledger_and_its_refusals_cross_the_wire_intact(tmp_path):
    from harness.models.ledger import CallEntry

    gate = ModelGate(2, 0.01, Limits(), Limits(steps=5), f"sqlite:///{tmp_path / 'h.db'}")

    def call(dollars: float, index: int) -> int:
        return gate.record(CallEntry(
            run_id="r", instance_id="demo__x", model="m", attempt_indices=[index], n=1,
            samples=1, outcome="ok", dollars=dollars,
        ))

    call(0.008, 0)  # an earlier invocation's spend, in the store's ledger
    key = gate.start_attempt("demo__x", None, "r", 1)
    assert gate.begin_call(key) is None
    assert call(0.003, 1) > 0
    gate.call_ended(key, 0.003, cached=False, steps=1)
    refused = gate.check(key)
    assert refused is not None
    error = _rebuild(refused)
    assert isinstance(error, BudgetExhausted) and error.scope == "run"
    assert str(error) == refused[4]
    assert _flatten(error) == refused
    assert gate.begin_call(key) == refused  # no call starts past the limit
    summary = gate.summary("r")
    assert summary["spent"] == pytest.approx(0.011)
    assert summary["spent_this_invocation"] == pytest.approx(0.003)
    assert gate.acquire() >= 0 and gate.most_open == 1
    gate.release()


def test_an_unreachable_ray_cluster_is_one_clear_line_and_exit_code_2(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    pytest.importorskip("ray")
    done = subprocess.run(
        [sys.executable, "-m", "harness", "run", "--k", "1", "--limit", "1", "--db",
         str(tmp_path / "h.db"), "--executor", "ray", "--ray-address", "127.0.0.2:1"],
        cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 2
    assert "no Ray cluster answers at 127.0.0.2:1" in done.stderr
    assert "Traceback" not in done.stderr


# --- whose budget a cut attempt names ------------------------------------------------------


def _cut_events(**cut) -> list:
    """The events of a unit of three attempts whose first is cut by a budget (a Candidate
    made with `cut`) and whose others make the empty patch (graded without a sandbox)."""
    from harness.agents.base import AttemptError, Candidate
    from harness.evaluation.evaluator import TestSetup
    from harness.executors.base import SandboxFactory
    from harness.executors.unit import UnitWorker

    class CutFirst:
        name = "cut-first"
        definition_hash = "0" * 16
        uses_sandbox = False
        changes_sandbox = False

        def max_attempts(self, task):
            return None

        def attempt(self, context, sandbox):
            if context.index == 0:
                return Candidate(patch="", error=AttemptError.BUDGET_CUT,
                                 error_message="budget spent", **cut)
            return Candidate(patch="")

    def no_sandbox(image):
        raise AssertionError("no attempt here needs a sandbox")

    factory = SandboxFactory(lambda task: "image", no_sandbox,
                             lambda task: TestSetup("true", "pytest", 60.0))
    events: list = []
    work = Unit(task=TASK, task_id=1, attempts=tuple(AttemptSpec(i, i) for i in range(3)),
                pending=(), evaluated=frozenset())
    UnitWorker(CutFirst(), factory, work, events.append, lambda: False).run()
    return events


def test_a_budget_cut_that_names_no_scope_stops_only_its_attempt():
    from harness.executors.base import AttemptMade, BudgetStopped, StopRun

    for cut in ({}, {"details": {"budget_scope": "run"}}):  # details are a record, not a say
        events = _cut_events(**cut)
        assert not any(isinstance(event, StopRun) for event in events), cut
        stopped = [event for event in events if isinstance(event, BudgetStopped)]
        assert [event.scope for event in stopped] == ["attempt"]
        assert sorted(e.index for e in events if isinstance(e, AttemptMade)) == [0, 1, 2]


def test_a_budget_cut_stops_the_run_or_the_task_only_when_it_says_so():
    from harness.executors.base import AttemptMade, BudgetStopped, StopRun

    run = _cut_events(budget_scope="run")
    assert [event.status for event in run if isinstance(event, StopRun)] == ["budget_exhausted"]
    task = _cut_events(budget_scope="instance")
    assert [event.scope for event in task if isinstance(event, BudgetStopped)] == ["instance"]
    assert not any(isinstance(event, StopRun) for event in task)
    # One attempt in flight: those after the cut one are not made once the task's budget is.
    assert [event.index for event in task if isinstance(event, AttemptMade)] == [0]
