"""Builds the LLM agents (oneshot, bash) from their definition and the run's model options.

Everything that can be wrong is checked here, before any attempt: the definition, the model's
price (unknown prices are refused unless allowed), dollar budgets with unpriced models, and
the API key litellm needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.agents.bash import BashAgent
from harness.agents.llm_config import (
    BashDefinition,
    Definition,
    DefinitionError,
    definition_hash,
    definition_path,
    load_definition,
)
from harness.agents.oneshot import OneshotAgent
from harness.models.budget import Budget
from harness.models.cache import ResponseCache
from harness.models.ledger import Ledger
from harness.models.limits import ConnectionLimiter
from harness.models.llm import LLM, ModelFatalError, RetryPolicy
from harness.models.pricing import Price, PriceError, PriceTable
from harness.store import Store

LLM_AGENTS = ("oneshot", "bash")


class LLMAgentError(ValueError):
    """The agent cannot be built as asked; the message says what to change."""


@dataclass
class LLMAgentInfo:
    """What the run should record about the model side (RunRecord.config["llm"])."""

    record: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def build_llm_agent(
    name: str,
    model: str | None = None,
    api_base: str | None = None,
    prices_path: str | Path | None = None,
    allow_unknown_price: bool = False,
    max_connections: int = 8,
    limiter: ConnectionLimiter | None = None,
    cache: bool = True,
    store: Store | None = None,
    budget: Budget | None = None,
    retry: RetryPolicy | None = None,
    check_environment: bool = True,
) -> OneshotAgent | BashAgent:
    """`name` is `oneshot`, `bash` or the path of a definition YAML. The returned agent has
    `.info` (an LLMAgentInfo) to store with the run and print as warnings.

    `limiter`, when given, replaces the connection limit of `max_connections` (a Ray worker
    passes the cluster's shared one). `check_environment=False` leaves the API-key check (which
    imports litellm, seconds) to the caller, e.g. only once a run finds it has model calls to make.

    Raises LLMAgentError (bad definition, unknown price, missing key, ...)."""
    try:
        definition = load_definition(name)
    except DefinitionError as error:
        raise LLMAgentError(str(error)) from None
    model = model or definition.model.name
    if not model:
        raise LLMAgentError(
            f"no model: pass --model (any litellm model string, e.g. openai/gpt-4o-mini, or "
            f"openai/NAME with --api-base for an OpenAI-compatible server), or set model.name "
            f"in {definition_path(name)}"
        )
    budget = budget or Budget()
    if store is not None and budget.ledger.store is None:
        # The ledger of spend lives in the store: budgets hold across invocations.
        budget.ledger = Ledger(store)
    info = LLMAgentInfo()
    prices = _prices(prices_path)
    price = _checked_price(prices, model, definition, budget, allow_unknown_price, info)
    llm = LLM(
        model,
        api_base=api_base,
        params=definition.model.params(),
        price=price,
        limiter=limiter or ConnectionLimiter(max_connections),
        cache=ResponseCache(store) if cache and store is not None else None,
        retry=retry,
        timeout=definition.model.timeout,
    )
    if check_environment:
        try:
            llm.check_environment()
        except ModelFatalError as error:
            raise LLMAgentError(str(error)) from None
    digest = definition_hash(definition, model)
    agent: OneshotAgent | BashAgent
    if isinstance(definition, BashDefinition):
        agent = BashAgent(definition, llm, digest, budget, use_cache=cache)
    else:
        agent = OneshotAgent(definition, llm, digest, budget, use_cache=cache)
    info.record = {
        "definition": str(definition_path(name)),
        "definition_values": definition.model_dump(mode="json"),
        "model": model,
        "api_base": api_base,
        "max_connections": max_connections,
        "response_cache": bool(cache and store is not None),
        "allow_unknown_price": allow_unknown_price,
        **prices.record([model]),
        "budget": budget.summary(),
    }
    agent.info = info
    return agent


def _prices(prices_path: str | Path | None) -> PriceTable:
    try:
        return PriceTable(prices_path)
    except PriceError as error:
        raise LLMAgentError(str(error)) from None


def _checked_price(
    prices: PriceTable,
    model: str,
    definition: Definition,
    budget: Budget,
    allow_unknown_price: bool,
    info: LLMAgentInfo,
) -> Price | None:
    """The model's price; an unknown one is refused unless allowed, and never with a dollar
    budget (which could not be kept). What an unknown price changes goes into `info.warnings`."""
    try:
        price = prices.require(model, allow_unknown_price)
    except PriceError as error:
        raise LLMAgentError(str(error)) from None
    if price is not None:
        return price
    if budget.limits_dollars:
        raise LLMAgentError(
            f"a dollar budget (--max-cost or a per-instance/attempt dollar limit) cannot be "
            f"kept with {model!r}, whose price is unknown; give its price with --prices"
        )
    info.warnings.append(
        f"{model} has no known price: its dollars are recorded as unknown, not as zero"
    )
    if isinstance(definition, BashDefinition) and definition.cost_limit is not None:
        info.warnings.append(
            f"the bash agent's cost_limit ({definition.cost_limit}) cannot apply to an "
            "unpriced model; its step_limit and time_limit still do"
        )
    return None
