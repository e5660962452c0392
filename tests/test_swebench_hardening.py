"""Grading hardened as in the official 5.x harness, each rule attacked by a candidate written to
break it, on a real SWE-bench Lite instance (pallets__flask-5063) in a real sandbox:

- a conftest.py that reports every test as passed is removed before the tests run;
- a FAIL_TO_PASS test that the candidate makes skip counts as failed;
- edits to test files (the test patch's and other test-like files) are restored first;
- a test run that crashes, or hangs past its timeout, is an error, never a pass.

The rules themselves are also checked on statuses alone (fast, no Docker).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from data_paths import LITE, MIRRORS

from harness.evaluation.evaluator import TestSetup, evaluate
from harness.evaluation.grading import grade
from harness.evaluation.status import EvalStatus, TestStatus

ROOT = Path(__file__).resolve().parents[1]
INSTANCE = "pallets__flask-5063"


def test_official_rules_on_statuses():
    s = {
        "ok": TestStatus.PASSED, "xfail": TestStatus.XFAIL, "skip": TestStatus.SKIPPED,
        "fail": TestStatus.FAILED, "error": TestStatus.ERROR, "xpass": TestStatus.XPASS,
    }
    assert grade(s, ["ok", "xfail"], ["ok", "skip"]).resolved  # skipped P2P is maintained
    assert not grade(s, ["ok", "skip"], []).resolved  # skipped F2P fails (5.x)
    assert not grade(s, ["ok"], ["fail"]).resolved
    assert not grade(s, ["ok"], ["error"]).resolved
    assert not grade(s, ["missing"], []).resolved
    assert not grade(s, ["ok"], ["missing"]).resolved
    # XPASS is no status of the official harness: counted neither way, as there.
    assert grade(s, ["ok", "xpass"], ["xpass"]).resolved


# --- real instance -------------------------------------------------------------------------

needs_real = [
    pytest.mark.docker,
    pytest.mark.slow,
    pytest.mark.skipif(not LITE.is_file(), reason=f"shared SWE-bench data absent ({LITE})"),
    pytest.mark.skipif(
        not (MIRRORS / "pallets" / "flask").exists(),
        reason=f"no local mirror of pallets/flask under {MIRRORS}",
    ),
]


def _real(func):
    for rule in needs_real:
        func = rule(func)
    return func


def lite_task(instance_id: str):
    from harness.tasks import task_from_row

    for line in LITE.read_text().splitlines():
        row = json.loads(line)
        if row["instance_id"] == instance_id:
            return task_from_row(row)
    raise AssertionError(instance_id)


@pytest.fixture(scope="module")
def real(docker_client, tmp_path_factory):
    from harness.images.build import prepare_instance_image
    from harness.images.specs import spec_for
    from harness.repos import RepoSource
    from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits

    task = lite_task(INSTANCE)
    repos = RepoSource(repos_dir=MIRRORS, cache_dir=ROOT / "results" / "cache")
    image = prepare_instance_image(docker_client, task, repos)
    spec = spec_for(task.repo, task.version)
    setup = TestSetup(spec.test_cmd, spec.log_parser, float(spec.test_timeout))
    # A work tree at the base commit, to write candidates as real diffs.
    tree = tmp_path_factory.mktemp("flask") / "tree"
    repos.checkout_testbed(task.repo, task.base_commit, tree, depth=1)
    sandbox = DockerSandbox.start(docker_client, image, SandboxLimits())
    yield task, sandbox, setup, tree
    sandbox.close()


def candidate(tree: Path, files: dict[str, str], base_patch: str = "") -> str:
    """A diff against the base commit: `base_patch` applied, then `files` appended to (or
    created). The tree is reset afterwards."""
    def git(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(["git", *args], cwd=tree, input=stdin, capture_output=True,
                              text=True, check=True).stdout
    try:
        if base_patch:
            git("apply", "-", stdin=base_patch)
        for path, text in files.items():
            target = tree / path
            target.parent.mkdir(parents=True, exist_ok=True)
            old = target.read_text() if target.exists() else ""
            target.write_text(old + text)
        git("add", "-A")
        return git("diff", "--cached", "HEAD")
    finally:
        git("reset", "-q", "--hard", "HEAD")
        git("clean", "-qfd")


SPOOF_CONFTEST = """
import pytest


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    outcome.get_result().outcome = "passed"
"""


@_real
@pytest.mark.parametrize("where", ["conftest.py", "tests/conftest.py"])
def test_a_conftest_that_passes_everything_is_removed_or_restored(real, where):
    task, sandbox, setup, tree = real
    patch = candidate(tree, {where: SPOOF_CONFTEST})
    outcome = evaluate(task, patch, sandbox, setup)
    assert outcome.status is EvalStatus.UNRESOLVED, outcome.test_output[-2000:]
    assert outcome.grade.failing("FAIL_TO_PASS") == list(task.FAIL_TO_PASS)


@_real
def test_gold_with_a_skip_of_the_fail_to_pass_tests_is_not_resolved(real):
    task, sandbox, setup, tree = real
    # The fixed `flask routes` skips whatever test calls it: the fail-to-pass tests among them.
    skip = (
        "\n\ndef _skip_instead(*args, **kwargs):\n    import pytest\n\n"
        "    pytest.skip('spoof')\n\n\nroutes_command.callback = _skip_instead\n"
    )
    patch = candidate(tree, {"src/flask/cli.py": skip}, base_patch=task.patch)
    outcome = evaluate(task, patch, sandbox, setup)
    assert outcome.status is EvalStatus.UNRESOLVED, outcome.test_output[-2000:]
    f2p = [v for v in outcome.grade.verdicts if v.kind == "FAIL_TO_PASS"]
    # `pytest -rA` reports a skip by location (`SKIPPED [1] tests/test_cli.py:460: spoof`), so
    # the test comes out missing, as from the official parser; a skip by name fails too.
    assert f2p and all(v.status in (None, TestStatus.SKIPPED) for v in f2p)
    assert all(v.counts_against for v in f2p)
    assert "SKIPPED" in outcome.test_output


@_real
def test_edits_to_test_files_are_restored_before_the_test_patch(real):
    task, sandbox, setup, tree = real
    # XFAIL counts as a pass: this would resolve the task without a fix, if it survived.
    neuter = (
        "\n\n" + "@" + "pytest.fixture(autouse=True)\ndef _spoof(request):\n"
        "    if 'TestRoutes' in request.node.nodeid:\n        pytest.xfail('spoof')\n"
    )
    patch = candidate(tree, {"tests/test_cli.py": "\nimport pytest\n" + neuter})
    outcome = evaluate(task, patch, sandbox, setup)
    assert outcome.status is EvalStatus.UNRESOLVED
    assert [v.status for v in outcome.grade.verdicts if v.kind == "FAIL_TO_PASS"] == [
        TestStatus.FAILED, TestStatus.FAILED]


@_real
def test_a_test_run_that_crashes_is_an_error(real):
    task, sandbox, setup, tree = real
    crash = (
        "\nimport os as _os\nimport sys as _sys\n"
        "if 'pytest' in _sys.modules:\n    _os._exit(0)\n"
    )
    patch = candidate(tree, {"src/flask/__init__.py": crash}, base_patch=task.patch)
    outcome = evaluate(task, patch, sandbox, setup)
    assert outcome.status is EvalStatus.ERROR
    assert not outcome.status.resolved


@_real
def test_a_test_run_that_hangs_is_a_timeout(real):
    task, sandbox, setup, tree = real
    hang = "\nimport sys as _sys\nif 'pytest' in _sys.modules:\n    while True:\n        pass\n"
    patch = candidate(tree, {"src/flask/__init__.py": hang}, base_patch=task.patch)
    quick = TestSetup(setup.test_cmd, setup.log_parser, 15.0)
    outcome = evaluate(task, patch, sandbox, quick)
    assert outcome.status is EvalStatus.TIMEOUT
    assert not outcome.status.resolved


@_real
def test_gold_itself_resolves_in_this_setup(real):
    task, sandbox, setup, _ = real
    assert evaluate(task, task.patch, sandbox, setup).status is EvalStatus.RESOLVED
