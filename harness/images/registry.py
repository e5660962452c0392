"""Talking to image registries through the Docker daemon: probe, pull, push.

Pulls go through the Docker SDK's streaming API so that a progress bar shows layers and bytes;
at most `max_concurrent` run at once (a registry throttles, and the disk fills); a 429 or a
5xx from the registry is retried with exponential backoff. Errors are sorted into three kinds a
caller acts on differently: the image is not there (build it instead), no registry answers
(say so once, in one line), anything else (report it).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import docker
import docker.errors
import requests
from tqdm import tqdm

from harness.images.image_names import registry_of, split_reference
from harness.locks import file_lock

UNREACHABLE_HINT = "no registry reachable; use --images build"
# Words the daemon passes on from a registry that is there but busy or failing for now.
_TRANSIENT = (
    "toomanyrequests", "too many requests", " 429", "429 ", " 500 ", " 502", " 503", " 504",
    "bad gateway", "service unavailable", "gateway timeout", "internal server error",
    "unexpected eof", "connection reset", "tls handshake timeout", "received unexpected http",
)
# Words saying nothing answered at that address.
_UNREACHABLE = (
    "connection refused", "no such host", "dial tcp", "network is unreachable", "i/o timeout",
    "no route to host", "server misbehaving", "temporary failure in name resolution",
)
_NOT_FOUND = (
    "manifest unknown", "not found", "repository does not exist", "pull access denied",
    "name unknown", "requested access to the resource is denied",
)


class RegistryError(RuntimeError):
    """A registry operation failed for a reason other than those below."""


class ImageNotInRegistry(RegistryError):
    """The registry answered: it has no such image (or refuses to show it)."""


class RegistryUnreachable(RegistryError):
    """Nothing answered at the registry's address."""

    def __init__(self, registry: str, detail: str) -> None:
        super().__init__(f"{UNREACHABLE_HINT} ({registry}: {detail})")
        self.registry = registry


class _Transient(RegistryError):
    pass


def classify(reference: str, message: str) -> RegistryError:
    """The error kind of a daemon message about `reference`."""
    text = message.lower()
    # Unreachable first: "dial tcp ... i/o timeout" is no 5xx from a registry.
    if any(word in text for word in _UNREACHABLE):
        return RegistryUnreachable(registry_of(reference), message.strip()[:300])
    if any(word in text for word in _TRANSIENT):
        return _Transient(f"{reference}: {message.strip()[:300]}")
    if any(word in text for word in _NOT_FOUND):
        return ImageNotInRegistry(f"{reference} is not in its registry: {message.strip()[:300]}")
    return RegistryError(f"{reference}: {message.strip()[:300]}")


def _message(error: Exception) -> str:
    if isinstance(error, docker.errors.APIError):
        return f"{error.status_code} {error.explanation or error}"
    return str(error)


@dataclass(frozen=True)
class RetryPolicy:
    tries: int = 5
    first_delay: float = 2.0
    max_delay: float = 60.0

    def delay(self, attempt: int) -> float:
        # Full jitter: many workers that were throttled together do not retry together.
        return random.uniform(0.5, 1.0) * min(self.max_delay, self.first_delay * 2**attempt)


def with_retries(
    reference: str,
    action: Callable[[], object],
    policy: RetryPolicy,
    log: Callable[[str], None],
):
    """Runs `action`; a transient registry error is retried after a growing pause, the other
    kinds are raised at once (as ImageNotInRegistry, RegistryUnreachable or RegistryError)."""
    for attempt in range(policy.tries):
        try:
            return action()
        except (docker.errors.APIError, requests.RequestException, _StreamError) as error:
            kind = classify(reference, _message(error))
        if not isinstance(kind, _Transient) or attempt == policy.tries - 1:
            if isinstance(kind, _Transient):
                raise RegistryError(f"{kind} (gave up after {policy.tries} tries)") from None
            raise kind from None
        pause = policy.delay(attempt)
        log(f"{reference}: registry busy ({str(kind)[:120]}); retrying in {pause:.1f} s")
        time.sleep(pause)
    raise AssertionError("unreachable")


class _StreamError(Exception):
    """An error reported inside a pull or push stream (the HTTP status was 200)."""


