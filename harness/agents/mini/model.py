"""mini-swe-agent's model classes with the call itself made by our model layer.

Its class (LitellmModel with bash tool calls, or LitellmTextbasedModel with a regex over the
text) keeps everything that shapes the conversation: how messages are prepared (cache
control, ordering), how actions are parsed (its FormatError), how observations are rendered.
Only the HTTP call and its price change hands: `_query` goes through `harness.models.llm.LLM`
(ledger of spend, connection gate, run and instance budgets, Retry-After, response cache), and
`_calculate_cost` reports the price our ledger recorded, so dollars at k are the provider's bill.
Our model errors are in the class's `abort_exceptions`: retries happen once, in our layer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from harness.agents.llm_usage import UsageTally
from harness.models._litellm import litellm_module
from harness.models.budget import AttemptBudget, BudgetExhausted
from harness.models.llm import LLM, Completion, ModelError
from harness.sandboxes.base import SandboxError


class UnsupportedModelClass(ValueError):
    pass


@dataclass
class ModelRoute:
    """Where one attempt's calls go, and what they used."""

    llm: LLM
    budget: AttemptBudget | None
    sample: str  # tells the attempts' calls apart in the response cache
    use_cache: bool = True
    tally: UsageTally = field(default_factory=UsageTally)
    last: Completion | None = None


def model_class_for(config: dict[str, Any]) -> tuple[type, bool]:
    """The routed subclass of the class the configuration selects (mini-swe-agent's own
    selection), and whether its requests offer the bash tool."""
    from minisweagent.models import get_model_class
    from minisweagent.models.litellm_model import LitellmModel
    from minisweagent.models.litellm_textbased_model import LitellmTextbasedModel

    try:
        base = get_model_class(str(config["model_name"]), str(config.get("model_class") or ""))
    except ValueError as error:
        raise UnsupportedModelClass(str(error)) from None
    if not issubclass(base, LitellmModel):
        raise UnsupportedModelClass(
            f"model class {base.__module__}.{base.__name__} makes its own HTTP calls, which "
            "cannot go through the harness's ledger and budgets; use model_class litellm or "
            "litellm_textbased (any litellm model string works with both)"
        )
    uses_tools = not issubclass(base, LitellmTextbasedModel)
    if uses_tools and base._query is not LitellmModel._query:
        raise UnsupportedModelClass(
            f"model class {base.__name__} calls a litellm API other than chat completions; "
            "use model_class litellm or litellm_textbased"
        )
    return _routed(base), uses_tools


@functools.cache
def _routed(base: type) -> type:
    def __init__(self: Any, *, route: ModelRoute, **kwargs: Any) -> None:  # noqa: N807
        self.route = route
        base.__init__(self, **kwargs)

    return type(f"Harness{base.__name__}", (base,), {
        "abort_exceptions": [*base.abort_exceptions, ModelError, BudgetExhausted, SandboxError],
        "__init__": __init__,
        "_query": _query,
        "_calculate_cost": _calculate_cost,
        "__module__": __name__,
    })


def _query(self: Any, messages: list[dict[str, Any]], **kwargs: Any) -> Any:
    if kwargs:
        raise TypeError(f"per-call model arguments are not supported here: {sorted(kwargs)}")
    route: ModelRoute = self.route
    completion = route.llm.complete(
        messages, sample=route.sample, budget=route.budget, use_cache=route.use_cache
    )
    route.tally.add(completion)
    route.last = completion
    return _response(completion, route.llm.model)


def _calculate_cost(self: Any, response: Any) -> dict[str, float]:
    # What the call costs, cached or not: the agent's own cost_limit then sees the same
    # figures on a rerun answered from the cache. What was paid is in our ledger.
    last = self.route.last
    return {"cost": float(last.dollars_if_uncached or 0.0) if last is not None else 0.0}


def _response(completion: Completion, model: str) -> Any:
    """A litellm ModelResponse holding the first answer, as its classes read one."""
    message: dict[str, Any] = {"role": "assistant", "content": completion.text}
    calls = completion.tool_calls[0] if completion.tool_calls else []
    if calls:
        message["tool_calls"] = calls
    reason = completion.finish_reasons[0] if completion.finish_reasons else "stop"
    return litellm_module().ModelResponse(
        id=f"harness-call-{completion.call_id}", model=model,
        choices=[{"index": 0, "message": message, "finish_reason": reason}],
        usage={
            "prompt_tokens": completion.input_tokens,
            "completion_tokens": completion.output_tokens,
            "total_tokens": completion.input_tokens + completion.output_tokens,
        },
    )


def tools_for(uses_tools: bool) -> dict[str, Any]:
    """The model parameters its class sends besides model_kwargs."""
    if not uses_tools:
        return {}
    from minisweagent.models.utils.actions_toolcall import BASH_TOOL

    return {"tools": [BASH_TOOL]}
