"""Layered sandbox images, each cached by a hash of what went into it.

    base      harness-base:<suite>-<hash>          Debian + Python (debootstrap.py)
    env       harness-env:<spec>-<hash>            + the environment spec's pip packages, from a
                                                   host-side wheelhouse (wheelhouse.py), kept at
                                                   /opt/wheelhouse so installs work offline
    instance  harness-instance:<instance>-<hash>   + the repository at its base commit, installed

An instance image holds the installed testbed at /opt/testbed (a pristine copy the sandbox
copies to /testbed on start and on reset) and an empty /testbed where the sandbox mounts it.
Every image and build container is labelled harness=1, so `prune` finds them all.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shlex
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container

from harness.images.debootstrap import (
    DEFAULT_PACKAGES,
    BaseImageSpec,
    ensure_base_image,
    image_exists,
)
from harness.images.specs import EnvironmentSpec, spec_for
from harness.images.wheelhouse import SdistBuilder, ensure_wheelhouse
from harness.locks import file_lock
from harness.repos import RepoError, RepoSource
from harness.sandboxes.base import TESTBED, ImageBuildError
from harness.sandboxes.owner import owner_labels
from harness.tasks import Task

RECIPE_VERSION = 1
PRISTINE = "/opt/testbed"
WHEELHOUSE = "/opt/wheelhouse"
# pip in the env and instance images finds packages only in the wheelhouse: builds are offline.
OFFLINE_PIP_ENV = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELHOUSE}


def _image_env(python_version: str) -> dict[str, str]:
    env = dict(OFFLINE_PIP_ENV)
    if tuple(int(part) for part in python_version.split(".")) < (3, 12):
        # setuptools >= 60 brings its own distutils, which ignores Debian's install scheme:
        # `setup.py develop` would then link into /usr/lib/python3.X/site-packages, a folder
        # that is not on sys.path. Debian's own distutils (3.11 and older) gets it right.
        env["SETUPTOOLS_USE_DISTUTILS"] = "stdlib"
    return env
BUILD_STEP_TIMEOUT = 30 * 60
# The bytecode of the repository's own modules, compiled once into the pristine tree. Sandboxes
# write none (PYTHONDONTWRITEBYTECODE; and a reset removes what a run writes), so without it
# every evaluation compiles every module its tests import afresh: half a second on pytest's
# tree, more on sympy's. The bytecode is checked against a hash of its source on every import
# (not the source's mtime, which a process can set), so a module a candidate changes is
# always compiled from its new source; a reset restores both.
# Test folders are left out: pytest rewrites test modules into a cache of its own, and the
# test patch changes them anyway. Files this Python cannot compile are skipped.
# `.git/info/exclude` keeps the bytecode out of `git status` and of every diff an agent makes.
COMPILE_BYTECODE = (
    "py=$(command -v python || command -v python3) && "
    "$py -m compileall -q -j 0 --invalidation-mode checked-hash -x '/(tests?|testing)/' . "
    "> /dev/null 2>&1; "
    "if [ -d .git ]; then mkdir -p .git/info && "
    "printf '__pycache__/\\n*.py[co]\\n' >> .git/info/exclude; fi"
)

Log = Callable[[str], None]


def _hash(**parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _labels(tier: str, content_hash: str, **extra: str) -> dict[str, str]:
    return {"harness": "1", "harness.tier": tier, "harness.hash": content_hash, **extra}


def _tag_part(text: str) -> str:
    """A string made safe for a Docker tag (letters, digits, '_', '.', '-'; at most 100 chars)."""
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip(".-")[:100] or "x"


def _run_step(container: Container, command: str, workdir: str, log: Log) -> None:
    """Runs one build command in `container`, streaming its output to `log`; raises
    ImageBuildError, with the output's last lines, when it fails or outlives its time."""
    api = container.client.api
    wrapped = ["timeout", "-k", "10", str(BUILD_STEP_TIMEOUT), "sh", "-c", command]
    log(f"$ {command}")
    exec_id = api.exec_create(container.id, wrapped, workdir=workdir)["Id"]
    tail: list[str] = []
    pending = b""
    for chunk in api.exec_start(exec_id, stream=True):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            text = line.decode(errors="replace")
            log(text)
            tail = [*tail[-29:], text]
    if pending:
        log(pending.decode(errors="replace"))
    code = api.exec_inspect(exec_id)["ExitCode"]
    if code != 0:
        hint = f" (killed after {BUILD_STEP_TIMEOUT} s)" if code in (124, 137) else ""
        details = "\n".join(tail)
        raise ImageBuildError(
            f"build step `{command}` exited {code}{hint}; last output:\n{details}"
        )


