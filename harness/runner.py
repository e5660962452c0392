"""Runs an agent k times on each task and evaluates every candidate, resumably.

The runner plans and records; an executor (harness.executors) carries out the units of work: a
task's chunk of attempts, made `attempts_in_flight` at a time and evaluated on a small pool of
warm sandboxes of the task's image, separate from the agent's, so nothing an agent does to its
tree can leak into a verdict.

Crash safety: executors only report results; the runner commits each attempt as it arrives and
each evaluation (shared by every attempt with the same normalized patch) as soon as it is graded.
A rerun of the same run id makes only the attempts not stored, redoes the infrastructure errors
and the attempts a budget cut short (both stay in the store, not counted, until their redo
replaces them), and evaluates what is pending. The unique (run, task, index) key means no
attempt is ever stored twice, whichever executor made it and however often a worker was retried.

Flaky tasks (`reruns` > 1): on a task whose latest validation found flaky tests, the runner
asks for `reruns` runs of each candidate's tests and commits them all with the majority verdict
(harness/evaluation/reruns.py). A verdict stored with fewer runs (by a run with a smaller
`reruns`, or without) gets the runs missing; one with more keeps the majority of all it has.

Messages go to stderr (the progress bar's stream), so `--json` leaves stdout to the report.
"""

from __future__ import annotations

import hashlib
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.agents.base import Agent, AttemptError
from harness.evaluation.reruns import RunVerdict, needs_more_runs
from harness.executors.base import (
    AttemptMade,
    AttemptSpec,
    BudgetStopped,
    Evaluated,
    Event,
    Executor,
    Note,
    PendingEvaluation,
    StopRun,
    Unit,
    UnitFailed,
    UnitStarted,
)
from harness.executors.local import LocalExecutor
from harness.executors.pool import INFRA_TRIES
from harness.models import backoff
from harness.progress import ProgressLine
from harness.provenance import code_revision, package_versions
from harness.sandboxes.factory import HostRequirementError, SandboxFactory
from harness.store import RunRecord, Store
from harness.store.run_records import LinkedAttempt
from harness.store.schema import REDO_KINDS
from harness.tasks import Task

__all__ = [
    "INFRA_TRIES", "Progress", "RunConfigError", "RunPlan", "Runner", "SandboxFactory",
    "TaskWork", "attempt_seed", "default_attempts_in_flight",
]


class RunConfigError(ValueError):
    """The run cannot start as asked (e.g. an existing run id with another agent)."""


_ATTEMPT_HINT = "attempts cut by --attempt-* budgets are made again by a rerun with larger ones"


def _left_note(left: list[TaskWork]) -> str:
    """Why a run that went to the end still has work: infrastructure errors, pending grades."""
    redo = sum(len(item.redo) for item in left)
    missing = sum(len(item.missing) for item in left) - redo
    pending = sum(item.waiting for item in left)
    short = sum(1 for item in left for each in item.pending if each.patch_hash in item.short)
    parts = []
    if redo:
        parts.append(f"{redo} attempts to redo (infrastructure errors or budget cuts)")
    if missing:
        parts.append(f"{missing} attempts not made")
    if pending:
        parts.append(f"{pending} attempts awaiting evaluation")
    if short:
        parts.append(f"{short} verdicts on flaky tasks awaiting their reruns")
    return ", ".join(parts) + "; rerun the same command to finish them"


