"""Fail fast changes no verdict, and saves test time: shown candidate by candidate.

Every distinct candidate of every chosen task is evaluated twice in the same sandbox, in
alternating order (full first for one candidate, fail fast first for the next, so load on the
host weighs on both alike): the full official run alone, and fail fast (stage 1, then stage 2
only when stage 1 saw no FAIL_TO_PASS test fail). Prints whether the resolved/unresolved
verdicts agree on every candidate, and the test seconds of both on the failing candidates.

Candidates come from prediction files (SWE-bench format, e.g. every system of lite_preds/) or
from the attempts of a run in a store (e.g. a `run --agent mutation` on the demo suite). Rows
go to --out as they are made; a rerun skips what it has.

    python benchmarks/fail_fast_agreement.py --dataset demo --from-db results/ff-demo.db
    nice python benchmarks/fail_fast_agreement.py \
        --dataset ../shared/swebench/swe_bench_lite.jsonl --repos-dir /work/mirrors \
        --instances pytest-dev__pytest-11143 pallets__flask-5063 \
        --predictions ../shared/swebench/lite_preds/*.jsonl --out results/ff-lite.jsonl

After `benchmarks/lite_agreement.py` (whose runs fail fast), `--from-db results/agreement.db
--stage-one-only` checks just the verdicts stage 1 made there: every other one came from the
full official run. The time saved printed then leaves out the failing candidates stage 1 could
not decide (they cost stage 1 on top of the full run): say so beside the figure.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--instances", nargs="+")
    parser.add_argument("--repos-dir")
    parser.add_argument("--cache-dir", default=str(ROOT / "results" / "cache"))
    parser.add_argument("--predictions", nargs="+", help="prediction files (each row a candidate)")
    parser.add_argument("--from-db", help="take candidates from the attempts stored here")
    parser.add_argument("--run-id", help="with --from-db: only this run's attempts")
    parser.add_argument(
        "--stage-one-only", action="store_true",
        help="with --from-db: only attempts whose stored evaluation stage 1 decided (the "
             "candidates whose verdict fail fast could have got wrong: every other verdict is "
             "the full run's by construction)")
    parser.add_argument("--max-candidates", type=int, help="per task, after deduplication")
    parser.add_argument("--out", default=str(ROOT / "results" / "fail_fast_agreement.jsonl"))
    parser.add_argument("--memory", default="3g")
    parser.add_argument("--cpus", type=float, default=1.0)
    parser.add_argument("--summary-only", action="store_true", help="print what --out holds")
    return parser.parse_args(argv)


def candidates_by_task(args: argparse.Namespace, tasks) -> dict[str, list[tuple[str, str]]]:
    """instance id -> [(source, patch)], one per distinct normalized patch."""
    from harness.patches import patch_hash

    found: dict[str, list[tuple[str, str]]] = {task.instance_id: [] for task in tasks}
    if args.predictions:
        from harness.agents.replay import load_predictions

        predictions, _ = load_predictions([Path(path) for path in args.predictions])
        for instance_id, rows in predictions.items():
            if instance_id in found:
                found[instance_id] += [(row.model_name_or_path, row.model_patch) for row in rows]
    if args.from_db:
        from sqlalchemy import select

        from harness.store import AttemptRecord, EvaluationRecord, Store, TaskRecord

        store = Store(args.from_db)
        with store.reading() as session:
            query = select(TaskRecord.instance_id, AttemptRecord.run_id, AttemptRecord.index,
                           AttemptRecord.patch).join(TaskRecord,
                                                     AttemptRecord.task_id == TaskRecord.id)
            if args.run_id:
                query = query.where(AttemptRecord.run_id == args.run_id)
            if args.stage_one_only:
                query = query.join(
                    EvaluationRecord, AttemptRecord.evaluation_id == EvaluationRecord.id
                ).where(EvaluationRecord.decided_by_stage == 1)
            for instance_id, run_id, index, patch in session.execute(query):
                if instance_id in found:
                    found[instance_id].append((f"{run_id}#{index}", patch))
        store.close()
    for instance_id, rows in found.items():
        seen: set[str] = set()
        unique = []
        for source, patch in rows:
            digest = patch_hash(patch)
            if patch.strip() and digest not in seen:
                seen.add(digest)
                unique.append((source, patch))
        found[instance_id] = unique[: args.max_candidates] if args.max_candidates else unique
    return found


def evaluate_pair(task, patch, sandbox, setup, fast_first: bool) -> dict:
    from harness.evaluation.evaluator import evaluate
    from harness.evaluation.fail_fast import evaluate_fail_fast

    results = {}
    order = ("fast", "full") if fast_first else ("full", "fast")
    for mode in order:
        started = time.monotonic()
        run = evaluate_fail_fast if mode == "fast" else evaluate
        outcome = run(task, patch, sandbox, setup)
        results[mode] = {
            "status": outcome.status.value, "resolved": outcome.status.resolved,
            "seconds": round(time.monotonic() - started, 2),
            # The test commands' own time, as the evaluation script logs it (whole seconds).
            "test_seconds": sum(int(n) for n in re.findall(r"test-exit-code: \d+ after (\d+)s",
                                                          outcome.log)),
            "cpu_seconds": round(outcome.cpu_seconds or 0.0, 2),
            "stage": outcome.decided_by_stage,
        }
    return results


def run(args: argparse.Namespace, tasks, out: Path) -> None:
    from harness.backends.docker_backend import DockerOptions, docker_sandboxes
    from harness.patches import patch_hash
    from harness.sandboxes.base import SandboxError
    from harness.sandboxes.host_slots import host_limit

    done = {(row["instance_id"], row["patch_hash"]) for row in read_rows(out)}
    factory = docker_sandboxes(DockerOptions(
        memory=args.memory, cpus=args.cpus, cache_dir=Path(args.cache_dir),
        repos_dir=Path(args.repos_dir) if args.repos_dir else None,
        host_max_sandboxes=host_limit()))
    candidates = candidates_by_task(args, tasks)
    number = 0
    for task in tasks:
        todo = [(source, patch) for source, patch in candidates[task.instance_id]
                if (task.instance_id, patch_hash(patch)) not in done]
        if not todo:
            continue
        setup = factory.test_setup(task)
        image = factory.prepare_image(task)
        assert factory.host_slots is not None
        with factory.host_slots.hold(1):
            sandbox = factory.start(image)
            try:
                for source, patch in todo:
                    number += 1
                    try:
                        pair = evaluate_pair(task, patch, sandbox, setup,
                                             fast_first=number % 2 == 0)
                    except SandboxError as error:
                        print(f"{task.instance_id} {source}: skipped ({error})", file=sys.stderr)
                        try:
                            sandbox.close()
                        except SandboxError:
                            pass  # gone already
                        sandbox = factory.start(image)
                        continue
                    row = {"instance_id": task.instance_id, "source": source,
                           "patch_hash": patch_hash(patch), **pair}
                    with out.open("a") as handle:
                        handle.write(json.dumps(row) + "\n")
                    print(f"{time.strftime('%H:%M:%S')} {task.instance_id} {source}: full "
                          f"{pair['full']['status']} {pair['full']['seconds']:.0f} s, fast "
                          f"{pair['fast']['status']} (stage {pair['fast']['stage']}) "
                          f"{pair['fast']['seconds']:.0f} s", file=sys.stderr, flush=True)
            finally:
                sandbox.close()


def read_rows(out: Path) -> list[dict]:
    if not out.is_file():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def summarize(rows: list[dict], instances: list[str] | None) -> str:
    """The summary of `rows`, of the instances that ids or globs in `instances` name (None:
    all)."""
    rows = [row for row in rows if instances is None
            or any(fnmatch.fnmatchcase(row["instance_id"], pattern) for pattern in instances)]
    if not rows:
        return "no candidates evaluated"
    agree = [row for row in rows if row["full"]["resolved"] == row["fast"]["resolved"]]
    failing = [row for row in rows if not row["full"]["resolved"]]
    by_stage1 = [row for row in failing if row["fast"]["stage"] == 1]
    lines = [
        f"candidates: {len(rows)} on {len({row['instance_id'] for row in rows})} tasks; "
        f"resolved (full): {len(rows) - len(failing)}",
        f"verdicts identical (resolved/unresolved): {len(agree)} of {len(rows)}",
    ]
    for row in rows:
        if row not in agree:
            lines.append(f"  DISAGREE {row['instance_id']} {row['source']}: full "
                         f"{row['full']['status']}, fast {row['fast']['status']}")
    if failing:
        full = sum(row["full"]["seconds"] for row in failing)
        fast = sum(row["fast"]["seconds"] for row in failing)
        lines.append(f"failing candidates: {len(failing)}, decided by stage 1: {len(by_stage1)}")
        lines.append(f"  evaluation seconds, failing candidates: full {full:.0f}, fail fast "
                     f"{fast:.0f}: {full / fast if fast else float('inf'):.2f}x less")
        ratios = [row["full"]["seconds"] / row["fast"]["seconds"] for row in failing
                  if row["fast"]["seconds"] > 0]
        if ratios:
            lines.append(f"  per candidate full/fast: median {statistics.median(ratios):.2f}x")
        timed = [row for row in failing if "test_seconds" in row["full"]]
        if timed:
            full = sum(row["full"]["test_seconds"] for row in timed)
            fast = sum(row["fast"]["test_seconds"] for row in timed)
            lines.append(f"  test-command seconds, {len(timed)} failing candidates: full {full}, "
                         f"fail fast {fast}: {full / fast if fast else float('inf'):.2f}x less")
    passing = [row for row in rows if row["full"]["resolved"]]
    if passing:
        full = sum(row["full"]["seconds"] for row in passing)
        fast = sum(row["fast"]["seconds"] for row in passing)
        lines.append(f"  resolved candidates (fail fast costs stage 1 extra): full {full:.0f} s, "
                     f"fail fast {fast:.0f} s")
    total_full = sum(row["full"]["seconds"] for row in rows)
    total_fast = sum(row["fast"]["seconds"] for row in rows)
    lines.append(f"all candidates: full {total_full:.0f} s, fail fast {total_fast:.0f} s: "
                 f"{total_full / total_fast if total_fast else float('inf'):.2f}x less")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not args.summary_only:
        if not args.predictions and not args.from_db:
            print("give --predictions or --from-db", file=sys.stderr)
            return 2
        from harness.cli.swebench import load_dataset_from_args

        args.repo, args.limit, args.split = None, None, None
        tasks = load_dataset_from_args(args)
        run(args, tasks, out)
    print(summarize(read_rows(out), args.instances))
    return 0


if __name__ == "__main__":
    sys.exit(main())
