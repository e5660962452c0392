"""Whole runs written in one transaction: synthetic runs for tests and benchmarks of the
reports, which read nothing but the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from harness.evaluation.grading import counts_against
from harness.evaluation.status import EvalStatus, TestStatus
from harness.patches import patch_hash
from harness.store.schema import (
    AttemptRecord,
    EvaluationRecord,
    RunRecord,
    RunTaskRecord,
    TaskRecord,
    TestResultRecord,
)
from harness.store.sessions import Sessions


@dataclass(frozen=True)
class ImportedTest:
    name: str
    kind: str  # FAIL_TO_PASS, PASS_TO_PASS or OTHER
    status: str | None
    passed: bool


@dataclass(frozen=True)
class ImportedEvaluation:
    status: EvalStatus
    apply_method: str = ""
    eval_script: str = ""
    test_output: str = ""
    tests: tuple[ImportedTest, ...] = ()


@dataclass(frozen=True)
class ImportedAttempt:
    patch: str
    # None: stored but not evaluated (pending, or an infrastructure error).
    evaluation: ImportedEvaluation | None
    model_dollars: float | None = 0.0
    compute_seconds: float = 0.0
    error_kind: str | None = None
    trajectory: list[Any] | None = None


@dataclass
class ImportedTask:
    repo: str
    attempts: list[ImportedAttempt]
    content_hash: str = "imported"
    error: str | None = None  # why the run has no attempts on it
    row: dict[str, Any] = field(default_factory=dict)


class RunImports(Sessions):
    def import_run(
        self, run: RunRecord, tasks: dict[str, ImportedTask], agent_hash: str = "imported"
    ) -> None:
        """Writes `run` with its tasks, attempts (indices in list order) and evaluations. A
        task already stored under its instance id and content hash is reused, and so is an
        evaluation of the same (task, normalized patch), as the runner shares them."""
        with self.writing() as session:
            session.add(run)
            rows = []
            for instance_id, imported in tasks.items():
                task = session.scalar(
                    select(TaskRecord).where(
                        TaskRecord.instance_id == instance_id,
                        TaskRecord.content_hash == imported.content_hash,
                    )
                )
                if task is None:
                    task = TaskRecord(
                        instance_id=instance_id, content_hash=imported.content_hash,
                        repo=imported.repo, row=imported.row or {"instance_id": instance_id},
                    )
                    session.add(task)
                    session.flush()
                session.add(RunTaskRecord(run_id=run.id, task_id=task.id, error=imported.error))
                evaluations: dict[str, int] = {
                    digest: evaluation_id
                    for digest, evaluation_id in session.execute(
                        select(EvaluationRecord.patch_hash, EvaluationRecord.id).where(
                            EvaluationRecord.task_id == task.id
                        )
                    )
                }
                for index, attempt in enumerate(imported.attempts):
                    digest = patch_hash(attempt.patch)
                    evaluation_id = None
                    if attempt.evaluation is not None:
                        evaluation_id = evaluations.get(digest)
                        if evaluation_id is None:
                            evaluation_id = _add_evaluation(
                                session, task.id, digest, attempt.patch, attempt.evaluation
                            )
                            evaluations[digest] = evaluation_id
                    rows.append(
                        {
                            "run_id": run.id, "task_id": task.id, "index": index, "seed": index,
                            "agent_hash": agent_hash, "patch": attempt.patch,
                            "patch_hash": digest, "model_dollars": attempt.model_dollars,
                            "compute_seconds": attempt.compute_seconds,
                            "error_kind": attempt.error_kind, "evaluation_id": evaluation_id,
                            "details": {"index": index}, "trajectory": attempt.trajectory,
                        }
                    )
            if rows:
                session.execute(insert(AttemptRecord), rows)


def _add_evaluation(
    session: Any, task_id: int, digest: str, patch: str, evaluation: ImportedEvaluation
) -> int:
    record = EvaluationRecord(
        task_id=task_id, patch_hash=digest, status=evaluation.status,
        apply_method=evaluation.apply_method, patch=patch, eval_script=evaluation.eval_script,
        test_output=evaluation.test_output,
        tests=[
            TestResultRecord(
                name=t.name, kind=t.kind, status=t.status, passed=t.passed,
                counts_against=_counts_against(t),
            )
            for t in evaluation.tests
        ],
    )
    session.add(record)
    session.flush()
    return record.id


def _counts_against(test: ImportedTest) -> bool:
    """Grading's rule on an imported test (a status grading does not know counts neither way)."""
    if test.status is None:
        return counts_against(test.kind, None)
    try:
        return counts_against(test.kind, TestStatus(test.status))
    except ValueError:
        return False
