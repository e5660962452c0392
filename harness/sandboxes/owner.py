"""Who owns a sandbox, recorded so that a reused PID cannot pass for its dead owner.

A PID alone is not an identity: after its owner dies the kernel hands it out again, to a
process or to a thread (`os.kill(pid, 0)` succeeds on a thread id too). A process is named for
sure by its PID, its start time (clock ticks after boot, /proc/PID/stat field 22) and the boot
it started in (/proc/sys/kernel/random/boot_id): no other process ever has all three.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

HOST_LABEL = "harness.owner.host"
PID_LABEL = "harness.owner.pid"
START_LABEL = "harness.owner.start"
BOOT_LABEL = "harness.owner.boot"

_PROC = Path("/proc")


def boot_id() -> str:
    try:
        return (_PROC / "sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""


def start_time(pid: int) -> str:
    """The process's start time in clock ticks after boot; "" when no such process runs.

    A thread id names a thread, not a process: its stat belongs to the thread, so its start
    time is the thread's and never equals a dead process's recorded one."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: fields follow the last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else ""


def owner_labels() -> dict[str, str]:
    """Labels naming the current process as a sandbox's owner."""
    pid = os.getpid()
    return {
        HOST_LABEL: socket.gethostname(),
        PID_LABEL: str(pid),
        START_LABEL: start_time(pid),
        BOOT_LABEL: boot_id(),
    }


def owner_is_gone(labels: Mapping[str, str]) -> bool:
    """True when the process that started the sandbox no longer runs on this host.

    A sandbox of another host is never ours to judge (False)."""
    if labels.get(HOST_LABEL) != socket.gethostname():
        return False
    try:
        pid = int(labels.get(PID_LABEL, ""))
    except ValueError:
        return True  # made before owners were recorded
    recorded_start, recorded_boot = labels.get(START_LABEL), labels.get(BOOT_LABEL)
    if recorded_start and recorded_boot:
        if recorded_boot != boot_id():
            return True  # the host rebooted since: every process of that boot is gone
        return start_time(pid) != recorded_start
    # Labels of an older harness: the PID is all there is.
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
