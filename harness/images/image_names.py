"""Where a task's prebuilt image lives: the image source options of a run and the naming rule.

The official rule (SWE-bench's published instance images on Docker Hub):

    {namespace}/sweb.eval.{arch}.{instance id lowercased, "__" -> "_1776_"}:{tag}

Epoch's mirror (`--image-layout epoch`):

    ghcr.io/epoch-research/swe-bench.eval.{arch}.{instance id lowercased}:{tag}

or any template with the placeholders {registry} {namespace} {arch} {id} {official_id}
{instance_id} {tag}. A registry other than Docker Hub is put in front of the name.
"""

from __future__ import annotations

import platform
import re
from dataclasses import asdict, dataclass
from typing import Any, Literal

ImagesMode = Literal["auto", "prebuilt", "build"]
PullPolicy = Literal["missing", "always", "never"]

IMAGES_MODES: tuple[str, ...] = ("auto", "prebuilt", "build")
PULL_POLICIES: tuple[str, ...] = ("missing", "always", "never")
LAYOUTS: dict[str, str] = {
    "official": "{registry}/{namespace}/sweb.eval.{arch}.{official_id}:{tag}",
    "epoch": "{registry}/{namespace}/swe-bench.eval.{arch}.{id}:{tag}",
}
# What a layout means when the user names no registry or namespace.
LAYOUT_DEFAULTS: dict[str, tuple[str, str]] = {
    "official": ("docker.io", "swebench"),
    "epoch": ("ghcr.io", "epoch-research"),
}
DOCKER_HUB_NAMES = ("", "docker.io", "index.docker.io", "registry-1.docker.io")
_PLACEHOLDERS = {"registry", "namespace", "arch", "id", "official_id", "instance_id", "tag"}


class ImageOptionsError(ValueError):
    """Image source options that cannot name an image (bad layout template, arch, size)."""


def host_arch() -> str:
    """The architecture part of official names for this host: x86_64 or arm64."""
    machine = platform.machine().lower()
    return "arm64" if machine in ("aarch64", "arm64") else "x86_64"


def parse_size(text: str) -> int:
    """Bytes in '50G', '500m', '1.5T' or a plain number."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", text.lower())
    if not match:
        raise ImageOptionsError(f"not a size: {text!r} (write e.g. 50G or 800M)")
    power = " kmgt".index(match.group(2) or " ")
    return int(float(match.group(1)) * 1024**power)


@dataclass(frozen=True)
class ImageOptions:
    """Where a run's images come from. Recorded in the run's configuration as given."""

    mode: ImagesMode = "auto"
    registry: str | None = None  # None: the layout's default (Docker Hub for official)
    namespace: str | None = None
    tag: str = "latest"
    arch: str = ""  # "": the host's
    layout: str = "official"  # a LAYOUTS key or a template
    pull_policy: PullPolicy = "missing"
    max_concurrent_pulls: int = 2
    # Bytes the pulled images may take in all; None: unbounded.
    max_image_disk: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in IMAGES_MODES:
            raise ImageOptionsError(f"--images must be one of {', '.join(IMAGES_MODES)}")
        if self.pull_policy not in PULL_POLICIES:
            raise ImageOptionsError(f"--pull-policy must be one of {', '.join(PULL_POLICIES)}")
        if self.arch and self.arch not in ("x86_64", "arm64"):
            raise ImageOptionsError(f"--image-arch must be x86_64 or arm64, not {self.arch!r}")
        if self.max_concurrent_pulls < 1:
            raise ImageOptionsError("--max-concurrent-pulls must be at least 1")
        template = self.template
        unknown = set(re.findall(r"{(\w*)}", template)) - _PLACEHOLDERS
        if unknown or "{" not in template:
            known = ", ".join(sorted(LAYOUTS))
            raise ImageOptionsError(
                f"--image-layout {self.layout!r} is neither {known} nor a template with "
                f"{{id}}/{{official_id}}/{{instance_id}} (unknown: {', '.join(sorted(unknown))})"
            )

    @property
    def template(self) -> str:
        return LAYOUTS.get(self.layout, self.layout)

    @property
    def effective_registry(self) -> str:
        default = LAYOUT_DEFAULTS.get(self.layout, LAYOUT_DEFAULTS["official"])[0]
        return default if self.registry is None else self.registry

    @property
    def effective_namespace(self) -> str:
        default = LAYOUT_DEFAULTS.get(self.layout, LAYOUT_DEFAULTS["official"])[1]
        return default if self.namespace is None else self.namespace

    @property
    def effective_arch(self) -> str:
        return self.arch or host_arch()

    def record(self) -> dict[str, Any]:
        """What goes into the run's configuration: the options and what they resolved to."""
        return {
            **asdict(self),
            "resolved_registry": self.effective_registry,
            "resolved_namespace": self.effective_namespace,
            "resolved_arch": self.effective_arch,
            "template": self.template,
        }


def official_id(instance_id: str) -> str:
    """The instance id as official image names spell it."""
    return instance_id.lower().replace("__", "_1776_")


def prebuilt_name(instance_id: str, options: ImageOptions) -> str:
    """The full image reference (registry/repository:tag) of a task's prebuilt image."""
    registry = options.effective_registry
    if registry in DOCKER_HUB_NAMES:
        registry = ""
    name = options.template.format(
        registry=registry,
        namespace=options.effective_namespace,
        arch=options.effective_arch,
        id=instance_id.lower(),
        official_id=official_id(instance_id),
        instance_id=instance_id,
        tag=options.tag,
    )
    name = re.sub(r"/{2,}", "/", name).lstrip("/")
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:{options.tag}"


def split_reference(name: str) -> tuple[str, str]:
    """(repository, tag) of 'host:port/a/b:tag'; the port's colon is not the tag's."""
    head, slash, last = name.rpartition("/")
    if ":" in last:
        last, tag = last.rsplit(":", 1)
    else:
        tag = "latest"
    return f"{head}{slash}{last}", tag


def registry_of(name: str) -> str:
    """The registry host a reference points at ('docker.io' when it names none)."""
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


@dataclass(frozen=True)
class ImageIdentity:
    """Which environment a verdict came from: recorded on every evaluation."""

    source: str  # "prebuilt" (pulled) or "build" (made here)
    name: str  # the pulled reference, or our build's tag
    digest: str  # the registry's manifest digest (repo@sha256:...), or the local image id
