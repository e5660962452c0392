"""Environment specs: how to install and test one (repository, version) family.

Specs are data, kept as YAML in `sandboxes/environments/` at the project root. A file holds one
spec (a mapping) or several (a list of mappings, e.g. one per version of a repository). A task's
spec is the first one, files in name order, whose `repos` and `versions` globs match.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.evaluation.evaluator import TestSetup
from harness.sandboxes.debootstrap import SUITE_PYTHON

# Package data, so a wheel install finds the specs too (sandboxes/environments at the project
# root links here).
DEFAULT_SPEC_DIR = Path(__file__).resolve().parent / "environments"


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
    pip: tuple[str, ...] = Field(
        default=(), description="pip requirements installed into the env image (may be empty)."
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
    log_parser: str = Field(default="pytest", description="Name of the test-log parser to use.")
    test_timeout: float = Field(default=1800, gt=0, description="Seconds the test run may take.")
    notes: str = Field(default="", description="Where the spec comes from; free text.")

    @field_validator("name")
    @classmethod
    def _tag_safe(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]*", value):
            raise ValueError("must be lowercase letters, digits, '.', '_' or '-'")
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
        """How tasks of this spec run their tests: command, log parser, time limit."""
        return TestSetup(self.test_cmd, self.log_parser, float(self.test_timeout))

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

    Raises SpecError naming the file when one is malformed or two share a name.
    """
    folder = Path(spec_dir) if spec_dir is not None else DEFAULT_SPEC_DIR
    if not folder.is_dir():
        raise SpecError(f"environment spec folder not found: {folder}")
    specs: list[EnvironmentSpec] = []
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            entries = data if isinstance(data, list) else [data]
            found = [EnvironmentSpec.model_validate(entry) for entry in entries]
        except (yaml.YAMLError, ValidationError) as error:
            raise SpecError(f"{path}: not a valid environment spec: {error}") from None
        for spec in found:
            if any(other.name == spec.name for other in specs):
                raise SpecError(f"{path}: spec name {spec.name!r} is used by another spec")
            specs.append(spec)
    return specs


def spec_for(repo: str, version: str, spec_dir: Path | None = None) -> EnvironmentSpec:
    """The environment spec for a task's repository and version.

    Raises SpecError when none matches, naming the folder where a spec should be added.
    """
    folder = Path(spec_dir) if spec_dir is not None else DEFAULT_SPEC_DIR
    for spec in load_specs(folder):
        if spec.matches(repo, version):
            return spec
    raise SpecError(
        f"no environment spec matches repo {repo!r} version {version!r}; add a YAML file to "
        f"{folder} whose `repos` and `versions` globs match it (see demo.yaml there)"
    )
