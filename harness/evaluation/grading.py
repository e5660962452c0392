"""Grading, as the official SWE-bench harness (5.x, `harness/grading.py`) grades.

A test passes as PASSED or XFAIL. A FAIL_TO_PASS test fails when missing, FAILED, ERROR or
SKIPPED (skipping the very test that shows the fix is the 5.x hardening). A PASS_TO_PASS test
fails when missing, FAILED or ERROR; skipped, it is maintained, as officially. A status outside
these (XPASS, which the official parsers never report) counts neither way, as officially.
Resolved means no FAIL_TO_PASS and no PASS_TO_PASS test fails.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from harness.evaluation.status import TestStatus

PASSING = frozenset({TestStatus.PASSED, TestStatus.XFAIL})
FAILING = frozenset({TestStatus.FAILED, TestStatus.ERROR})
F2P_FAILING = FAILING | {TestStatus.SKIPPED}


@dataclass(frozen=True)
class TestVerdict:
    name: str
    kind: str  # FAIL_TO_PASS or PASS_TO_PASS
    status: TestStatus | None  # None: absent from the output
    passed: bool
    counts_against: bool  # True when this test alone keeps the task unresolved


@dataclass(frozen=True)
class Grade:
    verdicts: tuple[TestVerdict, ...]

    @property
    def resolved(self) -> bool:
        return not any(verdict.counts_against for verdict in self.verdicts)

    def failing(self, kind: str) -> list[str]:
        return [v.name for v in self.verdicts if v.kind == kind and v.counts_against]


def counts_against(kind: str, status: TestStatus | None) -> bool:
    """Whether a listed test of this kind with this status (None: absent) keeps the task
    unresolved; a test of neither list never does."""
    if kind == "FAIL_TO_PASS":
        return status is None or status in F2P_FAILING
    if kind == "PASS_TO_PASS":
        return status is None or status in FAILING
    return False


def grade(
    statuses: Mapping[str, TestStatus], fail_to_pass: Sequence[str], pass_to_pass: Sequence[str]
) -> Grade:
    verdicts: list[TestVerdict] = []
    for kind, names in (("FAIL_TO_PASS", fail_to_pass), ("PASS_TO_PASS", pass_to_pass)):
        for name in names:
            status = statuses.get(name)
            verdicts.append(TestVerdict(name, kind, status, status in PASSING,
                                        counts_against(kind, status)))
    return Grade(tuple(verdicts))
