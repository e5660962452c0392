"""Evaluates one candidate patch for one task in a sandbox and grades the result."""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Sequence
from dataclasses import dataclass

from harness.evaluation import faults, junit
from harness.evaluation.eval_script import (
    EXIT_ENV_FAILED,
    EXIT_PATCH_FAILED,
    EXIT_TEST_PATCH_FAILED,
    EXIT_TESTS_RAN,
    EXIT_TESTS_TIMED_OUT,
    TEST_OUTPUT,
    WORK,
    EvalScriptInputs,
    build_eval_script,
    is_test_file,
    script_shell,
)
from harness.evaluation.grading import Grade, grade
from harness.evaluation.log_parsers import parser_for
from harness.evaluation.oversize import MAX_PATCH_BYTES, is_refused, refusal_message
from harness.evaluation.status import EvalStatus
from harness.evaluation.tamper import FRAMEWORK_REPOS, scan_patch
from harness.patches import touched_files
from harness.sandboxes.base import (
    ExecResult,
    Sandbox,
    SandboxError,
    SandboxStarved,
    SandboxTimeout,
)
from harness.sandboxes.cpu import cpu_use
from harness.tasks import Task

__all__ = ["MAX_PATCH_BYTES", "EvaluationOutcome", "TestSetup", "evaluate"]

MAX_TEST_OUTPUT_BYTES = 4_000_000
MAX_JUNIT_BYTES = 20_000_000


@dataclass(frozen=True)
class TestSetup:
    """How a task's tests run: from its environment spec."""

    __test__ = False  # not a pytest class

    test_cmd: str
    log_parser: str
    test_timeout: float
    # Prebuilt images: shell lines before anything else (conda activation), and the official
    # test directives when they are not the test files themselves (None: the files).
    preamble: str = ""
    # The shell of the evaluation script and the test command: bash on official-layout images.
    shell: str = "sh"
    test_targets: tuple[str, ...] | None = None
    # Arguments of the test command instead of the test patch's files (fail fast's stage 1).
    targets: tuple[str, ...] | None = None
    # On an official-layout image: the official test command (with the official exports) that
    # `test_cmd` may wrap with what only our images have; "" when it is `test_cmd` itself.
    official_cmd: str = ""
    # Globs over test ids that cannot pass in a sandbox without network (the spec's
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
    compute_seconds: float  # CPU seconds of the sandbox, reset included: what is billed
    # Why the candidate looks like it tampers with the test run ("" when it does not): the
    # verdict stands, the flag is shown beside it (see harness.evaluation.tamper and junit).
    suspicion: str = ""
    # What the candidate's code did to end the test run early, when it did.
    fault: str = ""
    cpu_seconds: float | None = None  # CPU seconds of the evaluation script itself
    # 1: decided by the FAIL_TO_PASS tests alone (fail fast); 2: by the full test command.
    decided_by_stage: int | None = None

    @property
    def suspicious(self) -> bool:
        return bool(self.suspicion)


def graded_tests(names: Sequence[str], not_graded: Sequence[str]) -> list[str]:
    """`names` but those a `not_graded` glob matches."""
    return [name for name in names
            if not any(fnmatch.fnmatchcase(name, glob) for glob in not_graded)]


def graded_fail_to_pass(task: Task, setup: TestSetup) -> list[str]:
    """The FAIL_TO_PASS tests that decide: all but the network tests, unless that leaves none
    (then all of them, and a task whose fix only the internet can show does not validate)."""
    return graded_tests(task.FAIL_TO_PASS, setup.not_graded) or list(task.FAIL_TO_PASS)


def _targets(setup: TestSetup) -> list[str] | None:
    """What the test command is given: fail fast's stage-1 targets, else a prebuilt image's
    official directives, else (None) the test patch's files."""
    chosen = setup.targets if setup.targets is not None else setup.test_targets
    return None if chosen is None else list(chosen)


def junit_report_path(task: Task, setup: TestSetup) -> str:
    """Where pytest writes the JUnit report read to flag tampering (a random path), or "" when
    the test command is not pytest or the repository is pytest itself (the framework's own
    repository writes its report with the code under change: no independent signal there)."""
    if task.repo in FRAMEWORK_REPOS or not junit.supports_junit(setup.test_cmd, setup.log_parser):
        return ""
    return junit.random_report_path(WORK)


