"""What image building shows on the console: one line per image, the rest in a file.

A first run builds a base image (debootstrap), an environment image (a wheelhouse, pip) and one
instance image per task; their commands print hundreds of lines that bury the run's progress.
`BuildLog` is the `Log` the builders write to: every line goes to a file under the cache
directory, and the console gets one line per image built (its kind, tag and time) and, when a
build fails, the failure, the last lines of that build's output and the file's path.

The builders announce their images with "building <kind> image <tag> ..." and "built <tag>";
any line outside a build (pull warnings, a registry that does not answer) is shown as it is.
Builds run on several threads at once, so what is being built is kept per thread.
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

Log = Callable[[str], None]

_STARTED = re.compile(r"^building (base|env|instance) image (\S+)")
_BUILT = re.compile(r"^built (\S+)$")
TAIL_LINES = 30


def console_line(message: str) -> None:
    """One line on stderr above a progress bar (tqdm redraws the bar under it)."""
    tqdm.write(f"[images] {message}", file=sys.stderr)


@dataclass
class _Build:
    kind: str
    tag: str
    started: float = field(default_factory=time.monotonic)

    def seconds(self) -> float:
        return time.monotonic() - self.started


@dataclass
class _ThreadState:
    builds: list[_Build] = field(default_factory=list)  # nested: an env build starts a base one
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))


class BuildLog:
    """A `Log` for the image builders; `show` gets the console's lines. The file is made at the
    first line written to it, `folder/images-<time>-<pid>.log`."""

    def __init__(self, folder: Path, show: Log = console_line) -> None:
        self.folder = Path(folder)
        self.show = show
        self._path: Path | None = None
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def path(self) -> Path:
        with self._lock:
            if self._path is None:
                stamp = time.strftime("%Y%m%d-%H%M%S")
                self._path = self.folder / f"images-{stamp}-{os.getpid()}.log"
            return self._path

    def _state(self) -> _ThreadState:
        state = getattr(self._local, "state", None)
        if state is None:
            state = self._local.state = _ThreadState()
        return state

    def _write(self, line: str) -> None:
        path = self.path
        stamp = time.strftime("%H:%M:%S")
        with self._lock:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write(f"{stamp} {line}\n")

    def __call__(self, line: str) -> None:
        state = self._state()
        started = _STARTED.match(line)
        built = _BUILT.match(line)
        self._write(line)
        if started:
            if not state.builds:
                state.tail.clear()
            state.builds.append(_Build(started.group(1), started.group(2)))
            state.tail.append(line)
            return
        if built and state.builds and state.builds[-1].tag == built.group(1):
            build = state.builds.pop()
            self.show(f"built {build.kind} image {build.tag} in {build.seconds():.1f} s")
            return
        if state.builds:
            state.tail.append(line)
        else:
            self.show(line)

    def failed(self, error: BaseException) -> None:
        """Says on the console which build of this thread failed, how, its last lines and
        where the whole log is; forgets the thread's builds. Nothing when none was under way
        (the error came before any build: the caller reports it)."""
        state = self._state()
        if not state.builds:
            return
        build = state.builds[-1]
        text = str(error).strip()
        first_line = text.splitlines()[0] if text else type(error).__name__
        self._write(f"FAILED {build.tag}: {error}")
        lines = [
            f"building {build.kind} image {build.tag} failed after {build.seconds():.1f} s: "
            f"{first_line}",
            f"last {len(state.tail)} lines of its output:",
            *(f"  | {line}" for line in state.tail),
            f"full build log: {self.path}",
        ]
        self.show("\n".join(lines))
        state.builds.clear()
        state.tail.clear()
