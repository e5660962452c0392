"""`bash`: a multi-turn agent that works in the task's sandbox through shell commands.

Each turn the model answers with exactly one ```bash block; the command runs in the container
(bounded in time and output) and its output is the next user message. The attempt ends when
the model runs the submit command (the candidate is the testbed's git diff) or when a limit
(steps, dollars, seconds) is reached. The whole conversation is the attempt's trajectory.
"""

from __future__ import annotations

import re
from typing import Any

from harness.agents.base import AttemptContext, AttemptError, Candidate, CutScope
from harness.agents.llm_config import BashDefinition, render
from harness.agents.llm_usage import UsageTally
from harness.models.budget import Budget, BudgetExhausted, Limits
from harness.models.llm import LLM, PromptError, TransientModelError
from harness.sandboxes.base import Sandbox
from harness.tasks import TaskView

_BLOCK = re.compile(r"```(?:bash|sh|shell|console)?[ \t]*\n(.*?)```", re.DOTALL)
# How much of a diff left unsubmitted is kept for the record.
_PARTIAL_DIFF_CHARS = 50_000


def shell_blocks(text: str) -> list[str]:
    return [block.strip() for block in _BLOCK.findall(text) if block.strip()]


def clip(text: str, limit: int) -> tuple[str, bool]:
    """Head and tail of `text` within `limit` characters, saying how much was left out."""
    if len(text) <= limit:
        return text, False
    half = limit // 2
    left_out = len(text) - 2 * half
    return f"{text[:half]}\n... {left_out} characters left out ...\n{text[-half:]}", True


class BashAgent:
    name = "bash"
    uses_sandbox = True
    # Set by build_llm_agent: what the run records about the model side, and warnings.
    info: Any = None
    changes_sandbox = True

    def __init__(
        self, definition: BashDefinition, llm: LLM, definition_hash: str,
        budget: Budget | None = None, use_cache: bool = True,
    ) -> None:
        self.definition = definition
        self.llm = llm
        self.definition_hash = definition_hash
        self.budget = budget or Budget()
        self.use_cache = use_cache
        self.limits = Limits(
            dollars=definition.cost_limit, steps=definition.step_limit,
            seconds=definition.time_limit,
        )

    def max_attempts(self, task: TaskView) -> int | None:
        return None

    def attempt(self, context: AttemptContext, sandbox: Sandbox) -> Candidate:
        budget = self.budget.start_attempt(
            context.task.instance_id, self.limits, run_id=context.run_id, index=context.index
        )
        try:
            return self._attempt(context, sandbox, budget)
        finally:
            budget.finish()

    def _attempt(self, context: AttemptContext, sandbox: Sandbox, budget: Any) -> Candidate:
        definition = self.definition
        task = context.task
        messages = [
            {"role": "system", "content": render(definition.system_template, task=task)},
            {"role": "user", "content": render(definition.instance_template, task=task)},
        ]
        trajectory: list[dict[str, Any]] = [dict(message) for message in messages]
        tally = UsageTally()

        def ended(error: AttemptError | None, message: str, patch: str = "",
                  cut: CutScope = "attempt", **extra: Any) -> Candidate:
            trajectory.append({"role": "harness", "content": message or "submitted"})
            return Candidate(
                patch=patch, usage=tally.usage(), error=error, error_message=message,
                trajectory=trajectory,
                details={**tally.details(), "steps": budget.steps, **extra},
                samples=tuple(tally.samples), budget_scope=cut,
            )

        while True:
            try:
                completion = self.llm.complete(
                    messages, sample=f"attempt{context.index}", budget=budget,
                    use_cache=self.use_cache,
                )
            except BudgetExhausted as error:
                if error.scope in ("run", "instance") and budget.steps == 0:
                    raise  # nothing was spent: the runner stops before recording an attempt
                partial = sandbox.diff()[:_PARTIAL_DIFF_CHARS]
                # The definition's own limit ends the attempt as the agent's failure; a
                # user's budget only cuts it short, to be made again when it allows.
                kind = AttemptError.BUDGET if error.scope == "agent" else AttemptError.BUDGET_CUT
                cut: CutScope = "attempt" if error.scope == "agent" else error.scope
                return ended(kind, str(error), cut=cut, exit="budget",
                             budget_scope=error.scope, partial_diff=partial)
            except TransientModelError as error:
                return ended(AttemptError.INFRA, str(error), exit="model_unreachable")
            except PromptError as error:
                return ended(AttemptError.AGENT, str(error), exit="prompt_rejected")
            tally.add(completion)
            text = completion.text
            messages.append({"role": "assistant", "content": text})
            trajectory.append({
                "role": "assistant", "content": text, "step": budget.steps,
                "cached": completion.cached, "input_tokens": completion.input_tokens,
                "output_tokens": completion.output_tokens, "dollars": completion.dollars,
            })
            blocks = shell_blocks(text)
            if len(blocks) != 1:
                reply = render(definition.format_error_template, actions=len(blocks))
                messages.append({"role": "user", "content": reply})
                trajectory.append({"role": "user", "content": reply, "format_error": True})
                continue
            command = blocks[0]
            if command == definition.submit_command:
                return ended(None, "", patch=sandbox.diff(), exit="submitted")
            timeout = definition.command_timeout
            if definition.time_limit is not None:
                timeout = max(1.0, min(timeout, definition.time_limit - budget.seconds))
            result = sandbox.exec(command, timeout=timeout)
            output = result.stdout + (f"\n[stderr]\n{result.stderr}" if result.stderr else "")
            shown, clipped = clip(output, definition.output_max_chars)
            reply = render(
                definition.observation_template, exit_code=result.exit_code, output=shown,
                timed_out=result.timed_out, truncated=clipped or result.truncated,
                seconds=round(result.seconds, 2),
            )
            messages.append({"role": "user", "content": reply})
            trajectory.append({
                "role": "user", "content": reply, "command": command,
                "exit_code": result.exit_code, "timed_out": result.timed_out,
                "seconds": round(result.seconds, 3), "truncated": clipped or result.truncated,
            })
