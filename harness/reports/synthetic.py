"""Synthetic runs written into a real store (through Store.import_run), for tests and benchmarks of
report, compare and export (which read nothing but the store)."""

from __future__ import annotations

import random
from dataclasses import dataclass

from harness.reports.rundata import repo_of
from harness.store import EvalStatus, RunRecord, Store
from harness.store.imports import ImportedAttempt, ImportedEvaluation, ImportedTask, ImportedTest


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
    run = RunRecord(
        id=run_id, agent=agent, agent_hash="synthetic", config={"synthetic": True},
        k=k if k is not None else max((len(a) for a in tasks.values()), default=0),
        code_revision="synthetic", package_versions={},
        vcpu_hour_dollars=vcpu_hour_dollars, status="finished",
    )
    store.import_run(
        run,
        {
            instance_id: ImportedTask(
                repo=repo_of(instance_id),
                attempts=[_imported(instance_id, attempt) for attempt in attempts],
                content_hash="synthetic",
                error=task_errors.get(instance_id),
            )
            for instance_id, attempts in tasks.items()
        },
        agent_hash="synthetic",
    )


def _imported(instance_id: str, attempt: Attempt) -> ImportedAttempt:
    evaluation = None
    if attempt.error_kind != "infra" and not attempt.pending:
        evaluation = _evaluation(instance_id, attempt)
    return ImportedAttempt(
        patch=attempt.patch, evaluation=evaluation, model_dollars=attempt.model_dollars,
        compute_seconds=attempt.compute_seconds, error_kind=attempt.error_kind,
        trajectory=attempt.trajectory,
    )


def _evaluation(instance_id: str, attempt: Attempt) -> ImportedEvaluation:
    if not attempt.patch.strip():
        return ImportedEvaluation(EvalStatus.EMPTY_PATCH, eval_script=_script(instance_id),
                                  test_output=_output(instance_id, EvalStatus.EMPTY_PATCH))
    status = EvalStatus.RESOLVED if attempt.resolved else EvalStatus.UNRESOLVED
    return ImportedEvaluation(
        status, apply_method="git apply", eval_script=_script(instance_id),
        test_output=_output(instance_id, status),
        tests=(
            ImportedTest("tests/test_x.py::test_issue", "FAIL_TO_PASS",
                         "PASSED" if attempt.resolved else "FAILED", attempt.resolved),
            ImportedTest("tests/test_x.py::test_old", "PASS_TO_PASS", "PASSED", True),
        ),
    )


def _script(instance_id: str) -> str:
    return f"#!/bin/bash\n# evaluate {instance_id}\npytest\n"


def _output(instance_id: str, status: EvalStatus) -> str:
    return f"test output of {instance_id}: {status.value}\n"


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
