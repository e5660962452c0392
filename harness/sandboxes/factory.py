"""What the runner, executors and `validate` get sandboxes through: a `SandboxFactory` (prepare a
task's image, start a sandbox on it, the task's test setup), whatever the backend behind it.

The backends that make one (Docker with its image supply, the local bubblewrap sandbox) live in
`harness/backends/`, chosen by name; this module holds only the contract, so the sandboxes
need neither image supply nor evaluation to define it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.sandboxes.base import Sandbox
from harness.sandboxes.host_slots import HostSlots
from harness.tasks import Task

if TYPE_CHECKING:  # types only: image supply and evaluation import the sandboxes, not back
    from harness.evaluation.evaluator import TestSetup
    from harness.images.image_names import ImageIdentity

Log = Callable[[str], None]


class HostRequirementError(RuntimeError):
    """The host lacks something every task needs (no Docker daemon, no debootstrap): said once,
    before any work, with what to do."""


@dataclass
class SandboxFactory:
    """Everything needed to get sandboxes for a task; kept apart so tests can swap backends.

    `preflight` checks, once, that the host can serve the given tasks; it raises
    HostRequirementError with what to do when it cannot."""

    prepare_image: Callable[[Task], str]
    start: Callable[[str], Sandbox]
    test_setup: Callable[[Task], TestSetup]
    preflight: Callable[[list[Task]], None] = lambda tasks: None
    # Where an image came from (prebuilt or built, name, digest): kept on each evaluation.
    describe_image: Callable[[str], ImageIdentity] | None = None
    # The host's sandbox budget shared with other processes; None: no limit beyond this run's.
    host_slots: HostSlots | None = None
