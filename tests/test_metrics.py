import itertools

import pytest

from harness.reports.metrics import ks_for, pass_at_k


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


def test_ks_are_standard_ones_up_to_attempts():
    assert ks_for(250) == [1, 2, 5, 10, 25, 50, 100, 250]
    assert ks_for(30) == [1, 2, 5, 10, 25, 30]
    assert ks_for(1) == [1]
