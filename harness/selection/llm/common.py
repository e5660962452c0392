"""What both LLM selectors do with the model: one budgeted call, its usage summed for the
evidence, and the ledger run id selection spend is kept under.

A call goes through harness.models.llm exactly as an agent's does (retries with backoff, the
endpoint's shared pause on 429/5xx, the response cache, the ledger). What is left:
- the budget stops it (BudgetExhausted): a recorded outcome, `budget_stopped`, and the
  selector falls back (repro: the tests it has; judge: the largest cluster);
- the prompt cannot be answered (PromptError): a recorded outcome, `prompt_refused`;
- the provider kept failing (TransientModelError, after every retry): raised, so the task's
  selection is stored as an error and redone by the next invocation, as an agent's
  infrastructure error is redone;
- no call can succeed (ModelFatalError): raised, the same way; its message says what to fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from harness.models.budget import BudgetExhausted
from harness.models.llm import Completion, PromptError
from harness.selection.base import SelectionContext
from harness.selection.llm.access import SelectorModel, ledger_run_id


class ModelOutcome(str, Enum):
    OK = "ok"
    BUDGET_STOPPED = "budget_stopped"
    PROMPT_REFUSED = "prompt_refused"
    NOT_NEEDED = "not_needed"  # nothing to decide: no call made


@dataclass
class ModelUsage:
    """The model side of one task's selection, as stored in the evidence."""

    outcome: str = ModelOutcome.NOT_NEEDED.value
    message: str = ""
    calls: int = 0  # paid calls
    cached_calls: int = 0  # answered from the response cache
    input_tokens: int = 0
    output_tokens: int = 0
    dollars: float | None = 0.0  # spent now (None: unpriced model)
    dollars_if_uncached: float | None = 0.0
    ledger_run: str | None = None

    def add(self, completion: Completion) -> None:
        if completion.cached:
            self.cached_calls += 1
        else:
            self.calls += 1
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.dollars = None if self.dollars is None or completion.dollars is None else (
            self.dollars + completion.dollars
        )
        self.dollars_if_uncached = (
            None if self.dollars_if_uncached is None or completion.dollars_if_uncached is None
            else self.dollars_if_uncached + completion.dollars_if_uncached
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class Caller:
    """One task's calls to one selector's model, under the selector's budget."""

    def __init__(self, model: SelectorModel, context: SelectionContext) -> None:
        self.model = model
        run_id = context.models.run_id if context.models is not None else None
        if run_id is None and context.run_id is not None:
            # Apart from the run's own spend, as select_run's default model access bills.
            run_id = ledger_run_id(context.run_id, model.selector)
        self.usage = ModelUsage(ledger_run=run_id)
        self._budget = model.budget.start_attempt(context.task.instance_id, run_id=run_id)

    def ask(self, messages: list[dict[str, str]], n: int, sample: str) -> Completion | None:
        """The completion, or None when the budget or the prompt stopped it (the usage's
        outcome says which). Raises TransientModelError, ModelFatalError."""
        try:
            completion = self.model.llm.complete(
                messages, n=n, sample=sample, budget=self._budget,
                use_cache=self.model.use_cache,
            )
        except BudgetExhausted as error:
            self.usage.outcome = ModelOutcome.BUDGET_STOPPED.value
            self.usage.message = str(error)
            return None
        except PromptError as error:
            self.usage.outcome = ModelOutcome.PROMPT_REFUSED.value
            self.usage.message = str(error)
            return None
        self.usage.add(completion)
        if self.usage.outcome == ModelOutcome.NOT_NEEDED.value:
            self.usage.outcome = ModelOutcome.OK.value
        return completion

    def finish(self) -> None:
        self._budget.finish()
