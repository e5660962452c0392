"""A sandbox over a local directory, for tests and trusted code on a machine without Docker.

Each command runs under bubblewrap (`bwrap`, Debian's `bubblewrap` package) in a view of the
host where /testbed and /tmp are this sandbox's own folders, the system folders (/usr, /etc,
the running Python's prefix) are read-only, there is no network but loopback, and the command
is pid 1's only child in a fresh pid namespace: when it ends or times out, everything it
started ends with it. Address space is capped (RLIMIT_AS) and output is capped as in Docker.

Not a security boundary for untrusted patches: the host kernel is shared, pids and disk are
not bounded, and processes do not outlive their command (a Docker sandbox keeps background
processes until reset). The runner uses Docker; this backend lets tests of the runner's logic
and of agents run where no Docker daemon is.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from harness.sandboxes.base import TESTBED, ExecResult, SandboxError
from harness.sandboxes.cpu import CpuSample, run_share

_INTERNAL_TIMEOUT = 120.0
# Kept read-only in the sandbox's view; everything else of the host is absent.
_SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/opt")


@dataclass(frozen=True)
class LocalLimits:
    output_cap: int = 1_000_000  # bytes kept per stream
    memory_bytes: int | None = 2 * 2**30  # address space of each process; None: unlimited
    cpus: float = 1.0  # what compute_seconds charges per wall second
    max_diff_bytes: int = 20_000_000


def bubblewrap() -> str | None:
    return shutil.which("bwrap")


def interpreter_dirs() -> list[str]:
    """The running interpreter's installation (its virtual environment and the base it was
    made from), so `python3 -m pytest` inside finds the packages the tests run with."""
    dirs = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    return sorted(d for d in dirs if not any(d.startswith(s + "/") for s in _SYSTEM_DIRS))


def _python_path() -> str:
    """PATH inside: the running interpreter's own folder first, so `python`/`python3` is this
    interpreter (a virtual environment's, not the first one on the host's PATH), then the
    installations' and the system's."""
    own = os.path.realpath(os.path.dirname(os.path.abspath(sys.executable)))
    folders = [own, *(f"{d}/bin" for d in interpreter_dirs()), "/usr/local/bin", "/usr/bin", "/bin"]
    return ":".join(dict.fromkeys(folders))


class LocalSandbox:
    """Make one with `LocalSandbox.start(image_dir)`; `image_dir` holds the repository at its
    base commit (a git work tree), as /opt/testbed does in a Docker image; each sandbox works
    on its own copy."""

    def __init__(self, image: Path, root: Path, limits: LocalLimits, bwrap: str) -> None:
        self.image = image
        self.root = root
        self.limits = limits
        self._bwrap = bwrap
        self._closed = False
        self._compute = 0.0
        self._busy = threading.Lock()

    @classmethod
    def start(cls, image: str | Path, limits: LocalLimits | None = None) -> LocalSandbox:
        """Raises SandboxError when bubblewrap is missing or `image` is not a folder."""
        bwrap = bubblewrap()
        if bwrap is None:
            raise SandboxError("bubblewrap is not installed (apt-get install bubblewrap)")
        image = Path(image)
        if not image.is_dir():
            raise SandboxError(f"{image} is not a folder: nothing to sandbox")
        root = Path(tempfile.mkdtemp(prefix="harness-local-sandbox-"))
        box = cls(image, root, limits or LocalLimits(), bwrap)
        try:
            box._populate()
        except OSError as error:
            box.close()
            raise SandboxError(f"copying {image} into the sandbox failed: {error}") from error
        return box

    @property
    def compute_seconds(self) -> float:
        return self._compute * self.limits.cpus

    @property
    def cpu_share(self) -> float:
        return run_share(self.limits.cpus)

    def crowded(self) -> bool:
        return False  # never starved (see cpu_sample), so never asked in earnest

    def cpu_sample(self) -> CpuSample:
        """Wall-clock compute only: this backend cannot see CPU denied by the host, so it
        never calls a run starved."""
        return CpuSample(time.monotonic(), self.compute_seconds, 0.0, 0.0)

    def __enter__(self) -> LocalSandbox:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _populate(self) -> None:
        shutil.copytree(self.image, self.root / "testbed", symlinks=True)
        (self.root / "tmp").mkdir()

    def _argv(self, command: list[str], workdir: str) -> list[str]:
        argv = [self._bwrap, "--unshare-all", "--die-with-parent", "--new-session"]
        for folder in _SYSTEM_DIRS:
            if os.path.islink(folder):
                argv += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                argv += ["--ro-bind", folder, folder]
        argv += [
            "--bind", str(self.root / "testbed"), TESTBED,
            "--bind", str(self.root / "tmp"), "/tmp",
            "--dev", "/dev", "--proc", "/proc",
        ]
        # After /tmp: a virtual environment under /tmp stays visible over the sandbox's own.
        for folder in interpreter_dirs():
            argv += ["--ro-bind", folder, folder]
        argv += ["--chdir", workdir]
        if self.limits.memory_bytes is not None:
            argv += ["prlimit", f"--as={self.limits.memory_bytes}", "--"]
        return argv + command

    def _run(
        self, command: list[str], timeout: float, workdir: str = TESTBED,
        env: dict[str, str] | None = None, stdin: bytes | None = None, cap: int | None = None,
    ) -> tuple[int, bytes, bytes, float, bool, bool]:
        """(exit code, stdout, stderr, seconds, timed out, truncated)."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        cap = self.limits.output_cap if cap is None else cap
        environment = {
            "PATH": _python_path(),
            "HOME": "/tmp", "LANG": "C.UTF-8", **(env or {}),
        }
        with self._busy:
            started = time.monotonic()
            try:
                process = subprocess.Popen(
                    self._argv(command, workdir), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, env=environment, start_new_session=True,
                )
            except OSError as error:
                raise SandboxError(f"could not start bubblewrap: {error}") from error
            outputs = [bytearray(), bytearray()]
            truncated = [False, False]
            readers = [
                threading.Thread(target=_drain, args=(stream, outputs[n], truncated, n, cap))
                for n, stream in enumerate((process.stdout, process.stderr))
            ]
            for reader in readers:
                reader.start()
            _feed(process.stdin, stdin)
            timed_out = False
            try:
                code = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                # The whole session dies, and with bwrap's pid 1 every process of the sandbox.
                os.killpg(process.pid, signal.SIGKILL)
                code = process.wait()
            for reader in readers:
                reader.join()
            seconds = time.monotonic() - started
            self._compute += seconds
        return code, bytes(outputs[0]), bytes(outputs[1]), seconds, timed_out, any(truncated)

    def _checked(self, script: str, stdin: bytes | None = None, cap: int = 2**26) -> bytes:
        code, out, err, *_ = self._run(["sh", "-c", script], _INTERNAL_TIMEOUT, stdin=stdin,
                                       cap=cap)
        if code != 0:
            raise SandboxError(f"`{script}` failed in the sandbox: {err.decode(errors='replace')}")
        return out

    def exec(
        self, command: str, timeout: float = 60.0, workdir: str = TESTBED,
        env: dict[str, str] | None = None, stdin: str | None = None,
    ) -> ExecResult:
        """See Sandbox.exec."""
        data = stdin.encode() if stdin is not None else None
        code, out, err, seconds, timed_out, truncated = self._run(
            ["sh", "-c", command], timeout, workdir, env, data
        )
        return ExecResult(
            exit_code=124 if timed_out else code,
            stdout=out.decode(errors="replace"),
            stderr=err.decode(errors="replace"),
            seconds=seconds,
            timed_out=timed_out,
            truncated=truncated,
        )

    @staticmethod
    def _absolute(path: str) -> str:
        return path if path.startswith("/") else f"{TESTBED}/{path}"

    def read_file(self, path: str, max_bytes: int = 1_000_000) -> bytes:
        path = self._absolute(path)
        script = (
            '[ -e "$1" ] || exit 3; [ -f "$1" ] || exit 4; '
            'size=$(stat -c %s "$1"); [ "$size" -le "$2" ] || { echo "$size"; exit 5; }; '
            'exec cat "$1"'
        )
        code, out, err, *_ = self._run(
            ["sh", "-c", script, "sh", path, str(max_bytes)], _INTERNAL_TIMEOUT, cap=max_bytes
        )
        if code == 3:
            raise FileNotFoundError(f"no such file in the sandbox: {path}")
        if code == 4:
            raise IsADirectoryError(f"not a regular file in the sandbox: {path}")
        if code == 5:
            raise ValueError(f"{path} has {out.decode().strip()} bytes, more than {max_bytes}")
        if code != 0:
            raise SandboxError(f"reading {path} failed: {err.decode(errors='replace').strip()}")
        return out

    def write_file(self, path: str, content: bytes | str) -> None:
        """Raises SandboxError outside /testbed and /tmp, where the view is read-only."""
        path = self._absolute(path)
        data = content.encode() if isinstance(content, str) else bytes(content)
        script = 'mkdir -p "$(dirname "$1")" && cat > "$1"'
        code, _, err, *_ = self._run(
            ["sh", "-c", script, "sh", path], _INTERNAL_TIMEOUT, stdin=data
        )
        if code != 0:
            raise SandboxError(f"writing {path} failed: {err.decode(errors='replace').strip()}")

    def diff(self) -> str:
        """See Sandbox.diff: a scratch index, so the agent's own staging is untouched."""
        index = "/tmp/.harness-diff-index"
        script = (
            f"cd {TESTBED} && cp .git/index {index} && export GIT_INDEX_FILE={index} && "
            f"git add -A && git diff --cached --binary HEAD; status=$?; rm -f {index}; "
            "exit $status"
        )
        code, out, err, _, _, truncated = self._run(
            ["sh", "-c", script], _INTERNAL_TIMEOUT, cap=self.limits.max_diff_bytes
        )
        if code != 0:
            raise SandboxError(f"git diff in the sandbox failed: {err.decode(errors='replace')}")
        if truncated:
            raise ValueError(f"the diff is larger than {self.limits.max_diff_bytes} bytes")
        return out.decode(errors="replace")

    def reset(self) -> None:
        """See Sandbox.reset. No process outlives its command here, so none is left to stop."""
        if self._closed:
            raise SandboxError("the sandbox is closed")
        try:
            shutil.rmtree(self.root / "testbed")
            shutil.rmtree(self.root / "tmp")
            self._populate()
        except OSError as error:
            raise SandboxError(f"resetting the sandbox failed: {error}") from error

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        shutil.rmtree(self.root, ignore_errors=True)


def _drain(stream: IO[bytes], into: bytearray, truncated: list[bool], n: int, cap: int) -> None:
    """Reads a stream to its end, keeping the first `cap` bytes."""
    while chunk := stream.read(65536):
        room = cap - len(into)
        if len(chunk) > room:
            truncated[n] = True
        into += chunk[: max(room, 0)]
    stream.close()


def _feed(stream: IO[bytes], data: bytes | None) -> None:
    """Writes stdin in a thread (a large input must not block while outputs fill)."""
    def write() -> None:
        try:
            if data:
                stream.write(data)
        except (BrokenPipeError, OSError):
            pass  # the command did not read all of it
        finally:
            try:
                stream.close()
            except OSError:
                pass

    threading.Thread(target=write, daemon=True).start()
