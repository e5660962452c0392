"""What a test needs from the host: where it is missing a test skips, saying what to install;
in CI (CI set) it fails instead, so a green CI run never hides a skipped backend."""

from __future__ import annotations

import os

import pytest


def missing(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def bubblewrap_present() -> None:
    from harness.sandboxes.local_sandbox import bubblewrap

    if bubblewrap() is None:
        missing("bubblewrap is not installed (apt-get install bubblewrap)")
