"""Reads of runs for the reports: one method per question a report asks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload

from harness.evaluation.status import EvalStatus
from harness.store.schema import (
    REDO_KINDS,
    AttemptRecord,
    EvaluationRecord,
    RunRecord,
    RunTaskRecord,
    TaskRecord,
    TestResultRecord,
)
from harness.store.sessions import Sessions


class RunTaskRow(NamedTuple):
    task_id: int
    instance_id: str
    repo: str
    error: str | None  # why the run could not work on the task


class AttemptRow(NamedTuple):
    task_id: int
    attempt_id: int
    error_kind: str | None
    model_dollars: float | None
    compute_seconds: float
    evaluation_id: int | None


@dataclass
class RunRows:
    """Everything `harness.reports.rundata.load_run` needs, in three queries."""

    run: RunRecord
    tasks: list[RunTaskRow]
    attempts: list[AttemptRow]  # by task, then attempt index
    verdicts: dict[int, tuple[EvalStatus, str]]  # evaluation id -> (status, patch hash)


@dataclass
class RunTotals:
    """Sums over a run's counted attempts (evaluated, not infrastructure errors or budget cuts)."""

    model_dollars: float = 0.0
    compute_seconds: float = 0.0
    evaluation_statuses: dict[str, int] = field(default_factory=dict)
    agent_errors: dict[str, int] = field(default_factory=dict)


@dataclass
class ExportedAttempt:
    attempt: AttemptRecord
    evaluation: EvaluationRecord | None
    tests: list[TestResultRecord]


class RunQueries(Sessions):
    def run_ids(self) -> list[str]:
        """Every run id, oldest first."""
        with self.reading() as session:
            return list(session.scalars(select(RunRecord.id).order_by(RunRecord.created_at)))

    def run(self, run_id: str) -> RunRecord | None:
        with self.reading() as session:
            return session.get(RunRecord, run_id)

    def model_dollars_spent(self, run_id: str) -> float:
        """What a run already paid for model calls (unknown prices count 0)."""
        with self.reading() as session:
            spent = session.scalar(
                select(func.sum(AttemptRecord.model_dollars)).where(
                    AttemptRecord.run_id == run_id
                )
            )
        return float(spent or 0.0)

    def run_rows(self, run_id: str) -> RunRows | None:
        """The run's tasks, every attempt and the verdicts they point at; None: no such run."""
        with self.reading() as session:
            run = session.get(RunRecord, run_id)
            if run is None:
                return None
            tasks = [
                RunTaskRow(*row)
                for row in session.execute(
                    select(
                        TaskRecord.id, TaskRecord.instance_id, TaskRecord.repo, RunTaskRecord.error
                    )
                    .join(RunTaskRecord, RunTaskRecord.task_id == TaskRecord.id)
                    .where(RunTaskRecord.run_id == run_id)
                    .order_by(TaskRecord.instance_id)
                )
            ]
            # Plain Core rows (no ORM entities, no enum decoding per attempt): this query
            # returns every attempt of the run, 75,000 of them for 300 tasks x 250.
            attempts = AttemptRecord.__table__.c
            rows = [
                AttemptRow(*row)
                for row in session.connection().execute(
                    select(
                        attempts.task_id,
                        attempts.id,
                        attempts.error_kind,
                        attempts.model_dollars,
                        attempts.compute_seconds,
                        attempts.evaluation_id,
                    )
                    .where(attempts.run_id == run_id)
                    .order_by(attempts.task_id, attempts.index)
                )
            ]
            evaluations = EvaluationRecord.__table__.c
            verdicts = {
                evaluation_id: (status, digest)
                for evaluation_id, status, digest in session.connection().execute(
                    select(evaluations.id, evaluations.status, evaluations.patch_hash).where(
                        evaluations.id.in_(
                            select(attempts.evaluation_id)
                            .where(attempts.run_id == run_id)
                            .distinct()
                            .scalar_subquery()
                        )
                    )
                )
            }
        return RunRows(run, tasks, rows, verdicts)

    def run_totals(self, run_id: str) -> RunTotals:
        counted = (
            AttemptRecord.run_id == run_id,
            AttemptRecord.evaluation_id.is_not(None),
            or_(AttemptRecord.error_kind.is_(None), AttemptRecord.error_kind.not_in(REDO_KINDS)),
        )
        with self.reading() as session:
            dollars, compute = session.execute(
                select(
                    func.coalesce(func.sum(AttemptRecord.model_dollars), 0.0),
                    func.coalesce(func.sum(AttemptRecord.compute_seconds), 0.0),
                ).where(*counted)
            ).one()
            statuses = session.execute(
                select(EvaluationRecord.status, func.count())
                .join(AttemptRecord, AttemptRecord.evaluation_id == EvaluationRecord.id)
                .where(*counted)
                .group_by(EvaluationRecord.status)
            ).all()
            agent_errors = session.execute(
                select(AttemptRecord.error_kind, func.count())
                .where(*counted, AttemptRecord.error_kind.is_not(None))
                .group_by(AttemptRecord.error_kind)
            ).all()
        return RunTotals(
            model_dollars=float(dollars),
            compute_seconds=float(compute),
            evaluation_statuses={status.value: count for status, count in statuses},
            agent_errors={kind: count for kind, count in agent_errors},
        )

    def task_attempts(self, run_id: str, instance_id: str) -> dict[int, AttemptRecord]:
        """A run's attempts on one task by index, each with its evaluation loaded."""
        with self.reading() as session:
            rows = session.scalars(
                select(AttemptRecord)
                .join(TaskRecord, AttemptRecord.task_id == TaskRecord.id)
                .where(AttemptRecord.run_id == run_id, TaskRecord.instance_id == instance_id)
                .options(selectinload(AttemptRecord.evaluation))
            ).all()
        return {row.index: row for row in rows}

    def exported_attempts(self, attempt_ids: list[int]) -> dict[int, ExportedAttempt]:
        """Attempts with their task, evaluation and per-test results, by attempt id."""
        found: dict[int, ExportedAttempt] = {}
        with self.reading() as session:
            for start in range(0, len(attempt_ids), 500):
                chunk = attempt_ids[start:start + 500]
                for attempt in session.scalars(_with_verdicts(AttemptRecord.id.in_(chunk))):
                    found[attempt.id] = _exported(attempt)
        return found

    def run_attempts(self, run_id: str) -> list[ExportedAttempt]:
        """Every attempt of a run with its task, evaluation and per-test results, by task and
        attempt index (meant for runs of tens of thousands of attempts at most)."""
        with self.reading() as session:
            attempts = session.scalars(
                _with_verdicts(AttemptRecord.run_id == run_id).order_by(
                    AttemptRecord.task_id, AttemptRecord.index
                )
            )
            return [_exported(attempt) for attempt in attempts]


def _with_verdicts(condition: Any) -> Select[tuple[AttemptRecord]]:
    return (
        select(AttemptRecord)
        .where(condition)
        .options(
            selectinload(AttemptRecord.task),
            selectinload(AttemptRecord.evaluation).selectinload(EvaluationRecord.tests),
        )
    )


def _exported(attempt: AttemptRecord) -> ExportedAttempt:
    evaluation = attempt.evaluation
    return ExportedAttempt(attempt, evaluation, list(evaluation.tests) if evaluation else [])
