"""Queries of selection (harness/selection): the public inputs a selector may see, the test runs
selectors make, and what each selector chose.

`selection_inputs` is the one read a selector's input comes from: it returns each task's public
view and its attempts' patches, trajectories and costs, never the task's hidden fields nor any
verdict (no query here joins or reads the table of verdicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from harness.store.schema import (
    REDO_KINDS,
    AttemptRecord,
    RunRecord,
    RunTaskRecord,
    SelectionRecord,
    SelectionTestRunRecord,
    TaskRecord,
    utcnow,
)
from harness.store.sessions import Sessions
from harness.tasks import Task, TaskView, task_from_row


@dataclass(frozen=True)
class AttemptInput:
    """One counted attempt as a selector may see it."""

    attempt_id: int
    index: int
    patch: str
    patch_hash: str
    model_dollars: float | None
    trajectory: Any
    details: dict[str, Any]


@dataclass
class SelectionInput:
    """One task of a run: its public view and its attempts (those that count: not an
    infrastructure error or a budget cut), in attempt order."""

    view: TaskView
    attempts: list[AttemptInput] = field(default_factory=list)
    error: str | None = None  # why the run could not work on the task


@dataclass(frozen=True)
class StoredTestRun:
    subject: str
    suite: str
    statuses: dict[str, str]
    problem: str
    seconds: float
    dollars: float


def _view_of(row: dict[str, Any]) -> TaskView:
    return TaskView(
        instance_id=str(row["instance_id"]),
        repo=str(row["repo"]),
        base_commit=str(row["base_commit"]),
        problem_statement=str(row.get("problem_statement") or ""),
        hints_text=str(row.get("hints_text") or ""),
        version=str(row.get("version") or ""),
        created_at=str(row.get("created_at") or ""),
    )


class SelectionQueries(Sessions):
    def selection_inputs(self, run_id: str) -> list[SelectionInput] | None:
        """Every task of the run with its counted attempts; None when there is no such run."""
        with self.reading() as session:
            if session.get(RunRecord, run_id) is None:
                return None
            tasks = session.execute(
                select(RunTaskRecord.task_id, RunTaskRecord.error, TaskRecord.row)
                .join(TaskRecord, TaskRecord.id == RunTaskRecord.task_id)
                .where(RunTaskRecord.run_id == run_id)
                .order_by(TaskRecord.instance_id)
            ).all()
            inputs = {task_id: SelectionInput(_view_of(row), error=error)
                      for task_id, error, row in tasks}
            rows = session.execute(
                select(
                    AttemptRecord.task_id, AttemptRecord.id, AttemptRecord.index,
                    AttemptRecord.patch, AttemptRecord.patch_hash, AttemptRecord.model_dollars,
                    AttemptRecord.trajectory, AttemptRecord.details, AttemptRecord.error_kind,
                )
                .where(AttemptRecord.run_id == run_id)
                .order_by(AttemptRecord.task_id, AttemptRecord.index)
            ).all()
        for row in rows:
            if row.error_kind in REDO_KINDS or row.task_id not in inputs:
                continue
            inputs[row.task_id].attempts.append(
                AttemptInput(row.id, row.index, row.patch, row.patch_hash, row.model_dollars,
                             row.trajectory, row.details or {})
            )
        return list(inputs.values())

    def selection_task(self, run_id: str, instance_id: str) -> Task | None:
        """The whole task definition, for building its sandbox image and reading its
        environment's test command: only harness.selection.environment calls this, and hands
        selectors a runner that keeps none of it."""
        with self.reading() as session:
            row = session.scalar(
                select(TaskRecord.row)
                .join(RunTaskRecord, RunTaskRecord.task_id == TaskRecord.id)
                .where(RunTaskRecord.run_id == run_id, TaskRecord.instance_id == instance_id)
            )
        return None if row is None else task_from_row(row)

    def attempt_hashes(self, run_id: str) -> dict[int, str]:
        """Attempt id -> normalized patch hash, for the report's k-subsets."""
        with self.reading() as session:
            rows = session.execute(
                select(AttemptRecord.id, AttemptRecord.patch_hash)
                .where(AttemptRecord.run_id == run_id)
            ).all()
        return dict(rows)

    # --- test runs ------------------------------------------------------------------------

    def selection_test_run(
        self, instance_id: str, base_commit: str, subject: str, suite: str
    ) -> StoredTestRun | None:
        with self.reading() as session:
            record = session.scalar(
                select(SelectionTestRunRecord).where(
                    SelectionTestRunRecord.instance_id == instance_id,
                    SelectionTestRunRecord.base_commit == base_commit,
                    SelectionTestRunRecord.subject == subject,
                    SelectionTestRunRecord.suite == suite,
                )
            )
        if record is None:
            return None
        return StoredTestRun(record.subject, record.suite, dict(record.statuses),
                             record.problem, record.seconds, record.dollars)

    def save_selection_test_run(
        self, instance_id: str, base_commit: str, suite_name: str, targets: list[str],
        run: StoredTestRun, compute_seconds: float,
    ) -> None:
        """Stores one test run; a run already stored under the same key is kept (two
        selections racing ran the same tests)."""
        with self.writing() as session:
            exists = session.scalar(
                select(SelectionTestRunRecord.id).where(
                    SelectionTestRunRecord.instance_id == instance_id,
                    SelectionTestRunRecord.base_commit == base_commit,
                    SelectionTestRunRecord.subject == run.subject,
                    SelectionTestRunRecord.suite == run.suite,
                )
            )
            if exists is not None:
                return
            session.add(SelectionTestRunRecord(
                instance_id=instance_id, base_commit=base_commit, subject=run.subject,
                suite=run.suite, suite_name=suite_name[:200], targets=list(targets),
                statuses=dict(run.statuses), problem=run.problem, seconds=run.seconds,
                compute_seconds=compute_seconds, dollars=run.dollars,
            ))

    def selection_runs_of(self, instance_id: str) -> list[dict[str, Any]]:
        """Every stored selection test run of a task, as plain data (for export)."""
        with self.reading() as session:
            records = session.scalars(
                select(SelectionTestRunRecord)
                .where(SelectionTestRunRecord.instance_id == instance_id)
                .order_by(SelectionTestRunRecord.id)
            ).all()
            return [
                {"subject": r.subject, "suite": r.suite, "suite_name": r.suite_name,
                 "targets": r.targets, "statuses": r.statuses, "problem": r.problem,
                 "seconds": r.seconds, "dollars": r.dollars}
                for r in records
            ]

    def selection_test_runs_count(self) -> int:
        with self.reading() as session:
            return len(session.scalars(select(SelectionTestRunRecord.id)).all())

    # --- decisions ------------------------------------------------------------------------

    def save_selection(self, run_id: str, selector: str, instance_id: str, **values: Any) -> None:
        """Stores (or replaces) what `selector` chose for one task of the run."""
        unknown = set(values) - set(SelectionRecord.__table__.columns.keys())
        if unknown:
            raise TypeError(f"not columns of selections: {sorted(unknown)}")
        with self.writing() as session:
            record = session.scalar(
                select(SelectionRecord).where(
                    SelectionRecord.run_id == run_id, SelectionRecord.selector == selector,
                    SelectionRecord.instance_id == instance_id,
                )
            )
            if record is None:
                record = SelectionRecord(run_id=run_id, selector=selector,
                                         instance_id=instance_id)
                session.add(record)
            for name, value in values.items():
                setattr(record, name, value)
            record.created_at = utcnow()

    def selections(self, run_id: str, selector: str | None = None) -> list[SelectionRecord]:
        """Stored selections of a run (of one selector, or all), by selector and task."""
        with self.reading() as session:
            query = select(SelectionRecord).where(SelectionRecord.run_id == run_id)
            if selector is not None:
                query = query.where(SelectionRecord.selector == selector)
            return list(session.scalars(
                query.order_by(SelectionRecord.selector, SelectionRecord.instance_id)
            ))
