"""Synthetic runs written through the ORM into a real store, for tests and benchmarks of
report, compare and export (which read nothing but the store)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import insert, select

from harness.patches import patch_hash
from harness.reports.rundata import repo_of
from harness.store import (
    AttemptRecord,
    EvalStatus,
    EvaluationRecord,
    RunRecord,
    RunTaskRecord,
    Store,
    TaskRecord,
    TestResultRecord,
)


@dataclass(frozen=True)
class Attempt:
    patch: str  # "" for an empty patch
    resolved: bool = False
    model_dollars: float | None = 0.01
    compute_seconds: float = 30.0
    error_kind: str | None = None  # "infra" (never counted), "agent", ...
    pending: bool = False  # stored but not evaluated yet
    trajectory: list | None = None


def patch_for(instance_id: str, variant: int) -> str:
    """A small, valid unified diff, distinct per (task, variant)."""
    path = f"src/{instance_id.replace('/', '_')}.py"
    return (
        f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n"
        f"@@ -1,1 +1,1 @@\n-value = 0\n+value = {variant}\n"
    )


def add_run(
    store: Store,
    run_id: str,
    tasks: dict[str, list[Attempt]],
    k: int | None = None,
    agent: str = "synthetic",
    vcpu_hour_dollars: float = 0.04,
    task_errors: dict[str, str] | None = None,
) -> None:
    task_errors = task_errors or {}
    with store.writing() as session:
        session.add(
            RunRecord(
                id=run_id, agent=agent, agent_hash="synthetic", config={"synthetic": True},
                k=k if k is not None else max((len(a) for a in tasks.values()), default=0),
                code_revision="synthetic", package_versions={},
                vcpu_hour_dollars=vcpu_hour_dollars, status="finished",
            )
        )
        rows = []
        for instance_id, attempts in tasks.items():
            task = session.scalar(
                select(TaskRecord).where(TaskRecord.instance_id == instance_id)
            )
            if task is None:
                task = TaskRecord(
                    instance_id=instance_id, content_hash="synthetic",
                    repo=repo_of(instance_id), row={"instance_id": instance_id},
                )
                session.add(task)
                session.flush()
            session.add(
                RunTaskRecord(run_id=run_id, task_id=task.id, error=task_errors.get(instance_id))
            )
            evaluations = {
                digest: evaluation_id
                for digest, evaluation_id in session.execute(
                    select(EvaluationRecord.patch_hash, EvaluationRecord.id).where(
                        EvaluationRecord.task_id == task.id
                    )
                )
            }
            for index, attempt in enumerate(attempts):
                digest = patch_hash(attempt.patch)
                evaluation_id = None
                if attempt.error_kind != "infra" and not attempt.pending:
                    evaluation_id = evaluations.get(digest)
                    if evaluation_id is None:
                        evaluation_id = _add_evaluation(session, task.id, instance_id, attempt)
                        evaluations[digest] = evaluation_id
                rows.append(
                    {
                        "run_id": run_id, "task_id": task.id, "index": index, "seed": index,
                        "agent_hash": "synthetic", "patch": attempt.patch,
                        "patch_hash": digest, "model_dollars": attempt.model_dollars,
                        "compute_seconds": attempt.compute_seconds,
                        "error_kind": attempt.error_kind, "evaluation_id": evaluation_id,
                        "details": {"index": index}, "trajectory": attempt.trajectory,
                    }
                )
        if rows:
            session.execute(insert(AttemptRecord), rows)


def _add_evaluation(session, task_id: int, instance_id: str, attempt: Attempt) -> int:
    if not attempt.patch.strip():
        status = EvalStatus.EMPTY_PATCH
    else:
        status = EvalStatus.RESOLVED if attempt.resolved else EvalStatus.UNRESOLVED
    record = EvaluationRecord(
        task_id=task_id, patch_hash=patch_hash(attempt.patch), status=status,
        apply_method="git apply" if attempt.patch.strip() else "",
        patch=attempt.patch, eval_script=f"#!/bin/bash\n# evaluate {instance_id}\npytest\n",
        test_output=f"test output of {instance_id}: {status.value}\n",
    )
    if status is not EvalStatus.EMPTY_PATCH:
        record.tests = [
            TestResultRecord(
                name="tests/test_x.py::test_issue", kind="FAIL_TO_PASS",
                status="PASSED" if attempt.resolved else "FAILED", passed=attempt.resolved,
            ),
            TestResultRecord(
                name="tests/test_x.py::test_old", kind="PASS_TO_PASS", status="PASSED",
                passed=True,
            ),
        ]
    session.add(record)
    session.flush()
    return record.id


def random_tasks(
    n_tasks: int, n_attempts: int, seed: int = 0, repos: int = 12, model_dollars: float = 0.02
) -> dict[str, list[Attempt]]:
    """Tasks of varied difficulty: each attempt writes one of a few patches per task (one of
    them correct), or nothing. Realistic enough for vote/oracle gaps and curve shapes."""
    rng = random.Random(seed)
    tasks = {}
    for number in range(n_tasks):
        instance_id = f"org{number % repos}__repo{number % repos}-{1000 + number}"
        solve = rng.random() ** 3 if rng.random() < 0.7 else 0.0
        empty = rng.random() * 0.3
        wrong_variants = rng.randint(1, 6)
        attempts = []
        for _ in range(n_attempts):
            draw = rng.random()
            if draw < empty:
                attempts.append(Attempt("", model_dollars=model_dollars))
            elif draw < empty + (1 - empty) * solve:
                attempts.append(Attempt(patch_for(instance_id, 0), True, model_dollars))
            else:
                variant = 1 + min(int(rng.expovariate(1.0)), wrong_variants)
                attempts.append(Attempt(patch_for(instance_id, variant), False, model_dollars))
        tasks[instance_id] = attempts
    return tasks
