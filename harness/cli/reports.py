"""The `report`, `compare` and `export` subcommands; cli.py calls `register`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.errors import UserError
from harness.store import DEFAULT_DB, Store

if TYPE_CHECKING:
    from harness.reports.selection_table import SelectionTable

FORMATS = ("table", "markdown", "json", "html")


def _open_store(db: str) -> Store:
    if "://" not in db and not Path(db).exists():
        raise UserError(f"no results store at {db}; run `python -m harness run` first or "
                          "pass --db")
    return Store(db)


def _universe_from_tasks_file(path: str | None) -> list[str] | None:
    if path is None:
        return None
    from harness.tasks import load_task_file

    try:
        loaded = load_task_file(path)
    except (FileNotFoundError, ValueError) as error:
        raise UserError(f"--tasks {path}: {error}") from None
    return [task.instance_id for task in loaded.tasks]


def load_runs(names: list[str], db: str, tasks_file: str | None = None) -> list:
    """RunData for each argument: a run id of the store, or an external result file.

    A file that lists resolved ids only is measured on the --tasks file's tasks, else on the
    tasks of the first stored run named."""
    from harness.reports.external import ExternalResultError, external_run, looks_external
    from harness.reports.rundata import UnknownRunError, load_run

    stored: dict[str, object] = {}
    if any(not looks_external(name) for name in names):
        store = _open_store(db)
        try:
            for name in names:
                if not looks_external(name):
                    try:
                        stored[name] = load_run(store, name)
                        _note_suspicion(store, stored[name])
                        _note_reruns(store, stored[name])
                    except UnknownRunError as error:
                        raise UserError(
                            f"{error}; an external result is named by an existing path or "
                            "file:PATH"
                        ) from None
        finally:
            store.close()
    universe = _universe_from_tasks_file(tasks_file)
    if universe is None and stored:
        first = stored[next(n for n in names if n in stored)]
        universe = [t.instance_id for t in first.counted]
    runs = []
    for name in names:
        if name in stored:
            runs.append(stored[name])
            continue
        try:
            runs.append(external_run(name, universe))
        except ExternalResultError as error:
            raise UserError(str(error)) from None
    return runs


def _note_suspicion(store: Store, run) -> None:
    from harness.reports.suspicion import summarize

    resolved = {task.instance_id: task.c for task in run.tasks}
    run.notes.extend(summarize(store, run.name, resolved).lines(sum(resolved.values())))


def _note_reruns(store: Store, run) -> None:
    """How many of the run's verdicts are the majority of reruns (`run --reruns`)."""
    counts = sorted(store.rerun_counts(run.name).values())
    if not counts:
        return
    spread = f"{counts[0]}" if counts[0] == counts[-1] else f"{counts[0]} to {counts[-1]}"
    run.notes.append(
        f"{len(counts)} evaluation(s) on flaky tasks were rerun: each verdict is the majority "
        f"of its {spread} runs ({sum(counts)} runs in all, table evaluation_reruns)"
    )


