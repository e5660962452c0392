"""Validates many tasks at once, the way `run` runs them.

Tasks are worked on in parallel (up to `max_sandboxes`, within the host's sandbox budget); every
evaluation of gold or empty is stored the moment it finishes (table `validation_runs`), so an
interrupted `validate` resumes with the evaluations it had not done; the task's verdict
(table `validations`) is saved once all of them are. A progress bar says what runs now and
since when; every line it writes starts with the time. A stop request (SIGINT, SIGTERM) removes
the sandboxes in flight at once: their evaluations are lost, nothing else is.
"""

from __future__ import annotations

import functools
import queue
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field

from harness.evaluation.evaluator import EvaluationOutcome, TestSetup, evaluate
from harness.executors.pool import INFRA_TRIES, SandboxPool, with_retries
from harness.progress import ProgressLine, clock
from harness.sandboxes.base import Sandbox, SandboxError
from harness.sandboxes.host_slots import HostSlots
from harness.store import Store
from harness.store.validations import StoredValidationRun
from harness.tasks import Task
from harness.validation.result import (
    RunSummary,
    ValidationResult,
    environment_errors,
    summarize_run,
)
from harness.validation.selection import save_validation

__all__ = ["INFRA_TRIES", "PATCHES", "PoolOutcome", "ValidationPool", "ValidationSandboxes"]

PATCHES = ("gold", "empty")


@dataclass
class ValidationSandboxes:
    """How to get a task's environment and sandboxes; kept apart so tests can swap them."""

    prepare_image: Callable[[Task], str]
    start: Callable[[str], Sandbox]
    setup: Callable[[Task], tuple[str, TestSetup]]  # (spec name, how its tests run)
    host_slots: HostSlots | None = None


@dataclass
class PoolOutcome:
    validated: list[str] = field(default_factory=list)
    left_for_later: dict[str, str] = field(default_factory=dict)  # instance id -> why
    stopped: bool = False


class _Progress(ProgressLine):
    """The progress line over evaluations; its postfix lists what runs now, since when."""

    def __init__(self, total: int) -> None:
        self.now: dict[str, tuple[str, str]] = {}  # instance id -> (what, since)
        super().__init__(total, "eval", stamped=True, status=self._status)

    def _status(self) -> str:
        parts = [f"{instance} {what} since {since}" for instance, (what, since) in
                 sorted(self.now.items(), key=lambda item: item[1][1])]
        return "; ".join(parts) or ("" if self.waiting else "idle")

    def doing(self, instance_id: str, what: str) -> None:
        with self.lock:
            self.now[instance_id] = (what, clock())
            self.refresh(redraw=True)

    def idle(self, instance_id: str) -> None:
        with self.lock:
            self.now.pop(instance_id, None)
            self.refresh(redraw=True)


def _evaluate(task: Task, patch: str, setup: TestSetup, sandbox: Sandbox) -> EvaluationOutcome:
    return evaluate(task, patch, sandbox, setup, run_empty=True)


def _plan(repeats: int) -> list[tuple[int, str]]:
    """The evaluations of a task validated `repeats` times: (repeat, patch name)."""
    return [(repeat, patch) for repeat in range(repeats) for patch in PATCHES]


