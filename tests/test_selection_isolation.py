"""A selector cannot reach a hidden field or a stored verdict.

- The types a selector is handed (the task's view, candidates, pool, context, test setup, test
  suites and runs) have no field for the gold patch, the test patch, the test lists, a verdict
  or an evaluation.
- Walking every attribute of what `select_run` hands a selector (context, candidates, the test
  runner and its sandbox holder, the built-in selectors and the registry's objects) finds no
  Task, TestSetup, Store, evaluation record, and no string holding the task's gold or test patch.
  (Closures are not walked: within one Python process nothing is a wall; the rule is that no
  object a selector gets has a way to a hidden field among its attributes.)
- While a selection runs, the store answers no query on evaluations, test results or
  validations (every SQL statement is watched).
- No module of harness/selection, nor the store's selection queries, names a hidden field, an
  evaluation or grading (read by their syntax trees).
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
from local_backend import LocalSandboxes, run_demo
from needs import bubblewrap_present
from sqlalchemy import event

import harness.selection as selection_package
from harness.demo import load_demo_tasks
from harness.evaluation.evaluator import TestSetup
from harness.selection.base import (
    CandidateView,
    Evidence,
    Pool,
    PublicTestSetup,
    SelectionContext,
    TestRun,
    TestSuite,
)
from harness.selection.registry import BUILT_IN, SelectorOptions, build_selector
from harness.selection.run import select_run
from harness.store import EvaluationRecord, Store
from harness.tasks import Task, TaskView

HIDDEN_FIELDS = {
    "patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS", "resolved", "status", "verdict",
    "evaluation", "evaluation_id", "grade", "test_targets", "not_graded", "targets_hidden",
}
# Names no selection module may use: hidden fields of a task, evaluation and grading.
FORBIDDEN_NAMES = {
    "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS", "EvaluationRecord", "TestResultRecord",
    "EvaluationRerunRecord", "ValidationRecord", "ValidationRunRecord", "EvalStatus", "grade",
    "grading", "evaluate", "evaluation_id", "run_rows", "run_attempts", "exported_attempts",
    "newest_validations", "test_targets", "not_graded", "graded_fail_to_pass",
}
FORBIDDEN_MODULES = ("harness.evaluation.grading", "harness.evaluation.evaluator",
                     "harness.store.runs", "harness.store.run_records", "harness.validation",
                     "harness.reports")
SELECTION_DIR = Path(selection_package.__file__).parent
STORE_QUERIES = SELECTION_DIR.parent / "store" / "selections.py"
DEMO = {task.instance_id: task for task in load_demo_tasks()}
INSTANCE = "demo__textkit-1"


def test_public_types_have_no_hidden_field():
    for kind in (TaskView, CandidateView, Pool, SelectionContext, PublicTestSetup, TestSuite,
                 TestRun, Evidence, SelectorOptions):
        names = {f.name for f in dataclasses.fields(kind)}
        allowed = {"patch"} if kind is CandidateView else set()  # the candidate's own patch
        assert not (names & HIDDEN_FIELDS) - allowed, (kind.__name__, names & HIDDEN_FIELDS)
    # The view an agent and a selector share holds none of the task's answer.
    view_fields = {f.name for f in dataclasses.fields(TaskView)}
    task_fields = {f.name for f in dataclasses.fields(Task)}
    assert {"patch", "test_patch", "FAIL_TO_PASS", "PASS_TO_PASS"} <= task_fields - view_fields


def _names_in(path: Path) -> tuple[set[str], set[str]]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.keyword) and node.arg:
            names.add(node.arg)
    return names, modules


def test_selection_modules_never_name_a_hidden_field_or_verdict():
    files = sorted(SELECTION_DIR.rglob("*.py")) + [STORE_QUERIES]
    assert len(files) >= 7
    for path in files:
        names, modules = _names_in(path)
        assert not names & FORBIDDEN_NAMES, (path.name, names & FORBIDDEN_NAMES)
        bad = [m for m in modules if m.startswith(FORBIDDEN_MODULES)]
        assert not bad, (path.name, bad)
    # The store's selection queries never touch the evaluations table at all.
    text = STORE_QUERIES.read_text()
    assert "EvaluationRecord" not in text and "evaluations" not in text


def _walk(root, seen: set[int] | None = None, depth: int = 0):
    """Every object reachable through attributes, containers and bound methods."""
    seen = set() if seen is None else seen
    if id(root) in seen or depth > 12:
        return
    seen.add(id(root))
    yield root
    if isinstance(root, str | bytes | int | float | bool | type(None)):
        return
    children = []
    if isinstance(root, dict):
        children += list(root.keys()) + list(root.values())
    elif isinstance(root, list | tuple | set | frozenset):
        children += list(root)
    if hasattr(root, "__self__") and not isinstance(root, type):
        children.append(root.__self__)
    if hasattr(root, "__dict__") and not isinstance(root, type):
        children += list(vars(root).values())
    for slot in getattr(type(root), "__slots__", ()):
        if hasattr(root, slot):
            children.append(getattr(root, slot))
    for child in children:
        if isinstance(child, type) or callable(child) and not hasattr(child, "__self__") \
                and not hasattr(child, "__dict__"):
            continue
        yield from _walk(child, seen, depth + 1)


def _assert_clean(root, task: Task) -> int:
    count = 0
    for found in _walk(root):
        count += 1
        assert not isinstance(found, Task | TestSetup | Store | EvaluationRecord), type(found)
        if isinstance(found, str) and len(found) > 40:
            assert found not in (task.test_patch, task.patch), "a hidden patch is reachable"
            assert task.test_patch not in found
    return count


class Spy:
    """A selector that keeps what it is handed, for the walk."""

    name = "spy"
    needs_sandbox = True
    needs_models = False
    exact_at_subsets = True
    seen: list[SelectionContext] = []

    def gather(self, context: SelectionContext) -> Evidence:
        Spy.seen.append(context)
        # Use the handle as a selector would: list files, read one, run a test on the base.
        assert "tests/test_slug.py" in context.tests.files()
        context.tests.read("textkit/slug.py")
        run = context.tests.run(None, TestSuite("spy", ("tests/test_slug.py",)))
        return Evidence(data={"passed": len(run.passed())})

    def narrow(self, pool, evidence):
        return pool


def make_spy(options) -> Spy:
    return Spy()


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    bubblewrap_present()
    folder = tmp_path_factory.mktemp("isolation")
    store = Store(folder / "store.db")
    run_demo(store, "iso", [INSTANCE], 3, folder / "cache")
    yield store, folder / "cache"
    store.close()


def test_what_a_selector_is_handed_reaches_nothing_hidden(demo_store):
    store, cache = demo_store
    statements: list[str] = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement.lower())

    event.listen(store.engine, "before_cursor_execute", watch)
    try:
        Spy.seen.clear()
        summary = select_run(store, "iso", build_selector("test_selection_isolation:make_spy"),
                             LocalSandboxes(cache).factory())
    finally:
        event.remove(store.engine, "before_cursor_execute", watch)
    assert summary.errors == [] and Spy.seen, summary.errors
    context = Spy.seen[0]
    task = DEMO[INSTANCE]
    assert context.task == task.view()
    walked = _assert_clean(context, task)
    assert walked > 20  # the walk did reach the runner, its sandbox holder and candidates
    for statement in statements:
        for table in ("evaluations", "test_results", "evaluation_reruns", "validation"):
            assert f" {table}" not in statement and f'"{table}"' not in statement, statement
    assert any("selection_test_runs" in s for s in statements)


def test_built_in_and_registry_selectors_hold_nothing_hidden():
    task = DEMO[INSTANCE]
    # The LLM selectors (repro, judge) need a model to be built; this one is never called.
    # tests/test_selection_llm.py walks them again built with a store.
    options = SelectorOptions(model="openai/fake-model", api_base="http://127.0.0.1:9/v1",
                              allow_unknown_price=True)
    for name in BUILT_IN:
        chain = build_selector(name, options)
        _assert_clean(chain, task)
