"""The results store: SQLite (or any SQLAlchemy URL) through the SQLAlchemy 2.0 typed ORM.

Every figure the tool prints is computed from these tables alone.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from harness.evaluation.status import EvalStatus, TestStatus
from harness.store.schema import (
    AttemptRecord,
    Base,
    EvaluationRecord,
    EvaluationRerunRecord,
    ModelResponseRecord,
    RunRecord,
    RunTaskRecord,
    TaskRecord,
    TestResultRecord,
    ValidationRecord,
    utcnow,
)
from harness.tasks import Task

__all__ = [
    "AttemptRecord", "Base", "EvalStatus", "EvaluationRecord", "EvaluationRerunRecord",
    "ModelResponseRecord", "RunRecord",
    "RunTaskRecord", "Store", "TaskRecord", "TestResultRecord", "TestStatus", "ValidationRecord",
    "utcnow",
]

DEFAULT_DB = Path("results") / "harness.db"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets `report` read while a run writes; NORMAL sync keeps each commit durable against
    # a killed process (only an OS crash can lose the last transactions).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def database_url(db: str | Path | None) -> str:
    """A SQLAlchemy URL from what the user typed: a URL as is, a path as SQLite."""
    if db is None:
        db = DEFAULT_DB
    text = str(db)
    if "://" in text:
        return text
    path = Path(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


class Store:
    """Owns the engine; hands out short sessions. Writes are serialized in-process so worker
    threads never fight over SQLite's single writer."""

    def __init__(self, db: str | Path | None = None) -> None:
        self.url = database_url(db)
        self.engine: Engine = create_engine(self.url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._write_lock = threading.Lock()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._write_lock, Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def close(self) -> None:
        self.engine.dispose()

    # --- tasks ---------------------------------------------------------------------------

    def upsert_task(self, session: Session, task: Task) -> TaskRecord:
        content_hash = task.content_hash
        record = session.scalar(
            select(TaskRecord).where(
                TaskRecord.instance_id == task.instance_id,
                TaskRecord.content_hash == content_hash,
            )
        )
        if record is None:
            record = TaskRecord(
                instance_id=task.instance_id,
                content_hash=content_hash,
                repo=task.repo,
                row=task.to_row(),
            )
            session.add(record)
            session.flush()
        return record


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
