"""The scripts `behavior` runs besides tests (harness.selection.scripts): what is taken from an
issue's text and from a candidate's patch, how outputs are compared, and how `behavior` ranks
on them. Pure: no sandbox (tests/test_selection_docker.py runs them for real)."""

from __future__ import annotations

from harness.selection.base import TestRun
from harness.selection.behavior import BehaviorSelector, script_code
from harness.selection.scripts import (
    expected_outputs,
    issue_script,
    normalize_output,
    outcome_statuses,
    own_scripts,
    shown,
)
from tests.test_selectors import POOL, candidate

ISSUE = (
    "Consider:\r\n\r\n```python\r\nfrom pkg import merge\r\na = merge([1], [2])\r\n```\r\n\r\n"
    "Then\r\n```python\r\n>>> merge(a, [3])\r\n[1, 2]\r\n```\r\n"
    "Traceback quoted:\r\n```\r\nTraceback (most recent call last):\r\n  File \"x\", line 3\r\n"
    "ValueError: bad\r\n```\r\nExpected:\r\n```\r\n[1, 2, 3]\r\n```\r\n"
)


def _run(code: str, output: str = "") -> TestRun:
    return TestRun("s", "d", {"script": code, "output": output})


def test_the_issue_script_runs_its_pieces_in_order_in_one_namespace():
    script = issue_script(ISSUE, "org/pkg")
    assert script is not None
    namespace: dict = {}
    pieces = script.split("_harness_pieces = ", 1)[1].split("\n", 1)[0]
    sources = eval(pieces, namespace)  # the list literal the script carries
    assert sources[0].startswith("from pkg import merge") and "a = merge" in sources[0]
    # The session's expression is shown, as the interpreter would; its printed result dropped.
    assert sources[1] == "_harness_sys.displayhook(merge(a, [3]))\n"
    assert len(sources) == 2  # the traceback and the output blocks are not code


def test_a_session_without_imports_gets_the_package_star_imported():
    script = issue_script("It breaks:\n\n    >>> Symbol('x').subs(1)\n    oops\n", "sym/sym-py")
    assert script is not None and "from sym_py import *" in script
    assert issue_script("No code here, only words.", "a/b") is None


def test_expected_outputs_are_the_quoted_blocks_that_are_not_code():
    expected = expected_outputs(ISSUE)
    assert "[1, 2, 3]" in expected
    assert not any(block.startswith("from pkg") for block in expected)
    where = expected.index("[1, 2, 3]")
    assert shown(expected, "noise\n[1,  2,   3]\n") == {where}  # runs of spaces squeezed
    assert shown(expected, "noise\n[1, 2]\n") == set()


def test_own_scripts_are_reproduction_files_the_patch_adds():
    patch = (
        "diff --git a/reproduce_bug.py b/reproduce_bug.py\nnew file mode 100644\n"
        "--- /dev/null\n+++ b/reproduce_bug.py\n@@ -0,0 +1,2 @@\n+import pkg\n+print(pkg.f())\n"
        "diff --git a/pkg/core.py b/pkg/core.py\nnew file mode 100644\n--- /dev/null\n"
        "+++ b/pkg/core.py\n@@ -0,0 +1 @@\n+X = 1\n"
        "diff --git a/tests/test_new.py b/tests/test_new.py\nnew file mode 100644\n"
        "--- /dev/null\n+++ b/tests/test_new.py\n@@ -0,0 +1 @@\n+def test(): pass\n"
    )
    assert own_scripts(candidate("a", (0,), patch)) == [
        ("reproduce_bug.py", "import pkg\nprint(pkg.f())\n")
    ]
    assert own_scripts(candidate("b", (0,), "not a diff")) == []


def test_outputs_that_differ_only_in_addresses_line_numbers_and_times_are_equal():
    one = 'obj at 0x7f00aa11 File "/testbed/a.py", line 10, in f\nran in 0.52s'
    two = 'obj at 0x7f99bb22 File "/testbed/a.py", line 12, in f\nran in 1.7s'
    assert normalize_output(one) == normalize_output(two)
    assert outcome_statuses(one, 0, False)["script"] == outcome_statuses(two, 0, False)["script"]
    assert outcome_statuses(one, 1, False)["script"].startswith("OUT:fail:")


def test_script_codes_say_unchanged_changed_or_worse_than_the_base():
    base = _run("OUT:ok:aaaa")
    assert script_code(_run("OUT:ok:aaaa"), base) == "B"
    assert script_code(_run("OUT:ok:bbbb"), base) == "Dokbbbb"
    assert script_code(_run("OUT:fail:cccc"), base) == "W"  # it ran before, it crashes now
    assert script_code(_run("OUT:ok:bbbb"), _run("OUT:fail:aaaa")) == "Dokbbbb"
    failed = TestRun("s", "d", {}, problem="patch_failed")
    assert script_code(failed, base) == "X"


def test_behavior_ranks_the_expected_output_first_then_a_changed_example_then_votes():
    suites = [{"suite": "issue", "owner": None, "kind": "script"}]
    # b and c change nothing the example shows (4 votes); a changes it (2 votes).
    vectors = {"a": {"issue": "Dok1"}, "b": {"issue": "B"}, "c": {"issue": "B"}}
    order = BehaviorSelector().narrow(POOL, {"suites": suites, "vectors": vectors})
    assert order.hashes[0] == "a"
    # c shows an output the issue quotes (and the base did not): first whatever the votes.
    vectors = {"a": {"issue": "Dok1"}, "b": {"issue": "Dok1"}, "c": {"issue": "Dok2"}}
    evidence = {"suites": suites, "vectors": vectors, "expected": {"c": [0]}}
    assert BehaviorSelector().narrow(POOL, evidence).hashes[0] == "c"
    # Without it, the a+b cluster's votes decide.
    evidence["expected"] = {}
    assert BehaviorSelector().narrow(POOL, evidence).hashes == ("b", "a", "c")
