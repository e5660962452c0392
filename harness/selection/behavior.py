"""`behavior`: candidates clustered by what they do on the tests and scripts the selection ran,
the way AlphaCode clustered programs by their outputs; the largest cluster wins, after the
clusters that show what the issue asks for.

What runs (`gather`), on every distinct candidate:

- the regression suite (harness.selection.regression: the same rule, so a chain
  `regression+behavior` runs it once: runs are stored and reused);
- each candidate's own tests: the test files its patch adds or changes (`test_*.py` /
  `*_test.py`, with the candidate's patch applied), run against every candidate, as CodeMonkeys
  lets model-written tests vote. A candidate's own suite is written over the other candidate's
  tree, so every candidate runs the same test code;
- scripts (harness.selection.scripts), also on the base commit: the issue's own code (its code
  blocks and interactive sessions, as one script) and the reproduction scripts candidates add
  (`reproduce_bug.py` and the like). No model writes them.

A candidate's outcome vector is, for each test suite and each test any run of it reported, one
of P (PASSED/XFAIL), F (FAILED/ERROR), S (SKIPPED), M (absent) or X (its patch does not
apply); for each script, B (the base commit's output: it changes nothing the script shows), W
(it crashes where the base ran), D<how it ended><output digest> (a changed output: equal
entries, equal behaviours) or X. Candidates with equal vectors form a cluster. The issue's
quoted outputs (its code blocks that are not code: "Actual output", "Expected output") are
compared with each candidate's output of the issue script: `expected` lists, per candidate, the
quoted blocks its output shows and the base commit's does not.

Decision (`narrow`): only the suites a pool could have (the regression suite, the issue script,
and the own tests and scripts of candidates in the pool) make the vector. Clusters are ranked by
0. a patch that applies (a cluster whose every entry is X goes last);
1. quoted outputs newly shown (more first): the issue wrote down the behaviour it wants;
2. a changed script output (D) before none, when there are scripts: a patch that leaves the
   issue's example and every reproduction script printing what they printed did not touch the
   behaviour the issue is about;
3. votes: the attempts behind the cluster's candidates (more first);
4. tests passed: P entries of the cluster's test vectors (more first);
5. incoming order: the cluster's best-placed candidate in the pool it was given (first
   appearance when behavior is the first stage; an earlier stage's ranking otherwise).
Within a cluster, candidates go by votes, then incoming order. The survivors are every
candidate, winning cluster first, so a later stage (e.g. `vote`) can still reorder them; as
the last stage, the winning cluster's most-voted candidate is the pick.

Cost: the regression suite's runs plus (own suites) x (candidates) runs, plus (scripts) x
(candidates + 1) runs of a script each (at most SCRIPT_TIMEOUT seconds; usually about one).

Note on k < n: the regression suite's files are chosen from the changed files of all the
task's candidates, and own suites are those of all candidates; a subset's vector keeps only
the own suites and scripts of its own candidates.
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
from harness.selection.scripts import (
    OUTCOME_PREFIX,
    expected_outputs,
    issue_script,
    outcome,
    own_scripts,
    script_suite,
    shown,
)

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


_WORSE = {"ok": 0, "fail": 1, "timeout": 2}


def script_code(run: TestRun, base: TestRun) -> str:
    """A script's entry in a candidate's vector: X (the patch does not apply), B (the base
    commit's outcome: the candidate changes nothing this script shows), W (changed, but ended
    worse than on the base: a crash where the base ran), else D<ended><digest> (a changed
    behaviour; equal entries, equal behaviours)."""
    mine, theirs = outcome(run), outcome(base)
    if mine == "X" or mine == "M":
        return mine
    if mine == theirs:
        return "B"
    ended = mine.removeprefix(OUTCOME_PREFIX).split(":")[0]
    base_ended = theirs.removeprefix(OUTCOME_PREFIX).split(":")[0]
    if _WORSE.get(ended, 2) > _WORSE.get(base_ended, 2):
        return "W"
    return "D" + mine.removeprefix(OUTCOME_PREFIX).replace(":", "")


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

    def __init__(self, max_test_files: int = 8, scripts: bool = True) -> None:
        self.max_test_files = max_test_files
        self.scripts = scripts

    def _suites(self, context: SelectionContext) -> list[tuple[TestSuite, str | None, str]]:
        """(suite, owner patch hash or None, kind: tests or script)."""
        suites: list[tuple[TestSuite, str | None, str]] = []
        regression = regression_suite(context, self.max_test_files)
        if regression is not None:
            suites.append((regression, None, "tests"))
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
            suites.append((suite, candidate.patch_hash, "tests"))
        if self.scripts:
            issue = issue_script(context.task.problem_statement, context.task.repo)
            if issue is not None:
                suites.append((script_suite("issue", issue), None, "script"))
            for candidate in context.candidates:
                for path, source in own_scripts(candidate):
                    name = f"script:{candidate.patch_hash[:12]}:{path}"
                    suites.append((script_suite(name, source), candidate.patch_hash, "script"))
        return suites

    def gather(self, context: SelectionContext) -> Evidence:
        evidence = Evidence()
        if context.tests is None:
            evidence.data = {"suites": [], "vectors": {}}
            return evidence
        described = []
        vectors: dict[str, dict[str, str]] = {c.patch_hash: {} for c in context.candidates}
        expected = expected_outputs(context.task.problem_statement) if self.scripts else []
        matched: dict[str, list[int]] = {}
        for suite, owner, kind in self._suites(context):
            runs = {}
            for candidate in context.candidates:
                run = context.tests.run(candidate, suite)
                evidence.add_run(run)
                runs[candidate.patch_hash] = run
            if kind == "script":
                base = context.tests.run(None, suite)
                evidence.add_run(base)
                for digest, run in runs.items():
                    vectors[digest][suite.digest] = script_code(run, base)
                described.append({"suite": suite.digest, "name": suite.name, "owner": owner,
                                  "kind": kind, "base": outcome(base)})
                if owner is None and expected:
                    before = shown(expected, base.statuses.get("output", ""))
                    for digest, run in runs.items():
                        if not run.problem:
                            now = shown(expected, run.statuses.get("output", "")) - before
                            matched[digest] = sorted(now)
                continue
            tests = sorted({name for run in runs.values() for name in run.statuses})
            for digest, run in runs.items():
                vectors[digest][suite.digest] = "".join(code(run, name) for name in tests)
            described.append({"suite": suite.digest, "name": suite.name, "owner": owner,
                              "kind": kind, "targets": list(suite.targets),
                              "tests": len(tests)})
        evidence.data = {"suites": described, "vectors": vectors, "expected": matched}
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

        scripts = {s["suite"] for s in suites if s.get("kind") == "script"} & set(used)
        expected = evidence.get("expected") or {}

        def rank(item: tuple[str, list[CandidateView]]) -> tuple[bool, int, bool, int, int, int]:
            key, members = item
            votes = sum(member.votes for member in members)
            # Patches that apply nowhere go last whatever their votes.
            unappliable = bool(key.replace("|", "")) and set(key.replace("|", "")) == {"X"}
            outcomes = vectors.get(members[0].patch_hash, {})
            changed = any(outcomes.get(digest, "").startswith("D") for digest in scripts)
            first = min(place[m.patch_hash] for m in members)
            passed = sum(outcomes.get(d, "").count("P") for d in used if d not in scripts)
            shows = max(len(expected.get(m.patch_hash, [])) for m in members)
            return (unappliable, -shows, bool(scripts) and not changed, -votes, -passed, first)

        ordered: list[CandidateView] = []
        for _, members in sorted(clusters.items(), key=rank):
            ordered += sorted(members, key=lambda m: (-m.votes, place[m.patch_hash]))
        return Pool(tuple(ordered))
