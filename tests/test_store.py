"""The store on every backend: errors that are one line for the user (bad URL, unreachable
server, a string longer than its column), the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from harness.store import RunRecord, Store, StoreError


@pytest.mark.parametrize(
    "url, message",
    [
        ("nosuch://x", "names a kind of database SQLAlchemy does not know"),
        ("postgresql+psycopg://someone:secret@127.0.0.1:1/x", "cannot reach the database server"),
    ],
)
def test_a_store_that_cannot_be_opened_is_one_line_without_the_password(url, message):
    with pytest.raises(StoreError, match=message) as raised:
        Store(url)
    assert "secret" not in str(raised.value) and "\n" not in str(raised.value)


def test_a_string_longer_than_its_column_is_refused_on_every_backend(db_url):
    store = Store(db_url)
    run = RunRecord(
        id="r" * 201, agent="a", agent_hash="h", k=1, config={}, code_revision="c",
        package_versions={}, vcpu_hour_dollars=0.04,
    )
    try:
        with pytest.raises(StoreError, match="runs.id takes at most 200 characters, not 201"):
            with store.writing() as session:
                session.add(run)
        assert store.run_ids() == []
    finally:
        store.close()
