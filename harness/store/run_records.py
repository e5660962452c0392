"""The SQL of one run as the runner (the driver) needs it: open or check the run, find the work
left, commit attempts and evaluations, link attempts to verdicts, close the run.

Only the driver calls these: executors and their workers never touch the store, so the unique
keys here are the one place that decides whether a result is new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError

from harness.evaluation.oversize import stored_patch
from harness.evaluation.reruns import Rerun, RunVerdict, majority_index, output_digest
from harness.evaluation.status import EvalStatus
from harness.store.schema import (
    REDO_KINDS,
    AttemptRecord,
    EvaluationRecord,
    EvaluationRerunRecord,
    RunRecord,
    RunTaskRecord,
    TaskRecord,
    TestResultRecord,
    utcnow,
)
from harness.store.sessions import Sessions
from harness.store.spend import claim_samples, drop_attempt

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from harness.evaluation.evaluator import EvaluationOutcome
    from harness.tasks import Task

# The columns of an evaluation that come from the run it holds (the rest say what was graded).
_VERDICT_COLUMNS = (
    "status", "apply_method", "eval_script", "test_output", "log", "seconds", "compute_seconds",
    "cpu_seconds", "decided_by_stage", "harness_revision", "image_source", "image_name",
    "image_digest", "suspicious", "suspicion", "fault",
)


# What the store records of an executor's events (harness.executors.base AttemptMade and
# Evaluated), said structurally: the store sits below the executors and agents and imports
# neither.


class _Named(Protocol):
    @property
    def value(self) -> str: ...


class _Usage(Protocol):
    @property
    def input_tokens(self) -> int: ...
    @property
    def output_tokens(self) -> int: ...
    @property
    def cache_read_tokens(self) -> int: ...
    @property
    def cache_write_tokens(self) -> int: ...
    @property
    def model_dollars(self) -> float | None: ...


class _Sample(Protocol):
    @property
    def call_id(self) -> int: ...
    @property
    def position(self) -> int: ...


class _Candidate(Protocol):
    @property
    def patch(self) -> str: ...
    @property
    def usage(self) -> _Usage: ...
    @property
    def error(self) -> _Named | None: ...
    @property
    def error_message(self) -> str: ...
    @property
    def details(self) -> dict[str, Any]: ...
    @property
    def trajectory(self) -> list[dict[str, Any]] | None: ...
    @property
    def samples(self) -> Sequence[_Sample]: ...


class MadeAttempt(Protocol):
    """An attempt as an executor reports it (AttemptMade)."""

    @property
    def task_id(self) -> int: ...
    @property
    def index(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def candidate(self) -> _Candidate: ...
    @property
    def compute_seconds(self) -> float: ...
    @property
    def seconds(self) -> float: ...
    @property
    def patch_hash(self) -> str: ...


class _Image(Protocol):
    @property
    def source(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def digest(self) -> str: ...


class GradedPatch(Protocol):
    """A verdict as an executor reports it (Evaluated)."""

    @property
    def task_id(self) -> int: ...
    @property
    def patch_hash(self) -> str: ...
    @property
    def patch(self) -> str: ...
    @property
    def outcome(self) -> EvaluationOutcome: ...
    @property
    def charged_index(self) -> int: ...
    @property
    def image(self) -> _Image | None: ...
    @property
    def runs(self) -> Sequence[Rerun]: ...
    @property
    def first_run(self) -> int: ...
    @property
    def outcome_run(self) -> int: ...
    @property
    def majority(self) -> int: ...


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


@dataclass(frozen=True)
class RecordedAttempt:
    """What `record_attempt` did: stored the attempt (False: a copy was stored before), and
    the attempts that got an existing verdict with it."""

    stored: bool
    linked: list[LinkedAttempt] = field(default_factory=list)


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
        reruns: int = 1,
    ) -> dict[str, int]:
        """Creates the run (or checks an existing one and raises its k and its `reruns`),
        links the tasks. Returns instance_id -> task row id."""
        with self.writing() as session:
            run = session.get(RunRecord, run_id)
            if run is None:
                run = new_run()
                session.add(run)
            else:
                check_existing(run)
                run.k = max(run.k, k)
                if reruns > run.config.get("reruns", 1):
                    run.config = {**run.config, "reruns": reruns}
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

    def runs_so_far(self, task_id: int) -> dict[str, tuple[RunVerdict, ...]]:
        """The verdicts of every stored run of each graded patch of the task, by patch hash:
        its rows in `evaluation_reruns`, else the evaluation's own single run."""
        with self.reading() as session:
            evaluations = session.scalars(
                select(EvaluationRecord).where(EvaluationRecord.task_id == task_id)
            ).all()
            runs: dict[str, tuple[RunVerdict, ...]] = {}
            for evaluation in evaluations:
                if evaluation.reruns:
                    runs[evaluation.patch_hash] = tuple(map(_row_verdict, evaluation.reruns))
                else:
                    runs[evaluation.patch_hash] = (
                        RunVerdict(evaluation.status, _failing(evaluation.tests)),
                    )
        return runs

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

    def record_attempt(
        self, made: MadeAttempt, run_id: str, agent_hash: str, price_per_second: float,
        replaces: int | None = None,
    ) -> RecordedAttempt:
        """Stores what an executor reported of one attempt, in one transaction with dropping
        the kept row it `replaces` (an infrastructure error or budget cut being redone) and
        claiming the ledger samples it used, whose shares become its model dollars. A counted
        attempt whose patch already has a verdict is linked to it at once. Not stored when the
        (run, task, index) is already: the first copy is kept."""
        candidate = made.candidate
        usage = candidate.usage
        record = AttemptRecord(
            run_id=run_id,
            task_id=made.task_id,
            index=made.index,
            seed=made.seed,
            agent_hash=agent_hash,
            patch=stored_patch(candidate.patch),
            patch_hash=made.patch_hash,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            model_dollars=usage.model_dollars,
            compute_seconds=made.compute_seconds,
            seconds=made.seconds,
            error_kind=candidate.error.value if candidate.error else None,
            error_message=candidate.error_message,
            details=candidate.details,
            trajectory=candidate.trajectory,
        )
        samples = [(ref.call_id, ref.position) for ref in candidate.samples]
        try:
            with self.writing() as session:
                if replaces is not None:
                    drop_attempt(session, replaces)
                session.add(record)
                session.flush()
                if samples:
                    dollars, found = claim_samples(session, record.id, run_id, samples)
                    if found:  # else the agent's ledger had no store: keep its own figure
                        record.model_dollars = dollars
                linked: list[LinkedAttempt] = []
                if record.error_kind not in REDO_KINDS:
                    evaluation = session.scalar(_verdict_of(made.task_id, made.patch_hash))
                    if evaluation is not None:
                        linked = _link(session, run_id, made.task_id, evaluation,
                                       price_per_second)
        except IntegrityError:
            return RecordedAttempt(stored=False)
        return RecordedAttempt(stored=True, linked=linked)

    def add_attempt(
        self, record: AttemptRecord, replaces: int | None = None,
        samples: list[tuple[int, int]] | None = None,
    ) -> bool:
        """Stores a ready-made attempt row (imports, tests); see `record_attempt`. False when
        the (run, task, index) is already stored."""
        try:
            with self.writing() as session:
                if replaces is not None:
                    drop_attempt(session, replaces)
                session.add(record)
                session.flush()
                if samples:
                    dollars, found = claim_samples(session, record.id, record.run_id, samples)
                    if found:
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

    def record_evaluation(
        self, graded: GradedPatch, run_id: str, harness_revision: str, price_per_second: float,
    ) -> list[LinkedAttempt]:
        """Stores what an executor reported of one verdict (with its reruns on a flaky task)
        and gives it to every attempt of the run on the task with that patch still without one.
        Returns those attempts.

        A verdict already stored (graded meanwhile elsewhere) is the same by definition: the
        compute of the duplicate evaluation is then charged to nobody; with reruns every run
        is stored, so every run's compute is charged, even on a verdict stored before (its runs
        missing were made for this run)."""
        record = _evaluation_row(graded, harness_revision)
        new = True
        try:
            with self.writing() as session:
                session.add(record)
                session.flush()
                evaluation_id = record.id
        except IntegrityError:
            new = False
            found = self.evaluation_id(graded.task_id, graded.patch_hash)
            assert found is not None
            evaluation_id = found
        charge = (graded.charged_index, graded.outcome.compute_seconds) if new else None
        if graded.runs:
            self.add_runs(evaluation_id, graded.runs, graded.outcome_run, record, new,
                          majority=graded.majority, first_run=graded.first_run)
            charge = (graded.charged_index, sum(run.compute_seconds for run in graded.runs))
        return self.link_verdict(run_id, graded.task_id, graded.patch_hash, evaluation_id,
                                 price_per_second, charge)

    def add_runs(
        self, evaluation_id: int, runs: Sequence[Rerun], outcome_run: int,
        verdict: EvaluationRecord, new: bool, majority: int | None = None, first_run: int = 0,
    ) -> EvalStatus:
        """Stores `runs` of the evaluation's tests after those stored (an evaluation stored
        before without rows counts as its run 0) and gives the evaluation the majority verdict
        of them all. `verdict` is run `outcome_run` of `runs`, graded: the evaluation takes
        its output and per-test verdicts when that run is the majority's (already so when the
        evaluation is `new`, made from it); a majority run made earlier gives only its status.
        `majority` is the worker's pick among the `first_run` runs it saw stored and `runs`:
        taken as it is unless another writer stored runs meanwhile (then counted again).
        Returns the evaluation's status."""
        for _ in range(3):  # a concurrent writer took the same indices: read again, append
            try:
                with self.writing() as session:
                    evaluation = session.get(EvaluationRecord, evaluation_id)
                    assert evaluation is not None
                    stored = list(evaluation.reruns)
                    if not stored and not new:
                        stored = [EvaluationRerunRecord(
                            index=0, status=evaluation.status,
                            failing=list(_failing(evaluation.tests)),
                            seconds=evaluation.seconds,
                            compute_seconds=evaluation.compute_seconds,
                            cpu_seconds=evaluation.cpu_seconds,
                            output_digest=output_digest(evaluation.test_output),
                        )]
                    start = stored[-1].index + 1 if stored else 0
                    added = [
                        EvaluationRerunRecord(
                            index=start + number, status=run.verdict.status,
                            failing=list(run.verdict.failing), seconds=run.seconds,
                            compute_seconds=run.compute_seconds, cpu_seconds=run.cpu_seconds,
                            output_digest=run.output_digest,
                        )
                        for number, run in enumerate(runs)
                    ]
                    every = stored + added
                    evaluation.reruns = every
                    if majority is not None and len(stored) == first_run:
                        chosen = majority
                    else:
                        chosen = majority_index([_row_verdict(row) for row in every])
                    if chosen == start + outcome_run:
                        if not new:
                            _take_verdict(evaluation, verdict)
                    elif every[chosen].status is not evaluation.status:
                        evaluation.status = every[chosen].status
                        evaluation.log = (
                            f"reruns: the verdict is run {chosen}'s of {len(every)} (made "
                            "before); the output and per-test verdicts here are another "
                            "run's\n" + evaluation.log
                        )
                    return evaluation.status
            except IntegrityError:
                continue
        raise RuntimeError(f"could not store the reruns of evaluation {evaluation_id}")

    def rerun_counts(self, run_id: str) -> dict[int, int]:
        """Evaluation id -> its runs, for the run's evaluations with reruns (`run --reruns`)."""
        linked = (
            select(AttemptRecord.evaluation_id)
            .where(AttemptRecord.run_id == run_id, AttemptRecord.evaluation_id.is_not(None))
            .distinct()
        )
        with self.reading() as session:
            rows = session.execute(
                select(EvaluationRerunRecord.evaluation_id, func.count())
                .where(EvaluationRerunRecord.evaluation_id.in_(linked))
                .group_by(EvaluationRerunRecord.evaluation_id)
            ).all()
        return {evaluation_id: count for evaluation_id, count in rows}

    def link_verdict(
        self, run_id: str, task_id: int, patch_hash: str, evaluation_id: int,
        price_per_second: float, charge: tuple[int, float] | None = None,
    ) -> list[LinkedAttempt]:
        """Gives every counted attempt of this run on the task with this patch, still without
        one, the verdict. `charge` (attempt index, compute seconds) adds the evaluation's
        compute to the attempt that caused it."""
        with self.writing() as session:
            evaluation = session.get(EvaluationRecord, evaluation_id)
            assert evaluation is not None and evaluation.patch_hash == patch_hash
            return _link(session, run_id, task_id, evaluation, price_per_second, charge)


