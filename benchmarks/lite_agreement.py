"""Verdict agreement with the official SWE-bench harness on real Lite leaderboard predictions.

Replays every prediction file in `lite_preds/` (7 systems and `gold`) on validated Lite
instances through the harness (replay agent, Docker sandboxes, grading as officially), then
compares each (instance, system) verdict with the official resolved lists in `lite_resolved/`
(gold counts as resolved everywhere). Prints every disagreement with what our grading saw, and
the agreement figure last.

    python benchmarks/lite_agreement.py --repos-dir /work/mirrors \\
        --repo sympy/sympy pytest-dev/pytest pallets/flask [--instances GLOB ...] [--limit N]

Instances are validated first when the store has no validation for them (gold and empty patch,
`--repeats` times); only valid ones are replayed. Evaluations are stored and keyed by
(task, patch), so a rerun only does what is missing.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "swebench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(SHARED), help="the shared swebench data folder")
    parser.add_argument("--repos-dir", required=True, help="local git mirrors (owner/name)")
    parser.add_argument(
        "--repo", nargs="+", default=["sympy/sympy", "pytest-dev/pytest", "pallets/flask"],
    )
    parser.add_argument("--instances", nargs="+", help="ids or globs to keep")
    parser.add_argument("--limit", type=int, help="at most this many valid instances")
    parser.add_argument(
        "--prefer-fast", action="store_true",
        help="with --limit, take the valid instances whose validation was quickest (per repo "
        "order kept otherwise): a time budget, not a choice by outcome",
    )
    parser.add_argument("--repeats", type=int, default=1, help="validation repeats (default 1)")
    parser.add_argument("--db", default=str(ROOT / "results" / "agreement.db"))
    parser.add_argument("--cache-dir", default=str(ROOT / "results" / "cache"))
    parser.add_argument("--max-sandboxes", type=int, default=2)
    parser.add_argument("--memory", default="3g")
    parser.add_argument("--cpus", type=float, default=1.0)
    parser.add_argument("--no-run", action="store_true", help="only compare what is stored")
    return parser.parse_args(argv)


def official_resolved(data: Path, systems: list[str], ids: list[str]) -> dict[str, set[str]]:
    resolved: dict[str, set[str]] = {}
    for system in systems:
        if system == "gold":
            resolved[system] = set(ids)
            continue
        path = data / "lite_resolved" / f"{system}.json"
        resolved[system] = set(json.loads(path.read_text())["resolved"])
    return resolved


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = Path(args.data)
    if not (data / "swe_bench_lite.jsonl").is_file():
        print(f"no SWE-bench data at {data}", file=sys.stderr)
        return 2

    from harness.cli.swebench import _spec_and_setup
    from harness.datasets import TaskFilter, filter_tasks, load_dataset_tasks
    from harness.sandboxes.factory import DockerOptions, docker_sandboxes
    from harness.store import Store
    from harness.validation import save_validation, stored_validations, validate_task

    tasks = load_dataset_tasks(str(data / "swe_bench_lite.jsonl")).tasks
    tasks = filter_tasks(tasks, TaskFilter(list(args.instances or []), list(args.repo)))
    pred_files = sorted((data / "lite_preds").glob("*.jsonl"))
    systems = [path.stem for path in pred_files]
    store = Store(args.db)
    factory = docker_sandboxes(DockerOptions(
        memory=args.memory, cpus=args.cpus, cache_dir=Path(args.cache_dir),
        repos_dir=Path(args.repos_dir) if args.repos_dir else None,
    ))

    # 1. Validation of whatever has none yet.
    if not args.no_run:
        known = stored_validations(store, tasks)
        for task in tasks:
            if task.instance_id in known:
                continue
            if args.limit is not None:
                valid_now = sum(r.valid for r in stored_validations(store, tasks).values())
                if valid_now >= args.limit:
                    break
            print(f"validating {task.instance_id}", file=sys.stderr, flush=True)
            spec_name, setup = _spec_and_setup(task)
            result = validate_task(task, factory.prepare_image, factory.start, setup,
                                   spec_name, repeats=args.repeats)
            save_validation(store, task, result, args.repeats)
            print(f"  valid={result.valid} {result.reason}", file=sys.stderr, flush=True)
    validations = stored_validations(store, tasks)
    chosen = [task for task in tasks if validations.get(task.instance_id)
              and validations[task.instance_id].valid]
    if args.limit is not None:
        if args.prefer_fast:
            quickest = sorted(chosen, key=lambda t: validations[t.instance_id].seconds)
            keep = {t.instance_id for t in quickest[: args.limit]}
            chosen = [t for t in chosen if t.instance_id in keep]
        chosen = chosen[: args.limit]
    left = [(t.instance_id, validations[t.instance_id].reason) for t in tasks
            if t.instance_id in validations and not validations[t.instance_id].valid]
    print(f"{len(chosen)} valid instances; {len(left)} left out by validation", flush=True)
    for instance_id, reason in left:
        print(f"  left out {instance_id}: {reason[:200]}")

    # 2. Replay of every system through the harness's runner.
    from harness.agents.replay import ReplayAgent
    from harness.runner import Runner, RunPlan

    agent = ReplayAgent(pred_files)
    run_id = f"lite-agreement-{agent.definition_hash[:8]}"
    if not args.no_run and chosen:
        plan = RunPlan(run_id=run_id, k=len(pred_files), seed=0,
                       max_sandboxes=args.max_sandboxes, vcpu_hour_dollars=0.04,
                       config={"benchmark": "lite_agreement", "systems": systems})
        Runner(store, agent, factory, plan, log=lambda m: print(m, file=sys.stderr)).run(chosen)

    # 3. Comparison, from the store alone.
    ids = [task.instance_id for task in chosen]
    official = official_resolved(data, systems, ids)
    ours: dict[tuple[str, str], tuple[str, list[str]]] = {}
    if store.run(run_id) is None:
        print("nothing replayed yet")
        return 1
    for stored in store.run_attempts(run_id):
        attempt, evaluation = stored.attempt, stored.evaluation
        instance_id = attempt.task.row["instance_id"]
        source = str((attempt.details or {}).get("source", ""))
        system = Path(source.rsplit(":", 1)[0]).stem
        if evaluation is None:
            continue  # not evaluated (infrastructure): left out, and said below
        failing = [t.name for t in stored.tests if not t.passed and t.status != "SKIPPED"]
        ours[(instance_id, system)] = (evaluation.status.value, failing)
    agree = total = 0
    missing = 0
    disagreements = []
    for instance_id in ids:
        for system in systems:
            has_prediction = any(
                p.instance_id == instance_id for p in _predictions(agent, instance_id, system)
            )
            if has_prediction and (instance_id, system) not in ours:
                missing += 1
                continue
            status, failing = ours.get((instance_id, system), ("no_prediction", []))
            mine = status == "resolved"
            theirs = instance_id in official[system]
            total += 1
            if mine == theirs:
                agree += 1
            else:
                disagreements.append((instance_id, system, status, theirs, failing))
    print(f"\n{len(disagreements)} disagreement(s):")
    for instance_id, system, status, theirs, failing in disagreements:
        official_word = "resolved" if theirs else "not resolved"
        print(f"  {instance_id} {system}: ours {status}, official {official_word}; "
              f"failing: {', '.join(failing[:4])}")
    if missing:
        print(f"{missing} (instance, system) pairs not evaluated yet (rerun to finish)")
    per_system = {s: sum(1 for d in disagreements if d[1] == s) for s in systems}
    print("disagreements per system: " + ", ".join(f"{s} {n}" for s, n in per_system.items()))
    store.close()
    share = agree / total if total else 0.0
    print(f"agreement: {agree}/{total} = {share:.1%} over {len(ids)} instances x "
          f"{len(systems)} systems")
    return 0


def _predictions(agent, instance_id: str, system: str):
    return [
        p for p in agent.predictions.get(instance_id, [])
        if Path(p.source.rsplit(":", 1)[0]).stem == system
    ]


if __name__ == "__main__":
    sys.exit(main())
