"""The static tamper scan and the JUnit cross-check, on text alone (no Docker)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.evaluation.junit import disagreement, junit_key, parse_junit, supports_junit
from harness.evaluation.status import TestStatus
from harness.evaluation.tamper import scan_patch

SHARED = Path("/work/shared/swebench")


def added(path: str, *lines: str) -> str:
    body = "".join(f"+{line}\n" for line in lines)
    return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
            f"@@ -1,0 +1,{len(lines)} @@\n{body}")


@pytest.mark.parametrize(
    ("patch", "reason"),
    [
        (added("pkg/__init__.py", "from _pytest.reports import TestReport"), "_pytest"),
        (added("pkg/__init__.py", "import pytest"), "imports pytest outside the tests"),
        (added("pkg/core.py", "def pytest_runtest_makereport(item, call):"), "pytest hooks"),
        (added("pkg/core.py", "unittest.TestResult.addFailure = lambda *a: None"), "unittest"),
        (added("pkg/core.py", "sys.settrace(tracer)"), "tracing"),
        (added("pkg/core.py", "os.kill(-1, 9)"), "ends or signals processes"),
        (added("pkg/core.py", "os._exit(0)"), "ends or signals processes"),
        (added("pkg/core.py", "atexit.register(rewrite)"), "atexit"),
        (added("pkg/core.py", "sys.meta_path.insert(0, Finder())"), "import system"),
        (added("pkg/core.py", "if os.environ.get('PYTEST_CURRENT_TEST'):"), "runs under a test"),
        (added("pkg/core.py", "exec(base64.b64decode(blob))"), "decodes at run time"),
        (added("sub/dir/conftest.py", "x = 1"), "conftest or plugin file"),
        (added("pkg/pytest_cheat.py", "x = 1"), "conftest or plugin file"),
        (added("sitecustomize.py", "x = 1"), "start-up file"),
        (added("pytest.ini", "[pytest]", "addopts = -k nothing"), "configuration"),
        (added("setup.cfg", "[tool:pytest]", "addopts = -p no:junitxml"), "configuration"),
        (added("tox.ini", "[pytest]", "python_files = none_*.py"), "configuration"),
        (added("pyproject.toml", "[tool.pytest.ini_options]", "addopts = '-x'"),
         "configuration"),
    ],
)
def test_each_kind_of_tampering_is_flagged(patch, reason):
    reasons = scan_patch(patch, "someone/project")
    assert any(reason in text for text in reasons), reasons


def test_ordinary_changes_are_not_flagged():
    assert scan_patch(added("pkg/core.py", "return value + 1"), "someone/project") == []
    # Test files are restored before the run: what they import never runs.
    assert scan_patch(added("tests/test_core.py", "import pytest"), "someone/project") == []
    assert scan_patch(added("setup.cfg", "[metadata]", "name = pkg"), "someone/project") == []


def test_the_test_framework_repository_may_touch_its_own_internals():
    patch = added("src/_pytest/nodes.py", "from _pytest.reports import TestReport")
    assert scan_patch(patch, "pytest-dev/pytest") == []
    assert scan_patch(patch, "someone/project")


@pytest.mark.parametrize("name", ["swe_bench_lite.jsonl", "swe_bench_verified.jsonl"])
def test_no_gold_patch_of_swe_bench_is_flagged(name):
    path = SHARED / name
    if not path.is_file():
        pytest.skip(f"shared SWE-bench data absent ({path})")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    flagged = {row["instance_id"]: scan_patch(row["patch"], row["repo"]) for row in rows}
    assert not {k: v for k, v in flagged.items() if v}


def test_junit_keys_follow_pytests_node_ids():
    assert junit_key("tests/test_a.py::test_x[p-1]") == ("tests.test_a", "test_x[p-1]")
    assert junit_key("tests/sub/test_b.py::TestC::test_y") == ("tests.sub.test_b.TestC", "test_y")
    assert junit_key("tests/test_a.py::test_x[a/b::c]") == ("tests.test_a", "test_x[a/b::c]")


REPORT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_a" name="test_ok" time="0.1"/>
<testcase classname="tests.test_a" name="test_bad" time="0.1"><failure message="no"/></testcase>
<testcase classname="tests.test_a" name="test_xf" time="0.1"><skipped type="pytest.xfail"/>
</testcase>
<testcase classname="tests.test_a" name="test_long[with space]" time="0.1"/>
</testsuite></testsuites>"""


def test_the_junit_report_agrees_with_an_honest_log():
    log = {
        "tests/test_a.py::test_ok": TestStatus.PASSED,
        "tests/test_a.py::test_bad": TestStatus.FAILED,
        "tests/test_a.py::test_xf": TestStatus.XFAIL,
        "tests/test_a.py::test_long[with": TestStatus.PASSED,  # cut at a space, as SWE-bench
    }
    assert parse_junit(REPORT)[("tests.test_a", "test_bad")] is False
    assert disagreement(log, REPORT, list(log)) == ""


def test_a_forged_pass_or_a_missing_report_is_a_disagreement():
    forged = {"tests/test_a.py::test_bad": TestStatus.PASSED,
              "tests/test_a.py::test_gone": TestStatus.PASSED}
    said = disagreement(forged, REPORT, list(forged))
    assert "2 listed tests passing" in said and "1 absent" in said
    assert "no JUnit report" in disagreement(forged, None, list(forged))
    assert "unreadable" in disagreement(forged, "<not xml", list(forged))
    # A log that claims no pass has nothing for the report to contradict.
    assert disagreement({"t": TestStatus.FAILED}, None, ["t"]) == ""


def test_junit_is_read_only_for_pytest_commands():
    assert supports_junit("python3 -m pytest -rA -p no:cacheprovider", "pytest")
    assert supports_junit("pytest -rA", "pytest")
    # requests' parser shortens path parameters, which the report keeps whole: not compared.
    assert not supports_junit("pytest --no-header -rA -p no:cacheprovider", "pytest_options")
    assert not supports_junit("bin/test -C --verbose", "sympy")
    assert not supports_junit("./tests/runtests.py --verbosity 2", "django")


def test_exit_codes_name_the_signal_that_ended_a_process():
    from harness.evaluation.faults import describe_exit, signal_name, test_command_exit

    assert signal_name(137) == "SIGKILL" and signal_name(143) == "SIGTERM"
    assert signal_name(1) == "" and signal_name(128) == ""
    assert describe_exit(137) == "exit code 137 (killed by SIGKILL)"
    assert test_command_exit("apply-method: git-apply\ntest-exit-code: 137 after 3s\n") == 137
    assert test_command_exit("no such line") is None


def test_an_oversized_patch_is_kept_as_a_stub_that_is_refused_again():
    from harness.evaluation.oversize import KEPT_BYTES, MAX_PATCH_BYTES, is_refused, stored_patch

    small = added("pkg/core.py", "x = 1")
    assert stored_patch(small) == small and not is_refused(small)
    huge = small + "+" + "y" * MAX_PATCH_BYTES + "\n"
    stub = stored_patch(huge)
    assert len(stub.encode()) < KEPT_BYTES + 200 and stub.endswith(huge[:KEPT_BYTES])
    assert is_refused(huge) and is_refused(stub)
