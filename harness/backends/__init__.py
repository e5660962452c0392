"""Sandbox backends, chosen by name: each turns options into the `SandboxFactory` the runner,
the executors and `validate` use (`harness/sandboxes/factory.py`).

- `docker`: Docker sandboxes on images this host builds or pulls (the default; untrusted
  patches run only here).
- `local`: bubblewrap sandboxes over plain checkouts, for trusted code where no Docker runs.
"""

from __future__ import annotations

from harness.backends.docker_backend import DockerOptions, docker_sandboxes
from harness.backends.local_backend import LocalSandboxes
from harness.sandboxes.factory import SandboxFactory

BACKENDS = ("docker", "local")


class UnknownBackendError(ValueError):
    """A backend name that is not one of BACKENDS."""


def sandbox_backend(name: str, options: DockerOptions | None = None) -> SandboxFactory:
    """The factory of backend `name`; `options` as for Docker (the local backend reads only its
    `cache_dir`)."""
    options = options or DockerOptions()
    if name == "docker":
        return docker_sandboxes(options)
    if name == "local":
        return LocalSandboxes(options.cache_dir / "local").factory()
    raise UnknownBackendError(
        f"no sandbox backend {name!r}; the backends are {', '.join(BACKENDS)}"
    )
