"""The candidate's patch is applied as the official harness applies it: `git apply`, then
`git apply --reject`, then `patch --fuzz=5`, each on the tree the last try left, never on a
tree reset to the base commit, which would also undo what the environment's set-up changed in
the testbed (sphinx's seds of tox.ini and setup.py; leaderboard patches that carry those very
edits must fail to apply, as they did officially)."""

from __future__ import annotations

import pytest

from harness.evaluation.evaluator import evaluate
from harness.evaluation.status import EvalStatus
from harness.sandboxes.docker_sandbox import DockerSandbox, SandboxLimits
from tests.tiny_repo import build_tiny_task, diff_of, tiny_setup

# What the environment's set-up leaves uncommitted in the testbed.
SET_UP = "sed -i 's/    return 1/    return 1  # set up/' src/app.py"


@pytest.fixture(scope="module")
def tiny(docker_client, tmp_path_factory):
    built = build_tiny_task(docker_client, tmp_path_factory.mktemp("apply"), install=SET_UP)
    yield built
    docker_client.images.remove(built.image, force=True)


@pytest.mark.docker
def test_a_patch_against_what_the_set_up_changed_fails_to_apply_as_officially(
    docker_client, tiny
):
    # Made against the committed tree: it rewrites the line the set-up changed.
    clashing = diff_of(tiny.repo, {"src/app.py": "def answer():\n    return 42\n\n\n"
                                                 "def other():\n    return 1 + 0\n"})
    with DockerSandbox.start(docker_client, tiny.image, SandboxLimits()) as sandbox:
        assert "# set up" in sandbox.read_file("src/app.py").decode()
        outcome = evaluate(tiny.task, clashing, sandbox, tiny_setup())
        assert outcome.status is EvalStatus.PATCH_FAILED
        # A patch that leaves that line alone applies at once, and the set-up's change stays.
        kept = evaluate(tiny.task, tiny.task.patch, sandbox, tiny_setup())
        assert kept.status is EvalStatus.RESOLVED and kept.apply_method == "git-apply"
        diff = sandbox.exec("git diff HEAD -- src/app.py").stdout
        assert "# set up" in diff
