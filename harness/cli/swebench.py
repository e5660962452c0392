"""Command line for real SWE-bench datasets: the `validate` command, and the dataset options
(`--dataset --split --instances --repo --limit --repos-dir --include-unvalidated`) that `run`
shares through `add_dataset_arguments` and `load_tasks_from_args`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.cli.errors import UserError, eprint
from harness.store import DEFAULT_DB, Store
from harness.tasks import Task, TaskFormatError
from harness.validation import DEFAULT_REPEATS, Selection

DEMO = "demo"


def add_dataset_arguments(parser: argparse.ArgumentParser, default: str = DEMO) -> None:
    parser.add_argument(
        "--dataset", default=default,
        help="'demo' (the bundled suite), a JSON/JSONL file in SWE-bench's schema, or an "
        "official dataset name (princeton-nlp/SWE-bench_Lite, princeton-nlp/SWE-bench_Verified, "
        "princeton-nlp/SWE-bench; needs the `datasets` package and network)",
    )
    parser.add_argument("--split", help="split of a Hugging Face dataset (default: test)")
    parser.add_argument("--instances", nargs="+", help="instance ids or glob patterns to keep")
    parser.add_argument(
        "--repo", nargs="+", help="keep only these repositories (owner/name, globs allowed)"
    )
    parser.add_argument("--limit", type=int, help="keep at most this many tasks (dataset order)")
    parser.add_argument(
        "--repos-dir", help="local mirrors: one git repository per owner/name (bare or not)"
    )
    parser.add_argument(
        "--include-unvalidated", action="store_true",
        help="also keep tasks whose validation failed (left out by default)",
    )


def load_dataset_from_args(args: argparse.Namespace) -> list[Task]:
    """The tasks the dataset options select, before any validation filter."""
    from harness.datasets import DatasetError, TaskFilter, filter_tasks, load_dataset_tasks

    if args.dataset == DEMO:
        from harness.demo import load_demo_tasks

        tasks = load_demo_tasks()
    else:
        try:
            loaded = load_dataset_tasks(args.dataset, getattr(args, "split", None))
        except (DatasetError, FileNotFoundError) as error:
            raise UserError(str(error)) from None
        for problem in loaded.problems:
            eprint(f"warning: {problem}")
        tasks = loaded.tasks
    chosen = TaskFilter(
        instances=list(args.instances or []),
        repos=list(getattr(args, "repo", None) or []),
        limit=getattr(args, "limit", None),
    )
    try:
        tasks = filter_tasks(tasks, chosen)
    except TaskFormatError as error:
        raise UserError(str(error)) from None
    if not tasks:
        raise UserError(f"no usable task in {args.dataset}")
    return tasks


def load_tasks_from_args(args: argparse.Namespace, store: Store | None = None) -> Selection:
    """Tasks for `run`: the dataset options applied, then tasks that failed validation left out
    (unless --include-unvalidated). Prints how many were left out and why, on stderr.

    `store` is the run's store (opened from args.db when not given). Raises cli.UserError.
    """
    from harness.validation import select_validated

    tasks = load_dataset_from_args(args)
    own = store is None
    store = store or Store(getattr(args, "db", None))
    try:
        selection = select_validated(store, tasks, getattr(args, "include_unvalidated", False))
    finally:
        if own:
            store.close()
    if selection.left_out:
        eprint(selection.summary())
        for instance_id, reason in selection.left_out.items():
            eprint(f"  {instance_id}: {reason}")
    if not selection.tasks:
        raise UserError(
            "every selected task failed validation; see `python -m harness validate`, or pass "
            "--include-unvalidated"
        )
    return selection


# --- validate ------------------------------------------------------------------------------


def register(commands: argparse._SubParsersAction) -> None:
    validate = commands.add_parser(
        "validate",
        help="evaluate gold and empty patches of each task: environment OK, gold resolves, "
        "empty does not, flaky tests",
    )
    add_dataset_arguments(validate, default=DEMO)
    validate.add_argument(
        "--repeats", type=int, default=DEFAULT_REPEATS,
        help=f"evaluations of each of gold and empty, to find flaky tests (default "
        f"{DEFAULT_REPEATS})",
    )
    validate.add_argument(
        "--flaky-repeats", type=int, default=0, metavar="N",
        help="a task whose --repeats show flaky tests gets N repeats in all (e.g. 11, as the "
        "paper reran; gold on a flaky task is valid when it resolves in a majority beyond "
        "chance, which takes 8 or more runs; default: no more)",
    )
    validate.add_argument(
        "--force", action="store_true", help="validate again tasks already validated"
    )
    validate.add_argument(
        "--cache-dir", default=str(Path("results") / "cache"),
        help="where cloned repositories and wheelhouses are kept (default results/cache)",
    )
    validate.add_argument("--memory", default="3g", help="memory limit per sandbox (default 3g)")
    validate.add_argument("--cpus", type=float, default=1.0, help="CPUs per sandbox (default 1)")
    validate.add_argument("--json", action="store_true", help="print the table as JSON")
    from harness.cli import images as cli_images

    cli_images.add_image_arguments(validate)
    from harness.cli import add_sandbox_budget_arguments

    add_sandbox_budget_arguments(validate)
    validate.add_argument(
        "--db", default=str(DEFAULT_DB),
        help=f"SQLite file or any SQLAlchemy URL (default {DEFAULT_DB})",
    )
    validate.set_defaults(handler=command_validate)


def command_validate(args: argparse.Namespace) -> int:
    import signal

    from harness.validation import ValidationPool, ValidationSandboxes, stored_validations

    if args.repeats < 1:
        raise UserError("--repeats must be at least 1")
    if args.flaky_repeats < 0:
        raise UserError("--flaky-repeats must be 0 or more")
    if args.max_sandboxes < 1:
        raise UserError("--max-sandboxes must be at least 1")
    args.include_unvalidated = True
    tasks = load_dataset_from_args(args)
    store = Store(args.db)
    try:
        # A validation made with fewer repeats is extended: its stored evaluations count.
        done = {} if args.force else {
            instance_id: record for instance_id, record in stored_validations(store, tasks).items()
            if record.repeats >= args.repeats
            and not (record.flaky_tests and record.repeats < args.flaky_repeats)
        }
        todo = [task for task in tasks if task.instance_id not in done]
        if done:
            eprint(f"{len(done)} task(s) already validated with {args.repeats} or more repeats "
                   "(--force redoes them)")
        from harness.cli import docker_options
        from harness.sandboxes.factory import HostRequirementError, docker_sandboxes

        options = docker_options(args, log=lambda line: None)
        sandboxes = docker_sandboxes(options)
        if todo:
            try:
                sandboxes.preflight(todo)
            except HostRequirementError as error:
                raise UserError(str(error)) from None
        pulled = sandboxes if options.images.mode != "build" else None
        pool = ValidationPool(
            store,
            ValidationSandboxes(
                sandboxes.prepare_image, sandboxes.start,
                lambda task: _spec_and_setup(task, pulled), sandboxes.host_slots,
            ),
            repeats=args.repeats, max_sandboxes=args.max_sandboxes,
            flaky_repeats=args.flaky_repeats,
        )
        if args.force:
            pool.forget(todo)
        outcome = None
        if todo:
            eprint(f"validating {len(todo)} task(s), {args.repeats} repeat(s) of gold and "
                   f"empty each, {min(args.max_sandboxes, len(todo))} at a time")
            # A stop request only sets a flag; the pool removes its sandboxes and returns.
            handlers = {
                number: signal.signal(number, lambda *_: pool.request_stop())
                for number in (signal.SIGINT, signal.SIGTERM)
            }
            try:
                outcome = pool.run(todo)
            finally:
                for number, handler in handlers.items():
                    signal.signal(number, handler)
        records = stored_validations(store, tasks)
    finally:
        store.close()
    rows = [records[task.instance_id] for task in tasks if task.instance_id in records]
    print(render_json(rows) if args.json else render_table(rows))
    if outcome is not None and outcome.stopped:
        eprint("stopped: rerun the same command to resume (finished evaluations are kept)")
        return 130
    if outcome is not None and outcome.left_for_later:
        eprint(f"{len(outcome.left_for_later)} task(s) not finished (infrastructure "
                "errors): rerun to retry them")
        return 1
    return 0


def _spec_and_setup(task: Task, sandboxes=None):
    """(spec name, test setup) of the task; on a prebuilt image of the official layout, the
    official setup. `sandboxes` (a SandboxFactory) is asked first when images may be pulled."""
    from harness.evaluation.evaluator import TestSetup
    from harness.sandboxes.specs import SpecError, spec_for

    if sandboxes is not None and sandboxes.describe_image is not None:
        try:
            # The image decides the setup (official layout or ours): resolve it first.
            image = sandboxes.prepare_image(task)
            if sandboxes.describe_image(image).source == "prebuilt":
                return "prebuilt", sandboxes.test_setup(task)
        except Exception:  # recorded as an environment failure by validate_task
            return "-", TestSetup("true", "pytest", 60.0)
    try:
        spec = spec_for(task.repo, task.version)
    except SpecError:
        # Recorded as an environment failure by validate_task, through prepare_image.
        return "-", TestSetup("true", "pytest", 60.0)
    return spec.name, spec.test_setup()


def render_table(rows) -> str:
    """A table of validations, then one line per repository: valid / validated."""
    lines = [
        f"{'instance':<34} {'env':<4} {'gold':<5} {'empty':<6} {'flaky':>5}  {'valid':<5}  reason",
    ]
    per_repo: dict[str, list[int]] = {}
    for row in rows:
        lines.append(
            f"{row.instance_id:<34} {_mark(row.env_ok):<4} {_mark(row.gold_resolves):<5} "
            f"{_mark(row.empty_unresolved):<6} {len(row.flaky_tests):>5}  {_mark(row.valid):<5}  "
            f"{row.reason[:150]}"
        )
        counts = per_repo.setdefault(row.repo, [0, 0])
        counts[0] += int(row.valid)
        counts[1] += 1
    lines.append("")
    for repo, (valid, total) in sorted(per_repo.items()):
        lines.append(f"{repo}: {valid} of {total} valid")
    total_valid = sum(valid for valid, _ in per_repo.values())
    lines.append(f"all: {total_valid} of {len(rows)} valid")
    lines += ["", *_per_version_lines(rows)]
    return "\n".join(lines)


def _per_version_lines(rows) -> list[str]:
    """One line per (repository, version): how many validate, and on which Python against the
    official one (a task on another Python than the official harness's is said so)."""
    from harness.sandboxes.specs import SpecError, matching_spec

    groups: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        counts = groups.setdefault((row.repo, row.version), [0, 0])
        counts[0] += int(row.valid)
        counts[1] += 1
    lines = []
    for (repo, version), (valid, total) in sorted(groups.items()):
        try:
            spec = matching_spec(repo, version)
        except SpecError:
            spec = None
        if spec is None:
            python = "no spec"
        elif spec.unsupported:
            python = f"unsupported (official Python {spec.official_python})"
        else:
            python = f"Python {spec.python_version}, official {spec.official_python}"
            if spec.other_python:
                python += " (another Python)"
        lines.append(f"{repo} {version}: {valid} of {total} valid; {python}")
    return lines


def _mark(value: bool) -> str:
    return "ok" if value else "NO"


def render_json(rows) -> str:
    return json.dumps(
        [
            {
                "instance_id": row.instance_id, "repo": row.repo, "version": row.version,
                "spec": row.spec, "env_ok": row.env_ok, "gold_resolves": row.gold_resolves,
                "empty_unresolved": row.empty_unresolved, "flaky_tests": row.flaky_tests,
                "valid": row.valid, "reason": row.reason, "repeats": row.repeats,
                "details": row.details,
            }
            for row in rows
        ],
        indent=1,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m harness.cli.swebench validate ...`: the same command, before `harness.cli`
    registers it."""
    top = argparse.ArgumentParser(prog="python -m harness.cli.swebench")
    register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)

    try:
        return args.handler(args)
    except UserError as error:
        eprint(f"error: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
