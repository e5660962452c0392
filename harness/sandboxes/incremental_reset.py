"""A Docker sandbox whose reset restores only what changed, for big testbeds.

`DockerSandbox.reset` wipes the testbed and copies the whole pristine tree in again: exact, and
cheap for small repositories, but a django-sized tree (300 MB with its history) costs that copy
per candidate. This one lists the testbed after every populate and reset (inode, change time,
size, mode, owner, type, path) and keeps the listing on the host, where nothing in the sandbox
can touch it. A reset lists again, removes whatever is new or differs, and copies back from
the pristine tree only what was removed or changed.

Why the change time: a process in the sandbox can set a file's modification time back, but not
its change time (that would need the clock, CAP_SYS_TIME, which the sandbox lacks), and any
write, chmod, chown, link or rename moves it. A replaced file has a new inode or a new change
time. So an entry whose listing line is unchanged has not been touched since the last reset.
"""

from __future__ import annotations

from harness.sandboxes.base import TESTBED, SandboxError
from harness.sandboxes.docker_sandbox import PRISTINE, DockerSandbox

# inode, change time, size, mode, owner, group, type, modification time, then the path
# relative to the testbed.
_LIST = f"cd {TESTBED} && find . -xdev -printf '%i %C@ %s %m %U %G %y %T@ %P\\0'"
# Past this share of changed entries, wiping and copying everything is as quick.
_FULL_RESET_SHARE = 0.5
# Below this many entries the full copy is quicker than listing twice (measured: ~0.1 s).
SMALL_TREE_ENTRIES = 3000


def _parse(listing: str) -> dict[str, tuple[str, str]]:
    """path -> (signature, type) of a NUL-separated listing."""
    entries: dict[str, tuple[str, str]] = {}
    for record in listing.split("\0"):
        if not record:
            continue
        fields = record.split(" ", 8)
        if len(fields) < 9:
            continue
        path = fields[8] or "."
        entries[path] = (" ".join(fields[:8]), fields[6])
    return entries


def _has_ancestor_in(path: str, folders: set[str]) -> bool:
    parts = path.split("/")
    return any("/".join(parts[:end]) in folders for end in range(1, len(parts)))


class IncrementalResetSandbox(DockerSandbox):
    """A DockerSandbox (same limits, same image layout) with a reset that copies only what a
    candidate changed. Passes the sandbox conformance suite."""

    _baseline: dict[str, tuple[str, str]]
    # Resets that fell back to wiping and copying everything (many changes, or a surprise).
    full_resets: int = 0
    small_tree_entries: int = SMALL_TREE_ENTRIES

    def _populate(self) -> None:
        super()._populate()
        self._baseline = _parse(self._checked(_LIST))
        if len(self._baseline) < self.small_tree_entries:
            self._baseline = {}  # reset copies everything: no listing needed

    def reset(self) -> None:
        """See Sandbox.reset: the testbed ends exactly as the pristine tree (content, type,
        mode, owner, and the modification times of files), /tmp empty, strays killed."""
        if len(self._baseline) < self.small_tree_entries:
            super().reset()
            return
        wipe_tmp = "rm -rf /tmp/* /tmp/.[!.]* /tmp/..?*"
        current = _parse(self._checked(f"{self._kill_strays_script()}; {wipe_tmp}; {_LIST}"))
        baseline = self._baseline
        changed = {path for path, entry in current.items() if baseline.get(path) != entry}
        missing = {path for path in baseline if path not in current}
        if len(changed) + len(missing) > _FULL_RESET_SHARE * max(len(baseline), 1):
            self.full_resets += 1
            super().reset()
            self._baseline = _parse(self._checked(_LIST))
            return
        # A folder that only changed its entries (or mode) stays; its entries are handled one
        # by one. A new folder, or one that changed type, goes whole.
        remove, restore, fix_dirs = [], set(missing), []
        for path in changed:
            old = baseline.get(path)
            if old is not None and old[1] == "d" and current[path][1] == "d":
                fix_dirs.append(path)
            else:
                remove.append(path)
                if old is not None:
                    restore.add(path)
        removed_dirs = {path for path in remove if current[path][1] == "d"}
        remove = [path for path in remove if not _has_ancestor_in(path, removed_dirs)]
        restored_dirs = {path for path in restore if baseline[path][1] == "d"}
        restore_list = sorted(p for p in restore if not _has_ancestor_in(p, restored_dirs))
        if remove:
            self._checked(f"cd {TESTBED} && xargs -0r rm -rf --", stdin=_nul(remove))
        script = []
        if restore_list:
            # cp -a keeps mode, owner and times; --parents recreates the path under /testbed.
            script.append(f"cd {PRISTINE} && xargs -0r cp -a --parents -t {TESTBED} --")
        # Folders last: restoring their entries moved their modification times.
        for path in fix_dirs + sorted(parent_dirs(restore_list + remove) - set(fix_dirs)):
            if path not in baseline or baseline[path][1] != "d":
                continue
            mode, owner, group, _, mtime = baseline[path][0].split(" ")[3:8]
            quoted = "'" + path.replace("'", "'\\''") + "'"
            script.append(
                f"cd {TESTBED} && chmod {mode} {quoted} && chown {owner}:{group} {quoted} && "
                f"touch -m -h -d @{mtime} {quoted}"
            )
        script.append(_LIST)
        try:
            after = _parse(self._checked(" && ".join(script), stdin=_nul(restore_list)))
        except SandboxError:
            after = {}
        if after.keys() != baseline.keys():
            self.full_resets += 1
            super().reset()  # anything odd: the exact, slower way
            after = _parse(self._checked(_LIST))
        self._baseline = after


def parent_dirs(paths: list[str]) -> set[str]:
    return {path.rsplit("/", 1)[0] if "/" in path else "." for path in paths}


def _nul(paths: list[str]) -> bytes:
    return "".join(path + "\0" for path in paths).encode()
