"""Throughput of the executors, printed as ratios in one run.

1. Attempts evaluated per minute on the demo suite: the local executor with 1 and 4 attempts in
   flight, and Ray on 1 and 2 worker nodes (a loopback cluster started here). The replay agent
   replays distinct patches (gold plus a different new file each), so every attempt costs one
   real evaluation and no agent sandbox: at most two sandboxes at once on a two-core machine.
2. A model stand-in that takes 2 s per call (tests/fake_openai.py, a real HTTP server on
   127.0.0.1): the wall time of one task at k=50 with the oneshot agent, 1 vs 8 in flight.

    PYTHONPATH=. python benchmarks/throughput.py [--tasks 6] [--k 4] [--skip-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run the package of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from harness.demo import load_demo_tasks  # noqa: E402


def distinct_predictions(path: Path, instances: list[str], k: int) -> None:
    tasks = {task.instance_id: task for task in load_demo_tasks()}
    rows = []
    for instance in instances:
        for index in range(k):
            note = (
                f"diff --git a/note_{index}.py b/note_{index}.py\nnew file mode 100644\n"
                f"--- /dev/null\n+++ b/note_{index}.py\n@@ -0,0 +1 @@\n+NOTE = {index}\n"
            )
            rows.append({"instance_id": instance, "model_name_or_path": "bench",
                         "model_patch": tasks[instance].patch + note})
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def evaluated(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "SELECT count(*) FROM attempts WHERE evaluation_id IS NOT NULL"
        ).fetchone()[0]


def demo_rate(work: Path, label: str, instances: list[str], k: int, extra: list[str],
              env: dict[str, str] | None = None) -> float:
    predictions = work / "predictions.jsonl"
    db = work / f"{label.replace(' ', '-').replace(',', '')}.db"
    command = [
        sys.executable, "-m", "harness", "run", "--agent", "replay", "--predictions",
        str(predictions), "--k", str(k), "--db", str(db), "--instances", *instances, *extra,
    ]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"{label}: run failed\n{done.stderr[-3000:]}")
    count = evaluated(db)
    rate = count / seconds * 60
    print(f"  {label:<24} {count} attempts evaluated in {seconds:6.1f} s = "
          f"{rate:5.1f} per minute", flush=True)
    return rate


def demo_suite(instances: list[str], k: int, skip_ray: bool) -> None:
    print(f"demo suite, replay agent, {len(instances)} tasks x k={k}, every patch distinct:")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        distinct_predictions(work / "predictions.jsonl", instances, k)
        rates = {
            "local, 1 in flight": demo_rate(
                work, "local, 1 in flight", instances, k,
                ["--max-sandboxes", "1", "--attempts-in-flight", "1", "--eval-sandboxes", "1"]),
            "local, 4 in flight": demo_rate(
                work, "local, 4 in flight", instances, k,
                ["--max-sandboxes", "4", "--attempts-in-flight", "4", "--eval-sandboxes", "2"]),
        }
        if not skip_ray:
            from ray_cluster import LocalRayCluster, ray_environment

            cluster = LocalRayCluster(workers=1).start()
            try:
                ray_args = ["--executor", "ray", "--ray-address", cluster.address,
                            "--attempts-in-flight", "1", "--eval-sandboxes", "1",
                            "--attempts-per-unit", "2"]
                for nodes in (1, 2):
                    if nodes == 2:
                        cluster.add_worker()
                        cluster.wait_for(docker=2)
                    label = f"ray, {nodes} worker node{'s' if nodes > 1 else ''}"
                    rates[label] = demo_rate(work, label, instances, k, ray_args,
                                             env=ray_environment())
            finally:
                cluster.stop()
    base = rates["local, 1 in flight"]
    print("  ratios to local, 1 in flight: " + ", ".join(
        f"{label}: {rate / base:.2f}x" for label, rate in rates.items()))
    print(f"  seconds per evaluated candidate (local, 1 in flight): {60 / base:.2f}")


def model_stand_in(k: int) -> None:
    import docker
    from fake_openai import FakeOpenAI, text_reply
    from llm_helpers import MODEL, build_image, definition_file, price_file, sandbox_factory
    from test_oneshot_agent import search_replace_answer

    from harness.agents.llm_factory import build_llm_agent
    from harness.runner import Runner, RunPlan
    from harness.store import Store

    task = load_demo_tasks()[0]
    client = docker.from_env()
    print(f"model stand-in taking 2 s per call, oneshot agent, one task, k={k}:")
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        factory = sandbox_factory(client, build_image(client, task, work / "repos"))
        answer = text_reply(search_replace_answer(task.patch), delay=2.0)
        times: dict[int, float] = {}
        spans: dict[int, float] = {}
        with FakeOpenAI(responder=lambda body: answer) as server:
            for in_flight in (1, 8):
                store = Store(work / f"stand-in-{in_flight}.db")
                agent = build_llm_agent(
                    str(definition_file(work, "oneshot", samples_per_call=1)), model=MODEL,
                    api_base=server.base_url, prices_path=price_file(work), max_connections=8,
                    cache=False, store=store,
                )
                plan = RunPlan(run_id="stand-in", k=k, seed=0, max_sandboxes=8,
                               vcpu_hour_dollars=0.04, attempts_in_flight=in_flight,
                               eval_sandboxes=1)
                started = time.monotonic()
                status = Runner(store, agent, factory, plan, log=lambda message: None).run([task])
                times[in_flight] = time.monotonic() - started
                spans[in_flight] = commit_span(store)
                store.close()
                print(f"  {in_flight} in flight: {times[in_flight]:6.1f} s wall ({status}); "
                      f"first to last attempt committed: {spans[in_flight]:6.1f} s", flush=True)
    print(f"  speedup 8 vs 1 in flight: {times[1] / times[8]:.2f}x wall, "
          f"{spans[1] / spans[8]:.2f}x after the first attempt (the image and sandbox start "
          "are paid once either way; goal: near 8x)")


def commit_span(store) -> float:
    """Seconds from the first attempt committed to the last: the run without its setup."""
    from sqlalchemy import func, select

    from harness.store import AttemptRecord

    with store.reading() as session:
        first, last = session.execute(
            select(func.min(AttemptRecord.created_at), func.max(AttemptRecord.created_at))
        ).one()
    return (last - first).total_seconds()


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    options.add_argument("--tasks", type=int, default=6, help="demo tasks (default 6)")
    options.add_argument("--k", type=int, default=4, help="attempts per demo task (default 4)")
    options.add_argument("--stand-in-k", type=int, default=50)
    options.add_argument("--skip-ray", action="store_true")
    options.add_argument("--skip-stand-in", action="store_true")
    options.add_argument("--skip-demo", action="store_true")
    args = options.parse_args()
    os.environ.setdefault("TQDM_DISABLE", "1")  # progress bars would bury the figures
    tasks = load_demo_tasks()
    # Spread over the three demo repositories.
    order = sorted(tasks, key=lambda task: (task.instance_id.rsplit("-", 1)[1], task.repo))
    instances = [task.instance_id for task in order[: args.tasks]]
    if not args.skip_demo:
        demo_suite(instances, args.k, args.skip_ray)
    if not args.skip_stand_in:
        model_stand_in(args.stand_in_k)


if __name__ == "__main__":
    main()
