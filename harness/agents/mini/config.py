"""Which mini-swe-agent runs and with what configuration.

The configuration is built the way mini-swe-agent's own commands build it, with its own
functions: a YAML file (its bundled `swebench.yaml` unless the user names one) and
`key.path=value` overrides (values parsed as JSON when they can be), merged recursively, later
ones winning. The merged dictionary and the package's version define the agent: both go into
the definition hash, so a changed prompt is a new run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion, Version

from harness.models._litellm import litellm_module

DISTRIBUTION = "mini-swe-agent"
# The versions the tests cover; another one may be run with --allow-untested-agent-version.
TESTED_VERSIONS = SpecifierSet(">=2.4.6,<2.5")
DEFAULT_CONFIG = "swebench.yaml"  # found in its package's config/benchmarks/


class MiniConfigError(ValueError):
    """The configuration or the installed package cannot be used; the message says why."""


@dataclass(frozen=True)
class MiniSetup:
    version: str
    config: dict[str, Any]  # the merged configuration, model name resolved
    sources: list[str]  # the file and the overrides it was merged from, in order
    warnings: list[str] = field(default_factory=list)

    @property
    def definition_hash(self) -> str:
        canonical = json.dumps(
            {"agent": "mini", "mini_version": self.version, "config": self.config},
            sort_keys=True, ensure_ascii=False, default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


def installed_version() -> str | None:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None


def check_version(allow_untested: bool) -> tuple[str, list[str]]:
    """The installed version and any warning; refuses a missing or untested one."""
    version = installed_version()
    if version is None:
        raise MiniConfigError(
            "--agent mini needs mini-swe-agent: pip install 'harness[mini]' "
            f"(or pip install 'mini-swe-agent{TESTED_VERSIONS}')"
        )
    try:
        tested = Version(version) in TESTED_VERSIONS
    except InvalidVersion:
        tested = False
    if tested:
        return version, []
    if not allow_untested:
        raise MiniConfigError(
            f"mini-swe-agent {version} is outside the tested range {TESTED_VERSIONS}: install "
            f"'mini-swe-agent{TESTED_VERSIONS}', or pass --allow-untested-agent-version"
        )
    return version, [
        f"mini-swe-agent {version} is outside the tested range {TESTED_VERSIONS}; it was run "
        "because of --allow-untested-agent-version"
    ]


def import_mini() -> Any:
    """The package, imported quietly and after litellm (whose price map must be the bundled
    one: mini-swe-agent imports litellm itself)."""
    os.environ.setdefault("MSWEA_SILENT_STARTUP", "1")
    litellm_module()
    import minisweagent

    return minisweagent


def load_setup(
    config_file: str | None, overrides: list[str], model: str | None,
    allow_untested: bool = False,
) -> MiniSetup:
    version, warnings = check_version(allow_untested)
    import_mini()
    from minisweagent.config import builtin_config_dir, get_config_from_spec
    from minisweagent.utils.serialize import recursive_merge

    base = config_file or str(builtin_config_dir / "benchmarks" / DEFAULT_CONFIG)
    try:
        # A Path, so a file name is never read as a key=value pair.
        configs = [get_config_from_spec(Path(base))]
    except FileNotFoundError:
        raise MiniConfigError(
            f"no mini-swe-agent configuration {base!r} (a YAML file, or the name of one it "
            "ships, e.g. swebench.yaml or swebench_backticks.yaml)"
        ) from None
    except Exception as error:  # yaml's errors and unreadable files alike
        raise MiniConfigError(f"cannot read the configuration {base}: {error}") from None
    if not isinstance(configs[0], dict):
        raise MiniConfigError(f"the configuration {base} is not a mapping")
    for spec in overrides:
        if "=" not in spec:
            raise MiniConfigError(
                f"--agent-set {spec!r}: expected KEY=VALUE, e.g. agent.step_limit=50 or "
                "model.model_kwargs.temperature=0"
            )
        try:
            configs.append(get_config_from_spec(spec))
        except ValueError as error:
            raise MiniConfigError(f"--agent-set {spec!r}: {error}") from None
    config = recursive_merge(*configs)
    for section in ("agent", "model", "environment"):
        if not isinstance(config.setdefault(section, {}), dict):
            raise MiniConfigError(f"the configuration's {section!r} must be a mapping")
    if model:
        config["model"]["model_name"] = model
    if not config["model"].get("model_name"):
        raise MiniConfigError(
            "no model: pass --model (a litellm model string, e.g. openai/gpt-4o-mini) or set "
            "model.model_name"
        )
    name = str(config["model"]["model_name"]).lower()
    if any(word in name for word in ("anthropic", "sonnet", "opus", "claude")):
        # What its get_model does for these models when the configuration is silent.
        config["model"].setdefault("set_cache_control", "default_end")
    return MiniSetup(version, config, [base, *overrides], warnings)
