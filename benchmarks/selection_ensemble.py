"""Model-free selection measured on real data nobody here wrote: the 7 Lite leaderboard systems
of `lite_preds/` (not gold) replayed as 7 attempts per task, on the validated Lite instances of
the mirrored repositories (every one outside sympy, plus the first `--sympy` valid sympy ones by
instance id), then each selector run on the stored run.

Prints, for each selector: solve rate (95% interval), share of the gap it recovers
(selector - mean single) / (oracle - mean single), and the test time its evidence rests on;
with the oracle over the 7, the mean single system, the best single system, vote and first
beside; then the table at every k, and the tasks where each selector chose a wrong patch
although a right one was among the candidates.

Verdicts come from the harness's own evaluations of the replay run (the scoring, here and in
`report`); selectors never see them. Everything is resumable: evaluations are keyed by
(task, patch), selection test runs by (task, subject, suite), selections by (run, selector,
task).

    python benchmarks/selection_ensemble.py --db /work/notes/select.db \\
        --repos-dir /work/mirrors --cache-dir /work/notes/cache --max-sandboxes 1
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared_data import default_data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MIRRORED = (
    "pytest-dev/pytest", "pallets/flask", "psf/requests", "sphinx-doc/sphinx", "astropy/astropy",
    "pylint-dev/pylint", "pydata/xarray", "mwaskom/seaborn", "sympy/sympy",
)
REPO_ORDER = (
    "pallets/flask", "psf/requests", "mwaskom/seaborn", "pydata/xarray", "pytest-dev/pytest",
    "pylint-dev/pylint", "sphinx-doc/sphinx", "astropy/astropy", "sympy/sympy",
)
DEFAULT_SELECTORS = (
    "consensus", "regression", "behavior", "regression+vote", "regression+consensus",
    "regression+behavior", "regression+consensus+behavior",
)




def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="the shared swebench folder")
    parser.add_argument("--db", default=str(ROOT / "results" / "selection.db"))
    parser.add_argument("--resume-from", metavar="SNAPSHOT",
                        help="when --db does not exist yet, restore it from this snapshot "
                        "(benchmarks/store_snapshot.py) first")
    parser.add_argument("--repos-dir", required=True)
    parser.add_argument("--cache-dir", default=str(ROOT / "results" / "cache"))
    parser.add_argument("--sympy", type=int, default=25, help="valid sympy instances to keep")
    parser.add_argument("--sympy-list", help="a file naming the sympy instances to draw from "
                        "(whitespace-separated ids; default every Lite sympy instance)")
    parser.add_argument("--repo", nargs="+", default=list(MIRRORED))
    parser.add_argument("--selector", nargs="+", default=list(DEFAULT_SELECTORS))
    parser.add_argument("--max-sandboxes", type=int, default=1)
    parser.add_argument("--max-test-files", type=int, default=2,
                        help="regression/behavior: repository test files per task (default 2: "
                        "a test run of a candidate takes a minute on this shared host)")
    parser.add_argument("--memory", default="3g")
    parser.add_argument("--cpus", type=float, default=1.0)
    parser.add_argument("--no-run", action="store_true",
                        help="print from the store only: no replay, no selection")
    parser.add_argument(
        "--official", action="store_true",
        help="no Docker: score the selectors that run no test (first, vote, consensus) on all "
        "Lite instances and on those of the mirrored repositories, by the official resolved "
        "lists (lite_resolved/); the harness's own verdicts are used otherwise",
    )
    parser.add_argument(
        "--mixed-only", action="store_true",
        help="run the selectors only on tasks whose candidates' verdicts differ (elsewhere every "
        "selector scores the same); test time is then that of those tasks",
    )
    parser.add_argument("--redo", action="store_true",
                        help="decide again on tasks already selected (after a change of a "
                        "selector's rule; stored test runs are reused, nothing reruns)")
    parser.add_argument("--examples", type=int, default=6,
                        help="wrong choices to show per selector")
    return parser.parse_args(argv)


def chosen_tasks(store, tasks, sympy: int, sympy_ids: set[str] | None = None):
    from harness.validation import stored_validations

    if sympy_ids is not None:
        tasks = [t for t in tasks if t.repo != "sympy/sympy" or t.instance_id in sympy_ids]
    validations = stored_validations(store, tasks)
    valid = [t for t in tasks if validations.get(t.instance_id) is not None
             and validations[t.instance_id].valid]
    others = [t for t in valid if t.repo != "sympy/sympy"]
    sympy_tasks = sorted((t for t in valid if t.repo == "sympy/sympy"),
                         key=lambda t: t.instance_id)[:sympy]
    return others + sympy_tasks, len(validations)


def mixed_tasks(store, run_id: str) -> set[str]:
    """Tasks of the run whose non-empty candidates do not all share one verdict (read by the
    benchmark from its evaluations, to know where measuring a selector matters)."""
    from harness.reports.rundata import load_run

    if store.run(run_id) is None:
        return set()
    found = set()
    for task in load_run(store, run_id).counted:
        verdicts = {bool(task.resolved[i]) for i in range(task.n) if task.cluster[i] > 0}
        if len(verdicts) > 1:
            found.add(task.instance_id)
    return found


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def system_of(details) -> str:
    source = str((details or {}).get("source", ""))
    return Path(source.rsplit(":", 1)[0]).stem if source else "?"


def official_table(data: Path, files: list[Path]) -> None:
    """The test-free selectors scored by the official verdicts, on all 300 Lite instances and
    on the 140 of the mirrored repositories (selectors still see only patches)."""
    import json

    from harness.patches import patch_hash
    from harness.selection.base import CandidateView, Pool, SelectionContext
    from harness.selection.registry import build_selector
    from harness.tasks import TaskView

    systems = [f.stem for f in files]
    resolved = {s: set(json.loads((data / "lite_resolved" / f"{s}.json").read_text())
                       ["resolved"]) for s in systems}
    patches: dict[str, dict[str, str]] = {}
    for system, path in zip(systems, files, strict=True):
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                patches.setdefault(row["instance_id"], {})[system] = row.get("model_patch") or ""
    rows = [json.loads(line) for line in (data / "swe_bench_lite.jsonl").read_text().splitlines()
            if line.strip()]
    for label, subset in (("mirrored repositories", [r for r in rows if r["repo"] in MIRRORED]),
                          ("all Lite", rows)):
        ids = [r["instance_id"] for r in subset]
        n = len(ids)
        single = sum(sum(i in resolved[s] for s in systems) / len(systems) for i in ids) / n
        oracle = sum(any(i in resolved[s] for s in systems) for i in ids) / n
        best_name, best = max(((s, sum(i in resolved[s] for i in ids) / n) for s in systems),
                              key=lambda item: item[1])
        print(f"\nofficial verdicts, {label} ({n} instances): oracle {100 * oracle:.1f}%, mean "
              f"single {100 * single:.1f}%, best single {100 * best:.1f}% ({best_name})")
        for name in ("first", "vote", "consensus"):
            chain = build_selector(name)
            solved = 0
            for instance_id in ids:
                made = [(s, patches.get(instance_id, {}).get(s, "")) for s in systems]
                grouped: dict[str, list[int]] = {}
                for position, (_, patch) in enumerate(made):
                    if patch.strip():
                        grouped.setdefault(patch_hash(patch), []).append(position)
                pool = Pool(tuple(CandidateView(h, made[p[0]][1], tuple(p))
                                  for h, p in grouped.items()))
                evidence = chain.gather(SelectionContext(TaskView(instance_id, "", "", ""), pool))
                pick = chain.pick(pool, [e.data for e in evidence])
                if pick is not None and instance_id in resolved[made[pick.attempts[0]][0]]:
                    solved += 1
            rate = solved / n
            share = (rate - single) / (oracle - single)
            print(f"  {name}: {100 * rate:.1f}% ({100 * share:+.0f}% of the gap)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = Path(args.data) if args.data else default_data()
    if args.official:
        official_table(data, sorted(p for p in (data / "lite_preds").glob("*.jsonl")
                                    if p.stem != "gold"))
        return 0
    from harness.agents.replay import ReplayAgent
    from harness.backends.docker_backend import DockerOptions, docker_sandboxes
    from harness.datasets import TaskFilter, filter_tasks, load_dataset_tasks
    from harness.reports.rundata import load_run
    from harness.reports.selection_table import render_selection_table, selection_table
    from harness.runner import Runner, RunPlan
    from harness.selection.registry import SelectorOptions, build_selector
    from harness.selection.run import select_run
    from harness.store import Store

    files = sorted(p for p in (data / "lite_preds").glob("*.jsonl") if p.stem != "gold")
    if len(files) != 7:
        print(f"expected the 7 systems of {data / 'lite_preds'}, found {len(files)}",
              file=sys.stderr)
        return 2
    tasks = load_dataset_tasks(str(data / "swe_bench_lite.jsonl")).tasks
    tasks = filter_tasks(tasks, TaskFilter([], list(args.repo)))
    from store_snapshot import SnapshotError, resume_from

    try:
        resume_from(args.resume_from, args.db)
    except SnapshotError as error:
        print(error, file=sys.stderr)
        return 2
    store = Store(args.db)
    sympy_ids = set(Path(args.sympy_list).read_text().split()) if args.sympy_list else None
    chosen, validated = chosen_tasks(store, tasks, args.sympy, sympy_ids)
    print(f"{len(chosen)} valid instances chosen ({validated} of {len(tasks)} validated in the "
          "store)", flush=True)
    if not chosen:
        return 1
    factory = docker_sandboxes(DockerOptions(
        memory=args.memory, cpus=args.cpus, cache_dir=Path(args.cache_dir),
        repos_dir=Path(args.repos_dir), host_max_sandboxes=args.max_sandboxes,
    ))
    agent = ReplayAgent(files)
    run_id = f"lite-ensemble7-{agent.definition_hash[:8]}"
    if not args.no_run:
        plan = RunPlan(run_id=run_id, k=len(files), seed=0, max_sandboxes=args.max_sandboxes,
                       vcpu_hour_dollars=0.04,
                       config={"benchmark": "selection_ensemble",
                               "systems": [f.stem for f in files]})
        Runner(store, agent, factory, plan, log=log).run(chosen)
        options = SelectorOptions(max_test_files=args.max_test_files)
        # A measurement shortcut, not a selection: on a task whose non-empty candidates all have
        # the same verdict, every selector scores that verdict (at every k), so with
        # --mixed-only the selectors run only where the choice matters.
        mixed = mixed_tasks(store, run_id)
        # Quick repositories first, so that a time-boxed run covers the most tasks.
        order = [t.instance_id for t in sorted(
            chosen, key=lambda t: (REPO_ORDER.index(t.repo) if t.repo in REPO_ORDER else 99,
                                   t.instance_id))
                 if not args.mixed_only or t.instance_id in mixed]
        print(f"selecting on {len(order)} tasks"
              + (f" (the {len(mixed)} whose candidates' verdicts differ)" if args.mixed_only
                 else ""), flush=True)
        # Task by task, every selector on a task before the next task: the stages share the
        # task's test runs, and a run stopped early has whole tasks.
        chains = [build_selector(name, options) for name in args.selector]
        started = time.monotonic()
        for number, instance_id in enumerate(order, start=1):
            for chain in chains:
                summary = select_run(store, run_id, chain, factory, log=log,
                                     instances=[instance_id], redo=args.redo)
                for line in summary.errors:
                    print(f"  error: {chain.name}: {line}", flush=True)
            print(f"[{time.monotonic() - started:.0f}s] selected {number}/{len(order)}: "
                  f"{instance_id}", flush=True)

    run = load_run(store, run_id)
    keep = {t.instance_id for t in chosen}
    # Scored on the tasks every selector has a stored, error-free choice for (a time-boxed run
    # may not have reached them all), plus with --mixed-only the tasks whose candidates all
    # share one verdict (any selector scores it): the oracle, vote and systems on the same tasks.
    mixed = mixed_tasks(store, run_id)
    for name in args.selector:
        done = {r.instance_id for r in store.selections(run_id, name) if not r.error}
        keep = {i for i in keep if i in done or (args.mixed_only and i not in mixed)}
    print(f"scored on {len(keep)} of {len(chosen)} chosen tasks ({len(keep & mixed)} whose "
          "candidates' verdicts differ)")
    run.tasks = [t for t in run.tasks if t.instance_id in keep]
    table = selection_table(store, run, selectors=list(args.selector))
    print_summary(store, run, table, files)
    print()
    print(render_selection_table(table, markdown=True))
    print_wrong_choices(store, run, list(args.selector), args.examples)
    store.close()
    return 0


def per_system(store, run) -> dict[str, float]:
    """Each system's solve rate on the run's counted tasks, from our own evaluations."""
    records = {a.attempt.id: a for a in store.run_attempts(run.name)}
    solved: dict[str, int] = {}
    for task in run.counted:
        for position, attempt_id in enumerate(task.attempt_ids):
            system = system_of(records[attempt_id].attempt.details)
            solved[system] = solved.get(system, 0) + int(task.resolved[position])
    count = len(run.counted)
    return {system: value / count for system, value in sorted(solved.items())}


def at_full_n(store, run, names: list[str]) -> dict[str, tuple[float, float, float, float]]:
    """Each selector's (solve rate, low, high, test seconds) choosing from all of a task's
    attempts (k = n, whatever n each task has): the stored picks; vote and first by their
    deterministic picks."""
    import numpy as np

    from harness.reports.metrics import bootstrap_means, percentile_interval
    from harness.reports.selection import pick
    from harness.reports.selection_table import selector_matrix
    from harness.selection.registry import build_selector

    tasks = run.counted
    hashes = store.attempt_hashes(run.name)
    records = store.selections(run.name)
    rows: dict[str, np.ndarray] = {}
    seconds: dict[str, float] = {}
    for method in ("vote", "first"):
        values = []
        for task in tasks:
            position = pick(task, method)
            values.append(float(position is not None and task.resolved[position]))
        rows[method] = np.array(values)
        seconds[method] = 0.0
    for name in names:
        stored = {r.instance_id: r for r in records if r.selector == name}
        matrix = selector_matrix(build_selector(name), tasks, [10**9], stored, hashes, {})
        rows[name] = matrix[:, 0]
        seconds[name] = sum(r.test_seconds for r in stored.values())
    out = {}
    for name, values in rows.items():
        low, high = percentile_interval(bootstrap_means(values, samples=1000, seed=0))
        out[name] = (float(values.mean()), float(np.ravel(low)[0]), float(np.ravel(high)[0]),
                     seconds[name])
    return out


def print_summary(store, run, table, files) -> None:
    rates = per_system(store, run)
    best_system, best = max(rates.items(), key=lambda item: item[1])
    tasks = run.counted
    n = len(tasks)
    oracle = sum(t.c > 0 for t in tasks) / n
    single = table.mean_single
    names = [line.name for line in table.lines if line.name not in ("vote", "first")]
    measured = at_full_n(store, run, names)

    def share(value: float) -> str:
        gap = oracle - single
        return "-" if gap <= 0 or math.isnan(value) else f"{100 * (value - single) / gap:+.0f}%"

    sizes = sorted({t.n for t in tasks})
    print(f"\n{n} tasks, each selector choosing among all of a task's attempts ({sizes} "
          "attempts: a system without a prediction for a task makes none)")
    print("| selection | solve rate | 95% interval | share of the gap | test seconds |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| oracle over the 7 (hidden tests) | {100 * oracle:.1f}% | | 100% | |")
    print(f"| mean single system | {100 * single:.1f}% | | 0% | |")
    print(f"| best single system ({best_system}) | {100 * best:.1f}% | | {share(best)} | |")
    for name, (value, low, high, seconds) in measured.items():
        print(f"| {name} | {100 * value:.1f}% | [{100 * low:.1f}, {100 * high:.1f}] | "
              f"{share(value)} | {seconds:.0f} |")
    print("\nper system (our evaluations): " + ", ".join(
        f"{system} {100 * rate:.1f}%" for system, rate in rates.items()))


def print_wrong_choices(store, run, selectors: list[str], examples: int) -> None:
    """Tasks a right patch was among the candidates but the selector picked a wrong one."""
    hashes = store.attempt_hashes(run.name)
    records = {a.attempt.id: a for a in store.run_attempts(run.name)}
    for name in selectors:
        stored = {r.instance_id: r for r in store.selections(run.name, name)}
        wrong = []
        for task in run.counted:
            if task.c == 0 or task.instance_id not in stored:
                continue
            record = stored[task.instance_id]
            verdict = {hashes[a]: bool(task.resolved[i]) for i, a in enumerate(task.attempt_ids)}
            if record.patch_hash is not None and verdict.get(record.patch_hash):
                continue
            picked = [system_of(records[a].attempt.details) for a in task.attempt_ids
                      if hashes[a] == record.patch_hash]
            right = [system_of(records[a].attempt.details)
                     for i, a in enumerate(task.attempt_ids) if task.resolved[i]]
            stages = (record.evidence or {}).get("stages", [])
            broken, behavior = {}, {}
            for stage in stages:
                if stage.get("name") == "regression":
                    broken = stage.get("data", {}).get("broken", {})
                if stage.get("name") == "behavior":
                    behavior = stage.get("data", {})
            right_hashes = {h for h, ok in verdict.items() if ok}
            why = ""
            if broken:
                right_broken = min((len(broken.get(h, [])) for h in right_hashes), default=0)
                picked_broken = len(broken.get(record.patch_hash or "", []))
                why = (f"regression: right patches break >= {right_broken} base-passing tests, "
                       f"the pick {picked_broken}")
            if behavior:
                why += "; " + _behavior_why(behavior, record.patch_hash, right_hashes)
            wrong.append(f"  {task.instance_id}: picked {'/'.join(picked) or 'nothing'}; right: "
                         f"{'/'.join(right)} {why}".rstrip())
        print(f"\n{name}: wrong pick on {len(wrong)} of {sum(1 for t in run.counted if t.c)} "
              "tasks some candidate solves" + (":" if wrong else ""))
        for line in wrong[:examples]:
            print(line)


def _behavior_why(data: dict, picked: str | None, right: set[str]) -> str:
    """What behavior's scripts said of the pick and of the right patches: each script's entry
    (B unchanged, W worse, D changed, X no apply) and the issue's quoted outputs shown."""
    scripts = [s for s in data.get("suites", []) if s.get("kind") == "script"]
    vectors = data.get("vectors", {})
    expected = data.get("expected", {})

    def describe(digest: str | None) -> str:
        entries = "".join((vectors.get(digest or "", {}).get(s["suite"], "-") or "-")[0]
                          for s in scripts)
        return f"{entries or '-'}/{len(expected.get(digest or '', []))}"

    rights = ",".join(sorted(describe(h) for h in right))
    return (f"behavior ({len(scripts)} scripts; entries/quoted outputs shown): "
            f"pick {describe(picked)}, right {rights}")


if __name__ == "__main__":
    sys.exit(main())
