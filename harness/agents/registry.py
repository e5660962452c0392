"""Agents by name: the built-in ones by short name, any other by import path
(`package.module:factory`), so a user's own agent plugs in without touching this package.

A factory takes an `AgentOptions` and returns an object that satisfies `harness.agents.base.Agent`.
It raises AgentBuildError for anything the user must fix; `warnings` it appends are printed.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.agents.base import Agent

if TYPE_CHECKING:
    from harness.models.budget import Budget
    from harness.models.limits import ConnectionLimiter
    from harness.store import Store


class AgentBuildError(ValueError):
    """The agent cannot be built as asked: a missing file, an unknown model price, ..."""


@dataclass
class AgentOptions:
    """Everything an agent may be built from; each agent reads what it needs."""

    config: str | None = None  # a definition YAML (default: the agent's bundled one)
    predictions: list[str] = field(default_factory=list)  # replay: prediction files
    model: str | None = None  # LLM agents: a litellm model string
    api_base: str | None = None
    prices: str | None = None  # a price file adding or overriding model prices
    allow_unknown_price: bool = False
    max_connections: int = 8
    # The model calls' connection limit; None makes one of `max_connections`. A Ray worker
    # passes the cluster's shared one (any object with ConnectionLimiter's `slot()`).
    limiter: ConnectionLimiter | None = None
    cache: bool = True  # answer repeated model calls from the store
    store: Store | None = None
    budget: Budget | None = None
    # Filled by the factory: things the user should read (skipped rows, price caveats).
    warnings: list[str] = field(default_factory=list)
    # mini: KEY=VALUE overrides merged into its configuration (--agent-set), and whether a
    # version of the package outside the tested range may run.
    agent_overrides: list[str] = field(default_factory=list)
    allow_untested_version: bool = False


AgentFactory = Callable[[AgentOptions], Agent]


def _mutation(options: AgentOptions) -> Agent:
    from harness.agents.mutation import MutationAgent

    return MutationAgent.from_config(options.config)


def _replay(options: AgentOptions) -> Agent:
    from harness.agents.replay import PredictionFileError, ReplayAgent

    try:
        agent = ReplayAgent([Path(path) for path in options.predictions])
    except PredictionFileError as error:
        raise AgentBuildError(str(error)) from None
    options.warnings += agent.problems
    return agent


def _llm(default_definition: str) -> AgentFactory:
    def build(options: AgentOptions) -> Agent:
        from harness.agents.llm_factory import LLMAgentError, build_llm_agent

        try:
            agent = build_llm_agent(
                options.config or default_definition,
                model=options.model,
                api_base=options.api_base,
                prices_path=options.prices,
                allow_unknown_price=options.allow_unknown_price,
                max_connections=options.max_connections,
                limiter=options.limiter,
                cache=options.cache,
                store=options.store,
                budget=options.budget,
                # litellm (seconds to import) only once the run has model calls to make.
                check_environment=False,
            )
        except LLMAgentError as error:
            raise AgentBuildError(str(error)) from None
        options.warnings += agent.info.warnings
        return agent

    return build


def _mini(options: AgentOptions) -> Agent:
    from harness.agents.mini.build import MiniBuildError, build_mini_agent

    try:
        agent = build_mini_agent(options)
    except MiniBuildError as error:
        raise AgentBuildError(str(error)) from None
    options.warnings += agent.info.warnings
    return agent


BUILT_IN: dict[str, AgentFactory] = {
    "mutation": _mutation,
    "replay": _replay,
    "oneshot": _llm("oneshot"),
    "bash": _llm("bash"),
    "mini": _mini,  # mini-swe-agent's own agent (pip install 'harness[mini]')
}


def factory_for(name: str) -> AgentFactory:
    """A built-in agent's factory, or the callable at `module:attribute`."""
    if name in BUILT_IN:
        return BUILT_IN[name]
    if ":" not in name:
        raise AgentBuildError(
            f"unknown agent {name!r}; built in: {', '.join(BUILT_IN)}, or give an import path "
            "such as my_package.my_module:make_agent"
        )
    module_name, _, attribute = name.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise AgentBuildError(f"agent {name!r}: cannot import {module_name}: {error}") from None
    found = getattr(module, attribute, None)
    if not callable(found):
        raise AgentBuildError(f"agent {name!r}: {module_name} has no callable {attribute!r}")
    return found


def build_agent(name: str, options: AgentOptions) -> Agent:
    return factory_for(name)(options)
