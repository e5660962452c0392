"""`regression`: the repository's existing tests, chosen without hidden information, run on the
base commit and on each distinct candidate; a candidate that breaks a test the base passes is
dropped.

The rule that chooses the tests (`choose_test_files`), from the repository's layout at the base
commit and the files the candidates change:

1. Source files: the `.py` files any candidate changes that are not test files (same test-like
   rule as evaluation: harness.evaluation.eval_script.is_test_file), most-changed first.
2. For each, its test files: first those named after it (`test_<stem>.py`, `<stem>_test.py`,
   `test_<stem>s.py`; for `pkg/__init__.py` the stem is `pkg`), then those that import its
   module (`import a.b.c`, `from a.b.c import`, `from a.b import c`), nearest the source file
   first (longest common directory prefix, then the shallowest). Test files under `examples/`,
   `docs/` or `benchmarks/` folders are not the repository's suite and are never chosen.
   2b. When a module has none, the same for its package (`a.b` for `a.b.c`: `test_b.py`, then
   importers of `a.b`), one level up at a time.
3. Round robin over the source files (each one's best test file, then each one's second, ...),
   at most `max_test_files` (default 8) files in all.

The chosen files run as one suite, with the base commit's version of each (a candidate's edits
to those test files do not count). A test "passes at the base" when its status there is PASSED
or XFAIL; a candidate breaks it when it is FAILED, ERROR or absent on the candidate (a module
that no longer imports loses its tests), or when the patch does not apply.

Decision (`narrow`): candidates are ranked by how many base-passing tests they break; those that
break the fewest survive, in their incoming order. A test that candidates holding more than half
of the pool's votes break does not count (`tests_the_issue_changes`): independent candidates
that agree on breaking it point at an old test of the behaviour the issue changes (measured on
pydata__xarray-5131: five of seven systems made the same right patch, which breaks the ten
`test_groupby_repr` cases asserting the repr the issue fixes). When some candidate breaks none
this is exactly "drop every candidate that breaks one"; when every candidate breaks some test
(an old test asserting the behaviour the issue changes, a test the sandbox cannot pass), the
least damaging survive instead of nothing.

Cost: one run of the suite on the base commit and one per distinct candidate; the seconds of
each are stored (selection_test_runs) and reported as the selector's test time.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Any

from harness.evaluation.eval_script import is_test_file
from harness.patches import touched_files
from harness.selection.base import (
    PASSING_STATUSES,
    Evidence,
    Pool,
    SelectionContext,
    TestRunner,
    TestSuite,
)

SOURCE_ROOTS = ("src/", "lib/")


def changed_sources(pool: Pool) -> list[str]:
    """Non-test `.py` files the candidates change, most candidates first, then by path."""
    counts: Counter[str] = Counter()
    for candidate in pool:
        for path in touched_files(candidate.patch):
            if path.endswith(".py") and not is_test_file(path):
                counts[path] += 1
    return sorted(counts, key=lambda path: (-counts[path], path))


# Test files under these folders are examples' or documentation's own, with their own
# conftest and install (flask's examples/tutorial): not the repository's suite.
NOT_THE_SUITE = frozenset({"examples", "example", "docs", "doc", "benchmarks", "bench"})


def is_test_module(path: str) -> bool:
    name = os.path.basename(path)
    return (
        path.endswith(".py") and is_test_file(path) and name != "conftest.py"
        and (name.startswith("test") or name.endswith("_test.py"))
        and not NOT_THE_SUITE & set(path.split("/")[:-1])
    )


def module_of(path: str) -> tuple[str, str]:
    """(dotted module, stem) of a source file: `src/flask/app.py` -> (`flask.app`, `app`)."""
    trimmed = path
    for root in SOURCE_ROOTS:
        if trimmed.startswith(root):
            trimmed = trimmed[len(root):]
            break
    parts = trimmed[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    dotted = ".".join(parts)
    return dotted, parts[-1] if parts else ""


def _common_prefix(a: str, b: str) -> int:
    left, right = a.split("/")[:-1], b.split("/")[:-1]
    same = 0
    for x, y in zip(left, right, strict=False):
        if x != y:
            break
        same += 1
    return same


def import_pattern(dotted: str) -> str:
    """An extended regex matching an import of the module `dotted`."""
    escaped = re.escape(dotted)
    parent, _, leaf = dotted.rpartition(".")
    alternatives = [rf"(^|[^A-Za-z0-9_.])(import|from)[[:space:]]+{escaped}([^A-Za-z0-9_]|$)"]
    if parent:
        alternatives.append(
            rf"from[[:space:]]+{re.escape(parent)}[[:space:]]+import[[:space:]](.*[^A-Za-z0-9_])?"
            rf"{re.escape(leaf)}([^A-Za-z0-9_]|$)"
        )
    return "|".join(alternatives)


def _tests_for_module(dotted: str, stem: str, path: str, test_modules: list[str],
                      runner: TestRunner) -> list[str]:
    names = {f"test_{stem}.py", f"{stem}_test.py", f"test_{stem}s.py"}
    nearest = sorted(test_modules,
                     key=lambda test: (-_common_prefix(path, test), test.count("/"), test))
    named = [test for test in nearest if os.path.basename(test) in names]
    importers = set(runner.grep(import_pattern(dotted), test_modules)) if dotted else set()
    return named + [test for test in nearest if test in importers and test not in named]


def tests_for_source(path: str, test_modules: list[str], runner: TestRunner) -> list[str]:
    """The test files of one source file, best first (rule 2 of the module docstring); when
    the module has none, those of its package, one level up at a time (rule 2b)."""
    dotted, stem = module_of(path)
    while dotted:
        found = _tests_for_module(dotted, stem, path, test_modules, runner)
        if found:
            return found
        dotted = dotted.rpartition(".")[0]
        stem = dotted.rpartition(".")[2]
    return []


def choose_test_files(pool: Pool, runner: TestRunner, limit: int) -> list[str]:
    sources = changed_sources(pool)
    if not sources:
        return []
    test_modules = [path for path in runner.files() if is_test_module(path)]
    per_source = [tests_for_source(path, test_modules, runner) for path in sources]
    chosen: list[str] = []
    depth = 0
    while len(chosen) < limit and any(depth < len(tests) for tests in per_source):
        for tests in per_source:
            if depth < len(tests) and tests[depth] not in chosen and len(chosen) < limit:
                chosen.append(tests[depth])
        depth += 1
    return chosen


def regression_suite(context: SelectionContext, limit: int) -> TestSuite | None:
    """The suite `regression` (and `behavior`) runs for the task, or None when the rule finds
    no test file."""
    runner = context.tests
    if runner is None:
        return None
    targets = choose_test_files(context.candidates, runner, limit)
    if not targets:
        return None
    # The base commit's version of each file: candidates' edits to these tests do not count.
    files = tuple((path, runner.read(path)) for path in targets)
    return TestSuite("regression", tuple(targets), files)


def tests_the_issue_changes(
    pool: Pool, broken: dict[str, list[str]], problems: dict[str, str]
) -> set[str]:
    """Base-passing tests that candidates holding more than half of the pool's votes break:
    an old test that asserts the behaviour the issue asks to change (a repr, a message, a
    default), which a right patch breaks too. Candidates whose run had a problem (no apply, no
    test reported, timeout) do not count: they say nothing about single tests."""
    voters = [c for c in pool if c.patch_hash not in problems]
    total = sum(c.votes for c in voters)
    if total < 2:
        return set()
    share: Counter[str] = Counter()
    for candidate in voters:
        for name in set(broken.get(candidate.patch_hash, [])):
            share[name] += candidate.votes
    return {name for name, votes in share.items() if 2 * votes > total}


class RegressionSelector:
    name = "regression"
    needs_sandbox = True
    needs_models = False
    exact_at_subsets = True

    def __init__(self, max_test_files: int = 8) -> None:
        self.max_test_files = max_test_files

    def gather(self, context: SelectionContext) -> Evidence:
        evidence = Evidence()
        suite = regression_suite(context, self.max_test_files)
        if suite is None or context.tests is None:
            evidence.data = {"targets": [], "broken": {}, "note": "no test file found"}
            return evidence
        base = context.tests.run(None, suite)
        evidence.add_run(base)
        passing = sorted(base.passed())
        broken: dict[str, list[str]] = {}
        problems: dict[str, str] = {}
        for candidate in context.candidates:
            run = context.tests.run(candidate, suite)
            evidence.add_run(run)
            if run.problem == "patch_failed":
                problems[candidate.patch_hash] = run.problem
                broken[candidate.patch_hash] = passing
                continue
            if run.problem:
                problems[candidate.patch_hash] = run.problem
            after = {name for name, status in run.statuses.items() if status in PASSING_STATUSES}
            broken[candidate.patch_hash] = [name for name in passing if name not in after]
        evidence.data = {
            "suite": suite.digest,
            "targets": list(suite.targets),
            "base_passing": len(passing),
            "base_problem": base.problem,
            "broken": broken,
            "problems": problems,
        }
        return evidence

    def narrow(self, pool: Pool, evidence: dict[str, Any]) -> Pool:
        broken = evidence.get("broken") or {}
        if not broken:
            return pool
        changed = tests_the_issue_changes(pool, broken, evidence.get("problems") or {})
        counts = {c.patch_hash: len(set(broken.get(c.patch_hash, [])) - changed) for c in pool}
        fewest = min(counts.values(), default=0)
        return pool.keep(c.patch_hash for c in pool if counts[c.patch_hash] == fewest)
