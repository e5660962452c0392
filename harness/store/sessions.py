"""The engine and its sessions: the base every group of store queries builds on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Enum, String, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from harness.store.database import StoreError, database_url, is_memory_sqlite, make_engine


def _check_lengths(session: Session, _context: Any, _instances: Any) -> None:
    """PostgreSQL refuses a string longer than its column and SQLite keeps it: both refuse it
    here, with the column and the limit named."""
    for record in (*session.new, *session.dirty):
        for attribute in inspect(record).mapper.column_attrs:
            kind = attribute.columns[0].type
            if not isinstance(kind, String) or isinstance(kind, Enum) or not kind.length:
                continue
            value = getattr(record, attribute.key, None)
            if isinstance(value, str) and len(value) > kind.length:
                raise StoreError(
                    f"{record.__tablename__}.{attribute.columns[0].name} takes at most "
                    f"{kind.length} characters, not {len(value)}: {value[:60]!r}..."
                )


class Sessions:
    """Owns the engine; hands out short sessions. Writes are serialized in-process so worker
    threads never fight over SQLite's single writer."""

    def __init__(self, db: str | Path | None = None, read_only: bool = False) -> None:
        self.url = database_url(db)
        self.engine: Engine = make_engine(self.url, read_only=read_only)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self._sessions, "before_flush", _check_lengths)
        self._write_lock = threading.Lock()
        # In-memory SQLite is one shared connection: a reader's rollback on it would end a
        # writer's transaction, so there every session takes the one lock.
        self._read_lock = self._write_lock if is_memory_sqlite(self.url) else nullcontext()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read_lock, self._sessions() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._write_lock, self._sessions() as session:
            with session.begin():
                yield session

    def close(self) -> None:
        self.engine.dispose()
