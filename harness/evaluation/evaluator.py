"""Evaluates one candidate patch for one task in a sandbox and grades the result."""

from __future__ import annotations

import fnmatch
import time
from dataclasses import dataclass

from harness.evaluation.eval_script import (
    EXIT_PATCH_FAILED,
    EXIT_TEST_PATCH_FAILED,
    EXIT_TESTS_RAN,
    EXIT_TESTS_TIMED_OUT,
    TEST_OUTPUT,
    EvalScriptInputs,
    build_eval_script,
    is_test_file,
)
from harness.evaluation.grading import Grade, grade
from harness.evaluation.log_parsers import parser_for
from harness.evaluation.status import EvalStatus
from harness.patches import touched_files
from harness.sandboxes.base import Sandbox, SandboxError
from harness.tasks import Task

# Larger candidates are refused unapplied: no real fix is this big, and a huge text must not
# reach the sandbox's disk or the store.
MAX_PATCH_BYTES = 2_000_000
MAX_TEST_OUTPUT_BYTES = 4_000_000


@dataclass(frozen=True)
class TestSetup:
    """How a task's tests run: from its environment spec."""

    __test__ = False  # not a pytest class

    test_cmd: str
    log_parser: str
    test_timeout: float
    # Globs over PASS_TO_PASS ids that cannot pass in a sandbox without network (the spec's
    # `network_tests`): left out of grading, and said so in the evaluation's log.
    not_graded: tuple[str, ...] = ()


@dataclass(frozen=True)
class EvaluationOutcome:
    status: EvalStatus
    apply_method: str
    eval_script: str
    test_output: str
    log: str
    grade: Grade | None
    seconds: float
    compute_seconds: float


def evaluate(
    task: Task,
    patch: str,
    sandbox: Sandbox,
    setup: TestSetup,
    run_empty: bool = False,
) -> EvaluationOutcome:
    """Applies `patch` to a clean tree, then the task's test patch, runs its tests, grades.

    An empty patch is unresolved without running anything (as officially) unless `run_empty`,
    which validation uses to show the tests fail at the base commit.
    Raises SandboxError when the sandbox itself fails (the caller retries elsewhere).
    """
    started = time.monotonic()
    if not patch.strip() and not run_empty:
        return EvaluationOutcome(EvalStatus.EMPTY_PATCH, "", "", "", "empty patch", None, 0.0, 0.0)
    if len(patch.encode("utf-8", "replace")) > MAX_PATCH_BYTES:
        message = f"candidate patch is over {MAX_PATCH_BYTES} bytes: refused unapplied"
        return EvaluationOutcome(EvalStatus.PATCH_FAILED, "", "", "", message, None, 0.0, 0.0)

    compute_before = sandbox.compute_seconds
    script = build_eval_script(
        EvalScriptInputs(
            candidate_patch=patch,
            test_patch=task.test_patch,
            test_files=task.test_files,
            candidate_test_files=[path for path in touched_files(patch) if is_test_file(path)],
            test_cmd=setup.test_cmd,
            test_timeout=setup.test_timeout,
        )
    )
    sandbox.reset()
    result = sandbox.exec("sh -s", timeout=setup.test_timeout + 120, stdin=script)
    log = result.stderr
    apply_method = _apply_method(log)

    test_output = ""
    graded: Grade | None = None
    if result.timed_out:
        status = EvalStatus.TIMEOUT
    elif result.exit_code == EXIT_PATCH_FAILED:
        status = EvalStatus.PATCH_FAILED
    elif result.exit_code == EXIT_TEST_PATCH_FAILED:
        status = EvalStatus.TEST_PATCH_FAILED
    elif result.exit_code in (EXIT_TESTS_RAN, EXIT_TESTS_TIMED_OUT):
        test_output = _read_test_output(sandbox) if result.truncated else result.stdout
        expected = [*task.FAIL_TO_PASS, *task.PASS_TO_PASS]
        statuses = parser_for(setup.log_parser)(test_output, expected)
        pass_to_pass = [name for name in task.PASS_TO_PASS
                        if not any(fnmatch.fnmatchcase(name, glob) for glob in setup.not_graded)]
        if len(pass_to_pass) < len(task.PASS_TO_PASS):
            left = sorted(set(task.PASS_TO_PASS) - set(pass_to_pass))
            log += f"\nnot graded (need a network the sandbox lacks): {', '.join(left)}\n"
        graded = grade(statuses, task.FAIL_TO_PASS, pass_to_pass)
        if result.exit_code == EXIT_TESTS_TIMED_OUT:
            # A run cut short is an error whatever it printed before: never a pass.
            status = EvalStatus.TIMEOUT
        elif not statuses:
            status = EvalStatus.ERROR
        else:
            status = EvalStatus.RESOLVED if graded.resolved else EvalStatus.UNRESOLVED
    else:
        raise SandboxError(
            f"evaluation script ended with unexpected exit code {result.exit_code}: "
            f"{result.stderr[-500:]}"
        )
    return EvaluationOutcome(
        status=status,
        apply_method=apply_method,
        eval_script=script,
        test_output=test_output,
        log=log,
        grade=graded,
        seconds=time.monotonic() - started,
        compute_seconds=sandbox.compute_seconds - compute_before,
    )


def _apply_method(log: str) -> str:
    for line in reversed(log.splitlines()):
        if line.startswith("apply-method: "):
            return line.removeprefix("apply-method: ").strip()
    return ""


def _read_test_output(sandbox: Sandbox) -> str:
    try:
        data = sandbox.read_file(TEST_OUTPUT, max_bytes=MAX_TEST_OUTPUT_BYTES)
    except FileNotFoundError:
        return ""
    except ValueError:
        # Over the cap: the summary that grading reads is at the end, so keep the tail.
        tail = sandbox.exec(f"tail -c {MAX_TEST_OUTPUT_BYTES} {TEST_OUTPUT}", timeout=60)
        return "[output truncated: head dropped]\n" + tail.stdout
    return data.decode("utf-8", "replace")
