"""One attempt = one run of mini-swe-agent's agent class on the task, in the attempt's sandbox.

How its exit statuses become our attempt outcomes (docs/mini-swe-agent.md has the table):

  Submitted                        a candidate: its submission is the patch
  LimitsExceeded, TimeExceeded     `budget`: the configuration's step, cost or time limit
  RepeatedFormatError              `format`: it gave up after format errors in a row
  our budgets (--max-cost, ...)    `budget_cut`: not counted, made again when they allow
  model endpoint kept failing      `infra`: redone later (a sandbox failure is redone at once)
  any other exception or status    `agent`
"""

from __future__ import annotations

import json
from typing import Any

from harness.agents.base import AttemptContext, AttemptError, Candidate
from harness.agents.mini.config import MiniSetup
from harness.agents.mini.environment import SandboxEnvironment
from harness.agents.mini.model import ModelRoute
from harness.models.budget import Budget, BudgetExhausted
from harness.models.llm import LLM, ModelFatalError, PromptError, TransientModelError
from harness.sandboxes.base import Sandbox, SandboxError
from harness.tasks import TaskView

_PARTIAL_DIFF_CHARS = 50_000
BUDGET_STATUSES = frozenset({"LimitsExceeded", "TimeExceeded"})
FORMAT_STATUSES = frozenset({"RepeatedFormatError"})


def outcome_of(exit_status: str) -> AttemptError | None:
    """Our outcome for one of its exit statuses (None: a candidate)."""
    if exit_status == "Submitted":
        return None
    if exit_status in BUDGET_STATUSES:
        return AttemptError.BUDGET
    if exit_status in FORMAT_STATUSES:
        return AttemptError.FORMAT
    return AttemptError.AGENT


class MiniAgent:
    name = "mini"
    uses_sandbox = True
    changes_sandbox = True
    info: Any = None  # set by the factory: what the run records, and warnings

    def __init__(self, setup: MiniSetup, llm: LLM, model_class: type, budget: Budget | None,
                 use_cache: bool = True) -> None:
        self.setup = setup
        self.llm = llm
        self.model_class = model_class
        self.budget = budget or Budget()
        self.use_cache = use_cache
        self.definition_hash = setup.definition_hash

    def max_attempts(self, task: TaskView) -> int | None:
        return None

    def attempt(self, context: AttemptContext, sandbox: Sandbox) -> Candidate:
        # Its own step, cost and time limits are kept by its agent class (its exit statuses
        # say so); our budgets (run, instance, --attempt-*) apply beside them.
        budget = self.budget.start_attempt(
            context.task.instance_id, None, run_id=context.run_id, index=context.index
        )
        try:
            return self._attempt(context, sandbox, ModelRoute(
                self.llm, budget, f"attempt{context.index}", self.use_cache
            ))
        finally:
            budget.finish()

    def build(self, route: ModelRoute, environment: Any) -> Any:
        """Its agent, as its own runners build one (agent_class from the configuration)."""
        from minisweagent.agents import get_agent

        config = self.setup.config
        model_config = {key: value for key, value in config["model"].items()
                        if key != "model_class"}
        model = self.model_class(route=route, **model_config)
        return get_agent(model, environment, dict(config["agent"]), default_type="default")

    def _attempt(self, context: AttemptContext, sandbox: Sandbox, route: ModelRoute
                 ) -> Candidate:
        environment = SandboxEnvironment(sandbox, **self.setup.config["environment"])
        agent = self.build(route, environment)
        error: AttemptError | None = None
        message = ""
        try:
            result = agent.run(context.task.problem_statement)
            exit_status = str(result.get("exit_status", ""))
            submission = str(result.get("submission") or "")
            error = outcome_of(exit_status)
            if error is not None:
                message = f"mini-swe-agent exit status {exit_status}"
        except (SandboxError, ModelFatalError):
            raise  # the sandbox is redone by the runner; a model that cannot work stops the run
        except BudgetExhausted as exhausted:
            if exhausted.scope in ("run", "instance") and route.tally.calls == 0:
                raise  # nothing was spent: the runner stops before recording an attempt
            exit_status, submission = "BudgetExhausted", ""
            error, message = AttemptError.BUDGET_CUT, str(exhausted)
        except TransientModelError as failed:
            exit_status, submission = "TransientModelError", ""
            error, message = AttemptError.INFRA, str(failed)
        except PromptError as failed:
            exit_status, submission = "PromptError", ""
            error, message = AttemptError.AGENT, str(failed)
        except Exception as failed:  # its code or the configuration's templates
            exit_status, submission = type(failed).__name__, ""
            error, message = AttemptError.AGENT, f"{type(failed).__name__}: {failed}"
        data = _json_safe(agent.serialize({
            "info": {"exit_status": exit_status, "submission": submission},
            "instance_id": context.task.instance_id,
        }))
        details: dict[str, Any] = {
            **route.tally.details(), "steps": agent.n_calls, "exit_status": exit_status,
            "mini_cost": agent.cost, "commands": environment.commands,
            "mini_info": data.get("info", {}),
            "trajectory_format": data.get("trajectory_format"),
        }
        if error is not None and error is not AttemptError.INFRA:
            details["partial_diff"] = _partial_diff(sandbox)
        return Candidate(
            patch=submission if error is None else "", usage=route.tally.usage(), error=error,
            error_message=message, trajectory=data.get("messages", []), details=details,
            samples=tuple(route.tally.samples),
        )


def _partial_diff(sandbox: Sandbox) -> str:
    try:
        return sandbox.diff()[:_PARTIAL_DIFF_CHARS]
    except SandboxError:
        return ""


def _json_safe(data: Any) -> Any:
    """What the store's JSON columns can hold (its messages carry litellm objects' dumps)."""
    return json.loads(json.dumps(data, default=str))