def command_report(args: argparse.Namespace) -> int:
    from harness.reports.analysis import analyze

    targets = tuple(t / 100 for t in args.target) if args.target else None
    for target in targets or ():
        if not 0 < target < 1:
            raise UserError("--target is a solve rate in percent, between 0 and 100")
    runs = load_runs(args.runs, args.db, args.tasks)
    _mark_flaky(runs, args.db, exclude=args.exclude_flaky)
    options = {"bootstrap_samples": args.bootstrap, "seed": args.seed}
    if targets:
        options["targets"] = targets
    analyses = [analyze(run, **options) for run in runs]
    out = Path(args.out)
    figures = {}
    if not args.no_plots:
        from harness.reports import plots

        for stem, figure in plots.all_figures(analyses).items():
            paths = plots.save(figure, out, stem)
            print(f"wrote {', '.join(str(p) for p in paths)}", file=sys.stderr)
            if args.format == "html":
                figures[stem] = plots.inline_svg(paths[-1].read_text())
    elif args.format == "html":
        from harness.reports import plots

        figures = {s: plots.svg_text(f) for s, f in plots.all_figures(analyses).items()}
    selections = _selection_tables(runs, args)
    if args.format == "html":
        from harness.reports.html import render_html

        out.mkdir(parents=True, exist_ok=True)
        path = out / "report.html"
        path.write_text(render_html(analyses, figures, selections))
        print(path)
        return 0
    from harness.reports.render import render_analyses, render_analyses_json
    from harness.reports.selection_table import render_selection_table, selection_table_json

    if args.format == "json":
        print(render_analyses_json(analyses, [selection_table_json(t) for t in selections]))
    else:
        print(render_analyses(analyses, markdown=args.format == "markdown"))
        for table in selections:
            print()
            print(render_selection_table(table, markdown=args.format == "markdown"))
        for line in _view_lines(args.view_url, [r.name for r in runs if not r.external],
                                markdown=args.format == "markdown"):
            print(line)
    return 0


def _selection_tables(runs: list, args: argparse.Namespace) -> list[SelectionTable]:
    """The selection table of each stored run that has selections (`python -m harness
    select`): each selector beside the oracle at every k, with its cost."""
    from harness.reports.selection_table import selection_table

    stored = [run for run in runs if not run.external]
    if not stored or ("://" not in args.db and not Path(args.db).exists()):
        return []
    store = _open_store(args.db)
    try:
        tables = []
        for run in stored:
            if not store.selections(run.name):
                continue
            tables.append(selection_table(store, run, seed=args.seed, bootstrap=args.bootstrap))
        return tables
    finally:
        store.close()


def _view_lines(view_url: str | None, run_ids: list[str], markdown: bool,
                compared: tuple[str, str] | None = None) -> list[str]:
    """Deep links into `harness view` served at `view_url` (none without it)."""
    if not view_url:
        return []
    from harness.viewer import links

    pages = [(f"run {run_id}", links.run_path(run_id)) for run_id in run_ids]
    if compared:
        pages.insert(0, ("comparison", links.compare_path(*compared)))
    urls = [(name, links.absolute(view_url, path)) for name, path in pages]
    if markdown:
        return ["", *(f"- [{name} in harness view]({url})" for name, url in urls)]
    return [f"view {name}: {url}" for name, url in urls]


def _mark_flaky(runs: list, db: str, exclude: bool) -> None:
    """Notes each run's flaky tasks (validation saw a test change status between identical
    runs) and, with `exclude`, leaves them out, as the paper's 266-problem subset of Lite."""
    if "://" not in db and not Path(db).exists():
        if exclude:
            raise UserError(f"--exclude-flaky needs the store with the validations ({db})")
        return
    store = Store(db)
    try:
        flaky = store.flaky_instances()
    finally:
        store.close()
    for run in runs:
        names = sorted(t.instance_id for t in run.tasks if t.instance_id in flaky)
        if not names:
            continue
        if exclude:
            run.tasks = [t for t in run.tasks if t.instance_id not in flaky]
            run.notes.append(f"{len(names)} flaky task(s) left out (--exclude-flaky): "
                             + ", ".join(names))
        else:
            run.notes.append(f"{len(names)} flaky task(s) (validation), counted: "
                             + ", ".join(names))