class PullProgress:
    """One progress bar per pull: bytes downloaded of the layers' known total, and layers
    done out of those seen."""

    def __init__(self, reference: str, enabled: bool = True) -> None:
        self.bar = tqdm(
            total=0, unit="B", unit_scale=True, unit_divisor=1024, desc=f"pull {reference}",
            leave=False, disable=not enabled, mininterval=0.5, dynamic_ncols=True,
        )
        self.layers: dict[str, tuple[int, int]] = {}  # id -> (current, total) downloaded
        self.done: set[str] = set()

    def update(self, event: dict) -> None:
        layer, status = event.get("id"), event.get("status", "")
        if not layer or " " in layer or status.startswith(("Pulling from", "Digest", "Status")):
            return
        current, total = self.layers.get(layer, (0, 0))
        detail = event.get("progressDetail") or {}
        if status == "Downloading" and detail.get("total"):
            current, total = int(detail.get("current", 0)), int(detail["total"])
        elif status in ("Download complete", "Pull complete", "Already exists"):
            current = total
            if status != "Download complete":
                self.done.add(layer)
        self.layers[layer] = (current, total)
        self.bar.total = sum(total for _, total in self.layers.values())
        self.bar.set_postfix_str(f"layers {len(self.done)}/{len(self.layers)}", refresh=False)
        # update() redraws at most every mininterval: a pull sends hundreds of events a second.
        self.bar.update(sum(current for current, _ in self.layers.values()) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _consume(events: Iterable[dict], on_event: Callable[[dict], None]) -> list[dict]:
    seen: list[dict] = []
    for event in events:
        if "error" in event:
            detail = event.get("errorDetail", {}).get("message") or event["error"]
            raise _StreamError(detail)
        on_event(event)
        seen.append(event)
    return seen


@dataclass(frozen=True)
class PulledImage:
    reference: str
    image_id: str
    digest: str  # the registry's manifest digest, "repo@sha256:..."
    seconds: float
    pulled: bool  # False when it was there already and the policy allowed reuse


class Puller:
    """Pulls images, at most `max_concurrent` at once, each reference once at a time across
    threads and processes."""

    def __init__(
        self,
        client: docker.DockerClient,
        max_concurrent: int = 2,
        retry: RetryPolicy | None = None,
        log: Callable[[str], None] = lambda line: None,
        progress: bool = True,
    ) -> None:
        self.client = client
        self.slots = threading.BoundedSemaphore(max_concurrent)
        self.retry = retry or RetryPolicy()
        self.log = log
        self.progress = progress

    def exists_remotely(self, reference: str) -> str:
        """The manifest digest the registry holds for `reference`. Raises ImageNotInRegistry,
        RegistryUnreachable or RegistryError."""
        def probe() -> str:
            return self.client.api.inspect_distribution(reference)["Descriptor"]["digest"]

        return with_retries(reference, probe, self.retry, self.log)

    def local(self, reference: str):
        try:
            return self.client.images.get(reference)
        except docker.errors.ImageNotFound:
            return None

    def pull(self, reference: str, policy: str = "missing") -> PulledImage:
        """Makes `reference` present locally as `policy` says: `missing` pulls only when it is
        absent, `always` asks the registry each time, `never` only looks locally (and raises
        ImageNotInRegistry when it is absent)."""
        started = time.monotonic()
        image = self.local(reference)
        if image is not None and policy in ("missing", "never"):
            return self._result(reference, image, started, pulled=False)
        if policy == "never":
            raise ImageNotInRegistry(f"{reference} is not present locally (--pull-policy never)")
        with self.slots, file_lock(f"pull {reference}"):
            image = self.local(reference)
            if image is not None and policy == "missing":
                return self._result(reference, image, started, pulled=False)  # pulled meanwhile
            repository, tag = split_reference(reference)
            bar = PullProgress(reference, self.progress)

            def pull_once() -> None:
                stream = self.client.api.pull(repository, tag=tag, stream=True, decode=True)
                _consume(stream, bar.update)

            try:
                with_retries(reference, pull_once, self.retry, self.log)
            finally:
                bar.close()
        image = self.client.images.get(reference)
        result = self._result(reference, image, started, pulled=True)
        self.log(f"pulled {reference} ({human_size(image.attrs.get('Size', 0))}, "
                 f"{result.seconds:.1f} s)")
        return result

    @staticmethod
    def _result(reference: str, image, started: float, pulled: bool) -> PulledImage:
        repository, _ = split_reference(reference)
        digests = image.attrs.get("RepoDigests") or []
        digest = next((d for d in digests if d.startswith(repository + "@")), "")
        digest = digest or (digests[0] if digests else "")
        return PulledImage(reference, image.id, digest, time.monotonic() - started, pulled)


def push_image(
    client: docker.DockerClient,
    local: str,
    reference: str,
    retry: RetryPolicy | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> str:
    """Tags `local` as `reference` and pushes it; returns the manifest digest."""
    repository, tag = split_reference(reference)
    client.images.get(local).tag(repository, tag)
    found: list[str] = []

    def push_once() -> None:
        for event in _consume(client.api.push(repository, tag=tag, stream=True, decode=True),
                              lambda event: None):
            digest = (event.get("aux") or {}).get("Digest")
            if digest:
                found.append(digest)

    with_retries(reference, push_once, retry or RetryPolicy(), log)
    return found[-1] if found else ""


def human_size(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"

