"""A second, independent reading of a pytest run: its JUnit XML report.

The log parser reads what the test run printed, which code under test can forge (print
"PASSED ..." lines, then exit). pytest also writes a JUnit XML file, here to a random path the
candidate cannot know before it runs. A listed test that the log says passed must pass in that
file too; when the two disagree, the evaluation is flagged as suspicious (its verdict stays).
"""

from __future__ import annotations

import re
import secrets
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Mapping

from harness.evaluation.status import TestStatus

_PASSING = frozenset({TestStatus.PASSED, TestStatus.XFAIL})
# JUnit XML is read only when the test command runs pytest, whose log parser this is.
_PYTEST_COMMAND = re.compile(r"(^|[\s/])(py\.test|pytest)(\s|$)|-m\s+pytest\b")


def supports_junit(test_cmd: str, log_parser: str) -> bool:
    return log_parser == "pytest" and bool(_PYTEST_COMMAND.search(test_cmd))


def random_report_path(work_dir: str) -> str:
    return f"{work_dir}/{secrets.token_hex(12)}/report.xml"


def junit_key(nodeid: str) -> tuple[str, str]:
    """(classname, name) under which pytest's junitxml plugin reports a test node id."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def parse_junit(xml_text: str) -> dict[tuple[str, str], bool]:
    """(classname, name) -> passed, for every test case of the report.

    Raises ValueError when the text is not JUnit XML."""
    try:
        root = ElementTree.fromstring(xml_text)
    except ElementTree.ParseError as error:
        raise ValueError(f"not XML: {error}") from None
    results: dict[tuple[str, str], bool] = {}
    for case in root.iter("testcase"):
        key = (case.get("classname", ""), case.get("name", ""))
        failed = case.find("failure") is not None or case.find("error") is not None
        skipped = case.find("skipped")
        xfailed = skipped is not None and skipped.get("type") == "pytest.xfail"
        passed = not failed and (skipped is None or xfailed)
        # A test reported twice (a teardown error after a pass) passed only if both did.
        results[key] = results.get(key, True) and passed
    return results


def _lookup(results: Mapping[tuple[str, str], bool], nodeid: str) -> bool | None:
    key = junit_key(nodeid)
    if key in results:
        return results[key]
    # SWE-bench lists cut some parametrized names at their first space: match the prefix.
    prefixed = [passed for (cls, name), passed in results.items()
                if cls == key[0] and name.startswith(key[1])]
    return all(prefixed) if prefixed else None


def disagreement(
    log_statuses: Mapping[str, TestStatus], xml_text: str | None, listed: Iterable[str]
) -> str:
    """Why the JUnit report contradicts the log on the listed tests; "" when it does not.

    `xml_text` None: no report was written although the log shows passing listed tests."""
    passing_in_log = [name for name in listed if log_statuses.get(name) in _PASSING]
    if not passing_in_log:
        return ""  # nothing the log claims that the report could deny
    if xml_text is None:
        return (f"the log shows {len(passing_in_log)} listed tests passing but pytest wrote "
                "no JUnit report")
    try:
        results = parse_junit(xml_text)
    except ValueError as error:
        return f"pytest's JUnit report is unreadable ({error})"
    denied = [name for name in passing_in_log if _lookup(results, name) is not True]
    if not denied:
        return ""
    missing = sum(1 for name in denied if _lookup(results, name) is None)
    return (f"the log shows {len(denied)} listed tests passing that pytest's JUnit report "
            f"does not ({missing} absent from it), e.g. {denied[0]}")
