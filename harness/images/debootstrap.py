"""The base image tier: a Debian root file system made by debootstrap and `docker import`ed.

No registry is needed: every package comes from Debian's own mirror. The image is tagged by a
hash of its spec, so a changed package list is a new image and an unchanged one is built once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import docker
import docker.errors

from harness.locks import file_lock
from harness.sandboxes.base import ImageBuildError

# Bump when the way the image is made changes (not its inputs): it changes every tag.
RECIPE_VERSION = 1

SUITE_PYTHON = {"bullseye": "3.9", "bookworm": "3.11", "trixie": "3.13"}

DEFAULT_PACKAGES = (
    "python3",
    "python3-pip",
    "python3-pytest",
    "python3-venv",
    "python3-setuptools",
    "git",
    "patch",
    "procps",
    "ca-certificates",
)

# debootstrap of bullseye minbase takes about a minute; a stalled mirror must not hang a run.
DEBOOTSTRAP_TIMEOUT = 30 * 60

Log = Callable[[str], None]


@dataclass(frozen=True)
class BaseImageSpec:
    """What goes into a base image: a Debian suite and the packages installed on top of minbase."""

    suite: str = "bullseye"
    packages: tuple[str, ...] = DEFAULT_PACKAGES

    def __post_init__(self) -> None:
        if self.suite not in SUITE_PYTHON:
            known = ", ".join(sorted(SUITE_PYTHON))
            raise ValueError(f"unknown Debian suite {self.suite!r}; known suites: {known}")

    @property
    def python_version(self) -> str:
        return SUITE_PYTHON[self.suite]

    @property
    def content_hash(self) -> str:
        payload = {
            **asdict(self),
            "packages": sorted(set(self.packages)),
            "recipe": RECIPE_VERSION,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    @property
    def tag(self) -> str:
        return f"harness-base:{self.suite}-{self.content_hash[:12]}"


def _debootstrap_binary() -> str:
    found = shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")
    if not found:
        raise ImageBuildError(
            "debootstrap is not installed; it builds the base image without a registry. "
            "Install it with `apt-get install debootstrap` (as root) and try again."
        )
    return found


def run_debootstrap(spec: BaseImageSpec, rootfs: Path, log: Log, mirror: str | None = None) -> None:
    """Creates a minbase root file system of `spec` in `rootfs`, passing each output line to
    `log`. Needs root. Raises ImageBuildError on failure, with the output's last lines."""
    command = [
        _debootstrap_binary(),
        "--variant=minbase",
        f"--include={','.join(spec.packages)}",
        spec.suite,
        str(rootfs),
    ]
    if mirror:
        command.append(mirror)
    log(f"$ {' '.join(command)}")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    )
    watchdog = threading.Timer(DEBOOTSTRAP_TIMEOUT, process.kill)
    watchdog.start()
    tail: list[str] = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip("\n")
            log(line)
            tail = [*tail[-19:], line]
        code = process.wait()
    finally:
        watchdog.cancel()
        if process.poll() is None:
            process.kill()
            process.wait()
    if code != 0:
        hint = " (killed after the time limit)" if code < 0 else ""
        details = "\n".join(tail)
        raise ImageBuildError(
            f"debootstrap {spec.suite} failed with exit code {code}{hint}; last output:\n{details}"
        )


def _finish_rootfs(rootfs: Path) -> None:
    """Drops downloaded .debs and package lists (they only bloat every layer above) and the
    PEP 668 marker of bookworm and later: the image is a throwaway, and `pip install` in an
    environment spec must work without a flag that bullseye's pip does not know."""
    patterns = (
        "var/cache/apt/archives/*.deb",
        "var/lib/apt/lists/*",
        "usr/lib/python3*/EXTERNALLY-MANAGED",
    )
    for pattern in patterns:
        for path in rootfs.glob(pattern):
            if path.is_file():
                path.unlink()


def _import_changes(spec: BaseImageSpec) -> list[str]:
    return [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        # Bytecode files would show up as untracked changes in a testbed without a .gitignore.
        "ENV PYTHONDONTWRITEBYTECODE=1",
        "ENV PIP_DISABLE_PIP_VERSION_CHECK=1",
        "ENV PIP_NO_CACHE_DIR=1",
        "LABEL harness=1",
        "LABEL harness.tier=base",
        f"LABEL harness.hash={spec.content_hash}",
        f"LABEL harness.suite={spec.suite}",
        'CMD ["/bin/bash"]',
    ]


def image_exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def ensure_base_image(
    client: docker.DockerClient,
    spec: BaseImageSpec | None = None,
    log: Log = lambda line: None,
    mirror: str | None = None,
) -> str:
    """Returns the tag of the base image of `spec`, building it first when it is missing.

    `mirror` is a Debian mirror URL; None lets debootstrap pick its default. Two processes asking
    for the same image at once build it once: the second waits for the first.
    Raises ImageBuildError when debootstrap or the import fails.
    """
    spec = spec or BaseImageSpec()
    if image_exists(client, spec.tag):
        return spec.tag
    with file_lock(spec.tag):
        if image_exists(client, spec.tag):
            return spec.tag
        log(f"building base image {spec.tag} (Debian {spec.suite}, Python {spec.python_version})")
        with tempfile.TemporaryDirectory(prefix="harness-base-") as scratch:
            rootfs = Path(scratch) / "rootfs"
            run_debootstrap(spec, rootfs, log, mirror)
            _finish_rootfs(rootfs)
            archive = Path(scratch) / "rootfs.tar"
            excludes = ["--exclude=./proc/*", "--exclude=./sys/*", "--exclude=./dev/*"]
            tar = ["tar", "--numeric-owner", *excludes, "-C", str(rootfs), "-cf", str(archive), "."]
            done = subprocess.run(tar, capture_output=True, text=True)
            if done.returncode != 0:
                raise ImageBuildError(f"packing the base root file system failed: {done.stderr}")
            repository, tag = spec.tag.split(":")
            log(f"importing {archive.stat().st_size // 2**20} MB into Docker as {spec.tag}")
            try:
                client.api.import_image(
                    src=str(archive), repository=repository, tag=tag, changes=_import_changes(spec)
                )
            except docker.errors.DockerException as error:
                raise ImageBuildError(f"docker import of {spec.tag} failed: {error}") from error
        if not image_exists(client, spec.tag):
            raise ImageBuildError(f"docker import reported success but {spec.tag} is missing")
        log(f"built {spec.tag}")
        return spec.tag