class ValidationPool:
    def __init__(
        self, store: Store, sandboxes: ValidationSandboxes, repeats: int, max_sandboxes: int,
        starved_retry_wait: float = 60.0, flaky_repeats: int = 0,
    ) -> None:
        self.store = store
        self.sandboxes = sandboxes
        self.repeats = repeats
        # A task whose first `repeats` show flaky tests gets this many in all (0: no more),
        # enough for `ValidationResult.gold_resolves` to tell a majority from a coin.
        self.flaky_repeats = flaky_repeats
        self.max_sandboxes = max(1, max_sandboxes)
        self.starved_retry_wait = starved_retry_wait
        self.stop = threading.Event()
        self._live: set[SandboxPool] = set()  # each task's pool in flight
        self._live_lock = threading.Lock()
        self.progress: _Progress | None = None

    def request_stop(self) -> None:
        """Safe from a signal handler: the main loop removes the sandboxes."""
        self.stop.set()

    def forget(self, tasks: list[Task]) -> None:
        """Drops the stored evaluations of these tasks (for --force)."""
        self.store.forget_validation_runs(
            (task.instance_id, task.content_hash) for task in tasks
        )

    # --- the pool -------------------------------------------------------------------------

    def run(self, tasks: list[Task]) -> PoolOutcome:
        outcome = PoolOutcome()
        todo: queue.Queue[Task] = queue.Queue()
        for task in tasks:
            todo.put(task)
        total = len(tasks) * self.repeats * len(PATCHES)
        self.progress = _Progress(total)
        if self.sandboxes.host_slots is not None:
            self.sandboxes.host_slots.on_wait = self.progress.set_waiting
        lock = threading.Lock()

        def work() -> None:
            while not self.stop.is_set():
                try:
                    task = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    why = self._validate(task)
                except Exception as error:  # one task's failure must not end the others
                    why = f"{type(error).__name__}: {error}"
                with lock:
                    if why is None:
                        outcome.validated.append(task.instance_id)
                    else:
                        outcome.left_for_later[task.instance_id] = why
                if why is not None and not self.stop.is_set():
                    self.progress.write(f"{task.instance_id}: left for the next invocation: "
                                        f"{why[:300]}")

        # Daemon threads: a stop must not wait for an image build in flight.
        threads = [threading.Thread(target=work, daemon=True, name=f"validate-{number}")
                   for number in range(min(self.max_sandboxes, len(tasks)))]
        for thread in threads:
            thread.start()
        try:
            while any(thread.is_alive() for thread in threads):
                if self.stop.wait(0.2):
                    outcome.stopped = True
                    self.progress.write("stopping: removing the sandboxes in flight ...")
                    self._remove_live()
                    deadline = time.monotonic() + 15
                    for thread in threads:
                        thread.join(timeout=max(0.0, deadline - time.monotonic()))
                    self._remove_live()  # any started meanwhile
                    break
        finally:
            self.progress.close()
        outcome.stopped = outcome.stopped or self.stop.is_set()
        return outcome

    def _remove_live(self) -> None:
        with self._live_lock:
            live = list(self._live)
        for pool in live:
            self._close(pool)

    # --- one task -------------------------------------------------------------------------

    def _validate(self, task: Task) -> str | None:
        """Validates one task; returns why it was left unfinished, or None when saved."""
        progress = self.progress
        assert progress is not None
        spec_name, setup = self.sandboxes.setup(task)
        done = self._stored_runs(task, spec_name, max(self.repeats, self.flaky_repeats))
        repeats = self.repeats
        plan = _plan(repeats)
        todo = [key for key in plan if key not in done]
        progress.advance(len(plan) - len(todo))
        slots = self.sandboxes.host_slots
        started = time.monotonic()
        with slots.hold(1, self.stop) if slots else nullcontext(True) as held:
            if not held:
                return "stopped"
            progress.doing(task.instance_id, "environment")
            try:
                image = self.sandboxes.prepare_image(task)
            except environment_errors() as error:
                lines = str(error).strip().splitlines()
                short = " ".join(lines[:1] + lines[-3:])[:600]
                result = ValidationResult(task.instance_id, spec_name, False, env_error=short,
                                          seconds=time.monotonic() - started)
                save_validation(self.store, task, result, repeats)
                progress.advance(len(todo))
                progress.idle(task.instance_id)
                progress.write(f"{task.instance_id}: NOT valid: {result.reason[:200]}")
                return None
            pool = SandboxPool(lambda: self._start(image), 1, exclusive=True)
            with self._live_lock:
                self._live.add(pool)
            try:
                while True:
                    unfinished = self._evaluate_all(task, spec_name, setup, todo, repeats, done,
                                                    pool)
                    if unfinished:
                        return unfinished
                    result = ValidationResult(task.instance_id, spec_name, True,
                                              runs=[done[key] for key in plan],
                                              seconds=sum(done[key].seconds for key in plan))
                    if not result.flaky_tests or repeats >= self.flaky_repeats:
                        break
                    flaky = ", ".join(result.flaky_tests[:3])
                    progress.write(f"{task.instance_id}: flaky ({flaky}): "
                                   f"{self.flaky_repeats} repeats in all")
                    repeats = self.flaky_repeats
                    plan = _plan(repeats)
                    todo = [key for key in plan if key not in done]
                    progress.expect(len(plan) - len(result.runs))
                    progress.advance(len(plan) - len(result.runs) - len(todo))
            finally:
                progress.idle(task.instance_id)
                with self._live_lock:
                    self._live.discard(pool)
                self._close(pool)
        save_validation(self.store, task, result, repeats)
        verdict = "valid" if result.valid else f"NOT valid: {result.reason[:200]}"
        progress.write(f"{task.instance_id}: {verdict}")
        return None

    def _evaluate_all(
        self, task: Task, spec_name: str, setup: TestSetup, todo: list[tuple[int, str]],
        repeats: int, done: dict[tuple[int, str], RunSummary], pool: SandboxPool,
    ) -> str:
        """Makes and stores the evaluations `todo` (into `done` too) on the task's pool of one
        sandbox; returns why the task is left unfinished ("" when every one was made)."""
        progress = self.progress
        assert progress is not None
        for repeat, patch_name in todo:
            if self.stop.is_set():
                return "stopped"
            progress.doing(task.instance_id, f"{patch_name} {repeat + 1}/{repeats}")
            patch = task.patch if patch_name == "gold" else ""
            evaluated, _ = with_retries(
                pool, functools.partial(_evaluate, task, patch, setup),
                what=task.instance_id, stopped=self.stop.is_set,
                starved_wait=self.starved_retry_wait, note=progress.write, note_failures=True,
            )
            if evaluated is None or self.stop.is_set():
                return "stopped" if self.stop.is_set() else "infrastructure errors"
            summary = summarize_run(patch_name, evaluated)
            self._store_run(task, spec_name, repeat, summary, evaluated)
            done[(repeat, patch_name)] = summary
            progress.advance()
            progress.write(f"{task.instance_id}: {patch_name} {repeat + 1}/{repeats} "
                           f"{summary.status.value} ({summary.seconds:.0f} s)")
        return ""

    def _start(self, image: str) -> Sandbox:
        if self.stop.is_set():
            raise SandboxError("stopped")
        sandbox = self.sandboxes.start(image)
        if self.stop.is_set():  # the stop came while it started: remove it now
            sandbox.close()
            raise SandboxError("stopped")
        return sandbox

    def _close(self, pool: SandboxPool) -> None:
        try:
            pool.close()
        except SandboxError as error:
            if self.progress is not None:
                self.progress.write(str(error))

    # --- the store ------------------------------------------------------------------------

    def _stored_runs(
        self, task: Task, spec: str, repeats: int
    ) -> dict[tuple[int, str], RunSummary]:
        rows = self.store.validation_runs(task.instance_id, task.content_hash, spec)
        return {
            (row.repeat, row.patch): RunSummary(row.patch, row.status, row.seconds,
                                                list(row.against), dict(row.statuses))
            for row in rows if row.repeat < repeats
        }

    def _store_run(self, task: Task, spec: str, repeat: int, summary: RunSummary,
                   outcome: EvaluationOutcome) -> None:
        # False when another process stored this very evaluation meanwhile: the same.
        self.store.add_validation_run(StoredValidationRun(
            instance_id=task.instance_id, task_hash=task.content_hash, spec=spec,
            patch=summary.patch, repeat=repeat, status=summary.status, seconds=summary.seconds,
            cpu_seconds=outcome.cpu_seconds, against=summary.against, statuses=summary.statuses,
        ))
