"""How many host processes one fork bomb in a sandbox adds, at the old and the new pids limit.

    python benchmarks/fork_bomb_limits.py [--old 512] [--new 256]

Evaluates a candidate whose package `__init__.py` forks until the pids limit stops it (then
each process sleeps) on demo__textkit-1, sampling the host's process count every 0.2 s, once
per limit. Prints the peak of extra processes for each and their ratio. Needs Docker and the
demo image (built on first use).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import docker

# Run the package of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


from harness.demo import load_demo_tasks
from harness.evaluation.evaluator import TestSetup, evaluate
from harness.images.build import prepare_instance_image
from harness.images.specs import spec_for
from harness.repos import RepoSource
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

BOMB = (
    "import os, time\n"
    "if os.environ.get('FORK_BOMB') is None:\n"
    "    os.environ['FORK_BOMB'] = '1'\n"
    "    while True:\n"
    "        try:\n"
    "            os.fork()\n"
    "        except OSError:\n"
    "            time.sleep(60)\n"
)
INIT = "textkit/__init__.py"


def host_processes() -> int:
    return sum(1 for name in os.listdir("/proc") if name.isdigit())


def extra_processes(client: docker.DockerClient, image: str, pids: int) -> tuple[int, str]:
    task = next(t for t in load_demo_tasks() if t.instance_id == "demo__textkit-1")
    setup = TestSetup(spec_for(task.repo, task.version).test_cmd, "pytest", 20)
    with DockerSandbox.start(client, image, SandboxLimits(pids=pids)) as sandbox:
        old = sandbox.read_file(f"/testbed/{INIT}").decode()
        body = "".join(difflib.unified_diff(
            old.splitlines(True), (old + "\n" + BOMB).splitlines(True), f"a/{INIT}", f"b/{INIT}"
        ))
        patch = f"diff --git a/{INIT} b/{INIT}\n{body}"
        base = host_processes()
        peak = [base]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], host_processes())
                time.sleep(0.2)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            outcome = evaluate(task, patch, sandbox, setup)
        finally:
            done.set()
            sampler.join()
    return peak[0] - base, outcome.status.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", type=int, default=512)
    parser.add_argument("--new", type=int, default=SandboxLimits().pids)
    args = parser.parse_args()
    client = docker.from_env()
    task = next(t for t in load_demo_tasks() if t.instance_id == "demo__textkit-1")
    with tempfile.TemporaryDirectory() as cache:
        image = prepare_instance_image(client, task, RepoSource(None, Path(cache)))
    results = {}
    for pids in (args.old, args.new):
        results[pids] = extra_processes(client, image, pids)
        extra, verdict = results[pids]
        print(f"pids limit {pids}: {extra} extra host processes at the peak, verdict {verdict}")
    print(f"ratio new/old: {results[args.new][0] / max(1, results[args.old][0]):.2f}")


if __name__ == "__main__":
    main()
