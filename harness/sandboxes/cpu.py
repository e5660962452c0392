"""CPU time of a sandbox container, and whether a run that ran out of time was starved.

A wall-clock limit alone cannot tell a candidate that loops forever from one whose tests never
got a CPU on a loaded host: on a 2-core machine at load 40 a test run can use 80 s of CPU in
28 min. The container's cgroup tells them apart. A run that used well under its share of a CPU
while its processes were kept from the CPU (held back by its quota, or runnable and waiting in
the run queue) was starved: an infrastructure outcome to retry, never the candidate's timeout.
A run that merely sleeps (a deadlock, a wait on a socket) waits in no run queue: a timeout.

CPU time and throttling come from the host's cgroup files when this process can see them (one
file read), else from the Docker API's stats. Run-queue waits come from the kernel's per-task
schedstat of the container's processes, sampled while a command runs; where the host's
processes are out of sight (a remote or rootless daemon), there is no such evidence, and a run
out of time is a timeout as before.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CGROUP_ROOT = Path("/sys/fs/cgroup")

# A run that used less than this fraction of its CPU share over its wall time, while being
# denied at least as much, was starved.
# More waiting per wall second than this many processes' worth means the sandbox's own crowd of
# processes competed for its share: not a starved host.
CROWD_FACTOR = 1.5
STARVED_FRACTION = 0.5


@dataclass(frozen=True)
class CpuSample:
    """Cumulative counters of one container at one moment."""

    at: float  # time.monotonic()
    cpu_seconds: float  # CPU time its processes used
    throttled_seconds: float  # time its CPU quota held runnable processes back
    waiting_seconds: float  # time its processes were runnable but waited for a CPU


@dataclass(frozen=True)
class CpuUse:
    """What happened between two samples."""

    wall_seconds: float
    cpu_seconds: float
    denied_seconds: float  # evidence the container wanted a CPU it did not get
    share: float  # CPUs the run could have used

    @property
    def fraction(self) -> float:
        """CPU used over what the share allowed in that wall time."""
        allowed = self.share * self.wall_seconds
        return self.cpu_seconds / allowed if allowed > 0 else 1.0

    @property
    def starved(self) -> bool:
        """Used under half its share, and was kept from the CPU for the difference: a test
        process that sleeps or waits on a lock (a real hang) is not starved on a quiet host.
        Waits summed over far more processes than the share can run at once (a fork bomb's
        crowd waiting on itself) are the candidate's doing: not starved."""
        allowed = self.share * self.wall_seconds
        if allowed <= 0 or self.cpu_seconds >= STARVED_FRACTION * allowed:
            return False
        if self.denied_seconds > CROWD_FACTOR * max(1.0, self.share) * self.wall_seconds:
            return False
        return self.cpu_seconds + self.denied_seconds >= STARVED_FRACTION * allowed

    def describe(self) -> str:
        return (
            f"{self.cpu_seconds:.1f} s of CPU in {self.wall_seconds:.1f} s wall "
            f"({100 * self.fraction:.0f}% of a {self.share:g}-CPU share; denied "
            f"{self.denied_seconds:.1f} s)"
        )


def cpu_use(before: CpuSample, after: CpuSample, share: float) -> CpuUse:
    throttled = after.throttled_seconds - before.throttled_seconds
    waiting = after.waiting_seconds - before.waiting_seconds
    return CpuUse(
        wall_seconds=after.at - before.at,
        cpu_seconds=max(0.0, after.cpu_seconds - before.cpu_seconds),
        denied_seconds=max(0.0, throttled + waiting),
        share=share,
    )


def run_share(cpus: float) -> float:
    """The CPUs one test run can use: its sandbox's quota, but a test runner is mostly one
    process, so never more than one CPU (nor more than the host has)."""
    return max(0.01, min(cpus, 1.0, float(os.cpu_count() or 1)))


