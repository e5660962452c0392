"""Selectors' decisions without sandboxes: composition, the registry, regression's drop rule,
behavior's clusters and tie-breaks, and a pool's k-subsets."""

from __future__ import annotations

import pytest

from harness.selection.base import CandidateView, Chain, Pool, SelectionContext, SelectionError
from harness.selection.behavior import BehaviorSelector
from harness.selection.registry import build_selector
from harness.selection.regression import RegressionSelector, import_pattern, module_of
from harness.tasks import TaskView

VIEW = TaskView("o__r-1", "o/r", "abc", "the issue")


def candidate(digest: str, attempts: tuple[int, ...], patch: str = "x") -> CandidateView:
    return CandidateView(digest, patch, attempts)


POOL = Pool((
    candidate("a", (0, 3)),  # 2 votes, first at 0
    candidate("b", (1, 4, 5)),  # 3 votes
    candidate("c", (2,)),
))


def test_vote_and_first_pick():
    assert build_selector("vote").pick(POOL, [{}]).patch_hash == "b"
    assert build_selector("first").pick(POOL, [{}]).patch_hash == "a"


def test_regression_drops_a_candidate_that_breaks_a_base_passing_test():
    evidence = {"broken": {"a": [], "b": ["t::x"], "c": []}}
    survivors = RegressionSelector().narrow(POOL, evidence)
    assert survivors.hashes == ("a", "c")
    # Composed with vote: the vote is among the survivors, so b (most votes) cannot win.
    chain = build_selector("regression+vote")
    assert chain.pick(POOL, [evidence, {}]).patch_hash == "a"


def test_regression_discounts_a_test_that_most_votes_break():
    # a (2 votes) and c (1) break t, 3 of the pool's 6 votes: half, not more, so it counts.
    evidence = {"broken": {"a": ["t"], "b": [], "c": ["t"]}}
    assert RegressionSelector().narrow(POOL, evidence).hashes == ("b",)
    # b (3) and c (1) break t: 4 of 6 votes, an old test of what the issue changes; a breaks u.
    evidence = {"broken": {"a": ["u"], "b": ["t"], "c": ["t"]}}
    assert RegressionSelector().narrow(POOL, evidence).hashes == ("b", "c")
    # A candidate whose run had a problem does not vote on single tests: without b's 3 votes,
    # t is broken by 1 of 3.
    evidence = {"broken": {"a": [], "b": ["t"], "c": ["t"]}, "problems": {"b": "patch_failed"}}
    assert RegressionSelector().narrow(POOL, evidence).hashes == ("a",)


def test_regression_keeps_the_least_damaging_when_every_candidate_breaks_something():
    evidence = {"broken": {"a": ["t1", "t2"], "b": ["t1"], "c": ["t1", "t3", "t4"]}}
    assert RegressionSelector().narrow(POOL, evidence).hashes == ("b",)


def test_behavior_clusters_equal_outcomes_and_the_largest_cluster_wins():
    # a and c behave the same (3 votes together) and beat b (3 votes) on tests passed.
    evidence = {
        "suites": [{"suite": "s1", "owner": None}],
        "vectors": {"a": {"s1": "PPF"}, "b": {"s1": "PFF"}, "c": {"s1": "PPF"}},
    }
    order = BehaviorSelector().narrow(POOL, evidence)
    assert order.hashes[:2] == ("a", "c")  # the cluster, its most-voted member first
    assert order.hashes[2] == "b"


def test_behavior_tie_breaks_on_tests_passed_then_first_appearance():
    pool = Pool((candidate("a", (0,)), candidate("b", (1,)), candidate("c", (2,))))
    more_passed = {
        "suites": [{"suite": "s", "owner": None}],
        "vectors": {"a": {"s": "PF"}, "b": {"s": "PP"}, "c": {"s": "FF"}},
    }
    assert BehaviorSelector().narrow(pool, more_passed).hashes[0] == "b"
    same = {
        "suites": [{"suite": "s", "owner": None}],
        "vectors": {"a": {"s": "PF"}, "b": {"s": "FP"}, "c": {"s": "FF"}},
    }
    assert BehaviorSelector().narrow(pool, same).hashes[0] == "a"


def test_behavior_uses_only_the_own_suites_of_candidates_in_the_pool():
    evidence = {
        "suites": [{"suite": "r", "owner": None}, {"suite": "own-c", "owner": "c"}],
        "vectors": {"a": {"r": "P", "own-c": "F"}, "b": {"r": "P", "own-c": "P"},
                    "c": {"r": "P", "own-c": "P"}},
    }
    selector = BehaviorSelector()
    # With c: b and c agree (4 votes) against a (2 votes).
    assert selector.narrow(POOL, evidence).hashes[:2] == ("b", "c")
    # Without c, its test is not there: a and b behave the same, one cluster.
    without_c = POOL.subset([0, 1, 3, 4])
    assert set(selector.narrow(without_c, evidence).hashes) == {"a", "b"}


def test_behavior_puts_patches_that_apply_nowhere_last():
    evidence = {
        "suites": [{"suite": "s", "owner": None}],
        "vectors": {"a": {"s": "PP"}, "b": {"s": "XX"}, "c": {"s": "FF"}},
    }
    assert BehaviorSelector().narrow(POOL, evidence).hashes[-1] == "b"


def test_pool_subset_counts_only_the_subsets_votes():
    subset = POOL.subset([0, 2, 5])
    assert subset.hashes == ("a", "c", "b")
    assert [c.votes for c in subset] == [1, 1, 1]


