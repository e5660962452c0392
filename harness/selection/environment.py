"""The selector's handle on a task's sandbox: `SandboxTestRunner` (harness.selection.base
.TestRunner) runs test files on the base commit or on a candidate, with the environment's test
command and log parser, and stores every run (harness/store/selections.py) so that a rerun only
runs what is missing.

This is the one module of harness/selection that touches a whole task definition: it needs it to
build the task's image and read its environment's test command. The runner it returns keeps
none of it: an instance id, a base commit, a `PublicTestSetup` and a way to borrow a sandbox.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from harness.evaluation.eval_script import APPLY_METHODS, TEST_OUTPUT, WORK
from harness.evaluation.log_parsers import parser_for
from harness.sandboxes.base import TESTBED, Sandbox
from harness.selection.base import BASE, CandidateView, PublicTestSetup, TestRun, TestSuite
from harness.selection.scripts import SCRIPT_TIMEOUT, outcome_statuses
from harness.store import Store
from harness.store.selections import StoredTestRun

Lend = Callable[[], AbstractContextManager[Sandbox]]
STDOUT_TAIL_BYTES = 900_000
# A selector's test run gets the environment's timeout, capped: selection must stay cheaper
# than evaluation.
MAX_TEST_SECONDS = 900.0


class SandboxTestRunner:
    """Runs a selector's tests in the task's sandbox; every run is stored and reused."""

    __test__ = False

    def __init__(
        self, store: Store, instance_id: str, base_commit: str, setup: PublicTestSetup,
        lend: Lend, vcpu_hour_dollars: float = 0.0, log: Callable[[str], None] | None = None,
    ) -> None:
        # Only the two queries of selection test runs, as closures: the runner has no store
        # attribute through which a selector could reach evaluations.
        self._find = lambda *key: store.selection_test_run(*key)
        self._keep = lambda *values: store.save_selection_test_run(*values)
        self.instance_id = instance_id
        self.base_commit = base_commit
        self.setup = setup
        self._lend = lend
        self._price = vcpu_hour_dollars / 3600.0
        self._files: list[str] | None = None
        self._read: dict[str, str] = {}
        self._log = log or (lambda line: None)

    def files(self) -> list[str]:
        if self._files is None:
            with self._lend() as sandbox:
                result = sandbox.exec("git ls-files", timeout=120)
            self._files = [line for line in result.stdout.splitlines() if line]
        return self._files

    def read(self, path: str) -> str:
        if path not in self._read:
            with self._lend() as sandbox:
                data = sandbox.read_file(f"{TESTBED}/{path}", max_bytes=2_000_000)
            self._read[path] = data.decode("utf-8", "replace")
        return self._read[path]

    def grep(self, pattern: str, paths: list[str]) -> list[str]:
        """Of `paths`, those whose text matches the extended regular expression at the base
        commit (`git grep -l -E`)."""
        if not paths:
            return []
        quoted = " ".join(shlex.quote(path) for path in paths)
        with self._lend() as sandbox:
            result = sandbox.exec(
                f"git grep -l -E {shlex.quote(pattern)} -- {quoted}", timeout=120
            )
        return [line for line in result.stdout.splitlines() if line]

    def patched(self, candidate: CandidateView, paths: list[str]) -> dict[str, str]:
        """The text of `paths` once the candidate's patch is applied (absent ones left out):
        how a candidate's own test files are taken to run against the others."""
        wanted = sorted(set(paths))
        if not wanted:
            return {}
        out: dict[str, str] = {}
        with self._lend() as sandbox:
            sandbox.reset()
            try:
                if not self._apply(sandbox, candidate.patch):
                    return {}
                for path in wanted:
                    try:
                        data = sandbox.read_file(f"{TESTBED}/{path}", max_bytes=2_000_000)
                    except (FileNotFoundError, ValueError, IsADirectoryError):
                        continue
                    out[path] = data.decode("utf-8", "replace")
            finally:
                sandbox.reset()
        return out

    def run(self, subject: CandidateView | None, suite: TestSuite) -> TestRun:
        key = BASE if subject is None else subject.patch_hash
        stored = self._find(self.instance_id, self.base_commit, key, suite.digest)
        if stored is not None:
            return TestRun(key, suite.digest, stored.statuses, stored.problem, stored.seconds,
                           stored.dollars, reused=True)
        run, compute = self._run_now(subject, suite, key)
        self._keep(
            self.instance_id, self.base_commit, suite.name, list(suite.targets),
            StoredTestRun(key, suite.digest, run.statuses, run.problem, run.seconds,
                          run.dollars),
            compute,
        )
        self._log(f"{self.instance_id}: {suite.name} on {key[:12]}: {len(run.passed())} passed, "
                  f"{len(run.failed())} failed{' (' + run.problem + ')' if run.problem else ''} "
                  f"in {run.seconds:.1f}s")
        return run

    def _apply(self, sandbox: Sandbox, patch: str) -> bool:
        text = patch if patch.endswith("\n") else patch + "\n"
        sandbox.write_file(f"{WORK}/candidate.diff", text)
        tries = " || ".join(f"{command} {WORK}/candidate.diff" for _, command in APPLY_METHODS)
        result = sandbox.exec(
            f"git config --global --add safe.directory '*' 2>/dev/null; ({tries}) >/dev/null 2>&1"
            " && find . -path ./.git -prune -o \\( -name '*.rej' -o -name '*.orig' \\) -print"
            " | xargs -r rm -f",
            timeout=120,
        )
        return result.exit_code == 0

    def _run_now(
        self, subject: CandidateView | None, suite: TestSuite, key: str
    ) -> tuple[TestRun, float]:
        started = time.monotonic()
        with self._lend() as sandbox:
            compute_before = sandbox.compute_seconds
            sandbox.reset()
            try:
                if subject is not None and not self._apply(sandbox, subject.patch):
                    seconds = time.monotonic() - started
                    compute = sandbox.compute_seconds - compute_before
                    return TestRun(key, suite.digest, {}, "patch_failed", seconds,
                                   compute * self._price), compute
                for path, content in suite.files:
                    sandbox.write_file(f"{TESTBED}/{path}", content)
                if suite.command:
                    statuses = self._run_script(sandbox, suite.command)
                    compute = sandbox.compute_seconds - compute_before
                    seconds = time.monotonic() - started
                    return TestRun(key, suite.digest, statuses, "", seconds,
                                   compute * self._price), compute
                timeout = max(1, int(min(self.setup.test_timeout, MAX_TEST_SECONDS)))
                targets = " ".join(shlex.quote(path) for path in suite.targets)
                if "pytest" in self.setup.test_cmd:
                    # One file that does not import must not hide the other files' tests.
                    targets = f"--continue-on-collection-errors {targets}"
                script = (
                    f"{self.setup.preamble}\ncd {TESTBED}\nmkdir -p {WORK}\n"
                    f"timeout -k 10 {timeout} sh -c "
                    f"{shlex.quote(self.setup.test_cmd + ' ' + targets)} > {TEST_OUTPUT} 2>&1\n"
                    f"code=$?\ntail -c {STDOUT_TAIL_BYTES} {TEST_OUTPUT}\nexit $code\n"
                )
                result = sandbox.exec("sh -s", timeout=timeout + 120, stdin=script)
                output = result.stdout
                statuses = {
                    name: status.value
                    for name, status in parser_for(self.setup.log_parser)(output, ()).items()
                    if name.strip("_")  # a report's `____ name ____` rule is not a test
                }
                problem = ""
                if result.timed_out or result.exit_code in (124, 137):
                    problem = "timeout"
                elif not statuses:
                    problem = "error"
                compute = sandbox.compute_seconds - compute_before
            finally:
                sandbox.reset()
        seconds = time.monotonic() - started
        return TestRun(key, suite.digest, statuses, problem, seconds, compute * self._price), \
            compute


    def _run_script(self, sandbox: Sandbox, command: str) -> dict[str, str]:
        """Runs a selector's script (harness.selection.scripts) in the environment: its
        outcome as one pseudo-test."""
        script = (
            f"{self.setup.preamble}\ncd {TESTBED}\n"
            f"timeout -k 5 {SCRIPT_TIMEOUT} sh -c {shlex.quote(command)} 2>&1\n"
        )
        result = sandbox.exec("sh -s", timeout=SCRIPT_TIMEOUT + 60, stdin=script)
        timed_out = result.timed_out or result.exit_code in (124, 137)
        return outcome_statuses(result.stdout, result.exit_code, timed_out)


