"""Image tiers on the real Docker daemon: built once, labelled, reused, and pruned."""

from __future__ import annotations

import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import docker.errors
import pytest

from harness.images.build import prepare_instance_image
from harness.images.debootstrap import BaseImageSpec, ensure_base_image
from harness.images.specs import SpecError
from harness.repos import RepoSource
from harness.sandboxes.prune import prune
from harness.tasks import Task

pytestmark = pytest.mark.docker

SPEC = """\
name: imagestest
repos: ["local/*"]
suite: bullseye
install: ["mkdir -p toy.egg-info && echo installed > toy.egg-info/PKG-INFO"]
test_cmd: python3 -m pytest -rA -p no:cacheprovider
test_timeout: 60
"""


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def commit_all(repo: Path, message: str) -> str:
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, cwd=repo)
    return git("rev-parse", "HEAD", cwd=repo)


def toy_task(instance_id: str, base_commit: str) -> Task:
    return Task(instance_id, "local/toy", base_commit, "issue", "", "", ("t",), ())


@pytest.fixture(scope="module")
def setup(docker_client, tmp_path_factory):
    # This spec exists only here: its images from earlier runs (an older recipe hashes them
    # differently) would make "built once" count two.
    stale = docker_client.images.list(filters={"label": "harness.spec=imagestest"})
    # Children (instance images inherit the label) before their environment.
    for image in sorted(stale, key=lambda image: image.labels.get("harness.tier") == "env"):
        try:
            docker_client.images.remove(image.id, force=True)
        except docker.errors.APIError:
            pass
    root = tmp_path_factory.mktemp("images")
    repo = root / "repos" / "local" / "toy"
    repo.mkdir(parents=True)
    git("init", "--quiet", cwd=repo)
    (repo / ".gitignore").write_text("*.egg-info/\n")
    (repo / "toy.py").write_text("VALUE = 1\n")
    first = commit_all(repo, "first")
    (repo / "toy.py").write_text("VALUE = 2\n")
    (repo / "tests").mkdir()
    (repo / "tests" / "test_toy.py").write_text("def test_value():\n    pass\n")
    base = commit_all(repo, "base")
    (repo / "toy.py").write_text("VALUE = 3  # the fix\n")
    later = commit_all(repo, "later")
    specs = root / "specs"
    specs.mkdir()
    (specs / "toy.yaml").write_text(SPEC)
    repos = RepoSource(root / "repos", root / "cache")
    built: list[str] = []

    def prepare(task: Task) -> str:
        tag = prepare_instance_image(docker_client, task, repos, spec_dir=specs)
        built.append(tag)
        return tag

    yield {"prepare": prepare, "shas": (first, base, later), "specs": specs, "repos": repos}
    # Instance images are per commit, and these commits exist only in this run.
    for tag in set(built):
        try:
            docker_client.images.remove(tag, force=True)
        except docker.errors.ImageNotFound:
            pass


def run_in(client, image: str, script: str) -> str:
    output = client.containers.run(image, ["sh", "-c", script], remove=True, network_mode="none")
    return output.decode()


def test_tiers_are_built_labelled_and_reused(docker_client, setup) -> None:
    _, base, _ = setup["shas"]
    task = toy_task("Local__toy-1", base)
    tag = setup["prepare"](task)
    assert tag.startswith("harness-instance:local__toy-1-")
    instance = docker_client.images.get(tag)
    assert instance.labels["harness"] == "1"
    assert instance.labels["harness.tier"] == "instance"
    assert instance.labels["harness.instance"] == "Local__toy-1"
    assert instance.labels["harness.base_commit"] == base
    assert tag.endswith(instance.labels["harness.hash"][:12])

    base_image = docker_client.images.get(BaseImageSpec().tag)
    assert base_image.labels["harness.tier"] == "base"
    assert base_image.labels["harness.hash"] == BaseImageSpec().content_hash
    envs = docker_client.images.list(filters={"label": "harness.spec=imagestest"})
    env_tags = [name for image in envs for name in image.tags if name.startswith("harness-env:")]
    assert len(env_tags) == 1 and env_tags[0].startswith("harness-env:imagestest-")
    assert docker_client.images.get(env_tags[0]).labels["harness.tier"] == "env"

    started = time.monotonic()
    again = setup["prepare"](task)
    assert again == tag
    assert docker_client.images.get(again).id == instance.id
    assert time.monotonic() - started < 5, "a second prepare must reuse the images"


def test_instance_holds_testbed_at_base_only(docker_client, setup) -> None:
    _, base, later = setup["shas"]
    tag = setup["prepare"](toy_task("local__toy-1", base))
    script = (
        "cd /opt/testbed && git rev-parse HEAD && git status --porcelain && "
        f"(git cat-file -e {later} 2>/dev/null && echo LEAK || echo no-later-commit) && "
        "git remote | wc -l && cat toy.egg-info/PKG-INFO && cat toy.py && ls -A /testbed | wc -l"
    )
    lines = run_in(docker_client, tag, script).splitlines()
    assert lines == [base, "no-later-commit", "0", "installed", "VALUE = 2", "0"]


