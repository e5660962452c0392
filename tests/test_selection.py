"""Selection at k against brute force over every k-subset (and every order), the estimator's
vectorized forms against the scalar one, bootstrap intervals against the exact bootstrap, and
the refusal of oracle selection."""

import itertools
import random

import numpy as np
import pytest

from harness.reports.metrics import (
    bootstrap_means,
    pass_at_k,
    pass_at_k_matrix,
    pass_at_k_table,
    percentile_interval,
)
from harness.reports.rundata import TaskOutcomes
from harness.reports.selection import (
    OracleSelectionError,
    check_selector,
    first_at_k,
    pick,
    selection_matrix,
    vote_at_k,
)


def task(clusters, verdicts):
    """clusters: class per attempt (0 = empty patch); verdicts: {class: resolved}."""
    cluster = np.array(clusters)
    resolved = np.array([bool(verdicts.get(c, False)) and c > 0 for c in clusters])
    return TaskOutcomes("o__r-1", "o/r", resolved, cluster, np.zeros(len(clusters)))


def brute_vote(t, k):
    total = 0.0
    subsets = list(itertools.combinations(range(t.n), k))
    for subset in subsets:
        counts = {}
        for i in subset:
            if t.cluster[i] > 0:
                counts[int(t.cluster[i])] = counts.get(int(t.cluster[i]), 0) + 1
        if not counts:
            continue
        top = max(counts.values())
        tied = [c for c, size in counts.items() if size == top]
        verdict = {int(t.cluster[i]): bool(t.resolved[i]) for i in range(t.n)}
        total += sum(verdict[c] for c in tied) / len(tied)
    return total / len(subsets)


def brute_first(t, k):
    """First non-empty attempt of k drawn in random order: every ordered k-sample."""
    orders = list(itertools.permutations(range(t.n), k))
    hits = 0
    for order in orders:
        for i in order:
            if t.cluster[i] > 0:
                hits += bool(t.resolved[i])
                break
    return hits / len(orders)


CASES = [
    ([1, 1, 2, 0, 3, 2, 1], {1: True}),  # correct class is the largest
    ([1, 2, 2, 0, 2, 3, 1], {1: True}),  # wrong class is the largest
    ([1, 2, 0, 0, 1, 2], {2: True}),  # exact ties
    ([0, 0, 1, 0, 2, 0], {1: True, 2: False}),  # mostly empty
    ([1, 1, 1, 0, 0], {1: True}),  # one verdict only: exact closed form
    ([0, 0, 0], {}),  # nothing but empty patches
]


@pytest.mark.parametrize("clusters,verdicts", CASES)
def test_first_at_k_is_exact(clusters, verdicts):
    t = task(clusters, verdicts)
    ks = list(range(1, t.n + 1))
    got = first_at_k(t, ks)
    for column, k in enumerate(ks):
        assert got[column] == pytest.approx(brute_first(t, k), abs=1e-12)


@pytest.mark.parametrize("clusters,verdicts", CASES)
def test_vote_at_k_matches_every_subset(clusters, verdicts):
    t = task(clusters, verdicts)
    ks = list(range(1, t.n + 1))
    got = vote_at_k(t, ks, np.random.default_rng(3), samples=4000)
    for column, k in enumerate(ks):
        # Monte Carlo over 4000 subsets: the standard error is at most 0.008.
        assert got[column] == pytest.approx(brute_vote(t, k), abs=0.03)
    # k = 1 and k = n are exact whatever the task.
    assert got[0] == pytest.approx(t.c / t.n, abs=1e-12)
    assert got[-1] == pytest.approx(brute_vote(t, t.n), abs=1e-12)


def test_vote_is_exact_when_all_patches_share_a_verdict():
    t = task([1, 1, 1, 0, 0, 2], {1: True, 2: True})
    got = vote_at_k(t, [1, 2, 3, 4, 5, 6], np.random.default_rng(0), samples=10)
    expected = [brute_vote(t, k) for k in range(1, 7)]
    assert got == pytest.approx(expected, abs=1e-12)


def test_selection_at_one_attempt_equals_pass_at_one():
    rng = random.Random(5)
    tasks = []
    for _ in range(30):
        clusters = [rng.choice([0, 1, 2, 3]) for _ in range(8)]
        tasks.append(task(clusters, {1: True}))
    for method in ("vote", "first"):
        column = selection_matrix(tasks, [1, 2, 8], method)[:, 0]
        assert column == pytest.approx([t.c / t.n for t in tasks], abs=1e-12)


def test_pick_is_deterministic_and_ignores_empty_patches():
    t = task([0, 2, 1, 1, 2, 3], {1: True})
    assert pick(t, "first") == 1  # attempt 0 is empty
    assert pick(t, "vote") == 1  # classes 1 and 2 tie at 2: class 2 appeared first
    t = task([0, 2, 1, 1, 1], {1: True})
    assert pick(t, "vote") == 2
    assert pick(task([0, 0], {}), "vote") is None


@pytest.mark.parametrize("name", ["oracle", "best", "pass@k", "Oracle"])
def test_oracle_selection_is_refused_with_the_reason(name):
    with pytest.raises(OracleSelectionError, match="hidden"):
        check_selector(name)
    with pytest.raises(ValueError, match="vote, first"):
        check_selector("longest")


def test_vectorized_estimator_matches_scalar_one():
    for n in (1, 2, 7, 30, 250):
        for k in {1, min(2, n), n // 2 or 1, n}:
            table = pass_at_k_table(n, k)
            assert table == pytest.approx([pass_at_k(n, c, k) for c in range(n + 1)], abs=1e-12)
    ns, cs = [5, 5, 9, 250], [0, 3, 9, 1]
    matrix = pass_at_k_matrix(ns, cs, [1, 5])
    assert matrix[:, 1] == pytest.approx([pass_at_k(n, c, 5) for n, c in zip(ns, cs, strict=True)])


def test_bootstrap_interval_matches_the_exact_bootstrap_distribution():
    values = np.array([0.0, 0.25, 1.0, 0.5])
    # Every resample of 4 tasks with replacement, equally likely: the exact distribution.
    means = sorted(np.mean(c) for c in itertools.product(values, repeat=4))
    exact_low, exact_high = np.quantile(means, 0.025), np.quantile(means, 0.975)
    draws = bootstrap_means(values, samples=200_000, seed=1)
    low, high = percentile_interval(draws, 0.95)
    assert low[0] == pytest.approx(exact_low, abs=0.02)
    assert high[0] == pytest.approx(exact_high, abs=0.02)
    assert draws.mean() == pytest.approx(values.mean(), abs=0.002)
