"""A real Ray cluster on this machine, on loopback only: a head node (no `docker` resource, so
no unit runs there) and worker nodes that each advertise `{"docker": 1}` and one CPU.

Every node is one `ray start --block` in its own process group, so a test can SIGKILL exactly
one node's processes and the fixture can stop exactly what it started (never `ray stop`, which
would stop every Ray process on the machine).

Ray turns `--node-ip-address 127.0.0.1` into the machine's public address, so the nodes use
127.0.0.2: still loopback (127.0.0.0/8), never another interface. Dashboard and usage stats off.

Not a test module: pytest collects only test_*.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE_IP = "127.0.0.2"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((NODE_IP, 0))
        return probe.getsockname()[1]


def ray_environment() -> dict[str, str]:
    return {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        # Ray 2.60's `ray start --head` turns on token authentication (its token in
        # ~/.ray/auth_token), which drivers and nodes then fail to present; a cluster on loopback
        # for one test needs none.
        "RAY_AUTH_MODE": "disabled",
        "PYTHONPATH": str(ROOT),
        # Logs of the nodes stay in the cluster's temp dir, not on the test's terminal.
        "RAY_DISABLE_IMPORT_WARNING": "1",
    }


def _start_time(pid: int) -> int | None:
    try:
        return int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


class LocalRayCluster:
    def __init__(self, workers: int = 2) -> None:
        self.workers = workers
        self.port = _free_port()
        self.address = f"{NODE_IP}:{self.port}"
        # Short: Ray's unix sockets live under it and their paths are limited to 107 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="rh", dir="/tmp"))
        self.head: subprocess.Popen | None = None
        self.nodes: list[subprocess.Popen] = []

    def _ray(self, *argv: str) -> subprocess.Popen:
        log = open(self.temp_dir / f"start-{time.monotonic_ns()}.log", "w")  # noqa: SIM115
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "ray"), "start", "--block", *argv,
             "--node-ip-address", NODE_IP, "--disable-usage-stats"],
            env=ray_environment(), cwd=self.temp_dir, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self) -> LocalRayCluster:
        try:
            self.head = self._ray(
                "--head", "--port", str(self.port), "--num-cpus", "1", "--include-dashboard",
                "false", "--temp-dir", str(self.temp_dir),
            )
            self.wait_for(docker=0)
            # One at a time: two nodes starting at once on two cores time out.
            for number in range(self.workers):
                self.add_worker()
                self.wait_for(docker=number + 1)
        except BaseException:
            self.stop()
            raise
        return self

    def add_worker(self) -> subprocess.Popen:
        node = self._ray(
            "--address", self.address, "--num-cpus", "1", "--resources", json.dumps({"docker": 1}),
        )
        self.nodes.append(node)
        return node

    def wait_for(self, docker: int, timeout: float = 120) -> None:
        """Until the cluster's live nodes advertise `docker` units in all."""
        probe = (
            "import ray, sys, time\n"
            f"ray.init(address={self.address!r}, _node_ip_address={NODE_IP!r}, "
            "log_to_driver=False)\n"
            f"deadline = time.monotonic() + {timeout}\n"
            "while time.monotonic() < deadline:\n"
            f"    if ray.cluster_resources().get('docker', 0) == {docker}: sys.exit(0)\n"
            "    time.sleep(0.5)\n"
            "sys.exit(1)\n"
        )
        deadline = time.monotonic() + timeout
        while True:
            done = subprocess.run([sys.executable, "-c", probe], env=ray_environment(),
                                  capture_output=True, text=True, timeout=timeout + 60)
            if done.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"Ray cluster not ready: {done.stderr[-2000:]}")
            time.sleep(1)

    def node_pids(self, node: subprocess.Popen) -> set[int]:
        """Every live process of one node: its process group and their descendants (Ray's
        worker processes start sessions of their own)."""
        parents: dict[int, int] = {}
        groups: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
            groups[int(entry.name)] = int(fields[2])
        pids = {pid for pid, group in groups.items() if group == node.pid}
        grew = True
        while grew:
            children = {pid for pid, parent in parents.items() if parent in pids} - pids
            grew = bool(children)
            pids |= children
        return pids

    def kill_node(self, node: subprocess.Popen) -> set[int]:
        """SIGKILL for every process of the node, as if its machine went away."""
        pids = self.node_pids(node)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        node.wait(timeout=30)
        return pids

    def stop(self) -> None:
        everything = [*self.nodes, *([self.head] if self.head else [])]
        leftovers = {
            (pid, _start_time(pid))
            for node in everything for pid in self.node_pids(node)
        }
        for node in everything:
            try:
                os.killpg(node.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for node in [*self.nodes, *([self.head] if self.head else [])]:
            try:
                node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(node.pid, signal.SIGKILL)  # whatever ignored SIGTERM
            except ProcessLookupError:
                pass
        for pid, started in leftovers:  # worker processes outside the nodes' process groups
            if _start_time(pid) == started:  # still that process, not a reused pid
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        shutil.rmtree(self.temp_dir, ignore_errors=True)