def command_compare(args: argparse.Namespace) -> int:
    from harness.reports.compare import (
        REGRESSED,
        ComparisonError,
        compare_runs,
        junit_xml,
        render_markdown,
        render_text,
    )

    baseline, candidate = load_runs([args.baseline, args.candidate], args.db, args.tasks)
    # A file of resolved ids only takes the task set of the stored run beside it.
    try:
        comparison = compare_runs(
            baseline, candidate, k=args.k, alpha=args.alpha, min_effect=args.min_effect / 100,
            align_tasks=args.align, test=args.test, seed=args.seed,
        )
    except ComparisonError as error:
        raise UserError(str(error)) from None
    if args.json:
        import json

        print(json.dumps(comparison.to_json(), indent=2))
    elif args.markdown:
        print(render_markdown(comparison))
    else:
        print(render_text(comparison))
    pair = (args.baseline, args.candidate)
    view = "\n".join(_view_lines(args.view_url, [], args.markdown, pair))
    if view and not args.json:
        print(view)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if args.markdown and summary:
        with open(summary, "a") as handle:
            handle.write(render_markdown(comparison) + (view + "\n" if view else ""))
    if args.junit:
        Path(args.junit).parent.mkdir(parents=True, exist_ok=True)
        Path(args.junit).write_text(junit_xml(comparison))
    return 1 if comparison.verdict == REGRESSED else 0


def command_export(args: argparse.Namespace) -> int:
    from harness.reports.export import SuspiciousSelectionError, export_run
    from harness.reports.external import looks_external
    from harness.reports.rundata import UnknownRunError, load_run
    from harness.reports.selection import OracleSelectionError, check_selector

    try:
        check_selector(args.select)
    except OracleSelectionError as error:
        raise UserError(str(error)) from None
    except ValueError:
        pass  # a selector of harness/selection: export_run reads its stored choices
    if looks_external(args.run):
        raise UserError(f"{args.run} is a result file: only runs of the store have patches")
    store = _open_store(args.db)
    try:
        try:
            run = load_run(store, args.run)
        except UnknownRunError as error:
            raise UserError(str(error)) from None
        out = Path(args.out) if args.out else Path("results") / "export" / args.run
        if out.exists() and any(out.iterdir()) and not args.force:
            raise UserError(f"{out} is not empty; choose another --out or pass --force")
        try:
            result = export_run(
                store, run, args.select, out, name=args.name, site=args.site, oss=args.oss,
                model_name=args.model_name, allow_suspicious=args.allow_suspicious,
            )
        except (SuspiciousSelectionError, ValueError) as error:
            raise UserError(str(error)) from None
    finally:
        store.close()
    print(
        f"wrote {result.out}: {result.predictions} predictions (one per instance), "
        f"{len(result.resolved)} resolved by the harness's evaluation, "
        f"{len(result.no_generation)} without a patch"
    )
    if result.stage_one:
        print(f"{len(result.stage_one)} unresolved instance(s) were decided by fail fast's "
              "stage 1: their logs hold the FAIL_TO_PASS run alone (the package's README lists "
              "them)")
    print(f"submit with: sb-cli submit swe-bench_lite test --predictions_path {out}/preds.json")
    print("submission checklist items this tool cannot check (see README.md in the package):")
    for item in result.checklist:
        print(f"  - {item}")
    for instance_id, why in sorted(result.suspicious.items()):
        print(f"warning: exported a suspicious patch for {instance_id}: {why[:200]}",
              file=sys.stderr)
    if run.attempts_pending or run.infra_errors:
        print(
            f"warning: {run.attempts_pending} attempts await evaluation and {run.infra_errors} "
            "had infrastructure errors; they were not candidates. Rerun the run to finish them.",
            file=sys.stderr,
        )
    return 0


def _add_db(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--db", default=str(DEFAULT_DB),
        help=f"SQLite file or any SQLAlchemy URL (default {DEFAULT_DB})",
    )


def _add_view_url(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--view-url", metavar="URL",
                     help="also print links to these runs in `harness view` served at URL "
                     "(e.g. http://127.0.0.1:8765)")


def _add_tasks(sub: argparse.ArgumentParser) -> None:
    sub.add_argument(
        "--tasks", help="SWE-bench JSON/JSONL naming the task set of result files that list "
        "resolved ids only (default: the tasks of the stored run beside them)",
    )


