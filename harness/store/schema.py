"""Every table of the results store, in one place: runs, tasks, attempts, evaluations, their
reruns and per-test results, validations and the model response cache. Only harness.store and
its modules speak SQL.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from harness.evaluation.status import EvalStatus


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class RunRecord(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    agent: Mapped[str] = mapped_column(String(200))
    agent_hash: Mapped[str] = mapped_column(String(64))
    k: Mapped[int] = mapped_column(Integer)
    # Everything that defines the run (dataset, agent options, seed, limits, prices).
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    code_revision: Mapped[str] = mapped_column(String(64))
    package_versions: Mapped[dict[str, Any]] = mapped_column(JSON)
    vcpu_hour_dollars: Mapped[float] = mapped_column(Float)
    # How the last invocation ended: running, finished, interrupted, budget_exhausted.
    status: Mapped[str] = mapped_column(String(40), default="running")
    note: Mapped[str] = mapped_column(Text, default="")

    tasks: Mapped[list[RunTaskRecord]] = relationship(back_populates="run")


class TaskRecord(Base):
    """One exact task definition. The same instance_id with other content is another row."""

    __tablename__ = "tasks"
    __table_args__ = (UniqueConstraint("instance_id", "content_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(300), index=True)
    content_hash: Mapped[str] = mapped_column(String(64))
    repo: Mapped[str] = mapped_column(String(300))
    row: Mapped[dict[str, Any]] = mapped_column(JSON)


class RunTaskRecord(Base):
    __tablename__ = "run_tasks"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), primary_key=True)
    # Why the run could not work on this task (e.g. its image failed to build); None when fine.
    error: Mapped[str | None] = mapped_column(Text, nullable=True, default=None)

    run: Mapped[RunRecord] = relationship(back_populates="tasks")
    task: Mapped[TaskRecord] = relationship()


class EvaluationRecord(Base):
    """The verdict on one (task, normalized patch): computed once, shared by every attempt
    (of any run) that produced the same change."""

    __tablename__ = "evaluations"
    __table_args__ = (UniqueConstraint("task_id", "patch_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"), index=True)
    patch_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[EvalStatus] = mapped_column(Enum(EvalStatus, native_enum=False, length=40))
    apply_method: Mapped[str] = mapped_column(String(40), default="")
    patch: Mapped[str] = mapped_column(Text)
    eval_script: Mapped[str] = mapped_column(Text, default="")
    test_output: Mapped[str] = mapped_column(Text, default="")
    log: Mapped[str] = mapped_column(Text, default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # Billed sandbox CPU seconds (reset included); wall seconds times CPUs on older rows.
    compute_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    # CPU seconds the evaluation script used, from the container's cgroup (NULL: not measured).
    cpu_seconds: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    # 1: the FAIL_TO_PASS tests alone decided (fail fast); 2: the full test command; NULL: none
    # ran (empty or unappliable patch) or the row predates the field.
    decided_by_stage: Mapped[int | None] = mapped_column(Integer, nullable=True, default=None)
    harness_revision: Mapped[str] = mapped_column(String(64), default="")
    # The environment of the verdict: "prebuilt" (pulled) or "build" (made here), the image's
    # name, and its registry digest (repo@sha256:...) or, for our builds, its image id.
    image_source: Mapped[str] = mapped_column(String(20), default="")
    image_name: Mapped[str] = mapped_column(String(500), default="")
    image_digest: Mapped[str] = mapped_column(String(300), default="")
    # The candidate seems to tamper with the test run (harness.evaluation.tamper, junit): the
    # verdict stands, reports show it apart and export refuses it unless told.
    suspicious: Mapped[bool] = mapped_column(Boolean, default=False)
    suspicion: Mapped[str] = mapped_column(Text, default="")
    # What the candidate's code did to end its test run early (an `error` verdict), if it did.
    fault: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    tests: Mapped[list[TestResultRecord]] = relationship(
        back_populates="evaluation", cascade="all, delete-orphan"
    )
    reruns: Mapped[list[EvaluationRerunRecord]] = relationship(
        back_populates="evaluation", cascade="all, delete-orphan",
        order_by="EvaluationRerunRecord.index",
    )


class EvaluationRerunRecord(Base):
    """One run of a candidate's tests on a task whose validation found flaky tests (`run
    --reruns N`, harness/evaluation/reruns.py): the evaluation holds the majority verdict of
    its runs. An evaluation without rows here was run once."""

    __tablename__ = "evaluation_reruns"
    __table_args__ = (UniqueConstraint("evaluation_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    # 0, 1, ... in the order the runs were made (across invocations).
    index: Mapped[int] = mapped_column(Integer)
    status: Mapped[EvalStatus] = mapped_column(Enum(EvalStatus, native_enum=False, length=40))
    # Listed tests that counted against the verdict in this run.
    failing: Mapped[list[Any]] = mapped_column(JSON, default=list)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    compute_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    cpu_seconds: Mapped[float | None] = mapped_column(Float, nullable=True, default=None)
    # sha256 of the run's test output ("" when none): tells which run's output the evaluation
    # holds (only the majority's own run, and only when it is made with the evaluation's).
    output_digest: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    evaluation: Mapped[EvaluationRecord] = relationship(back_populates="reruns")


class TestResultRecord(Base):
    __tablename__ = "test_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(ForeignKey("evaluations.id"), index=True)
    # Text, not a bounded string: parametrized test ids can be longer than any sane bound.
    name: Mapped[str] = mapped_column(Text)
    # FAIL_TO_PASS, PASS_TO_PASS, or OTHER for tests outside both lists.
    kind: Mapped[str] = mapped_column(String(20))
    # None: the test did not appear in the output at all (graded as failed).
    status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    passed: Mapped[bool] = mapped_column()
    # What grading decided: this test alone keeps the candidate unresolved (never for OTHER).
    counts_against: Mapped[bool] = mapped_column(Boolean, default=False)

    evaluation: Mapped[EvaluationRecord] = relationship(back_populates="tests")


# Attempt rows that are kept but not counted in any rate: redone by a later invocation.
REDO_KINDS = ("infra", "budget_cut")


class AttemptRecord(Base):
    __tablename__ = "attempts"
    __table_args__ = (UniqueConstraint("run_id", "task_id", "index"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id"), index=True)
    task_id: Mapped[int] = mapped_column(ForeignKey("tasks.id"))
    index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    agent_hash: Mapped[str] = mapped_column(String(64))
    patch: Mapped[str] = mapped_column(Text)
    patch_hash: Mapped[str] = mapped_column(String(64))
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # NULL when the model's price is unknown: unknown is not free.
    model_dollars: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Sandbox CPU time this attempt caused (agent plus any evaluation it ran), in vCPU-seconds.
    compute_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    error_message: Mapped[str] = mapped_column(Text, default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    trajectory: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    evaluation_id: Mapped[int | None] = mapped_column(ForeignKey("evaluations.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    evaluation: Mapped[EvaluationRecord | None] = relationship()
    task: Mapped[TaskRecord] = relationship()


class ValidationRecord(Base):
    __tablename__ = "validations"
    __table_args__ = (UniqueConstraint("instance_id", "task_hash", "spec"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(300), index=True)
    task_hash: Mapped[str] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(String(200))
    repo: Mapped[str] = mapped_column(String(300))
    version: Mapped[str] = mapped_column(String(40))
    env_ok: Mapped[bool] = mapped_column(Boolean)
    gold_resolves: Mapped[bool] = mapped_column(Boolean)
    empty_unresolved: Mapped[bool] = mapped_column(Boolean)
    flaky_tests: Mapped[list[Any]] = mapped_column(JSON, default=list)
    repeats: Mapped[int] = mapped_column(Integer)
    valid: Mapped[bool] = mapped_column(Boolean)
    # One line: why the task is not valid ("" when it is).
    reason: Mapped[str] = mapped_column(Text, default="")
    # Per run: status, seconds, and the listed tests that counted against it.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    seconds: Mapped[float] = mapped_column(default=0.0)
    harness_revision: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ValidationRunRecord(Base):
    """One evaluation of gold or empty during a task's validation, stored as it finishes so
    that an interrupted `validate` resumes where it stopped."""

    __tablename__ = "validation_runs"
    __table_args__ = (UniqueConstraint("instance_id", "task_hash", "spec", "patch", "repeat"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(300), index=True)
    task_hash: Mapped[str] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(String(200))
    patch: Mapped[str] = mapped_column(String(10))  # "gold" or "empty"
    repeat: Mapped[int] = mapped_column(Integer)
    status: Mapped[EvalStatus] = mapped_column(Enum(EvalStatus, native_enum=False, length=40))
    seconds: Mapped[float] = mapped_column(Float)
    cpu_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Listed tests that kept it from resolving; every listed test's status (None: absent).
    against: Mapped[list[Any]] = mapped_column(JSON, default=list)
    statuses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelResponseRecord(Base):
    """One model answer (all `n` choices of one call), with the tokens and dollars it cost
    when it was first made."""

    __tablename__ = "model_responses"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    model: Mapped[str] = mapped_column(String(300), index=True)
    n: Mapped[int] = mapped_column(Integer)
    sample: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    texts: Mapped[list[Any]] = mapped_column(JSON)
    finish_reasons: Mapped[list[Any]] = mapped_column(JSON)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    cache_read_tokens: Mapped[int] = mapped_column(Integer)
    cache_write_tokens: Mapped[int] = mapped_column(Integer)
    # What the call cost when made; NULL when the price was unknown.
    dollars: Mapped[float | None] = mapped_column(Float, nullable=True)
    seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ModelCallRecord(Base):
    """The ledger of spend: one row per model call as it happened (a paid call, a failed try
    or an answer from the response cache). Every dollar figure derives from these rows."""

    __tablename__ = "model_calls"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # NULL for a call made outside any run (e.g. a library user calling the agent directly).
    run_id: Mapped[str | None] = mapped_column(String(200), index=True, nullable=True)
    instance_id: Mapped[str] = mapped_column(String(300), default="")
    model: Mapped[str] = mapped_column(String(300))
    # The attempt index each returned sample was asked for, in sample order (the batch's plan).
    attempt_indices: Mapped[list[Any]] = mapped_column(JSON, default=list)
    n: Mapped[int] = mapped_column(Integer, default=1)  # samples asked
    samples: Mapped[int] = mapped_column(Integer, default=0)  # samples returned
    # ok (billed), error (no answer: HTTP error or timeout), cached (from the response cache).
    outcome: Mapped[str] = mapped_column(String(20))
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    input_tokens: Mapped[int] = mapped_column(Integer, default=0)
    output_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_write_tokens: Mapped[int] = mapped_column(Integer, default=0)
    # Billed now: 0 for a cached answer or a failed try; NULL when the price is unknown.
    dollars: Mapped[float | None] = mapped_column(Float, nullable=True)
    # A cached answer: what it cost when it was made (its tokens at today's price).
    dollars_when_made: Mapped[float | None] = mapped_column(Float, nullable=True)
    cache_key: Mapped[str] = mapped_column(String(64), default="", index=True)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SampleUseRecord(Base):
    """Which attempt used which sample of which call. A sample is used by at most one
    attempt; a call's samples that no attempt uses are the run's overhead."""

    __tablename__ = "sample_uses"
    __table_args__ = (UniqueConstraint("call_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("model_calls.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    attempt_id: Mapped[int] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE"), index=True
    )


class SelectionTestRunRecord(Base):
    """One run of tests a selector made (harness/selection): a suite on the base commit or on
    one candidate patch. Shared by every selector and run that needs the same (task, subject,
    suite), so a rerun of selection only runs what is missing. Never a verdict: a selector
    chooses the tests, none of them is hidden."""

    __tablename__ = "selection_test_runs"
    __table_args__ = (UniqueConstraint("instance_id", "base_commit", "subject", "suite"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    instance_id: Mapped[str] = mapped_column(String(300), index=True)
    base_commit: Mapped[str] = mapped_column(String(64))
    # "base" or the candidate's normalized patch hash.
    subject: Mapped[str] = mapped_column(String(64))
    suite: Mapped[str] = mapped_column(String(64))  # TestSuite.digest
    suite_name: Mapped[str] = mapped_column(String(200), default="")
    targets: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # Test id -> status; "" problem when the tests ran, else patch_failed, timeout, error.
    statuses: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    problem: Mapped[str] = mapped_column(String(40), default="")
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    compute_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    dollars: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SelectionRecord(Base):
    """What one selector chose for one task of one run, with the evidence it chose by (each
    stage's gathered data) and what the selection cost, apart from evaluation's."""

    __tablename__ = "selections"
    __table_args__ = (UniqueConstraint("run_id", "selector", "instance_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[str] = mapped_column(String(200), index=True)
    selector: Mapped[str] = mapped_column(String(300))
    instance_id: Mapped[str] = mapped_column(String(300))
    # The chosen candidate's normalized patch hash; NULL when every attempt's patch is empty.
    patch_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # {"candidates": [patch hashes it chose among], "stages": [{"name", "data"}, ...]}: each
    # stage's gathered data, what its narrow() reads.
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Seconds of all test runs the evidence rests on (made now or earlier), and of those made
    # by the invocation that stored this row; dollars: model + compute.
    test_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    new_test_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    test_runs: Mapped[int] = mapped_column(Integer, default=0)
    dollars: Mapped[float] = mapped_column(Float, default=0.0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # wall time of the selection
    error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
