"""One budget of sandboxes for the whole host, shared by every harness process on it.

`--max-sandboxes` says how many tasks one process works on at once; on a machine where several
runs go on together, that alone oversubscribes the CPUs many times over. The host's budget is
a fixed set of slot files under the cache directory: holding a slot is holding an exclusive
flock on its file. The kernel drops a lock when its holder dies, so a crashed run never leaks a
slot, and no daemon or shared memory is needed.

A worker takes every slot it will need at once (a task with an agent sandbox and an evaluation
sandbox needs two), or none: two workers that each hold one slot and wait for a second would
wait forever.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from harness.locks import default_cache_dir

HOST_LIMIT_ENV = "HARNESS_HOST_MAX_SANDBOXES"


class HostLimitError(ValueError):
    """The host limit given is not a positive whole number."""


def host_limit(requested: int | None = None) -> int:
    """The host's sandbox budget: `requested`, else $HARNESS_HOST_MAX_SANDBOXES, else the CPU
    count. Raises HostLimitError on a value below 1 or not a number."""
    if requested is None:
        text = os.environ.get(HOST_LIMIT_ENV, "").strip()
        if text:
            try:
                requested = int(text)
            except ValueError:
                raise HostLimitError(f"{HOST_LIMIT_ENV}={text!r} is not a whole number") from None
    if requested is None:
        return max(1, os.cpu_count() or 1)
    if requested < 1:
        raise HostLimitError(f"the host limit of sandboxes must be at least 1, not {requested}")
    return requested


def default_slots_dir() -> Path:
    return default_cache_dir() / "locks" / "sandbox-slots"


class HostSlots:
    """The host's sandbox slots, as seen from this process (thread-safe)."""

    def __init__(self, limit: int, folder: Path | None = None, poll_seconds: float = 0.5) -> None:
        self.limit = limit
        self.folder = folder or default_slots_dir()
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._waiting = 0
        # Called with how many of this process's workers wait for slots, whenever it changes.
        self.on_wait: Callable[[int], None] | None = None

    @property
    def waiting(self) -> int:
        return self._waiting

    @contextmanager
    def hold(self, count: int = 1, stop: threading.Event | None = None) -> Iterator[bool]:
        """Holds `count` slots (at most the limit) for the block; yields False, holding none,
        when `stop` is set before they are free."""
        count = max(1, min(count, self.limit))
        self.folder.mkdir(parents=True, exist_ok=True)
        handles = self._try_take(count)
        if handles is None:
            self._note_waiting(+1)
            try:
                while handles is None:
                    if stop is not None and stop.wait(self.poll_seconds):
                        break
                    if stop is None:
                        time.sleep(self.poll_seconds)
                    handles = self._try_take(count)
            finally:
                self._note_waiting(-1)
        try:
            yield handles is not None
        finally:
            for handle in handles or []:
                handle.close()  # closing the file releases its lock

    def _try_take(self, count: int) -> list[IO[str]] | None:
        taken: list[IO[str]] = []
        for number in range(self.limit):
            handle = open(self.folder / f"slot-{number}.lock", "a")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            taken.append(handle)
            if len(taken) == count:
                return taken
        for handle in taken:
            handle.close()
        return None

    def _note_waiting(self, change: int) -> None:
        with self._lock:
            self._waiting += change
            waiting = self._waiting
        if self.on_wait is not None:
            self.on_wait(waiting)
