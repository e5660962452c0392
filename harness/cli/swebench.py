"""Command line for real SWE-bench datasets: the `validate` command, and the dataset options
(`--dataset --split --instances --repo --limit --repos-dir --include-unvalidated`) that `run`
shares through `add_dataset_arguments` and `load_tasks_from_args`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.store import DEFAULT_DB, Store
from harness.tasks import Task, TaskFormatError
from harness.validation import DEFAULT_REPEATS, Selection

DEMO = "demo"


def _eprint(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _user_error(message: str) -> Exception:
    from harness.cli import UserError

    return UserError(message)


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
            raise _user_error(str(error)) from None
        for problem in loaded.problems:
            _eprint(f"warning: {problem}")
        tasks = loaded.tasks
    chosen = TaskFilter(
        instances=list(args.instances or []),
        repos=list(getattr(args, "repo", None) or []),
        limit=getattr(args, "limit", None),
    )
    try:
        tasks = filter_tasks(tasks, chosen)
    except TaskFormatError as error:
        raise _user_error(str(error)) from None
    if not tasks:
        raise _user_error(f"no usable task in {args.dataset}")
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
        _eprint(selection.summary())
        for instance_id, reason in selection.left_out.items():
            _eprint(f"  {instance_id}: {reason}")
    if not selection.tasks:
        raise _user_error(
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
        "--force", action="store_true", help="validate again tasks already validated"
    )
    validate.add_argument(
        "--cache-dir", default=str(Path("results") / "cache"),
        help="where cloned repositories and wheelhouses are kept (default results/cache)",
    )
    validate.add_argument("--memory", default="3g", help="memory limit per sandbox (default 3g)")
    validate.add_argument("--cpus", type=float, default=1.0, help="CPUs per sandbox (default 1)")
    validate.add_argument("--json", action="store_true", help="print the table as JSON")
    validate.add_argument(
        "--db", default=str(DEFAULT_DB),
        help=f"SQLite file or any SQLAlchemy URL (default {DEFAULT_DB})",
    )
    validate.set_defaults(handler=command_validate)


def command_validate(args: argparse.Namespace) -> int:
    from harness.sandboxes.base import SandboxError
    from harness.validation import save_validation, stored_validations, validate_task

    if args.repeats < 1:
        raise _user_error("--repeats must be at least 1")
    args.include_unvalidated = True
    tasks = load_dataset_from_args(args)
    store = Store(args.db)
    try:
        done = {} if args.force else stored_validations(store, tasks)
        todo = [task for task in tasks if task.instance_id not in done]
        if done:
            _eprint(f"{len(done)} task(s) already validated (--force redoes them)")
        sandboxes = _docker(args)
        for number, task in enumerate(todo, start=1):
            _eprint(f"[{number}/{len(todo)}] validating {task.instance_id}")
            spec_name, setup = sandboxes.setup(task)
            try:
                result = validate_task(
                    task, sandboxes.prepare_image, sandboxes.start, setup, spec_name,
                    repeats=args.repeats, log=lambda line: _eprint(f"  {line}"),
                )
            except SandboxError as error:
                # Infrastructure, not the task: nothing is saved, so a rerun validates it.
                _eprint(f"  {task.instance_id}: sandbox failed, not recorded (rerun to retry): "
                        f"{str(error).splitlines()[0][:300]}")
                continue
            save_validation(store, task, result, args.repeats)
            verdict = "valid" if result.valid else f"NOT valid: {result.reason}"
            _eprint(f"  {task.instance_id}: {verdict} ({result.seconds:.0f} s)")
        records = stored_validations(store, tasks)
    finally:
        store.close()
    rows = [records[task.instance_id] for task in tasks if task.instance_id in records]
    print(render_json(rows) if args.json else render_table(rows))
    return 0


class _DockerSandboxes:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self._client = None
        self._repos = None

    def client(self):
        if self._client is None:
            import docker

            try:
                self._client = docker.from_env()
                self._client.ping()
            except Exception as error:
                raise _user_error(
                    f"cannot reach the Docker daemon ({error}); start Docker and retry"
                ) from None
        return self._client

    def repos(self):
        if self._repos is None:
            from harness.repos import RepoSource

            repos_dir = Path(self.args.repos_dir) if self.args.repos_dir else None
            self._repos = RepoSource(repos_dir=repos_dir, cache_dir=Path(self.args.cache_dir))
        return self._repos

    def setup(self, task: Task):
        from harness.evaluation.evaluator import TestSetup
        from harness.sandboxes.specs import SpecError, spec_for

        try:
            spec = spec_for(task.repo, task.version)
        except SpecError:
            # Recorded as an environment failure by validate_task, through prepare_image.
            return "-", TestSetup("true", "pytest", 60.0)
        return spec.name, TestSetup(
            spec.runner_cmd, spec.log_parser, float(spec.test_timeout), spec.network_tests
        )

    def prepare_image(self, task: Task) -> str:
        from harness.sandboxes.images import prepare_instance_image

        return prepare_instance_image(
            self.client(), task, self.repos(), lambda line: None,
        )

    def start(self, image: str):
        from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

        limits = SandboxLimits(memory=self.args.memory, cpus=self.args.cpus)
        return DockerSandbox.start(self.client(), image, limits)


def _docker(args: argparse.Namespace) -> _DockerSandboxes:
    return _DockerSandboxes(args)


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
    from harness.cli import UserError

    try:
        return args.handler(args)
    except UserError as error:
        _eprint(f"error: {error}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
