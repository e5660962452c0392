"""Django's own test runner (`./tests/runtests.py --verbosity 2`) -> {test name: status}.

Each test ends a line `NAME ... ok` (or FAIL, ERROR, `skipped 'why'`, `expected failure`,
`unexpected success`). NAME is `test_x (module.Class)`, or the first line of the test's
docstring when it has one: the official FAIL_TO_PASS / PASS_TO_PASS lists spell docstring
tests that way, because the official parser reads the same text before ` ... `. The
`FAIL: NAME` / `ERROR: NAME` headers of the failure reports mark a test even when its own
line was cut by other output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from harness.evaluation.status import TestStatus

_RESULT = re.compile(
    r"^(?P<name>.+?) \.\.\. (?P<word>ok|OK|FAIL|ERROR|skipped\b.*|expected failure|"
    r"unexpected success)\s*$"
)
_WORDS = {
    "ok": TestStatus.PASSED,
    "OK": TestStatus.PASSED,
    "FAIL": TestStatus.FAILED,
    "ERROR": TestStatus.ERROR,
    "expected failure": TestStatus.XFAIL,
    # As officially: a test expected to fail that passed is a failure.
    "unexpected success": TestStatus.FAILED,
}
_HEADER = re.compile(r"^(FAIL|ERROR): (.+?)\s*$")


def parse_django_log(output: str, expected: Iterable[str] = ()) -> dict[str, TestStatus]:
    statuses: dict[str, TestStatus] = {}
    for raw in output.split("\n"):
        line = raw.rstrip("\r")
        header = _HEADER.match(line)
        if header:
            kind, name = header.groups()
            statuses[name] = TestStatus.FAILED if kind == "FAIL" else TestStatus.ERROR
            continue
        found = _RESULT.match(line)
        if not found:
            continue
        word = found.group("word")
        status = TestStatus.SKIPPED if word.startswith("skipped") else _WORDS[word]
        statuses[found.group("name").strip()] = status
    return statuses