def _build_image(
    client: docker.DockerClient,
    parent: str,
    tag: str,
    labels: dict[str, str],
    steps: Sequence[tuple[str, str]],
    log: Log,
    files: bytes | None = None,
    env: dict[str, str] | None = None,
) -> str:
    """Starts a container from `parent`, unpacks the tar `files` at /, runs each
    (workdir, command) step, and commits the result as `tag`, with `env` set in the image.
    Returns the tag.

    The build container has the default network, but specs must not rely on it: PyPI may be
    out of reach from containers (see wheelhouse.py).
    """
    container = None
    try:
        container = client.containers.run(
            parent,
            command=["sleep", "infinity"],
            detach=True,
            init=True,
            # The owner too: a build container of a killed run is an orphan to reap.
            labels={"harness": "1", "harness.tier": "build", **owner_labels()},
        )
        if files is not None and not container.put_archive("/", files):
            raise ImageBuildError(f"copying files into the build container for {tag} failed")
        for workdir, command in steps:
            _run_step(container, command, workdir, log)
        repository, version = tag.split(":")
        changes = [f"LABEL {key}={value}" for key, value in labels.items()]
        changes += [f"ENV {key}={value}" for key, value in (env or {}).items()]
        changes.append('CMD ["/bin/bash"]')
        container.commit(repository=repository, tag=version, changes=changes)
    except docker.errors.DockerException as error:
        raise ImageBuildError(f"building {tag} failed: {error}") from error
    finally:
        _remove_quietly(container)
    log(f"built {tag}")
    return tag


def _remove_quietly(container: Container | None) -> None:
    """Removes a build container; one that will not go is left to prune, found by its label."""
    if container is None:
        return
    try:
        container.remove(force=True)
    except docker.errors.DockerException:
        pass


