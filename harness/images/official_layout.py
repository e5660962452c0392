"""Prebuilt images in the official layout, made runnable by our sandbox, and graded as the
official harness grades them.

The official layout: the repository at /testbed (installed, at the base commit, full history),
its environment the conda env `testbed` under /opt/miniconda3. Our sandbox keeps /testbed on a
size-bounded tmpfs and copies a pristine tree in from /opt/testbed, so a pulled image is adapted
once, locally: its /testbed moves to /opt/testbed and the env's bin folder goes first on PATH (so
every command, the agent's too, runs with the env active). The adapted image is labelled
harness=1 and names the pulled image it came from, which is how `sandbox prune` finds both.

Tests run as the official eval script runs them: the env activated by sourcing
/opt/miniconda3/bin/activate, the test files restored at the base commit, the test patch
applied, then the official test command with the official test directives.
"""

from __future__ import annotations

from collections.abc import Callable

import docker

from harness.evaluation.eval_script import test_targets
from harness.evaluation.evaluator import TestSetup
from harness.images.build import PRISTINE, _build_image, _labels, _tag_part
from harness.images.debootstrap import image_exists
from harness.images.registry import PulledImage
from harness.patches import diff_targets
from harness.sandboxes.base import TESTBED
from harness.tasks import Task

CONDA_ROOT = "/opt/miniconda3"
CONDA_ENV = "testbed"
ENV_PREFIX = f"{CONDA_ROOT}/envs/{CONDA_ENV}"
# As the official eval script does it, in bash (the script and the test command run in bash on
# these images): `conda` is a shell function that sourcing `activate` defines. The evaluation
# ends with EXIT_ENV_FAILED when a line fails, rather than falling back on the image's PATH.
ACTIVATE = f"source {CONDA_ROOT}/bin/activate\nconda activate {CONDA_ENV}"
# What the evaluation's log shows of the environment that activation left.
SHOW_ENV = 'echo "conda-env: ${CONDA_DEFAULT_ENV:-none} python: $(command -v python)" >&2'
PREAMBLE = f"{ACTIVATE}\n{SHOW_ENV}"
SHELL = "bash"
ADAPT_VERSION = 1

# The official test command of each repository (SWE-bench's specs; the same for all versions
# of a repository except where noted), with the log parser that reads its output.
OFFICIAL_TESTS: dict[str, tuple[str, str]] = {
    "astropy/astropy": ("pytest -rA -vv -o console_output_style=classic --tb=no", "pytest"),
    "django/django": (
        "./tests/runtests.py --verbosity 2 --settings=test_sqlite --parallel 1", "django",
    ),
    "matplotlib/matplotlib": ("pytest -rA", "pytest"),
    "mwaskom/seaborn": ("pytest --no-header -rA", "pytest"),
    "pallets/flask": ("pytest -rA", "pytest"),
    "psf/requests": ("pytest -rA", "pytest"),
    "pydata/xarray": ("pytest -rA", "pytest"),
    "pylint-dev/pylint": ("pytest -rA", "pytest_options"),
    "pytest-dev/pytest": ("pytest -rA", "pytest"),
    "scikit-learn/scikit-learn": ("pytest -rA", "pytest"),
    "sphinx-doc/sphinx": ("tox --current-env -epy39 -v --", "pytest"),
    "sympy/sympy": (
        "PYTHONWARNINGS='ignore::UserWarning,ignore::SyntaxWarning' bin/test -C --verbose",
        "sympy",
    ),
}
OFFICIAL_TEST_TIMEOUT = 1800.0


def official_directives(repo: str, test_files: list[str]) -> list[str]:
    """What the official harness hands its test command: the test files (`diff_targets` of the
    test patch), except that Django's runner takes dotted module names relative to tests/."""
    files = test_targets(test_files)
    if repo != "django/django":
        return files
    modules = []
    for path in files:
        name = path.removeprefix("tests/").removesuffix(".py")
        modules.append(name.replace("/", "."))
    return modules


def official_test_setup(task: Task, own: TestSetup | None) -> TestSetup:
    """The test setup for `task` on an official-layout image: our environment spec's official
    command and parser where one matches (`own`), else the official table; always in bash, with
    the conda activation and the official directives."""
    not_graded: tuple[str, ...] = ()
    if own is not None:
        command = own.official_cmd or own.test_cmd
        parser, timeout = own.log_parser, own.test_timeout
        # The sandbox has no network, whichever image it runs.
        not_graded = own.not_graded
    elif task.repo in OFFICIAL_TESTS:
        command, parser = OFFICIAL_TESTS[task.repo]
        timeout = OFFICIAL_TEST_TIMEOUT
    else:
        raise LookupError(
            f"no test command known for {task.repo} on a prebuilt image: add an environment "
            "spec for it (harness/images/environments) or use --images build"
        )
    return TestSetup(
        test_cmd=command,
        log_parser=parser,
        test_timeout=timeout,
        preamble=PREAMBLE,
        shell=SHELL,
        test_targets=tuple(official_directives(task.repo, diff_targets(task.test_patch))),
        not_graded=not_graded,
    )


def _image_path(client: docker.DockerClient, reference: str) -> str:
    env = client.images.get(reference).attrs.get("Config", {}).get("Env") or []
    for entry in env:
        if entry.startswith("PATH="):
            return entry.removeprefix("PATH=")
    return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def adapt_official_image(
    client: docker.DockerClient,
    task: Task,
    pulled: PulledImage,
    log: Callable[[str], None] = lambda line: None,
) -> str:
    """The local tag of the sandbox-ready copy of a pulled official-layout image (built once
    per pulled image id). Raises ImageBuildError when the image lacks the official layout."""
    tag = f"harness-prebuilt:{_tag_part(task.instance_id)}-{pulled.image_id[7:19]}"
    if image_exists(client, tag):
        return tag
    from harness.locks import file_lock

    with file_lock(tag):
        if image_exists(client, tag):
            return tag
        log(f"adapting {pulled.reference} for the sandbox as {tag}")
        check = (
            f"test -d {TESTBED}/.git || {{ echo 'no git repository at {TESTBED}: not an "
            f"official-layout image' >&2; exit 1; }}; test -f {CONDA_ROOT}/bin/activate || "
            f"{{ echo 'no {CONDA_ROOT}/bin/activate: not an official-layout image' >&2; exit 1; }}"
        )
        move = f"rm -rf {PRISTINE} && mkdir -p /opt && mv {TESTBED} {PRISTINE} && mkdir {TESTBED}"
        image_path = _image_path(client, pulled.reference)
        path = f"{ENV_PREFIX}/bin:{CONDA_ROOT}/condabin:{CONDA_ROOT}/bin:{image_path}"
        env = {"PATH": path, "CONDA_DEFAULT_ENV": CONDA_ENV, "CONDA_PREFIX": ENV_PREFIX}
        labels = _labels(
            "prebuilt",
            pulled.image_id,
            **{
                "harness.instance": task.instance_id,
                "harness.source": pulled.reference,
                "harness.source_digest": pulled.digest,
                "harness.adapt_version": str(ADAPT_VERSION),
            },
        )
        return _build_image(client, pulled.reference, tag, labels, [("/", check), ("/", move)],
                            log, env=env)
