"""compare on runs of identical behaviour: false alarms at most alpha over enough pairs to
tell, a refusal where the counts cannot support a verdict, and power against a real drop."""

import math

import numpy as np

from harness.reports.compare import REGRESSED, TOO_FEW, compare_runs
from harness.reports.gate_calibration import gate_rates
from harness.reports.rundata import RunData, TaskOutcomes

ALPHA = 0.05


def allowed_alarms(pairs: int) -> float:
    # alpha plus 2.5 standard errors of a share measured on `pairs` pairs (a test that fails
    # by chance about once in 160 runs if the gate were exactly at alpha; it is below).
    return pairs * ALPHA + 2.5 * math.sqrt(pairs * ALPHA * (1 - ALPHA))


def test_false_alarms_on_identical_behaviour_stay_within_alpha():
    demo_sized = list(np.random.default_rng(7).uniform(0.3, 0.8, 13))
    for rates, attempts, k in (([0.2, 0.5, 0.8], 10, 10), ([0.2, 0.5, 0.8], 10, 1),
                               (demo_sized, 10, 1)):
        result = gate_rates(rates, rates, attempts, k, pairs=300, alpha=ALPHA, seed=3,
                            samples=1000)
        assert result.alarms <= allowed_alarms(300), (rates, k, result.verdicts)


def one_task(name: str, solved: int, attempts: int = 10) -> RunData:
    resolved = np.arange(attempts) < solved
    task = TaskOutcomes("org__repo-1", "org/repo", resolved, resolved.astype(int),
                        np.zeros(attempts))
    return RunData(name=name, agent="a", k_requested=attempts, tasks=[task])


def test_one_task_gets_no_verdict_it_cannot_support():
    # The case: one task alone was "regressed, p=0.0000" under a bootstrap of tasks.
    result = compare_runs(one_task("base", 3), one_task("cand", 0), k=10)
    assert result.verdict == TOO_FEW
    assert result.p_smallest >= ALPHA
    assert any("too few tasks or attempts" in note for note in result.notes)


def test_a_real_twenty_point_drop_on_a_demo_sized_subset_is_caught():
    rates = list(np.random.default_rng(7).uniform(0.3, 0.8, 13))
    dropped = [max(0.0, rate - 0.2) for rate in rates]
    result = gate_rates(rates, dropped, 10, 1, pairs=100, alpha=ALPHA, seed=4, samples=1000)
    assert result.share(REGRESSED) >= 0.7, result.verdicts
