"""The scaling fit recovers known a and b, its forecasts read the data where they reach and
refuse to extrapolate far past them."""

import numpy as np
import pytest

from harness.reports.scaling import (
    EXTRAPOLATION_LIMIT,
    NoFit,
    ScalingFit,
    attempts_for,
    fit_curve,
    fit_exp_power,
    log_spaced_ks,
    predict,
)


@pytest.mark.parametrize("a,b", [(-2.0, -0.3), (-1.2, -0.6), (-3.5, -0.15), (-0.4, -1.2)])
def test_fit_recovers_known_parameters_from_an_exact_curve(a, b):
    ks = log_spaced_ks(250)
    fitted_a, fitted_b, rss = fit_exp_power(ks, predict(a, b, ks))
    assert fitted_a[0] == pytest.approx(a, rel=1e-3)
    assert fitted_b[0] == pytest.approx(b, rel=1e-3)
    assert rss[0] < 1e-8


def generated_tasks(a, b, max_k, tasks, noise, seed):
    """Per-task curves scattered around exp(a k^b), centred so that their mean over tasks is
    exactly the known curve (the bootstrap then has to cover the truth)."""
    rng = np.random.default_rng(seed)
    curve = predict(a, b, np.arange(1, max_k + 1))
    scale = rng.normal(0.0, noise, size=(tasks, 1))
    scale = 1.0 + scale - scale.mean()
    assert (curve[-1] * scale).max() < 1.0
    return curve[None, :] * scale


def test_fit_recovers_known_parameters_from_generated_tasks_with_an_honest_range():
    a, b = -2.0, -0.3
    per_task = generated_tasks(a, b, max_k=200, tasks=400, noise=0.15, seed=7)
    fit = fit_curve(per_task, dollars_per_round=1.0, targets=[], samples=200)
    assert isinstance(fit, ScalingFit)
    assert fit.a == pytest.approx(a, abs=0.05)
    assert fit.b == pytest.approx(b, abs=0.02)
    assert fit.a_low <= a <= fit.a_high
    assert fit.b_low <= b <= fit.b_high
    assert fit.rmse < 0.02


def test_forecasts_read_measured_data_extrapolate_a_little_and_refuse_far():
    a, b = -2.0, -0.3
    max_k = 100
    per_task = generated_tasks(a, b, max_k=max_k, tasks=300, noise=0.05, seed=1)
    curve = per_task.mean(axis=0)
    reached = float(curve[49])  # measured at k = 50
    near = float(predict(a, b, 2 * max_k))  # needs about 2x the data
    far = float(predict(a, b, 50 * max_k))  # needs 50x
    fit = fit_curve(per_task, dollars_per_round=3.0, targets=[reached, near, far])
    measured, extrapolated, refused = fit.forecasts
    assert measured.status == "measured"
    assert measured.attempts == 50
    assert measured.dollars == pytest.approx(150.0)
    assert extrapolated.status == "extrapolated"
    assert extrapolated.attempts == pytest.approx(float(attempts_for(fit.a, fit.b, near)))
    assert extrapolated.attempts == pytest.approx(2 * max_k, rel=0.15)
    assert extrapolated.attempts_low <= extrapolated.attempts
    assert refused.status == "beyond_limit"
    assert refused.attempts is None and refused.dollars is None
    assert f"{EXTRAPOLATION_LIMIT:g}x the largest k measured" in refused.message


def test_no_fit_without_a_solved_task_or_enough_k():
    assert isinstance(fit_curve(np.zeros((5, 50)), 1.0), NoFit)
    assert isinstance(fit_curve(np.full((5, 2), 0.5), 1.0), NoFit)
    assert "unknown" not in str(fit_curve(np.ones((3, 20)), None))
