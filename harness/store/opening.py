"""Every way opening or writing a results store can fail, said in one line.

What the user types as --db can name a folder that cannot be created, a read-only file, a file
that is no database, a server that does not answer, or a driver that is not installed. Each
becomes a StoreError (harness.store.database) with what to do next, never a traceback.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError


def shown_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def describe(error: SQLAlchemyError, url: str) -> str:
    """One line for a database error met while using the store at `url`."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()
    first = text[0] if text else type(error).__name__
    shown = shown_url(url)
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