def test_instance_holds_bytecode_that_a_changed_module_never_hides(docker_client, setup) -> None:
    """The pristine tree carries its modules' bytecode (so evaluations do not compile them
    afresh), none of the test folders', and none that git shows; a module changed after the
    build is compiled from its new source, never taken from the stale bytecode, even when
    its size and mtime are those the bytecode was made from."""
    _, base, _ = setup["shas"]
    tag = setup["prepare"](toy_task("local__toy-1", base))
    script = (
        "cp -a /opt/testbed/. /tmp/tb && cd /tmp/tb && "
        "ls __pycache__ | sed 's/cpython-[0-9]*/cpython-X/' && "
        "(ls tests/__pycache__ 2>/dev/null || echo no-test-bytecode) && "
        "git status --porcelain && echo clean && "
        "python3 -v -c 'import toy' 2>&1 | grep -c 'code object from .*toy.cpython' && "
        "cp -p toy.py /tmp/original && echo 'VALUE = 7' > toy.py && touch -r /tmp/original toy.py "
        "&& cmp -s /tmp/original toy.py || python3 -v -c 'import toy; print(toy.VALUE)' 2>&1 | "
        "grep -E 'code object from .*toy.cpython|^7$'"
    )
    lines = run_in(docker_client, tag, script).splitlines()
    assert lines == ["toy.cpython-X.pyc", "no-test-bytecode", "clean", "1", "7"], lines


def test_concurrent_prepares_share_tiers(docker_client, setup) -> None:
    first, base, _ = setup["shas"]
    tasks = [toy_task("local__toy-a", first), toy_task("local__toy-b", base)] * 2
    with ThreadPoolExecutor(4) as pool:
        tags = list(pool.map(setup["prepare"], tasks))
    assert tags[0] == tags[2] and tags[1] == tags[3] and tags[0] != tags[1]
    parents = {docker_client.images.get(tag).labels["harness.spec"] for tag in tags}
    assert parents == {"imagestest"}


def test_task_without_spec_is_a_clear_error(docker_client, setup) -> None:
    task = Task("x__y-1", "other/repo", "abc", "issue", "", "", ("t",), ())
    with pytest.raises(SpecError, match=str(setup["specs"])):
        prepare_instance_image(docker_client, task, setup["repos"], spec_dir=setup["specs"])


def test_prune_removes_labelled_containers_and_images(docker_client) -> None:
    # A throwaway chain under its own label, so the shared image cache survives this test;
    # prune's default label is the one every tier carries (checked above).
    base = ensure_base_image(docker_client)
    mark = f"harness.test={uuid.uuid4().hex[:12]}"
    key, value = mark.split("=")
    labels = {"harness": "1", key: value}
    builder = docker_client.containers.run(base, ["sleep", "60"], detach=True, labels=labels)
    try:
        changes = [f"LABEL {key}={value}", "LABEL harness.tier=env"]
        builder.commit(repository="harness-prunetest", tag=f"env-{value}", changes=changes)
    finally:
        builder.remove(force=True)
    env_tag = f"harness-prunetest:env-{value}"
    child = docker_client.containers.create(env_tag, ["true"], labels=labels)
    child.commit(
        repository="harness-prunetest",
        tag=f"instance-{value}",
        changes=["LABEL harness.tier=instance"],
    )
    child.remove()
    running = docker_client.containers.run(env_tag, ["sleep", "60"], detach=True, labels=labels)
    stopped = docker_client.containers.create(env_tag, ["true"], labels=labels)

    kept = prune(docker_client, images=False, label=mark)
    assert sorted(kept.containers) == sorted([running.name, stopped.name])
    assert docker_client.containers.list(all=True, filters={"label": mark}) == []
    assert len(docker_client.images.list(filters={"label": mark})) == 2

    report = prune(docker_client, label=mark)
    assert report.failures == []
    assert report.images == [f"harness-prunetest:instance-{value}", env_tag]
    assert docker_client.images.list(all=True, filters={"label": mark}) == []
    assert docker_client.images.get(base).labels["harness.tier"] == "base"


def test_missing_debootstrap_says_how_to_install(monkeypatch, tmp_path) -> None:
    import harness.images.debootstrap as debootstrap

    monkeypatch.setattr(debootstrap.shutil, "which", lambda *args, **kwargs: None)
    with pytest.raises(debootstrap.ImageBuildError, match="apt-get install debootstrap"):
        debootstrap.run_debootstrap(BaseImageSpec(), tmp_path / "rootfs", log=lambda line: None)


def test_base_spec_hash_and_suites() -> None:
    assert BaseImageSpec().tag == BaseImageSpec(packages=BaseImageSpec().packages[::-1]).tag
    assert BaseImageSpec(suite="bookworm").python_version == "3.11"
    assert BaseImageSpec(suite="trixie").tag.startswith("harness-base:trixie-")
    with pytest.raises(ValueError, match="bullseye"):
        BaseImageSpec(suite="sid")


def test_environment_specs(tmp_path) -> None:
    from harness.images.specs import DEFAULT_SPEC_DIR, spec_for

    demo = spec_for("demo/calc", "0.1")
    assert (demo.name, demo.suite, demo.pip, demo.install) == ("demo", "bullseye", (), ())
    assert demo.log_parser == "pytest" and demo.test_timeout == 60
    with pytest.raises(SpecError, match=str(DEFAULT_SPEC_DIR)):
        spec_for("someone/else", "1.0")
    (tmp_path / "bad.yaml").write_text("name: Bad Name\nrepos: ['*']\ntest_cmd: x\n")
    with pytest.raises(SpecError, match="bad.yaml"):
        spec_for("a/b", "1", spec_dir=tmp_path)
