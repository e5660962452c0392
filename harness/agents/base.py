"""The agent interface: one attempt at one task yields one candidate patch."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from harness.models.ledger import SampleRef
from harness.sandboxes.base import Sandbox
from harness.tasks import TaskView


class AttemptError(str, enum.Enum):
    """Why an attempt has no usable patch. INFRA and BUDGET_CUT are kept in the store but
    left out of the metrics, and made again by a later invocation; the others are the
    agent's own failures and count as failed attempts."""

    INFRA = "infra"  # sandbox died, model API unreachable after retries: redo later
    BUDGET_CUT = "budget_cut"  # a run, instance or --attempt-* budget cut it short: redo later
    FORMAT = "format"  # the agent produced output that is not a patch
    BUDGET = "budget"  # the agent definition's own limit (steps, cost, time) ended it
    AGENT = "agent"  # the agent gave up or crashed on this task


# Whose budget cut an attempt short (a BUDGET_CUT candidate): the run's stops the whole run,
# the task's ("instance") stops the task's remaining attempts, the attempt's own stops nothing
# else.
CutScope = Literal["run", "instance", "attempt"]


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    # None means the price is unknown, which is not the same as free.
    model_dollars: float | None = 0.0


@dataclass(frozen=True)
class Candidate:
    patch: str
    usage: Usage = field(default_factory=Usage)
    error: AttemptError | None = None
    error_message: str = ""
    trajectory: list[dict[str, Any]] | None = None
    # Whatever the agent wants kept for the record (seed, mutation applied, file chosen, ...).
    details: dict[str, Any] = field(default_factory=dict)
    # The model samples the attempt used (ledger calls and positions): its dollars come from
    # these, so they are the provider's bill shared out, never an estimate.
    samples: tuple[SampleRef, ...] = ()
    # With error BUDGET_CUT: whose budget cut it. The default, the attempt's own, stops no
    # other work: an agent that forgets to say cannot stop a run (any value but "run" or
    # "instance" counts as "attempt").
    budget_scope: CutScope = "attempt"


@dataclass(frozen=True)
class AttemptContext:
    task: TaskView
    index: int  # 0-based attempt number within the task
    seed: int  # derived from the run seed, the task and the index: reruns are reproducible
    run_id: str | None = None  # the run the attempt belongs to (its spend is charged there)
    # The attempt indices this invocation will still make on the task, this one first: an
    # agent that samples in batches asks for no more answers than attempts remain.
    upcoming: tuple[int, ...] = ()

    @property
    def remaining(self) -> int:
        """Attempts still to make on the task in this invocation, this one included."""
        return max(1, len(self.upcoming))


class Agent(Protocol):
    name: str
    # A stable digest of everything that defines the agent's behaviour (config, prompts).
    definition_hash: str
    # False for agents that never look at the repository (replay): no sandbox is started.
    uses_sandbox: bool
    # True for agents that edit the testbed (shell agents): it is reset before each attempt.
    changes_sandbox: bool

    def max_attempts(self, task: TaskView) -> int | None:
        """How many attempts this agent can make on the task at most; None for no limit."""
        ...

    def attempt(self, context: AttemptContext, sandbox: Sandbox) -> Candidate:
        """Makes one attempt. The sandbox holds the repository at the base commit, freshly
        reset; the agent may read and change it. Raises SandboxError on infrastructure trouble.
        """
        ...
