"""Choosing each task's image: pull the prebuilt one when the run allows it and a registry has
it, else build ours. The one place that knows which image a task's sandboxes run and how its
tests run there.

    --images build     always our own build (images.py), as before
    --images prebuilt  only pulled images; no registry answering is one clear error
    --images auto      pulled when the registry has it, built otherwise (and everything built,
                       with one warning, when no registry answers)

An image we pushed ourselves (`harness images push`) keeps its labels, so a pull of it is used
as is; any other pulled image is taken to be in the official layout and adapted once
(official_layout.py).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

import docker
import docker.errors

from harness.evaluation.evaluator import TestSetup
from harness.images.image_names import ImageIdentity, ImageOptions, prebuilt_name
from harness.images.official_layout import adapt_official_image, official_test_setup
from harness.images.registry import (
    ImageNotInRegistry,
    PulledImage,
    Puller,
    RegistryError,
    RegistryUnreachable,
    human_size,
)
from harness.sandboxes.base import ImageBuildError
from harness.tasks import Task

Log = Callable[[str], None]


class PrebuiltImageError(ImageBuildError):
    """`--images prebuilt` and the task's image cannot be had from the registry (an
    environment failure of that task, as a failed build is)."""


class ImageResolver:
    """Gives each task the local tag its sandboxes start from, and remembers where it came
    from (for the store) and which layout it has (for the test setup)."""

    def __init__(
        self,
        client: docker.DockerClient,
        options: ImageOptions,
        build: Callable[[Task], str],
        log: Log = lambda line: None,
        progress: bool = True,
    ) -> None:
        self.client = client
        self.options = options
        self.build = build
        self.log = log
        self.puller = Puller(client, options.max_concurrent_pulls, log=log, progress=progress)
        self._lock = threading.Lock()
        self._identities: dict[str, ImageIdentity] = {}
        self._official: set[str] = set()  # instance ids whose image has the official layout
        self._unreachable: RegistryUnreachable | None = None
        self._in_use: set[str] = set()

    # --- before the run --------------------------------------------------------------------

    def check_registry(self, tasks: Iterable[Task]) -> None:
        """Asks the registry once, before any work, so that nothing answering is one line up
        front. Raises RegistryUnreachable in `prebuilt` mode; in `auto` mode it says once that
        images will be built, and pulls are not tried again this run."""
        if self.options.mode == "build" or self.options.pull_policy == "never":
            return
        for task in tasks:
            reference = prebuilt_name(task.instance_id, self.options)
            if self.options.pull_policy == "missing" and self.puller.local(reference) is not None:
                continue
            try:
                self.puller.exists_remotely(reference)
            except RegistryUnreachable as error:
                if self.options.mode == "prebuilt":
                    raise
                self._unreachable = error
                self.log(f"warning: {error}; building every image locally (--images auto)")
            except RegistryError:
                pass  # answered: this task's own outcome is settled when it is prepared
            return

    # --- per task --------------------------------------------------------------------------

    def prepare(self, task: Task) -> str:
        """The local image tag for `task`. Raises PrebuiltImageError (prebuilt mode) or
        whatever the local build raises."""
        if self.options.mode != "build":
            pulled = self._try_pull(task)
            if pulled is not None:
                return self._use_pulled(task, pulled)
        local = self.build(task)
        image_id = self.client.images.get(local).id
        return self._remember(task, local, ImageIdentity("build", local, image_id))

    def _try_pull(self, task: Task) -> PulledImage | None:
        reference = prebuilt_name(task.instance_id, self.options)
        prebuilt_only = self.options.mode == "prebuilt"
        if self._unreachable is not None and not prebuilt_only:
            return None
        try:
            return self.puller.pull(reference, self.options.pull_policy)
        except RegistryUnreachable as error:
            if prebuilt_only:
                raise PrebuiltImageError(str(error)) from None
            with self._lock:
                first = self._unreachable is None
                self._unreachable = error
            if first:
                self.log(f"warning: {error}; building images locally from now on")
        except ImageNotInRegistry as error:
            if prebuilt_only:
                raise PrebuiltImageError(f"{error}; --images auto builds what is missing") from None
            self.log(f"{task.instance_id}: no prebuilt image ({reference}); building it")
        except RegistryError as error:
            if prebuilt_only:
                raise PrebuiltImageError(str(error)) from None
            self.log(f"{task.instance_id}: pulling failed ({error}); building it")
        return None

    def _use_pulled(self, task: Task, pulled: PulledImage) -> str:
        labels = self.client.images.get(pulled.reference).labels or {}
        identity = ImageIdentity("prebuilt", pulled.reference, pulled.digest or pulled.image_id)
        if labels.get("harness.tier") == "instance":
            # One of ours, pushed by `harness images push`: our layout, our test setup.
            local = pulled.reference
        else:
            try:
                local = adapt_official_image(self.client, task, pulled, self.log)
            except ImageBuildError as error:
                raise PrebuiltImageError(f"{pulled.reference}: {error}") from None
            with self._lock:
                self._official.add(task.instance_id)
        self._remember(task, local, identity)
        if pulled.pulled and self.options.max_image_disk is not None:
            self.bound_disk(self.options.max_image_disk)
        return local

    def _remember(self, task: Task, local: str, identity: ImageIdentity) -> str:
        with self._lock:
            self._identities[local] = identity
            self._in_use.add(local)
        return local

    def identity(self, local: str) -> ImageIdentity:
        """Where the image a sandbox ran came from: recorded on every evaluation."""
        with self._lock:
            known = self._identities.get(local)
        if known is not None:
            return known
        try:
            image_id = self.client.images.get(local).id
        except docker.errors.DockerException:
            image_id = ""
        return ImageIdentity("build", local, image_id)

    def test_setup(self, task: Task, own: Callable[[Task], TestSetup | None]) -> TestSetup:
        """How `task`'s tests run on its image: `own(task)` (our environment spec's setup, or
        None when no spec matches) on our images; the official way on official-layout ones."""
        if task.instance_id in self._official:
            return official_test_setup(task, own(task))
        setup = own(task)
        if setup is None:
            from harness.images.specs import spec_for

            spec_for(task.repo, task.version)  # raises the SpecError that says what to add
            raise AssertionError("unreachable")
        return setup

    # --- disk ------------------------------------------------------------------------------

    def bound_disk(self, limit: int) -> list[str]:
        """Removes the oldest prebuilt images (adapted copy and pulled original) that this run
        does not use until what remains is under `limit` bytes. Sizes are the daemon's image
        sizes, which count shared layers once per image: the bound errs on the safe side.
        Returns what was removed."""
        adapted = self.client.images.list(filters={"label": "harness.tier=prebuilt"})
        total = sum(image.attrs.get("Size", 0) for image in adapted)
        removed: list[str] = []
        with self._lock:
            in_use = set(self._in_use)
        for image in sorted(adapted, key=lambda image: image.attrs.get("Created", "")):
            if total <= limit:
                break
            tags = image.tags or [image.id]
            if in_use & set(tags):
                continue
            try:
                self.client.images.remove(image.id)
            except docker.errors.APIError:
                continue  # a sandbox of another run uses it
            total -= image.attrs.get("Size", 0)
            removed.append(tags[0])
            source = image.labels.get("harness.source")
            if source:
                try:
                    self.client.images.remove(source)
                    removed.append(source)
                except docker.errors.APIError:
                    pass
        if removed:
            self.log(f"image disk over {human_size(limit)}: removed {', '.join(removed)}")
        return removed
