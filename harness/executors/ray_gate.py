"""One connection limit and one budget for every Ray worker of a run.

`ModelGate` is a Ray actor (on the driver's node) holding the run's real `Budget`, whose ledger
of spend writes to the run's store (the ledger is the source of truth for spend, as in a local
run), and a semaphore of --max-connections. Workers reach it through `GateBudget`,
`GateLedger` and `GateLimiter`, which have the interfaces agents and the model layer already
use. Every check, every ledger row and every charge is a synchronous call made while the
worker holds its connection slot, so the overshoot bound of a local run holds whichever node
sent a call: a call starts only while the spend is below every limit, and counts as in flight
until the ledger has its cost, so a dollar limit is overshot by at most --max-connections calls.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from harness.models.budget import AttemptBudget, Budget, BudgetExhausted, Limits
from harness.models.ledger import CallEntry, Ledger

# What crosses the wire for a BudgetExhausted: (scope, what, limit, used, message).
Exhausted = tuple[str, str, float, float, str]


def _flatten(error: BudgetExhausted) -> Exhausted:
    return (error.scope, error.what, error.limit, error.used, str(error))


def _rebuild(flat: Exhausted) -> BudgetExhausted:
    scope, what, limit, used, message = flat
    hint = message.split("; ", 1)[1] if "; " in message else ""
    return BudgetExhausted(scope, what, limit, used, hint)  # type: ignore[arg-type]


class ModelGate:
    """The actor's class (wrapped with ray.remote by the executor): thread-safe, since the
    actor serves many workers' calls at once. `db` is the run's store (None: a ledger in
    memory, for a store that only the driver can open)."""

    def __init__(
        self, max_connections: int, max_cost: float | None, per_instance: Limits,
        per_attempt: Limits, db: str | None,
    ) -> None:
        ledger = Ledger()
        if db is not None:
            from harness.store import Store

            ledger = Ledger(Store(db))
        self.budget = Budget(
            max_cost, per_instance=per_instance, per_attempt=per_attempt, ledger=ledger
        )
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._lock = threading.Lock()
        self.open = 0
        self.most_open = 0
        self._attempts: dict[int, AttemptBudget] = {}
        self._keys = itertools.count(1)
        self._stopped = False

    # --- the run's stop flag ---------------------------------------------------------------

    def stop(self) -> None:
        self._stopped = True

    def stopped(self) -> bool:
        return self._stopped

    # --- connections -----------------------------------------------------------------------

    def acquire(self) -> float:
        """Blocks until a connection slot is free; returns the seconds waited."""
        waited_from = time.monotonic()
        self._slots.acquire()
        with self._lock:
            self.open += 1
            self.most_open = max(self.most_open, self.open)
        return time.monotonic() - waited_from

    def release(self) -> None:
        with self._lock:
            self.open -= 1
        self._slots.release()

    # --- the budget and its ledger ---------------------------------------------------------

    def start_attempt(
        self, instance_id: str, limits: Limits | None, run_id: str | None, index: int
    ) -> int:
        attempt = self.budget.start_attempt(instance_id, limits, run_id=run_id, index=index)
        key = next(self._keys)
        with self._lock:
            self._attempts[key] = attempt
        return key

    def limits_dollars(self) -> bool:
        return self.budget.limits_dollars

    def check(self, key: int) -> Exhausted | None:
        try:
            self._attempts[key].check()
        except BudgetExhausted as error:
            return _flatten(error)
        return None

    def begin_call(self, key: int) -> Exhausted | None:
        try:
            self._attempts[key].begin_call()
        except BudgetExhausted as error:
            return _flatten(error)
        return None

    def record(self, entry: CallEntry) -> int:
        return self.budget.ledger.record(entry)

    def call_ended(self, key: int, dollars: float | None, cached: bool, steps: int) -> None:
        self._attempts[key].call_ended(dollars, cached, steps)

    def call_failed(self, key: int) -> None:
        self._attempts[key].call_failed()

    def finish(self, key: int) -> None:
        with self._lock:
            attempt = self._attempts.pop(key, None)
        if attempt is not None:
            attempt.finish()

    def summary(self, run_id: str | None) -> dict[str, Any]:
        summary = self.budget.summary(run_id)
        summary["most_open_connections"] = self.most_open
        return summary


def _get(ref: Any) -> Any:
    import ray

    return ray.get(ref)


class GateLimiter:
    """A ConnectionLimiter whose slots are the cluster's."""

    def __init__(self, gate: Any) -> None:
        self.gate = gate

    @contextmanager
    def slot(self) -> Iterator[None]:
        _get(self.gate.acquire.remote())
        try:
            yield
        finally:
            _get(self.gate.release.remote())


