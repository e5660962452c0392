"""The Docker backend: from typed options to the `SandboxFactory` the runner and `validate` use,
wiring image supply (`harness/images/`) to Docker sandboxes (`harness/sandboxes/`).

The daemon is reached lazily and once: a rerun that finds everything done never touches Docker,
and a run that does need it pings the daemon a single time, in `preflight`, before any work
starts, so a missing host requirement is one clear line rather than one error per task.
"""

from __future__ import annotations

import functools
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from harness.evaluation.evaluator import TestSetup
from harness.images.build_log import BuildLog
from harness.images.image_names import ImageOptions
from harness.sandboxes.base import Sandbox
from harness.sandboxes.factory import HostRequirementError, Log, SandboxFactory
from harness.sandboxes.host_slots import HostSlots
from harness.tasks import Task


@dataclass(frozen=True)
class DockerOptions:
    """How sandboxes are made on the local Docker daemon."""

    memory: str = "2g"  # memory limit of one sandbox
    cpus: float = 1.0  # CPUs of one sandbox
    repos_dir: Path | None = None  # local mirrors, one git repository per owner/name
    cache_dir: Path = Path("results") / "cache"  # clones and wheelhouses
    log: Log = lambda line: None  # image-building progress
    # Where images come from: pulled prebuilt ones, our own builds, or either (`auto`).
    images: ImageOptions = ImageOptions(mode="build")
    # Sandboxes on this host at once, shared by every harness process; None: not bounded.
    host_max_sandboxes: int | None = None
    # One-line notices about the host (sandboxes of dead runs removed).
    notice: Log = lambda line: None


def test_setup_for(task: Task) -> TestSetup:
    """The test command, parser and timeout of the task's environment spec.

    Raises SpecError when no spec matches the task."""
    from harness.images.specs import spec_for

    return spec_for(task.repo, task.version).test_setup()


def own_test_setup(task: Task) -> TestSetup | None:
    """Our spec's test setup, or None when no spec matches (an official-layout image brings
    its own)."""
    from harness.images.specs import SpecError

    try:
        return test_setup_for(task)
    except SpecError:
        return None


@dataclass(frozen=True)
class SandboxNeeds:
    """What a task's spec asks of its sandboxes beyond the run's options."""

    loopback_hosts: tuple[str, ...] = ()  # names that resolve to 127.0.0.1 inside
    cpus: float | None = None  # at least this many CPUs (as the official harness gives)


def own_sandbox_needs(task: Task) -> SandboxNeeds:
    """What our spec asks of the task's sandboxes; nothing when no spec matches."""
    from harness.images.specs import SpecError, spec_for

    try:
        spec = spec_for(task.repo, task.version)
    except SpecError:
        return SandboxNeeds()
    return SandboxNeeds(spec.loopback_hosts, spec.cpus)


def docker_sandboxes(options: DockerOptions) -> SandboxFactory:
    lock = threading.Lock()

    @functools.cache
    def client():
        with lock:
            return connect_docker()

    @functools.cache
    def repos():
        from harness.repos import RepoSource

        return RepoSource(repos_dir=options.repos_dir, cache_dir=options.cache_dir)

    # The builders' output goes to a file; the console gets one line per image.
    build_log = BuildLog(options.cache_dir / "logs", show=options.log)

    def build_image(task: Task) -> str:
        from harness.images.build import prepare_instance_image

        try:
            return prepare_instance_image(client(), task, repos(), build_log)
        except Exception as error:
            build_log.failed(error)
            raise

    made: list = []

    def resolver():
        from harness.images.prebuilt import ImageResolver

        connection = client()  # before the lock, which client() takes too (not reentrant)
        with lock:
            if not made:
                made.append(ImageResolver(connection, options.images, build_image, build_log))
        return made[0]

    # What each prepared image's sandboxes need, from the task's spec.
    needs: dict[str, SandboxNeeds] = {}

    def prepare(task: Task) -> str:
        image = resolver().prepare(task)
        wanted = own_sandbox_needs(task)
        with lock:
            needs[image] = wanted
        return image

    def start(image: str) -> Sandbox:
        from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

        with lock:
            wanted = needs.get(image, SandboxNeeds())
        limits = SandboxLimits(memory=options.memory, cpus=max(options.cpus, wanted.cpus or 0))
        return DockerSandbox.start(client(), image, limits, wanted.loopback_hosts)

    def preflight(tasks: list[Task]) -> None:
        from harness.images.registry import RegistryUnreachable

        reap_orphans(client(), options.notice)
        if options.images.mode != "build":
            try:
                resolver().check_registry(tasks)
            except RegistryUnreachable as error:
                raise HostRequirementError(str(error)) from None
        if options.images.mode == "prebuilt":
            return  # nothing is built locally
        require_debootstrap(client(), tasks)

    return SandboxFactory(
        prepare_image=prepare,
        start=start,
        test_setup=lambda task: resolver().test_setup(task, own_test_setup),
        preflight=preflight,
        describe_image=lambda image: resolver().identity(image),
        host_slots=(
            HostSlots(options.host_max_sandboxes) if options.host_max_sandboxes else None
        ),
    )


def connect_docker():
    """A client of the local Docker daemon, pinged; HostRequirementError when out of reach."""
    import docker

    try:
        connection = docker.from_env()
        connection.ping()
    except Exception as error:  # any failure to reach the daemon means the same
        raise HostRequirementError(
            f"cannot reach the Docker daemon ({error}); start Docker and retry "
            "(`python -m harness doctor` checks the host)"
        ) from None
    return connection


def require_debootstrap(client, tasks: list[Task]) -> None:
    """HostRequirementError when base images the tasks need are missing and debootstrap, which
    builds them, is not installed."""
    missing_base = missing_base_images(client, tasks)
    if missing_base and debootstrap_path() is None:
        raise HostRequirementError(
            f"debootstrap is not installed and {len(missing_base)} base image(s) must be "
            f"built ({', '.join(missing_base)}); run `./setup.sh` (or, as root, "
            "`apt-get install debootstrap`) and retry"
        )


def reap_orphans(client, notice: Log) -> int:
    """Removes this host's sandboxes whose owner process has died (a killed run's leftovers;
    never a live run's) and says how many; returns that number."""
    from harness.sandboxes.prune import prune

    report = prune(client, images=False, orphans_only=True)
    if report.containers:
        notice(f"removed {len(report.containers)} sandbox(es) left by runs that died "
               "(their owner process is gone)")
    for failure in report.failures:
        notice(f"could not remove a dead run's sandbox: {failure}")
    return len(report.containers)


def debootstrap_path() -> str | None:
    return shutil.which("debootstrap") or shutil.which("debootstrap", path="/usr/sbin:/sbin")


def missing_base_images(client, tasks: list[Task]) -> list[str]:
    """Tags of the base images the tasks' specs need that the daemon does not have. Tasks with
    no spec are skipped here: they fail on their own, as a recorded task error."""
    from harness.images.debootstrap import BaseImageSpec, image_exists
    from harness.images.specs import SpecError, spec_for

    suites: set[str] = set()
    for task in tasks:
        try:
            suites.add(spec_for(task.repo, task.version).suite)
        except SpecError:
            continue
    tags = sorted(BaseImageSpec(suite=suite).tag for suite in suites)
    return [tag for tag in tags if not image_exists(client, tag)]
