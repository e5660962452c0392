"""Builds `--agent mini` from the run's options, checking before any attempt what can be
wrong: the installed version, the configuration, its model class, the model's price."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.agents.llm_factory import LLMAgentInfo
from harness.agents.mini.agent import MiniAgent
from harness.agents.mini.config import MiniConfigError, load_setup
from harness.agents.mini.model import UnsupportedModelClass, model_class_for, tools_for
from harness.models.budget import Budget
from harness.models.cache import ResponseCache
from harness.models.ledger import Ledger
from harness.models.limits import ConnectionLimiter
from harness.models.llm import LLM
from harness.models.pricing import PriceError, PriceTable

if TYPE_CHECKING:
    from harness.agents.registry import AgentOptions

# Keys of model_kwargs that say where and how to connect, not what to ask: our LLM takes them
# apart (and leaves them out of the response cache's key).
_CONNECTION_KEYS = ("api_base", "base_url", "timeout", "api_key")


class MiniBuildError(ValueError):
    pass


def build_mini_agent(options: AgentOptions) -> MiniAgent:
    try:
        setup = load_setup(
            options.config, list(options.agent_overrides), options.model,
            allow_untested=options.allow_untested_version,
        )
        model_class, uses_tools = model_class_for(setup.config["model"])
    except (MiniConfigError, UnsupportedModelClass) as error:
        raise MiniBuildError(str(error)) from None
    model_config = setup.config["model"]
    model = str(model_config["model_name"])
    kwargs = dict(model_config.get("model_kwargs") or {})
    api_base = options.api_base or kwargs.get("api_base") or kwargs.get("base_url")
    timeout = float(kwargs.get("timeout") or 300.0)
    params = {key: value for key, value in kwargs.items() if key not in _CONNECTION_KEYS}
    params.update(tools_for(uses_tools))

    budget = options.budget or Budget()
    if options.store is not None and budget.ledger.store is None:
        budget.ledger = Ledger(options.store)  # spend held across invocations
    info = LLMAgentInfo(warnings=list(setup.warnings))
    try:
        prices = PriceTable(options.prices)
        price = prices.require(model, options.allow_unknown_price)
    except PriceError as error:
        raise MiniBuildError(str(error)) from None
    if price is None:
        if budget.limits_dollars:
            raise MiniBuildError(
                f"a dollar budget cannot be kept with {model!r}, whose price is unknown; give "
                "its price with --prices"
            )
        info.warnings.append(
            f"{model} has no known price: its dollars are recorded as unknown, and "
            "mini-swe-agent's cost_limit sees them as 0"
        )
    llm = LLM(
        model, api_base=api_base, params=params, price=price,
        limiter=options.limiter or ConnectionLimiter(options.max_connections),
        cache=ResponseCache(options.store) if options.cache and options.store else None,
        timeout=timeout,
    )
    agent = MiniAgent(setup, llm, model_class, budget, use_cache=options.cache)
    try:
        # Its classes check their sections (unknown agent class, wrong types): one line now
        # rather than the same failure in every attempt.
        agent.build(None, None)  # type: ignore[arg-type]
    except Exception as error:
        raise MiniBuildError(
            f"mini-swe-agent rejects the configuration ({', '.join(setup.sources)}): "
            f"{type(error).__name__}: {error}".replace("\n", " ")
        ) from None
    info.record = {
        "agent": "mini",
        "mini_version": setup.version,
        "config_sources": setup.sources,
        "config": setup.config,
        "model_class": f"{model_class.__mro__[1].__module__}.{model_class.__mro__[1].__name__}",
        "model": model,
        "api_base": api_base,
        "max_connections": options.max_connections,
        "response_cache": bool(options.cache and options.store is not None),
        "allow_unknown_price": options.allow_unknown_price,
        **prices.record([model]),
        "budget": budget.summary(),
        "warnings": list(info.warnings),
    }
    agent.info = info
    return agent
