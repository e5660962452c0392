"""`oneshot`: retrieve the files the issue is about, show them to the model, turn its answer
into a diff (Agentless-style, with one model call and no tools).

All k attempts of a task share one prompt. With `samples_per_call: n` an attempt that finds
no answer waiting asks for min(n, attempts still to make) answers in one call (the prompt is
billed once per batch), one for itself and one for each of the next attempts the runner will
make on the task (`AttemptContext.upcoming`); those take theirs from it. So a batch never asks
for samples no attempt will use. Batches are kept in memory per task, and the response cache
keeps them across processes, so a resumed run pays for no batch twice.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from harness.agents.base import AttemptContext, AttemptError, Candidate
from harness.agents.edits import EditFormatError, answer_to_diff
from harness.agents.llm_config import OneshotDefinition, render
from harness.agents.llm_usage import Share, UsageTally, share_of
from harness.agents.retrieval import Retrieval, retrieve
from harness.models.budget import AttemptBudget, Budget, BudgetExhausted
from harness.models.llm import LLM, Completion, PromptError, TransientModelError
from harness.sandboxes.base import TESTBED, Sandbox
from harness.tasks import TaskView

# Tasks whose prompts, file reads and answer batches are kept in memory.
_KEPT_TASKS = 8


@dataclass
class _Batch:
    """One call's answers, for these attempt indices in this order."""

    indices: list[int]
    lock: threading.Lock = field(default_factory=threading.Lock)
    completion: Completion | None = None


