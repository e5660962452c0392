"""Log parsers on real test output captured from this harness's sandboxes (tests/data/swebench/):
every FAIL_TO_PASS and PASS_TO_PASS name of the official lists is found, with the status the
official harness would give it. Long pytest outputs are cut between the session header and the
final short summary (the part the parser reads), nothing else is changed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from data_paths import LITE

from harness.evaluation.grading import grade
from harness.evaluation.log_parsers import (
    parse_pytest_log,
    parse_pytest_options_log,
    parse_sympy_log,
    parser_for,
)
from harness.evaluation.status import TestStatus

DATA = Path(__file__).parent / "data" / "swebench"

CAPTURED = [
    ("sympy__sympy-20590", "sympy"),
    ("pallets__flask-5063", "pytest"),
    ("pytest-dev__pytest-11143", "pytest"),
]


def lite_row(instance_id: str) -> dict:
    if not LITE.is_file():
        pytest.skip(f"the shared SWE-bench data is absent ({LITE})")
    for line in LITE.read_text().splitlines():
        row = json.loads(line)
        if row["instance_id"] == instance_id:
            return row
    raise AssertionError(f"{instance_id} not in {LITE}")


def lists(instance_id: str) -> tuple[list[str], list[str]]:
    row = lite_row(instance_id)
    return json.loads(row["FAIL_TO_PASS"]), json.loads(row["PASS_TO_PASS"])


@pytest.mark.parametrize("instance_id,parser", CAPTURED)
def test_gold_output_has_every_listed_test_passing(instance_id, parser):
    f2p, p2p = lists(instance_id)
    output = (DATA / f"{instance_id}.gold.txt").read_text()
    statuses = parser_for(parser)(output, [*f2p, *p2p])
    for name in [*f2p, *p2p]:
        assert statuses.get(name) in (TestStatus.PASSED, TestStatus.XFAIL), name
    assert grade(statuses, f2p, p2p).resolved


@pytest.mark.parametrize("instance_id,parser", CAPTURED)
def test_empty_patch_output_fails_exactly_the_fail_to_pass_tests(instance_id, parser):
    f2p, p2p = lists(instance_id)
    output = (DATA / f"{instance_id}.empty.txt").read_text()
    statuses = parser_for(parser)(output, [*f2p, *p2p])
    result = grade(statuses, f2p, p2p)
    assert not result.resolved
    assert result.failing("FAIL_TO_PASS") == f2p
    assert result.failing("PASS_TO_PASS") == []


def test_parametrized_ids_with_spaces_are_cut_as_the_official_lists_cut_them():
    # pytest-11143's PASS_TO_PASS names `test_get_assertion_exprs[assert statement not on own
    # line]` as `...[assert`: the official parser takes the first whitespace-free token.
    _, p2p = lists("pytest-dev__pytest-11143")
    assert "testing/test_assertrewrite.py::test_get_assertion_exprs[assert" in p2p
    output = (DATA / "pytest-dev__pytest-11143.gold.txt").read_text()
    assert "test_get_assertion_exprs[assert statement not on own line]" in output
    statuses = parse_pytest_log(output)
    assert statuses["testing/test_assertrewrite.py::test_get_assertion_exprs[assert"] is (
        TestStatus.PASSED
    )


def test_sympy_verbose_lines_and_failure_headers():
    output = (DATA / "sympy__sympy-20590.empty.txt").read_text()
    statuses = parse_sympy_log(output)
    assert statuses["test_immutable"] is TestStatus.FAILED
    assert statuses["test_structure"] is TestStatus.PASSED
    # The failure report's header names the test with its file, as the official parser keeps.
    assert statuses["sympy/core/tests/test_basic.py:test_immutable"] is TestStatus.FAILED


def test_failed_lines_drop_their_message_and_errors_of_collection_name_files():
    output = (DATA / "pallets__flask-4045.empty.txt").read_text()
    statuses = parse_pytest_log(output)
    assert statuses["tests/test_blueprints.py::test_dotted_name_not_allowed"] is TestStatus.FAILED
    assert statuses["tests/test_basic.py::test_method_route[get]"] is TestStatus.FAILED
    assert all(" - " not in name for name in statuses)


def test_xpass_and_skip_locations_are_not_tests():
    output = (
        "XPASS tests/a.py::test_x reason\n"
        "SKIPPED [2] tests/a.py:12: no network\n"
        "SKIPPED tests/a.py::test_y\n"
        "tests/a.py::test_z PASSED                                       [ 50%]\n"
    )
    statuses = parse_pytest_log(output)
    assert statuses == {"tests/a.py::test_y": TestStatus.SKIPPED,
                        "tests/a.py::test_z": TestStatus.PASSED}


def test_options_parser_shortens_absolute_path_parameters():
    output = "PASSED test_requests.py::test_x[/tmp/pytest-of-root/pytest-0/f.txt]\n"
    expected = {"test_requests.py::test_x[/f.txt]": TestStatus.PASSED}
    assert parse_pytest_options_log(output) == expected
