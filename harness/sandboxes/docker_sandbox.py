"""The Docker sandbox: one container per sandbox, with no network and bounded resources.

The container's root file system is read-only; the testbed and /tmp are size-bounded tmpfs
mounts, so disk use is bounded too. The testbed is copied in from the image's pristine copy at
/opt/testbed, and `reset` puts back from it exactly what changed (sandboxes.fast_reset).

Commands run through `docker exec`, with their output read from the raw attach socket so that
every read is bounded by a host-side deadline, not only by the in-container `timeout`.
"""

from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import docker
import docker.errors
import requests
from docker.models.containers import Container

from harness.sandboxes.base import TESTBED, ExecResult, SandboxError, SandboxTimeout
from harness.sandboxes.cpu import ContainerCpu, CpuSample, run_share
from harness.sandboxes.fast_reset import (
    MAX_DEFERRED_ENTRIES,
    MAX_PATHS,
    RESTORED,
    Listing,
    Plan,
    deferred_restore,
    list_command,
    merge_relisting,
    parse_listing,
    parse_relisting,
    plan_restore,
    relist_entries,
    restore_script,
)
from harness.sandboxes.owner import HOST_LABEL as OWNER_HOST_LABEL
from harness.sandboxes.owner import PID_LABEL as OWNER_PID_LABEL
from harness.sandboxes.owner import owner_labels

PRISTINE = "/opt/testbed"
# Capabilities a root process in the sandbox keeps: enough to own, copy and kill its files.
_DROPPED_CAPS = ["NET_RAW", "NET_BIND_SERVICE", "MKNOD", "SYS_CHROOT", "AUDIT_WRITE", "SETFCAP"]
# Housekeeping commands (copying the testbed, diffs, file access) get this long.
_INTERNAL_TIMEOUT = 300.0
_DOCKER_ERRORS = (docker.errors.DockerException, requests.RequestException, OSError)
__all__ = ["OWNER_HOST_LABEL", "OWNER_PID_LABEL", "DockerSandbox", "SandboxLimits"]
# Output room for a deferred restore's listing, ahead of the command's own capped output: per
# entry, a path of up to 4,096 bytes and its fields.
_RESTORE_LISTING_ROOM = MAX_DEFERRED_ENTRIES * 4200

# The container's PID 1: a shell that keeps one sleep going and reaps every orphan. Processes
# of the namespace cannot signal their init, so a candidate that kills every process it can
# (`kill -1`) leaves the sandbox up, and its end is graded as its own error, not retried as an
# infrastructure fault (with docker's init, killing its one child stopped the container).
INIT_SCRIPT = 'trap "" HUP INT TERM; while :; do sleep 86400 & wait $!; done'


@dataclass(frozen=True)
class SandboxLimits:
    """Resources one sandbox may use. Memory includes what the tmpfs mounts hold."""

    memory: str = "2g"
    cpus: float = 1.0
    # A fork bomb stops at this many processes (the host saw 1,158 with 512 a sandbox).
    pids: int = 256
    # CPU weight against other containers and the host's own processes (docker's default is
    # 1024): a busy sandbox yields to everyone else when the CPUs are contended.
    cpu_shares: int = 256
    testbed_size: str = "1g"
    tmp_size: str = "256m"
    # Bytes kept per stream (stdout, stderr) of one command; the rest is dropped.
    output_cap: int = 1_000_000
    max_diff_bytes: int = 20_000_000
    # How long past a command's own timeout the host waits before it kills the whole sandbox.
    grace_seconds: float = 15.0


@dataclass
class _Raw:
    exit_code: int
    stdout: bytes
    stderr: bytes
    seconds: float
    truncated: bool


class _HostDeadline(Exception):
    pass