@dataclass
class _TaskState:
    messages: list[dict[str, str]]
    retrieval: Retrieval
    prompt_sha256: str
    files: dict[str, str | None] = field(default_factory=dict)  # full texts read so far
    checked: dict[str, str] = field(default_factory=dict)  # patch -> "" or apply error
    # (run id, attempt index) -> its batch: a run never takes another run's paid samples.
    batches: dict[tuple[str | None, int], _Batch] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class OneshotAgent:
    name = "oneshot"
    uses_sandbox = True
    # Set by build_llm_agent: what the run records about the model side, and warnings.
    info: Any = None
    changes_sandbox = False  # it only reads the testbed

    def __init__(
        self, definition: OneshotDefinition, llm: LLM, definition_hash: str,
        budget: Budget | None = None, use_cache: bool = True,
    ) -> None:
        self.definition = definition
        self.llm = llm
        self.definition_hash = definition_hash
        self.budget = budget or Budget()
        self.use_cache = use_cache
        self._lock = threading.Lock()
        self._task_locks: dict[tuple[str, str], threading.Lock] = {}
        self._tasks: OrderedDict[tuple[str, str], _TaskState] = OrderedDict()

    def max_attempts(self, task: TaskView) -> int | None:
        return None

    # -- the prompt, once per task -----------------------------------------------------------

    def _state(self, task: TaskView, sandbox: Sandbox) -> _TaskState:
        key = (task.instance_id, task.base_commit)
        with self._lock:
            if key in self._tasks:
                self._tasks.move_to_end(key)
                return self._tasks[key]
            task_lock = self._task_locks.setdefault(key, threading.Lock())
        with task_lock:
            with self._lock:
                if key in self._tasks:
                    return self._tasks[key]
            state = self._build_state(task, sandbox)
            with self._lock:
                self._tasks[key] = state
                while len(self._tasks) > _KEPT_TASKS:
                    old, _ = self._tasks.popitem(last=False)
                    self._task_locks.pop(old, None)
            return state

    def _build_state(self, task: TaskView, sandbox: Sandbox) -> _TaskState:
        found = retrieve(task, sandbox, self.definition.retrieval)
        values = {"task": task, "files": found.files, "repo_map": found.repo_map}
        messages = [
            {"role": "system", "content": render(self.definition.system_template, **values)},
            {"role": "user", "content": render(self.definition.instance_template, **values)},
        ]
        digest = hashlib.sha256(repr(messages).encode()).hexdigest()
        state = _TaskState(messages, found, digest)
        for file in found.files:
            if not file.excerpt:
                state.files[file.path] = file.content
        return state

    # -- answers -----------------------------------------------------------------------------

    def _answer(
        self, state: _TaskState, context: AttemptContext, budget: AttemptBudget
    ) -> tuple[str, str, Share, dict[str, Any]]:
        """(answer text, finish reason, this sample's share of the call, batch details)."""
        index = context.index
        n = self.definition.samples_per_call
        if n > 1:
            run = context.run_id
            with state.lock:
                batch = state.batches.get((run, index))
                if batch is None:
                    upcoming = context.upcoming or (index,)
                    wanted = [j for j in upcoming if (run, j) not in state.batches][:n]
                    if index not in wanted:
                        wanted = [index, *wanted[: n - 1]]
                    batch = _Batch(wanted)
                    for j in wanted:
                        state.batches[(run, j)] = batch
            with batch.lock:
                fetched = batch.completion is None
                if batch.completion is None:
                    batch.completion = self.llm.complete(
                        state.messages, n=len(batch.indices),
                        sample="batch:" + ",".join(str(j) for j in batch.indices),
                        budget=budget, use_cache=self.use_cache, serves=batch.indices,
                    )
                completion = batch.completion
            got = len(completion.texts)
            position = batch.indices.index(index)
            if position < got:
                share = share_of(completion, got, position, makes_call=fetched)
                details = {
                    "batch": batch.indices[0], "batch_size": got, "position": position,
                    "batch_attempts": batch.indices,
                    "batch_prompt_tokens": completion.input_tokens,
                    "prompt_tokens_per_sample": completion.input_tokens / got,
                }
                return (completion.texts[position], completion.finish_reasons[position],
                        share, details)
            # The provider gave fewer answers than asked (no `n` support): ask for this one.
        single = self.llm.complete(
            state.messages, n=1, sample=index, budget=budget, use_cache=self.use_cache
        )
        details = {
            "batch": None, "batch_size": 1, "position": 0,
            "batch_prompt_tokens": single.input_tokens,
            "prompt_tokens_per_sample": float(single.input_tokens),
        }
        return single.text, single.finish_reasons[0] if single.finish_reasons else "", \
            share_of(single, 1, 0, makes_call=True), details

    # -- the attempt -------------------------------------------------------------------------

    def attempt(self, context: AttemptContext, sandbox: Sandbox) -> Candidate:
        task = context.task
        budget = self.budget.start_attempt(
            task.instance_id, run_id=context.run_id, index=context.index
        )
        tally = UsageTally()
        try:
            state = self._state(task, sandbox)
            try:
                answer, reason, share, batch = self._answer(state, context, budget)
            except BudgetExhausted as error:
                # One call per attempt, so nothing was spent on this one.
                if error.scope == "agent":
                    return Candidate(patch="", error=AttemptError.BUDGET,
                                     error_message=str(error))
                if error.scope == "attempt":
                    return Candidate(patch="", error=AttemptError.BUDGET_CUT,
                                     error_message=str(error), budget_scope="attempt",
                                     details={"budget_scope": error.scope})
                raise  # the runner stops the task or the run before recording an attempt
            except TransientModelError as error:
                return Candidate(patch="", error=AttemptError.INFRA, error_message=str(error))
            except PromptError as error:
                return Candidate(patch="", error=AttemptError.AGENT, error_message=str(error))
        finally:
            budget.finish()
        tally.add(share)
        details: dict[str, Any] = {
            **tally.details(),
            **batch,
            "cached": share.cached,
            "finish_reason": reason,
            "retrieved_files": [file.path for file in state.retrieval.files],
            "prompt_sha256": state.prompt_sha256,
        }
        trajectory = self._trajectory(state, context.index, answer, reason)
        try:
            patch = answer_to_diff(answer, lambda path: self._read(state, sandbox, path))
            problem = self._apply_problem(state, sandbox, patch)
            if problem:
                raise EditFormatError(f"the diff does not apply to the base commit: {problem}")
        except EditFormatError as error:
            trajectory.append({"role": "harness", "content": f"no patch: {error}"})
            return Candidate(
                patch="", usage=tally.usage(), error=AttemptError.FORMAT,
                error_message=str(error), trajectory=trajectory, details=details,
                samples=tuple(tally.samples),
            )
        trajectory.append({"role": "harness", "content": "patch made from the answer"})
        return Candidate(patch=patch, usage=tally.usage(), trajectory=trajectory,
                         details=details, samples=tuple(tally.samples))

    def _trajectory(
        self, state: _TaskState, index: int, answer: str, reason: str
    ) -> list[dict[str, Any]]:
        # All attempts of a task share the prompt: attempt 0 keeps it, the others point there.
        if index == 0:
            prompt = [dict(message) for message in state.messages]
        else:
            prompt = [
                {"role": message["role"], "same_as_attempt": 0,
                 "prompt_sha256": state.prompt_sha256}
                for message in state.messages
            ]
        return [*prompt, {"role": "assistant", "content": answer, "finish_reason": reason}]

    def _read(self, state: _TaskState, sandbox: Sandbox, path: str) -> str | None:
        with state.lock:
            if path in state.files:
                return state.files[path]
        try:
            text: str | None = sandbox.read_file(f"{TESTBED}/{path}", max_bytes=2_000_000).decode(
                "utf-8"
            )
        except FileNotFoundError:
            text = None
        except (ValueError, IsADirectoryError, PermissionError) as error:
            raise EditFormatError(f"cannot edit {path}: {error}") from None
        with state.lock:
            state.files[path] = text
        return text

    def _apply_problem(self, state: _TaskState, sandbox: Sandbox, patch: str) -> str:
        if not self.definition.check_apply:
            return ""
        with state.lock:
            if patch in state.checked:
                return state.checked[patch]
        result = sandbox.exec("git apply --check --whitespace=nowarn -", stdin=patch, timeout=60)
        problem = "" if result.ok else (result.stderr or result.stdout).strip()[:2000]
        with state.lock:
            state.checked[patch] = problem
        return problem
