"""The results store: SQLite (or any SQLAlchemy URL, PostgreSQL included) through the
SQLAlchemy 2.0 typed ORM. The only package of harness that speaks SQL.

- schema.py: every table.
- migrations.py + revisions/: schema versions (Alembic); how to add one is in migrations.py.
- database.py: URLs and engines; sessions.py: the engine's sessions and write lock.
- runs.py, run_records.py (the runner's), validations.py, responses.py, spend.py (the ledger),
  imports.py, browse.py (`harness view`'s), selections.py (harness/selection's evidence and
  choices): named queries, grouped by who asks.

Every figure the tool prints is computed from these tables alone.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from harness.evaluation.status import EvalStatus, TestStatus
from harness.store.browse import BrowseQueries
from harness.store.database import DEFAULT_DB, StoreError, database_url
from harness.store.imports import RunImports
from harness.store.migrations import bring_up_to_date, check_up_to_date
from harness.store.opening import describe, shown_url
from harness.store.responses import ResponseQueries
from harness.store.run_records import RunRecordQueries
from harness.store.runs import RunQueries
from harness.store.schema import (
    AttemptRecord,
    Base,
    EvaluationRecord,
    ModelResponseRecord,
    RunRecord,
    RunTaskRecord,
    TaskRecord,
    TestResultRecord,
    ValidationRecord,
    ValidationRunRecord,
    utcnow,
)
from harness.store.selections import SelectionQueries
from harness.store.spend import SpendQueries
from harness.store.validations import ValidationQueries
from harness.tasks import Task

__all__ = [
    "DEFAULT_DB", "AttemptRecord", "Base", "EvalStatus", "EvaluationRecord",
    "ModelResponseRecord", "RunRecord", "RunTaskRecord", "Store", "StoreError", "TaskRecord",
    "TestResultRecord", "TestStatus", "ValidationRecord", "ValidationRunRecord", "database_url",
    "utcnow",
]


class Store(
    RunQueries, RunRecordQueries, ValidationQueries, ResponseQueries, SpendQueries, RunImports,
    BrowseQueries, SelectionQueries,
):
    """The store: opening it brings its schema up to date (see harness.store.migrations)."""

    def __init__(self, db: str | Path | None = None, read_only: bool = False) -> None:
        """Raises StoreError when the store cannot be opened (see harness.store.database).
        `read_only`: no connection can write, and the schema must already be at head."""
        super().__init__(db, read_only=read_only)
        try:
            if read_only:
                check_up_to_date(self.engine, shown_url(self.url))
            else:
                bring_up_to_date(self.engine)
        except SQLAlchemyError as error:
            self.engine.dispose()
            raise StoreError(describe(error, self.url)) from None
        except BaseException:
            self.engine.dispose()
            raise

    # --- tasks ---------------------------------------------------------------------------

    def upsert_task(self, session: Session, task: Task) -> TaskRecord:
        """The row of this exact task definition, added if new. Two drivers registering the
        same task at once both get the one row."""
        content_hash = task.content_hash
        query = select(TaskRecord).where(
            TaskRecord.instance_id == task.instance_id, TaskRecord.content_hash == content_hash
        )
        record = session.scalar(query)
        if record is not None:
            return record
        record = TaskRecord(
            instance_id=task.instance_id, content_hash=content_hash, repo=task.repo,
            row=task.to_row(),
        )
        if session.get_bind().dialect.name == "sqlite":
            # No savepoint on SQLite: pysqlite opens transactions only before DML, so one here
            # could commit on its own; and SQLite's single writer (plus Store's write lock)
            # makes losing this race a locked-database error, not a duplicate.
            session.add(record)
            session.flush()
            return record
        try:
            # A savepoint: losing the race must not end the caller's transaction.
            with session.begin_nested():
                session.add(record)
        except IntegrityError:
            record = session.scalars(query).one()
        return record

