"""What the runner hands an executor (units) and what comes back (events), and the interface
every executor has.

Events are plain picklable values: a worker on another machine returns them, and the driver
commits them in the order they arrive. An executor never writes the store.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Protocol

from harness.agents.base import Candidate
from harness.evaluation.evaluator import EvaluationOutcome
from harness.evaluation.reruns import Rerun, RunVerdict
from harness.images.image_names import ImageIdentity
from harness.sandboxes.factory import SandboxFactory
from harness.tasks import Task

__all__ = [
    "AttemptMade", "AttemptSpec", "BudgetStopped", "Evaluated", "Event", "Executor", "Note",
    "PendingEvaluation", "SandboxFactory", "StopRun", "Unit", "UnitFailed", "UnitStarted",
]


@dataclass(frozen=True)
class AttemptSpec:
    index: int
    seed: int


@dataclass(frozen=True)
class PendingEvaluation:
    """An attempt stored earlier whose patch has no verdict yet."""

    index: int
    patch_hash: str
    patch: str


@dataclass(frozen=True)
class Unit:
    """One task's chunk of work: evaluate `pending`, make and evaluate `attempts`."""

    task: Task
    task_id: int
    attempts: tuple[AttemptSpec, ...]
    pending: tuple[PendingEvaluation, ...]
    # Patch hashes already graded for this task: an attempt making one is not evaluated again.
    evaluated: frozenset[str]
    attempts_in_flight: int = 1
    eval_sandboxes: int = 1
    run_id: str | None = None  # the run the attempts' spend is charged to
    # FAIL_TO_PASS tests alone first; the full command only when they all pass (same verdicts).
    fail_fast: bool = True
    # Seconds to wait before evaluating again after the host starved a test run.
    starved_retry_wait: float = 60.0
    # Runs of each candidate's tests, the majority verdict kept: `run --reruns N` on a task
    # whose validation found flaky tests (the driver decides from the store), else 1.
    reruns: int = 1
    # Patch hashes graded with fewer than `reruns` runs (e.g. by a run without reruns): the
    # verdicts of their stored runs, to which a new evaluation adds the runs missing.
    prior_runs: dict[str, tuple[RunVerdict, ...]] = field(default_factory=dict)

    def chunks(self, size: int) -> list[Unit]:
        """The unit cut into units of at most `size` attempts; the pending evaluations go
        with the first."""
        size = max(1, size)
        parts = [self.attempts[start:start + size] for start in range(0, len(self.attempts), size)]
        if not parts:
            return [self]
        return [
            replace(self, attempts=part, pending=self.pending if number == 0 else ())
            for number, part in enumerate(parts)
        ]


# --- events: what a unit reports, in the order it happened ---------------------------------


@dataclass(frozen=True)
class UnitStarted:
    """The task's image is ready on the worker: an earlier error on the task is over."""

    task_id: int


@dataclass(frozen=True)
class AttemptMade:
    task_id: int
    index: int
    seed: int
    candidate: Candidate
    compute_seconds: float
    seconds: float
    # patches.patch_hash of the candidate's patch, computed once where the attempt was made.
    patch_hash: str


@dataclass(frozen=True)
class Evaluated:
    """The verdict on one patch of the task; `charged_index` is the attempt that caused the
    evaluation and pays for its compute."""

    task_id: int
    patch_hash: str
    patch: str
    outcome: EvaluationOutcome
    charged_index: int
    # Where the image graded in came from (prebuilt or built, name, digest), as its node saw it.
    image: ImageIdentity | None = None
    # With reruns: every run made here, to be stored after the `first_run` runs already
    # stored; `outcome` is run `outcome_run` of these (the majority's, when it is one of them).
    runs: tuple[Rerun, ...] = ()
    first_run: int = 0
    outcome_run: int = 0
    # The majority's index among all the patch's runs (the `first_run` stored before, then
    # `runs`), as the worker decided it.
    majority: int = 0


@dataclass(frozen=True)
class Note:
    message: str


@dataclass(frozen=True)
class StopRun:
    """Stop the whole run after the work in flight (budget spent, model refuses to work)."""

    status: str
    message: str


@dataclass(frozen=True)
class BudgetStopped:
    """A task's (scope "instance") or an attempt's (scope "attempt") budget stopped some work;
    the run goes on with the rest. Scope "run" is a StopRun instead."""

    task_id: int
    scope: str
    message: str


@dataclass(frozen=True)
class UnitFailed:
    """The unit could not go on (e.g. its image failed to build); what it reported stands."""

    task_id: int
    message: str


Event = UnitStarted | AttemptMade | Evaluated | Note | StopRun | BudgetStopped | UnitFailed


class Executor(Protocol):
    def execute(
        self,
        units: list[Unit],
        deliver: Callable[[Event], None],
        stop: threading.Event,
        units_at_once: int,
    ) -> None:
        """Carries out the units, calling `deliver` with each event, always from the calling
        thread. Returns when every unit is done or, once `stop` is set, when the work in flight
        is. `units_at_once` is the runner's bound on concurrent units (an executor with its own
        scheduler, like Ray's, may use its cluster's resources instead)."""
        ...

    def close(self) -> None:
        """Releases what the executor holds (a cluster connection); safe to call twice."""
        ...
