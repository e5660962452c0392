"""One model layer over litellm: text plus usage and dollars, with retries, a response cache,
budgets and a connection limit.

`--model` is any litellm model string (hosted APIs, `hosted_vllm/...`, `ollama/...`, or
`openai/...` with `--api-base` for any OpenAI-compatible server); keys and bases come from the
environment as litellm expects.

Failures come in three kinds, so callers know what to do with them:
- `TransientModelError`: 429, 5xx, timeouts, lost connections that outlived every retry. The
  attempt is an infrastructure error: redone later, never counted as failed.
- `PromptError`: this prompt cannot be answered (context window exceeded, content policy).
  The attempt fails; the message says what to change.
- `ModelFatalError`: no call can succeed (bad key, unknown model, rejected parameters). The
  run should stop; the message says what to fix.
"""

from __future__ import annotations

import dataclasses
import os
import random
import time
from dataclasses import dataclass
from typing import Any

from harness.models._litellm import litellm_module
from harness.models.backoff import gate_for
from harness.models.budget import AttemptBudget
from harness.models.cache import ResponseCache, StoredResponse, cache_key
from harness.models.ledger import CallEntry
from harness.models.limits import ConnectionLimiter
from harness.models.pricing import Price

# Parameters that do not change the answer, so they stay out of the cache key.
_NOT_IN_KEY = frozenset({"timeout", "api_key", "api_base", "max_retries", "num_retries"})


class ModelError(RuntimeError):
    pass


class TransientModelError(ModelError):
    """The provider kept failing in a way that may pass (rate limit, outage, timeout)."""


class PromptError(ModelError):
    """This prompt cannot be answered by this model (too long, refused)."""