class GateLedger:
    """The run's ledger as seen from a worker: each row is written by the gate."""

    store = None  # a worker never opens the store itself

    def __init__(self, gate: Any) -> None:
        self.gate = gate

    def record(self, entry: CallEntry) -> int:
        return int(_get(self.gate.record.remote(entry)))


class GateAttemptBudget:
    """An AttemptBudget kept by the gate; the attempt's own counters are mirrored here for the
    agent to read."""

    def __init__(
        self, budget: GateBudget, key: int, instance_id: str, run_id: str | None, index: int,
        limits: Limits,
    ) -> None:
        self.budget = budget  # the model layer writes ledger rows through budget.ledger
        self.gate = budget.gate
        self.key = key
        self.instance_id = instance_id
        self.run_id = run_id
        self.index = index
        self.limits = limits
        self.started = time.monotonic()
        self.dollars = 0.0
        self.dollars_known = True
        self.steps = 0
        self.finished = False

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        exhausted = _get(self.gate.check.remote(self.key))
        if exhausted is not None:
            raise _rebuild(exhausted)

    def begin_call(self) -> None:
        exhausted = _get(self.gate.begin_call.remote(self.key))
        if exhausted is not None:
            raise _rebuild(exhausted)

    def call_ended(self, dollars: float | None, cached: bool, steps: int = 1) -> None:
        _get(self.gate.call_ended.remote(self.key, dollars, cached, steps))
        if dollars is None:
            self.dollars_known = False
        else:
            self.dollars += dollars
        self.steps += steps

    def call_failed(self) -> None:
        _get(self.gate.call_failed.remote(self.key))

    def finish(self) -> None:
        if not self.finished:
            self.finished = True
            _get(self.gate.finish.remote(self.key))


class GateBudget:
    """The run's Budget as seen from a worker."""

    def __init__(self, gate: Any, per_attempt: Limits) -> None:
        self.gate = gate
        self.per_attempt = per_attempt
        self.ledger = GateLedger(gate)

    @property
    def limits_dollars(self) -> bool:
        return bool(_get(self.gate.limits_dollars.remote()))

    def summary(self, run_id: str | None = None) -> dict[str, Any]:
        return _get(self.gate.summary.remote(run_id))

    def start_attempt(
        self, instance_id: str, limits: Limits | None = None, run_id: str | None = None,
        index: int = 0,
    ) -> GateAttemptBudget:
        key = _get(self.gate.start_attempt.remote(instance_id, limits, run_id, index))
        return GateAttemptBudget(self, key, instance_id, run_id, index, self.per_attempt)


@dataclass(frozen=True)
class ModelServices:
    """What a worker's agent gets instead of process-local model plumbing."""

    budget: GateBudget
    limiter: GateLimiter


def absorb_summary(budget: Budget, summary: dict[str, Any]) -> None:
    """Copies this invocation's counts from the gate into the driver's Budget, which the run
    records; the run's totals the driver reads from the ledger in the store, which the gate
    wrote."""
    budget.spent = summary["spent_this_invocation"]
    budget.calls = summary["calls_this_invocation"]
    budget.cached_calls = summary["cached_calls"]
    budget.max_in_flight = summary["max_in_flight"]
    budget.largest_call = summary["largest_call"]
    budget.ledger.forget_totals()
    if summary["exhausted"] and budget.exhausted is None and budget.max_cost is not None:
        budget.exhausted = BudgetExhausted(
            "run", "dollars", budget.max_cost, summary["spent"],
            summary["exhausted"].split("; ", 1)[-1],
        )
