"""Fail fast, graded the same: most candidates fail, and their FAIL_TO_PASS tests say so alone.

Stage 1 runs only the task's FAIL_TO_PASS tests, named in the repository's own runner. When
one of them is seen failing there, the candidate is unresolved and stage 2 never runs. In every
other case (all passed, a test not found, no output, out of time) stage 2 runs the official
test command and grades exactly as an evaluation without fail fast: every `resolved` comes
from the full official run, and stage 1 can only end evaluations the full run would grade
unresolved too (`benchmarks/fail_fast_agreement.py` checks that over leaderboard predictions).

How a runner is given test names follows from the task's log parser (the spec's choice of
runner), so specs need no new field:
- pytest, under whichever parser a repository's output needs (flask, requests, pylint,
  astropy, sphinx through tox, xarray, seaborn, scikit-learn, matplotlib): node ids
  (`tests/test_x.py::test_y[param]`), as the official lists hold them;
- sympy `bin/test`: the test files, then `-k name ...` (every sympy since 1.0 takes several
  keywords; a keyword matches by substring, so stage 1 may run a few more tests, never fewer);
- django `runtests.py`: labels `module.Class.test_name` from `test_name (module.Class)`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from harness.evaluation.eval_script import test_targets
from harness.evaluation.evaluator import (
    EvaluationOutcome,
    TestSetup,
    evaluate,
    graded_fail_to_pass,
)
from harness.evaluation.log_parsers import parser_for
from harness.evaluation.status import EvalStatus, TestStatus
from harness.patches import diff_targets
from harness.sandboxes.base import Sandbox
from harness.tasks import Task

# Seen in stage 1, these end the evaluation; a skip or an absence leaves it to stage 2.
CONCLUSIVE = frozenset({TestStatus.FAILED, TestStatus.ERROR})
# Log parsers of repositories whose test command is pytest (directly, through tox, or through
# a shell function that passes its arguments on): their runner takes node ids.
PYTEST_RUNNERS = frozenset({
    "pytest", "pytest_options", "pytest_v2", "flask", "requests", "pylint", "astropy",
    "sphinx", "xarray", "seaborn", "scikit-learn", "matplotlib",
})
_DJANGO_NAME = re.compile(r"^(\w+) \(([\w.]+)\)$")
_SYMPY_NAME = re.compile(r"^\w+$")


def stage_one_targets(
    log_parser: str, test_files: Sequence[str], fail_to_pass: Sequence[str]
) -> list[str] | None:
    """The test command's arguments that run only `fail_to_pass`; None when this runner cannot
    be told test names (then the evaluation is the full one alone)."""
    names = list(fail_to_pass)
    if not names:
        return None
    if log_parser in PYTEST_RUNNERS:
        # An id the official parser cut short is not found, pytest reports nothing, and stage
        # 2 decides: correct, only slower.
        return names if all("::" in name for name in names) else None
    if log_parser == "sympy":
        if not all(_SYMPY_NAME.match(name) for name in names):
            return None
        return [*test_targets(list(test_files)), "-k", *names]
    if log_parser == "django":
        labels = []
        for name in names:
            match = _DJANGO_NAME.match(name)
            if match is None:  # a docstring for a name: no label to give the runner
                return None
            labels.append(f"{match.group(2)}.{match.group(1)}")
        return labels
    return None


def conclusive_failures(
    outcome: EvaluationOutcome, fail_to_pass: Sequence[str], log_parser: str
) -> list[str]:
    """FAIL_TO_PASS tests stage 1 saw fail (FAILED or ERROR); empty when it proved nothing."""
    if outcome.status is not EvalStatus.UNRESOLVED or outcome.grade is None:
        return []
    statuses = parser_for(log_parser)(outcome.test_output, list(fail_to_pass))
    failing = []
    for name in fail_to_pass:
        status = statuses.get(name)
        if status is None and log_parser == "sympy":
            # The last test of a file prints `test_x F  [FAIL]`, which the line parser cannot
            # read; sympy's failure report, headed `___ path/test_f.py:test_x ___`, still says.
            status = next((found for key, found in statuses.items()
                           if key.endswith(f".py:{name}")), None)
        if status in CONCLUSIVE:
            failing.append(name)
    return failing


def evaluate_fail_fast(
    task: Task, patch: str, sandbox: Sandbox, setup: TestSetup
) -> EvaluationOutcome:
    """As `evaluate`, with stage 1 first. Raises what `evaluate` raises."""
    # Only the tests that decide: a network test the sandbox cannot pass proves nothing.
    deciding = graded_fail_to_pass(task, setup)
    targets = stage_one_targets(setup.log_parser, diff_targets(task.test_patch), deciding)
    if targets is None or not patch.strip():
        return evaluate(task, patch, sandbox, setup)
    first = evaluate(task, patch, sandbox, replace(setup, targets=tuple(targets)))
    if first.status in (EvalStatus.PATCH_FAILED, EvalStatus.TEST_PATCH_FAILED):
        return first  # applying is the same in both stages
    failing = conclusive_failures(first, deciding, setup.log_parser)
    if failing:
        note = f"fail fast: stage 1 saw {', '.join(failing[:5])} fail; stage 2 not run\n"
        return replace(first, log=note + first.log, decided_by_stage=1)
    second = evaluate(task, patch, sandbox, setup)
    return replace(
        second,
        log=f"fail fast: stage 1 ({first.status.value}) decided nothing\n{first.log}\n"
            f"--- stage 2: the full test command ---\n{second.log}",
        seconds=first.seconds + second.seconds,
        compute_seconds=first.compute_seconds + second.compute_seconds,
        cpu_seconds=_sum(first.cpu_seconds, second.cpu_seconds),
        decided_by_stage=2 if second.decided_by_stage is not None else None,
    )


def _sum(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b
