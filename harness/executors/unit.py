"""Carries out one unit where it runs (a thread of the driver, or a Ray worker on a Docker host):
N attempts in flight, their evaluations on a small pool of warm sandboxes of the task's image.

Each attempt's seed is fixed by the runner, so what an attempt makes does not depend on how many
run beside it; a patch is evaluated once per unit (the first attempt to make it claims it) and
never when the store already has its verdict. On a task the runner marked flaky (`unit.reruns`
> 1) an evaluation is that many runs of the candidate's tests, reported together with the
majority's outcome (harness/evaluation/reruns.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from harness.agents.base import Agent, AttemptContext, AttemptError, Candidate
from harness.evaluation.evaluator import EvaluationOutcome, TestSetup, evaluate
from harness.evaluation.fail_fast import evaluate_fail_fast
from harness.evaluation.oversize import is_refused
from harness.evaluation.reruns import majority_index, needs_more_runs, rerun_of
from harness.executors.base import (
    AttemptMade,
    AttemptSpec,
    BudgetStopped,
    Evaluated,
    Event,
    Note,
    PendingEvaluation,
    SandboxFactory,
    StopRun,
    Unit,
    UnitFailed,
    UnitStarted,
)
from harness.executors.pool import INFRA_TRIES, SandboxPool, StopFlag, with_retries
from harness.images.image_names import ImageIdentity
from harness.models.budget import BudgetExhausted
from harness.models.llm import ModelFatalError
from harness.patches import patch_hash
from harness.sandboxes.base import Sandbox, SandboxError


class UnitWorker:
    """Runs one unit with `agent` and sandboxes from `factory`, reporting each result
    through `emit`."""

    def __init__(
        self, agent: Agent, factory: SandboxFactory, unit: Unit, emit: Callable[[Event], None],
        stopped: Callable[[], bool],
    ) -> None:
        self.agent = agent
        self.factory = factory
        self.unit = unit
        self._emit_lock = threading.Lock()
        self._emit = emit
        self.stopped = stopped
        self.task_stopped = False
        self._claimed = set(unit.evaluated)
        self._claim_lock = threading.Lock()
        self.agent_pool: SandboxPool | None = None
        self.eval_pool: SandboxPool | None = None
        self.setup: TestSetup | None = None
        self.image: ImageIdentity | None = None
        # Indices started here: an attempt's `upcoming` are the unit's indices not yet begun.
        self._begun: set[int] = set()

    def emit(self, event: Event) -> None:
        with self._emit_lock:
            self._emit(event)

    def run(self) -> None:
        """Never raises for the unit's own trouble: it reports UnitFailed and returns.

        With a host-wide sandbox budget the unit first takes every slot its pools may fill,
        all at once, so two workers never hold half of what each needs."""
        unit = self.unit
        if self.stopped():
            return
        slots = self.factory.host_slots
        if slots is None:
            self._run()
            return
        in_flight = max(1, unit.attempts_in_flight)
        needed = (in_flight if self.agent.uses_sandbox else 0) + max(1, unit.eval_sandboxes)
        with slots.hold(needed, StopFlag(self.stopped)) as held:  # type: ignore[arg-type]
            if held:
                self._run()

    def _run(self) -> None:
        unit = self.unit
        try:
            image = self.factory.prepare_image(unit.task)
            self.setup = self.factory.test_setup(unit.task)
            if self.factory.describe_image is not None:
                self.image = self.factory.describe_image(image)
            self.emit(UnitStarted(unit.task_id))

            def start() -> Sandbox:
                return self.factory.start(image)

            in_flight = max(1, unit.attempts_in_flight)
            if self.agent.uses_sandbox:
                self.agent_pool = SandboxPool(start, in_flight, self.agent.changes_sandbox)
            self.eval_pool = SandboxPool(start, unit.eval_sandboxes, exclusive=True)
            with ThreadPoolExecutor(in_flight, thread_name_prefix="attempt") as pool:
                for _ in pool.map(self._evaluate_pending, unit.pending):
                    pass
                for _ in pool.map(self._attempt, unit.attempts):
                    pass
        except Exception as error:  # the task, not the run, has the problem: record it
            self.emit(UnitFailed(unit.task_id, f"{type(error).__name__}: {error}"))
        finally:
            for sandbox_pool in (self.agent_pool, self.eval_pool):
                if sandbox_pool is not None:
                    sandbox_pool.close()

    # --- attempts --------------------------------------------------------------------------

    def _attempt(self, spec: AttemptSpec) -> None:
        if self.stopped() or self.task_stopped:
            return
        made = self._make(spec)
        if made is None:
            return
        self.emit(made)
        candidate = made.candidate
        if candidate.error is AttemptError.BUDGET_CUT:
            self._budget_stopped(candidate.budget_scope, candidate.error_message)
            return
        if candidate.error is AttemptError.INFRA:
            return
        if self._claim(made.patch_hash):
            self._evaluate(made.patch_hash, candidate.patch, spec.index)

    def _make(self, spec: AttemptSpec) -> AttemptMade | None:
        agent, task = self.agent, self.unit.task
        with self._claim_lock:
            self._begun.add(spec.index)
            upcoming = (spec.index,) + tuple(
                other.index for other in self.unit.attempts
                if other.index > spec.index and other.index not in self._begun
            )
        context = AttemptContext(task=task.view(), index=spec.index, seed=spec.seed,
                                 run_id=self.unit.run_id, upcoming=upcoming)
        candidate: Candidate | None = None
        compute = 0.0
        started = time.monotonic()
        last_error = ""
        for _ in range(INFRA_TRIES):
            try:
                if self.agent_pool is None:
                    candidate = agent.attempt(context, None)  # type: ignore[arg-type]
                else:
                    with self.agent_pool.lend() as sandbox:
                        try:
                            candidate = agent.attempt(context, sandbox)
                        finally:  # also when the attempt raised: its compute was spent
                            compute += self.agent_pool.uncharged_compute(sandbox)
                            if agent.changes_sandbox:
                                self.agent_pool.mark_dirty(sandbox)
                if candidate.error is not AttemptError.INFRA:
                    break
                last_error = candidate.error_message
            except SandboxError as error:
                last_error = f"{type(error).__name__}: {error}"
            except BudgetExhausted as error:
                # Raised only before anything was spent on this attempt: nothing to report.
                self._budget_stopped(error.scope, str(error))
                return None
            except ModelFatalError as error:
                self.emit(StopRun("model_error", str(error)))
                return None
            candidate = None
        if candidate is None:
            candidate = Candidate(patch="", error=AttemptError.INFRA, error_message=last_error)
        return AttemptMade(
            self.unit.task_id, spec.index, spec.seed, candidate, compute,
            time.monotonic() - started, patch_hash(candidate.patch),
        )

    def _budget_stopped(self, scope: str, message: str) -> None:
        if scope not in ("run", "instance"):
            scope = "attempt"  # only a scope said in so many words stops more than the attempt
        if scope == "run":
            self.emit(StopRun("budget_exhausted", message))
            return
        if scope == "instance":
            self.task_stopped = True  # this task's remaining attempts are not made
        self.emit(BudgetStopped(self.unit.task_id, scope, message))

    # --- evaluations -----------------------------------------------------------------------

    def _claim(self, digest: str) -> bool:
        with self._claim_lock:
            if digest in self._claimed:
                return False
            self._claimed.add(digest)
            return True

    def _evaluate_pending(self, pending: PendingEvaluation) -> None:
        if self.stopped():
            return
        if self._claim(pending.patch_hash):
            self._evaluate(pending.patch_hash, pending.patch, pending.index)

    def _evaluate(self, digest: str, patch: str, index: int) -> None:
        evaluated = self._evaluate_runs(digest, patch, index)
        if evaluated is None:
            # Left pending for the next invocation; another attempt here may try again.
            with self._claim_lock:
                self._claimed.discard(digest)
            return
        self.emit(evaluated)

    def _evaluate_runs(self, digest: str, patch: str, index: int) -> Evaluated | None:
        """One evaluation, or on a flaky task as many runs as make `reruns` with those stored
        (all of them or none: a run that fails on the infrastructure leaves the patch pending)."""
        prior = self.unit.prior_runs.get(digest, ())
        outcomes: list[EvaluationOutcome] = []
        verdicts = list(prior)
        while not outcomes or needs_more_runs(verdicts, self.unit.reruns):
            if outcomes and self.stopped():
                return None
            outcome = self._evaluate_with_retries(patch)
            if outcome is None:
                return None
            outcomes.append(outcome)
            verdicts.append(rerun_of(outcome).verdict)
        if len(verdicts) == 1:
            return Evaluated(self.unit.task_id, digest, patch, outcomes[0], index, self.image)
        # The majority's own outcome goes to the store when it was made here; else the first.
        majority = majority_index(verdicts)
        chosen = max(0, majority - len(prior))
        return Evaluated(
            self.unit.task_id, digest, patch, outcomes[chosen], index, self.image,
            runs=tuple(rerun_of(outcome) for outcome in outcomes), first_run=len(prior),
            outcome_run=chosen, majority=majority,
        )

    def _evaluate_with_retries(self, patch: str) -> EvaluationOutcome | None:
        assert self.eval_pool is not None and self.setup is not None
        task = self.unit.task
        if not patch.strip() or is_refused(patch):
            # The empty patch, and one refused for its size, are graded without running
            # anything: no sandbox needed.
            return evaluate(task, patch, None, self.setup)  # type: ignore[arg-type]
        evaluate_candidate = evaluate_fail_fast if self.unit.fail_fast else evaluate
        setup = self.setup
        outcome, last_error = with_retries(
            self.eval_pool, lambda sandbox: evaluate_candidate(task, patch, sandbox, setup),
            what=task.instance_id, stopped=self.stopped,
            starved_wait=self.unit.starved_retry_wait, note=lambda line: self.emit(Note(line)),
        )
        if outcome is None and not self.stopped():
            self.emit(Note(
                f"{task.instance_id}: evaluation failed {INFRA_TRIES} times (infrastructure), "
                f"left pending: {last_error[:300]}"
            ))
        return outcome