def _pump(sock: socket.socket, stdin: bytes | None, deadline: float, cap: int):
    """Feeds `stdin` to an attached exec and reads its multiplexed output until EOF.

    Returns ([stdout, stderr], truncated). Raises _HostDeadline when `deadline` passes.
    """
    streams = [bytearray(), bytearray()]
    truncated = False
    pending = memoryview(stdin) if stdin is not None else None
    if pending is not None and not pending:
        sock.shutdown(socket.SHUT_WR)
        pending = None
    buffer = bytearray()
    sock.setblocking(False)
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _HostDeadline
        writers = [sock] if pending is not None else []
        readable, writable, _ = select.select([sock], writers, [], min(remaining, 1.0))
        if writable and pending is not None:
            try:
                sent = sock.send(pending[:65536])
                pending = pending[sent:]
            except BlockingIOError:
                pass
            except OSError:  # the command exited without reading all of its input
                pending = memoryview(b"")
            if not pending:
                sock.shutdown(socket.SHUT_WR)
                pending = None
        if not readable:
            continue
        try:
            data = sock.recv(65536)
        except BlockingIOError:
            continue
        if not data:
            return streams, truncated
        buffer += data
        # Each frame: stream id (1 stdout, 2 stderr), three zero bytes, big-endian length.
        while len(buffer) >= 8:
            length = struct.unpack(">I", buffer[4:8])[0]
            if len(buffer) < 8 + length:
                break
            kind, payload = buffer[0], bytes(buffer[8 : 8 + length])
            del buffer[: 8 + length]
            target = streams[1] if kind == 2 else streams[0]
            room = cap - len(target)
            if len(payload) > room:
                truncated = True
            target += payload[: max(room, 0)]


