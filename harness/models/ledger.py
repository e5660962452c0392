"""The ledger of spend, as the model layer and the budgets see it.

Every model call is written once, as it happens: a billed answer, a failed try (billed
nothing) or an answer from the response cache (billed nothing now; what it cost when made is
kept beside it). Each row names the run, the task and the attempt indices its samples were
asked for. Budgets read their totals from here, so they hold across invocations: a resumed
run starts from what the store says it already spent.

Without a store (a library user calling an agent directly) the ledger keeps its rows'
totals in memory only.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the store is imported only by a ledger that has one
    from harness.store import Store


@dataclass(frozen=True)
class SampleRef:
    """One sample an attempt used: position `position` of ledger call `call_id`."""

    call_id: int
    position: int


@dataclass(frozen=True)
class CallEntry:
    run_id: str | None
    instance_id: str
    model: str
    attempt_indices: list[int]
    n: int
    samples: int
    outcome: str  # ok, error, cached
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    dollars: float | None = 0.0
    dollars_when_made: float | None = None
    cache_key: str = ""
    http_status: int | None = None
    seconds: float = 0.0


@dataclass
class _Total:
    dollars: float = 0.0
    calls: int = 0


@dataclass
class Ledger:
    store: Store | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _totals: dict[tuple[str | None, str | None], _Total] = field(default_factory=dict)
    _next_id: int = 0

    def record(self, entry: CallEntry) -> int:
        """Writes the call and returns its ledger id. The totals are loaded before the write,
        under one lock, so no call is counted twice."""
        keys = ((entry.run_id, None), (entry.run_id, entry.instance_id))
        with self._lock:
            totals = [self._total_locked(key) for key in keys]
            if self.store is not None:
                call_id = self.store.add_call(vars(entry))
            else:
                self._next_id += 1
                call_id = -self._next_id  # in memory only: never claimed in a store
            if entry.outcome != "error":
                for total in totals:
                    total.dollars += entry.dollars or 0.0
                    total.calls += 1
        return call_id

    def forget_totals(self) -> None:
        """Drops the totals read so far: another process (a Ray executor's gate) wrote calls
        to the same store, so they are read again when next asked for."""
        with self._lock:
            if self.store is not None:
                self._totals.clear()

    def spent(self, run_id: str | None, instance_id: str | None = None) -> tuple[float, int]:
        """(dollars billed, calls answered) so far for the run, or one task of it."""
        with self._lock:
            total = self._total_locked((run_id, instance_id))
            return total.dollars, total.calls

    def _total_locked(self, key: tuple[str | None, str | None]) -> _Total:
        total = self._totals.get(key)
        if total is None:
            total = _Total()
            run_id, instance_id = key
            if self.store is not None and run_id is not None:
                total.dollars, total.calls = self.store.billed(run_id, instance_id)
            self._totals[key] = total
        return total
