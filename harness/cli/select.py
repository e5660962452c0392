"""The `select` subcommand: a selector's choice of one patch per task of a stored run, with the
tests it ran stored as evidence (harness/selection). cli/__init__.py calls `register`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.cli.errors import UserError
from harness.cli.options import add_sandbox_arguments
from harness.store import DEFAULT_DB, Store


def _eprint(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def command_select(args: argparse.Namespace) -> int:
    from harness.selection.base import SelectionError
    from harness.selection.registry import SelectorOptions, build_selector
    from harness.selection.run import select_run

    if args.max_sandboxes < 1:
        raise UserError("--max-sandboxes must be at least 1")
    if "://" not in args.db and not Path(args.db).exists():
        raise UserError(f"no results store at {args.db}; run `python -m harness run` first or "
                        "pass --db")
    store = Store(args.db)
    try:
        if store.run(args.run) is None:
            known = store.run_ids()
            hint = f"; runs in this store: {', '.join(known[-10:])}" if known else ""
            raise UserError(f"no run {args.run!r} in {store.url}{hint}")
        options = SelectorOptions(
            max_test_files=args.max_test_files, model=args.model, api_base=args.api_base,
            prices=args.prices, allow_unknown_price=args.allow_unknown_price,
            cache=not args.no_cache, store=store, config=args.selector_config,
        )
        chains = []
        for name in args.selector:
            try:
                chains.append(build_selector(name, options))
            except SelectionError as error:
                raise UserError(str(error)) from None
        for warning in options.warnings:
            _eprint(f"warning: {warning}")
        sandboxes = None
        if any(chain.needs_sandbox for chain in chains):
            from harness.backends.docker_backend import docker_sandboxes
            from harness.cli.options import docker_options
            from harness.sandboxes.factory import HostRequirementError

            sandboxes = docker_sandboxes(docker_options(args))
            try:
                sandboxes.preflight([])
            except HostRequirementError as error:
                raise UserError(str(error)) from None
        log = _eprint if args.verbose else None
        for chain in chains:
            summary = select_run(
                store, args.run, chain, sandboxes, models=None, workers=args.max_sandboxes,
                log=log, redo=args.redo, instances=args.instances,
            )
            print(
                f"{summary.selector}: chose a patch on {summary.chosen} of {summary.tasks} tasks "
                f"({summary.reused} already selected); {summary.test_runs} new test runs, "
                f"{summary.new_test_seconds:.0f} test seconds, ${summary.dollars:.4f}"
            )
            for line in summary.errors:
                _eprint(f"  error: {line}")
        return 0
    finally:
        store.close()


def register(commands: argparse._SubParsersAction) -> None:
    select = commands.add_parser(
        "select", help="choose one patch per task of a stored run, without the hidden tests",
        description="Runs a selector (first, vote, regression, behavior, repro, judge, a "
        "composition such as regression+behavior, or an import path package.module:factory) on "
        "every task of a stored run; its test runs and choices are stored, a rerun only does "
        "what is missing. `report` shows each stored selector's solve rate and cost.",
    )
    select.add_argument("run", metavar="RUN", help="a run id of the store")
    select.add_argument("--selector", action="append", required=True, metavar="NAME",
                        help="selector name (repeatable)")
    select.add_argument("--max-test-files", type=int, default=8,
                        help="regression/behavior: repository test files run per task at most")
    select.add_argument("--instances", nargs="+", metavar="ID",
                        help="select on these tasks of the run only (default: every task)")
    select.add_argument("--redo", action="store_true",
                        help="decide again on tasks already selected (stored test runs are "
                        "still reused)")
    select.add_argument("--verbose", "-v", action="store_true", help="one line per test run")
    llm = select.add_argument_group("LLM selectors")
    llm.add_argument("--model", help="any litellm model string")
    llm.add_argument("--api-base", help="base URL of an OpenAI-compatible server")
    llm.add_argument("--prices", help="price file adding or overriding model prices")
    llm.add_argument("--allow-unknown-price", action="store_true")
    llm.add_argument("--no-cache", action="store_true", help="bypass the response cache")
    llm.add_argument("--selector-config", metavar="FILE",
                     help="repro/judge definition (YAML): one `selector: repro|judge`, or "
                     "sections `repro:` and `judge:`; caps max_cost and task_max_cost in $ "
                     "(see docs/selection-llm.md)")
    sandboxes = select.add_argument_group("sandboxes")
    sandboxes.add_argument("--max-sandboxes", type=int, default=1,
                           help="tasks selected at once, one sandbox each (default 1)")
    sandboxes.add_argument("--host-max-sandboxes", type=int,
                           help="sandboxes on this host at once, shared by every harness "
                           "process (default: $HARNESS_HOST_MAX_SANDBOXES, else the CPU count)")
    sandboxes.add_argument("--repos-dir", help="local mirrors: one git repository per owner/name")
    add_sandbox_arguments(select, memory="2g", cache_holds="cloned repositories")
    select.add_argument(
        "--db", default=str(DEFAULT_DB),
        help=f"SQLite file or any SQLAlchemy URL (default {DEFAULT_DB})",
    )
    select.set_defaults(handler=command_select)
