"""The SQL of one run as the runner (the driver) needs it: open or check the run, find the work
left, commit attempts and evaluations, link attempts to verdicts, close the run.

Only the driver calls these: executors and their workers never touch the store, so the unique
keys here are the one place that decides whether a result is new.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from harness.store.schema import (
    REDO_KINDS,
    AttemptRecord,
    EvaluationRecord,
    RunRecord,
    RunTaskRecord,
    TaskRecord,
    utcnow,
)
from harness.store.sessions import Sessions

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from harness.tasks import Task


@dataclass(frozen=True)
class StoredAttempt:
    id: int
    index: int
    patch_hash: str
    patch: str
    evaluation_id: int | None
    error_kind: str | None


@dataclass(frozen=True)
class LinkedAttempt:
    """An attempt that just got its verdict (for the progress bar)."""

    task_id: int
    resolved: bool
    dollars: float


class RunRecordQueries(Sessions):
    """One run's rows, as the runner reads and writes them."""

    # Provided by Store (which mixes this class in).
    upsert_task: Callable[[Session, Task], TaskRecord]

    # --- the run ---------------------------------------------------------------------------

    def open_run(
        self,
        run_id: str,
        new_run: Callable[[], RunRecord],
        check_existing: Callable[[RunRecord], None],
        k: int,
        tasks: list[Task],
    ) -> dict[str, int]:
        """Creates the run (or checks an existing one and raises its k), links the tasks.
        Returns instance_id -> task row id."""
        with self.writing() as session:
            run = session.get(RunRecord, run_id)
            if run is None:
                run = new_run()
                session.add(run)
            else:
                check_existing(run)
                run.k = max(run.k, k)
            run.status = "running"
            run.updated_at = utcnow()
            linked = set(
                session.scalars(
                    select(RunTaskRecord.task_id).where(RunTaskRecord.run_id == run_id)
                )
            )
            ids: dict[str, int] = {}
            for task in tasks:
                record = self.upsert_task(session, task)
                ids[task.instance_id] = record.id
                if record.id not in linked:
                    session.add(RunTaskRecord(run_id=run_id, task_id=record.id))
        return ids

    def finish_run(
        self, run_id: str, status: str, note: str, extra_config: dict[str, Any] | None
    ) -> None:
        with self.writing() as session:
            run = session.get(RunRecord, run_id)
            assert run is not None
            run.status = status
            run.note = note
            run.updated_at = utcnow()
            if extra_config:
                run.config = {**run.config, **extra_config}

    def set_task_error(self, run_id: str, task_id: int, message: str | None) -> None:
        with self.writing() as session:
            link = session.get(RunTaskRecord, (run_id, task_id))
            if link is not None:
                link.error = None if message is None else message[:4000]

    # --- planning --------------------------------------------------------------------------

    def attempts_of(self, run_id: str, task_id: int) -> list[StoredAttempt]:
        with self.reading() as session:
            rows = session.execute(
                select(
                    AttemptRecord.id, AttemptRecord.index, AttemptRecord.patch_hash,
                    AttemptRecord.patch, AttemptRecord.evaluation_id, AttemptRecord.error_kind,
                ).where(AttemptRecord.run_id == run_id, AttemptRecord.task_id == task_id)
            ).all()
        return [StoredAttempt(*row) for row in rows]

    def evaluated_hashes(self, task_id: int) -> set[str]:
        """Patch hashes with a stored verdict for the task (from any run)."""
        with self.reading() as session:
            return set(
                session.scalars(
                    select(EvaluationRecord.patch_hash).where(EvaluationRecord.task_id == task_id)
                )
            )

    def progress_so_far(
        self, run_id: str, price_per_second: float
    ) -> tuple[int, set[int], float]:
        """Attempts with a verdict, tasks solved and dollars spent, for the progress bar."""
        with self.reading() as session:
            rows = session.execute(
                select(
                    AttemptRecord.task_id,
                    AttemptRecord.model_dollars,
                    AttemptRecord.compute_seconds,
                    EvaluationRecord.status,
                )
                .join(EvaluationRecord, AttemptRecord.evaluation_id == EvaluationRecord.id)
                .where(AttemptRecord.run_id == run_id)
            ).all()
        solved = {task_id for task_id, _, _, status in rows if status.resolved}
        dollars = sum((model or 0.0) + compute * price_per_second for _, model, compute, _ in rows)
        return len(rows), solved, dollars

    # --- results ---------------------------------------------------------------------------

    def add_attempt(
        self, record: AttemptRecord, replaces: int | None = None,
        samples: list[tuple[int, int]] | None = None,
    ) -> bool:
        """Stores the attempt in one transaction with dropping the kept row it `replaces` (an
        infrastructure error or budget cut being redone) and claiming the ledger `samples`
        (call id, position) it used, whose shares become its model dollars. False when the
        (run, task, index) is already stored: the first copy is kept."""
        from harness.store.spend import claim_samples, drop_attempt  # spend.py imports Store

        try:
            with self.writing() as session:
                if replaces is not None:
                    drop_attempt(session, replaces)
                session.add(record)
                session.flush()
                if samples:
                    dollars, found = claim_samples(session, record.id, record.run_id, samples)
                    if found:  # else the agent's ledger had no store: keep its own figure
                        record.model_dollars = dollars
        except IntegrityError:
            return False
        return True

    def evaluation_id(self, task_id: int, patch_hash: str) -> int | None:
        with self.reading() as session:
            return session.scalar(
                select(EvaluationRecord.id).where(
                    EvaluationRecord.task_id == task_id, EvaluationRecord.patch_hash == patch_hash
                )
            )

    def add_evaluation(self, record: EvaluationRecord) -> bool:
        """False when the (task, patch hash) already has a verdict (the same by definition)."""
        try:
            with self.writing() as session:
                session.add(record)
        except IntegrityError:
            return False
        return True

    def link_verdict(
        self, run_id: str, task_id: int, patch_hash: str, evaluation_id: int,
        price_per_second: float, charge: tuple[int, float] | None = None,
    ) -> list[LinkedAttempt]:
        """Gives every counted attempt of this run on the task with this patch, still without
        one, the verdict. `charge` (attempt index, compute seconds) adds the evaluation's
        compute to the attempt that caused it."""
        with self.writing() as session:
            evaluation = session.get(EvaluationRecord, evaluation_id)
            assert evaluation is not None
            if charge is not None:
                index, seconds = charge
                caused = session.scalar(
                    select(AttemptRecord).where(
                        AttemptRecord.run_id == run_id, AttemptRecord.task_id == task_id,
                        AttemptRecord.index == index,
                    )
                )
                if caused is not None:
                    caused.compute_seconds += seconds
            waiting = session.scalars(
                select(AttemptRecord).where(
                    AttemptRecord.run_id == run_id, AttemptRecord.task_id == task_id,
                    AttemptRecord.patch_hash == patch_hash, AttemptRecord.evaluation_id.is_(None),
                    or_(
                        AttemptRecord.error_kind.is_(None),
                        AttemptRecord.error_kind.not_in(REDO_KINDS),
                    ),
                )
            ).all()
            linked = []
            for attempt in waiting:
                attempt.evaluation_id = evaluation_id
                dollars = (attempt.model_dollars or 0.0) + attempt.compute_seconds * (
                    price_per_second
                )
                linked.append(LinkedAttempt(task_id, evaluation.status.resolved, dollars))
        return linked