class ModelFatalError(ModelError):
    """No call to this model can succeed as configured; stop and fix the configuration."""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a Retry-After header is honoured up to `max_wait`."""

    tries: int = 6
    first_wait: float = 1.0
    max_wait: float = 60.0
    # The shared circuit breaker (harness.models.backoff): failures in a row at one endpoint
    # before every worker pauses, and for how long at least.
    breaker_after: int = 5
    breaker_wait: float = 30.0

    def wait(self, attempt: int, error: BaseException) -> float:
        suggested = _retry_after(error)
        if suggested is not None:
            return min(self.max_wait, suggested)
        return min(self.max_wait, self.first_wait * 2**attempt) * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class Completion:
    """The answer to one call: `n` texts and what the call used."""

    texts: list[str]
    finish_reasons: list[str]
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    # Dollars spent by this call: 0 when answered from the response cache, None when unpriced.
    dollars: float | None
    # What it cost (or would have cost) without the response cache.
    dollars_if_uncached: float | None
    cached: bool
    # Seconds spent waiting on the model's HTTP answers (all tries); 0 for a cached answer.
    model_seconds: float
    tries: int = 1
    usage_estimated: bool = False
    # The call's row in the ledger of spend (None when no budget, hence no ledger, was given).
    call_id: int | None = None
    # Each choice's tool calls in OpenAI's form ({id, type, function: {name, arguments}}),
    # when the request offered tools (a `tools` model parameter); None otherwise.
    tool_calls: list[list[dict[str, Any]]] | None = None

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


def _retry_after(error: BaseException) -> float | None:
    response = getattr(error, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after") or headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def classify(error: BaseException, model: str) -> ModelError:
    """The kind of a litellm failure, with a message that says what to do about it."""
    ex = litellm_module().exceptions
    text = str(error)
    short = text if len(text) < 600 else text[:600] + " ..."
    if isinstance(error, ex.ContextWindowExceededError):
        return PromptError(
            f"the prompt is longer than {model}'s context window ({short}). Shorten it (e.g. "
            "fewer or smaller retrieved files, a lower step limit) or use a model with a "
            "larger context window."
        )
    if isinstance(error, ex.ContentPolicyViolationError):
        return PromptError(f"{model} refused the prompt (content policy): {short}")
    if isinstance(error, (ex.AuthenticationError, ex.PermissionDeniedError)) or (
        "Missing credentials" in text or "api_key client option must be set" in text
    ):
        return ModelFatalError(
            f"the provider refused the credentials for {model}: {short}. Set the API key "
            "litellm expects for this provider in the environment (e.g. OPENAI_API_KEY, "
            "ANTHROPIC_API_KEY), or check --api-base."
        )
    if isinstance(error, ex.NotFoundError):
        return ModelFatalError(
            f"model {model!r} was not found: {short}. Check --model (litellm's provider/name "
            "form, e.g. openai/gpt-4o-mini, hosted_vllm/NAME, ollama/NAME) and --api-base."
        )
    transient = (
        ex.RateLimitError, ex.Timeout, ex.APIConnectionError, ex.InternalServerError,
        ex.ServiceUnavailableError, ex.BadGatewayError, ex.APIResponseValidationError,
    )
    if isinstance(error, transient):
        return TransientModelError(f"{type(error).__name__}: {short}")
    if isinstance(error, ex.BadRequestError) and "LLM Provider NOT provided" in text:
        return ModelFatalError(
            f"litellm cannot tell the provider of {model!r}. Use litellm's provider/name form "
            "(e.g. openai/gpt-4o-mini, anthropic/claude-sonnet-4-5, hosted_vllm/NAME with "
            "--api-base, ollama/NAME)."
        )
    if isinstance(error, (ex.BadRequestError, ex.UnprocessableEntityError)):
        return ModelFatalError(
            f"{model} rejected the request: {short}. Check the model parameters in the agent "
            "definition (agents/*.yaml)."
        )
    status = getattr(error, "status_code", None)
    if isinstance(error, ex.APIError) and (status is None or status >= 500):
        return TransientModelError(f"{type(error).__name__}: {short}")
    if isinstance(error, (ConnectionError, TimeoutError, OSError)):
        return TransientModelError(f"{type(error).__name__}: {short}")
    return ModelFatalError(f"{model} call failed: {type(error).__name__}: {short}")


def _usage_numbers(usage: Any) -> tuple[int, int, int, int]:
    """(input incl. cached, output, cache read, cache write) from litellm's Usage, which
    counts cached tokens inside prompt_tokens for every provider."""
    if usage is None:
        return 0, 0, 0, 0
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    completion = int(getattr(usage, "completion_tokens", 0) or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    cache_read = int(getattr(details, "cached_tokens", 0) or 0) if details else 0
    cache_read = max(cache_read, int(getattr(usage, "cache_read_input_tokens", 0) or 0))
    cache_write = int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
    return prompt, completion, cache_read, cache_write


def _tool_calls(choice: Any) -> list[dict[str, Any]]:
    """A choice's tool calls as plain data (what the response cache keeps)."""
    calls = []
    for call in getattr(choice.message, "tool_calls", None) or []:
        function = call.function
        calls.append({
            "id": call.id, "type": getattr(call, "type", None) or "function",
            "function": {"name": function.name, "arguments": function.arguments},
        })
    return calls


