"""Verdict agreement with the official SWE-bench harness on real leaderboard predictions.

Replays every full prediction file of the dataset (Lite: `lite_preds/`, 7 systems and `gold`;
Verified: `verified_preds/*.jsonl` that are not `.resolved_only`, plus `gold` made from the
dataset's patches) on validated instances through the harness (replay agent, Docker sandboxes,
grading as officially), then compares each (instance, system) verdict with the official
resolved lists (`lite_resolved/`, `verified_resolved/`; gold counts as resolved everywhere).
With `--resolved-only`, the systems of which only resolved patches are public
(`lite_preds_resolved_only/`, `verified_preds/*.resolved_only.jsonl`) are replayed too: each of
their patches must come out resolved. Prints every disagreement with what our grading saw,
and the agreement figure last.

    python benchmarks/lite_agreement.py --repos-dir /work/mirrors [--dataset verified] \\
        [--repo OWNER/NAME ...] [--instances GLOB ...] [--limit N]

Without --repo and --instances the Lite default is sympy, pytest and flask (the mirrors of a
small machine); --instances alone is never narrowed by a default repository.

`--data` is the shared swebench folder; by default the first `shared/swebench` found above
this script or the current folder, so it works from any clone or worktree.

Instances are validated first when the store has no validation for them (gold and empty patch,
`--repeats` times; `--revalidate GLOB` redoes them after an environment fix); only valid ones
are replayed. Evaluations are stored and keyed by (task, patch), and the replay run's id depends
on the dataset and the systems only, so reruns over other repositories add to the same run and
a rerun only does what is missing. The report ends with a table per (repository, version):
instances, validated, valid, invalid (reasons listed below it) and agreement; the overall
agreement is printed last.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from dataclasses import dataclass
from pathlib import Path

# Run the package of this checkout, not whichever one is installed.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared_data import default_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESOLVED_ONLY = ".resolved_only"
# The mirrors a small machine has; the Lite default when neither --repo nor --instances is given.
LITE_DEFAULT_REPOS = ("sympy/sympy", "pytest-dev/pytest", "pallets/flask")




@dataclass(frozen=True)
class Layout:
    """Where one dataset's instances, predictions and official verdicts are in the data folder."""

    tasks: str
    resolved_dir: str
    full: tuple[str, ...]  # globs of files with every prediction of a system
    resolved_only: tuple[str, ...]  # globs of files with only a system's resolved patches


LAYOUTS = {
    "lite": Layout("swe_bench_lite.jsonl", "lite_resolved", ("lite_preds/*.jsonl",),
                   ("lite_preds_resolved_only/*.jsonl",)),
    "verified": Layout("swe_bench_verified.jsonl", "verified_resolved",
                       ("verified_preds/*.jsonl",), (f"verified_preds/*{RESOLVED_ONLY}.jsonl",)),
}


def system_name(path: Path) -> str:
    return path.stem.removesuffix(RESOLVED_ONLY)


def prediction_files(
    data: Path, layout: Layout, resolved_only: bool
) -> tuple[list[Path], set[str]]:
    """The prediction files to replay, and the systems among them that are resolved-only."""
    partial = sorted({path for pattern in layout.resolved_only for path in data.glob(pattern)})
    full = sorted({path for pattern in layout.full for path in data.glob(pattern)} - set(partial))
    chosen = full + (partial if resolved_only else [])
    return chosen, {system_name(path) for path in partial} if resolved_only else set()


