"""`python -m harness show RUN INSTANCE ATTEMPT`: one attempt, its trajectory, patch and verdict."""

from __future__ import annotations

import argparse
import sys

from harness.reports.show import ShowError, render_attempt
from harness.store import DEFAULT_DB, Store


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="run id")
    parser.add_argument("instance", help="instance id")
    parser.add_argument("attempt", type=int, help="attempt index (0-based)")
    parser.add_argument("--max-chars", type=int, default=0,
                        help="clip each message to this many characters (default: no clipping)")


def register(commands: argparse._SubParsersAction) -> None:
    show = commands.add_parser("show", help="one attempt: its trajectory, patch and verdict")
    add_arguments(show)
    show.add_argument(
        "--db", default=str(DEFAULT_DB),
        help=f"SQLite file or any SQLAlchemy URL (default {DEFAULT_DB})",
    )
    show.set_defaults(handler=command_show)


def command_show(args: argparse.Namespace) -> int:
    store = Store(args.db)
    try:
        print(render_attempt(store, args.run, args.instance, args.attempt, args.max_chars),
              end="")
    except ShowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    finally:
        store.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.cli.show", description=__doc__)
    add_arguments(parser)
    parser.add_argument("--db", default=str(DEFAULT_DB))
    return command_show(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