class LLM:
    """One model, its parameters and price; thread-safe (no state but shared helpers)."""

    def __init__(
        self,
        model: str,
        *,
        api_base: str | None = None,
        params: dict[str, Any] | None = None,
        price: Price | None = None,
        limiter: ConnectionLimiter | None = None,
        cache: ResponseCache | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 300.0,
    ) -> None:
        self.model = model
        self.api_base = api_base
        self.params = dict(params or {})
        self.price = price
        self.limiter = limiter or ConnectionLimiter(8)
        self.cache = cache
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._api_key: str | None = None
        # One backoff per endpoint, shared with every other LLM of the process that calls it.
        endpoint = api_base or model.split("/", 1)[0]
        self.gate = gate_for(endpoint, self.retry.breaker_after, self.retry.breaker_wait)

    def check_environment(self) -> None:
        """Fails early, saying which variable to set, when litellm lacks a key it needs."""
        litellm = litellm_module()
        try:
            provider = litellm.get_llm_provider(self.model, api_base=self.api_base)[1]
        except Exception as error:
            raise classify(error, self.model) from None
        missing = litellm.validate_environment(self.model).get("missing_keys", [])
        keys = [name for name in missing if name.endswith("_KEY")]
        if not keys:
            return
        if self.api_base and provider in ("openai", "text-completion-openai", "hosted_vllm"):
            # A self-hosted OpenAI-compatible server usually wants no key, but the client
            # insists on one: send a placeholder rather than fail.
            self._api_key = os.environ.get("HARNESS_LOCAL_API_KEY", "no-key")
            return
        raise ModelFatalError(
            f"{self.model} needs {', '.join(keys)} in the environment (litellm reads it from "
            "there); set it, or use --api-base for a self-hosted OpenAI-compatible server."
        )

    def dollars(self, input_tokens: int, output_tokens: int, cache_read: int,
                cache_write: int) -> float | None:
        if self.price is None:
            return None
        return self.price.dollars(input_tokens, output_tokens, cache_read, cache_write)

    def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        n: int = 1,
        sample: str | int = 0,
        budget: AttemptBudget | None = None,
        use_cache: bool = True,
        serves: list[int] | None = None,
    ) -> Completion:
        """One call for `n` answers. `sample` tells repeated samples of one prompt apart in
        the response cache; `serves` names the attempt index each answer is for (default:
        the budget's attempt). Checks the budget first (raising BudgetExhausted). Every call,
        try and cache hit is written to the budget's ledger."""
        params = {key: value for key, value in self.params.items() if key not in _NOT_IN_KEY}
        if n > 1:
            params["n"] = n
        key = cache_key(self.model, messages, params, n, str(sample))
        if serves is None:
            serves = [budget.index] if budget is not None else []
        if budget is not None:
            budget.check()
        if self.cache is not None and use_cache:
            stored = self.cache.get(key)
            if stored is not None:
                completion = self._from_stored(stored)
                call_id = self._record(budget, CallEntry(
                    **self._where(budget, serves, len(completion.texts)), n=n,
                    samples=len(completion.texts), outcome="cached",
                    input_tokens=completion.input_tokens,
                    output_tokens=completion.output_tokens,
                    cache_read_tokens=completion.cache_read_tokens,
                    cache_write_tokens=completion.cache_write_tokens, dollars=0.0,
                    dollars_when_made=completion.dollars_if_uncached, cache_key=key,
                ))
                if budget is not None:
                    budget.call_ended(0.0, cached=True)
                return dataclasses.replace(completion, call_id=call_id)
        completion = self._call(messages, params, budget, key, n, serves)
        if self.cache is not None and completion.texts:
            self.cache.put(
                key, self.model, n, str(sample), params,
                StoredResponse(
                    texts=completion.texts, finish_reasons=completion.finish_reasons,
                    input_tokens=completion.input_tokens,
                    output_tokens=completion.output_tokens,
                    cache_read_tokens=completion.cache_read_tokens,
                    cache_write_tokens=completion.cache_write_tokens,
                    dollars=completion.dollars, seconds=completion.model_seconds,
                    tool_calls=completion.tool_calls,
                ),
            )
        return completion

    def _where(self, budget: AttemptBudget | None, serves: list[int],
               samples: int) -> dict[str, Any]:
        return {
            "run_id": budget.run_id if budget is not None else None,
            "instance_id": budget.instance_id if budget is not None else "",
            "model": self.model,
            "attempt_indices": list(serves[:samples]) if samples else list(serves),
        }

    @staticmethod
    def _record(budget: AttemptBudget | None, entry: CallEntry) -> int | None:
        if budget is None:
            return None
        return budget.budget.ledger.record(entry)

    def _from_stored(self, stored: StoredResponse) -> Completion:
        # Priced with today's table, so "would have cost" matches what a fresh call costs.
        would_cost = self.dollars(
            stored.input_tokens, stored.output_tokens, stored.cache_read_tokens,
            stored.cache_write_tokens,
        )
        return Completion(
            texts=stored.texts, finish_reasons=stored.finish_reasons,
            input_tokens=stored.input_tokens, output_tokens=stored.output_tokens,
            cache_read_tokens=stored.cache_read_tokens,
            cache_write_tokens=stored.cache_write_tokens,
            dollars=0.0, dollars_if_uncached=would_cost, cached=True, model_seconds=0.0,
            tool_calls=stored.tool_calls,
        )

    def _call(
        self, messages: list[dict[str, Any]], params: dict[str, Any],
        budget: AttemptBudget | None, key: str, n: int, serves: list[int],
    ) -> Completion:
        litellm = litellm_module()
        kwargs: dict[str, Any] = dict(params)
        kwargs.update(model=self.model, messages=messages, timeout=self.timeout, max_retries=0)
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self._api_key:
            kwargs["api_key"] = self._api_key
        waited = 0.0
        last: ModelError | None = None
        for attempt in range(self.retry.tries):
            # Every worker calling this endpoint waits out the same pause.
            self.gate.wait_turn()
            with self.limiter.slot():
                # A pause may have begun while this call queued for a slot.
                self.gate.wait_turn()
                # Checked once a slot is free: others may have spent the budget while this
                # call queued. The check and counting the call in flight are one step.
                if budget is not None:
                    budget.begin_call()
                started = time.monotonic()
                try:
                    response = litellm.completion(**kwargs)
                except Exception as error:  # litellm raises many types; classify sorts them
                    seconds = time.monotonic() - started
                    waited += seconds
                    if budget is not None:
                        budget.call_failed()
                    self._record(budget, CallEntry(
                        **self._where(budget, serves, 0), n=n, samples=0, outcome="error",
                        http_status=getattr(error, "status_code", None), cache_key=key,
                        seconds=seconds,
                    ))
                    last = classify(error, self.model)
                    if not isinstance(last, TransientModelError):
                        raise last from None
                    status = getattr(error, "status_code", None)
                    pause = self.retry.wait(attempt, error)
                    if isinstance(status, int) and (status == 429 or status >= 500):
                        # The endpoint says it is overloaded: every worker backs off.
                        self.gate.failed(_retry_after(error), pause, status)
                    elif attempt + 1 < self.retry.tries:
                        time.sleep(pause)  # a timeout or lost connection: this call only
                    continue
                waited += time.monotonic() - started
                self.gate.succeeded()
                completion = self._completion(response, messages, waited, attempt + 1)
                # Written to the ledger before the connection slot is given back, so a call
                # counts as in flight until the budgets can see what it cost: the overshoot
                # of a dollar limit stays within --max-connections calls.
                call_id = self._record(budget, CallEntry(
                    **self._where(budget, serves, len(completion.texts)), n=n,
                    samples=len(completion.texts), outcome="ok",
                    input_tokens=completion.input_tokens,
                    output_tokens=completion.output_tokens,
                    cache_read_tokens=completion.cache_read_tokens,
                    cache_write_tokens=completion.cache_write_tokens,
                    dollars=completion.dollars, cache_key=key,
                    seconds=completion.model_seconds,
                ))
                if budget is not None:
                    budget.call_ended(completion.dollars, cached=False)
            return dataclasses.replace(completion, call_id=call_id)
        assert last is not None
        raise TransientModelError(
            f"{self.model}: gave up after {self.retry.tries} tries; last error: {last}"
        )

    def _completion(
        self, response: Any, messages: list[dict[str, Any]], waited: float, tries: int
    ) -> Completion:
        choices = sorted(response.choices, key=lambda choice: choice.index or 0)
        texts = [(choice.message.content or "") for choice in choices]
        reasons = [str(choice.finish_reason or "") for choice in choices]
        tool_calls = [_tool_calls(choice) for choice in choices] if "tools" in self.params else None
        prompt, output, cache_read, cache_write = _usage_numbers(getattr(response, "usage", None))
        estimated = False
        if prompt == 0 and output == 0:
            # The server reported no usage: count with litellm's tokenizer, and say so.
            litellm = litellm_module()
            prompt = litellm.token_counter(model=self.model, messages=messages)
            output = sum(litellm.token_counter(model=self.model, text=text) for text in texts)
            estimated = True
        dollars = self.dollars(prompt, output, cache_read, cache_write)
        return Completion(
            texts=texts, finish_reasons=reasons, input_tokens=prompt, output_tokens=output,
            cache_read_tokens=cache_read, cache_write_tokens=cache_write, dollars=dollars,
            dollars_if_uncached=dollars, cached=False, model_seconds=waited, tries=tries,
            usage_estimated=estimated, tool_calls=tool_calls,
        )
