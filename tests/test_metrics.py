import itertools
import random

import pytest

from harness.reports.metrics import (
    TaskCounts,
    bootstrap_interval,
    curve,
    ks_for,
    pass_at_k,
    solve_rate,
)


def brute_force_pass_at_k(n: int, c: int, k: int) -> float:
    attempts = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    return sum(any(attempts[i] for i in subset) for subset in subsets) / len(subsets)


@pytest.mark.parametrize("n", range(1, 11))
def test_estimator_matches_enumeration_of_every_subset(n):
    for c in range(n + 1):
        for k in range(1, n + 1):
            assert pass_at_k(n, c, k) == pytest.approx(brute_force_pass_at_k(n, c, k), abs=1e-12)


def test_estimator_is_stable_at_n_250():
    # 1 correct out of 250: pass@k is exactly k/250.
    for k in (1, 10, 100, 250):
        assert pass_at_k(250, 1, k) == pytest.approx(k / 250)
    assert pass_at_k(250, 0, 250) == 0.0
    assert pass_at_k(250, 250, 1) == 1.0


def test_estimator_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(5, 6, 1)
    with pytest.raises(ValueError):
        pass_at_k(5, 1, 6)


def test_solve_rate_averages_over_tasks():
    tasks = [TaskCounts("a", 4, 4, 0.0), TaskCounts("b", 4, 0, 0.0), TaskCounts("c", 4, 1, 0.0)]
    assert solve_rate(tasks, 1) == pytest.approx((1 + 0 + 0.25) / 3)
    assert solve_rate(tasks, 4) == pytest.approx(2 / 3)


def test_ks_are_standard_ones_up_to_attempts():
    assert ks_for(250) == [1, 2, 5, 10, 25, 50, 100, 250]
    assert ks_for(30) == [1, 2, 5, 10, 25, 30]
    assert ks_for(1) == [1]


def test_bootstrap_interval_brackets_the_estimate_and_shrinks_with_more_tasks():
    rng = random.Random(1)
    small = [TaskCounts(str(i), 10, rng.choice([0, 0, 3, 10]), 0.0) for i in range(10)]
    large = small * 20
    low, high = bootstrap_interval(small, 1)
    assert low <= solve_rate(small, 1) <= high
    large_low, large_high = bootstrap_interval(large, 1)
    assert (large_high - large_low) < (high - low)


def test_curve_reports_dollars_linear_in_k_and_only_reached_k():
    tasks = [TaskCounts("a", 25, 1, 2.5), TaskCounts("b", 30, 0, 3.0)]
    points = curve(tasks, samples=200)
    assert [p.k for p in points] == [1, 2, 5, 10, 25]
    by_k = {p.k: p for p in points}
    assert by_k[10].dollars == pytest.approx(10 * (2.5 / 25 + 3.0 / 30))
    assert by_k[25].solve_rate == pytest.approx(0.5)
    unknown = curve([TaskCounts("a", 5, 1, 0.0, unknown_price_attempts=1)], samples=50)
    assert not unknown[0].dollars_known