class TaskSandbox:
    """One warm sandbox of a task's image, started when a selector first needs it and removed
    at the end of the task's selection; held under a host slot while it lives."""

    def __init__(self, start: Callable[[], Sandbox], hold=None) -> None:
        self._start = start
        self._hold = hold  # a context manager factory taking a host slot, or None
        self._sandbox: Sandbox | None = None
        self._held = None

    @contextmanager
    def lend(self) -> Iterator[Sandbox]:
        if self._sandbox is None:
            if self._hold is not None:
                self._held = self._hold()
                self._held.__enter__()
            self._sandbox = self._start()
        yield self._sandbox

    def close(self) -> None:
        if self._sandbox is not None:
            self._sandbox.close()
            self._sandbox = None
        if self._held is not None:
            self._held.__exit__(None, None, None)
            self._held = None


def public_setup(setup) -> PublicTestSetup:
    """The parts of an environment's TestSetup a selector may use: not the official test
    directives, the fail-fast targets or the network-test globs (all derived from the task's
    hidden tests)."""
    return PublicTestSetup(setup.test_cmd, setup.log_parser, setup.test_timeout, setup.preamble)


def runner_for_task(
    store: Store, run_id: str, instance_id: str, sandboxes, vcpu_hour_dollars: float,
    log: Callable[[str], None] | None = None,
) -> tuple[SandboxTestRunner, TaskSandbox]:
    """The test runner of one task of a stored run, and the sandbox holder to close after.
    `sandboxes` is a harness.sandboxes.factory.SandboxFactory. Raises SpecError or
    ImageBuildError when the task's environment cannot be had."""
    task = store.selection_task(run_id, instance_id)
    if task is None:
        raise LookupError(f"run {run_id} has no task {instance_id}")
    image = sandboxes.prepare_image(task)
    setup = public_setup(sandboxes.test_setup(task))
    hold = (lambda: sandboxes.host_slots.hold(1)) if sandboxes.host_slots else None
    holder = TaskSandbox(lambda: sandboxes.start(image), hold)
    runner = SandboxTestRunner(store, task.instance_id, task.base_commit, setup, holder.lend,
                               vcpu_hour_dollars, log)
    del task
    return runner, holder
