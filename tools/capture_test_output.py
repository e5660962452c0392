"""Captures the real test output of SWE-bench instances in this harness's sandboxes, for the
log-parser tests (tests/data/parsers/). For each instance: builds (or reuses) its image,
evaluates the gold and the empty patch once, and writes `<instance>.gold.txt` and
`<instance>.empty.txt` (the test command's whole output) to --out.

    python tools/capture_test_output.py --dataset ../shared/swebench/swe_bench_lite.jsonl \
        --repos-dir /work/mirrors --out /tmp/captured pydata__xarray-4248
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import docker

from harness.datasets import load_dataset_tasks
from harness.evaluation.evaluator import TestSetup, evaluate
from harness.images.build import prepare_instance_image
from harness.images.specs import spec_for
from harness.repos import RepoSource
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instances", nargs="+")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--repos-dir", required=True)
    parser.add_argument("--cache-dir", default="results/cache")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    tasks = {task.instance_id: task for task in load_dataset_tasks(args.dataset).tasks}
    missing = [name for name in args.instances if name not in tasks]
    if missing:
        print(f"not in {args.dataset}: {', '.join(missing)}", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    client = docker.from_env()
    repos = RepoSource(repos_dir=Path(args.repos_dir), cache_dir=Path(args.cache_dir))
    for name in args.instances:
        task = tasks[name]
        spec = spec_for(task.repo, task.version)
        setup = TestSetup(
            spec.runner_cmd, spec.log_parser, float(spec.test_timeout), spec.network_tests
        )
        image = prepare_instance_image(client, task, repos)
        sandbox = DockerSandbox.start(client, image, SandboxLimits(memory="3g", cpus=1.0))
        try:
            for label, patch in (("gold", task.patch), ("empty", "")):
                outcome = evaluate(task, patch, sandbox, setup, run_empty=True)
                (out / f"{name}.{label}.txt").write_text(outcome.test_output)
                print(f"{name} {label}: {outcome.status.value} ({outcome.seconds:.0f} s)")
        finally:
            sandbox.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
