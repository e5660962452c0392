"""The sandbox interface: a running, isolated copy of a repository at its base commit.

Every call is bounded in time and in output. A backend must pass tests/test_sandbox_conformance.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from harness.sandboxes.cpu import CpuSample

# The repository lives here inside every sandbox; agents and evaluation scripts rely on it.
TESTBED = "/testbed"


class SandboxError(RuntimeError):
    """The sandbox itself failed (daemon gone, container died): an infrastructure error.

    Work that hits it is retried; it never counts as a failed attempt.
    """


class SandboxTimeout(SandboxError):
    """A command outlived its timeout and was killed, with everything it started."""


class SandboxStarved(SandboxError):
    """A command ran out of time without getting its share of a CPU (a loaded host, not the
    command): retried later, never graded as the command's timeout."""


class ImageBuildError(RuntimeError):
    """An image could not be built (debootstrap failed, an install command failed).

    Unlike SandboxError this is usually not transient: retrying the same build gives the same
    failure, so it is reported to the user rather than retried.
    """


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    # True when output passed the cap and the rest was dropped (the command still ran to its end).
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class Sandbox(Protocol):
    """A running sandbox. Use it as a context manager: leaving the block removes it."""

    def exec(
        self,
        command: str,
        timeout: float = 60.0,
        workdir: str = TESTBED,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> ExecResult:
        """Runs `command` with /bin/sh -c. A timeout kills the whole process tree and returns
        a result with timed_out=True (exit code 124) instead of raising.

        Raises SandboxError when the sandbox itself is unusable.
        """
        ...

    def read_file(self, path: str, max_bytes: int = 1_000_000) -> bytes:
        """Raises FileNotFoundError when absent, ValueError when larger than max_bytes."""
        ...

    def write_file(self, path: str, content: bytes | str) -> None:
        """Creates parent folders as needed."""
        ...

    def diff(self) -> str:
        """The unified diff (git diff, binary-safe) of the testbed against its base commit,
        untracked files included."""
        ...

    def reset(self) -> None:
        """Puts the testbed back exactly as the image holds it: tracked, untracked and ignored
        files alike; also empties /tmp."""
        ...

    def close(self) -> None:
        """Removes the sandbox; safe to call twice."""
        ...

    @property
    def compute_seconds(self) -> float:
        """CPU seconds the sandbox's processes have used so far (what compute dollars bill)."""
        ...

    @property
    def cpu_share(self) -> float:
        """CPUs one test run in this sandbox can use (see sandboxes.cpu.run_share)."""
        ...

    def cpu_sample(self) -> CpuSample:
        """The sandbox's CPU counters now; two samples tell whether a run was starved."""
        ...

    def crowded(self) -> bool:
        """Whether the sandbox's own processes fill half its pids limit or more (a fork bomb):
        then CPU they did not get is the candidate's doing, never a starved host."""
        ...

    def __enter__(self) -> Sandbox: ...

    def __exit__(self, *exc_info: object) -> None: ...
