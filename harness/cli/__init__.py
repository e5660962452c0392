"""Command line: `python -m harness run | validate | report | compare | export | show | doctor |
sandbox | images | view | select`.

Each command lives in a module of this package with a `register(commands)` that adds its parser
and sets its handler; adding a command is one line in COMMANDS. The options `run` and
`validate` share are defined once, in options.py.
"""

from __future__ import annotations

import argparse

from harness.cli import doctor, images, reports, run, sandbox, select, show, swebench, view
from harness.cli.errors import UserError, eprint
from harness.store import StoreError

# The modules whose `register(commands)` adds their commands, in the order `--help` lists them.
COMMANDS = (
    run,  # run
    show,  # show
    doctor,  # doctor
    sandbox,  # sandbox prune
    reports,  # report, compare, export: they read only the store
    swebench,  # validate
    images,  # images push
    view,  # view: the read-only web viewer
    select,  # select
)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m harness",
        description="Repeated sampling of coding agents on SWE-bench: solve rate at k, in dollars.",
    )
    commands = top.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(commands)
    return top


def main(argv: list[str] | None = None) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from harness.store.opening import describe

    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UserError, StoreError) as error:
        eprint(f"error: {error}")
        return 2
    except SQLAlchemyError as error:
        # A store that opened but cannot be written or read (read-only file, server gone).
        eprint(f"error: {describe(error, str(getattr(args, 'db', '')))}")
        return 2
