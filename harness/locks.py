"""Where built things are cached on the host, and the lock that keeps two builders apart."""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def default_cache_dir() -> Path:
    """~/.cache/harness, or under $XDG_CACHE_HOME when the user's system sets it."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "harness"


@contextmanager
def file_lock(name: str, lock_dir: Path | None = None) -> Iterator[None]:
    """Holds an exclusive lock named `name` across processes and threads.

    flock locks belong to an open file description, so two threads that each open the lock
    file exclude each other just as two processes do. The lock dies with its holder, so a
    crashed build never leaves a stale lock behind.
    """
    folder = lock_dir or default_cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    safe = hashlib.sha256(name.encode()).hexdigest()[:16]
    with open(folder / f"{safe}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
