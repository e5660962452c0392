"""Store access for the ledger of spend (`model_calls`, `sample_uses`): record a call, sum a
run's or a task's spend, let an attempt claim the samples it used, and the run's spend split
into what its attempts used and what nothing used.

`SpendQueries` is the query group Store mixes in; the module functions taking a store are the
same queries for callers that hold one (kept: the ledger, reports and benchmarks use them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from harness.store.schema import REDO_KINDS, AttemptRecord, ModelCallRecord, SampleUseRecord
from harness.store.sessions import Sessions


class SpendQueries(Sessions):
    """The ledger of spend, as the ledger writes it and the reports read it."""

    def add_call(self, values: dict[str, Any]) -> int:
        record = ModelCallRecord(**values)
        with self.writing() as session:
            session.add(record)
            session.flush()
            return record.id

    def billed(self, run_id: str, instance_id: str | None = None) -> tuple[float, int]:
        """(dollars billed, model calls answered) for a run, or one task of it, over every
        invocation. Unknown prices count 0 (a dollar budget is refused for unpriced models)."""
        calls = ModelCallRecord.__table__.c
        query = select(func.coalesce(func.sum(calls.dollars), 0.0), func.count()).where(
            calls.run_id == run_id, calls.outcome != "error"
        )
        if instance_id is not None:
            query = query.where(calls.instance_id == instance_id)
        with self.reading() as session:
            dollars, count = session.execute(query).one()
        return float(dollars), int(count)

    def run_spend(self, run_id: str) -> RunSpend:
        return _run_spend(self, run_id)

    def cached_cost_by_attempt(self, run_id: str) -> dict[int, float]:
        """Per attempt of the run: what its samples answered from the response cache cost when
        they were made (0 or absent when it paid for all its samples)."""
        return _cached_cost_by_attempt(self, run_id)

    def attempt_samples(self, attempt_id: int) -> list[SampleUse]:
        """The ledger samples one attempt used, in call order."""
        return _attempt_samples(self, attempt_id)


def add_call(store: SpendQueries, values: dict[str, Any]) -> int:
    return store.add_call(values)


def billed(store: SpendQueries, run_id: str, instance_id: str | None = None) -> tuple[float, int]:
    return store.billed(run_id, instance_id)


def run_spend(store: SpendQueries, run_id: str) -> RunSpend:
    return store.run_spend(run_id)


def cached_cost_by_attempt(store: SpendQueries, run_id: str) -> dict[int, float]:
    return store.cached_cost_by_attempt(run_id)


def attempt_samples(store: SpendQueries, attempt_id: int) -> list[SampleUse]:
    return store.attempt_samples(attempt_id)


def claim_samples(
    session: Session, attempt_id: int, run_id: str, samples: list[tuple[int, int]]
) -> tuple[float | None, int]:
    """Links the attempt to the (call id, position) samples it used and returns its model
    dollars, the sum of each sample's share of its call (None if any price is unknown), and
    how many samples it found in the ledger.

    A sample answered from the response cache, whose original call this same run paid and no
    attempt holds (a redo replaying an infrastructure error's calls), is charged at that call."""
    total: float | None = 0.0
    found = 0
    for call_id, position in samples:
        call = session.get(ModelCallRecord, call_id)
        if call is None or (call.outcome == "ok" and call.run_id != run_id):
            continue  # not in this store's ledger, or another run's bill
        found += 1
        if call.outcome == "cached" and call.cache_key:
            paid = _unclaimed_paid(session, run_id, call.cache_key, position)
            if paid is not None:
                call = paid
        taken = session.scalar(
            select(SampleUseRecord.id).where(
                SampleUseRecord.call_id == call.id, SampleUseRecord.position == position
            )
        )
        if taken is not None:
            continue  # never charge one sample twice
        session.add(SampleUseRecord(call_id=call.id, position=position, attempt_id=attempt_id))
        if call.dollars is None:
            total = None
        elif total is not None and call.samples:
            total += call.dollars / call.samples
    return total, found


def _unclaimed_paid(
    session: Session, run_id: str, key: str, position: int
) -> ModelCallRecord | None:
    used = select(SampleUseRecord.call_id).where(SampleUseRecord.position == position)
    return session.scalars(
        select(ModelCallRecord)
        .where(
            ModelCallRecord.run_id == run_id,
            ModelCallRecord.cache_key == key,
            ModelCallRecord.outcome == "ok",
            ModelCallRecord.samples > position,
            ModelCallRecord.id.not_in(used),
        )
        .order_by(ModelCallRecord.id)
        .limit(1)
    ).first()


def drop_attempt(session: Session, attempt_id: int) -> None:
    """Removes an attempt being redone; its samples go back to the run's unused spend."""
    session.execute(delete(SampleUseRecord).where(SampleUseRecord.attempt_id == attempt_id))
    session.execute(delete(AttemptRecord).where(AttemptRecord.id == attempt_id))


@dataclass(frozen=True)
class RunSpend:
    """A run's model spend from the ledger. billed = counted + not_counted + unused, always."""

    billed: float  # what the provider billed, every invocation
    counted: float  # used by attempts that count in the rates
    not_counted: float  # used by attempts kept but not counted (infra errors, budget cuts)
    unused: float  # samples no attempt used (a batch cut short by a stop)
    cached_when_made: float  # cached answers the run used: what they cost when made
    calls: int  # paid calls
    cached_calls: int
    failed_tries: int  # HTTP errors and timeouts (billed nothing)
    unknown_price_calls: int

    def to_json(self) -> dict[str, Any]:
        return dict(vars(self))


def _run_spend(store: Sessions, run_id: str) -> RunSpend:
    calls = ModelCallRecord.__table__.c
    uses = SampleUseRecord.__table__.c
    attempts = AttemptRecord.__table__.c
    with store.reading() as session:
        rows = session.execute(
            select(calls.id, calls.outcome, calls.dollars, calls.dollars_when_made, calls.samples)
            .where(calls.run_id == run_id)
        ).all()
        used = session.execute(
            select(uses.call_id, attempts.error_kind)
            .join(AttemptRecord.__table__, attempts.id == uses.attempt_id)
            .where(attempts.run_id == run_id)
        ).all()
        # Cached samples used by this run's attempts, whichever call they point at.
        cached_used = session.execute(
            select(calls.dollars_when_made, calls.samples)
            .join(SampleUseRecord.__table__, uses.call_id == calls.id)
            .join(AttemptRecord.__table__, attempts.id == uses.attempt_id)
            .where(attempts.run_id == run_id, calls.outcome == "cached")
        ).all()
    share = {
        call_id: (dollars or 0.0) / samples if samples else 0.0
        for call_id, _, dollars, _, samples in rows
    }
    billed_total = sum(dollars or 0.0 for _, outcome, dollars, _, _ in rows if outcome == "ok")
    counted = not_counted = 0.0
    for call_id, kind in used:
        value = share.get(call_id, 0.0)
        if kind in REDO_KINDS:
            not_counted += value
        else:
            counted += value
    return RunSpend(
        billed=billed_total,
        counted=counted,
        not_counted=not_counted,
        unused=max(0.0, billed_total - counted - not_counted),
        cached_when_made=sum((made or 0.0) / samples for made, samples in cached_used if samples),
        calls=sum(1 for _, outcome, *_ in rows if outcome == "ok"),
        cached_calls=sum(1 for _, outcome, *_ in rows if outcome == "cached"),
        failed_tries=sum(1 for _, outcome, *_ in rows if outcome == "error"),
        unknown_price_calls=sum(
            1 for _, outcome, dollars, _, _ in rows if outcome == "ok" and dollars is None
        ),
    )


def _cached_cost_by_attempt(store: Sessions, run_id: str) -> dict[int, float]:
    calls = ModelCallRecord.__table__.c
    uses = SampleUseRecord.__table__.c
    attempts = AttemptRecord.__table__.c
    with store.reading() as session:
        rows = session.execute(
            select(uses.attempt_id, calls.dollars_when_made, calls.samples)
            .join(ModelCallRecord.__table__, calls.id == uses.call_id)
            .join(AttemptRecord.__table__, attempts.id == uses.attempt_id)
            .where(attempts.run_id == run_id, calls.outcome == "cached")
        ).all()
    out: dict[int, float] = {}
    for attempt_id, made, samples in rows:
        if samples:
            out[attempt_id] = out.get(attempt_id, 0.0) + (made or 0.0) / samples
    return out


@dataclass(frozen=True)
class SampleUse:
    call_id: int
    position: int
    outcome: str  # ok or cached
    dollars: float | None  # this sample's share of what the call billed
    dollars_when_made: float | None  # a cached sample: its share of what it cost when made


def _attempt_samples(store: Sessions, attempt_id: int) -> list[SampleUse]:
    calls = ModelCallRecord.__table__.c
    uses = SampleUseRecord.__table__.c
    with store.reading() as session:
        rows = session.execute(
            select(uses.call_id, uses.position, calls.outcome, calls.dollars,
                   calls.dollars_when_made, calls.samples)
            .join(ModelCallRecord.__table__, calls.id == uses.call_id)
            .where(uses.attempt_id == attempt_id)
            .order_by(uses.call_id)
        ).all()

    def share(value: float | None, samples: int) -> float | None:
        return None if value is None or not samples else value / samples

    return [
        SampleUse(call_id, position, outcome, share(dollars, samples), share(made, samples))
        for call_id, position, outcome, dollars, made, samples in rows
    ]
