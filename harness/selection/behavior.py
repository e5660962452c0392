"""`behavior`: candidates clustered by what they do on the tests the selection ran, the way
AlphaCode clustered programs by their outputs; the largest cluster wins.

Tests (`gather`), on every distinct candidate:

- the regression suite (harness.selection.regression: the same rule, so a chain
  `regression+behavior` runs it once: runs are stored and reused);
- each candidate's own tests: the test files its patch adds or changes (`test_*.py` /
  `*_test.py`, with the candidate's patch applied), run against every candidate, as CodeMonkeys
  lets model-written tests vote. A candidate's own suite is written over the other candidate's
  tree, so every candidate runs the same test code.

A candidate's outcome vector is, for each suite and each test any run of that suite reported,
one of P (PASSED/XFAIL), F (FAILED/ERROR), S (SKIPPED), M (absent) or X (its patch does not
apply). Candidates with equal vectors form a cluster.

Decision (`narrow`): only the suites a pool could have (the regression suite and the own suites
of candidates in the pool) make the vector. Clusters are ranked by
0. a patch that applies (a cluster whose every entry is X goes last);
1. votes: the attempts behind the cluster's candidates (more first);
2. tests passed: P entries of the cluster's vector (more first);
3. incoming order: the cluster's best-placed candidate in the pool it was given (first
   appearance when behavior is the first stage; an earlier stage's ranking otherwise).
Within a cluster, candidates go by votes, then incoming order. The survivors are every
candidate, winning cluster first, so a later stage (e.g. `vote`) can still reorder them; as
the last stage, the winning cluster's most-voted candidate is the pick.

Cost: the regression suite's runs plus (own suites) x (candidates) runs.

Note on k < n: the regression suite's files are chosen from the changed files of all the
task's candidates, and own suites are those of all candidates; a subset's vector keeps only
the own suites of its own candidates.
"""

from __future__ import annotations

import os
from typing import Any

from harness.evaluation.eval_script import is_test_file
from harness.patches import touched_files
from harness.selection.base import (
    FAILING_STATUSES,
    PASSING_STATUSES,
    CandidateView,
    Evidence,
    Pool,
    SelectionContext,
    TestRun,
    TestSuite,
)
from harness.selection.regression import regression_suite

MAX_OWN_FILES = 4  # own test files per candidate at most


def own_test_files(candidate: CandidateView) -> list[str]:
    """Test modules the candidate's patch adds or changes."""
    found = []
    for path in touched_files(candidate.patch):
        name = os.path.basename(path)
        if (path.endswith(".py") and is_test_file(path) and name != "conftest.py"
                and (name.startswith("test") or name.endswith("_test.py"))):
            found.append(path)
    return sorted(found)[:MAX_OWN_FILES]


def code(run: TestRun, name: str) -> str:
    if run.problem == "patch_failed":
        return "X"
    status = run.statuses.get(name)
    if status is None:
        return "M"
    if status in PASSING_STATUSES:
        return "P"
    if status in FAILING_STATUSES:
        return "F"
    return "S"


class BehaviorSelector:
    name = "behavior"
    needs_sandbox = True
    needs_models = False
    exact_at_subsets = True

    def __init__(self, max_test_files: int = 8) -> None:
        self.max_test_files = max_test_files

    def _suites(self, context: SelectionContext) -> list[tuple[TestSuite, str | None]]:
        suites: list[tuple[TestSuite, str | None]] = []
        regression = regression_suite(context, self.max_test_files)
        if regression is not None:
            suites.append((regression, None))
        assert context.tests is not None
        for candidate in context.candidates:
            paths = own_test_files(candidate)
            if not paths:
                continue
            contents = context.tests.patched(candidate, paths)
            if not contents:
                continue
            files = tuple(sorted(contents.items()))
            suite = TestSuite(f"own:{candidate.patch_hash[:12]}", tuple(p for p, _ in files),
                              files)
            suites.append((suite, candidate.patch_hash))
        return suites

    def gather(self, context: SelectionContext) -> Evidence:
        evidence = Evidence()
        if context.tests is None:
            evidence.data = {"suites": [], "vectors": {}}
            return evidence
        described = []
        vectors: dict[str, dict[str, str]] = {c.patch_hash: {} for c in context.candidates}
        for suite, owner in self._suites(context):
            runs = {}
            for candidate in context.candidates:
                run = context.tests.run(candidate, suite)
                evidence.add_run(run)
                runs[candidate.patch_hash] = run
            tests = sorted({name for run in runs.values() for name in run.statuses})
            for digest, run in runs.items():
                vectors[digest][suite.digest] = "".join(code(run, name) for name in tests)
            described.append({"suite": suite.digest, "name": suite.name, "owner": owner,
                              "targets": list(suite.targets), "tests": len(tests)})
        evidence.data = {"suites": described, "vectors": vectors}
        return evidence

    def narrow(self, pool: Pool, evidence: dict[str, Any]) -> Pool:
        suites = evidence.get("suites") or []
        vectors = evidence.get("vectors") or {}
        if not suites or not pool:
            return pool
        present = set(pool.hashes)
        place = {digest: position for position, digest in enumerate(pool.hashes)}
        used = [s["suite"] for s in suites if s["owner"] is None or s["owner"] in present]
        clusters: dict[str, list[CandidateView]] = {}
        for candidate in pool:
            outcomes = vectors.get(candidate.patch_hash, {})
            key = "|".join(outcomes.get(digest, "") for digest in used)
            clusters.setdefault(key, []).append(candidate)

        def rank(item: tuple[str, list[CandidateView]]) -> tuple[bool, int, int, int]:
            key, members = item
            votes = sum(member.votes for member in members)
            # Patches that apply nowhere go last whatever their votes.
            unappliable = bool(key.replace("|", "")) and set(key.replace("|", "")) == {"X"}
            first = min(place[m.patch_hash] for m in members)
            return (unappliable, -votes, -key.count("P"), first)

        ordered: list[CandidateView] = []
        for _, members in sorted(clusters.items(), key=rank):
            ordered += sorted(members, key=lambda m: (-m.votes, place[m.patch_hash]))
        return Pool(tuple(ordered))
