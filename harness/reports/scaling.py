"""Scaling fit of solve rate against attempts, and what a target solve rate would cost.

The model is the exponentiated power law of Brown et al. 2024 ("Large Language Monkeys"):
coverage(k) ~ exp(a * k^b), a < 0, b < 0, fitted by least squares on log(coverage) at
log-spaced k. For a fixed b the best a is closed form (a = sum(y x) / sum(x^2) with
y = log c, x = k^b), so the fit is a one-dimensional search over b: a coarse grid then two
finer ones, done for every bootstrap resample at once.

Forecasts ("how many attempts, how many dollars for X%") are read off the measured curve when
the data reach X, from the fit otherwise; the range comes from repeating both on bootstrap
resamples of the tasks. Nothing is forecast past `EXTRAPOLATION_LIMIT` times the largest k
measured: the fit is a description of the data, not a law.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from harness.reports.metrics import bootstrap_means, percentile_interval

EXTRAPOLATION_LIMIT = 4.0
FIT_POINTS = 20
FIT_SAMPLES = 200
_LOG_FLOOR = math.log(1e-6)
_B_RANGE = (1e-4, 5.0)  # |b|


def log_spaced_ks(max_k: int, points: int = FIT_POINTS) -> list[int]:
    if max_k < 1:
        return []
    return sorted({int(round(v)) for v in np.geomspace(1, max_k, points)})


def fit_exp_power(ks, coverage) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Least-squares fit of log(coverage) = a * k^b for each row of `coverage` (rows x len(ks)).
    Returns arrays a, b and the residual sum of squares (in log space)."""
    coverage = np.atleast_2d(np.asarray(coverage, dtype=float))
    y = np.maximum(np.log(np.clip(coverage, 1e-300, 1.0)), _LOG_FLOOR)
    log_k = np.log(np.asarray(ks, dtype=float))
    yy = (y * y).sum(axis=1)

    def rss(t):  # t: rows x grid of log|b|
        x = np.exp(-np.exp(t)[..., None] * log_k)  # k^b, rows x grid x K
        xy = np.einsum("rgk,rk->rg", x, y)
        xx = (x * x).sum(axis=2)
        return yy[:, None] - xy * xy / xx, xy / xx

    rows = y.shape[0]
    low, high = math.log(_B_RANGE[0]), math.log(_B_RANGE[1])
    grid = np.broadcast_to(np.linspace(low, high, 400), (rows, 400))
    for _ in range(3):
        errors, _ = rss(grid)
        best = grid[np.arange(rows), errors.argmin(axis=1)]
        step = (grid[:, 1] - grid[:, 0])[:, None]
        grid = best[:, None] + step * np.linspace(-1.5, 1.5, 61)[None, :]
    errors, slopes = rss(grid)
    index = errors.argmin(axis=1)
    pick = np.arange(rows)
    return slopes[pick, index], -np.exp(grid[pick, index]), errors[pick, index]


def predict(a: float, b: float, k) -> np.ndarray:
    return np.exp(a * np.power(np.asarray(k, dtype=float), b))


def attempts_for(a, b, target: float):
    """k with exp(a k^b) = target (a, b arrays or floats)."""
    return np.power(np.log(target) / np.asarray(a), 1.0 / np.asarray(b))


@dataclass
class Forecast:
    target: float  # solve rate wanted, 0..1
    status: str  # measured | extrapolated | beyond_limit
    attempts: float | None = None
    attempts_low: float | None = None
    attempts_high: float | None = None  # None with status extrapolated: past the limit
    dollars: float | None = None
    dollars_low: float | None = None
    dollars_high: float | None = None
    message: str = ""


@dataclass
class ScalingFit:
    a: float
    b: float
    a_low: float
    a_high: float
    b_low: float
    b_high: float
    rmse: float  # in solve-rate units, over the fitted points
    max_error: float
    ks: list[int]
    measured: list[float]
    fitted: list[float]
    max_k: int
    samples: int
    level: float
    forecasts: list[Forecast] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class NoFit:
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"reason": self.reason}