def attempt_seed(run_seed: int, instance_id: str, index: int) -> int:
    digest = hashlib.sha256(f"{run_seed}:{instance_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class RunPlan:
    run_id: str
    k: int
    seed: int
    max_sandboxes: int
    vcpu_hour_dollars: float
    config: dict[str, Any] = field(default_factory=dict)
    # Attempts of one task made at once; None: as many as keep the total within max_sandboxes.
    attempts_in_flight: int | None = None
    # Warm evaluation sandboxes per task; None: half the attempts in flight (at least one).
    eval_sandboxes: int | None = None
    # After a starved evaluation (the host, not the candidate, ran out of time): wait this long
    # before trying again, so the host can calm down.
    starved_retry_wait: float = 60.0
    # Run the FAIL_TO_PASS tests alone first and skip the full run when one fails (same verdicts).
    fail_fast: bool = True
    # Runs of each candidate's tests on tasks whose validation found flaky tests (majority kept).
    reruns: int = 1


def default_attempts_in_flight(max_sandboxes: int, tasks: int) -> int:
    """Enough attempts per task that the tasks worked on at once fill --max-sandboxes."""
    return max(1, max_sandboxes // max(1, tasks))


@dataclass
class TaskWork:
    task: Task
    task_id: int
    missing: list[int]  # attempt indices to make
    pending: list[PendingEvaluation]  # distinct patches of stored attempts awaiting a verdict
    waiting: int = 0  # stored attempts awaiting a verdict (several may share one patch)
    # index -> row id of a kept infrastructure error or budget cut that the new attempt replaces
    redo: dict[int, int] = field(default_factory=dict)
    reruns: int = 1  # runs of each candidate's tests (above 1 on a flaky task)
    # Graded patches with fewer runs than `reruns`: their stored runs' verdicts.
    short: dict[str, tuple[RunVerdict, ...]] = field(default_factory=dict)


class Progress(ProgressLine):
    """The run's progress line: attempts done, tasks solved, dollars spent."""

    def __init__(self, total: int, done: int, solved: set[int], dollars: float, price: float):
        self.solved = set(solved)
        self.tasks_total = 0
        self.dollars = dollars
        self.price = price
        super().__init__(total, "attempt", initial=done, status=self._status)

    def _status(self) -> str:
        return f"solved {len(self.solved)} tasks, ${self.dollars:.4f}"

    def attempt_done(self, task_id: int, resolved: bool, dollars: float) -> None:
        with self.lock:
            if resolved:
                self.solved.add(task_id)
            self.dollars += dollars
            self.bar.update(1)
            self.refresh()


class Runner:
    def __init__(
        self, store: Store, agent: Agent, sandboxes: SandboxFactory, plan: RunPlan,
        log: Callable[[str], None] | None = None, executor: Executor | None = None,
    ) -> None:
        self.store = store
        self.agent = agent
        self.sandboxes = sandboxes
        self.plan = plan
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.executor: Executor = executor or LocalExecutor(agent, sandboxes)
        # Called once, only when there is work to do (e.g. the model's API-key check).
        self.before_work: Callable[[], None] | None = None
        # Why tasks or attempts stopped on a task or attempt budget: shown as the run's note.
        self.budget_notes: dict[str, str] = {}
        # Extra configuration to record when the run ends (e.g. what the budget spent).
        self.on_finish: Callable[[], dict[str, Any]] | None = None
        self.stop = threading.Event()
        self.progress: Progress | None = None
        # Why the run stopped early, if it did: (status, message), e.g. the budget ran out.
        self.stop_reason: tuple[str, str] | None = None
        self._stop_lock = threading.Lock()
        self._task_errors = False
        self._instance_ids: dict[int, str] = {}
        # (task id, index) -> the kept row (infrastructure error, budget cut) a redo replaces.
        self._redo: dict[tuple[int, int], int] = {}
        # Instance ids whose latest validation found flaky tests (looked up when reruns > 1).
        self._flaky: set[str] = set()

    def stop_run(self, status: str, message: str) -> None:
        """Stops every worker after its attempt in flight; the first reason given is kept."""
        with self._stop_lock:
            if self.stop_reason is None:
                self.stop_reason = (status, message)
                if self.progress:
                    self.progress.write(f"stopping: {message}")
        self.stop.set()

    # --- planning --------------------------------------------------------------------------

    def open_run(self, tasks: list[Task]) -> dict[str, int]:
        """Creates the run or checks that an existing one is the same experiment; links tasks.
        Returns instance_id -> task row id."""
        plan = self.plan

        def new_run() -> RunRecord:
            return RunRecord(
                id=plan.run_id,
                agent=self.agent.name,
                agent_hash=self.agent.definition_hash,
                k=plan.k,
                config={**plan.config, "seed": plan.seed, "reruns": plan.reruns},
                code_revision=code_revision(),
                package_versions=package_versions(),
                vcpu_hour_dollars=plan.vcpu_hour_dollars,
            )

        ids = self.store.open_run(plan.run_id, new_run, self._check_same_experiment, plan.k,
                                  tasks, plan.reruns)
        self._instance_ids = {task_id: instance for instance, task_id in ids.items()}
        if plan.reruns > 1:
            self._flaky = set(self.store.flaky_instances([task.instance_id for task in tasks]))
            self.log(self._reruns_line())
        return ids

    def _reruns_line(self) -> str:
        reruns = self.plan.reruns
        if not self._flaky:
            return (f"--reruns {reruns}: no task of this run has flaky tests in its latest "
                    "validation; each candidate is evaluated once")
        names = sorted(self._flaky)
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        return (f"--reruns {reruns}: each candidate on the {len(names)} task(s) whose validation "
                f"found flaky tests is run {reruns} times, the majority kept: {shown}")

    def _check_same_experiment(self, run: RunRecord) -> None:
        seed = run.config.get("seed")
        if run.agent != self.agent.name or run.agent_hash != self.agent.definition_hash:
            raise RunConfigError(
                f"run {run.id!r} was made by agent {run.agent!r} with definition "
                f"{run.agent_hash[:12]}; this invocation uses {self.agent.name!r} "
                f"{self.agent.definition_hash[:12]}. Pick a new --run-id to compare agents."
            )
        if seed != self.plan.seed:
            raise RunConfigError(
                f"run {run.id!r} used seed {seed}; this invocation asks for {self.plan.seed}. "
                "Pick a new --run-id, or rerun with the same seed to resume."
            )
        before = run.config.get("reruns", 1)
        if before != self.plan.reruns:
            # Not an error: verdicts are shared by runs and only ever gain runs.
            more = self.plan.reruns > before
            self.log(
                f"run {run.id!r} was made with --reruns {before}, this invocation asks for "
                f"{self.plan.reruns}: "
                + ("verdicts on flaky tasks with fewer runs get the runs missing" if more else
                   "verdicts keep the majority of all their stored runs (none is dropped)")
            )

    def plan_work(self, tasks: list[Task], task_ids: dict[str, int]) -> list[TaskWork]:
        price = self._price_per_second
        run_id = self.plan.run_id
        work: list[TaskWork] = []
        for task in tasks:
            task_id = task_ids[task.instance_id]
            # Infrastructure errors and budget cuts are not results: made again (their rows
            # stay, visible in reports, until the new attempt replaces them).
            every = self.store.attempts_of(run_id, task_id)
            redo = {a.index: a.id for a in every if a.error_kind in REDO_KINDS}
            stored = [a for a in every if a.error_kind not in REDO_KINDS]
            have = {attempt.index for attempt in stored}
            limit = self.plan.k
            cap = self.agent.max_attempts(task.view())
            if cap is not None:
                limit = min(limit, cap)
            missing = [index for index in range(limit) if index not in have]
            evaluated = self.store.evaluated_hashes(task_id)
            reruns = self.plan.reruns if task.instance_id in self._flaky else 1
            short: dict[str, tuple[RunVerdict, ...]] = {}
            if reruns > 1:
                short = {
                    digest: runs for digest, runs in self.store.runs_so_far(task_id).items()
                    if needs_more_runs(runs, reruns)
                }
            pending: dict[str, PendingEvaluation] = {}
            unlinked: set[str] = set()  # patch hashes of attempts still without a verdict
            for attempt in sorted(stored, key=lambda attempt: attempt.index):
                graded = attempt.evaluation_id is not None or attempt.patch_hash in evaluated
                if attempt.evaluation_id is None and attempt.patch_hash in evaluated:
                    # Graded meanwhile (by this run or another): link, nothing to run.
                    evaluation_id = self.store.evaluation_id(task_id, attempt.patch_hash)
                    assert evaluation_id is not None
                    self.store.link_verdict(run_id, task_id, attempt.patch_hash,
                                            evaluation_id, price)
                if graded and attempt.patch_hash not in short:
                    continue
                if not graded:
                    unlinked.add(attempt.patch_hash)
                pending.setdefault(
                    attempt.patch_hash,
                    PendingEvaluation(attempt.index, attempt.patch_hash, attempt.patch),
                )
            if missing or pending:
                waiting = sum(
                    1 for attempt in stored
                    if attempt.evaluation_id is None and attempt.patch_hash in unlinked
                )
                work.append(TaskWork(task, task_id, missing, list(pending.values()), waiting,
                                     redo, reruns, short))
        return work

    def _units(self, work: list[TaskWork]) -> tuple[list[Unit], int]:
        """The units to hand the executor, and how many to run at once."""
        plan = self.plan
        in_flight = plan.attempts_in_flight or default_attempts_in_flight(
            plan.max_sandboxes, len(work)
        )
        eval_sandboxes = plan.eval_sandboxes or max(1, in_flight // 2)
        units = [
            Unit(
                task=item.task,
                task_id=item.task_id,
                run_id=plan.run_id,
                attempts=tuple(
                    AttemptSpec(index, attempt_seed(plan.seed, item.task.instance_id, index))
                    for index in item.missing
                ),
                pending=tuple(item.pending),
                evaluated=frozenset(self.store.evaluated_hashes(item.task_id)) - set(item.short),
                attempts_in_flight=in_flight,
                eval_sandboxes=eval_sandboxes,
                fail_fast=plan.fail_fast,
                starved_retry_wait=plan.starved_retry_wait,
                reruns=item.reruns,
                prior_runs=item.short,
            )
            for item in work
        ]
        return units, max(1, plan.max_sandboxes // in_flight)

    @property
    def _price_per_second(self) -> float:
        return self.plan.vcpu_hour_dollars / 3600.0

    # --- running ---------------------------------------------------------------------------

    def run(self, tasks: list[Task]) -> str:
        """Does all missing work; returns the run's final status."""
        task_ids = self.open_run(tasks)
        work = self.plan_work(tasks, task_ids)
        if not work:
            return self._finish("finished")
        # Once, before any work: a host that cannot serve the tasks says so in one line.
        try:
            self.sandboxes.preflight([item.task for item in work])
        except HostRequirementError as error:
            self._finish("host_error", str(error))
            raise
        if self.before_work is not None:
            self.before_work()
        self._redo = {
            (item.task_id, index): row_id for item in work for index, row_id in item.redo.items()
        }
        total_missing = sum(len(item.missing) + item.waiting for item in work)
        self.log(
            f"run {self.plan.run_id}: {total_missing} attempts to make or evaluate "
            f"on {len(work)} of {len(tasks)} tasks"
        )
        done, solved, dollars = self.store.progress_so_far(self.plan.run_id,
                                                           self._price_per_second)
        self.progress = Progress(done + total_missing, done, solved, dollars,
                                 self._price_per_second)
        if self.sandboxes.host_slots is not None:
            self.sandboxes.host_slots.on_wait = self.progress.set_waiting
        units, units_at_once = self._units(work)
        status = "finished"
        backoff.add_listener(self.progress.notice)
        try:
            self.executor.execute(units, self._commit, self.stop, units_at_once)
        except KeyboardInterrupt:
            self.stop.set()
            status = "interrupted"
        finally:
            backoff.remove_listener(self.progress.notice)
            self.progress.close()
        if status == "finished" and self._task_errors:
            status = "finished_with_errors"
        note = ""
        if self.stop_reason is not None:
            status, note = self.stop_reason
        elif status != "interrupted" and self.stop.is_set():
            status = "interrupted"
        if status == "finished":
            left = self.plan_work(tasks, task_ids)
            if left and self.budget_notes:
                status = "budget_exhausted"
                note = self._budget_note()
            elif left:
                status = "incomplete"
                note = _left_note(left)
        return self._finish(status, note)

    def budget_stop(self, key: str, message: str) -> None:
        """A task or attempt budget stopped some work; the run goes on with the rest."""
        with self._stop_lock:
            first = key not in self.budget_notes
            self.budget_notes[key] = message
        if first:
            self._write(message)

    def _budget_note(self) -> str:
        """Which budgets stopped work: one line however many tasks hit theirs."""
        tasks = sorted(key for key in self.budget_notes if key.startswith("instance:"))
        parts = []
        if tasks:
            more = f" (and {len(tasks) - 1} more tasks)" if len(tasks) > 1 else ""
            parts.append(self.budget_notes[tasks[0]] + more)
        if "attempt" in self.budget_notes:
            parts.append(self.budget_notes["attempt"])
        return " | ".join(parts)

    def _finish(self, status: str, note: str = "") -> str:
        extra = self.on_finish() if self.on_finish is not None else None
        self.store.finish_run(self.plan.run_id, status, note, extra)
        return status

    # --- committing what the executor reports ----------------------------------------------

    def _commit(self, event: Event) -> None:
        if isinstance(event, AttemptMade):
            self._commit_attempt(event)
        elif isinstance(event, Evaluated):
            self._commit_evaluation(event)
        elif isinstance(event, UnitStarted):
            self.store.set_task_error(self.plan.run_id, event.task_id, None)
        elif isinstance(event, Note):
            self._write(event.message)
        elif isinstance(event, StopRun):
            self.stop_run(event.status, event.message)
        elif isinstance(event, BudgetStopped):
            self._budget_stopped(event)
        elif isinstance(event, UnitFailed):
            self._task_errors = True
            instance = self._instance_ids.get(event.task_id, str(event.task_id))
            self._write(f"task {instance} stopped: {event.message}")
            self.store.set_task_error(self.plan.run_id, event.task_id, event.message)

    def _budget_stopped(self, event: BudgetStopped) -> None:
        message = event.message
        if event.scope == "instance":
            instance = self._instance_ids.get(event.task_id, str(event.task_id))
            self.budget_stop(
                f"instance:{instance}", f"{message.split(';')[0]} on {instance}; "
                "raise the --instance-* limits to go on"
            )
        else:
            self.budget_stop("attempt", message.split(";")[0] + "; " + _ATTEMPT_HINT)

    def _write(self, message: str) -> None:
        if self.progress:
            self.progress.write(message)
        else:
            self.log(message)

    def _ticked(self, linked: list[LinkedAttempt]) -> None:
        if self.progress:
            for attempt in linked:
                self.progress.attempt_done(attempt.task_id, attempt.resolved, attempt.dollars)

    def _commit_attempt(self, made: AttemptMade) -> None:
        key = (made.task_id, made.index)
        recorded = self.store.record_attempt(made, self.plan.run_id, self.agent.definition_hash,
                                             self._price_per_second, self._redo.get(key))
        if not recorded.stored:
            return  # made before (a retried worker, another process): the first copy stays
        self._redo.pop(key, None)
        candidate = made.candidate
        if candidate.error is AttemptError.INFRA:
            instance = self._instance_ids.get(made.task_id, str(made.task_id))
            self._write(
                f"{instance} attempt {made.index}: infrastructure error, left for the next "
                f"invocation: {candidate.error_message[:300]}"
            )
        self._ticked(recorded.linked)

    def _commit_evaluation(self, graded: Evaluated) -> None:
        self._ticked(self.store.record_evaluation(graded, self.plan.run_id, code_revision(),
                                                  self._price_per_second))
