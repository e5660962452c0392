"""Our log parsers against the official ones of the `swebench` package (4.1.0), over the same
real test output of every SWE-bench repository (tests/data/parsers/, see its README): each test
gets the same status from both.

The official parsers return plain strings and can record a word that is not a status (a line
`ERROR: file not found` gives `{"file": "ERROR:"}`); grading counts such an entry neither
passed nor failed, as it does a missing test, so those entries are compared as missing; so
are the official entries named `[N]` (from `SKIPPED [N] file:line: reason`, a count, which
names no test).
Needs the test-only dependency `swebench==4.1.0` (the dev extra); without it the cross-check
skips, and the second test still checks what each log must contain.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.evaluation.log_parsers import parser_for
from harness.evaluation.status import TestStatus
from harness.images.specs import matching_spec

DATA = Path(__file__).parent / "data" / "parsers"
MANIFEST = json.loads((DATA / "manifest.json").read_text())
REPOSITORIES = {
    "astropy/astropy", "django/django", "matplotlib/matplotlib", "mwaskom/seaborn",
    "pallets/flask", "psf/requests", "pydata/xarray", "pylint-dev/pylint", "pytest-dev/pytest",
    "scikit-learn/scikit-learn", "sphinx-doc/sphinx", "sympy/sympy",
}
STATUS_WORDS = {status.value for status in TestStatus}
SKIP_COUNT = re.compile(r"\[\d+\]")


def ours(entry: dict) -> dict[str, str]:
    spec = matching_spec(entry["repo"], entry["version"])
    assert spec is not None, f"no spec for {entry['repo']} {entry['version']}"
    output = (DATA / entry["file"]).read_text()
    return {name: status.value for name, status in parser_for(spec.log_parser)(output).items()}


def test_the_logs_cover_all_twelve_repositories():
    assert {entry["repo"] for entry in MANIFEST} == REPOSITORIES


@pytest.mark.parametrize("entry", MANIFEST, ids=[entry["file"] for entry in MANIFEST])
def test_our_parser_reads_what_the_log_must_contain(entry):
    statuses = ours(entry)
    counts = {word: sum(value == word for value in statuses.values()) for word in STATUS_WORDS}
    for word, least in entry["at_least"].items():
        assert counts[word] >= least, (word, counts)


@pytest.mark.parametrize("entry", MANIFEST, ids=[entry["file"] for entry in MANIFEST])
def test_official_parser_gives_the_same_statuses(entry):
    official = pytest.importorskip(
        "swebench.harness.log_parsers", reason="the test-only dependency swebench is absent"
    )
    output = (DATA / entry["file"]).read_text()
    theirs = official.MAP_REPO_TO_PARSER[entry["repo"]](output, None)
    theirs = {
        name: status for name, status in theirs.items()
        if status in STATUS_WORDS and not SKIP_COUNT.fullmatch(name)
    }
    mine = ours(entry)
    assert theirs, "the official parser found no test: not a useful log"
    only_theirs = {name: status for name, status in theirs.items() if mine.get(name) != status}
    only_mine = {name: status for name, status in mine.items() if theirs.get(name) != status}
    assert only_theirs == {} and only_mine == {}
