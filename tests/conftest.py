"""Shared fixtures. Tests that need Docker use the real daemon and skip, saying why, without one."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config, items):
    """Every test that needs Docker must say so, so `-m "not docker"` runs without a daemon."""
    unmarked = [
        item.nodeid for item in items
        if "docker_client" in getattr(item, "fixturenames", ())
        and item.get_closest_marker("docker") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "tests using docker_client without @pytest.mark.docker: " + ", ".join(unmarked)
        )


@pytest.fixture(scope="session")
def docker_client():
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as error:  # any failure to reach the daemon means: cannot run here
        pytest.skip(f"no Docker daemon reachable: {error}")
    yield client
    client.close()


@pytest.fixture(scope="session")
def postgres_server():
    """One PostgreSQL server for the whole session (see tests/postgres_server.py)."""
    from needs import missing
    from postgres_server import PostgresServer, postgres_bin

    bin_dir = postgres_bin()
    if bin_dir is None:
        missing("PostgreSQL is not installed (apt-get install postgresql)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        missing("no PostgreSQL driver: pip install -e '.[postgres]'")
    server = PostgresServer(bin_dir)
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    """A fresh, empty store location: a SQLite file, then a new PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "h.db")
    return request.getfixturevalue("postgres_server").create_database()