class ContainerCpu:
    """Reads one container's CPU counters."""

    def __init__(self, container_id: str, api: Any) -> None:
        self.container_id = container_id
        self._api = api
        self._paths = _cgroup_files(container_id)
        self.waits = RunQueueWaits(_tasks_file(container_id))

    def sample(self) -> CpuSample:
        """Raises OSError or a Docker error when the container is gone."""
        at = time.monotonic()
        waiting = self.waits.total_seconds
        if self._paths is not None:
            usage_file, stat_file, version = self._paths
            try:
                if version == 1:
                    cpu = int(usage_file.read_text()) / 1e9
                    throttled = _stat(stat_file).get("throttled_time", 0) / 1e9
                else:
                    stat = _stat(stat_file)
                    cpu = stat.get("usage_usec", 0) / 1e6
                    throttled = stat.get("throttled_usec", 0) / 1e6
                return CpuSample(at, cpu, throttled, waiting)
            except (OSError, ValueError):
                self._paths = None  # moved or unreadable: the API still knows
        stats = self._api.stats(self.container_id, stream=False, one_shot=True)
        cpu_stats = stats.get("cpu_stats") or {}
        cpu = (cpu_stats.get("cpu_usage") or {}).get("total_usage", 0) / 1e9
        throttled = (cpu_stats.get("throttling_data") or {}).get("throttled_time", 0) / 1e9
        return CpuSample(at, cpu, throttled, waiting)


def _cgroup_files(container_id: str) -> tuple[Path, Path, int] | None:
    """The container's CPU accounting files as the host sees them, for the layouts Docker
    uses (cgroup v1 or v2, cgroupfs or systemd driver); None when this process cannot see
    them (another host, a rootless daemon)."""
    v1 = [
        CGROUP_ROOT / "cpuacct" / "docker" / container_id,
        CGROUP_ROOT / "cpuacct" / "system.slice" / f"docker-{container_id}.scope",
        CGROUP_ROOT / "cpu,cpuacct" / "docker" / container_id,
        CGROUP_ROOT / "cpu,cpuacct" / "system.slice" / f"docker-{container_id}.scope",
    ]
    for folder in v1:
        usage = folder / "cpuacct.usage"
        if usage.is_file():
            cpu_folder = Path(str(folder).replace("/cpuacct/", "/cpu/", 1))
            stat = cpu_folder / "cpu.stat" if (cpu_folder / "cpu.stat").is_file() else (
                folder / "cpu.stat"
            )
            return usage, stat, 1
    for folder in (
        CGROUP_ROOT / "system.slice" / f"docker-{container_id}.scope",
        CGROUP_ROOT / "docker" / container_id,
    ):
        if (folder / "cpu.stat").is_file():
            return folder / "cpu.stat", folder / "cpu.stat", 2
    return None


def _stat(path: Path) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return {}
    values: dict[str, int] = {}
    for line in lines:
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            values[key] = int(value)
    return values


def _tasks_file(container_id: str) -> Path | None:
    for folder in (
        CGROUP_ROOT / "cpu" / "docker" / container_id,
        CGROUP_ROOT / "cpu,cpuacct" / "docker" / container_id,
        CGROUP_ROOT / "cpu" / "system.slice" / f"docker-{container_id}.scope",
        CGROUP_ROOT / "system.slice" / f"docker-{container_id}.scope",
        CGROUP_ROOT / "docker" / container_id,
    ):
        for name in ("tasks", "cgroup.threads"):
            if (folder / name).is_file():
                return folder / name
    return None


class RunQueueWaits:
    """Run-queue waits of a container's processes, summed over the commands it ran.

    `watch()` samples each process's schedstat (run ns, wait ns, slices) every `interval`
    while a command runs; a process seen for the first time counts from zero, since it started
    during the command. A process that lives less than one interval may go unseen: the
    evidence errs towards `timeout`, never towards a retry."""

    def __init__(self, tasks_file: Path | None, interval: float = 1.0) -> None:
        self.tasks_file = tasks_file
        self.interval = interval
        self._seen: dict[str, int] = {}  # pid -> wait ns at its last sample
        self._total_ns = 0
        self._lock = threading.Lock()

    @property
    def total_seconds(self) -> float:
        return self._total_ns / 1e9

    def _sample(self) -> None:
        try:
            pids = self.tasks_file.read_text().split() if self.tasks_file else []
        except OSError:
            return
        with self._lock:
            for pid in pids:
                try:
                    wait_ns = int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])
                except (OSError, IndexError, ValueError):
                    continue
                self._total_ns += max(0, wait_ns - self._seen.get(pid, 0))
                self._seen[pid] = wait_ns

    @contextmanager
    def watch(self) -> Iterator[None]:
        if self.tasks_file is None:
            yield
            return
        done = threading.Event()

        def sample_until_done() -> None:
            while not done.wait(self.interval):
                self._sample()

        sampler = threading.Thread(target=sample_until_done, daemon=True, name="cpu-waits")
        sampler.start()
        try:
            yield
        finally:
            done.set()
            sampler.join(timeout=5)
