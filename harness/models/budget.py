"""Hard budgets in dollars, steps (model calls) and seconds, for the run, each instance and
each attempt. Thread-safe: worker threads share one `Budget`.

Dollar and step totals of the run and of each instance are read from the ledger of spend
(harness.models.ledger), so they hold across invocations: a resumed run, or the same command
run again, starts from what the store says was already spent.

Limits are checked before every model call, and the check and the count of calls in flight
are one step under one lock: a call starts only while the spend is below every limit. A call
already sent is let finish and paid, so a run overshoots a dollar limit by less than the cost
of the calls in flight when the limit was crossed: at most `--max-connections` calls.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.models.ledger import Ledger

Scope = Literal["run", "instance", "attempt", "agent"]


class BudgetExhausted(Exception):
    """A limit is reached. Scope "agent" (the agent definition's own step/cost/time limit)
    ends one attempt as the agent's failure; "attempt" (--attempt-max-*) cuts one attempt;
    "instance" stops one task's attempts; "run" stops the whole run. An attempt cut by a
    run, instance or attempt budget is stored as `budget_cut`: not counted, made again when
    the budget allows."""

    def __init__(self, scope: Scope, what: str, limit: float, used: float, hint: str) -> None:
        self.scope = scope
        self.what = what
        self.limit = limit
        self.used = used
        unit = "$" if what == "dollars" else ""
        shown = f"{unit}{used:.4f}" if what == "dollars" else f"{used:g}"
        limit_shown = f"{unit}{limit:.4f}" if what == "dollars" else f"{limit:g}"
        # The definition's limit is a per-attempt limit too; the hint says whose it is.
        label = "attempt" if scope == "agent" else scope
        super().__init__(
            f"{label} budget exhausted: {what} used {shown} of {limit_shown}; {hint}"
        )


@dataclass(frozen=True)
class Limits:
    """None means no limit."""

    dollars: float | None = None
    steps: int | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("dollars", "steps", "seconds"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"a {name} limit must be positive, not {value}")

    def any_dollars(self) -> bool:
        return self.dollars is not None

    def tighter(self, other: Limits) -> Limits:
        """The stricter of two limit sets (a CLI limit and an agent definition's limit)."""

        def low(a: Any, b: Any) -> Any:
            return b if a is None else a if b is None else min(a, b)

        return Limits(low(self.dollars, other.dollars), low(self.steps, other.steps),
                      low(self.seconds, other.seconds))


@dataclass
class _Tally:
    seconds: float = 0.0  # finished attempts only; running ones are added when checked
    running_since: dict[int, float] = field(default_factory=dict)


_HINTS = {
    "run": "the run stops; rerun with a larger --max-cost to go on (done work is kept)",
    "instance": "no more attempts on this instance; raise the --instance-* limits to go on",
    "attempt": "the attempt is cut; rerun with larger --attempt-* limits to make it again",
    "agent": "the attempt ends (the agent definition's own limit; counted as its failure)",
}


class Budget:
    """Run, per-instance and per-attempt limits; spend comes from the ledger."""

    def __init__(
        self,
        max_cost: float | None = None,
        per_instance: Limits | None = None,
        per_attempt: Limits | None = None,
        ledger: Ledger | None = None,
    ) -> None:
        if max_cost is not None and max_cost <= 0:
            raise ValueError(f"--max-cost must be positive, not {max_cost}")
        self.max_cost = max_cost
        self.per_instance = per_instance or Limits()
        self.per_attempt = per_attempt or Limits()
        self.ledger = ledger or Ledger()
        self._lock = threading.Lock()
        # This invocation only (the ledger holds every invocation's).
        self.spent = 0.0
        self.calls = 0
        self.cached_calls = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.largest_call = 0.0
        self._instances: dict[tuple[str | None, str], _Tally] = {}
        self._next_attempt_id = 0
        # Set once when the run limit is reached, so the report can say why the run stopped.
        self.exhausted: BudgetExhausted | None = None

    @property
    def limits_dollars(self) -> bool:
        return (
            self.max_cost is not None
            or self.per_instance.dollars is not None
            or self.per_attempt.dollars is not None
        )

    def start_attempt(
        self, instance_id: str, limits: Limits | None = None, run_id: str | None = None,
        index: int = 0,
    ) -> AttemptBudget:
        """`limits` are the agent definition's own per-attempt limits (scope "agent"); the
        budget's --attempt-* limits apply beside them (scope "attempt")."""
        with self._lock:
            self._next_attempt_id += 1
            attempt_id = self._next_attempt_id
            self._instances.setdefault((run_id, instance_id), _Tally()).running_since[
                attempt_id
            ] = time.monotonic()
        return AttemptBudget(self, run_id, instance_id, index, attempt_id, limits or Limits())

    def check_run(self, run_id: str | None = None) -> None:
        with self._lock:
            self._check_run_locked(run_id)

    def _check_run_locked(self, run_id: str | None) -> None:
        if self.exhausted is not None:
            raise self.exhausted
        if self.max_cost is None:
            return
        spent, _ = self.ledger.spent(run_id)
        if spent >= self.max_cost:
            self.exhausted = BudgetExhausted(
                "run", "dollars", self.max_cost, spent, _HINTS["run"]
            )
            raise self.exhausted

    def _check_instance_locked(self, run_id: str | None, instance_id: str) -> None:
        limits = self.per_instance
        if limits.dollars is None and limits.steps is None and limits.seconds is None:
            return
        dollars, steps = self.ledger.spent(run_id, instance_id)
        tally = self._instances.get((run_id, instance_id), _Tally())
        now = time.monotonic()
        seconds = tally.seconds + sum(now - start for start in tally.running_since.values())
        for what, limit, used in (
            ("dollars", limits.dollars, dollars),
            ("steps", limits.steps, steps),
            ("seconds", limits.seconds, seconds),
        ):
            if limit is not None and used >= limit:
                raise BudgetExhausted("instance", what, limit, used, _HINTS["instance"])

    def summary(self, run_id: str | None = None) -> dict[str, Any]:
        """What the run stores about its budget."""
        run_spent, run_calls = self.ledger.spent(run_id)
        with self._lock:
            return {
                "max_cost": self.max_cost,
                "per_instance": vars(self.per_instance),
                "per_attempt": vars(self.per_attempt),
                "spent": run_spent,
                "spent_this_invocation": self.spent,
                "calls": run_calls,
                "calls_this_invocation": self.calls,
                "cached_calls": self.cached_calls,
                "max_in_flight": self.max_in_flight,
                "largest_call": self.largest_call,
                "exhausted": str(self.exhausted) if self.exhausted else None,
            }


class AttemptBudget:
    """One attempt's view of the budget; the model layer calls `begin_call()` before every
    model call and `call_ended()` after it; agents may call `check()` before other work."""

    def __init__(
        self, budget: Budget, run_id: str | None, instance_id: str, index: int,
        attempt_id: int, agent_limits: Limits,
    ) -> None:
        self.budget = budget
        self.run_id = run_id
        self.instance_id = instance_id
        self.index = index
        self.limits = budget.per_attempt
        self.agent_limits = agent_limits
        self._attempt_id = attempt_id
        self.started = time.monotonic()
        self.dollars = 0.0
        self.dollars_known = True
        self.steps = 0
        self.finished = False

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def check(self) -> None:
        """Raises BudgetExhausted when any limit (run, instance, attempt, agent) is reached."""
        with self.budget._lock:
            self._check_locked()

    def begin_call(self) -> None:
        """check() and counting the call in flight, as one step."""
        budget = self.budget
        with budget._lock:
            self._check_locked()
            budget.in_flight += 1
            budget.max_in_flight = max(budget.max_in_flight, budget.in_flight)

    def _check_locked(self) -> None:
        self.budget._check_run_locked(self.run_id)
        self.budget._check_instance_locked(self.run_id, self.instance_id)
        for scope, limits in (("attempt", self.limits), ("agent", self.agent_limits)):
            for what, limit, used in (
                ("dollars", limits.dollars, self.dollars),
                ("steps", limits.steps, self.steps),
                ("seconds", limits.seconds, self.seconds),
            ):
                if limit is not None and used >= limit:
                    raise BudgetExhausted(scope, what, limit, used, _HINTS[scope])  # type: ignore[arg-type]

    def call_ended(self, dollars: float | None, cached: bool, steps: int = 1) -> None:
        """Counts a finished call against this attempt (the ledger already holds it for the
        run and the instance). Unknown dollars (None) are not added: a budget in dollars is
        refused at start for unpriced models."""
        budget = self.budget
        with budget._lock:
            if not cached:
                budget.in_flight = max(0, budget.in_flight - 1)
            budget.calls += steps
            budget.cached_calls += steps if cached else 0
            if dollars is None:
                self.dollars_known = False
            else:
                budget.spent += dollars
                budget.largest_call = max(budget.largest_call, dollars)
                self.dollars += dollars
            self.steps += steps

    def call_failed(self) -> None:
        with self.budget._lock:
            self.budget.in_flight = max(0, self.budget.in_flight - 1)

    def finish(self) -> None:
        """Moves this attempt's wall time into its instance's tally; safe to call twice."""
        if self.finished:
            return
        self.finished = True
        with self.budget._lock:
            tally = self.budget._instances.setdefault((self.run_id, self.instance_id), _Tally())
            started = tally.running_since.pop(self._attempt_id, None)
            if started is not None:
                tally.seconds += time.monotonic() - started
