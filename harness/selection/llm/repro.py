"""`repro`: reproduction tests a model writes from the issue text, as Agentless does.

1. The model is asked for `tests` test files (in calls of `samples_per_call` answers) from the
   task's public view only: repository, issue, hints. Never the test patch or the test lists:
   the prompt is rendered from a `TaskView`, which has no field for them.
2. Each answer is parsed (harness.selection.llm.answers); one with no code block, a syntax
   error, no test function, or the same code as an earlier test gets its outcome and is not run.
3. Each usable test runs on the base commit; it is kept only if it fails there (it reproduces
   the issue). One that passes at the base commit, or reports no result, is recorded and dropped.
4. Every kept test runs on every distinct candidate. A candidate passes a test when the test
   reported results and none failed.

`narrow` keeps the candidates that pass the most kept tests (best first, in the pool's order);
with no kept test, or none passed, it passes the pool on unchanged. A candidate's score does not
depend on the other candidates, so the decision on a k-subset is exact.

Every test run goes through the task's TestRunner, which stores it (a rerun runs nothing it has
already run); every model call goes through the response cache and the ledger.
"""

from __future__ import annotations

import hashlib
from typing import Any

from harness.agents.llm_config import render
from harness.selection.base import (
    Evidence,
    Pool,
    SelectionContext,
    SelectionError,
    TestRun,
    TestSuite,
)
from harness.selection.llm.access import SelectorModel, build_model
from harness.selection.llm.answers import TestOutcome, parse_test_file
from harness.selection.llm.common import Caller
from harness.selection.llm.config import ReproDefinition, load_definition
from harness.selection.registry import SelectorOptions


def candidate_passes(run: TestRun) -> bool:
    return not run.problem and bool(run.passed()) and not run.failed()


def _result(run: TestRun) -> str:
    if run.problem:
        return run.problem  # patch_failed, timeout, error
    return "pass" if candidate_passes(run) else "fail"


class ReproSelector:
    name = "repro"
    needs_sandbox = True
    needs_models = True
    exact_at_subsets = True

    def __init__(self, definition: ReproDefinition, model: SelectorModel) -> None:
        self.definition = definition
        self.model = model

    # -- asking ------------------------------------------------------------------------------

    def messages(self, context: SelectionContext) -> list[dict[str, str]]:
        task = context.task  # a TaskView: nothing hidden can be rendered
        return [
            {"role": "system", "content": render(self.definition.system_template, task=task)},
            {"role": "user", "content": render(self.definition.instance_template, task=task)},
        ]

    def _answers(self, context: SelectionContext, caller: Caller) -> list[str]:
        """Up to `tests` answers; fewer when the budget or the prompt stopped the calls."""
        messages = self.messages(context)
        wanted = self.definition.tests
        per_call = self.definition.samples_per_call
        texts: list[str] = []
        while len(texts) < wanted:
            size = min(per_call, wanted - len(texts))
            # The sample names the answers' positions, so a rerun asks the cache the same keys.
            completion = caller.ask(messages, size, sample=f"repro:{len(texts)}+{size}")
            if completion is None or not completion.texts:
                break
            got = completion.texts[:size]
            texts.extend(got)
            if len(got) < size:
                per_call = 1  # the provider ignores `n`: one call per test from here
        return texts

    # -- gathering ---------------------------------------------------------------------------

    def gather(self, context: SelectionContext) -> Evidence:
        evidence = Evidence()
        data: dict[str, Any] = {"tests": [], "model": {}, "results": {}, "scores": {}}
        evidence.data = data
        if not context.candidates:
            return evidence
        if context.tests is None:
            raise SelectionError("repro runs tests: it needs the task's sandbox")
        caller = Caller(self.model, context)
        try:
            answers = self._answers(context, caller)
        finally:
            caller.finish()
        data["model"] = caller.usage.to_json()
        evidence.model_dollars += caller.usage.dollars or 0.0
        # Stopped by the budget: decided on what there is, and again once the budget allows.
        data["incomplete"] = caller.usage.outcome == "budget_stopped"

        kept: list[tuple[int, TestSuite]] = []
        seen: dict[str, int] = {}
        for index in range(self.definition.tests):
            entry: dict[str, Any] = {"index": index}
            data["tests"].append(entry)
            if index >= len(answers):
                entry.update(outcome=TestOutcome.NOT_ASKED.value, detail=caller.usage.message)
                continue
            parsed = parse_test_file(answers[index], self.definition.max_test_chars)
            entry["code"] = parsed.code
            if parsed.outcome is not None:
                entry.update(outcome=parsed.outcome.value, detail=parsed.detail)
                continue
            digest = hashlib.sha256(parsed.code.encode()).hexdigest()
            if digest in seen:
                entry.update(outcome="duplicate", detail=f"the same code as test {seen[digest]}")
                continue
            seen[digest] = index
            path = self.definition.test_path.format(index=index)
            suite = TestSuite(f"repro:{index}", (path,), ((path, parsed.code),))
            entry.update(path=path, suite=suite.digest)
            base = context.tests.run(None, suite)
            evidence.add_run(base)
            entry["base"] = base.statuses
            if base.problem:
                entry.update(outcome=TestOutcome.BROKEN_AT_BASE.value,
                             detail=f"no test result at the base commit ({base.problem})")
            elif base.failed():
                entry["outcome"] = TestOutcome.KEPT.value
                kept.append((index, suite))
            elif base.passed():
                entry.update(outcome=TestOutcome.PASSES_AT_BASE.value,
                             detail="passes at the base commit: it does not reproduce the issue")
            else:
                entry.update(outcome=TestOutcome.BROKEN_AT_BASE.value,
                             detail="no test passed or failed at the base commit")

        for candidate in context.candidates:
            results: dict[str, str] = {}
            for index, suite in kept:
                run = context.tests.run(candidate, suite)
                evidence.add_run(run)
                results[str(index)] = _result(run)
            data["results"][candidate.patch_hash] = results
            data["scores"][candidate.patch_hash] = sum(
                1 for value in results.values() if value == "pass"
            )
        data["kept"] = [index for index, _ in kept]
        return evidence

    # -- deciding ----------------------------------------------------------------------------

    def narrow(self, pool: Pool, evidence: dict[str, Any]) -> Pool:
        scores: dict[str, int] = evidence.get("scores") or {}
        if not pool or not scores:
            return pool
        best = max(scores.get(candidate.patch_hash, 0) for candidate in pool)
        if best == 0:
            return pool  # no candidate passes a kept test: nothing to rank by
        return Pool(tuple(c for c in pool if scores.get(c.patch_hash, 0) == best))


def make_repro(options: SelectorOptions) -> ReproSelector:
    definition = load_definition("repro", options.config)
    assert isinstance(definition, ReproDefinition)
    return ReproSelector(definition, build_model(definition, options))
