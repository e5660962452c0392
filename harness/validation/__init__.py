"""Validation of tasks: can this harness host and grade each one?

For every task: build its environment, evaluate the gold patch and the empty patch `repeats`
times each, and record whether the environment built, whether gold resolves (every time, or,
where tests are flaky, in a majority of runs beyond chance: what `run --reruns` keeps, and
which takes 8 or more runs to show), whether the empty patch never does, and which listed
tests changed status between identical runs (flaky). A task is valid when all three hold.
`run` and `report` leave invalid tasks out unless asked not to, saying how many and why.

- result.py: what a validation found and the rules that make a task valid (pure).
- pool.py: validates many tasks at once on the executors' retrying sandbox pool and progress
  line, each evaluation stored as it finishes (resumable).
- selection.py: validations in the store, and leaving failed tasks out of a run.
"""

from harness.validation.pool import (
    INFRA_TRIES,
    PATCHES,
    PoolOutcome,
    ValidationPool,
    ValidationSandboxes,
)
from harness.validation.result import (
    DEFAULT_REPEATS,
    ENVIRONMENT_ERRORS,
    MAJORITY_SIGNIFICANCE,
    RunSummary,
    ValidationResult,
    beyond_chance,
    summarize_run,
    validate_task,
)
from harness.validation.selection import (
    Selection,
    save_validation,
    select_validated,
    stored_validations,
)

__all__ = [
    "DEFAULT_REPEATS", "ENVIRONMENT_ERRORS", "INFRA_TRIES", "MAJORITY_SIGNIFICANCE", "PATCHES",
    "PoolOutcome", "RunSummary", "Selection", "ValidationPool", "ValidationResult",
    "ValidationSandboxes", "beyond_chance", "save_validation", "select_validated",
    "stored_validations", "summarize_run", "validate_task",
]