def fit_curve(
    per_task,
    dollars_per_round: float | None,
    targets: list[float] = (),
    samples: int = FIT_SAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> ScalingFit | NoFit:
    """Fit on `per_task` (tasks x k for every k = 1..max_k, the per-task pass@k).

    dollars_per_round: expected spend of one attempt on every task (None when unknown).
    """
    per_task = np.asarray(per_task, dtype=float)
    max_k = per_task.shape[1]
    ks = log_spaced_ks(max_k)
    if len(ks) < 3:
        return NoFit(f"need at least 3 distinct k to fit; the data reach k={max_k}")
    curve = per_task.mean(axis=0)
    if curve[0] <= 0:
        return NoFit("no attempt solved any task: nothing to fit")
    if curve[-1] >= 1:
        return NoFit("every task is solved at the largest k: nothing left to fit")
    columns = np.array(ks) - 1
    a, b, _ = fit_exp_power(ks, curve[columns])
    a, b = float(a[0]), float(b[0])
    fitted = predict(a, b, ks)
    residuals = fitted - curve[columns]
    draws = bootstrap_means(per_task, samples=samples, seed=seed)  # samples x max_k
    boot_a, boot_b, _ = fit_exp_power(ks, draws[:, columns])
    (a_low, b_low), (a_high, b_high) = percentile_interval(
        np.column_stack([boot_a, boot_b]), level
    )
    result = ScalingFit(
        a=a, b=b, a_low=float(a_low), a_high=float(a_high), b_low=float(b_low),
        b_high=float(b_high), rmse=float(np.sqrt(np.mean(residuals**2))),
        max_error=float(np.abs(residuals).max()), ks=ks,
        measured=[float(v) for v in curve[columns]], fitted=[float(v) for v in fitted],
        max_k=max_k, samples=samples, level=level,
    )
    for target in targets:
        result.forecasts.append(
            _forecast(target, curve, a, b, draws, boot_a, boot_b, dollars_per_round, level)
        )
    return result


def _attempts_needed(target, curve_rows, a, b) -> np.ndarray:
    """Per row: the smallest measured k reaching target, else the fit's k."""
    reached = curve_rows >= target
    measured = np.where(reached.any(axis=1), reached.argmax(axis=1) + 1.0, np.nan)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        fitted = attempts_for(a, b, target)
    return np.where(np.isnan(measured), fitted, measured)


def _forecast(target, curve, a, b, draws, boot_a, boot_b, dollars_per_round, level):
    max_k = curve.size
    limit = EXTRAPOLATION_LIMIT * max_k
    point = float(_attempts_needed(target, curve[None, :], np.array([a]), np.array([b]))[0])
    spread = _attempts_needed(target, draws, boot_a, boot_b)
    # A resample whose fit never reaches the target: larger than any limit, but finite.
    spread = np.where(np.isfinite(spread), spread, 1e18)
    low, high = (float(v) for v in percentile_interval(spread, level))
    measured = bool(curve[-1] >= target)
    if point > limit:
        return Forecast(
            target=target,
            status="beyond_limit",
            message=(
                f"{100 * target:.0f}% would need about {point:,.0f} attempts per task by the "
                f"fit, more than {EXTRAPOLATION_LIMIT:g}x the largest k measured ({max_k}): "
                "not extrapolated. Measure more attempts first."
            ),
        )
    forecast = Forecast(
        target=target,
        status="measured" if measured else "extrapolated",
        attempts=point,
        attempts_low=low,
        attempts_high=high if high <= limit else None,
    )
    if dollars_per_round is not None:
        forecast.dollars = point * dollars_per_round
        forecast.dollars_low = low * dollars_per_round
        if forecast.attempts_high is not None:
            forecast.dollars_high = forecast.attempts_high * dollars_per_round
    upper = (
        f"{forecast.attempts_high:,.0f}"
        if forecast.attempts_high is not None
        else f"more than {limit:,.0f} (past the extrapolation limit)"
    )
    source = "read off the measured curve" if measured else "extrapolated by the fit"
    forecast.message = (
        f"{100 * target:.0f}%: about {point:,.0f} attempts per task ({source}; "
        f"{100 * level:.0f}% range {low:,.0f} to {upper})"
    )
    return forecast
