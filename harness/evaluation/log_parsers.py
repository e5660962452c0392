"""Test-log parsers: turn a test run's output into {test name: status}.

Names come out exactly as SWE-bench's FAIL_TO_PASS / PASS_TO_PASS lists spell them, because the
parsers read the output as the official harness's parsers do (the lists were made by them):

- `pytest`: the `-rA` short summary, `STATUS name` (a FAILED line's ` - message` dropped); also
  the verbose `name STATUS` form. The name is the first whitespace-free token, so a
  parametrized id with a space in it is cut there, as in the official lists. Only the statuses
  the official harness knows count (PASSED, FAILED, SKIPPED, ERROR, XFAIL): an XPASS line is
  ignored, which leaves that test missing. `SKIPPED [2] file:line: reason` names no test.
- `pytest_options`: as `pytest`, then a parameter that is an absolute path is shortened to its
  last component (`test_x[/tmp/abc/file]` -> `test_x[/file]`), as the official requests parser.
- `sympy`: `bin/test --verbose` lines `test_name ok|F|E` and the `____ path.py:test_name ____`
  headers of failure reports.

A test that appears twice keeps its last status (rerun plugins, repeated runs).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from harness.evaluation.django_log import parse_django_log
from harness.evaluation.status import TestStatus

LogParser = Callable[[str, Iterable[str]], dict[str, TestStatus]]

# The statuses the official harness recognizes; XPASS is not among them.
_OFFICIAL = (
    TestStatus.FAILED,
    TestStatus.PASSED,
    TestStatus.SKIPPED,
    TestStatus.ERROR,
    TestStatus.XFAIL,
)
_WORDS = "|".join(status.value for status in _OFFICIAL)
_STATUS_FIRST = re.compile(rf"^({_WORDS})\s+(\S+)")
_NAME_FIRST = re.compile(rf"^(\S+)\s+({_WORDS})(?:\s|$)")
_SKIP_COUNT = re.compile(r"\[\d+\]")


def _summary_entry(line: str, expected: set[str]) -> tuple[str, TestStatus] | None:
    status_first = _STATUS_FIRST.match(line)
    if status_first:
        word, name = status_first.groups()
        status = TestStatus(word)
        if status is TestStatus.SKIPPED and _SKIP_COUNT.match(name):
            return None  # `SKIPPED [1] tests/a.py:12: reason`: a location, not a test id
        if status is TestStatus.FAILED:
            name = line.replace(" - ", " ").split()[1]
        # A name with spaces that the task itself lists (the demo suite's tasks do) is kept
        # whole; the official lists never contain one, since their parser cuts at a space.
        rest = line[len(word):].strip()
        whole = rest.split(" - ", 1)[0]
        if whole != name and whole in expected:
            name = whole
        return name, status
    name_first = _NAME_FIRST.match(line)
    if name_first:
        name, word = name_first.groups()
        return name, TestStatus(word)
    return None


def parse_pytest_log(output: str, expected: Iterable[str] = ()) -> dict[str, TestStatus]:
    """pytest's `-rA` summary (and verbose lines) -> statuses, as the official harness reads
    them. `expected` only serves names with spaces that a (non-official) task lists whole."""
    expected_names = set(expected)
    statuses: dict[str, TestStatus] = {}
    for line in output.split("\n"):
        entry = _summary_entry(line, expected_names)
        if entry is not None:
            statuses[entry[0]] = entry[1]
    return statuses


_OPTION = re.compile(r"(.*?)\[(.*)\]")


def _shorten_path_option(name: str) -> str:
    found = _OPTION.search(name)
    if not found:
        return name
    main, option = found.groups()
    if option.startswith("/") and not option.startswith("//") and "*" not in option:
        option = "/" + option.split("/")[-1]
    return f"{main}[{option}]"


def parse_pytest_options_log(output: str, expected: Iterable[str] = ()) -> dict[str, TestStatus]:
    """As `parse_pytest_log`, with absolute-path parameters cut to their last component
    (temporary folders differ from run to run; the official lists hold the short form)."""
    statuses: dict[str, TestStatus] = {}
    for name, status in parse_pytest_log(output, expected).items():
        statuses[_shorten_path_option(name)] = status
    return statuses


_SYMPY_FAILURE_HEADER = re.compile(r"(_*) (.*)\.py:(.*) (_*)")
_SYMPY_RESULTS = {" ok": TestStatus.PASSED, " F": TestStatus.FAILED, " E": TestStatus.ERROR}


def parse_sympy_log(output: str, expected: Iterable[str] = ()) -> dict[str, TestStatus]:
    """sympy's `bin/test --verbose`: one `test_x ok` (or F, E) line per test; a failure report
    is headed `____ sympy/a/tests/test_b.py:test_x ____`, which marks the test failed even if
    its own line was lost. Skipped and xfail tests (`test_x s`, `f`) are not recorded, as
    officially: they count as missing."""
    statuses: dict[str, TestStatus] = {}
    for found in _SYMPY_FAILURE_HEADER.findall(output):
        statuses[f"{found[1]}.py:{found[2]}"] = TestStatus.FAILED
    for raw in output.split("\n"):
        line = raw.strip()
        if not line.startswith("test_"):
            continue
        for suffix, status in _SYMPY_RESULTS.items():
            if line.endswith(suffix):
                statuses[line.split()[0]] = status
    return statuses


PARSERS: dict[str, LogParser] = {
    "django": parse_django_log,
    "pytest": parse_pytest_log,
    "pytest_options": parse_pytest_options_log,
    "sympy": parse_sympy_log,
}


def parser_for(name: str) -> LogParser:
    try:
        return PARSERS[name]
    except KeyError:
        raise ValueError(
            f"unknown log parser {name!r}; known: {', '.join(sorted(PARSERS))}"
        ) from None
