"""A throwaway repository, a task on it and its real instance image, for evaluation tests.

Not a test module: pytest collects only test_*.py.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.evaluation.evaluator import TestSetup
from harness.images.build import prepare_instance_image
from harness.repos import RepoSource
from harness.tasks import Task

SPEC = """\
name: tiny
repos: ["local/*"]
suite: bullseye
test_cmd: python3 -m pytest -rA -p no:cacheprovider
test_timeout: 60
"""

TEST_FILE = """\
import sys

sys.path.insert(0, "src")

from app import answer, other


def test_answer():
    assert answer() == 42


def test_other():
    assert other() == 1
"""


def git(*args: str, cwd: Path, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, input=stdin
    )
    return done.stdout


def diff_of(repo: Path, files: dict[str, str]) -> str:
    """The diff that writes `files` over the base commit (the tree is put back after)."""
    for path, content in files.items():
        target = repo / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git("add", "-A", cwd=repo)
    text = git("diff", "--cached", "HEAD", cwd=repo)
    git("reset", "-q", "--hard", "HEAD", cwd=repo)
    git("clean", "-qfd", cwd=repo)
    return text


@dataclass
class TinyTask:
    repo: Path
    task: Task
    image: str

    def patch(self, answer_body: str) -> str:
        """A candidate whose `answer()` runs `answer_body` (indented by the caller's lines)."""
        source = (
            "def answer():\n"
            + "".join(f"    {line}\n" for line in answer_body.splitlines())
            + "\n\ndef other():\n    return 1\n"
        )
        return diff_of(self.repo, {"src/app.py": source})


def build_tiny_task(
    docker_client: Any, root: Path, instance_id: str = "local__app-1", install: str = ""
) -> TinyTask:
    """`install`: a shell step the image runs in the testbed (its changes stay uncommitted, as
    the official environment set-up leaves them)."""
    repo = root / "repos" / "local" / "app"
    (repo / "src").mkdir(parents=True)
    git("init", "--quiet", cwd=repo)
    (repo / "src" / "app.py").write_text("def answer():\n    return 41\n\n\ndef other():\n"
                                         "    return 1\n")
    git("add", "-A", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "base", cwd=repo)
    base = git("rev-parse", "HEAD", cwd=repo).strip()
    test_patch = diff_of(repo, {"tests/test_app.py": TEST_FILE})
    gold = diff_of(repo, {"src/app.py": "def answer():\n    return 42\n\n\ndef other():\n"
                                        "    return 1\n"})
    (root / "specs").mkdir(exist_ok=True)
    spec = SPEC + (f"install: [{json.dumps(install)}]\n" if install else "")
    (root / "specs" / "tiny.yaml").write_text(spec)
    task = Task(
        instance_id, "local/app", base, "answer() should be 42", gold, test_patch,
        ("tests/test_app.py::test_answer",), ("tests/test_app.py::test_other",),
    )
    image = prepare_instance_image(
        docker_client, task, RepoSource(root / "repos", root / "cache"), spec_dir=root / "specs"
    )
    return TinyTask(repo, task, image)


def tiny_setup(timeout: float = 60.0) -> TestSetup:
    return TestSetup("python3 -m pytest -rA -p no:cacheprovider", "pytest", timeout)