def test_chain_passes_input_on_when_a_stage_leaves_nothing():
    class Nothing:
        name = "nothing"

        def narrow(self, pool, evidence):
            return Pool(())

    chain = Chain((Nothing(), build_selector("vote").stages[0]))
    assert chain.pick(POOL, [{}, {}]).patch_hash == "b"
    assert chain.pick(Pool(()), [{}, {}]) is None


def test_registry_by_import_path_and_composition():
    chain = build_selector("selection_helpers:make_longest+vote")
    assert chain.name == "longest+vote"
    pool = Pool((candidate("a", (0,), "short"), candidate("b", (1,), "a much longer patch")))
    evidence = chain.gather(SelectionContext(VIEW, pool))
    assert chain.pick(pool, [e.data for e in evidence]).patch_hash == "b"


@pytest.mark.parametrize("name,message", [
    ("oracle", "hidden test outcome"),
    ("pass@k", "hidden test outcome"),
    ("nosuch", "unknown selector"),
    ("no_module_here:make", "cannot import"),
    ("selection_helpers:missing", "no callable"),
    ("selection_helpers:not_a_selector", "lacks the Selector interface"),
    ("vote+", "empty part"),
])
def test_registry_refuses_with_one_clear_line(name, message):
    with pytest.raises(SelectionError, match=message):
        build_selector(name)


def test_module_and_import_rules():
    assert module_of("src/flask/app.py") == ("flask.app", "app")
    assert module_of("sympy/core/__init__.py") == ("sympy.core", "core")
    import re

    pattern = import_pattern("flask.app").replace("[[:space:]]", r"\s")
    assert re.search(pattern, "from flask.app import Flask")
    assert re.search(pattern, "import flask.app as a")
    assert re.search(pattern, "from flask import app")
    assert not re.search(pattern, "from flask.application import x")
    assert not re.search(pattern, "from flask import apps")


def test_consensus_prefers_the_patch_most_like_the_others():
    from harness.selection.consensus import similarity

    def patch(path: str, line: str) -> str:
        return (f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n"
                f"-old\n+{line}\n")

    near_a = patch("pkg/mod.py", "return  fixed(x)")  # same change, other spacing
    near_b = patch("pkg/mod.py", "return fixed(x)")
    near_c = patch("pkg/mod.py", "return fixed(x, strict=True)")
    far = patch("pkg/other.py", "pass")
    assert similarity(near_a, near_b) == pytest.approx(2.0)
    assert similarity(near_a, far) == 0.0
    # The far patch has two identical votes, but the three near ones agree with each other.
    pool = Pool((candidate("far", (0, 1), far), candidate("a", (2,), near_a),
                 candidate("b", (3,), near_b), candidate("c", (4,), near_c)))
    chain = build_selector("consensus")
    evidence = [e.data for e in chain.gather(SelectionContext(VIEW, pool))]
    assert chain.pick(pool, evidence).patch_hash == "a"
    assert build_selector("vote").pick(pool, [{}]).patch_hash == "far"
    # On a subset without b and c, far's two votes win.
    assert chain.pick(pool.subset([0, 1, 2]), evidence).patch_hash == "far"


def test_select_cli_refuses_bad_input_with_one_line(tmp_path, capsys):
    from harness.cli import main
    from harness.store import Store

    db = tmp_path / "s.db"
    assert main(["select", "nothing", "--selector", "vote", "--db", str(db)]) == 2
    assert "no results store" in capsys.readouterr().err
    Store(db).close()
    assert main(["select", "nope", "--selector", "vote", "--db", str(db)]) == 2
    assert "no run 'nope'" in capsys.readouterr().err


def test_select_cli_refuses_an_oracle_name(tmp_path, capsys):
    from harness.cli import main
    from harness.store import Store

    db = tmp_path / "s.db"
    store = Store(db)
    from harness.store.schema import RunRecord

    with store.writing() as session:
        session.add(RunRecord(id="r", agent="a", agent_hash="h", k=1, config={},
                              code_revision="", package_versions={}, vcpu_hour_dollars=0.0))
    store.close()
    assert main(["select", "r", "--selector", "oracle", "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: selector 'oracle'") and err.count("\n") == 1


def test_selector_at_k_is_the_average_over_k_subsets():
    """The report's score at k < n: the chain re-run on each k-subset with the stored
    evidence, averaged; at k = n the stored pick."""
    from itertools import combinations
    from types import SimpleNamespace

    import numpy as np

    from harness.reports.rundata import TaskOutcomes
    from harness.reports.selection_table import selector_matrix

    # Attempts: a b d e f c, one vote each; c is right, each other one breaks a test of its
    # own (no test is broken by a majority, which regression would discount).
    hashes = {1: "a", 2: "b", 3: "d", 4: "e", 5: "f", 6: "c"}
    resolved = np.array([False, False, False, False, False, True])
    task = TaskOutcomes("o__r-1", "o/r", resolved, np.array([1, 2, 3, 4, 5, 6]), np.zeros(6),
                        attempt_ids=[1, 2, 3, 4, 5, 6])
    evidence = {"broken": {"a": ["t1"], "b": ["t2"], "d": ["t3"], "e": ["t4"], "f": ["t5"],
                           "c": []}}
    record = SimpleNamespace(evidence={"stages": [{"name": "regression", "data": evidence},
                                                  {"name": "vote", "data": {}}]},
                             patch_hash="c", error="")
    chain = build_selector("regression+vote")
    matrix = selector_matrix(chain, [task], [1, 2, 3, 6], {"o__r-1": record}, hashes, {})
    for column, k in enumerate([1, 2, 3]):
        wins = [6 - 1 in subset for subset in combinations(range(6), k)]  # c in the subset
        assert matrix[0, column] == pytest.approx(np.mean(wins))
    assert matrix[0, 3] == 1.0
