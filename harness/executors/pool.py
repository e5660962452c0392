"""Sandboxes of one image kept warm and lent out, and the one retry rule for work on them.

Used by the executors' units (attempts, evaluations) and by `validate` alike: a try that fails
on the infrastructure is made again on a fresh sandbox, up to INFRA_TRIES; a try the host
starved (too busy to run the tests in time; the sandbox is sound) is made again after a wait.
Neither is ever a verdict.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from harness.sandboxes.base import Sandbox, SandboxError, SandboxStarved

T = TypeVar("T")

# Tries of one attempt or evaluation on a fresh sandbox before it is recorded as an
# infrastructure error (and left for the next invocation).
INFRA_TRIES = 3


class SandboxPool:
    """Up to `size` sandboxes of one image, started when first needed and kept warm.

    `exclusive` pools lend each sandbox to one user at a time (evaluations, agents that change
    the tree); a shared pool of one serves every reader at once (agents that only read)."""

    def __init__(self, start: Callable[[], Sandbox], size: int, exclusive: bool) -> None:
        self._start = start
        self.size = max(1, size) if exclusive else 1
        self.exclusive = exclusive
        self._idle: list[Sandbox] = []
        self._all: list[Sandbox] = []
        self._dirty: set[int] = set()
        self._free = threading.Semaphore(self.size)
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        # For a shared sandbox: its compute already charged to an attempt.
        self._charged: dict[int, float] = {}

    @contextmanager
    def lend(self) -> Iterator[Sandbox]:
        """A sandbox at the base commit. A SandboxError inside the block discards it."""
        if self.exclusive:
            self._free.acquire()
        sandbox: Sandbox | None = None
        try:
            sandbox = self._take()
            yield sandbox
        except SandboxError:
            if sandbox is not None:
                self._discard(sandbox)
                sandbox = None
            raise
        finally:
            if self.exclusive:
                if sandbox is not None:
                    with self._lock:
                        self._idle.append(sandbox)
                self._free.release()

    def _take(self) -> Sandbox:
        if not self.exclusive:
            # One sandbox for all readers: the first to need it starts it, the others wait.
            with self._start_lock:
                with self._lock:
                    if self._all:
                        return self._all[0]
                sandbox = self._start()
                with self._lock:
                    self._all.append(sandbox)
                return sandbox
        with self._lock:
            sandbox = self._idle.pop() if self._idle else None
        if sandbox is None:
            sandbox = self._start()
            with self._lock:
                self._all.append(sandbox)
        elif id(sandbox) in self._dirty:
            sandbox.reset()
            self._dirty.discard(id(sandbox))
        return sandbox

    def mark_dirty(self, sandbox: Sandbox) -> None:
        with self._lock:
            self._dirty.add(id(sandbox))

    def uncharged_compute(self, sandbox: Sandbox) -> float:
        """The sandbox's compute not yet charged to any attempt: attempts sharing one sandbox
        split its compute among them instead of each counting all of it."""
        with self._lock:
            total = sandbox.compute_seconds
            charged = self._charged.get(id(sandbox), 0.0)
            self._charged[id(sandbox)] = total
            return max(0.0, total - charged)

    def _discard(self, sandbox: Sandbox) -> None:
        with self._lock:
            if sandbox in self._all:
                self._all.remove(sandbox)
            self._dirty.discard(id(sandbox))
            self._charged.pop(id(sandbox), None)
        sandbox.close()

    def close(self) -> None:
        with self._lock:
            sandboxes, self._all, self._idle = self._all, [], []
        for sandbox in sandboxes:
            sandbox.close()


class StopFlag:
    """The Event face of a `stopped()` callable, for waits that should end when the run stops."""

    def __init__(self, stopped: Callable[[], bool]) -> None:
        self.stopped = stopped

    def is_set(self) -> bool:
        return self.stopped()

    def wait(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.stopped() and time.monotonic() < deadline:
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        return self.stopped()


def with_retries(
    pool: SandboxPool, work: Callable[[Sandbox], T], *, what: str,
    stopped: Callable[[], bool], starved_wait: float, note: Callable[[str], None],
    note_failures: bool = False,
) -> tuple[T | None, str]:
    """`work` on a sandbox lent by `pool`, tried up to INFRA_TRIES times. Returns its result,
    or None and the last error when every try failed on the infrastructure or the job stopped
    (checked between tries, and during a wait). `what` starts each note (e.g. the instance id);
    `note_failures` also notes each sandbox failure, not only starved tries."""
    last_error = ""
    for number in range(INFRA_TRIES):
        if number and stopped():
            return None, last_error or "stopped"
        try:
            with pool.lend() as sandbox:
                return work(sandbox), ""
        except SandboxStarved as error:
            last_error = f"{type(error).__name__}: {error}"
            note(f"{what}: {error}; retrying in {starved_wait:.0f} s")
            if StopFlag(stopped).wait(starved_wait):
                return None, last_error
        except SandboxError as error:
            last_error = f"{type(error).__name__}: {error}"
            if note_failures and not stopped():
                note(f"{what}: sandbox failed, retrying: {str(error)[:300]}")
    return None, last_error
