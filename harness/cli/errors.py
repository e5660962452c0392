"""How the command line fails: bad input is one clear line on stderr and exit code 2."""

from __future__ import annotations

import sys


class UserError(Exception):
    """Bad input from the user: printed as one clear line, exit code 2."""


def eprint(message: str) -> None:
    """Messages and progress go to stderr, so stdout holds only the command's result."""
    print(message, file=sys.stderr, flush=True)
