"""Where a store lives and how to connect to it: a path means SQLite, anything with :// is a
SQLAlchemy URL (e.g. postgresql+psycopg://user@host/db)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool

DEFAULT_DB = Path("results") / "harness.db"


class StoreError(RuntimeError):
    """The store cannot be opened as asked (bad URL, missing driver, unreachable server, a
    schema newer than this harness): one line for the user, who can fix it."""


def database_url(db: str | Path | None) -> str:
    """A SQLAlchemy URL from what the user typed: a URL as is, a path as SQLite (its folder
    created). A bare postgresql:// URL means the psycopg (3) driver, the one `.[postgres]`
    installs, whatever SQLAlchemy's own default. Raises StoreError for a path that cannot hold
    a store."""
    text = str(DEFAULT_DB if db is None else db)
    if "://" in text:
        for bare in ("postgresql://", "postgres://"):
            if text.startswith(bare):
                return "postgresql+psycopg://" + text[len(bare):]
        return text
    path = Path(text)
    if path.is_dir():
        raise StoreError(f"--db {path} is a folder; give a file path such as {path}/harness.db")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"cannot create the folder {path.parent} for the results store "
            f"({error.strerror or error}); pass --db with a writable location"
        ) from None
    return f"sqlite:///{path}"


def is_memory_sqlite(url: str) -> bool:
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL; None for other databases and in-memory SQLite."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or is_memory_sqlite(url):
        return None
    return Path(parsed.database).resolve()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets `report` read while a run writes; NORMAL sync keeps each commit durable against
    # a killed process (only an OS crash can lose the last transactions).
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def make_engine(url: str, read_only: bool = False) -> Engine:
    """Raises StoreError for a URL SQLAlchemy cannot use (unknown dialect, missing driver).
    `read_only`: every connection refuses writes (SQLite opened with mode=ro, PostgreSQL
    sessions with default_transaction_read_only), for readers such as `harness view`."""
    from harness.store.opening import shown_url

    try:
        return _make_read_only_engine(url) if read_only else _make_engine(url)
    except NoSuchModuleError as error:
        raise StoreError(
            f"--db {shown_url(url)} names a kind of database SQLAlchemy does not know ({error}); "
            "use a path (SQLite) or a URL such as postgresql://user@host/db"
        ) from None
    except ImportError as error:
        hint = ("pip install -e '.[postgres]'" if url.startswith("postgres")
                else "install the database driver it names")
        raise StoreError(
            f"the database URL {shown_url(url)} needs a driver that is not installed ({error}); "
            f"{hint}"
        ) from None
    except ArgumentError as error:
        raise StoreError(f"--db {url!r} is not a database URL or path: {error}") from None


def _make_engine(url: str) -> Engine:
    if is_memory_sqlite(url):
        # One connection shared by every thread, or each thread would see its own empty
        # database; Store serializes all sessions on it.
        engine = create_engine(
            url, poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _make_read_only_engine(url: str) -> Engine:
    database = sqlite_file(url)
    if database is not None:
        # A URI filename with mode=ro: SQLite itself refuses every write on the connection.
        engine = create_engine(
            f"sqlite:///file:{quote(str(database))}?mode=ro&uri=true", pool_pre_ping=True
        )
        event.listen(engine, "connect", _sqlite_read_only_pragmas)
        return engine
    if is_memory_sqlite(url):
        raise StoreError("an in-memory SQLite store has nothing to read; pass --db with a file")
    options: dict[str, Any] = {}
    if make_url(url).get_backend_name() == "postgresql":
        options["connect_args"] = {"options": "-c default_transaction_read_only=on"}
    return create_engine(url, pool_pre_ping=True, **options)
