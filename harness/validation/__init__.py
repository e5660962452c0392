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

from __future__ import annotations

import importlib
from typing import Any

# Name -> the module of this package that defines it. Loaded when first asked for (PEP 562):
# the pool and the rules load the evaluator and the sandboxes, which `--help`, `report` and the
# DEFAULT_REPEATS of `validate`'s parser do not need.
_HOMES = {
    **dict.fromkeys(
        ("INFRA_TRIES", "PATCHES", "PoolOutcome", "ValidationPool", "ValidationSandboxes"),
        "pool",
    ),
    **dict.fromkeys(
        ("DEFAULT_REPEATS", "MAJORITY_SIGNIFICANCE", "RunSummary", "ValidationResult",
         "beyond_chance", "environment_errors", "summarize_run", "validate_task"),
        "result",
    ),
    **dict.fromkeys(
        ("Selection", "save_validation", "select_validated", "stored_validations"), "selection"
    ),
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
