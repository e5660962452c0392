"""Schema versions of the store, kept by Alembic: users keep stores for months, so a store made
by an older harness is brought up to date when it is opened, never silently left behind.

The revisions live in harness/store/revisions/versions/, one file per schema change, numbered
0001, 0002, ... (0001 is the baseline: the schema when migrations began). How to add one for a
change to schema.py (`python -m harness.store revision "message"`, then read the file) is in
harness/store/README.md; tests/test_store_migrations.py fails until schema.py and the revisions
agree.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from harness.locks import file_lock
from harness.store.database import StoreError, make_engine, sqlite_file
from harness.store.schema import Base

REVISIONS = Path(__file__).with_name("revisions")
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock takes a 64-bit key: any fixed number no other program of the database
# is likely to use.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"harness.store.migrations").digest()[:7], "big")


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(REVISIONS))
    config.set_main_option("version_table", VERSION_TABLE)
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the store's revisions have {len(heads)} heads: {heads}; merge them")
    return heads[0]


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def _exclusive(engine: Engine) -> Iterator[Connection]:
    """One transaction that no other process migrating the same store runs alongside."""
    database = sqlite_file(str(engine.url))
    if database is not None:
        # SQLite has no lock a reader can wait on before the first write: a host-wide file
        # lock named after the database file keeps two openers apart.
        with file_lock(f"store-migrations:{database}"), engine.begin() as connection:
            yield connection
        return
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Held until commit; PostgreSQL's DDL is transactional, so the second opener
            # waits here and then finds the store at head.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        yield connection


def bring_up_to_date(engine: Engine) -> None:
    """A fresh store is created at head; an older one is upgraded through every revision it
    lacks. Safe when several processes open the same fresh store at once.

    Raises StoreError when the database cannot be reached or its schema is newer than this
    harness knows."""
    where = engine.url.render_as_string()  # the password hidden
    try:
        with _exclusive(engine) as connection:
            present = set(inspect(connection).get_table_names())
            if not present & set(Base.metadata.tables):
                Base.metadata.create_all(connection)
                command.stamp(alembic_config(connection), "head")
                return
            current = current_revision(connection)
            if current == head_revision():
                return
            known = {rev.revision for rev in ScriptDirectory.from_config(
                alembic_config()).walk_revisions()}
            if current is not None and current not in known:
                raise StoreError(
                    f"the store {where} has schema revision {current}, newer than this "
                    f"harness knows (up to {head_revision()}): upgrade harness to read it"
                )
            command.upgrade(alembic_config(connection), "head")
    except OperationalError as error:
        from harness.store.opening import describe

        raise StoreError(describe(error, str(engine.url))) from None


def check_up_to_date(engine: Engine, where: str | None = None) -> None:
    """For a store opened read-only, which cannot be upgraded: raises StoreError unless it holds
    the harness's tables at this harness's head revision. `where`: the store as the user named
    it (the engine's URL is the read-only form)."""
    where = where or engine.url.render_as_string()
    try:
        with engine.connect() as connection:
            if not set(inspect(connection).get_table_names()) & set(Base.metadata.tables):
                raise StoreError(f"{where} holds no results store (no harness tables)")
            current, head = current_revision(connection), head_revision()
    except OperationalError as error:
        from harness.store.opening import describe

        raise StoreError(describe(error, str(engine.url))) from None
    if current != head:
        raise StoreError(
            f"the store {where} has schema revision {current}, this harness reads {head}: "
            "open it once with a command that writes (e.g. `python -m harness report RUN`) to "
            "bring it up to date, or use the harness that made it"
        )


def upgrade_through_revisions(engine: Engine, target: str = "head") -> None:
    """Builds the schema by running the revisions alone (no create_all): what an old store
    goes through. Tests compare the result with schema.py."""
    with _exclusive(engine) as connection:
        command.upgrade(alembic_config(connection), target)


def _next_number() -> str:
    numbers = [
        int(match.group(1))
        for path in (REVISIONS / "versions").glob("*.py")
        if (match := re.match(r"(\d{4})_", path.name))
    ]
    return f"{max(numbers, default=0) + 1:04d}"


def write_revision(message: str) -> Path:
    """Autogenerates the next revision from the difference between the revisions and schema.py."""
    with tempfile.TemporaryDirectory() as scratch:
        engine = make_engine(f"sqlite:///{Path(scratch) / 'scratch.db'}")
        try:
            upgrade_through_revisions(engine)
            number = _next_number()
            with engine.begin() as connection:
                script = command.revision(
                    alembic_config(connection), message=message, autogenerate=True,
                    rev_id=number,
                )
        finally:
            engine.dispose()
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m harness.store")
    sub = parser.add_subparsers(dest="command", required=True)
    revision = sub.add_parser("revision", help="write the next revision for schema.py's changes")
    revision.add_argument("message")
    sub.add_parser("head", help="print the head revision")
    args = parser.parse_args(argv)
    if args.command == "revision":
        print(write_revision(args.message))
    else:
        print(head_revision())


