"""The engine and its sessions: the base every group of store queries builds on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from harness.store.database import database_url, is_memory_sqlite, make_engine


class Sessions:
    """Owns the engine; hands out short sessions. Writes are serialized in-process so worker
    threads never fight over SQLite's single writer."""

    def __init__(self, db: str | Path | None = None) -> None:
        self.url = database_url(db)
        self.engine: Engine = make_engine(self.url)
        self._write_lock = threading.Lock()
        # In-memory SQLite is one shared connection: a reader's rollback on it would end a
        # writer's transaction, so there every session takes the one lock.
        self._read_lock = self._write_lock if is_memory_sqlite(self.url) else nullcontext()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self._read_lock, Session(self.engine, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._write_lock, Session(self.engine, expire_on_commit=False) as session:
            with session.begin():
                yield session

    def close(self) -> None:
        self.engine.dispose()
