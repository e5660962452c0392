"""Shared builders for the report, compare and export tests: real SQLite stores written through
the ORM (harness.reports.synthetic), and the CLI with the report subcommands registered."""

from __future__ import annotations

from harness import cli


def run_cli(argv: list[str]) -> int:
    """`python -m harness ...` in process."""
    return cli.main(argv)
