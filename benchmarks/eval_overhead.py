"""What one candidate costs, beside what its tests alone cost: printed as ratios.

For each task (a demo task, and a real instance when given), in interleaved rounds (the order
of the measures rotates every round, so the host's load weighs on all alike):

- bare: the test command alone, in a warm sandbox whose tree already holds the candidate;
- bare, cold bytecode: the same after removing the tree's `__pycache__` folders (what every
  evaluation paid before instance images carried their modules' bytecode);
- harness: the harness's evaluation (reset, apply, restore tests, test patch, tests, grade);
- fresh: a new container per candidate, as the official harness does (start, evaluate, remove);
- reset: the sandbox's reset, after an evaluation changed the tree, with the no-op command
  that carries its restore;
- fail fast vs full on a failing candidate (the base commit plus a harmless file).

    python benchmarks/eval_overhead.py --rounds 3
    nice python benchmarks/eval_overhead.py --dataset ../shared/swebench/swe_bench_lite.jsonl \
        --instances pytest-dev__pytest-11143 --repos-dir /work/mirrors --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HARMLESS = """\
diff --git a/harness_overhead_probe.txt b/harness_overhead_probe.txt
new file mode 100644
--- /dev/null
+++ b/harness_overhead_probe.txt
@@ -0,0 +1 @@
+probe
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--instances", nargs="+", help="default: the first demo task")
    parser.add_argument("--repos-dir")
    parser.add_argument("--cache-dir", default=str(ROOT / "results" / "cache"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--memory", default="3g")
    parser.add_argument("--cpus", type=float, default=1.0)
    return parser.parse_args(argv)


def measure_task(task, factory, rounds: int) -> dict[str, list[float]]:
    from harness.evaluation.eval_script import test_targets
    from harness.evaluation.evaluator import evaluate
    from harness.evaluation.fail_fast import evaluate_fail_fast

    setup = factory.test_setup(task)
    image = factory.prepare_image(task)
    bare_command = " ".join([setup.test_cmd, *test_targets(list(task.test_files))])
    times: dict[str, list[float]] = {name: [] for name in (
        "bare", "bare, cold bytecode", "harness", "fresh", "reset", "wholesale reset",
        "full (failing)", "fail fast (failing)")}
    sandbox = factory.start(image)

    def timed(name: str, action) -> None:
        started = time.monotonic()
        action()
        times[name].append(time.monotonic() - started)

    def bare() -> None:
        evaluate(task, task.patch, sandbox, setup)  # leaves the candidate and the test patch
        started = time.monotonic()
        sandbox.exec(f"cd /testbed && {bare_command} > /dev/null 2>&1",
                     timeout=setup.test_timeout)
        times["bare"].append(time.monotonic() - started)

    def bare_cold() -> None:
        evaluate(task, task.patch, sandbox, setup)
        sandbox.exec("find /testbed -name __pycache__ -prune -exec rm -rf {} +", timeout=120)
        started = time.monotonic()
        sandbox.exec(f"cd /testbed && {bare_command} > /dev/null 2>&1",
                     timeout=setup.test_timeout)
        times["bare, cold bytecode"].append(time.monotonic() - started)

    def fresh() -> None:
        other = factory.start(image)
        try:
            evaluate(task, task.patch, other, setup)
        finally:
            other.close()

    def reset() -> None:
        evaluate(task, HARMLESS, sandbox, setup)
        # The restore rides ahead of the next command: a no-op carries it here.
        timed("reset", lambda: (sandbox.reset(), sandbox.exec("true")))

    def wholesale_reset() -> None:
        """The reset before this change: wipe the testbed and copy the pristine tree back."""
        evaluate(task, HARMLESS, sandbox, setup)
        wipe = "rm -rf /testbed/* /testbed/.[!.]* /testbed/..?* /tmp/* /tmp/.[!.]* /tmp/..?*"
        timed("wholesale reset", lambda: sandbox.exec(
            f"{wipe}; cp -a /opt/testbed/. /testbed/", timeout=600))
        sandbox.reset()  # untimed: the sandbox takes its listing of the tree afresh

    measures = [
        ("bare", bare),
        ("bare, cold bytecode", bare_cold),
        ("harness", lambda: timed("harness", lambda: evaluate(task, task.patch, sandbox, setup))),
        ("fresh", lambda: timed("fresh", fresh)),
        ("reset", reset),
        ("wholesale reset", wholesale_reset),
        ("full (failing)", lambda: timed(
            "full (failing)", lambda: evaluate(task, HARMLESS, sandbox, setup))),
        ("fail fast (failing)", lambda: timed(
            "fail fast (failing)", lambda: evaluate_fail_fast(task, HARMLESS, sandbox, setup))),
    ]
    try:
        for number in range(rounds):
            shift = number % len(measures)
            for _, action in measures[shift:] + measures[:shift]:
                action()
            done = ", ".join(f"{name} {values[-1]:.1f} s" for name, values in times.items()
                             if values)
            print(f"{time.strftime('%H:%M:%S')} {task.instance_id} round {number + 1}: {done}",
                  file=sys.stderr, flush=True)
    finally:
        sandbox.close()
    return times


def report(instance_id: str, times: dict[str, list[float]]) -> str:
    median = {name: statistics.median(values) for name, values in times.items() if values}
    lines = [f"{instance_id} (medians of {len(times['harness'])} interleaved rounds):"]
    lines += [f"  {name:<20} {value:8.2f} s" for name, value in median.items()]
    lines.append(f"  harness / bare:                 {median['harness'] / median['bare']:.2f}")
    lines.append(f"  harness / bare, cold bytecode:  "
                 f"{median['harness'] / median['bare, cold bytecode']:.2f}")
    lines.append(f"  fresh container / harness:      {median['fresh'] / median['harness']:.2f}")
    lines.append(f"  reset / harness:                {median['reset'] / median['harness']:.2f}")
    lines.append(f"  wholesale reset / reset:        "
                 f"{median['wholesale reset'] / median['reset']:.2f}")
    lines.append(f"  full / fail fast (failing):     "
                 f"{median['full (failing)'] / median['fail fast (failing)']:.2f}x less test time")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from harness.backends.docker_backend import DockerOptions, docker_sandboxes
    from harness.cli.swebench import load_dataset_from_args
    from harness.sandboxes.host_slots import host_limit

    args.repo, args.limit, args.split = None, None, None
    if not args.instances and args.dataset == "demo":
        args.instances = ["demo__textkit-1"]
    tasks = load_dataset_from_args(args)
    factory = docker_sandboxes(DockerOptions(
        memory=args.memory, cpus=args.cpus, cache_dir=Path(args.cache_dir),
        repos_dir=Path(args.repos_dir) if args.repos_dir else None,
        host_max_sandboxes=host_limit()))
    for task in tasks:
        assert factory.host_slots is not None
        with factory.host_slots.hold(2):  # the warm sandbox and the fresh one
            times = measure_task(task, factory, args.rounds)
        print(report(task.instance_id, times), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
