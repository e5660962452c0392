"""Environment specs: how to install and test one (repository, version) family.

Specs are data, kept as YAML in `sandboxes/environments/` at the project root. A file holds one
spec (a mapping) or several (a list of mappings, e.g. one per version of a repository). A task's
spec is the first one, files in name order, whose `repos` and `versions` globs match.
"""

from __future__ import annotations

import fnmatch
import functools
import re
import shlex
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.evaluation.evaluator import TestSetup
from harness.images.debootstrap import SUITE_PYTHON

# libyaml's loader where PyYAML was built with it (the pure-Python one is ~50 times slower).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Package data, so a wheel install finds the specs too (sandboxes/environments at the project
# root links here).
DEFAULT_SPEC_DIR = Path(__file__).resolve().parent / "environments"
# Dot-separated labels of letters, digits and inner hyphens (what /etc/hosts may hold).
_HOST_NAME = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*")


class SpecError(ValueError):
    """No usable environment spec: a malformed file, or none matches the task."""


class EnvironmentSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Short id; part of the env image tag, so [a-z0-9._-] only.")
    repos: tuple[str, ...] = Field(description="Shell globs over 'owner/name', e.g. 'demo/*'.")
    versions: tuple[str, ...] = Field(
        default=("*",), description="Shell globs over the task's `version` field."
    )
    suite: str = Field(default="bullseye", description="Debian suite of the base image.")
    python_official: str = Field(
        default="",
        description="The Python of the official SWE-bench spec (MAP_REPO_VERSION_TO_SPECS); "
        "ours is the suite's (`python_version`). Empty: the same as ours.",
    )
    unsupported: str = Field(
        default="",
        description="Why tasks of this spec cannot be evaluated here; non-empty makes spec_for "
        "refuse them before any image is built.",
    )
    differs: dict[str, str] = Field(
        default_factory=dict,
        description="Packages pinned in the official spec that this one pins otherwise or "
        "leaves out: name -> why (a test holds this against the official specs).",
    )
    apt: tuple[str, ...] = Field(
        default=(),
        description="Debian packages added to the base image (compilers, graphviz, ...).",
    )
    pip: tuple[str, ...] = Field(
        default=(), description="pip requirements installed into the env image (may be empty)."
    )
    extra_wheels: tuple[str, ...] = Field(
        default=(),
        description="Requirements put in the wheelhouse (with their dependencies) but not "
        "installed in the env image, each resolved on its own so they may conflict with `pip`: "
        "for an instance whose base commit pins a dependency otherwise than the environment "
        "commit (officially `pip install -e .` fetched that version from PyPI).",
    )
    install: tuple[str, ...] = Field(
        default=(),
        description="Shell commands run in /testbed when building the instance image. "
        "`{version}` is replaced by the task's version. They run offline: pip finds packages "
        "only in the env image's wheelhouse (PIP_NO_INDEX, PIP_FIND_LINKS are set).",
    )
    install_env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables of the install commands (`{version}` replaced), "
        "e.g. SETUPTOOLS_SCM_PRETEND_VERSION where the testbed has no tags.",
    )
    history: Literal["full", "shallow"] = Field(
        default="full",
        description="`full`: the testbed has every commit up to the base commit; `shallow`: "
        "only the base commit (depth 1), which keeps images of big repositories small.",
    )
    test_cmd: str = Field(description="Command that runs tests; test files are appended to it.")
    official_test_cmd: str = Field(
        default="",
        description="The official test command where `test_cmd` wraps it with what only our "
        "images have (requests' local httpbin): images of the official layout run this one. "
        "Empty: `test_cmd`.",
    )
    test_args: Literal["files", "django_modules"] = Field(
        default="files",
        description="How the test patch's files become the runner's arguments: `files` as "
        "they are; `django_modules` as the official harness does for django's runtests.py "
        "(`tests/a/b.py` -> `a.b`).",
    )
    test_env: dict[str, str] = Field(
        default_factory=dict,
        description="Environment variables exported before the test command (the official "
        "`eval_commands` exports, e.g. django's locale).",
    )
    log_parser: str = Field(default="pytest", description="Name of the test-log parser to use.")
    test_timeout: float = Field(default=1800, gt=0, description="Seconds the test run may take.")
    network_tests: tuple[str, ...] = Field(
        default=(),
        description="Globs over test ids that need the internet (a real remote host, a "
        "routable-but-silent address, a certificate only the real host has): marked, not "
        "faked; they are left out of grading (FAIL_TO_PASS ones unless none would be left), "
        "so a verdict on such a task may differ from the official one.",
    )
    loopback_hosts: tuple[str, ...] = Field(
        default=(),
        description="Host names that resolve to 127.0.0.1 in the task's sandboxes (/etc/hosts "
        "entries made when the container is created, which may then bind ports below 1024 on "
        "its own loopback): for a suite that names a service (requests' httpbin.org) its test "
        "command serves inside the sandbox. The sandbox still has no network.",
    )
    cpus: float | None = Field(
        default=None,
        gt=0,
        description="CPUs the official harness gives the tests (its `nano_cpus`; pylint 2.14+: "
        "2, whose suite runs jobs in parallel): this spec's sandboxes get at least this many, "
        "whatever --cpus says. None: --cpus.",
    )
    notes: str = Field(default="", description="Where the spec comes from; free text.")

    @field_validator("name")
    @classmethod
    def _tag_safe(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", value):
            raise ValueError("must be lowercase letters, digits, '.', '_' or '-'")
        return value

    @field_validator("loopback_hosts")
    @classmethod
    def _host_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for host in value:
            if not _HOST_NAME.fullmatch(host):
                raise ValueError(f"not a host name: {host!r}")
        return value

    @field_validator("suite")
    @classmethod
    def _known_suite(cls, value: str) -> str:
        if value not in SUITE_PYTHON:
            raise ValueError(f"unknown suite; known: {', '.join(sorted(SUITE_PYTHON))}")
        return value

    @property
    def python_version(self) -> str:
        """The Python of the spec's Debian suite (3.9 bullseye, 3.11 bookworm, 3.13 trixie)."""
        return SUITE_PYTHON[self.suite]

    def test_setup(self) -> TestSetup:
        """How tasks of this spec run their tests: command (with `test_env` and its argument
        rule), log parser, time limit, and the network tests left out of grading."""
        return TestSetup(
            self.runner_cmd, self.log_parser, float(self.test_timeout),
            not_graded=tuple(self.network_tests),
            official_cmd=self._with_exports(self.official_test_cmd or self.test_cmd),
        )

    @property
    def official_python(self) -> str:
        return self.python_official or self.python_version

    @property
    def other_python(self) -> bool:
        """Whether tasks of this spec run on another Python than the official harness uses."""
        return self.official_python != self.python_version

    @property
    def runner_cmd(self) -> str:
        """The shell command the evaluation script runs, test files appended: `test_cmd` with
        `test_env` exported and, for `django_modules`, the files turned into module names."""
        command = self.test_cmd
        if self.test_args == "django_modules":
            # A shell function receives the appended paths as "$@"; the same rewrite as the
            # official get_test_directives: drop `.py` and a leading `tests/`, `/` -> `.`.
            command = (
                'harness_modules() { set -- $(for p in "$@"; do p=${p%.py}; p=${p#tests/}; '
                'echo "$p" | tr / .; done); ' + command + ' "$@"; }; harness_modules'
            )
        return self._with_exports(command)

    def _with_exports(self, command: str) -> str:
        """`command` after `test_env`'s exports (the official eval_commands' exports)."""
        if self.test_env:
            exports = " ".join(
                f"{key}={shlex.quote(value)}" for key, value in sorted(self.test_env.items())
            )
            command = f"export {exports}; {command}"
        return command

    def install_steps(self, version: str) -> list[str]:
        """The install commands for a task of `version`, with their environment exported."""
        exports = " ".join(
            f"{key}={shlex.quote(value.replace('{version}', version))}"
            for key, value in sorted(self.install_env.items())
        )
        prefix = f"export {exports}; " if exports else ""
        return [prefix + command.replace("{version}", version) for command in self.install]

    def matches(self, repo: str, version: str) -> bool:
        return any(fnmatch.fnmatchcase(repo, p) for p in self.repos) and any(
            fnmatch.fnmatchcase(version, p) for p in self.versions
        )


def load_specs(spec_dir: Path | None = None) -> list[EnvironmentSpec]:
    """All specs in `spec_dir` (default: the project's sandboxes/environments), in file order.

    Raises SpecError naming the file when one is malformed or two share a name. Parsed once per
    version of the folder's files (a spec is looked up for every task).
    """
    folder = Path(spec_dir) if spec_dir is not None else DEFAULT_SPEC_DIR
    if not folder.is_dir():
        raise SpecError(f"environment spec folder not found: {folder}")
    paths = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    stamps = tuple((str(path), path.stat().st_mtime_ns, path.stat().st_size) for path in paths)
    return list(_parsed_specs(stamps))


@functools.lru_cache(maxsize=8)
def _parsed_specs(stamps: tuple[tuple[str, int, int], ...]) -> tuple[EnvironmentSpec, ...]:
    specs: list[EnvironmentSpec] = []
    for name, _, _ in stamps:
        path = Path(name)
        try:
            data = yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
            entries = data if isinstance(data, list) else [data]
            found = [EnvironmentSpec.model_validate(entry) for entry in entries]
        except (yaml.YAMLError, ValidationError) as error:
            raise SpecError(f"{path}: not a valid environment spec: {error}") from None
        for spec in found:
            if any(other.name == spec.name for other in specs):
                raise SpecError(f"{path}: spec name {spec.name!r} is used by another spec")
            specs.append(spec)
    return tuple(specs)


def matching_spec(
    repo: str, version: str, spec_dir: Path | None = None
) -> EnvironmentSpec | None:
    """The first spec whose globs match, supported or not; None when there is none."""
    return next((spec for spec in load_specs(spec_dir) if spec.matches(repo, version)), None)


def spec_for(repo: str, version: str, spec_dir: Path | None = None) -> EnvironmentSpec:
    """The environment spec for a task's repository and version.

    Raises SpecError when none matches, naming the folder where a spec should be added, or
    when the one that matches is marked unsupported, giving its reason.
    """
    folder = Path(spec_dir) if spec_dir is not None else DEFAULT_SPEC_DIR
    spec = matching_spec(repo, version, folder)
    if spec is None:
        raise SpecError(
            f"no environment spec matches repo {repo!r} version {version!r}; add a YAML file "
            f"to {folder} whose `repos` and `versions` globs match it (see demo.yaml there)"
        )
    if spec.unsupported:
        raise SpecError(
            f"{repo} {version} is not supported here (spec {spec.name}): {spec.unsupported}"
        )
    return spec
