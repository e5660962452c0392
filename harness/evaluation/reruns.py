"""Reruns of a candidate's tests on a flaky task, and the majority verdict kept: pure rules.

Flaky instances are handled as the "Large Language Monkeys" authors handled them: a task whose
validation saw a test change status between identical runs is flaky (the store's
`flaky_instances`); a candidate's tests on it can be rerun N times and the majority verdict
kept (`run --reruns N`, every rerun stored in `evaluation_reruns`), and a report can leave flaky
tasks out (`report --exclude-flaky`), as the paper's 266-problem subset of Lite did.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.evaluation.status import EvalStatus

if TYPE_CHECKING:  # a type only: the store reads these rules without loading the evaluator
    from harness.evaluation.evaluator import EvaluationOutcome

# Verdicts reached before any test runs: applying a patch is deterministic, so they are never
# rerun.
NOT_RUN = frozenset({EvalStatus.EMPTY_PATCH, EvalStatus.PATCH_FAILED,
                     EvalStatus.TEST_PATCH_FAILED})


@dataclass(frozen=True)
class RunVerdict:
    """One run of a candidate's tests: its status and the listed tests that counted against."""

    status: EvalStatus
    failing: tuple[str, ...] = ()


def majority_index(runs: Sequence[RunVerdict]) -> int:
    """The index of the run whose verdict stands for all: the first resolved one when more
    than half resolved, else the first unresolved one (a tie is not a majority to resolve)."""
    if not runs:
        raise ValueError("no runs to take a majority of")
    resolved = [index for index, run in enumerate(runs) if run.status.resolved]
    if 2 * len(resolved) > len(runs):
        return resolved[0]
    return next(index for index, run in enumerate(runs) if not run.status.resolved)


@dataclass(frozen=True)
class Rerun:
    """What `evaluation_reruns` keeps of one run of a candidate's tests."""

    verdict: RunVerdict
    seconds: float
    compute_seconds: float
    cpu_seconds: float | None
    output_digest: str  # sha256 of the test output, "" when there was none


def output_digest(test_output: str) -> str:
    return hashlib.sha256(test_output.encode()).hexdigest() if test_output else ""


def rerun_of(outcome: EvaluationOutcome) -> Rerun:
    failing: tuple[str, ...] = ()
    if outcome.grade is not None:
        failing = tuple(v.name for v in outcome.grade.verdicts if v.counts_against)
    return Rerun(RunVerdict(outcome.status, failing), outcome.seconds, outcome.compute_seconds,
                 outcome.cpu_seconds, output_digest(outcome.test_output))


def needs_more_runs(runs: Sequence[RunVerdict], wanted: int) -> bool:
    """Whether a candidate with these runs so far is run again to have `wanted` runs (one
    stopped before its tests ran is not: its verdict cannot change)."""
    return len(runs) < wanted and not (runs and runs[0].status in NOT_RUN)
