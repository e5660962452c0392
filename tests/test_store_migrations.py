"""The store's schema versions, on SQLite and on a real PostgreSQL server: the revisions build
exactly schema.py, an old store is brought up to date on open, and processes opening one fresh
store at once all succeed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from harness.store import Base, RunRecord, Store, StoreError
from harness.store.database import database_url, make_engine
from harness.store.migrations import (
    alembic_config,
    head_revision,
    upgrade_through_revisions,
)

REPO = Path(__file__).resolve().parents[1]


def test_revisions_have_one_head_and_a_numbered_chain():
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [head_revision()]
    chain = [revision.revision for revision in script.walk_revisions()][::-1]
    assert chain == [f"{number:04d}" for number in range(1, len(chain) + 1)]


def test_revisions_build_exactly_what_schema_py_declares(db_url):
    """Fails when schema.py changed without a revision (or a revision without schema.py):
    harness/store/migrations.py says how to write one."""
    engine = make_engine(database_url(db_url))
    try:
        upgrade_through_revisions(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == [], "schema.py and the revisions disagree; add a revision"


def test_a_fresh_store_is_created_at_head(db_url):
    store = Store(db_url)
    with store.reading() as session:
        versions = session.execute(text("select version_num from alembic_version")).all()
    store.close()
    assert versions == [(head_revision(),)]


def test_a_store_from_before_migrations_is_upgraded_keeping_its_rows(db_url):
    # What harness made before it kept revisions: the baseline's tables by create_all, no
    # version table, and (in the oldest stores) no response cache table.
    engine = make_engine(database_url(db_url))
    upgrade_through_revisions(engine, "0001")
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE alembic_version"))
        connection.execute(text("DROP TABLE model_responses"))
        connection.execute(
            RunRecord.__table__.insert().values(
                id="old", agent="a", agent_hash="h", k=3, config={"seed": 1}, code_revision="r",
                package_versions={}, vcpu_hour_dollars=0.04, status="finished", note="",
            )
        )
    engine.dispose()

    store = Store(db_url)
    old = store.run("old")
    with store.engine.connect() as connection:
        present = set(inspect(connection).get_table_names())
        version = connection.execute(text("select version_num from alembic_version")).scalar()
    store.close()
    assert old is not None and old.config == {"seed": 1}
    assert set(Base.metadata.tables) <= present
    assert version == head_revision()


def test_stored_test_results_get_what_grading_decided_of_them(db_url):
    """Revision 0007 stores `counts_against`; rows from before get it by grading's rule."""
    engine = make_engine(database_url(db_url))
    upgrade_through_revisions(engine, "0006")
    rows = [  # (name, kind, status): absent, failed, skipped and passed, of each kind
        ("f_absent", "FAIL_TO_PASS", None), ("f_skipped", "FAIL_TO_PASS", "SKIPPED"),
        ("f_passed", "FAIL_TO_PASS", "PASSED"), ("p_absent", "PASS_TO_PASS", None),
        ("p_error", "PASS_TO_PASS", "ERROR"), ("p_skipped", "PASS_TO_PASS", "SKIPPED"),
        ("other", "OTHER", "FAILED"),
    ]
    with engine.begin() as connection:
        connection.execute(text(
            "insert into tasks (id, instance_id, content_hash, repo, row) "
            "values (1, 't', 'h', 'r', '{}')"
        ))
        connection.execute(text(
            "insert into evaluations (id, task_id, patch_hash, status, apply_method, patch, "
            "eval_script, test_output, log, seconds, compute_seconds, harness_revision, "
            "image_source, image_name, image_digest, suspicious, suspicion, fault, created_at) "
            "values (1, 1, 'p', 'UNRESOLVED', '', '', '', '', '', 0, 0, '', '', '', '', "
            ":no, '', '', :now)"
        ), {"no": False, "now": "2026-12-07 00:00:00"})
        for name, kind, status in rows:
            connection.execute(text(
                "insert into test_results (evaluation_id, name, kind, status, passed) "
                "values (1, :name, :kind, :status, :passed)"
            ), {"name": name, "kind": kind, "status": status, "passed": status == "PASSED"})
    upgrade_through_revisions(engine)
    with engine.connect() as connection:
        against = dict(connection.execute(
            text("select name, counts_against from test_results")
        ).all())
    engine.dispose()
    assert {name for name, value in against.items() if value} == {
        "f_absent", "f_skipped", "p_absent", "p_error"
    }


OPEN = """
import sys
from harness.store import Store
store = Store(sys.argv[1])
print(store.run_ids())
store.close()
"""


def test_processes_opening_one_fresh_store_at_once_all_succeed(db_url):
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    openers = [
        subprocess.Popen(
            [sys.executable, "-c", OPEN, db_url], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )
        for _ in range(4)
    ]
    results = [(opener.wait(timeout=120), *opener.communicate()) for opener in openers]
    assert [(code, out) for code, out, _ in results] == [(0, "[]\n")] * 4, results
    store = Store(db_url)
    with store.reading() as session:
        versions = session.execute(text("select version_num from alembic_version")).all()
    store.close()
    assert versions == [(head_revision(),)]


def test_a_store_newer_than_this_harness_is_refused_in_one_line(tmp_path):
    db = tmp_path / "future.db"
    Store(db).close()
    engine = make_engine(database_url(db))
    with engine.begin() as connection:
        connection.execute(text("update alembic_version set version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="revision 9999, newer than this harness knows"):
        Store(db)

