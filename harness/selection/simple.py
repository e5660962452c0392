"""`first` and `vote` as selector stages: no tests run, decided by the attempts alone.

`vote`: the candidate most attempts made (its votes); ties keep the incoming order, which is
first appearance unless an earlier stage ranked the pool.
`first`: the candidate of the lowest attempt. Their closed-form or sampled expectations at k
(harness.reports.selection) agree with these decisions on every subset.
"""

from __future__ import annotations

from typing import Any

from harness.selection.base import Evidence, Pool, SelectionContext


class ModelFreeStage:
    """A stage that needs no sandbox and no model, and decides a subset exactly as it would
    decide given only that subset; its evidence is whatever `gather` computes from the
    candidates (nothing, unless a subclass says otherwise)."""

    name = ""
    needs_sandbox = False
    needs_models = False
    exact_at_subsets = True

    def gather(self, context: SelectionContext) -> Evidence:
        return Evidence()


class FirstSelector(ModelFreeStage):
    name = "first"

    def narrow(self, pool: Pool, evidence: dict[str, Any]) -> Pool:
        ordered = sorted(pool, key=lambda candidate: candidate.first_attempt)
        return Pool(tuple(ordered))


class VoteSelector(ModelFreeStage):
    name = "vote"

    def narrow(self, pool: Pool, evidence: dict[str, Any]) -> Pool:
        """All candidates, most votes first; ties keep the incoming order (first appearance
        when vote is the first stage, an earlier stage's ranking otherwise). A chain's last stage
        picks the first, so `regression+vote` votes among regression's survivors."""
        ordered = sorted(pool, key=lambda candidate: -candidate.votes)  # stable
        return Pool(tuple(ordered))
