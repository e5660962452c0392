"""Agents by name: the built-in ones by short name, any other by import path
(`package.module:factory`), so a user's own agent plugs in without touching this package.

A factory takes an `AgentOptions` and returns an object that satisfies `harness.agents.base.Agent`
(or a `BuiltAgent`: the agent with what the run records of it). It raises AgentBuildError for
anything the user must fix; `warnings` it appends are printed.

`build` returns a `BuiltAgent`, the typed record of what a run needs beyond the Agent protocol;
`AgentSpec` (a name and its options, picklable) is what a Ray worker builds its agent from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.agents.base import Agent
from harness.plugins import load_callable

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


@dataclass(frozen=True)
class AgentSpec:
    """An agent by name and options, without this process's store, budget and connection
    limit: picklable, so a Ray worker builds the same agent with its own (see `for_worker`)."""

    name: str
    options: AgentOptions

    @classmethod
    def of(cls, name: str, options: AgentOptions) -> AgentSpec:
        return cls(name, replace(options, store=None, budget=None, limiter=None, warnings=[]))

    def for_worker(self, budget: Budget | None, limiter: ConnectionLimiter | None) -> BuiltAgent:
        """The agent with the worker's budget and connection limit, and no response cache
        (workers never touch the store)."""
        return build(self.name, replace(self.options, budget=budget, limiter=limiter,
                                        warnings=[]))


@dataclass
class BuiltAgent:
    """An agent and what a run records and checks of it beyond the Agent protocol."""

    agent: Agent
    # What the run stores of the model side (RunRecord.config["llm"]); None: no model.
    llm_record: dict[str, Any] | None = None
    # The model's API-key check, made once the run has model calls to make; None: no model.
    check_environment: Callable[[], None] | None = None
    # replay: the instance ids its prediction files cover; None: the agent works on any task.
    predicted: frozenset[str] | None = None


AgentFactory = Callable[[AgentOptions], "Agent | BuiltAgent"]


def _mutation(options: AgentOptions) -> Agent:
    from harness.agents.mutation import MutationAgent

    return MutationAgent.from_config(options.config)


def _replay(options: AgentOptions) -> BuiltAgent:
    from harness.agents.replay import PredictionFileError, ReplayAgent

    try:
        agent = ReplayAgent([Path(path) for path in options.predictions])
    except PredictionFileError as error:
        raise AgentBuildError(str(error)) from None
    options.warnings += agent.problems
    return BuiltAgent(agent, predicted=frozenset(agent.predictions))


def _llm(default_definition: str) -> AgentFactory:
    def build(options: AgentOptions) -> BuiltAgent:
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
        return BuiltAgent(agent, llm_record=agent.info.record,
                          check_environment=agent.llm.check_environment)

    return build


def _mini(options: AgentOptions) -> BuiltAgent:
    from harness.agents.mini.build import MiniBuildError, build_mini_agent

    try:
        agent = build_mini_agent(options)
    except MiniBuildError as error:
        raise AgentBuildError(str(error)) from None
    options.warnings += agent.info.warnings
    return BuiltAgent(agent, llm_record=agent.info.record,
                      check_environment=agent.llm.check_environment)


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
    return load_callable(name, "agent", AgentBuildError)


def build(name: str, options: AgentOptions) -> BuiltAgent:
    """The agent `name` names, with the record of what the run stores of it."""
    made = factory_for(name)(options)
    return made if isinstance(made, BuiltAgent) else BuiltAgent(made)


def build_agent(name: str, options: AgentOptions) -> Agent:
    return build(name, options).agent
