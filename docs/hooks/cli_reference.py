"""mkdocs hook: the CLI reference page, generated from the argparse parsers at build time.

`docs/cli.md` holds the marker `<!-- cli-reference -->`; this hook replaces it with every
command and subcommand of `python -m harness`, their usage lines and options, read from the
same parser the command line uses (`harness.cli.parser()`), so the page cannot drift from the
code. Registered in mkdocs.yml under `hooks:`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

MARKER = "<!-- cli-reference -->"
ROOT = Path(__file__).resolve().parents[2]


def _top_parser() -> argparse.ArgumentParser:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # the checkout's harness, also when not installed
    import harness.cli as cli

    for name in ("parser", "build_parser"):
        builder = getattr(cli, name, None)
        if callable(builder):
            return builder()
    raise RuntimeError("harness.cli has no parser builder (parser() or build_parser())")


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, argparse.ArgumentParser]]:
    """(name, help, parser) of each subcommand, in the order they were added."""
    found = []
    for action in parser._actions:  # argparse keeps no public list of them
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, sub in action.choices.items():
                found.append((name, helps.get(name, ""), sub))
    return found


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _option_rows(parser: argparse.ArgumentParser) -> list[str]:
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._SubParsersAction, argparse._HelpAction)):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        if action.option_strings:
            names = ", ".join(f"`{name}`" for name in action.option_strings)
            if action.nargs != 0:
                metavar = action.metavar or action.dest.upper()
                if isinstance(metavar, tuple):
                    metavar = " ".join(metavar)
                names += f" `{metavar}`"
        else:
            names = f"`{action.metavar or action.dest}`"
        help_text = action.help or ""
        if "%(" in help_text:
            try:
                help_text = help_text % {**vars(action), "prog": parser.prog}
            except (KeyError, TypeError, ValueError):
                pass
        default = action.default
        shown_default = ""
        if (action.option_strings and default not in (None, False, argparse.SUPPRESS)
                and action.nargs != 0 and "default" not in help_text):
            shown_default = f" (default: `{default}`)"
        if action.choices and not isinstance(action.choices, dict):
            help_text += f" One of: {', '.join(f'`{c}`' for c in action.choices)}."
        rows.append(f"| {names} | {_escape(help_text + shown_default)} |")
    return rows


def _render(parser: argparse.ArgumentParser, words: list[str], help_text: str,
            depth: int) -> list[str]:
    lines = []
    if words:
        lines += [f"{'#' * min(depth, 6)} `{' '.join(words)}`", ""]
        if help_text:
            lines += [help_text[0].upper() + help_text[1:] + ".", ""]
    if parser.description and parser.description != help_text:
        lines += [parser.description, ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    rows = _option_rows(parser)
    if rows:
        lines += ["| argument | what it does |", "| --- | --- |", *rows, ""]
    for name, sub_help, sub in _subcommands(parser):
        lines += _render(sub, [*words, name], sub_help, depth + 1)
    return lines


def render_reference() -> str:
    # argparse wraps usage lines to the terminal's width: the page must not depend on it.
    os.environ["COLUMNS"] = "100"
    top = _top_parser()
    return "\n".join(_render(top, [], "", 2))


def on_page_markdown(markdown: str, page, config, files) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_reference())