def _folder_tar(folder: Path, arcname: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(folder, arcname=arcname)
    return buffer.getvalue()


# What compiling an sdist's C extension needs, on top of a base image.
BUILD_TOOLS = ("gcc", "g++", "python3-dev")


def container_sdist_builder(
    client: docker.DockerClient, spec: EnvironmentSpec, log: Log, base_mirror: str | None = None
) -> SdistBuilder:
    """Compiles an sdist into a wheel for the spec's Python in a throwaway container of its
    Debian suite (with gcc and the Python headers), offline: `pip wheel --no-index` finds the
    build requirements in the folder the wheelhouse fetched them to."""

    def build(sdist: Path, deps: Path, out: Path) -> None:
        packages = tuple(dict.fromkeys((*DEFAULT_PACKAGES, *BUILD_TOOLS, *spec.apt)))
        base = ensure_base_image(
            client, BaseImageSpec(suite=spec.suite, packages=packages), log, base_mirror
        )
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            archive.add(sdist, arcname=f"build/sdist/{sdist.name}")
            archive.add(deps, arcname="build/deps")
        container = None
        try:
            container = client.containers.run(
                base, command=["sleep", "infinity"], detach=True, init=True,
                network_disabled=True,
                labels={"harness": "1", "harness.tier": "build", **owner_labels()},
            )
            if not container.put_archive("/", buffer.getvalue()):
                raise ImageBuildError(f"copying {sdist.name} into the build container failed")
            _run_step(
                container,
                "python3 -m pip wheel --no-deps --no-index --find-links /build/deps "
                f"--wheel-dir /build/out /build/sdist/{shlex.quote(sdist.name)}",
                "/build", log,
            )
            stream, _ = container.get_archive("/build/out")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
                for member in archive.getmembers():
                    if member.isfile() and member.name.endswith(".whl"):
                        extracted = archive.extractfile(member)
                        assert extracted is not None
                        (out / Path(member.name).name).write_bytes(extracted.read())
        except docker.errors.DockerException as error:
            raise ImageBuildError(f"building {sdist.name} in a container failed: {error}") from None
        finally:
            _remove_quietly(container)

    return build


def ensure_env_image(
    client: docker.DockerClient,
    spec: EnvironmentSpec,
    log: Log = lambda line: None,
    base_mirror: str | None = None,
    cache_dir: Path | None = None,
) -> str:
    """The tag of the env image of `spec` (base image plus its pip packages), built if missing.

    The packages come from a wheelhouse fetched by the host's pip (`cache_dir`, default the
    harness cache), so the build needs no network inside the container.
    """
    # Extra Debian packages (compilers, graphviz) make another base image; without any, the
    # shared default one.
    packages = tuple(dict.fromkeys((*DEFAULT_PACKAGES, *spec.apt)))
    base = ensure_base_image(
        client, BaseImageSpec(suite=spec.suite, packages=packages), log, base_mirror
    )
    base_id = client.images.get(base).id
    parts: dict[str, object] = {"recipe": RECIPE_VERSION, "base": base_id, "pip": list(spec.pip)}
    if spec.pip:
        # Installed offline from /opt/wheelhouse, with `python`, and this environment.
        parts["wheelhouse"] = _image_env(spec.python_version)
    if spec.extra_wheels:
        parts["extra_wheels"] = list(spec.extra_wheels)
    content_hash = _hash(**parts)
    tag = f"harness-env:{spec.name}-{content_hash[:12]}"
    if image_exists(client, tag):
        return tag
    with file_lock(tag):
        if image_exists(client, tag):
            return tag
        log(f"building env image {tag}")
        steps: list[tuple[str, str]] = []
        files = None
        env = None
        if spec.pip:
            builder = container_sdist_builder(client, spec, log, base_mirror)
            wheels = ensure_wheelhouse(spec.pip, spec.python_version, cache_dir, log, builder,
                                       extra=spec.extra_wheels)
            files = _folder_tar(wheels, WHEELHOUSE.strip("/"))
            env = _image_env(spec.python_version)
            offline = f"--no-index --find-links {WHEELHOUSE}"
            requirements = " ".join(shlex.quote(requirement) for requirement in spec.pip)
            # Official specs call `python`; Debian names it python3 only.
            steps.append(("/", "command -v python >/dev/null || "
                               "ln -s /usr/bin/python3 /usr/local/bin/python"))
            install = f"python3 -m pip install --no-input {offline} {requirements}"
            exports = " ".join(f"{key}={value}" for key, value in env.items())
            steps.append(("/", f"export {exports}; {install}"))
        labels = _labels("env", content_hash, **{"harness.spec": spec.name})
        return _build_image(client, base, tag, labels, steps, log, files=files, env=env)


def _testbed_tar(repos: RepoSource, task: Task, shallow: bool) -> bytes:
    with tempfile.TemporaryDirectory(prefix="harness-testbed-") as scratch:
        testbed = Path(scratch) / "testbed"
        repos.checkout_testbed(task.repo, task.base_commit, testbed, depth=1 if shallow else None)
        return _folder_tar(testbed, TESTBED.strip("/"))


def prepare_instance_image(
    client: docker.DockerClient,
    task: Task,
    repos: RepoSource,
    log: Log = lambda line: None,
    spec_dir: Path | None = None,
    base_mirror: str | None = None,
) -> str:
    """The tag of `task`'s instance image, building whichever tiers are missing.

    Safe to call from several threads or processes at once: each image is built once.
    Raises SpecError when no environment spec matches the task, RepoError when its repository
    or commit cannot be found, and ImageBuildError when a build step fails.
    """
    spec = spec_for(task.repo, task.version, spec_dir)
    env = ensure_env_image(client, spec, log, base_mirror, cache_dir=repos.cache_dir)
    install = spec.install_steps(task.version)
    parts: dict[str, object] = {
        "recipe": RECIPE_VERSION,
        "env": client.images.get(env).id,
        "repo": task.repo,
        "base_commit": task.base_commit,
        "install": install,
        "bytecode": COMPILE_BYTECODE,
    }
    if spec.history != "full":
        parts["history"] = spec.history
    content_hash = _hash(**parts)
    tag = f"harness-instance:{_tag_part(task.instance_id)}-{content_hash[:12]}"
    if image_exists(client, tag):
        return tag
    with file_lock(tag):
        if image_exists(client, tag):
            return tag
        log(f"building instance image {tag}")
        try:
            files = _testbed_tar(repos, task, shallow=spec.history == "shallow")
        except RepoError as error:
            raise RepoError(f"{task.instance_id}: {error}") from None
        steps = [(TESTBED, command) for command in [*install, COMPILE_BYTECODE]]
        # The install ran in /testbed, so paths it recorded (editable installs) point there,
        # where the sandbox puts its working copy.
        steps.append(("/", f"mv {TESTBED} {PRISTINE} && mkdir {TESTBED}"))
        labels = _labels(
            "instance",
            content_hash,
            **{"harness.instance": task.instance_id, "harness.base_commit": task.base_commit},
        )
        return _build_image(client, env, tag, labels, steps, log, files=files)
