"""`python -m harness validate`: can this harness host and grade each task of a dataset?

The dataset and sandbox options it shares with `run` are in options.py (re-exported here for
callers of their old home).
"""

from __future__ import annotations

import argparse
import json

from harness.cli.errors import UserError, eprint
from harness.cli.options import (
    DEMO,
    add_dataset_arguments,
    add_db,
    add_json,
    add_sandbox_arguments,
    add_sandbox_budget_arguments,
    docker_options,
    load_dataset_from_args,
    load_tasks_from_args,
)
from harness.store import Store
from harness.tasks import Task
from harness.validation.result import DEFAULT_REPEATS

__all__ = [
    "DEMO", "add_dataset_arguments", "command_validate", "load_dataset_from_args",
    "load_tasks_from_args", "register", "render_json", "render_table",
]

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
    add_sandbox_arguments(validate, memory="3g",
                          cache_holds="cloned repositories and wheelhouses")
    add_json(validate, "the table")
    add_sandbox_budget_arguments(validate)
    add_db(validate)
    validate.set_defaults(handler=command_validate)


def command_validate(args: argparse.Namespace) -> int:
    import signal

    from harness.backends.docker_backend import docker_sandboxes
    from harness.sandboxes.factory import HostRequirementError
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
    from harness.images.specs import SpecError, spec_for

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
    from harness.images.specs import SpecError, matching_spec

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
