"""`consensus`: the candidate most like the others (minimum Bayes risk over patches), a vote
that counts near-agreement and not only identical patches. No test runs; no model.

Similarity of two patches = Jaccard of the changed lines (each `+`/`-` line with its file,
whitespace removed) + Jaccard of the files touched; between 0 and 2. A candidate's score is
the sum of its similarity to every other attempt of the pool: its own other votes count 2 each
(an identical patch), another candidate's attempts count their similarity each. The pool is
ranked by score, highest first; ties keep the incoming order.

Why it helps: systems that fix a bug tend to change the same lines in slightly different
words, so exact-hash votes rarely form (7 distinct patches out of 7 attempts is common), while
wrong patches scatter over other files and lines.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from harness.patches import touched_files
from harness.selection.base import Evidence, Pool, SelectionContext
from harness.selection.simple import ModelFreeStage

_SPACE = re.compile(r"\s+")


@lru_cache(maxsize=4096)
def changed_lines(patch: str) -> frozenset[tuple[str, str, str]]:
    lines = set()
    current = ""
    for line in patch.splitlines():
        if line.startswith("+++ ") or line.startswith("--- "):
            if line.startswith("+++ "):
                current = line[4:].removeprefix("b/")
            continue
        if line[:1] in ("+", "-"):
            lines.add((current, line[0], _SPACE.sub("", line[1:])))
    return frozenset(lines)


@lru_cache(maxsize=4096)
def _files(patch: str) -> frozenset[str]:
    return frozenset(touched_files(patch))


def _jaccard(a: frozenset, b: frozenset) -> float:
    union = len(a | b)
    return len(a & b) / union if union else 0.0


def similarity(a: str, b: str) -> float:
    return _jaccard(changed_lines(a), changed_lines(b)) + _jaccard(_files(a), _files(b))


class ConsensusSelector(ModelFreeStage):
    name = "consensus"

    def gather(self, context: SelectionContext) -> Evidence:
        """Pairwise similarities of the task's candidates, kept as evidence (the report
        re-ranks subsets with them, without the patches)."""
        pairs: dict[str, float] = {}
        candidates = list(context.candidates)
        for i, left in enumerate(candidates):
            for right in candidates[i + 1:]:
                key = "|".join(sorted((left.patch_hash, right.patch_hash)))
                pairs[key] = round(similarity(left.patch, right.patch), 6)
        return Evidence(data={"similarity": pairs})

    def narrow(self, pool: Pool, evidence: dict[str, Any]) -> Pool:
        pairs = evidence.get("similarity") or {}

        def similar(a: str, b: str) -> float:
            return pairs.get("|".join(sorted((a, b))), 0.0)

        scores = {}
        for candidate in pool:
            own = 2.0 * (candidate.votes - 1)
            others = sum(
                other.votes * similar(candidate.patch_hash, other.patch_hash)
                for other in pool if other.patch_hash != candidate.patch_hash
            )
            scores[candidate.patch_hash] = own + others
        return Pool(tuple(sorted(pool, key=lambda c: -scores[c.patch_hash])))  # stable
