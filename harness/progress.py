"""The one progress line of a long job (`run`, `validate`): a tqdm bar on stderr whose postfix
says what the job wants said, how many workers wait for a host sandbox slot, and messages
written above it.

Thread-safe; redraws at most twice a second, so a log file of the job stays readable. Stdout is
left to the job's report (`--json`, the validation table)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import datetime

from tqdm import tqdm


def clock() -> str:
    return datetime.now().strftime("%H:%M:%S")


class ProgressLine:
    """`status()` gives the postfix (called under the lock); `stamped` starts every written
    line with the time of day."""

    def __init__(
        self, total: int, unit: str, initial: int = 0, stamped: bool = False,
        status: Callable[[], str] = lambda: "",
    ) -> None:
        self.bar = tqdm(
            total=total, initial=initial, unit=unit, dynamic_ncols=True, mininterval=0.5
        )
        self.lock = threading.Lock()
        self.stamped = stamped
        self.status = status
        self.waiting = 0  # workers waiting for a host sandbox slot
        self.refresh(redraw=False)

    def refresh(self, redraw: bool = False, extra: str = "") -> None:
        """Sets the postfix from `status()` (the caller holds the lock, or nobody else can)."""
        parts = [part for part in (self.status(), extra) if part]
        text = "; ".join(parts)
        if self.waiting:
            text += f", {self.waiting} waiting for a sandbox slot" if text else (
                f"{self.waiting} waiting for a sandbox slot")
        self.bar.set_postfix_str(text, refresh=redraw)

    def set_waiting(self, waiting: int) -> None:
        """HostSlots' `on_wait`."""
        with self.lock:
            self.waiting = waiting
            self.refresh(redraw=True)

    def advance(self, count: int = 1) -> None:
        with self.lock:
            self.bar.update(count)
            self.refresh()

    def expect(self, count: int) -> None:
        """More steps than first counted."""
        with self.lock:
            self.bar.total += count
            self.bar.refresh()

    def write(self, message: str) -> None:
        with self.lock:
            tqdm.write(f"{clock()} {message}" if self.stamped else message, file=sys.stderr)

    def notice(self, message: str) -> None:
        """A state of the whole job (e.g. the model's rate limit), shown on the bar itself."""
        with self.lock:
            self.refresh(redraw=True, extra=message)
            tqdm.write(message, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()