def register(commands: argparse._SubParsersAction) -> None:
    """Adds the report, compare and export subcommands."""

    report = commands.add_parser(
        "report", help="solve rate, selection and dollars at each k of stored runs",
        description="Solve rate at k with bootstrap intervals, majority vote and first "
        "non-empty selection beside it, dollars at k, per repository, the scaling fit, plots. "
        "A RUN is a run id of the store, or an external result file (file:PATH or a path).",
    )
    report.add_argument("runs", nargs="+", metavar="RUN")
    report.add_argument("--format", choices=FORMATS, default="table")
    report.add_argument("--json", dest="format", action="store_const", const="json",
                        help="same as --format json")
    report.add_argument("--out", default="results",
                        help="where plots (PNG, SVG) and report.html go (default results/)")
    report.add_argument("--no-plots", action="store_true", help="write no plot files")
    report.add_argument("--target", type=float, action="append", metavar="PERCENT",
                        help="solve rate to forecast attempts and dollars for (repeatable; "
                        "default 50, 75, 90)")
    report.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples")
    report.add_argument("--seed", type=int, default=0, help="seed of bootstrap and vote")
    report.add_argument("--exclude-flaky", action="store_true",
                        help="leave out tasks whose validation found flaky tests")
    _add_view_url(report)
    _add_tasks(report)
    _add_db(report)
    report.set_defaults(handler=command_report)

    compare = commands.add_parser(
        "compare", help="paired comparison of two runs: the CI gate for agent prompts",
        description="Exit code 0 when the candidate did not regress, 1 when it did.",
    )
    compare.add_argument("baseline", metavar="BASELINE")
    compare.add_argument("candidate", metavar="CANDIDATE")
    compare.add_argument("--k", type=int, help="compare solve rate at this k (at most the "
                         "smaller number of attempts per task)")
    compare.add_argument("--alpha", type=float, default=0.05,
                         help="significance level (default 0.05)")
    compare.add_argument("--min-effect", type=float, default=0.0, metavar="POINTS",
                         help="smallest change in percentage points that counts (default 0)")
    compare.add_argument("--align", choices=("intersect",),
                         help="compare on the tasks both runs have")
    compare.add_argument("--test", choices=("permutation", "bootstrap", "mcnemar"),
                         default="permutation",
                         help="which test decides the verdict (default permutation: attempts "
                              "re-dealt within each task)")
    compare.add_argument("--markdown", action="store_true",
                         help="print markdown; appended to $GITHUB_STEP_SUMMARY when set")
    compare.add_argument("--json", action="store_true")
    compare.add_argument("--junit", metavar="FILE", help="write JUnit XML, one case per task")
    compare.add_argument("--seed", type=int, default=0)
    _add_view_url(compare)
    _add_tasks(compare)
    _add_db(compare)
    compare.set_defaults(handler=command_compare)

    export = commands.add_parser(
        "export", help="leaderboard package: one patch per instance, chosen without tests",
    )
    export.add_argument("run", metavar="RUN")
    export.add_argument("--select", default="vote",
                        help="vote (majority over normalized patches, default), first "
                        "(first non-empty attempt), or a selector stored by `select` (e.g. "
                        "regression+behavior: its evidence goes beside each patch); oracle "
                        "choices are refused")
    export.add_argument("--out", help="package directory (default results/export/RUN)")
    export.add_argument("--force", action="store_true", help="write into a non-empty --out")
    export.add_argument("--name", help="system name for metadata.yaml (default: the run id)")
    export.add_argument("--site", default="", help="project URL for metadata.yaml")
    export.add_argument("--oss", action="store_true", help="the system is open source")
    export.add_argument("--model-name", help="model_name_or_path of every prediction")
    export.add_argument("--allow-suspicious", action="store_true",
                        help="export chosen patches even when their evaluation is flagged as "
                        "tampering with the tests (refused by default)")
    _add_db(export)
    export.set_defaults(handler=command_export)
