"""Builds an LLM selector's model and budget from `SelectorOptions`, exactly as
harness.agents.llm_factory builds an agent's: litellm path, price table (an unknown price is
refused unless allowed), response cache in the store, ledger of spend in the store, dollar caps.

The caps: the definition's `max_cost` (one run's selection, every invocation together, read
from the ledger) and `task_max_cost` (one task), tightened by `SelectorOptions.budget` when the
caller gives one. They are the budget's "run" and "instance" scopes, applied to the ledger rows
of the selection's own ledger run id (harness.selection.llm.common.ledger_run), never to the
agents' run: selection spend is reported apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.models.budget import Budget, Limits
from harness.models.cache import ResponseCache
from harness.models.ledger import Ledger
from harness.models.limits import ConnectionLimiter
from harness.models.llm import LLM, ModelFatalError, RetryPolicy
from harness.models.pricing import PriceError, PriceTable
from harness.selection.base import Chain, ModelAccess, SelectionError
from harness.selection.llm.config import Definition
from harness.selection.registry import SelectorOptions
from harness.store import Store


@dataclass
class SelectorModel:
    """One LLM selector's model side."""

    llm: LLM
    budget: Budget
    use_cache: bool
    record: dict[str, Any] = field(default_factory=dict)
    selector: str = ""  # repro or judge


class _ResponseRows:
    """The two store queries the response cache makes, as closures: an LLM selector holds no
    store attribute through which it could reach evaluations (tests/test_selection_isolation)."""

    def __init__(self, store: Store) -> None:
        self.response = lambda key: store.response(key)
        self.add_response = lambda record: store.add_response(record)


class _LedgerRows:
    """The two store queries the ledger makes (write a call, sum what was billed), as
    closures, for the same reason."""

    def __init__(self, store: Store) -> None:
        self.add_call = lambda values: store.add_call(values)
        self.billed = lambda run_id, instance_id=None: store.billed(run_id, instance_id)


def _low(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def selector_budget(definition: Definition, options: SelectorOptions) -> Budget:
    given = options.budget
    max_cost = _low(definition.max_cost, given.max_cost if given else None)
    per_instance = Limits(dollars=definition.task_max_cost)
    if given is not None:
        per_instance = per_instance.tighter(given.per_instance)
    store = options.store
    ledger = Ledger(_LedgerRows(store)) if store is not None else Ledger()  # type: ignore[arg-type]
    return Budget(max_cost=max_cost, per_instance=per_instance, ledger=ledger)


def build_model(
    definition: Definition, options: SelectorOptions, retry: RetryPolicy | None = None,
    check_environment: bool = True,
) -> SelectorModel:
    """Raises SelectionError (no model, unknown price, a dollar cap on an unpriced model,
    a missing API key)."""
    kind = definition.selector
    model = options.model or definition.model.name
    if not model:
        raise SelectionError(
            f"selector {kind!r} needs a model: pass --model (any litellm model string, e.g. "
            "openai/gpt-4o-mini, or openai/NAME with --api-base), or set model.name in its "
            "definition (--selector-config)"
        )
    budget = selector_budget(definition, options)
    try:
        prices = PriceTable(options.prices)
        price = prices.require(model, options.allow_unknown_price)
    except PriceError as error:
        raise SelectionError(f"selector {kind!r}: {error}") from None
    if price is None:
        if budget.limits_dollars:
            raise SelectionError(
                f"selector {kind!r} has a dollar cap, which cannot be kept with {model!r}, "
                "whose price is unknown; give its price with --prices"
            )
        options.warnings.append(
            f"{kind}: {model} has no known price: its dollars are recorded as unknown, not zero"
        )
    use_cache = bool(options.cache and options.store is not None)
    llm = LLM(
        model,
        api_base=options.api_base,
        params=definition.model.params(),
        price=price,
        limiter=ConnectionLimiter(options.max_connections),
        cache=ResponseCache(_ResponseRows(options.store)) if use_cache else None,  # type: ignore[arg-type]
        retry=retry,
        timeout=definition.model.timeout,
    )
    if check_environment:
        try:
            llm.check_environment()
        except ModelFatalError as error:
            raise SelectionError(f"selector {kind!r}: {error}") from None
    record = {
        "selector": kind,
        "definition_values": definition.model_dump(mode="json"),
        "model": model,
        "api_base": options.api_base,
        "response_cache": use_cache,
        **prices.record([model]),
        "max_cost": budget.max_cost,
        "task_max_cost": budget.per_instance.dollars,
    }
    return SelectorModel(llm, budget, use_cache, record, kind)


def ledger_run_id(run_id: str, selector: str) -> str:
    """The ledger's run id for the model calls of selection `selector` on run `run_id`: apart
    from the run's own (its agents' spend, which `report` shows), one per run and selector, so
    the per-selection cap holds over every invocation."""
    return f"{run_id}/select/{selector}"[:200]


def model_access(chain: Chain, run_id: str) -> ModelAccess | None:
    """What `select_run(..., models=...)` is given for a chain with LLM stages: the ledger run
    id its calls are billed under (and the first LLM stage's model and budget); None when no
    stage calls a model."""
    for stage in chain.stages:
        model = getattr(stage, "model", None)
        if isinstance(model, SelectorModel):
            return ModelAccess(model.llm, model.budget, ledger_run_id(run_id, chain.name),
                               model.use_cache)
    return None