def _verdict_of(task_id: int, patch_hash: str) -> Select[tuple[EvaluationRecord]]:
    return select(EvaluationRecord).where(
        EvaluationRecord.task_id == task_id, EvaluationRecord.patch_hash == patch_hash
    )


def _link(
    session: Session, run_id: str, task_id: int, evaluation: EvaluationRecord,
    price_per_second: float, charge: tuple[int, float] | None = None,
) -> list[LinkedAttempt]:
    """link_verdict inside the caller's transaction."""
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
            AttemptRecord.patch_hash == evaluation.patch_hash,
            AttemptRecord.evaluation_id.is_(None),
            or_(
                AttemptRecord.error_kind.is_(None),
                AttemptRecord.error_kind.not_in(REDO_KINDS),
            ),
        )
    ).all()
    linked = []
    for attempt in waiting:
        attempt.evaluation_id = evaluation.id
        dollars = (attempt.model_dollars or 0.0) + attempt.compute_seconds * price_per_second
        linked.append(LinkedAttempt(task_id, evaluation.status.resolved, dollars))
    return linked


def _evaluation_row(graded: GradedPatch, harness_revision: str) -> EvaluationRecord:
    """The row of a reported verdict, with its per-test results."""
    outcome = graded.outcome
    record = EvaluationRecord(
        task_id=graded.task_id,
        patch_hash=graded.patch_hash,
        status=outcome.status,
        apply_method=outcome.apply_method,
        patch=stored_patch(graded.patch),
        eval_script=outcome.eval_script,
        test_output=outcome.test_output,
        log=outcome.log,
        seconds=outcome.seconds,
        compute_seconds=outcome.compute_seconds,
        cpu_seconds=outcome.cpu_seconds,
        decided_by_stage=outcome.decided_by_stage,
        harness_revision=harness_revision,
        suspicious=outcome.suspicious,
        suspicion=outcome.suspicion,
        fault=outcome.fault,
    )
    if graded.image is not None:
        record.image_source = graded.image.source
        record.image_name = graded.image.name
        record.image_digest = graded.image.digest
    if outcome.grade is not None:
        record.tests = [
            TestResultRecord(
                name=verdict.name,
                kind=verdict.kind,
                status=verdict.status.value if verdict.status else None,
                passed=verdict.passed,
                counts_against=verdict.counts_against,
            )
            for verdict in outcome.grade.verdicts
        ]
    return record


def _row_verdict(row: EvaluationRerunRecord) -> RunVerdict:
    return RunVerdict(row.status, tuple(row.failing))


def _failing(tests: Sequence[TestResultRecord]) -> tuple[str, ...]:
    """The stored listed tests that counted against their evaluation, as grading decided."""
    return tuple(test.name for test in tests if test.counts_against)


def _take_verdict(evaluation: EvaluationRecord, verdict: EvaluationRecord) -> None:
    """The evaluation holds `verdict`'s run from now on: its outcome and per-test verdicts."""
    columns = EvaluationRecord.__table__.columns
    for column in _VERDICT_COLUMNS:
        value = getattr(verdict, column)
        if value is None and not columns[column].nullable:
            continue  # not given (e.g. no image identity): the column's value stands
        setattr(evaluation, column, value)
    evaluation.tests = [
        TestResultRecord(name=test.name, kind=test.kind, status=test.status, passed=test.passed,
                         counts_against=test.counts_against)
        for test in verdict.tests
    ]
