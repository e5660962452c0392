"""Image building on the console: one line per image built, the whole output in a file, and on
a failure its last lines and the file's path (real Docker builds of a toy repository)."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from pathlib import Path

import docker.errors
import pytest

from harness.backends.docker_backend import DockerOptions, docker_sandboxes
from harness.demo import load_demo_tasks
from harness.images.build import prepare_instance_image
from harness.images.build_log import TAIL_LINES, BuildLog
from harness.repos import RepoSource
from harness.sandboxes.base import ImageBuildError

pytestmark = pytest.mark.docker

# The demo spec with an install step that talks a lot and then fails.
FAILING_SPEC = """\
name: buildlogtest
repos: ["demo/*"]
suite: bullseye
install: ["for i in $(seq 1 200); do echo install line $i; done; exit 3"]
test_cmd: python3 -m pytest -rA -p no:cacheprovider
test_timeout: 60
"""


def fresh_demo_task():
    """A demo task under a new id, so its instance image is built now, whatever exists."""
    task = load_demo_tasks()[0]
    return replace(task, instance_id=f"{task.instance_id}-buildlog-{uuid.uuid4().hex[:8]}")


def remove_images(client, prefix: str) -> None:
    for image in client.images.list(filters={"label": "harness.tier=instance"}):
        for tag in image.tags:
            if tag.startswith(prefix):
                try:
                    client.images.remove(tag, force=True)
                except docker.errors.ImageNotFound:
                    pass


def test_a_build_shows_one_line_per_image_and_logs_the_rest(docker_client, tmp_path):
    shown: list[str] = []
    cache = tmp_path / "cache"
    factory = docker_sandboxes(DockerOptions(cache_dir=cache, log=shown.append))
    task = fresh_demo_task()
    try:
        tag = factory.prepare_image(task)
    finally:
        remove_images(docker_client, f"harness-instance:{task.instance_id.lower()}")
    # Base and env images may be built here too (a fresh machine): one line each, no more.
    pattern = re.compile(r"^built (base|env|instance) image (\S+) in \d+\.\d s$")
    assert all(pattern.match(line) for line in shown), shown
    assert [line for line in shown if " instance image " in line] == [
        next(line for line in shown if tag in line)
    ]
    logs = list((cache / "logs").glob("images-*.log"))
    assert len(logs) == 1
    text = logs[0].read_text()
    assert f"building instance image {tag}" in text
    assert "$ " in text  # the build's commands and their output are in the file


def test_a_failed_build_shows_its_tail_and_the_log_path(docker_client, tmp_path):
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "buildlogtest.yaml").write_text(FAILING_SPEC)
    shown: list[str] = []
    log = BuildLog(tmp_path / "logs", show=shown.append)
    task = fresh_demo_task()
    repos = RepoSource(cache_dir=tmp_path / "repos")
    with pytest.raises(ImageBuildError) as failure:
        try:
            prepare_instance_image(docker_client, task, repos, log, spec_dir=specs)
        except ImageBuildError as error:
            log.failed(error)  # what the factory's build does
            raise
    assert "exited 3" in str(failure.value)
    failed = [line for line in shown if "failed after" in line]
    assert len(failed) == 1, shown
    report = failed[0].splitlines()
    assert re.match(r"building instance image harness-instance:\S+ failed after \d+\.\d s: "
                    r"build step .* exited 3", report[0]), report[0]
    assert report[-1] == f"full build log: {log.path}"
    tail = [line for line in report if line.startswith("  | ")]
    assert len(tail) == TAIL_LINES
    assert tail[-1] == "  | install line 200" and "  | install line 100" not in report
    whole = Path(log.path).read_text()
    assert "install line 1\n" in whole and "install line 200" in whole
    # Nothing but the (base, env) images' lines and the failure reached the console.
    assert all(line.startswith("built ") for line in shown if line not in failed), shown
