"""The LLM selectors' definitions as data: the pydantic schema of
harness/selection/llm/definitions/{repro,judge}.yaml.

A definition holds the model parameters, what the selector asks for, its dollar caps and its
Jinja2 prompt templates. `--selector-config FILE` (SelectorOptions.config) replaces the bundled
ones: either one definition (`selector: repro`) or both under `repro:` and `judge:` keys, so
that one file serves a chain such as `repro+judge`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from harness.agents.llm_config import ModelSettings, _check_template
from harness.selection.base import SelectionError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Common(_Strict):
    description: str = ""
    model: ModelSettings = Field(default_factory=ModelSettings)
    max_cost: float | None = Field(None, gt=0)
    """Dollars the selector may spend on one run's selection, over every invocation (the
    ledger holds what earlier ones spent); None: no cap."""
    task_max_cost: float | None = Field(None, gt=0)
    """Dollars the selector may spend on one task of the run; None: no cap."""
    system_template: str
    instance_template: str

    _templates = field_validator("system_template", "instance_template")(_check_template)


class ReproDefinition(_Common):
    selector: Literal["repro"]
    tests: int = Field(4, ge=1, le=64)
    """Reproduction tests asked for per task (each one model sample)."""
    samples_per_call: int = Field(4, ge=1, le=64)
    """Tests asked for in one call (`n`): the prompt is billed once per call."""
    test_path: str = "test_harness_repro_{index}.py"
    """Where each test file is written in the testbed ({index}: its number), then given to
    the environment's test command."""
    max_test_chars: int = Field(20_000, ge=200)
    """A longer test is refused (it is kept in the evidence, so its size is bounded)."""
    instance_template: str
    """Rendered with: task (instance_id, repo, problem_statement, hints_text, ...)."""

    @field_validator("test_path")
    @classmethod
    def _one_file(cls, value: str) -> str:
        if "{index}" not in value or value.startswith("/") or ".." in value.split("/"):
            raise ValueError("must be a relative path inside the repository holding {index}")
        return value


class JudgeDefinition(_Common):
    selector: Literal["judge"]
    top: int = Field(4, ge=2, le=26)
    """Candidates shown to the model: the first `top` of the pool in `order`."""
    order: Literal["votes", "incoming"] = "votes"
    """votes: the pool sorted by votes (ties keep its order); incoming: the pool as the stages
    before it ranked it (after behavior or consensus, which rank clusters)."""
    diff_chars: int = Field(12_000, ge=500)
    """A longer diff is cut to its first `diff_chars` characters (the prompt says so)."""
    instance_template: str
    """Rendered with: task, candidates (number, diff, cut, votes)."""


Definition = ReproDefinition | JudgeDefinition
_SCHEMAS: dict[str, type[ReproDefinition] | type[JudgeDefinition]] = {
    "repro": ReproDefinition, "judge": JudgeDefinition,
}


def bundled_path(kind: str) -> Path:
    return Path(__file__).resolve().parent / "definitions" / f"{kind}.yaml"


def _validate(kind: str, data: Any, where: str) -> Definition:
    if not isinstance(data, dict):
        raise SelectionError(f"{where}: expected a mapping with `selector: {kind}`")
    try:
        return _SCHEMAS[kind].model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top)'}: {item['msg']}"
            for item in error.errors()
        )
        raise SelectionError(f"{where}: {problems}") from None


def _read(path: Path) -> Any:
    if not path.is_file():
        raise SelectionError(f"selector definition not found: {path}")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise SelectionError(f"{path}: not valid YAML: {error}") from None


def load_definition(kind: str, config: str | Path | None = None) -> Definition:
    """The `kind` ("repro" or "judge") definition: from `config` when it holds one for this
    kind, else the bundled one. Values `config` leaves out keep the bundled ones. Raises
    SelectionError naming the file and the field."""
    bundled = _read(bundled_path(kind))
    if config is None:
        return _validate(kind, bundled, str(bundled_path(kind)))
    data = _read(Path(config))
    if not isinstance(data, dict):
        raise SelectionError(f"{config}: expected a mapping")
    if "selector" in data:
        if data["selector"] not in _SCHEMAS:
            raise SelectionError(
                f"{config}: `selector:` must be repro or judge, not {data['selector']!r}"
            )
        if data["selector"] != kind:
            return _validate(kind, bundled, str(bundled_path(kind)))  # a file for the other
        section = data
    else:
        unknown = set(data) - set(_SCHEMAS)
        if unknown:
            raise SelectionError(
                f"{config}: unknown keys {sorted(unknown)}; give one definition with "
                "`selector: repro|judge`, or sections `repro:` and `judge:`"
            )
        section = data.get(kind)
        if section is None:
            return _validate(kind, bundled, str(bundled_path(kind)))
        if not isinstance(section, dict):
            raise SelectionError(f"{config}: `{kind}:` must be a mapping")
        section = {"selector": kind, **section}
    merged = {**bundled, **section}
    if isinstance(section.get("model"), dict):
        merged["model"] = {**bundled.get("model", {}), **section["model"]}
    return _validate(kind, merged, str(config))
