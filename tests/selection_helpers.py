"""A user's own selector, reached by import path (`selection_helpers:make_longest`) in tests."""

from __future__ import annotations

from harness.selection.base import Evidence, Pool


class LongestPatch:
    """Prefers the longest patch: a toy a user might write."""

    name = "longest"
    needs_sandbox = False
    needs_models = False
    exact_at_subsets = True

    def gather(self, context) -> Evidence:
        return Evidence(data={"lengths": {c.patch_hash: len(c.patch) for c in context.candidates}})

    def narrow(self, pool: Pool, evidence) -> Pool:
        lengths = evidence.get("lengths", {})
        return Pool(tuple(sorted(pool, key=lambda c: -lengths.get(c.patch_hash, 0))))


def make_longest(options) -> LongestPatch:
    return LongestPatch()


def not_a_selector(options) -> object:
    return object()
