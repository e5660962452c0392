"""Reads for `harness view` (harness/viewer): one method per thing a page shows, each bounded
(a page of attempts, a slice of a log), so no page reads more of the store than it shows.

The run page's figures come from harness.reports (load_run, analyze), exactly as `report`
computes them; the queries here serve the rest: the list of runs, a task's attempts, one
attempt, its ledger rows and its log by pages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, inspect, or_, select

from harness.evaluation.status import EvalStatus
from harness.store import schema
from harness.store.schema import (
    REDO_KINDS,
    AttemptRecord,
    EvaluationRecord,
    EvaluationRerunRecord,
    ModelCallRecord,
    RunRecord,
    RunTaskRecord,
    SampleUseRecord,
    TaskRecord,
    TestResultRecord,
)
from harness.store.sessions import Sessions

# The columns of an evaluation whose text can be large: read by slices (text_slice), never whole.
LARGE_TEXT = ("test_output", "log", "eval_script", "patch")


@dataclass(frozen=True)
class RunListRow:
    id: str
    created_at: datetime
    updated_at: datetime
    agent: str
    agent_hash: str
    model: str
    k: int
    status: str
    tasks: int
    vcpu_hour_dollars: float


@dataclass(frozen=True)
class RunCounts:
    # (attempts counted, attempts resolved) per task with a counted attempt.
    counts: list[tuple[int, int]]
    model_dollars: float
    unknown_price: int  # counted attempts whose model price is unknown
    compute_seconds: float


@dataclass(frozen=True)
class AttemptCell:
    """One attempt of a task, as its grid cell and row show it."""

    id: int
    index: int
    error_kind: str | None
    patch_hash: str
    patch_chars: int
    status: EvalStatus | None  # None: not evaluated (yet)
    suspicious: bool
    model_dollars: float | None
    compute_seconds: float
    seconds: float

    @property
    def counted(self) -> bool:
        return self.status is not None and self.error_kind not in REDO_KINDS

    @property
    def verdict(self) -> str:
        if self.error_kind in REDO_KINDS:
            return self.error_kind or ""
        return self.status.value if self.status is not None else "pending"


@dataclass(frozen=True)
class PatchGroup:
    """Attempts of a task that produced one normalized patch."""

    patch_hash: str
    attempts: int
    first_index: int
    patch_chars: int
    status: EvalStatus | None
    suspicious: bool


@dataclass(frozen=True)
class TaskInRun:
    task_id: int
    instance_id: str
    repo: str
    content_hash: str
    row: dict[str, Any]
    error: str | None
    attempts: int


@dataclass(frozen=True)
class LedgerRow:
    call_id: int
    position: int
    model: str
    outcome: str
    http_status: int | None
    samples: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    dollars: float | None
    dollars_when_made: float | None
    seconds: float
    created_at: datetime


@dataclass(frozen=True)
class TestRow:
    name: str
    kind: str
    status: str | None
    passed: bool


@dataclass(frozen=True)
class SelectionRow:
    selector: str
    patch_hash: str | None
    error: str
    stages: list[str]


def _counted(attempts: Any) -> tuple[Any, ...]:
    return (
        attempts.evaluation_id.is_not(None),
        or_(attempts.error_kind.is_(None), attempts.error_kind.not_in(REDO_KINDS)),
    )


class BrowseQueries(Sessions):
    # --- runs ----------------------------------------------------------------------------

    def run_list(self, limit: int = 200, offset: int = 0) -> list[RunListRow]:
        """The newest runs first, with how many tasks each has (no attempt is read: the
        counts behind the solve rates come from run_counts, once per state of a run)."""
        with self.reading() as session:
            runs = session.scalars(
                select(RunRecord).order_by(RunRecord.created_at.desc(), RunRecord.id)
                .limit(limit).offset(offset)
            ).all()
            ids = [run.id for run in runs]
            tasks = dict(session.execute(
                select(RunTaskRecord.run_id, func.count())
                .where(RunTaskRecord.run_id.in_(ids)).group_by(RunTaskRecord.run_id)
            ).all()) if ids else {}
        return [
            RunListRow(
                id=run.id, created_at=run.created_at, updated_at=run.updated_at,
                agent=run.agent, agent_hash=run.agent_hash, model=_model_of(run.config),
                k=run.k, status=run.status, tasks=int(tasks.get(run.id, 0)),
                vcpu_hour_dollars=run.vcpu_hour_dollars,
            )
            for run in runs
        ]

    def run_counts(self, run_id: str) -> RunCounts:
        """Per task of the run, its counted and resolved attempts, and the run's counted
        spend: one grouped query over the run's attempts."""
        attempts = AttemptRecord.__table__.c
        evaluations = EvaluationRecord.__table__.c
        with self.reading() as session:
            per_task = session.connection().execute(
                select(
                    func.count(),
                    func.sum(case((evaluations.status == EvalStatus.RESOLVED, 1), else_=0)),
                    func.sum(attempts.model_dollars),
                    func.sum(case((attempts.model_dollars.is_(None), 1), else_=0)),
                    func.sum(attempts.compute_seconds),
                )
                .join(EvaluationRecord.__table__, evaluations.id == attempts.evaluation_id)
                .where(attempts.run_id == run_id, *_counted(attempts))
                .group_by(attempts.task_id)
            ).all()
        return RunCounts(
            counts=[(int(n), int(c or 0)) for n, c, *_ in per_task],
            model_dollars=sum(float(row[2] or 0.0) for row in per_task),
            unknown_price=sum(int(row[3] or 0) for row in per_task),
            compute_seconds=sum(float(row[4] or 0.0) for row in per_task),
        )

    def run_fingerprint(self, run_id: str) -> tuple[Any, ...] | None:
        """Changes when a stopped run's figures can change (resumed, attempts added or
        redone, closed): with the run's status, the key of the viewer's cache of its analysis.
        Only an index is read (tens of ms for 75,000 attempts); verdicts linked while a run
        is `running` do not change it, so the viewer refreshes running runs by age. None: no
        such run."""
        attempts = AttemptRecord.__table__.c
        with self.reading() as session:
            run = session.get(RunRecord, run_id)
            if run is None:
                return None
            count, last = session.connection().execute(
                select(func.count(), func.max(attempts.id)).where(attempts.run_id == run_id)
            ).one()
        return (run.updated_at, run.status, count, last)

    # --- a task of a run -----------------------------------------------------------------

    def task_in_run(self, run_id: str, instance_id: str) -> TaskInRun | None:
        with self.reading() as session:
            found = session.execute(
                select(TaskRecord, RunTaskRecord.error)
                .join(RunTaskRecord, RunTaskRecord.task_id == TaskRecord.id)
                .where(RunTaskRecord.run_id == run_id, TaskRecord.instance_id == instance_id)
            ).first()
            if found is None:
                return None
            task, error = found
            attempts = session.scalar(
                select(func.count()).where(
                    AttemptRecord.run_id == run_id, AttemptRecord.task_id == task.id
                )
            )
        return TaskInRun(task.id, task.instance_id, task.repo, task.content_hash, task.row, error,
                         int(attempts or 0))

    def attempt_cells(
        self, run_id: str, task_id: int, offset: int = 0, limit: int = 250
    ) -> list[AttemptCell]:
        """A page of the task's attempts in index order, without their patches."""
        attempts = AttemptRecord.__table__.c
        evaluations = EvaluationRecord.__table__.c
        with self.reading() as session:
            rows = session.connection().execute(
                select(
                    attempts.id, attempts.index, attempts.error_kind, attempts.patch_hash,
                    func.length(attempts.patch), evaluations.status, evaluations.suspicious,
                    attempts.model_dollars, attempts.compute_seconds, attempts.seconds,
                )
                .outerjoin(EvaluationRecord.__table__, evaluations.id == attempts.evaluation_id)
                .where(attempts.run_id == run_id, attempts.task_id == task_id)
                .order_by(attempts.index).offset(offset).limit(limit)
            ).all()
        return [
            AttemptCell(row[0], row[1], row[2], row[3], int(row[4] or 0), _status(row[5]),
                        bool(row[6]), row[7], row[8], row[9])
            for row in rows
        ]

    def patch_groups(self, run_id: str, task_id: int, limit: int = 100) -> list[PatchGroup]:
        """The task's distinct normalized patches among its counted attempts, most frequent
        first."""
        attempts = AttemptRecord.__table__.c
        evaluations = EvaluationRecord.__table__.c
        with self.reading() as session:
            rows = session.connection().execute(
                select(
                    attempts.patch_hash, func.count(), func.min(attempts.index),
                    func.max(func.length(attempts.patch)), func.max(evaluations.status),
                    func.max(case((evaluations.suspicious, 1), else_=0)),
                )
                .join(EvaluationRecord.__table__, evaluations.id == attempts.evaluation_id)
                .where(attempts.run_id == run_id, attempts.task_id == task_id,
                       *_counted(attempts))
                .group_by(attempts.patch_hash)
                .order_by(func.count().desc(), func.min(attempts.index))
                .limit(limit)
            ).all()
        return [
            PatchGroup(digest, int(count), int(first), int(chars or 0), _status(status),
                       bool(flagged))
            for digest, count, first, chars, status, flagged in rows
        ]

    def selections_of(self, run_id: str, instance_id: str) -> list[SelectionRow] | None:
        """What each stored selector chose for the task; None when this store (or this
        harness) has no table of selections."""
        record = getattr(schema, "SelectionRecord", None)
        if record is None:
            return None
        with self.reading() as session:
            if not inspect(session.connection()).has_table(record.__tablename__):
                return None
            rows = session.scalars(
                select(record).where(record.run_id == run_id, record.instance_id == instance_id)
                .order_by(record.selector)
            ).all()
        return [
            SelectionRow(
                str(row.selector), getattr(row, "patch_hash", None),
                str(getattr(row, "error", "") or ""),
                [str(stage.get("name", stage)) if isinstance(stage, dict) else str(stage)
                 for stage in (getattr(row, "evidence", None) or [])],
            )
            for row in rows
        ]

    # --- one attempt ---------------------------------------------------------------------

    def attempt_in_run(self, run_id: str, task_id: int, index: int) -> AttemptRecord | None:
        """The attempt with its evaluation's small columns (the large texts are read by
        slices)."""
        with self.reading() as session:
            return session.scalar(
                select(AttemptRecord).where(
                    AttemptRecord.run_id == run_id, AttemptRecord.task_id == task_id,
                    AttemptRecord.index == index,
                )
            )

    def evaluation_summary(self, evaluation_id: int) -> dict[str, Any] | None:
        """The evaluation's columns but its large texts, plus the length of each of those."""
        table = EvaluationRecord.__table__.c
        small = [column for column in table if column.name not in LARGE_TEXT]
        lengths = [func.length(table[name]).label(f"{name}_chars") for name in LARGE_TEXT]
        with self.reading() as session:
            row = session.execute(
                select(*small, *lengths).where(table.id == evaluation_id)
            ).mappings().first()
        if row is None:
            return None
        values = dict(row)
        values["status"] = _status(values["status"])
        return values

    def text_slice(self, evaluation_id: int, column: str, start: int, length: int) -> str:
        """`length` characters of an evaluation's large text from `start` (0-based)."""
        if column not in LARGE_TEXT:
            raise ValueError(f"not a large text column of evaluations: {column}")
        table = EvaluationRecord.__table__.c
        with self.reading() as session:
            text = session.execute(
                select(func.substr(table[column], start + 1, length))
                .where(table.id == evaluation_id)
            ).scalar()
        return text or ""

    def evaluation_tests(self, evaluation_id: int) -> list[TestRow]:
        with self.reading() as session:
            rows = session.execute(
                select(TestResultRecord.name, TestResultRecord.kind, TestResultRecord.status,
                       TestResultRecord.passed)
                .where(TestResultRecord.evaluation_id == evaluation_id)
                .order_by(TestResultRecord.kind, TestResultRecord.passed, TestResultRecord.name)
            ).all()
        return [TestRow(*row) for row in rows]

    def evaluation_reruns(self, evaluation_id: int) -> list[EvaluationRerunRecord]:
        with self.reading() as session:
            return list(session.scalars(
                select(EvaluationRerunRecord)
                .where(EvaluationRerunRecord.evaluation_id == evaluation_id)
                .order_by(EvaluationRerunRecord.index)
            ))

    def ledger_rows(self, attempt_id: int) -> list[LedgerRow]:
        """The model calls whose samples the attempt used, one row per sample, in call order."""
        calls = ModelCallRecord.__table__.c
        uses = SampleUseRecord.__table__.c
        with self.reading() as session:
            rows = session.execute(
                select(
                    calls.id, uses.position, calls.model, calls.outcome, calls.http_status,
                    calls.samples, calls.input_tokens, calls.output_tokens,
                    calls.cache_read_tokens, calls.cache_write_tokens, calls.dollars,
                    calls.dollars_when_made, calls.seconds, calls.created_at,
                )
                .join(ModelCallRecord.__table__, calls.id == uses.call_id)
                .where(uses.attempt_id == attempt_id)
                .order_by(calls.id, uses.position)
            ).all()
        return [LedgerRow(*row) for row in rows]


def _status(value: Any) -> EvalStatus | None:
    """Core rows carry the enum's stored name; ORM rows the enum itself."""
    if value is None or isinstance(value, EvalStatus):
        return value
    try:
        return EvalStatus[value]
    except KeyError:
        return EvalStatus(value)


def _model_of(config: dict[str, Any]) -> str:
    llm = config.get("llm") if isinstance(config, dict) else None
    if isinstance(llm, dict) and llm.get("model"):
        return str(llm["model"])
    return str(config.get("model") or "") if isinstance(config, dict) else ""
