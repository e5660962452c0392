"""Stored validations of tasks (does the gold patch resolve, does the empty one not), and each
evaluation of gold or empty made during one (so an interrupted `validate` resumes)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from harness.evaluation.status import EvalStatus
from harness.store.schema import ValidationRecord, ValidationRunRecord, utcnow
from harness.store.sessions import Sessions


@dataclass(frozen=True)
class StoredValidationRun:
    """One evaluation of gold or empty during a task's validation (a `validation_runs` row)."""

    instance_id: str
    task_hash: str
    spec: str
    patch: str  # "gold" or "empty"
    repeat: int
    status: EvalStatus
    seconds: float
    cpu_seconds: float | None
    against: list[str]  # listed tests that kept it from resolving
    statuses: dict[str, str | None]  # every listed test's status (None: absent)


class ValidationQueries(Sessions):
    def save_validation(
        self, instance_id: str, task_hash: str, spec: str, **values: Any
    ) -> None:
        """Stores the validation of one exact task definition under one spec, replacing an
        earlier one. `values` are ValidationRecord's other columns."""
        unknown = set(values) - set(ValidationRecord.__table__.columns.keys())
        if unknown:
            raise TypeError(f"not columns of validations: {sorted(unknown)}")
        with self.writing() as session:
            record = session.scalar(
                select(ValidationRecord).where(
                    ValidationRecord.instance_id == instance_id,
                    ValidationRecord.task_hash == task_hash,
                    ValidationRecord.spec == spec,
                )
            )
            if record is None:
                record = ValidationRecord(instance_id=instance_id, task_hash=task_hash, spec=spec)
                session.add(record)
            for name, value in values.items():
                setattr(record, name, value)
            record.created_at = utcnow()

    def newest_validations(
        self, definitions: Iterable[tuple[str, str]]
    ) -> dict[str, ValidationRecord]:
        """The newest validation (any spec) of each (instance id, task hash), by instance id."""
        wanted = set(definitions)
        ids = sorted({instance_id for instance_id, _ in wanted})
        found: dict[str, ValidationRecord] = {}
        with self.reading() as session:
            for start in range(0, len(ids), 500):
                rows = session.scalars(
                    select(ValidationRecord)
                    .where(ValidationRecord.instance_id.in_(ids[start:start + 500]))
                    .order_by(ValidationRecord.created_at, ValidationRecord.id)
                )
                for record in rows:
                    if (record.instance_id, record.task_hash) in wanted:
                        found[record.instance_id] = record
        return found

    def flaky_instances(
        self, instance_ids: Iterable[str] | None = None
    ) -> dict[str, list[str]]:
        """instance id -> its flaky tests, by each instance's latest validation that found any
        (only those of `instance_ids` when given)."""
        wanted = set(instance_ids) if instance_ids is not None else None
        latest: dict[str, ValidationRecord] = {}
        with self.reading() as session:
            for record in session.scalars(
                select(ValidationRecord).order_by(ValidationRecord.id)
            ):
                if wanted is None or record.instance_id in wanted:
                    latest[record.instance_id] = record
            return {
                instance_id: list(record.flaky_tests)
                for instance_id, record in sorted(latest.items())
                if record.flaky_tests
            }

    # --- the evaluations of validations in progress -------------------------------------------

    def validation_runs(
        self, instance_id: str, task_hash: str, spec: str
    ) -> list[StoredValidationRun]:
        with self.reading() as session:
            rows = session.scalars(select(ValidationRunRecord).where(
                ValidationRunRecord.instance_id == instance_id,
                ValidationRunRecord.task_hash == task_hash,
                ValidationRunRecord.spec == spec,
            )).all()
        return [
            StoredValidationRun(
                row.instance_id, row.task_hash, row.spec, row.patch, row.repeat, row.status,
                row.seconds, row.cpu_seconds, list(row.against), dict(row.statuses),
            )
            for row in rows
        ]

    def add_validation_run(self, run: StoredValidationRun) -> bool:
        """False when this very evaluation is stored already (another process made it)."""
        try:
            with self.writing() as session:
                session.add(ValidationRunRecord(**asdict(run)))
        except IntegrityError:
            return False
        return True

    def forget_validation_runs(self, definitions: Iterable[tuple[str, str]]) -> None:
        """Drops the stored evaluations of these (instance id, task hash) (`validate --force`)."""
        with self.writing() as session:
            for instance_id, task_hash in definitions:
                session.execute(delete(ValidationRunRecord).where(
                    ValidationRunRecord.instance_id == instance_id,
                    ValidationRunRecord.task_hash == task_hash,
                ))
