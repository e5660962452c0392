"""A reset that costs what changed, not what the testbed weighs.

Copying the pristine testbed back wholesale costs seconds on a sympy-sized tree, once per
candidate. Instead the sandbox keeps, on the host, a listing of the testbed as it was left
after the last reset: for every path its inode, change time, size, type and mode. On reset, the
sandbox lists the testbed again; a path whose entry differs was touched, and only those are
restored from the pristine copy (or removed, when the pristine tree lacks them).

The restore itself travels ahead of the next command, in the same `docker exec` (see
`deferred_restore`): a reset then costs one round trip to the daemon instead of two, and only
the paths it rewrote are listed again, not the whole tree.

Why this is exact: a file's change time (ctime) is set by the kernel on every write, rename,
chmod or link, and no process can set it back without the right to change the clock, which a
sandbox never has. The listing lives on the host, out of the candidate's reach, and the
listing command is a fixed binary on the read-only root file system. The `.git` folder is a
path like any other, so a candidate that commits or rewrites the index is undone too.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

# Past this many touched paths one wholesale copy is cheaper than path-by-path restores.
MAX_PATHS = 3000
# NUL-separated records: inode, ctime, size, type, mode, path relative to the testbed.
LIST_FORMAT = r"%i %C@ %s %y %m %P\0"


@dataclass(frozen=True)
class Entry:
    inode: str
    ctime: str
    size: str
    kind: str  # f, d, l, ...
    mode: str


Listing = dict[str, Entry]
_MISSING = Entry("", "", "", "", "")


END = "--end-of-listing--"


def list_command(testbed: str) -> str:
    """Prints the testbed's listing (the testbed itself is the empty path), then END: a
    listing cut short by the output cap lacks it."""
    return (f"/usr/bin/find {shlex.quote(testbed)} -xdev -printf {shlex.quote(LIST_FORMAT)} "
            f"&& printf '%s' {END}")


def parse_listing(text: str) -> Listing | None:
    """The listing `list_command` printed; None when it is incomplete."""
    if not text.endswith(END):
        return None
    text = text.removesuffix(END)
    listing: Listing = {}
    for record in text.split("\0"):
        if not record:
            continue
        parts = record.split(" ", 5)
        if len(parts) < 5:
            continue
        path = parts[5] if len(parts) == 6 else ""
        listing[path] = Entry(*parts[:5])
    return listing


@dataclass(frozen=True)
class Plan:
    remove: list[str]  # paths the pristine tree lacks, or to be copied afresh
    copy: list[str]  # paths to copy from the pristine tree (each with its subtree)
    directories: list[str]  # directories kept, whose mode and times are put back

    @property
    def empty(self) -> bool:
        return not (self.remove or self.copy or self.directories)


def plan_restore(
    now: Listing, clean: Listing, pristine: Listing, max_paths: int = MAX_PATHS
) -> Plan | None:
    """What to do to bring `now` back to `pristine`, given `clean`, the listing taken right
    after the last reset. None when a wholesale copy is the better way (over `max_paths`
    touched paths)."""
    touched = [path for path, entry in now.items() if clean.get(path) != entry]
    gone = [path for path in clean if path not in now]
    if len(touched) + len(gone) > max_paths:
        return None
    remove: set[str] = set()
    copy: set[str] = set()
    directories: list[str] = []
    for path in touched:
        entry, original = now[path], pristine.get(path)
        if original is None:
            remove.add(path)
        elif entry.kind == "d" and original.kind == "d":
            directories.append(path)  # its entries are restored one by one
        else:
            remove.add(path)
            copy.add(path)
    for path in gone:
        if path in pristine:
            copy.add(path)
    # A path under one copied whole needs nothing of its own.
    copy = {path for path in copy if not any(_under(path, other) for other in copy - {path})}
    remove = {path for path in remove if not any(_under(path, other) for other in remove - {path})}
    # Removing or copying an entry changes its folder's times: those are put back too.
    kept = set(directories)
    for path in remove | copy:
        parent = path.rpartition("/")[0] if "/" in path else ""
        if parent not in kept and pristine.get(parent, _MISSING).kind == "d":
            kept.add(parent)
    return Plan(sorted(remove), sorted(copy, key=lambda p: (p.count("/"), p)),
                sorted(kept, key=lambda p: (-p.count("/"), p)))


def _under(path: str, folder: str) -> bool:
    return folder == "" or path.startswith(folder + "/")


def restore_script(plan: Plan, testbed: str, pristine: str) -> str:
    """Shell lines carrying out `plan` with a fixed handful of processes, however many paths:
    one `rm`, one tar pipe copying files and subtrees, one tar pipe (without recursion) putting
    back the folders' modes, owners and times, last, since restoring entries changes them."""
    def paths(items: list[str]) -> str:
        # printf is built into the shell: no limit on the length of its arguments.
        return "printf '%s\\0' " + " ".join(shlex.quote(item or ".") for item in items)

    def tar_pipe(items: list[str], *options: str) -> str:
        # Options such as --no-recursion are positional in GNU tar: they bind the names
        # after them, so they come before -T (after it, every folder went in whole).
        extra = " ".join(options)
        return (f"{paths(items)} | tar -C {shlex.quote(pristine)} --null {extra} -T - -cf - | "
                f"tar -C {shlex.quote(testbed)} -xpf -")

    lines = ["set -e"]
    if plan.remove:
        lines.append(
            f"cd {shlex.quote(testbed)} && {paths(plan.remove)} | xargs -0 rm -rf -- && cd /"
        )
    if plan.copy:
        lines.append(tar_pipe(plan.copy))
    if plan.directories:
        lines.append(tar_pipe(plan.directories, "--no-recursion"))
    return "\n".join(lines)


