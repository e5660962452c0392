"""What a task's validation found, and the rules that make it valid (pure: no store, no
sandbox pool); `validate_task` validates one task in one sandbox, the simplest way."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.evaluation.status import EvalStatus
from harness.tasks import Task

if TYPE_CHECKING:  # types only: the rules load without the evaluator (validate's parser)
    from harness.evaluation.evaluator import EvaluationOutcome, TestSetup


def environment_errors() -> tuple[type[Exception], ...]:
    """What keeps a task's environment from being made: recorded as the task's (in)validity,
    never retried as an infrastructure error. (Imported when asked: the image builders pull in
    the Docker client, which `report` and `--help` do not need.)"""
    from harness.images.specs import SpecError
    from harness.repos import RepoError
    from harness.sandboxes.base import ImageBuildError

    return (ImageBuildError, RepoError, SpecError)

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
    from harness.evaluation.evaluator import evaluate

    started = time.monotonic()
    try:
        image = prepare_image(task)
    except environment_errors() as error:
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
