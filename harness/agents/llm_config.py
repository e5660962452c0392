"""Agent definitions as data: the pydantic schema of agents/oneshot.yaml and agents/bash.yaml.

A definition holds model parameters, limits and Jinja2 prompt templates. Its content hash
(of the validated values, so comments and formatting do not count), together with the model
it runs, is the agent's `definition_hash`, stored with every attempt.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

# Part of every definition hash: bump when agent code changes what a definition produces.
LLM_AGENTS_VERSION = 1

_TEMPLATES = SandboxedEnvironment(
    undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False
)


class DefinitionError(ValueError):
    """An agent definition that cannot be used; the message names the file and the field."""


def render(template: str, **values: Any) -> str:
    return _TEMPLATES.from_string(template).render(**values)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSettings(_Strict):
    name: str | None = None
    """litellm model string used when --model is not given."""
    temperature: float | None = Field(0.8, ge=0)
    """Sampling temperature; repeated sampling needs it above 0 to get different answers."""
    top_p: float | None = Field(None, gt=0, le=1)
    max_tokens: int | None = Field(4096, ge=1)
    """Cap on each answer's length (also bounds each call's dollars)."""
    timeout: float = Field(300.0, gt=0)
    """Seconds one HTTP call may take before it is retried."""
    drop_params: bool = False
    """Let litellm drop parameters the provider does not support (e.g. `n`) instead of
    failing; the oneshot agent then falls back to one call per sample."""
    extra: dict[str, Any] = Field(default_factory=dict)
    """Passed to litellm.completion as is (e.g. stop, seed, reasoning_effort)."""

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        for name in ("temperature", "top_p", "max_tokens"):
            value = getattr(self, name)
            if value is not None:
                params[name] = value
        if self.drop_params:
            params["drop_params"] = True
        params.update(self.extra)
        return params


def _check_template(value: str) -> str:
    try:
        _TEMPLATES.parse(value)
    except jinja2.TemplateSyntaxError as error:
        raise ValueError(f"not a valid Jinja2 template (line {error.lineno}): {error}") from None
    return value


class RetrievalSettings(_Strict):
    max_files: int = Field(5, ge=1)
    """How many files (best-scored first) are shown to the model."""
    max_chars: int = Field(60_000, ge=1000)
    """Characters of file content in the prompt, all files together."""
    max_file_chars: int = Field(24_000, ge=500)
    """A longer file is shown as excerpts around the lines that mention the issue's names."""
    excerpt_lines: int = Field(30, ge=1)
    """Lines of context shown around each mention in an excerpt."""
    repo_map_chars: int = Field(4_000, ge=0)
    """Characters of the repository map (folders and their source files); 0 leaves it out."""
    search_terms: int = Field(60, ge=1)
    """How many of the issue's identifiers are searched for (git grep), best first."""


class OneshotDefinition(_Strict):
    agent: Literal["oneshot"]
    description: str = ""
    model: ModelSettings = Field(default_factory=ModelSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    samples_per_call: int = Field(10, ge=1, le=256)
    """Answers asked for in one call (`n`), so the prompt is billed once per batch. 1 makes
    one call per sample."""
    check_apply: bool = True
    """Check each patch with `git apply --check` in the sandbox before accepting it."""
    system_template: str
    instance_template: str
    """Rendered with: task (instance_id, repo, problem_statement, hints_text, ...), files (path,
    content, excerpt), repo_map."""

    _templates = field_validator("system_template", "instance_template")(_check_template)


class BashDefinition(_Strict):
    agent: Literal["bash"]
    description: str = ""
    model: ModelSettings = Field(default_factory=ModelSettings)
    step_limit: int = Field(30, ge=1)
    """Model calls per attempt."""
    cost_limit: float | None = Field(1.0, gt=0)
    """Dollars per attempt; None for no limit (the run's --max-cost still applies)."""
    time_limit: float | None = Field(1200.0, gt=0)
    """Wall seconds per attempt."""
    command_timeout: float = Field(60.0, gt=0)
    """Seconds one shell command may run before it is killed."""
    output_max_chars: int = Field(10_000, ge=200)
    """A longer command output is shown as its head and tail."""
    submit_command: str = "submit"
    """The command that ends the attempt; the candidate is the testbed's git diff."""
    system_template: str
    instance_template: str
    """Rendered with: task."""
    observation_template: str
    """Rendered with: exit_code, output, timed_out, truncated, seconds."""
    format_error_template: str
    """Rendered with: actions (how many command blocks the answer had)."""

    _templates = field_validator(
        "system_template", "instance_template", "observation_template", "format_error_template"
    )(_check_template)


Definition = OneshotDefinition | BashDefinition


def project_agents_dir() -> Path:
    """The bundled agent definitions: package data, so a wheel install finds them too (the
    project root's agents/ is a link to this folder)."""
    return Path(__file__).resolve().parent / "definitions"


def definition_path(name_or_path: str | Path) -> Path:
    """`oneshot` -> agents/oneshot.yaml; a path is taken as is."""
    text = str(name_or_path)
    if text.endswith((".yaml", ".yml", ".json")) or "/" in text:
        return Path(text)
    return project_agents_dir() / f"{text}.yaml"


def load_definition(name_or_path: str | Path) -> Definition:
    path = definition_path(name_or_path)
    if not path.is_file():
        raise DefinitionError(
            f"agent definition not found: {path}; give a built-in name (oneshot, bash) or the "
            "path of a YAML file (see agents/oneshot.yaml)"
        )
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise DefinitionError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise DefinitionError(f"{path}: expected a mapping with an `agent:` key")
    kind = data.get("agent")
    schema = {"oneshot": OneshotDefinition, "bash": BashDefinition}.get(kind)  # type: ignore[arg-type]
    if schema is None:
        raise DefinitionError(f"{path}: `agent:` must be oneshot or bash, not {kind!r}")
    try:
        return schema.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or '(top)'}: {item['msg']}"
            for item in error.errors()
        )
        raise DefinitionError(f"{path}: {problems}") from None


def definition_hash(definition: Definition, model: str) -> str:
    """Changes with any value of the definition and with the model, not with comments."""
    values = definition.model_dump(mode="json")
    values["model"]["name"] = None  # the model actually run counts, not the default
    canonical = json.dumps(
        {
            "version": LLM_AGENTS_VERSION,
            "definition": values,
            "model": model,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