# A deferred restore whose listing would pass this many entries runs on its own instead (its
# listing then needs no room in the next command's output).
MAX_DEFERRED_ENTRIES = 2000
# The marker between a deferred restore's listing and the output of the command it precedes.
RESTORED = "--harness-restored--"
_RELIST_FORMAT = LIST_FORMAT.replace("%P", "%p")  # paths as given: ./a/b, or . for the top


def relist_entries(plan: Plan, pristine: Listing) -> int:
    """How many entries `relist_command(plan)` prints: every copied path with what the
    pristine tree holds under it, and the folders whose times were put back."""
    folders = [path for path in plan.copy if pristine.get(path, _MISSING).kind == "d"]
    inside = sum(1 for path in pristine
                 if any(path != folder and _under(path, folder) for folder in folders))
    return len(plan.copy) + len(plan.directories) + inside


def relist_command(plan: Plan, testbed: str) -> str:
    """Lists, in `list_command`'s records, what a restore of `plan` rewrote, then END. Paths
    untouched by the restore keep the entries they had, so this and the listing taken before
    the restore give the whole tree (`merge_relisting`)."""
    def paths(items: list[str]) -> str:
        return " ".join(shlex.quote(f"./{item}" if item else ".") for item in items)

    form = shlex.quote(_RELIST_FORMAT)
    finds = []
    if plan.copy:
        finds.append(f"/usr/bin/find {paths(plan.copy)} -xdev -printf {form}")
    if plan.directories:
        finds.append(f"/usr/bin/find {paths(plan.directories)} -maxdepth 0 -printf {form}")
    return f"cd {shlex.quote(testbed)} && {' && '.join(finds or ['true'])} && printf '%s' {END}"


def parse_relisting(text: str) -> Listing | None:
    """What `relist_command` printed, keyed as `parse_listing` keys; None when incomplete."""
    listing = parse_listing(text)
    if listing is None:
        return None
    return {("" if path == "." else path.removeprefix("./")): entry
            for path, entry in listing.items()}


def merge_relisting(before: Listing, plan: Plan, relisted: Listing) -> Listing:
    """The testbed's listing after the restore of `plan`: `before` (taken just ahead of the
    restore) without what the restore removed or replaced, plus what it rewrote."""
    replaced = set(plan.remove) | set(plan.copy)

    def replaced_or_under(path: str) -> bool:
        while True:
            if path in replaced:
                return True
            if not path:
                return False
            path = path.rpartition("/")[0]

    merged = {path: entry for path, entry in before.items() if not replaced_or_under(path)}
    merged.update(relisted)
    return merged


def deferred_restore(plan: Plan, testbed: str, pristine: str) -> str:
    """A shell prefix that restores `plan`, lists what it rewrote, prints RESTORED, and then
    runs its arguments (`sh -c PREFIX sh CMD ...`) in the same process, with the stdin, working
    folder and environment they were given. It exits non-zero, printing no RESTORED, when the
    restore fails. No command of the sandbox's user has run since the reset ended every process:
    what the listing says cannot have been forged. Both run in subshells: the command starts
    in the folder it was given."""
    return (f"( {restore_script(plan, testbed, pristine)}\n) && "
            f"( {relist_command(plan, testbed)} ) && printf '%s' {RESTORED} && exec \"$@\"")
