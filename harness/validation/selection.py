"""Validations in the store: save a task's result, read the newest of each task, and leave out
of a run the tasks whose validation failed.

Results live in the store's database (table `validations`), keyed by (instance id, task content
hash, environment spec): a changed task or spec is validated afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.provenance import code_revision
from harness.store import Store, ValidationRecord
from harness.tasks import Task
from harness.validation.result import ValidationResult


def save_validation(store: Store, task: Task, result: ValidationResult, repeats: int) -> None:
    store.save_validation(
        task.instance_id, task.content_hash, result.spec,
        repo=task.repo,
        version=task.version,
        env_ok=result.env_ok,
        gold_resolves=result.gold_resolves,
        empty_unresolved=result.empty_unresolved,
        flaky_tests=result.flaky_tests,
        repeats=repeats,
        valid=result.valid,
        reason=result.reason,
        details={"runs": [run.to_json() for run in result.runs], "env_error": result.env_error},
        seconds=result.seconds,
        harness_revision=code_revision(),
    )


def stored_validations(store: Store, tasks: Iterable[Task]) -> dict[str, ValidationRecord]:
    """The newest validation of each task's exact definition (any spec), by instance id."""
    return store.newest_validations((task.instance_id, task.content_hash) for task in tasks)


@dataclass
class Selection:
    """Tasks kept for a run, and those left out because they failed validation (with why)."""

    tasks: list[Task]
    left_out: dict[str, str] = field(default_factory=dict)  # instance id -> reason
    not_validated: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One or two lines for the user; empty when nothing was left out."""
        if not self.left_out:
            return ""
        reasons: dict[str, int] = {}
        for reason in self.left_out.values():
            kind = reason.split(":", 1)[0].split(" (", 1)[0]
            reasons[kind] = reasons.get(kind, 0) + 1
        parts = ", ".join(f"{count} {kind}" for kind, count in sorted(reasons.items()))
        return (
            f"left out {len(self.left_out)} task(s) that failed validation ({parts}); "
            "--include-unvalidated keeps them"
        )


def select_validated(store: Store, tasks: list[Task], include_unvalidated: bool) -> Selection:
    """Leaves out tasks whose stored validation failed, unless `include_unvalidated`. Tasks
    never validated are kept (and listed in `not_validated`)."""
    records = stored_validations(store, tasks)
    selection = Selection([])
    for task in tasks:
        record = records.get(task.instance_id)
        if record is None:
            selection.not_validated.append(task.instance_id)
            selection.tasks.append(task)
        elif record.valid or include_unvalidated:
            selection.tasks.append(task)
        else:
            selection.left_out[task.instance_id] = record.reason
    return selection
