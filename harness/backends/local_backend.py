"""The local backend: sandboxes on bubblewrap (`harness/sandboxes/local_sandbox.py`) over a
checkout of each task's repository at its base commit, for hosts without Docker and for tests
of the runner's logic. Trusted code only (see local_sandbox.py)."""

from __future__ import annotations

import threading
from pathlib import Path

from harness.evaluation.evaluator import TestSetup
from harness.images.specs import spec_for
from harness.repos import RepoSource
from harness.sandboxes.base import Sandbox
from harness.sandboxes.factory import SandboxFactory
from harness.sandboxes.local_sandbox import LocalLimits, LocalSandbox
from harness.tasks import Task


class LocalSandboxes:
    """An "image" is a folder under `cache/images` holding the repository at the base commit;
    each sandbox works on its own copy of it."""

    def __init__(self, cache: Path, limits: LocalLimits | None = None) -> None:
        self.cache = Path(cache)
        self.limits = limits or LocalLimits()
        self.repos = RepoSource(cache_dir=self.cache / "repos")
        self.starts = 0  # sandboxes started
        self._lock = threading.Lock()

    def prepare_image(self, task: Task) -> str:
        image = self.cache / "images" / f"{task.instance_id}-{task.base_commit[:12]}"
        with self._lock:
            if not image.exists():
                partial = image.with_name(image.name + ".partial")
                self.repos.checkout_testbed(task.repo, task.base_commit, partial)
                partial.rename(image)
        return str(image)

    def start(self, image: str) -> Sandbox:
        with self._lock:
            self.starts += 1
        return LocalSandbox.start(image, self.limits)

    def test_setup(self, task: Task) -> TestSetup:
        spec = spec_for(task.repo, task.version)
        return TestSetup(spec.test_cmd, spec.log_parser, float(spec.test_timeout))

    def factory(self) -> SandboxFactory:
        return SandboxFactory(self.prepare_image, self.start, self.test_setup)
