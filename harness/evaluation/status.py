"""Verdicts of an evaluation and statuses of one test: plain enums, so grading never needs the
database layer."""

from __future__ import annotations

import enum


class EvalStatus(str, enum.Enum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"  # tests ran; some FAIL_TO_PASS or PASS_TO_PASS did not pass
    EMPTY_PATCH = "empty_patch"  # nothing to apply: unresolved by definition, not run
    PATCH_FAILED = "patch_failed"  # the candidate did not apply by any method
    TEST_PATCH_FAILED = "test_patch_failed"  # the task's own test patch did not apply
    TIMEOUT = "timeout"  # the test run outlived its limit: graded as an error
    ERROR = "error"  # the test run crashed before reporting any test

    @property
    def resolved(self) -> bool:
        return self is EvalStatus.RESOLVED


class TestStatus(str, enum.Enum):
    __test__ = False  # a status, not a pytest test class

    PASSED = "PASSED"
    FAILED = "FAILED"
    SKIPPED = "SKIPPED"
    ERROR = "ERROR"
    XFAIL = "XFAIL"
    XPASS = "XPASS"
