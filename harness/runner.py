"""Runs an agent k times on each task and evaluates every candidate, resumably.

One worker per task at a time (up to --max-sandboxes at once). For its task a worker holds an
agent sandbox (only for agents that look at the repository) and a separate evaluation sandbox,
so nothing an agent does to its tree can leak into a verdict.

Crash safety: an attempt is committed as soon as the agent returns it, its evaluation (shared by
every attempt with the same normalized patch) as soon as it is graded. A rerun of the same run id
makes only the attempts not stored, redoes the infrastructure errors, and evaluates what is
pending. The unique (run, task, index) key means no attempt is ever stored twice.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from tqdm import tqdm

from harness.agents.base import Agent, AttemptContext, AttemptError, Candidate
from harness.evaluation.evaluator import EvaluationOutcome, TestSetup, evaluate
from harness.evaluation.status import EvalStatus
from harness.models.budget import BudgetExhausted
from harness.models.llm import ModelFatalError
from harness.patches import patch_hash
from harness.provenance import code_revision, package_versions
from harness.sandboxes.base import Sandbox, SandboxError
from harness.store import (
    AttemptRecord,
    EvaluationRecord,
    EvaluationRerunRecord,
    RunRecord,
    RunTaskRecord,
    Store,
    TestResultRecord,
    utcnow,
)
from harness.tasks import Task

# Tries of one attempt or evaluation on a fresh sandbox before it is recorded as an
# infrastructure error (and left for the next invocation).
INFRA_TRIES = 3


class RunConfigError(ValueError):
    """The run cannot start as asked (e.g. an existing run id with another agent)."""


def attempt_seed(run_seed: int, instance_id: str, index: int) -> int:
    digest = hashlib.sha256(f"{run_seed}:{instance_id}:{index}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class SandboxFactory:
    """Everything needed to get sandboxes for a task; kept apart so tests can swap backends."""

    prepare_image: Callable[[Task], str]
    start: Callable[[str], Sandbox]
    test_setup: Callable[[Task], TestSetup]


@dataclass
class RunPlan:
    run_id: str
    k: int
    seed: int
    max_sandboxes: int
    vcpu_hour_dollars: float
    config: dict[str, Any] = field(default_factory=dict)
    # `--reruns N`: a candidate on a task of `flaky` (validation saw flaky tests) is evaluated
    # N times and keeps the majority verdict (see harness/flaky.py).
    reruns: int = 1
    flaky: frozenset[str] = frozenset()


@dataclass
class TaskWork:
    task: Task
    task_id: int
    missing: list[int]  # attempt indices to make
    pending: list[int]  # attempt row ids awaiting evaluation


class Progress:
    """Thread-safe tqdm bar: attempts done, tasks solved, dollars spent."""

    def __init__(self, total: int, done: int, solved: set[int], dollars: float, price: float):
        # Redraws at most twice a second: a log file of the run stays readable.
        self.bar = tqdm(
            total=total, initial=done, unit="attempt", dynamic_ncols=True, mininterval=0.5
        )
        self.solved = set(solved)
        self.tasks_total = 0
        self.dollars = dollars
        self.price = price
        self.lock = threading.Lock()
        self._refresh()

    def _refresh(self) -> None:
        self.bar.set_postfix_str(
            f"solved {len(self.solved)} tasks, ${self.dollars:.4f}", refresh=False
        )

    def attempt_done(self, task_id: int, resolved: bool, dollars: float) -> None:
        with self.lock:
            if resolved:
                self.solved.add(task_id)
            self.dollars += dollars
            self.bar.update(1)
            self._refresh()

    def write(self, message: str) -> None:
        with self.lock:
            self.bar.write(message)

    def close(self) -> None:
        self.bar.close()


class Runner:
    def __init__(
        self, store: Store, agent: Agent, sandboxes: SandboxFactory, plan: RunPlan,
        log: Callable[[str], None] = print,
    ) -> None:
        self.store = store
        self.agent = agent
        self.sandboxes = sandboxes
        self.plan = plan
        self.log = log
        # Extra configuration to record when the run ends (e.g. what the budget spent).
        self.on_finish: Callable[[], dict[str, Any]] | None = None
        self.stop = threading.Event()
        self.progress: Progress | None = None
        # Why the run stopped early, if it did: (status, message), e.g. the budget ran out.
        self.stop_reason: tuple[str, str] | None = None
        self._stop_lock = threading.Lock()

    def stop_run(self, status: str, message: str) -> None:
        """Stops every worker after its attempt in flight; the first reason given is kept."""
        with self._stop_lock:
            if self.stop_reason is None:
                self.stop_reason = (status, message)
                if self.progress:
                    self.progress.write(f"stopping: {message}")
        self.stop.set()

    # --- planning --------------------------------------------------------------------------

    def open_run(self, tasks: list[Task]) -> dict[str, int]:
        """Creates the run or checks that an existing one is the same experiment; links tasks.
        Returns instance_id -> task row id."""
        plan = self.plan
        with self.store.writing() as session:
            run = session.get(RunRecord, plan.run_id)
            if run is None:
                run = RunRecord(
                    id=plan.run_id,
                    agent=self.agent.name,
                    agent_hash=self.agent.definition_hash,
                    k=plan.k,
                    config={**plan.config, "seed": plan.seed},
                    code_revision=code_revision(),
                    package_versions=package_versions(),
                    vcpu_hour_dollars=plan.vcpu_hour_dollars,
                )
                session.add(run)
            else:
                self._check_same_experiment(run)
                run.k = max(run.k, plan.k)
            run.status = "running"
            run.updated_at = utcnow()
            ids: dict[str, int] = {}
            linked = set(
                session.scalars(
                    select(RunTaskRecord.task_id).where(RunTaskRecord.run_id == plan.run_id)
                )
            )
            for task in tasks:
                record = self.store.upsert_task(session, task)
                ids[task.instance_id] = record.id
                if record.id not in linked:
                    session.add(RunTaskRecord(run_id=plan.run_id, task_id=record.id))
        return ids

    def _check_same_experiment(self, run: RunRecord) -> None:
        seed = run.config.get("seed")
        if run.agent != self.agent.name or run.agent_hash != self.agent.definition_hash:
            raise RunConfigError(
                f"run {run.id!r} was made by agent {run.agent!r} with definition "
                f"{run.agent_hash[:12]}; this invocation uses {self.agent.name!r} "
                f"{self.agent.definition_hash[:12]}. Pick a new --run-id to compare agents."
            )
        if seed != self.plan.seed:
            raise RunConfigError(
                f"run {run.id!r} used seed {seed}; this invocation asks for {self.plan.seed}. "
                "Pick a new --run-id, or rerun with the same seed to resume."
            )

    def plan_work(self, tasks: list[Task], task_ids: dict[str, int]) -> list[TaskWork]:
        with self.store.writing() as session:
            # Infrastructure errors are not results: drop them so they are made again.
            session.execute(
                delete(AttemptRecord).where(
                    AttemptRecord.run_id == self.plan.run_id, AttemptRecord.error_kind == "infra"
                )
            )
        work: list[TaskWork] = []
        with self.store.reading() as session:
            for task in tasks:
                task_id = task_ids[task.instance_id]
                rows = session.execute(
                    select(AttemptRecord.id, AttemptRecord.index, AttemptRecord.evaluation_id)
                    .where(
                        AttemptRecord.run_id == self.plan.run_id,
                        AttemptRecord.task_id == task_id,
                    )
                ).all()
                have = {index for _, index, _ in rows}
                limit = self.plan.k
                cap = self.agent.max_attempts(task.view())
                if cap is not None:
                    limit = min(limit, cap)
                missing = [index for index in range(limit) if index not in have]
                pending = [row_id for row_id, _, eval_id in rows if eval_id is None]
                if missing or pending:
                    work.append(TaskWork(task, task_id, missing, pending))
        return work

    # --- running ---------------------------------------------------------------------------

    def run(self, tasks: list[Task]) -> str:
        """Does all missing work; returns the run's final status."""
        task_ids = self.open_run(tasks)
        work = self.plan_work(tasks, task_ids)
        if not work:
            return self._finish("finished")
        total_missing = sum(len(item.missing) + len(item.pending) for item in work)
        self.log(
            f"run {self.plan.run_id}: {total_missing} attempts to make or evaluate "
            f"on {len(work)} of {len(tasks)} tasks"
        )
        done, solved, dollars = self._progress_so_far()
        self.progress = Progress(done + total_missing, done, solved, dollars,
                                 self.plan.vcpu_hour_dollars / 3600.0)
        status = "finished"
        try:
            with ThreadPoolExecutor(max_workers=self.plan.max_sandboxes) as pool:
                futures = {pool.submit(self._work_on_task, item): item for item in work}
                try:
                    for future in as_completed(futures):
                        item = futures[future]
                        error = future.exception()
                        if error is not None:
                            self._record_task_error(item, error)
                            status = "finished_with_errors"
                except KeyboardInterrupt:
                    self.stop.set()
                    self.progress.write("interrupted: finishing the attempts in flight ...")
                    for future in futures:
                        future.cancel()
                    status = "interrupted"
        finally:
            self.progress.close()
        note = ""
        if self.stop_reason is not None:
            status, note = self.stop_reason
        elif status != "interrupted" and self.stop.is_set():
            status = "interrupted"
        if status == "finished" and self.plan_work(tasks, task_ids):
            status = "incomplete"
        return self._finish(status, note)

    def _finish(self, status: str, note: str = "") -> str:
        with self.store.writing() as session:
            run = session.get(RunRecord, self.plan.run_id)
            assert run is not None
            run.status = status
            run.note = note
            run.updated_at = utcnow()
            if self.on_finish is not None:
                run.config = {**run.config, **self.on_finish()}
        return status

    def _progress_so_far(self) -> tuple[int, set[int], float]:
        price = self.plan.vcpu_hour_dollars / 3600.0
        with self.store.reading() as session:
            rows = session.execute(
                select(
                    AttemptRecord.task_id,
                    AttemptRecord.model_dollars,
                    AttemptRecord.compute_seconds,
                    EvaluationRecord.status,
                )
                .join(EvaluationRecord, AttemptRecord.evaluation_id == EvaluationRecord.id)
                .where(AttemptRecord.run_id == self.plan.run_id)
            ).all()
        solved = {task_id for task_id, _, _, status in rows if status.resolved}
        dollars = sum((model or 0.0) + compute * price for _, model, compute, _ in rows)
        return len(rows), solved, dollars

    def _record_task_error(self, item: TaskWork, error: BaseException) -> None:
        message = f"{type(error).__name__}: {error}"
        if self.progress:
            self.progress.write(f"task {item.task.instance_id} stopped: {message}")
        with self.store.writing() as session:
            link = session.get(RunTaskRecord, (self.plan.run_id, item.task_id))
            if link is not None:
                link.error = message[:4000]

    def _work_on_task(self, item: TaskWork) -> None:
        if self.stop.is_set():
            return
        image = self.sandboxes.prepare_image(item.task)
        setup = self.sandboxes.test_setup(item.task)
        with self.store.writing() as session:
            link = session.get(RunTaskRecord, (self.plan.run_id, item.task_id))
            if link is not None:
                link.error = None
        worker = _TaskWorker(self, item, image, setup)
        try:
            worker.run()
        finally:
            worker.close()