def gold_file(tasks, folder: Path) -> Path:
    """A prediction file of the dataset's own patches, for datasets that ship none."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gold.jsonl"
    rows = [{"instance_id": task.instance_id, "model_name_or_path": "gold",
             "model_patch": task.patch} for task in tasks]
    text = "".join(json.dumps(row) + "\n" for row in rows)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", default=None,
        help="the shared swebench data folder (default: the first shared/swebench found above "
        "this script or the current folder)",
    )
    parser.add_argument("--dataset", choices=sorted(LAYOUTS), default="lite")
    parser.add_argument(
        "--resolved-only", action="store_true",
        help="also replay the systems of which only resolved patches are public",
    )
    parser.add_argument("--repos-dir", required=True, help="local git mirrors (owner/name)")
    parser.add_argument(
        "--repo", nargs="+", default=None,
        help="repositories (owner/name or globs) to keep; default: every repository when "
        f"--instances is given or the dataset is not Lite, else {' '.join(LITE_DEFAULT_REPOS)}",
    )
    parser.add_argument("--instances", nargs="+", help="ids or globs to keep")
    parser.add_argument(
        "--revalidate", nargs="+", default=[],
        help="ids or globs of instances to validate again even when the store has a "
        "validation (after an environment fix)",
    )
    parser.add_argument("--limit", type=int, help="at most this many valid instances")
    parser.add_argument(
        "--prefer-fast", action="store_true",
        help="with --limit, take the valid instances whose validation was quickest (per repo "
        "order kept otherwise): a time budget, not a choice by outcome",
    )
    parser.add_argument("--repeats", type=int, default=1, help="validation repeats (default 1)")
    parser.add_argument("--db", default=str(ROOT / "results" / "agreement.db"))
    parser.add_argument("--resume-from", metavar="SNAPSHOT",
                        help="when --db does not exist yet, restore it from this snapshot "
                        "(benchmarks/store_snapshot.py) first")
    parser.add_argument("--cache-dir", default=str(ROOT / "results" / "cache"))
    parser.add_argument("--max-sandboxes", type=int, default=2)
    parser.add_argument("--memory", default="3g")
    parser.add_argument("--cpus", type=float, default=1.0)
    parser.add_argument("--no-run", action="store_true", help="only compare what is stored")
    parser.add_argument(
        "--no-fail-fast", action="store_true",
        help="evaluate every candidate by the full official test run (fail fast's stage 1 "
        "runs the FAIL_TO_PASS tests alone, which an order-dependent test fails: "
        "astropy__astropy-13398's gold patch)",
    )
    return parser.parse_args(argv)


def official_resolved(
    data: Path, layout: Layout, systems: list[str], ids: list[str]
) -> dict[str, set[str]]:
    resolved: dict[str, set[str]] = {}
    for system in systems:
        if system == "gold":
            resolved[system] = set(ids)
            continue
        path = data / layout.resolved_dir / f"{system}.json"
        resolved[system] = set(json.loads(path.read_text())["resolved"])
    return resolved


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = Path(args.data) if args.data else default_data()
    layout = LAYOUTS[args.dataset]
    if not (data / layout.tasks).is_file():
        print(f"no SWE-bench {args.dataset} data at {data} (no {layout.tasks}); give --data",
              file=sys.stderr)
        return 2

    from harness.backends.docker_backend import DockerOptions, docker_sandboxes
    from harness.cli.swebench import _spec_and_setup
    from harness.datasets import TaskFilter, filter_tasks, load_dataset_tasks
    from harness.store import Store, StoreError
    from harness.tasks import TaskFormatError
    from harness.validation import save_validation, stored_validations, validate_task

    every_task = load_dataset_tasks(str(data / layout.tasks)).tasks
    repos = args.repo
    if repos is None:
        repos = list(LITE_DEFAULT_REPOS) if args.dataset == "lite" and not args.instances else []
    try:
        tasks = filter_tasks(every_task, TaskFilter(list(args.instances or []), list(repos)))
    except TaskFormatError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    pred_files, partial_systems = prediction_files(data, layout, args.resolved_only)
    if not any(system_name(path) == "gold" for path in pred_files):
        # Of the whole dataset, whatever is selected: the replay run's id stays the same.
        pred_files.append(gold_file(every_task, Path(args.cache_dir) / f"gold-{args.dataset}"))
    systems = [system_name(path) for path in pred_files]
    from store_snapshot import SnapshotError, resume_from

    try:
        resume_from(args.resume_from, args.db)
        store = Store(args.db)
    except (SnapshotError, StoreError) as error:
        print(error, file=sys.stderr)
        return 2
    factory = docker_sandboxes(DockerOptions(
        memory=args.memory, cpus=args.cpus, cache_dir=Path(args.cache_dir),
        repos_dir=Path(args.repos_dir) if args.repos_dir else None,
    ))

    # 1. Validation of whatever has none yet.
    if not args.no_run:
        known = stored_validations(store, tasks)
        for task in tasks:
            redo = any(fnmatch.fnmatchcase(task.instance_id, p) for p in args.revalidate)
            if task.instance_id in known and not redo:
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
    run_id = f"{args.dataset}-agreement-{agent.definition_hash[:8]}"
    if not args.no_run and chosen:
        plan = RunPlan(run_id=run_id, k=len(pred_files), seed=0,
                       max_sandboxes=args.max_sandboxes, vcpu_hour_dollars=0.04,
                       fail_fast=not args.no_fail_fast,
                       config={"benchmark": "lite_agreement", "dataset": args.dataset,
                               "systems": systems})
        Runner(store, agent, factory, plan, log=lambda m: print(m, file=sys.stderr)).run(chosen)

    # 3. Comparison, from the store alone.
    ids = [task.instance_id for task in chosen]
    official = official_resolved(data, layout, systems, ids)
    ours: dict[tuple[str, str], tuple[str, list[str]]] = {}
    if store.run(run_id) is None:
        print(version_table(tasks, validations, {}))
        print("nothing replayed yet")
        store.close()
        return 1
    for stored in store.run_attempts(run_id):
        attempt, evaluation = stored.attempt, stored.evaluation
        instance_id = attempt.task.row["instance_id"]
        source = str((attempt.details or {}).get("source", ""))
        system = system_name(Path(source.rsplit(":", 1)[0]))
        if evaluation is None:
            continue  # not evaluated (infrastructure): left out, and said below
        failing = [t.name for t in stored.tests if not t.passed and t.status != "SKIPPED"]
        ours[(instance_id, system)] = (evaluation.status.value, failing)
    agree = total = 0
    missing = 0
    disagreements = []
    pairs: dict[str, list[int]] = {}  # instance id -> [agreeing, compared]
    for instance_id in ids:
        for system in systems:
            has_prediction = any(
                p.instance_id == instance_id for p in _predictions(agent, instance_id, system)
            )
            if has_prediction and (instance_id, system) not in ours:
                missing += 1
                continue
            if system in partial_systems and not has_prediction:
                continue  # resolved-only: no patch here says nothing about this instance
            status, failing = ours.get((instance_id, system), ("no_prediction", []))
            mine = status == "resolved"
            theirs = instance_id in official[system]
            total += 1
            counts = pairs.setdefault(instance_id, [0, 0])
            counts[1] += 1
            if mine == theirs:
                agree += 1
                counts[0] += 1
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
    print()
    print(version_table(tasks, validations, pairs))
    share = agree / total if total else 0.0
    print(f"agreement: {agree}/{total} = {share:.1%} over {len(ids)} instances x "
          f"{len(systems)} systems")
    return 0


def version_table(tasks, validations, pairs: dict[str, list[int]]) -> str:
    """Per (repository, version): instances selected, validated, valid, invalid, and agreement
    over the (instance, system) pairs compared; the invalid ones with their reasons below."""
    groups: dict[tuple[str, str], list] = {}
    for task in tasks:
        groups.setdefault((task.repo, task.version), []).append(task)
    header = ("| repository | version | instances | validated | valid | invalid | agreement |\n"
              "| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    rows, notes = [header], []
    sums = [0, 0, 0, 0, 0, 0]
    for (repo, version), members in sorted(groups.items(), key=_version_key):
        done = [validations[t.instance_id] for t in members if t.instance_id in validations]
        valid = sum(record.valid for record in done)
        invalid = [t for t in members
                   if t.instance_id in validations and not validations[t.instance_id].valid]
        agreeing = sum(pairs.get(t.instance_id, [0, 0])[0] for t in members)
        compared = sum(pairs.get(t.instance_id, [0, 0])[1] for t in members)
        figure = f"{agreeing}/{compared}" if compared else "-"
        rows.append(f"| {repo} | {version} | {len(members)} | {len(done)} | {valid} | "
                    f"{len(invalid)} | {figure} |")
        for value, index in ((len(members), 0), (len(done), 1), (valid, 2), (len(invalid), 3),
                             (agreeing, 4), (compared, 5)):
            sums[index] += value
        notes += [f"  invalid {t.instance_id} ({repo} {version}): "
                  f"{validations[t.instance_id].reason[:300]}" for t in invalid]
    rows.append(f"| all | | {sums[0]} | {sums[1]} | {sums[2]} | {sums[3]} | "
                f"{sums[4]}/{sums[5]} |")
    return "\n".join(rows + notes)


def _version_key(item) -> tuple:
    (repo, version), _ = item
    parts = [int(part) if part.isdigit() else 0 for part in version.lstrip("v").split(".")]
    return repo, parts, version


def _predictions(agent, instance_id: str, system: str):
    return [
        p for p in agent.predictions.get(instance_id, [])
        if system_name(Path(p.source.rsplit(":", 1)[0])) == system
    ]


if __name__ == "__main__":
    sys.exit(main())
