"""Opening a results store, with every way it can fail said in one line.

What the user types as --db can name a folder that cannot be created, a read-only file, a file
that is no database, a server that does not answer, or a driver that is not installed; two
processes can also create the same fresh store at once. Each becomes a StoreError with what to
do next, never a traceback.
"""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

# Python modules of database drivers, and the extra of this package that installs them.
_DRIVER_EXTRAS = {"psycopg": "postgres", "psycopg2": "postgres"}
_CREATE_TRIES = 8


class StoreError(RuntimeError):
    """The results store cannot be opened or written: one clear line for the user."""


def _shown(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def database_url(db: str | Path) -> str:
    """A SQLAlchemy URL from what the user typed: a URL as is, a path as SQLite (its folder
    created). A bare postgresql:// URL means the psycopg (3) driver, the one `.[postgres]`
    installs, whatever SQLAlchemy's own default."""
    text = str(db)
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


def make_engine(url: str) -> Engine:
    """The engine for `url`; raises StoreError when its driver is missing or the URL is bad."""
    try:
        return create_engine(url)
    except NoSuchModuleError as error:
        raise StoreError(
            f"--db {_shown(url)} names a kind of database SQLAlchemy does not know ({error}); "
            "use a path (SQLite) or a URL such as postgresql://user@host/db"
        ) from None
    except (ModuleNotFoundError, ImportError) as error:
        module = getattr(error, "name", None) or str(error)
        extra = _DRIVER_EXTRAS.get(module.split(".")[0]) if isinstance(module, str) else None
        if extra is None and url.startswith("postgres"):
            extra = "postgres"
        hint = (f"pip install -e '.[{extra}]'" if extra
                else "install the database driver it names")
        raise StoreError(
            f"the database URL {_shown(url)} needs a driver that is not installed ({error}); "
            f"{hint}"
        ) from None
    except ArgumentError as error:
        raise StoreError(f"--db {url!r} is not a database URL or path: {error}") from None


def describe(error: SQLAlchemyError, url: str) -> str:
    """One line for a database error met while using the store at `url`."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    shown = _shown(url)
    lowered = first.lower()
    if "readonly" in lowered or "read-only" in lowered:
        return (f"the results store {shown} is read-only ({first}); make it writable or pass "
                "--db with another file")
    if "file is not a database" in lowered or "not a database" in lowered:
        return f"{shown} is not a SQLite database ({first}); pass --db with a results store"
    if "unable to open database" in lowered:
        return f"cannot open the results store {shown} ({first}); check the path's permissions"
    if isinstance(error, DBAPIError) and error.connection_invalidated or _unreachable(lowered):
        return (f"cannot reach the database server of {shown} ({first}); is it running and "
                "is the URL right?")
    return f"the results store {shown} failed: {first}"


def _unreachable(lowered: str) -> bool:
    return any(
        word in lowered
        for word in ("connection refused", "could not connect", "connection failed",
                     "timeout expired", "name or service not known", "no route to host",
                     "could not translate host name")
    )


def create_schema(metadata: MetaData, engine: Engine) -> None:
    """Creates the missing tables. Two processes that create one fresh store at once race
    between checking and creating; the loser sees "already exists" and checks again."""
    for attempt in range(_CREATE_TRIES):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError as error:
            message = str(error.orig).lower()
            racing = "already exists" in message or "duplicate" in message or "locked" in message
            if not racing or attempt == _CREATE_TRIES - 1:
                raise StoreError(describe(error, engine.url.render_as_string())) from None
            time.sleep(0.05 * (attempt + 1))