class DockerSandbox:
    """A running sandbox container. Make one with `DockerSandbox.start`."""

    # Past this many paths a candidate touched, a reset copies the whole tree back instead
    # of path by path (a subclass with -1 always copies wholesale: the benchmarks' baseline).
    restore_limit: int = MAX_PATHS

    def __init__(self, container: Container, limits: SandboxLimits) -> None:
        self._container = container
        self._api = container.client.api
        self.limits = limits
        self._closed = False
        self._busy = threading.Lock()
        self._cpu = ContainerCpu(container.id, self._api)
        self._cpu_seconds = 0.0  # the last reading: kept once the container is gone
        self._main_pid = ""
        # Listings of the pristine tree and of the testbed right after the last reset, kept
        # on the host: a reset restores only what differs (see sandboxes.fast_reset).
        self._pristine: Listing | None = None
        self._clean: Listing | None = None
        # Resets that copied the whole tree back (many paths touched, or a listing cut short).
        self.wholesale_resets = 0
        # A reset's restore, with the listing it was planned from, carried by the next command
        # (see fast_reset.deferred_restore): one round trip to the daemon per reset, not two.
        self._pending: tuple[Plan, Listing] | None = None

    @classmethod
    def start(
        cls,
        client: docker.DockerClient,
        image: str,
        limits: SandboxLimits | None = None,
        loopback_hosts: Sequence[str] = (),
    ) -> DockerSandbox:
        """Starts a sandbox from an instance image (one with the testbed at /opt/testbed).
        `loopback_hosts` resolve to 127.0.0.1 inside it (see EnvironmentSpec.loopback_hosts).

        Raises SandboxError when the container cannot be started or the testbed copied in.
        """
        limits = limits or SandboxLimits()
        loopback: dict = {}
        if loopback_hosts:
            # A local stand-in for a named service listens on its default ports (80, 443),
            # which needs no capability once the namespace's unprivileged range starts at 0:
            # the sandbox has its own network namespace, holding only its loopback.
            loopback = {
                "extra_hosts": {host: "127.0.0.1" for host in loopback_hosts},
                "sysctls": {"net.ipv4.ip_unprivileged_port_start": "0"},
            }
        try:
            container = client.containers.run(
                image,
                command=["sh", "-c", INIT_SCRIPT],
                detach=True,
                network_mode="none",
                read_only=True,
                tmpfs={
                    TESTBED: f"rw,exec,size={limits.testbed_size}",
                    "/tmp": f"rw,exec,mode=1777,size={limits.tmp_size}",
                },
                mem_limit=limits.memory,
                memswap_limit=limits.memory,
                nano_cpus=int(limits.cpus * 1e9),
                cpu_shares=limits.cpu_shares,
                pids_limit=limits.pids,
                init=False,
                privileged=False,
                cap_drop=_DROPPED_CAPS,
                security_opt=["no-new-privileges"],
                environment={"HOME": "/tmp"},
                working_dir=TESTBED,
                labels={
                    "harness": "1",
                    "harness.tier": "sandbox",
                    "harness.image": image,
                    # Who owns it: `prune --orphans` removes only sandboxes of dead processes.
                    **owner_labels(),
                },
                **loopback,
            )
        except _DOCKER_ERRORS as error:
            raise SandboxError(f"could not start a sandbox from image {image}: {error}") from error
        sandbox = cls(container, limits)
        try:
            # The init's sleep: the sweep after a timeout spares it (were it killed, the init
            # would start another).
            children = sandbox._checked("cat /proc/1/task/1/children").split()
            sandbox._main_pid = children[0] if children else ""
            sandbox._populate()
        except BaseException:
            sandbox.close()
            raise
        return sandbox

    @property
    def container_id(self) -> str:
        return self._container.id

    @property
    def compute_seconds(self) -> float:
        """CPU seconds the container's processes have used, from its cgroup."""
        if not self._closed:
            try:
                self._cpu_seconds = self._cpu.sample().cpu_seconds
            except _DOCKER_ERRORS:
                pass
        return self._cpu_seconds

    @property
    def cpu_share(self) -> float:
        return run_share(self.limits.cpus)

    def crowded(self) -> bool:
        """Whether the sandbox's processes fill half its pids limit or more: CPU its own crowd
        of processes did not get (a fork bomb) is the candidate's doing, not a starved host."""
        try:
            processes = self._container.top().get("Processes") or []
        except _DOCKER_ERRORS:
            return False
        return len(processes) >= self.limits.pids // 2

    def cpu_sample(self) -> CpuSample:
        """See Sandbox.cpu_sample. Raises SandboxError when the container is gone."""
        try:
            sample = self._cpu.sample()
        except _DOCKER_ERRORS as error:
            raise SandboxError(f"sandbox {self._container.short_id}: {error}") from error
        self._cpu_seconds = sample.cpu_seconds
        return sample

    def __enter__(self) -> DockerSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _run(
        self,
        argv: list[str],
        timeout: float,
        workdir: str = "/",
        env: dict[str, str] | None = None,
        stdin: bytes | None = None,
        cap: int | None = None,
    ) -> _Raw:
        if self._closed:
            raise SandboxError("the sandbox is closed")
        cap = self.limits.output_cap if cap is None else cap
        # Run-queue waits are sampled while the command runs: they tell starved from stuck.
        with self._busy, self._cpu.waits.watch():
            pending, self._pending = self._pending, None
            if pending is not None:
                argv = ["sh", "-c", deferred_restore(pending[0], TESTBED, PRISTINE), "sh", *argv]
            room = _RESTORE_LISTING_ROOM if pending is not None else 0
            started = time.monotonic()
            sock = None
            try:
                exec_id = self._api.exec_create(
                    self._container.id,
                    argv,
                    stdin=stdin is not None,
                    workdir=workdir,
                    environment=env or None,
                )["Id"]
                sock = self._api.exec_start(exec_id, socket=True)
                raw = getattr(sock, "_sock", sock)
                deadline = started + timeout + self.limits.grace_seconds
                streams, truncated = _pump(raw, stdin, deadline, cap + room)
                code = self._exit_code(exec_id)
            except _HostDeadline:
                self.close()
                raise SandboxTimeout(
                    f"a command outlived its {timeout:.0f} s timeout by more than "
                    f"{self.limits.grace_seconds:.0f} s; the sandbox was removed"
                ) from None
            except _DOCKER_ERRORS as error:
                raise SandboxError(f"sandbox {self._container.short_id}: {error}") from error
            finally:
                if sock is not None:
                    sock.close()
                seconds = time.monotonic() - started
        stdout, stderr = bytes(streams[0]), bytes(streams[1])
        if pending is not None:
            stdout = self._take_restore_listing(pending, stdout, stderr)
            truncated = truncated or len(stdout) > cap or len(stderr) > cap
            stdout, stderr = stdout[:cap], stderr[:cap]
        return _Raw(code, stdout, stderr, seconds, truncated)

    def _take_restore_listing(self, pending: tuple[Plan, Listing], stdout: bytes,
                              stderr: bytes) -> bytes:
        """Takes the deferred restore's listing off the head of `stdout` into the clean
        listing; returns the command's own output. Raises SandboxError when the restore
        failed (the command did not run); the next reset then copies the whole tree."""
        plan, before = pending
        head, marker, rest = stdout.partition(RESTORED.encode())
        relisted = parse_relisting(head.decode(errors="replace")) if marker else None
        if relisted is None:
            self._clean = None
            error = stderr.decode(errors="replace").strip()[-500:]
            raise SandboxError(
                f"sandbox {self._container.short_id}: restoring the testbed failed: {error}"
            )
        self._clean = merge_relisting(before, plan, relisted)
        return rest

    def _exit_code(self, exec_id: str) -> int:
        # The stream can end a moment before the daemon records the exit code.
        for _ in range(50):
            state = self._api.exec_inspect(exec_id)
            if not state["Running"] and state["ExitCode"] is not None:
                return int(state["ExitCode"])
            time.sleep(0.05)
        raise SandboxError(
            f"sandbox {self._container.short_id}: a finished command has no exit code"
        )

    def _checked(self, script: str, stdin: bytes | None = None) -> str:
        """Runs a housekeeping script; raises SandboxError when it fails."""
        result = self._run(["sh", "-c", script], _INTERNAL_TIMEOUT, stdin=stdin, cap=2**26)
        if result.exit_code != 0:
            error = result.stderr.decode(errors="replace").strip()
            raise SandboxError(f"sandbox {self._container.short_id}: `{script}` failed: {error}")
        return result.stdout.decode(errors="replace")

    def _populate(self) -> None:
        split = "\n--harness-listing--\n"
        text = self._checked(
            f"{self._populate_script()} && {list_command(PRISTINE)} && printf '{split}' && "
            f"{list_command(TESTBED)}"
        )
        pristine, _, testbed = text.partition(split)
        self._pristine, self._clean = parse_listing(pristine), parse_listing(testbed)

    @staticmethod
    def _populate_script() -> str:
        return (
            f"test -d {PRISTINE} || {{ echo 'the image has no {PRISTINE}: build it with "
            f"prepare_instance_image' >&2; exit 1; }}; cp -a {PRISTINE}/. {TESTBED}/"
        )

    def _kill_strays(self) -> None:
        self._checked(self._kill_strays_script())

    def _kill_strays_script(self) -> str:
        """Kills every process but init, the main process and itself: what a command started,
        even in a new session, must not outlive its timeout."""
        return (
            "for d in /proc/[0-9]*; do p=${d#/proc/}; "
            f'case " 1 {self._main_pid} $$ " in *" $p "*) ;; *) kill -9 "$p" 2>/dev/null;; esac; '
            "done; true"
        )

    def exec(
        self,
        command: str,
        timeout: float = 60.0,
        workdir: str = TESTBED,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> ExecResult:
        """See Sandbox.exec. Output past `limits.output_cap` bytes per stream is dropped and
        flagged as truncated. Raises SandboxTimeout (and removes the sandbox) when the command
        is still running `limits.grace_seconds` after its timeout, SandboxError when the
        container is gone."""
        argv = ["timeout", "-k", "5", f"{timeout:.3f}", "sh", "-c", command]
        data = stdin.encode() if stdin is not None else None
        raw = self._run(argv, timeout, workdir, env, data)
        # `timeout` exits 124 (or 137 after its KILL); the clock tells it from a command that
        # merely exits with that code.
        timed_out = raw.exit_code in (124, 137) and raw.seconds >= timeout
        if timed_out:
            self._kill_strays()
        return ExecResult(
            exit_code=124 if timed_out else raw.exit_code,
            stdout=raw.stdout.decode(errors="replace"),
            stderr=raw.stderr.decode(errors="replace"),
            seconds=raw.seconds,
            timed_out=timed_out,
            truncated=raw.truncated,
        )

    def _absolute(self, path: str) -> str:
        return path if path.startswith("/") else f"{TESTBED}/{path}"

    def read_file(self, path: str, max_bytes: int = 1_000_000) -> bytes:
        path = self._absolute(path)
        script = (
            '[ -e "$1" ] || exit 3; [ -f "$1" ] || exit 4; '
            'size=$(stat -c %s "$1"); [ "$size" -le "$2" ] || { echo "$size"; exit 5; }; '
            'exec cat "$1"'
        )
        argv = ["sh", "-c", script, "sh", path, str(max_bytes)]
        result = self._run(argv, _INTERNAL_TIMEOUT, cap=max_bytes)
        if result.exit_code == 3:
            raise FileNotFoundError(f"no such file in the sandbox: {path}")
        if result.exit_code == 4:
            raise IsADirectoryError(f"not a regular file in the sandbox: {path}")
        if result.exit_code == 5:
            size = result.stdout.decode().strip()
            raise ValueError(f"{path} has {size} bytes, more than max_bytes={max_bytes}")
        if result.exit_code != 0:
            error = result.stderr.decode(errors="replace").strip()
            raise SandboxError(f"reading {path} failed: {error}")
        return result.stdout

    def write_file(self, path: str, content: bytes | str) -> None:
        """See Sandbox.write_file. Raises SandboxError when the file cannot be written (for
        example outside the testbed and /tmp, where the file system is read-only)."""
        path = self._absolute(path)
        data = content.encode() if isinstance(content, str) else bytes(content)
        script = 'mkdir -p "$(dirname "$1")" && cat > "$1"'
        result = self._run(["sh", "-c", script, "sh", path], _INTERNAL_TIMEOUT, stdin=data)
        if result.exit_code != 0:
            error = result.stderr.decode(errors="replace").strip()
            raise SandboxError(f"writing {path} failed: {error}")

    def diff(self) -> str:
        """See Sandbox.diff. Uses a scratch index, so the agent's own staging is untouched.
        Raises ValueError when the diff is larger than limits.max_diff_bytes."""
        index = "/tmp/.harness-diff-index"
        script = (
            f"cp .git/index {index} && export GIT_INDEX_FILE={index} && git add -A && "
            f"git diff --cached --binary HEAD; status=$?; rm -f {index}; exit $status"
        )
        argv = ["sh", "-c", f"cd {TESTBED} && {{ {script}; }}"]
        result = self._run(argv, _INTERNAL_TIMEOUT, cap=self.limits.max_diff_bytes)
        if result.exit_code != 0:
            error = result.stderr.decode(errors="replace").strip()
            raise SandboxError(f"git diff in the sandbox failed: {error}")
        if result.truncated:
            raise ValueError(f"the diff is larger than {self.limits.max_diff_bytes} bytes")
        return result.stdout.decode(errors="replace")

    def reset(self) -> None:
        """See Sandbox.reset; also stops every process that commands left running."""
        wipe_tmp = "rm -rf /tmp/* /tmp/.[!.]* /tmp/..?*"
        now = parse_listing(
            self._checked(f"{self._kill_strays_script()}; {wipe_tmp}; {list_command(TESTBED)}")
        )
        plan = None
        if now is not None and self._clean is not None and self._pristine is not None:
            plan = plan_restore(now, self._clean, self._pristine, self.restore_limit)
        if plan is not None:
            if plan.empty:
                self._clean = now
            elif relist_entries(plan, self._pristine) <= MAX_DEFERRED_ENTRIES:
                self._pending = (plan, now)
            else:
                script = f"{restore_script(plan, TESTBED, PRISTINE)}\n{list_command(TESTBED)}\n"
                # On stdin: as one argument, thousands of paths pass the kernel's 128 KiB cap.
                self._clean = parse_listing(self._checked("exec sh -s", stdin=script.encode()))
            return
        self.wholesale_resets += 1
        wipe = " ".join(f"{d}/* {d}/.[!.]* {d}/..?*" for d in (TESTBED, "/tmp"))
        # One exec for all three steps: resets run once per evaluation, and every exec
        # round trip to the daemon costs as much as the copy itself.
        self._clean = parse_listing(self._checked(
            f"{self._kill_strays_script()}; rm -rf {wipe}; {self._populate_script()} && "
            f"{list_command(TESTBED)}"
        ))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as error:
            if error.status_code != 409:  # 409: its removal is already under way: as good
                raise SandboxError(
                    f"could not remove sandbox {self._container.short_id} ({error}); "
                    "`python -m harness sandbox prune` removes what is left"
                ) from error
        except _DOCKER_ERRORS as error:
            raise SandboxError(
                f"could not remove sandbox {self._container.short_id} ({error}); "
                "`python -m harness sandbox prune` removes what is left"
            ) from error
