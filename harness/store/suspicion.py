"""Queries for evaluations flagged as suspicious (see harness.evaluation.tamper)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from harness.evaluation.status import EvalStatus
from harness.store.schema import AttemptRecord, EvaluationRecord, TaskRecord


@dataclass(frozen=True)
class FlaggedAttempt:
    instance_id: str
    index: int
    status: EvalStatus
    suspicion: str


def flagged_attempts(session: Session, run_id: str) -> list[FlaggedAttempt]:
    """The run's evaluated attempts whose evaluation is suspicious, in task and index order."""
    rows = session.execute(
        select(TaskRecord.instance_id, AttemptRecord.index, EvaluationRecord.status,
               EvaluationRecord.suspicion)
        .join(EvaluationRecord, AttemptRecord.evaluation_id == EvaluationRecord.id)
        .join(TaskRecord, AttemptRecord.task_id == TaskRecord.id)
        .where(AttemptRecord.run_id == run_id, EvaluationRecord.suspicious.is_(True))
        .order_by(TaskRecord.instance_id, AttemptRecord.index)
    ).all()
    return [FlaggedAttempt(*row) for row in rows]


def suspicion_of(session: Session, attempt_ids: Iterable[int]) -> dict[int, str]:
    """attempt id -> why its evaluation is suspicious, for the flagged ones among `attempt_ids`."""
    ids = list(attempt_ids)
    if not ids:
        return {}
    rows = session.execute(
        select(AttemptRecord.id, EvaluationRecord.suspicion)
        .join(EvaluationRecord, AttemptRecord.evaluation_id == EvaluationRecord.id)
        .where(AttemptRecord.id.in_(ids), EvaluationRecord.suspicious.is_(True))
    ).all()
    return dict(rows)