def script_inputs(task: Task, patch: str, setup: TestSetup, report_path: str) -> EvalScriptInputs:
    """What the evaluation script of `patch` on `task` is made of."""
    return EvalScriptInputs(
        candidate_patch=patch,
        test_patch=task.test_patch,
        test_files=task.test_files,
        candidate_test_files=[path for path in touched_files(patch) if is_test_file(path)],
        test_cmd=setup.test_cmd,
        test_timeout=setup.test_timeout,
        preamble=setup.preamble,
        shell=setup.shell,
        targets=_targets(setup),
        junit_path=report_path,
    )


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
    Raises SandboxError when the sandbox itself fails (the caller retries elsewhere); what
    the candidate's code does to the sandbox's processes is its own `error`, never that.
    """
    started = time.monotonic()
    if not patch.strip() and not run_empty:
        return EvaluationOutcome(EvalStatus.EMPTY_PATCH, "", "", "", "empty patch", None, 0.0, 0.0)
    if is_refused(patch):
        message = refusal_message(patch)
        return EvaluationOutcome(EvalStatus.PATCH_FAILED, "", "", "", message, None, 0.0, 0.0)
    suspicions = scan_patch(patch, task.repo)
    report_path = junit_report_path(task, setup)
    compute_before = sandbox.compute_seconds
    script = build_eval_script(script_inputs(task, patch, setup, report_path))
    sandbox.reset()
    cpu_before = sandbox.cpu_sample()
    try:
        result = sandbox.exec(
            f"{script_shell(script)} -s", timeout=setup.test_timeout + 120, stdin=script
        )
    except SandboxTimeout as error:
        # Only processes that defeat the in-sandbox timeouts (stopped, or the timeout itself
        # killed) outlive the host's deadline: the candidate's doing, graded as a timeout.
        return EvaluationOutcome(
            EvalStatus.TIMEOUT, "", script, "", str(error), None, time.monotonic() - started,
            sandbox.compute_seconds - compute_before, "; ".join(suspicions),
            f"the evaluation outlived its host deadline: {error}",
        )
    cpu = cpu_use(cpu_before, sandbox.cpu_sample(), sandbox.cpu_share)
    timed_out = result.timed_out or result.exit_code == EXIT_TESTS_TIMED_OUT
    if timed_out and cpu.starved and not sandbox.crowded():
        # The host, not the candidate, ran out of time: never a verdict.
        raise SandboxStarved(f"the tests ran out of time starved of CPU: {cpu.describe()}")
    verdict = _verdict(task, setup, sandbox, result, report_path)
    return EvaluationOutcome(
        status=verdict.status,
        apply_method=_apply_method(result.stderr),
        eval_script=script,
        test_output=verdict.test_output,
        log=result.stderr + verdict.log_note,
        grade=verdict.grade,
        seconds=time.monotonic() - started,
        compute_seconds=sandbox.compute_seconds - compute_before,
        suspicion="; ".join([*suspicions, *verdict.suspicions]),
        fault=verdict.fault,
        cpu_seconds=cpu.cpu_seconds,
        decided_by_stage=(
            2 if verdict.test_output or verdict.status is EvalStatus.TIMEOUT else None
        ),
    )


@dataclass(frozen=True)
class _Verdict:
    """What the evaluation script's exit code and output say of the candidate."""

    status: EvalStatus
    test_output: str = ""
    grade: Grade | None = None
    fault: str = ""
    log_note: str = ""
    suspicions: tuple[str, ...] = ()


def _verdict(
    task: Task, setup: TestSetup, sandbox: Sandbox, result: ExecResult, report_path: str
) -> _Verdict:
    """The verdict from the script's exit code (never from sentinel strings in its output).

    Raises SandboxError on an exit code no script of ours gives (the sandbox failed)."""
    code = result.exit_code
    if result.timed_out:
        return _Verdict(EvalStatus.TIMEOUT)
    if code == EXIT_ENV_FAILED:
        # The image's environment, not the candidate: nothing ran (validation shows it, as the
        # gold patch comes out the same).
        return _Verdict(
            EvalStatus.ERROR, fault="the test environment could not be activated (see the log)"
        )
    if code == EXIT_PATCH_FAILED:
        return _Verdict(EvalStatus.PATCH_FAILED)
    if code == EXIT_TEST_PATCH_FAILED:
        return _Verdict(EvalStatus.TEST_PATCH_FAILED)
    if code in (EXIT_TESTS_RAN, EXIT_TESTS_TIMED_OUT):
        return _graded_test_run(task, setup, sandbox, result, report_path)
    if faults.signal_name(code) and faults.sandbox_alive(sandbox):
        return _Verdict(
            EvalStatus.ERROR, test_output=_read_test_output(sandbox),
            fault=faults.killed_script_fault(code),
        )
    raise SandboxError(
        f"evaluation script ended with unexpected exit code {code}: {result.stderr[-500:]}"
    )


def _graded_test_run(
    task: Task, setup: TestSetup, sandbox: Sandbox, result: ExecResult, report_path: str
) -> _Verdict:
    """The tests ran: parse their statuses and grade them as the official harness does."""
    test_output = _read_test_output(sandbox) if result.truncated else result.stdout
    expected = [*task.FAIL_TO_PASS, *task.PASS_TO_PASS]
    statuses = parser_for(setup.log_parser)(test_output, expected)
    fail_to_pass = graded_fail_to_pass(task, setup)
    pass_to_pass = graded_tests(task.PASS_TO_PASS, setup.not_graded)
    left = sorted({*task.FAIL_TO_PASS, *task.PASS_TO_PASS} - {*fail_to_pass, *pass_to_pass})
    note = f"\nnot graded (need a network the sandbox lacks): {', '.join(left)}\n" if left else ""
    graded = grade(statuses, fail_to_pass, pass_to_pass)
    suspicions: tuple[str, ...] = ()
    if report_path:
        contradiction = junit.disagreement(statuses, _read_report(sandbox, report_path), expected)
        suspicions = (contradiction,) if contradiction else ()
    fault = ""
    if result.exit_code == EXIT_TESTS_TIMED_OUT:
        # A run cut short is an error whatever it printed before: never a pass.
        status = EvalStatus.TIMEOUT
    elif not statuses:
        status = EvalStatus.ERROR
        fault = faults.no_tests_fault(result.stderr + note)
    else:
        status = EvalStatus.RESOLVED if graded.resolved else EvalStatus.UNRESOLVED
    return _Verdict(status, test_output, graded, fault, note, suspicions)


def _apply_method(log: str) -> str:
    for line in reversed(log.splitlines()):
        if line.startswith("apply-method: "):
            return line.removeprefix("apply-method: ").strip()
    return ""


def _read_report(sandbox: Sandbox, path: str) -> str | None:
    try:
        return sandbox.read_file(path, max_bytes=MAX_JUNIT_BYTES).decode("utf-8", "replace")
    except (FileNotFoundError, IsADirectoryError):
        return None
    except ValueError:
        return "<report over the size cap>"


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
