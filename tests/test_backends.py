"""Sandbox backends are chosen by name; the local one is the package's, not a test's."""

from __future__ import annotations

import pytest

from harness.backends import BACKENDS, UnknownBackendError, sandbox_backend
from harness.backends.docker_backend import DockerOptions
from harness.demo import load_demo_tasks


def test_an_unknown_backend_is_one_clear_error():
    with pytest.raises(UnknownBackendError, match="'nope'.*docker, local"):
        sandbox_backend("nope")
    assert BACKENDS == ("docker", "local")


def test_the_local_backend_by_name_runs_a_task_checkout(tmp_path):
    from needs import bubblewrap_present

    bubblewrap_present()
    factory = sandbox_backend("local", DockerOptions(cache_dir=tmp_path))
    task = load_demo_tasks()[0]
    image = factory.prepare_image(task)
    assert image.startswith(str(tmp_path / "local" / "images"))
    setup = factory.test_setup(task)
    assert setup.log_parser == "pytest"
    with factory.start(image) as sandbox:
        result = sandbox.exec("git rev-parse HEAD")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == task.base_commit
