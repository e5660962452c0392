"""Removes what harness left in Docker: containers and images labelled harness=1.

Sandboxes are removed when they close, but a crashed run can leave containers behind; images
are kept on purpose (they are the cache) until the user asks for them to go.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import docker
import docker.errors

from harness.sandboxes.owner import owner_is_gone

LABEL = "harness=1"
# Images depend on the tier below, so they go top down.
_TIER_ORDER = {"prebuilt": 0, "instance": 0, "env": 1, "base": 2}


@dataclass
class PruneReport:
    containers: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    # What could not be removed, with the daemon's reason.
    failures: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"removed {len(self.containers)} containers and {len(self.images)} images"
        if self.failures:
            text += f"; {len(self.failures)} could not be removed:\n  " + "\n  ".join(self.failures)
        return text


def prune(
    client: docker.DockerClient,
    images: bool = True,
    *,
    label: str = LABEL,
    orphans_only: bool = False,
) -> PruneReport:
    """Removes every container labelled harness=1, running or not, and with `images` every
    image so labelled (instance, then env, then base). Failures are listed in the report.

    `label` narrows the sweep to a more specific label (tests use it to spare the cache).
    `orphans_only` removes only sandboxes whose owning process has died (a killed run's
    leftovers) and no images: safe while other runs are going on.
    """
    report = PruneReport()
    # Sparse: the list answer alone, no inspect per container, so one that another run
    # removes between the list and our look at it is no error.
    for container in client.containers.list(all=True, filters={"label": label}, sparse=True):
        labels = container.attrs.get("Labels") or {}
        name = (container.attrs.get("Names") or [container.short_id])[0].lstrip("/")
        if orphans_only and not owner_is_gone(labels):
            continue
        try:
            container.remove(force=True)
            report.containers.append(name)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            report.failures.append(f"container {name}: {error.explanation}")
    if not images or orphans_only:
        return report
    found = client.images.list(all=True, filters={"label": label})
    found.sort(key=lambda image: _TIER_ORDER.get(image.labels.get("harness.tier", ""), -1))
    # A pulled prebuilt image carries no label of ours; its adapted copy names it.
    pulled = [image.labels["harness.source"] for image in found if "harness.source" in image.labels]
    for image in [*found, *pulled]:
        name = image if isinstance(image, str) else (image.tags or [image.short_id])[0]
        try:
            client.images.remove(name if isinstance(image, str) else image.id, force=True)
            report.images.append(name)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            report.failures.append(f"image {name}: {error.explanation}")
    return report
