"""Validation of tasks: can this harness host and grade each one?

For every task: build its environment, evaluate the gold patch and the empty patch `repeats`
times each, and record whether the environment built, whether gold resolves (every time, or,
where tests are flaky, in a majority of runs beyond chance: what `run --reruns` keeps, and
which takes 8 or more runs to show), whether the empty patch never does, and which listed
tests changed status between identical runs (flaky). A task is valid when all three hold.
`run` and `report` leave invalid tasks out unless asked not to, saying how many and why.

Results live in the store's database (table `validations`, declared here on the store's Base),
keyed by (instance id, task content hash, environment spec): a changed task or spec is
validated afresh.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.evaluation.evaluator import EvaluationOutcome, TestSetup, evaluate
from harness.evaluation.status import EvalStatus
from harness.store import Store, ValidationRecord
from harness.tasks import Task

Log = Callable[[str], None]
DEFAULT_REPEATS = 2


@dataclass
class RunSummary:
    """One evaluation of gold or empty during validation."""

    patch: str  # "gold" or "empty"
    status: EvalStatus
    seconds: float
    against: list[str]  # listed tests that kept it from resolving
    statuses: dict[str, str | None]  # listed test -> status (None: absent)

    def to_json(self) -> dict[str, Any]:
        return {"patch": self.patch, "status": self.status.value,
                "seconds": round(self.seconds, 1), "against": self.against[:50]}


@dataclass
class ValidationResult:
    instance_id: str
    spec: str
    env_ok: bool
    runs: list[RunSummary] = field(default_factory=list)
    env_error: str = ""
    seconds: float = 0.0

    def _of(self, patch: str) -> list[RunSummary]:
        return [run for run in self.runs if run.patch == patch]

    def _resolved(self, patch: str) -> int:
        """How many runs of `patch` resolved."""
        return sum(run.status is EvalStatus.RESOLVED for run in self._of(patch))

    @property
    def gold_resolves(self) -> bool:
        """Gold resolves in every run; or, on a task with flaky tests, in clearly more than
        half of them (`beyond_chance`): then the majority verdict that `run --reruns N` keeps
        there (the paper's majority of reruns) resolves a correct fix. A gold patch that
        resolves about half the time gives a coin's verdict, however many reruns are taken.
        The empty patch gets no such allowance (see `empty_unresolved`)."""
        runs, resolved = len(self._of("gold")), self._resolved("gold")
        if not runs:
            return False
        return resolved == runs or (bool(self.flaky_tests) and beyond_chance(resolved, runs))

    @property
    def gold_by_majority(self) -> bool:
        """Gold resolves by a majority of runs, not in all of them."""
        return self.gold_resolves and self._resolved("gold") < len(self._of("gold"))

    @property
    def empty_unresolved(self) -> bool:
        """The empty patch never resolves. A task where an unfixed tree passes even now and
        then would let wrong candidates pass by chance, and at k = 250 every chance is taken."""
        empty = self._of("empty")
        return bool(empty) and all(run.status is not EvalStatus.RESOLVED for run in empty)

    @property
    def flaky_tests(self) -> list[str]:
        """Listed tests whose status differed between runs of the same patch."""
        flaky: set[str] = set()
        for patch in ("gold", "empty"):
            runs = [run for run in self._of(patch) if run.statuses]
            for run in runs[1:]:
                for name, status in run.statuses.items():
                    if runs[0].statuses.get(name) != status:
                        flaky.add(name)
        return sorted(flaky)

    @property
    def valid(self) -> bool:
        return self.env_ok and self.gold_resolves and self.empty_unresolved

    @property
    def reason(self) -> str:
        if not self.env_ok:
            return f"environment: {self.env_error}"
        problems = []
        gold = self._of("gold")
        if not self.gold_resolves:
            bad = next(run for run in gold if run.status is not EvalStatus.RESOLVED)
            tests = ", ".join(bad.against[:5]) + (" ..." if len(bad.against) > 5 else "")
            times = len(gold) - self._resolved("gold")
            problems.append(
                f"gold {bad.status.value} in {times}/{len(gold)} runs"
                + (f" (failing: {tests})" if tests else "")
            )
        if not self.empty_unresolved:
            problems.append(f"empty patch resolves in {self._resolved('empty')}/"
                            f"{len(self._of('empty'))} runs")
        if problems and self.flaky_tests:
            problems.append(f"flaky: {', '.join(self.flaky_tests[:5])}")
        if not problems and self.gold_by_majority:
            return (f"valid by majority: gold resolves in {self._resolved('gold')}/{len(gold)} "
                    f"runs (flaky: {', '.join(self.flaky_tests[:5])}); grade it with run --reruns")
        return "; ".join(problems)


# How unlikely `beyond_chance` asks a resolve count to be for a patch that resolves half the time.
MAJORITY_SIGNIFICANCE = 0.05


def beyond_chance(resolved: int, runs: int) -> bool:
    """Whether `resolved` of `runs` is more than a coin would give, at MAJORITY_SIGNIFICANCE
    (one-sided binomial test against one half): 8 of 9 is, 6 of 9 is not (p = 0.25), 9 of 11
    is (p = 0.03)."""
    tail = sum(math.comb(runs, count) for count in range(resolved, runs + 1)) / 2**runs
    return tail <= MAJORITY_SIGNIFICANCE


def summarize_run(patch: str, outcome: EvaluationOutcome) -> RunSummary:
    """What validation keeps of one evaluation of gold or empty."""
    statuses: dict[str, str | None] = {}
    against: list[str] = []
    if outcome.grade is not None:
        for verdict in outcome.grade.verdicts:
            statuses[verdict.name] = verdict.status.value if verdict.status else None
            if verdict.counts_against:
                against.append(verdict.name)
    return RunSummary(patch, outcome.status, outcome.seconds, against, statuses)


def validate_task(
    task: Task,
    prepare_image: Callable[[Task], str],
    start_sandbox: Callable[[str], Any],
    test_setup: TestSetup,
    spec_name: str,
    repeats: int = DEFAULT_REPEATS,
    log: Log = lambda line: None,
) -> ValidationResult:
    """Builds the task's image, then evaluates gold and empty patches `repeats` times each, in
    one sandbox (reset before each evaluation). Environment failures (spec, repository, build)
    are recorded, not raised; a sandbox failure (SandboxError) is raised, as an infrastructure
    error to retry."""
    from harness.repos import RepoError
    from harness.sandboxes.base import ImageBuildError
    from harness.sandboxes.specs import SpecError

    started = time.monotonic()
    try:
        image = prepare_image(task)
    except (ImageBuildError, RepoError, SpecError) as error:
        message = str(error).strip().splitlines()
        short = " ".join(message[:1] + message[-3:])[:600]
        return ValidationResult(task.instance_id, spec_name, False, env_error=short,
                                seconds=time.monotonic() - started)
    result = ValidationResult(task.instance_id, spec_name, True)
    sandbox = start_sandbox(image)
    try:
        for _ in range(repeats):
            for patch_name, patch in (("gold", task.patch), ("empty", "")):
                outcome = evaluate(task, patch, sandbox, test_setup, run_empty=True)
                summary = summarize_run(patch_name, outcome)
                result.runs.append(summary)
                log(f"{task.instance_id}: {patch_name} {summary.status.value} "
                    f"({summary.seconds:.0f} s)")
    finally:
        sandbox.close()
    result.seconds = time.monotonic() - started
    return result


# --- the store ----------------------------------------------------------------------------


def save_validation(store: Store, task: Task, result: ValidationResult, repeats: int) -> None:
    from harness.provenance import code_revision

    store.save_validation(
        task.instance_id, task.content_hash, result.spec,
        repo=task.repo,
        version=task.version,
        env_ok=result.env_ok,
        gold_resolves=result.gold_resolves,
        empty_unresolved=result.empty_unresolved,
        flaky_tests=result.flaky_tests,
        repeats=repeats,
        valid=result.valid,
        reason=result.reason,
        details={"runs": [run.to_json() for run in result.runs], "env_error": result.env_error},
        seconds=result.seconds,
        harness_revision=code_revision(),
    )


def stored_validations(store: Store, tasks: Iterable[Task]) -> dict[str, ValidationRecord]:
    """The newest validation of each task's exact definition (any spec), by instance id."""
    return store.newest_validations((task.instance_id, task.content_hash) for task in tasks)


@dataclass
class Selection:
    """Tasks kept for a run, and those left out because they failed validation (with why)."""

    tasks: list[Task]
    left_out: dict[str, str] = field(default_factory=dict)  # instance id -> reason
    not_validated: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One or two lines for the user; empty when nothing was left out."""
        if not self.left_out:
            return ""
        reasons: dict[str, int] = {}
        for reason in self.left_out.values():
            kind = reason.split(":", 1)[0].split(" (", 1)[0]
            reasons[kind] = reasons.get(kind, 0) + 1
        parts = ", ".join(f"{count} {kind}" for kind, count in sorted(reasons.items()))
        return (
            f"left out {len(self.left_out)} task(s) that failed validation ({parts}); "
            "--include-unvalidated keeps them"
        )


def select_validated(store: Store, tasks: list[Task], include_unvalidated: bool) -> Selection:
    """Leaves out tasks whose stored validation failed, unless `include_unvalidated`. Tasks
    never validated are kept (and listed in `not_validated`)."""
    records = stored_validations(store, tasks)
    selection = Selection([])
    for task in tasks:
        record = records.get(task.instance_id)
        if record is None:
            selection.not_validated.append(task.instance_id)
            selection.tasks.append(task)
        elif record.valid or include_unvalidated:
            selection.tasks.append(task)
        else:
            selection.left_out[task.instance_id] = record.reason
    return selection
