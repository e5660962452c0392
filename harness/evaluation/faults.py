"""Telling the candidate's faults from the infrastructure's.

A candidate's code runs as root inside its sandbox and can kill every process there
(`os.kill(-1, SIGKILL)`), its own shell, or the interpreter. None of that is the
infrastructure's fault, and retrying it gives the same end; only a sandbox that is gone (its
container or the daemon failed) is an infrastructure error. The sandbox's init survives such
kills (see harness.sandboxes.docker_sandbox), so a live sandbox after a killed script proves
that the candidate did it.
"""

from __future__ import annotations

import re
import signal

from harness.sandboxes.base import Sandbox, SandboxError

_TEST_EXIT = re.compile(r"^test-exit-code: (-?\d+) after (\d+)s$", re.MULTILINE)


def signal_name(exit_code: int) -> str:
    """'SIGKILL' for 137 (a shell's 128 + signal number); '' for an ordinary exit code."""
    if exit_code <= 128 or exit_code > 128 + 64:
        return ""
    try:
        return signal.Signals(exit_code - 128).name
    except ValueError:
        return f"signal {exit_code - 128}"


def describe_exit(exit_code: int) -> str:
    name = signal_name(exit_code)
    return f"exit code {exit_code} (killed by {name})" if name else f"exit code {exit_code}"


def sandbox_alive(sandbox: Sandbox) -> bool:
    """True when the sandbox still runs commands."""
    try:
        return sandbox.exec("true", timeout=30).exit_code == 0
    except SandboxError:
        return False


def killed_script_fault(exit_code: int) -> str:
    return (
        f"the evaluation script was killed from inside the sandbox ({describe_exit(exit_code)}) "
        "while the sandbox stayed up: the candidate's code killed its processes"
    )


def test_command_exit(log: str) -> int | None:
    """The test command's exit code, as the evaluation script logged it."""
    found = _TEST_EXIT.findall(log)
    return int(found[-1][0]) if found else None


def no_tests_fault(log: str) -> str:
    """What happened when a test run reported no test at all."""
    code = test_command_exit(log)
    if code is None:
        return "the test run reported no test"
    text = f"the test command ended with {describe_exit(code)} before reporting any test"
    if code == 0 or signal_name(code):
        # A test runner that ran nothing does not exit 0, and one killed reports nothing.
        text += " (the interpreter was ended early, or its shell killed)"
    return text