class _TaskWorker:
    """Makes and evaluates one task's attempts, holding its sandboxes while it does."""

    def __init__(self, runner: Runner, item: TaskWork, image: str, setup: TestSetup) -> None:
        self.runner = runner
        self.item = item
        self.image = image
        self.setup = setup
        self.agent_sandbox: Sandbox | None = None
        self.eval_sandbox: Sandbox | None = None
        self.agent_sandbox_dirty = False
        # patch hash -> evaluation id, for patches this worker has seen evaluated.
        self.known: dict[str, int] = {}
        # Set when this task's own budget is spent: its remaining attempts are not made.
        self.task_stopped = False

    def close(self) -> None:
        for sandbox in (self.agent_sandbox, self.eval_sandbox):
            if sandbox is not None:
                sandbox.close()
        self.agent_sandbox = self.eval_sandbox = None

    def run(self) -> None:
        for attempt_id in self.item.pending:
            if self.runner.stop.is_set():
                return
            self.evaluate_attempt(attempt_id)
        for index in self.item.missing:
            if self.runner.stop.is_set() or self.task_stopped:
                return
            attempt_id = self.make_attempt(index)
            if attempt_id is not None:
                self.evaluate_attempt(attempt_id)

    # --- attempts --------------------------------------------------------------------------

    def _fresh_agent_sandbox(self) -> Sandbox:
        if self.agent_sandbox is None:
            self.agent_sandbox = self.runner.sandboxes.start(self.image)
            self.agent_sandbox_dirty = False
        elif self.agent_sandbox_dirty:
            self.agent_sandbox.reset()
            self.agent_sandbox_dirty = False
        return self.agent_sandbox

    def make_attempt(self, index: int) -> int | None:
        runner, task = self.runner, self.item.task
        seed = attempt_seed(runner.plan.seed, task.instance_id, index)
        context = AttemptContext(task=task.view(), index=index, seed=seed)
        candidate: Candidate | None = None
        compute = 0.0
        started = time.monotonic()
        last_error = ""
        for _ in range(INFRA_TRIES):
            sandbox = None
            try:
                if runner.agent.uses_sandbox:
                    sandbox = self._fresh_agent_sandbox()
                    before = sandbox.compute_seconds
                candidate = runner.agent.attempt(context, sandbox)  # type: ignore[arg-type]
                if sandbox is not None:
                    compute += sandbox.compute_seconds - before
                    self.agent_sandbox_dirty = runner.agent.changes_sandbox
                if candidate.error is not AttemptError.INFRA:
                    break
                last_error = candidate.error_message
            except SandboxError as error:
                last_error = f"{type(error).__name__}: {error}"
                if self.agent_sandbox is not None:
                    self.agent_sandbox.close()
                    self.agent_sandbox = None
            except BudgetExhausted as error:
                # Raised only before anything was spent on this attempt: nothing to store.
                if error.scope == "instance":
                    self.task_stopped = True
                    if runner.progress:
                        runner.progress.write(f"{task.instance_id}: {error}")
                else:
                    runner.stop_run("budget_exhausted", str(error))
                return None
            except ModelFatalError as error:
                runner.stop_run("model_error", str(error))
                return None
            candidate = None
        if candidate is None:
            candidate = Candidate(patch="", error=AttemptError.INFRA, error_message=last_error)
        return self._store_attempt(context, candidate, compute, time.monotonic() - started)

    def _store_attempt(
        self, context: AttemptContext, candidate: Candidate, compute: float, seconds: float
    ) -> int | None:
        runner = self.runner
        usage = candidate.usage
        record = AttemptRecord(
            run_id=runner.plan.run_id,
            task_id=self.item.task_id,
            index=context.index,
            seed=context.seed,
            agent_hash=runner.agent.definition_hash,
            patch=candidate.patch,
            patch_hash=patch_hash(candidate.patch),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            model_dollars=usage.model_dollars,
            compute_seconds=compute,
            seconds=seconds,
            error_kind=candidate.error.value if candidate.error else None,
            error_message=candidate.error_message,
            details=candidate.details,
            trajectory=candidate.trajectory,
        )
        try:
            with runner.store.writing() as session:
                session.add(record)
        except IntegrityError:
            # Another process made this attempt meanwhile: keep theirs, never a second copy.
            return None
        if candidate.error is AttemptError.INFRA:
            if runner.progress:
                runner.progress.write(
                    f"{self.item.task.instance_id} attempt {context.index}: infrastructure "
                    f"error, left for the next invocation: {candidate.error_message[:300]}"
                )
            return None
        return record.id

    # --- evaluations -----------------------------------------------------------------------

    def evaluate_attempt(self, attempt_id: int) -> None:
        runner = self.runner
        with runner.store.reading() as session:
            attempt = session.get(AttemptRecord, attempt_id)
            assert attempt is not None
            digest, patch = attempt.patch_hash, attempt.patch
        evaluation_id = self.known.get(digest) or self._stored_evaluation(digest)
        extra_compute = 0.0
        if evaluation_id is None:
            outcome = self._evaluate_with_retries(patch)
            if outcome is None:
                return  # left pending: the next invocation evaluates it
            evaluation_id = self._store_evaluation(digest, patch, outcome)
            extra_compute = outcome.compute_seconds
        if self._wants_reruns(patch):
            rerun_compute = self._ensure_reruns(evaluation_id, patch)
            if rerun_compute is None:
                return  # a rerun failed (infrastructure): the next invocation finishes them
            extra_compute += rerun_compute
        self.known[digest] = evaluation_id
        with runner.store.writing() as session:
            attempt = session.get(AttemptRecord, attempt_id)
            evaluation = session.get(EvaluationRecord, evaluation_id)
            assert attempt is not None and evaluation is not None
            attempt.evaluation_id = evaluation_id
            # The compute of an evaluation is charged to the attempt that caused it.
            attempt.compute_seconds += extra_compute
            resolved = evaluation.status.resolved
            dollars = (attempt.model_dollars or 0.0) + attempt.compute_seconds * (
                runner.plan.vcpu_hour_dollars / 3600.0
            )
        if runner.progress:
            runner.progress.attempt_done(self.item.task_id, resolved, dollars)

    def _wants_reruns(self, patch: str) -> bool:
        plan = self.runner.plan
        return plan.reruns > 1 and bool(patch.strip()) and self.item.task.instance_id in plan.flaky

    def _ensure_reruns(self, evaluation_id: int, patch: str) -> float | None:
        """Runs the candidate's tests until the evaluation has `reruns` runs, then gives it the
        majority verdict. Returns the compute seconds spent, None when a run failed."""
        from harness.flaky import RunVerdict, majority_index

        store, wanted = self.runner.store, self.runner.plan.reruns
        fresh: dict[int, EvaluationOutcome] = {}
        spent = 0.0
        with store.writing() as session:
            evaluation = session.get(EvaluationRecord, evaluation_id)
            assert evaluation is not None
            if evaluation.status in _NOT_RERUN:
                return 0.0  # the patch itself decided: rerunning the tests changes nothing
            runs = sorted(evaluation.reruns, key=lambda run: run.index)
            if not runs:
                # The evaluation's own run is the first of the series.
                failing = [t.name for t in evaluation.tests if t.kind != "OTHER" and not t.passed]
                session.add(EvaluationRerunRecord(
                    evaluation_id=evaluation_id, index=0, status=evaluation.status,
                    failing=failing, seconds=evaluation.seconds,
                    compute_seconds=evaluation.compute_seconds,
                ))
            count = max(len(runs), 1)
        while count < wanted:
            outcome = self._evaluate_with_retries(patch)
            if outcome is None:
                return None
            spent += outcome.compute_seconds
            fresh[count] = outcome
            failing: list[str] = []
            if outcome.grade is not None:
                failing = [*outcome.grade.failing("FAIL_TO_PASS"),
                           *outcome.grade.failing("PASS_TO_PASS")]
            try:
                with store.writing() as session:
                    session.add(EvaluationRerunRecord(
                        evaluation_id=evaluation_id, index=count, status=outcome.status,
                        failing=failing, seconds=outcome.seconds,
                        compute_seconds=outcome.compute_seconds,
                    ))
            except IntegrityError:
                pass  # another process ran this index meanwhile: its run counts
            count += 1
        with store.writing() as session:
            evaluation = session.get(EvaluationRecord, evaluation_id)
            assert evaluation is not None
            runs = sorted(evaluation.reruns, key=lambda run: run.index)[:wanted]
            chosen = runs[majority_index([RunVerdict(run.status) for run in runs])]
            if evaluation.status.resolved != chosen.status.resolved:
                evaluation.status = chosen.status
                outcome = fresh.get(chosen.index)
                if outcome is not None:
                    # The majority's own run: its output and per-test verdicts.
                    evaluation.test_output = outcome.test_output
                    evaluation.log = outcome.log
                    evaluation.tests = _test_records(outcome)
        return spent

    def _stored_evaluation(self, digest: str) -> int | None:
        with self.runner.store.reading() as session:
            return session.scalar(
                select(EvaluationRecord.id).where(
                    EvaluationRecord.task_id == self.item.task_id,
                    EvaluationRecord.patch_hash == digest,
                )
            )

    def _evaluate_with_retries(self, patch: str) -> EvaluationOutcome | None:
        last_error = ""
        for _ in range(INFRA_TRIES):
            try:
                if self.eval_sandbox is None and patch.strip():
                    self.eval_sandbox = self.runner.sandboxes.start(self.image)
                sandbox = self.eval_sandbox
                return evaluate(self.item.task, patch, sandbox, self.setup)  # type: ignore[arg-type]
            except SandboxError as error:
                last_error = f"{type(error).__name__}: {error}"
                if self.eval_sandbox is not None:
                    self.eval_sandbox.close()
                    self.eval_sandbox = None
        if self.runner.progress:
            self.runner.progress.write(
                f"{self.item.task.instance_id}: evaluation failed {INFRA_TRIES} times "
                f"(infrastructure), left pending: {last_error[:300]}"
            )
        return None

    def _store_evaluation(self, digest: str, patch: str, outcome: EvaluationOutcome) -> int:
        record = EvaluationRecord(
            task_id=self.item.task_id,
            patch_hash=digest,
            status=outcome.status,
            apply_method=outcome.apply_method,
            patch=patch,
            eval_script=outcome.eval_script,
            test_output=outcome.test_output,
            log=outcome.log,
            seconds=outcome.seconds,
            compute_seconds=outcome.compute_seconds,
            harness_revision=code_revision(),
        )
        record.tests = _test_records(outcome)
        try:
            with self.runner.store.writing() as session:
                session.add(record)
            return record.id
        except IntegrityError:
            # Evaluated meanwhile by another process: the verdicts are the same by definition.
            existing = self._stored_evaluation(digest)
            assert existing is not None
            return existing


# Verdicts that no test run made: a patch that does not apply does not apply on a rerun.
_NOT_RERUN = frozenset(
    {EvalStatus.EMPTY_PATCH, EvalStatus.PATCH_FAILED, EvalStatus.TEST_PATCH_FAILED}
)


def _test_records(outcome: EvaluationOutcome) -> list[TestResultRecord]:
    if outcome.grade is None:
        return []
    return [
        TestResultRecord(
            name=verdict.name,
            kind=verdict.kind,
            status=verdict.status.value if verdict.status else None,
            passed=verdict.passed,
        )
        for verdict in outcome.grade.verdicts
    ]
