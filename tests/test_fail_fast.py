"""Fail fast: the FAIL_TO_PASS tests alone first; a failure there ends the evaluation, and the
verdict is the one the full run gives."""

from __future__ import annotations

import pytest

from harness.evaluation.evaluator import evaluate
from harness.evaluation.fail_fast import evaluate_fail_fast, stage_one_targets
from harness.evaluation.status import EvalStatus
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits
from tests.tiny_repo import build_tiny_task, diff_of, tiny_setup


def test_each_runner_is_given_the_tests_by_name():
    ids = ["tests/test_a.py::test_x", "tests/test_a.py::test_y[1-2]"]
    assert stage_one_targets("pytest", ["tests/test_a.py"], ids) == ids
    # pytest under the parser a repository's output needs (sphinx runs it through tox).
    for parser in ("sphinx", "requests", "pylint", "astropy", "xarray", "seaborn", "flask"):
        assert stage_one_targets(parser, ["tests/test_a.py"], ids) == ids
    assert stage_one_targets(
        "sympy", ["sympy/core/tests/test_basic.py", "data.json"], ["test_subs", "test_xreplace"]
    ) == ["sympy/core/tests/test_basic.py", "-k", "test_subs", "test_xreplace"]
    assert stage_one_targets(
        "django", [], ["test_reverse (urlpatterns.tests.SimplifiedURLTests)"]
    ) == ["urlpatterns.tests.SimplifiedURLTests.test_reverse"]


def test_names_a_runner_cannot_take_leave_the_full_run_alone():
    assert stage_one_targets("pytest", [], ["test_x"]) is None  # not a node id
    assert stage_one_targets("django", [], ["Regression for #12345."]) is None  # a docstring
    assert stage_one_targets("sympy", [], []) is None
    assert stage_one_targets("some_other_runner", [], ["a::b"]) is None


@pytest.fixture(scope="module")
def tiny(docker_client, tmp_path_factory):
    built = build_tiny_task(docker_client, tmp_path_factory.mktemp("failfast"))
    yield built
    docker_client.images.remove(built.image, force=True)


@pytest.mark.docker
def test_a_failing_candidate_is_decided_by_stage_one_and_gold_by_the_full_run(
    docker_client, tiny
):
    wrong = tiny.patch("return 40")
    # Fixes answer() but breaks other(): only the full run (PASS_TO_PASS) can tell.
    breaks_other = diff_of(tiny.repo, {"src/app.py": "def answer():\n    return 42\n\n\n"
                                                     "def other():\n    return 2\n"})
    setup = tiny_setup()
    with DockerSandbox.start(docker_client, tiny.image, SandboxLimits()) as sandbox:
        fast = {name: evaluate_fail_fast(tiny.task, patch, sandbox, setup)
                for name, patch in (("wrong", wrong), ("gold", tiny.task.patch),
                                    ("breaks_other", breaks_other))}
        full = {name: evaluate(tiny.task, patch, sandbox, setup)
                for name, patch in (("wrong", wrong), ("gold", tiny.task.patch),
                                    ("breaks_other", breaks_other))}
    assert {name: outcome.status for name, outcome in fast.items()} == {
        name: outcome.status for name, outcome in full.items()
    } == {"wrong": EvalStatus.UNRESOLVED, "gold": EvalStatus.RESOLVED,
          "breaks_other": EvalStatus.UNRESOLVED}
    assert fast["wrong"].decided_by_stage == 1
    # Stage 1 ran the FAIL_TO_PASS test alone.
    assert "test_answer" in fast["wrong"].test_output
    assert "test_other" not in fast["wrong"].test_output
    assert fast["gold"].decided_by_stage == 2 and fast["breaks_other"].decided_by_stage == 2
    assert all(outcome.decided_by_stage == 2 for outcome in full.values())


SYMPY_STAGE_ONE = """\
sympy/core/tests/test_basic.py[1]
test_immutable F                                                          [FAIL]

________________________________________________________________________________
________________ sympy/core/tests/test_basic.py:test_immutable _________________
Traceback (most recent call last):
AssertionError

============= tests finished: 0 passed, 1 failed, in 0.09 seconds ==============
"""


def test_a_sympy_failure_is_read_from_its_report_when_its_line_is_not_readable():
    from harness.evaluation.evaluator import EvaluationOutcome
    from harness.evaluation.fail_fast import conclusive_failures
    from harness.evaluation.grading import grade

    outcome = EvaluationOutcome(
        EvalStatus.UNRESOLVED, "git-apply", "", SYMPY_STAGE_ONE, "",
        grade({}, ["test_immutable"], []), 1.0, 1.0,
    )
    assert conclusive_failures(outcome, ["test_immutable"], "sympy") == ["test_immutable"]
    assert conclusive_failures(outcome, ["test_immutable_other"], "sympy") == []


def test_every_specified_runner_can_be_given_test_names():
    """A spec whose parser fail fast does not know would silently run every candidate's full
    test command: each repository's runner must be one stage 1 can name tests to."""
    from harness.evaluation.fail_fast import PYTEST_RUNNERS
    from harness.images.specs import load_specs

    unknown = {spec.name: spec.log_parser for spec in load_specs()
               if spec.log_parser not in PYTEST_RUNNERS | {"sympy", "django"}}
    assert unknown == {}
