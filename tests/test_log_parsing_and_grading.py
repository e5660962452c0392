from harness.evaluation.grading import grade
from harness.evaluation.log_parsers import parse_pytest_log
from harness.evaluation.status import TestStatus

PYTEST_6_OUTPUT = """\
============================= test session starts ==============================
platform linux -- Python 3.9.2, pytest-6.0.2, py-1.10.0, pluggy-0.13.0
collected 5 items

tests/test_text.py ..F.sx                                                 [100%]

=================================== FAILURES ===================================
_________________________________ test_wrap ____________________________________
    def test_wrap():
>       assert wrap("a b", 1) == ["a", "b"]
E       AssertionError
=========================== short test summary info ============================
PASSED tests/test_text.py::test_slugify
PASSED tests/test_text.py::test_truncate[abc-2]
PASSED tests/test_text.py::test_truncate[a b c-3]
FAILED tests/test_text.py::test_wrap - AssertionError
SKIPPED [1] tests/test_text.py:40: no locale
XFAIL tests/test_text.py::test_future
  not yet
==================== 1 failed, 3 passed, 1 skipped, 1 xfailed in 0.05s =========
"""


def test_pytest_summary_lines_give_exact_ids_including_parametrized_with_spaces():
    expected = ["tests/test_text.py::test_truncate[a b c-3]"]
    statuses = parse_pytest_log(PYTEST_6_OUTPUT, expected)
    assert statuses == {
        "tests/test_text.py::test_slugify": TestStatus.PASSED,
        "tests/test_text.py::test_truncate[abc-2]": TestStatus.PASSED,
        "tests/test_text.py::test_truncate[a b c-3]": TestStatus.PASSED,
        "tests/test_text.py::test_wrap": TestStatus.FAILED,
        "tests/test_text.py::test_future": TestStatus.XFAIL,
    }


def test_collection_error_leaves_tests_absent():
    output = "ERROR tests/test_text.py - ImportError: cannot import name 'x'\n"
    statuses = parse_pytest_log(output, ["tests/test_text.py::test_slugify"])
    assert statuses == {"tests/test_text.py": TestStatus.ERROR}
    result = grade(statuses, ["tests/test_text.py::test_slugify"], [])
    assert not result.resolved


def test_grading_rules():
    s = {
        "f_pass": TestStatus.PASSED,
        "f_xfail": TestStatus.XFAIL,
        "f_skip": TestStatus.SKIPPED,
        "p_pass": TestStatus.PASSED,
        "p_skip": TestStatus.SKIPPED,
        "p_fail": TestStatus.FAILED,
        "p_error": TestStatus.ERROR,
    }
    assert grade(s, ["f_pass", "f_xfail"], ["p_pass"]).resolved
    # A skipped FAIL_TO_PASS test fails (hardening); a skipped PASS_TO_PASS one does not count.
    assert not grade(s, ["f_pass", "f_skip"], []).resolved
    assert grade(s, ["f_pass"], ["p_pass", "p_skip"]).resolved
    assert not grade(s, ["f_pass"], ["p_fail"]).resolved
    assert not grade(s, ["f_pass"], ["p_error"]).resolved
    # Missing tests fail on both lists.
    assert not grade(s, ["f_missing"], []).resolved
    assert not grade(s, ["f_pass"], ["p_missing"]).resolved
    failing = grade(s, ["f_pass", "f_skip"], ["p_fail"])
    assert failing.failing("FAIL_TO_PASS") == ["f_skip"]
    assert failing.failing("PASS_TO_PASS") == ["p_fail"]
