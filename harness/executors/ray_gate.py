"""One connection limit and one budget ledger for every Ray worker of a run.

`ModelGate` is a Ray actor (on the driver's node) holding the run's real `Budget` and a
semaphore of --max-connections; workers reach it through `GateBudget` and `GateLimiter`, which
have the interfaces agents and the model layer already use. Every check and every charge is a
synchronous call, so the overshoot bound of a local run holds: a limit is checked before each
call and a call sent is paid, whichever node sent it.
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
    actor serves many workers' calls at once."""

    def __init__(
        self, max_connections: int, max_cost: float | None, per_instance: Limits,
        per_attempt: Limits, spent: float,
    ) -> None:
        self.budget = Budget(max_cost, per_instance=per_instance, per_attempt=per_attempt)
        self.budget.spent = spent
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

    # --- the budget ------------------------------------------------------------------------

    def start_attempt(self, instance_id: str, limits: Limits | None) -> int:
        attempt = self.budget.start_attempt(instance_id, limits)
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

    def call_started(self, key: int) -> None:
        self._attempts[key].call_started()

    def call_ended(self, key: int, dollars: float | None, cached: bool, steps: int) -> None:
        self._attempts[key].call_ended(dollars, cached, steps)

    def call_failed(self, key: int) -> None:
        self._attempts[key].call_failed()

    def finish(self, key: int) -> None:
        with self._lock:
            attempt = self._attempts.pop(key, None)
        if attempt is not None:
            attempt.finish()

    def summary(self) -> dict[str, Any]:
        summary = self.budget.summary()
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


class GateAttemptBudget:
    """An AttemptBudget kept by the gate; the attempt's own counters are mirrored here for the
    agent to read."""

    def __init__(self, gate: Any, key: int, instance_id: str, limits: Limits) -> None:
        self.gate = gate
        self.key = key
        self.instance_id = instance_id
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

    def call_started(self) -> None:
        _get(self.gate.call_started.remote(self.key))

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

    @property
    def limits_dollars(self) -> bool:
        return bool(_get(self.gate.limits_dollars.remote()))

    def summary(self) -> dict[str, Any]:
        return _get(self.gate.summary.remote())

    def start_attempt(self, instance_id: str, limits: Limits | None = None) -> GateAttemptBudget:
        key = _get(self.gate.start_attempt.remote(instance_id, limits))
        effective = self.per_attempt.tighter(limits) if limits else self.per_attempt
        return GateAttemptBudget(self.gate, key, instance_id, effective)


@dataclass(frozen=True)
class ModelServices:
    """What a worker's agent gets instead of process-local model plumbing."""

    budget: GateBudget
    limiter: GateLimiter


def absorb_summary(budget: Budget, summary: dict[str, Any]) -> None:
    """Copies what the gate's ledger spent into the driver's Budget, which the run records."""
    budget.spent = summary["spent"]
    budget.calls = summary["calls"]
    budget.cached_calls = summary["cached_calls"]
    budget.max_in_flight = summary["max_in_flight"]
    if summary["exhausted"] and budget.exhausted is None and budget.max_cost is not None:
        budget.exhausted = BudgetExhausted(
            "run", "dollars", budget.max_cost, budget.spent,
            summary["exhausted"].split("; ", 1)[-1],
        )
