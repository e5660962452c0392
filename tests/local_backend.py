"""The local (bubblewrap) backend for tests, so that the runner's logic
(resume, retries, deduplication, budgets) is tested where no Docker daemon runs, with starts
that can be told to fail; plus scripted
agents and a command-line entry that runs the demo suite on it (for tests with two drivers).

The images are checkouts of each task's repository at its base commit; the demo tasks' tests
need only pytest, which the running interpreter brings into the sandbox.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable
from pathlib import Path

from harness.agents.base import AttemptContext, Candidate, Usage
from harness.backends.local_backend import LocalSandboxes as PackageLocalSandboxes
from harness.models.budget import Budget
from harness.runner import Runner, RunPlan
from harness.sandboxes.base import Sandbox, SandboxError
from harness.sandboxes.local_sandbox import LocalLimits
from harness.store import Store

LIMITS = LocalLimits(memory_bytes=1 * 2**30)


class LocalSandboxes(PackageLocalSandboxes):
    """The package's local backend, with sandboxes that can be told to fail: `fail_starts` of
    the next starts raise SandboxError, as a dying daemon would."""

    def __init__(self, cache: Path, fail_starts: int = 0) -> None:
        super().__init__(cache, LIMITS)
        self.fail_starts = fail_starts
        self.failed_starts = 0  # failed starts are not counted in `starts`

    def start(self, image: str) -> Sandbox:
        with self._lock:
            if self.fail_starts > 0:
                self.fail_starts -= 1
                self.failed_starts += 1
                raise SandboxError("injected: the sandbox could not start")
        return super().start(image)


class ScriptedAgent:
    """Answers each attempt from `script(context)`; never looks at a sandbox. Records every
    call; charges `dollars` per attempt to `budget` when given, checking it first as the model
    layer does before a call."""

    name = "scripted"
    uses_sandbox = False
    changes_sandbox = False

    def __init__(
        self, script: Callable[[AttemptContext], Candidate], budget: Budget | None = None,
        dollars: float = 0.01, definition_hash: str = "scripted-1",
    ) -> None:
        self.script = script
        self.budget = budget
        self.dollars = dollars
        self.definition_hash = definition_hash
        self.calls: list[tuple[str, int]] = []
        self._lock = threading.Lock()

    def max_attempts(self, task) -> int | None:
        return None

    def attempt(self, context: AttemptContext, sandbox: Sandbox) -> Candidate:
        if self.budget is not None:
            # One priced model call per attempt, checked and recorded as the LLM agents do:
            # the budget reads what was spent from the ledger.
            from harness.models.ledger import CallEntry

            instance_id = context.task.instance_id
            attempt_budget = self.budget.start_attempt(
                instance_id, run_id=context.run_id, index=context.index
            )
            try:
                attempt_budget.begin_call()
                self.budget.ledger.record(CallEntry(
                    run_id=context.run_id, instance_id=instance_id, model="scripted",
                    attempt_indices=[context.index], n=1, samples=1, outcome="ok",
                    dollars=self.dollars,
                ))
                attempt_budget.call_ended(self.dollars, cached=False)
            finally:
                attempt_budget.finish()
        with self._lock:
            self.calls.append((context.task.instance_id, context.index))
        candidate = self.script(context)
        return Candidate(
            candidate.patch, Usage(model_dollars=self.dollars), candidate.error,
            candidate.error_message,
        )


def stored_rows(store: Store, run_id: str) -> list[tuple[str, int, str, str | None]]:
    """(instance id, index, patch hash, verdict) of every attempt of a run: what two runs of
    the same seed must agree on, whatever the backend, the store, or interruptions."""
    from harness.store import AttemptRecord, TaskRecord

    with store.reading() as session:
        attempts = session.query(AttemptRecord).join(TaskRecord).filter(
            AttemptRecord.run_id == run_id
        )
        rows = [
            (
                attempt.task.instance_id, attempt.index, attempt.patch_hash,
                attempt.evaluation.status.value if attempt.evaluation else None,
            )
            for attempt in attempts
        ]
    return sorted(rows)


def run_demo(store: Store, run_id: str, instances: list[str], k: int, cache: Path,
             seed: int = 0) -> str:
    """The demo suite's selected tasks with the mutation agent, on local sandboxes."""
    from harness.agents.mutation import MutationAgent
    from harness.demo import load_demo_tasks

    tasks = [task for task in load_demo_tasks() if task.instance_id in instances]
    plan = RunPlan(run_id=run_id, k=k, seed=seed, max_sandboxes=1, vcpu_hour_dollars=0.04)
    runner = Runner(store, MutationAgent(), LocalSandboxes(cache).factory(), plan,
                    log=lambda message: None)
    return runner.run(tasks)


def main() -> None:
    parser = argparse.ArgumentParser(description="run demo tasks on local sandboxes")
    parser.add_argument("db")
    parser.add_argument("run_id")
    parser.add_argument("--instances", nargs="+", required=True)
    parser.add_argument("--k", type=int, required=True)
    parser.add_argument("--cache", required=True)
    args = parser.parse_args()
    store = Store(args.db)
    try:
        print(run_demo(store, args.run_id, args.instances, args.k, Path(args.cache)))
    finally:
        store.close()


if __name__ == "__main__":
    main()

