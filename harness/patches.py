"""Unified-diff helpers: which files a patch touches, and a normalized identity for a patch.

Two candidates that differ only in diff noise (index lines, hunk context width is NOT noise,
trailing whitespace on header lines, timestamps, a missing final newline) get the same hash, so
the same change is evaluated once.
"""

from __future__ import annotations

import hashlib
import re

from unidiff import PatchSet
from unidiff.errors import UnidiffParseError

_DIFF_GIT = re.compile(r"^diff --git a/(.+?) b/(.+)$")
_PLUS_FILE = re.compile(r"^\+\+\+ (?:b/)?(.+?)(?:\t.*)?$")
_MINUS_FILE = re.compile(r"^--- (?:a/)?(.+?)(?:\t.*)?$")


class PatchFormatError(ValueError):
    """Text that is not a unified diff."""


def touched_files(patch: str) -> list[str]:
    """Paths (relative to the repository root) a patch changes, creates or deletes, in order."""
    files: list[str] = []
    for line in patch.splitlines():
        for pattern in (_DIFF_GIT, _MINUS_FILE, _PLUS_FILE):
            match = pattern.match(line)
            if not match:
                continue
            for path in match.groups():
                if path and path != "/dev/null" and path not in files:
                    files.append(path)
            break
    return files


def diff_targets(patch: str) -> list[str]:
    """The new-side path of every `diff --git` header, in order (a renamed file by its new
    name): what the official harness gives the test command as its test directives."""
    found: list[str] = []
    for line in patch.splitlines():
        match = _DIFF_GIT.match(line)
        if match and match.group(2) not in found:
            found.append(match.group(2))
    return found


def parse_patch(patch: str) -> PatchSet:
    """Parses with unidiff, raising PatchFormatError with unidiff's reason."""
    try:
        return PatchSet(patch)
    except UnidiffParseError as error:
        raise PatchFormatError(str(error)) from None


def normalize_patch(patch: str) -> str:
    """A canonical text for a patch, used only for identity (never applied).

    Keeps what changes behaviour (paths, hunks, their lines) and drops what does not (index
    lines, timestamps, git's function-name hunk suffix, line endings, trailing blank lines).
    """
    if not patch.strip():
        return ""
    kept: list[str] = []
    for raw in patch.replace("\r\n", "\n").split("\n"):
        if raw.startswith("index ") or raw.startswith("similarity index"):
            continue
        if raw.startswith("--- ") or raw.startswith("+++ "):
            raw = raw.split("\t", 1)[0].rstrip()
        elif raw.startswith("@@"):
            end = raw.find("@@", 2)
            raw = raw[: end + 2] if end != -1 else raw
        kept.append(raw)
    return "\n".join(kept).strip("\n") + "\n"


def patch_hash(patch: str) -> str:
    """sha256 of the normalized patch; the empty patch hashes to the hash of ''."""
    return hashlib.sha256(normalize_patch(patch).encode()).hexdigest()
