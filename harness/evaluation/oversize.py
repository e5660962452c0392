"""Candidates too large to evaluate: refused unapplied, and stored as a stub.

No real fix is megabytes long, and a huge text must reach neither a sandbox's disk nor the
store (a 60 MB patch stored with its attempt and again with its evaluation cost 253 MB of store
for 28 attempts). What is kept is what identifies it: its size, its hash (the attempt's
patch_hash is still that of the whole text), and its first kilobyte for a person to look at.
"""

from __future__ import annotations

import hashlib
import re

MAX_PATCH_BYTES = 2_000_000
KEPT_BYTES = 1024

_STUB = re.compile(r"^# harness: refused patch of (\d+) bytes, sha256 ([0-9a-f]{64})\n")


def patch_size(patch: str) -> int:
    return len(patch.encode("utf-8", "replace"))


def stored_patch(patch: str) -> str:
    """The text to store for a candidate: itself, or a stub when it is over the limit."""
    data = patch.encode("utf-8", "replace")
    if len(data) <= MAX_PATCH_BYTES:
        return patch
    head = data[:KEPT_BYTES].decode("utf-8", "ignore")
    digest = hashlib.sha256(data).hexdigest()
    return (f"# harness: refused patch of {len(data)} bytes, sha256 {digest}\n"
            f"# its first {KEPT_BYTES} bytes:\n{head}")


def is_refused(patch: str) -> bool:
    """True for a patch over the limit, or a stub that stands for one."""
    return bool(_STUB.match(patch)) or patch_size(patch) > MAX_PATCH_BYTES


def refusal_message(patch: str) -> str:
    match = _STUB.match(patch)
    size = int(match.group(1)) if match else patch_size(patch)
    return f"candidate patch is {size} bytes, over {MAX_PATCH_BYTES}: refused unapplied"
