"""`judge`: a model picks one of the top candidates, given the issue and their diffs.

The candidates shown are the pool as the stages before it left it (all distinct candidates
when it is the first stage), ordered by their votes (the attempts that made the same
normalized patch; ties keep the pool's order) or, with `order: incoming`, as the stages before
it ranked them; the first `top` of them, numbered 1..top. The
prompt holds the task's public view (repository, issue, hints) and their diffs, nothing else.

Outcomes, each recorded in the evidence:
- `chosen`: the answer's last `CHOICE: n` names a shown candidate; it is the pick.
- `single_candidate`: one candidate only; no call is made.
- `no_choice` / `choice_out_of_range`: the answer names no shown candidate;
- `budget_stopped`: the selection's or the task's dollar cap was reached before the call;
- `prompt_refused`: the model cannot answer this prompt (too long, refused).
In the last four the pick falls back to the first candidate in that order: by votes, the
largest cluster (what `vote` would pick).

Its decision depends on which candidates are shown, so it is exact only on the full pool
(`exact_at_subsets = False`: the report shows it at k = n).
"""

from __future__ import annotations

from typing import Any

from harness.agents.llm_config import render
from harness.selection.base import CandidateView, Evidence, Pool, SelectionContext
from harness.selection.llm.access import SelectorModel, build_model
from harness.selection.llm.answers import choice_from_answer
from harness.selection.llm.common import Caller
from harness.selection.llm.config import JudgeDefinition, load_definition
from harness.selection.registry import SelectorOptions

_ANSWER_KEPT = 4000  # characters of the model's answer kept in the evidence


def by_votes(pool: Pool) -> list[CandidateView]:
    return sorted(pool, key=lambda candidate: -candidate.votes)  # stable: ties keep order


class JudgeSelector:
    name = "judge"
    needs_sandbox = False
    needs_models = True
    exact_at_subsets = False

    def __init__(self, definition: JudgeDefinition, model: SelectorModel) -> None:
        self.definition = definition
        self.model = model

    def messages(self, context: SelectionContext, shown: list[CandidateView]) -> list[dict]:
        limit = self.definition.diff_chars
        candidates = [
            {"number": number, "votes": candidate.votes, "diff": candidate.patch[:limit],
             "cut": len(candidate.patch) > limit, "chars": len(candidate.patch),
             "shown_chars": min(limit, len(candidate.patch))}
            for number, candidate in enumerate(shown, start=1)
        ]
        values = {"task": context.task, "candidates": candidates}
        return [
            {"role": "system", "content": render(self.definition.system_template, **values)},
            {"role": "user", "content": render(self.definition.instance_template, **values)},
        ]

    def _ordered(self, pool: Pool) -> list[CandidateView]:
        return by_votes(pool) if self.definition.order == "votes" else list(pool)

    def gather(self, context: SelectionContext) -> Evidence:
        evidence = Evidence()
        pool = context.survivors or context.candidates
        shown = self._ordered(pool)[: self.definition.top]
        data: dict[str, Any] = {
            "shown": [candidate.patch_hash for candidate in shown],
            "fallback": shown[0].patch_hash if shown else None,
            "choice": None, "number": None, "answer": "", "model": {},
        }
        evidence.data = data
        if len(shown) <= 1:
            data.update(outcome="single_candidate" if shown else "no_candidate",
                        choice=data["fallback"])
            return evidence
        caller = Caller(self.model, context)
        try:
            completion = caller.ask(self.messages(context, shown), 1, sample="judge")
        finally:
            caller.finish()
        data["model"] = caller.usage.to_json()
        evidence.model_dollars += caller.usage.dollars or 0.0
        if completion is None:
            data["outcome"] = caller.usage.outcome  # budget_stopped or prompt_refused
            data["incomplete"] = caller.usage.outcome == "budget_stopped"
            return evidence
        answer = completion.text
        data["answer"] = answer[-_ANSWER_KEPT:]
        number, problem = choice_from_answer(answer, len(shown))
        if problem is not None:
            data["outcome"] = problem.value
            return evidence
        assert number is not None
        data.update(outcome="chosen", number=number, choice=shown[number - 1].patch_hash)
        return evidence

    def narrow(self, pool: Pool, evidence: dict[str, Any]) -> Pool:
        """The judged candidate alone when it is in `pool`; else the pool in `order` (by
        votes: the largest cluster first)."""
        choice = evidence.get("choice")
        if evidence.get("outcome") in ("chosen", "single_candidate") and choice in pool.hashes:
            return pool.keep([choice])
        return Pool(tuple(self._ordered(pool)))


def make_judge(options: SelectorOptions) -> JudgeSelector:
    definition = load_definition("judge", options.config)
    assert isinstance(definition, JudgeDefinition)
    return JudgeSelector(definition, build_model(definition, options))

