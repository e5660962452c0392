"""The options `run` and `validate` share, defined once, and what they select: the dataset
(`--dataset --split --instances --repo --limit --repos-dir --include-unvalidated`), the sandboxes
(`--max-sandboxes --host-max-sandboxes --cache-dir --memory --cpus` and the image options), the
store (`--db`) and the report's form (`--json`).

The argparse Namespace stops in this package: what leaves it is typed (DockerOptions, tasks).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.errors import UserError, eprint
from harness.cli.images import add_image_arguments, image_options_from_args
from harness.sandboxes.host_slots import HostLimitError, host_limit
from harness.store import DEFAULT_DB, Store
from harness.tasks import Task, TaskFormatError

if TYPE_CHECKING:  # types only: `--help` and `report` load none of the sandbox modules
    from harness.backends.docker_backend import DockerOptions
    from harness.validation import Selection

DEMO = "demo"


def positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_db(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db", default=str(DEFAULT_DB),
        help=f"SQLite file or any SQLAlchemy URL (default {DEFAULT_DB})",
    )


def add_json(parser: argparse.ArgumentParser, what: str = "the report") -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON")


# --- the dataset ---------------------------------------------------------------------------


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


# --- sandboxes -----------------------------------------------------------------------------


def add_sandbox_budget_arguments(parser: argparse.ArgumentParser) -> None:
    """--max-sandboxes (this process's share) and --host-max-sandboxes (every process's)."""
    parser.add_argument(
        "--max-sandboxes", type=int, default=max(1, os.cpu_count() or 1),
        help="attempts in flight in all for this process: max_sandboxes // "
        "--attempts-in-flight tasks are worked on at once (default: CPU count)",
    )
    parser.add_argument(
        "--host-max-sandboxes", type=int,
        help="sandboxes on this host at once, shared by every harness process (default: "
        "$HARNESS_HOST_MAX_SANDBOXES, else the CPU count)",
    )


def add_sandbox_arguments(
    parser: argparse.ArgumentParser, memory: str, cache_holds: str
) -> None:
    """Where sandboxes come from and what each may use: --cache-dir, --memory, --cpus and the
    image options. `memory` is the command's default limit; `cache_holds` says what the cache
    directory keeps, for the help."""
    parser.add_argument(
        "--cache-dir", default=str(Path("results") / "cache"),
        help=f"where {cache_holds} are kept (default results/cache)",
    )
    parser.add_argument(
        "--memory", default=memory, help=f"memory limit per sandbox (default {memory})"
    )
    parser.add_argument("--cpus", type=float, default=1.0, help="CPUs per sandbox (default 1)")
    add_image_arguments(parser)


def host_max_sandboxes(args: argparse.Namespace) -> int:
    """The host-wide sandbox budget (--host-max-sandboxes, $HARNESS_HOST_MAX_SANDBOXES, or the
    CPU count). Raises UserError on a bad value."""
    try:
        return host_limit(getattr(args, "host_max_sandboxes", None))
    except HostLimitError as error:
        raise UserError(str(error)) from None


def docker_options(args: argparse.Namespace, log=None) -> DockerOptions:
    """The Docker options a command's arguments ask for (the Namespace stops here)."""
    from harness.backends.docker_backend import DockerOptions
    from harness.images.build_log import console_line

    return DockerOptions(
        memory=args.memory,
        cpus=args.cpus,
        repos_dir=Path(args.repos_dir) if args.repos_dir else None,
        cache_dir=Path(args.cache_dir),
        log=log or console_line,
        images=image_options_from_args(args),
        host_max_sandboxes=host_max_sandboxes(args),
        notice=eprint,
    )
