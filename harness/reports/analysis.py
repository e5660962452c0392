"""Every figure of a report for one run: solve rate at k (oracle) with bootstrap intervals,
the selection curves beside it, dollars at k, per repository, and the scaling fit. Pure
computation on a RunData; rendering lives in harness.reports.render and harness.reports.html."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.reports.metrics import bootstrap_means, ks_for, pass_at_k_matrix, percentile_interval
from harness.reports.rundata import RunData, TaskOutcomes
from harness.reports.scaling import NoFit, ScalingFit, fit_curve
from harness.reports.selection import SELECTORS, VOTE_SAMPLES, selection_matrix
from harness.reports.spend_text import spend_lines

DEFAULT_TARGETS = (0.5, 0.75, 0.9)


@dataclass
class Curve:
    """One estimate at each k, with its bootstrap interval over tasks."""

    rate: list[float]
    low: list[float]
    high: list[float]


@dataclass
class RepoRow:
    repo: str
    tasks: int
    oracle: list[float]  # at each report k
    selections: dict[str, list[float]]


@dataclass
class RunAnalysis:
    name: str
    agent: str
    external: bool
    k_requested: int
    tasks_total: int
    tasks_counted: int
    solved_at_least_once: int
    ks: list[int]
    oracle: Curve
    selections: dict[str, Curve]
    dollars: list[float] | None  # expected spend of k attempts on every task; None: unknown
    dollars_per_round: float | None
    # Dollars at each k had the samples answered from the response cache been paid for now (what
    # they cost when made); None when no answer came from the cache.
    dollars_when_made: list[float] | None
    repos: list[RepoRow]
    fit: ScalingFit | NoFit
    measured_curve: list[float]  # oracle at every k = 1..max_k (for plots)
    level: float
    bootstrap_samples: int
    vote_samples: int
    seed: int
    notes: list[str] = field(default_factory=list)

    @property
    def max_k(self) -> int:
        return self.ks[-1] if self.ks else 0

    def to_json(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["fit"] = self.fit.to_json()
        data["fit_ok"] = isinstance(self.fit, ScalingFit)
        return data


def analyze(
    run: RunData,
    targets: tuple[float, ...] = DEFAULT_TARGETS,
    bootstrap_samples: int = 1000,
    fit_samples: int = 200,
    vote_samples: int = VOTE_SAMPLES,
    level: float = 0.95,
    seed: int = 0,
) -> RunAnalysis:
    tasks = run.counted
    notes = _run_notes(run)
    ks = ks_for(run.max_k)
    if not tasks or not ks:
        empty = Curve([], [], [])
        return RunAnalysis(
            name=run.name, agent=run.agent, external=run.external,
            k_requested=run.k_requested, tasks_total=len(run.tasks), tasks_counted=0,
            solved_at_least_once=0, ks=[], oracle=empty, selections={}, dollars=None,
            dollars_per_round=None, dollars_when_made=None, repos=[],
            fit=NoFit("no evaluated attempts yet"),
            measured_curve=[], level=level, bootstrap_samples=bootstrap_samples,
            vote_samples=vote_samples, seed=seed, notes=notes,
        )
    ns = np.array([t.n for t in tasks])
    cs = np.array([t.c for t in tasks])
    every_k = pass_at_k_matrix(ns, cs, range(1, run.max_k + 1))  # tasks x max_k
    matrices = {"oracle": every_k[:, np.array(ks) - 1]}
    for method in SELECTORS:
        matrices[method] = selection_matrix(tasks, ks, method, seed=seed, samples=vote_samples)
    curves = _curves(matrices, len(ks), bootstrap_samples, level, seed)
    per_round, dollars, dollars_when_made = _dollars_at_k(run, tasks, ks)
    if not run.dollars_known and not run.external:
        notes.append("some attempts have no known model price: dollars are shown as unknown")
    fit = (
        fit_curve(every_k, per_round, list(targets), samples=fit_samples, level=level, seed=seed)
        if not run.external
        else NoFit("external result: one attempt per task, no curve to fit")
    )
    return RunAnalysis(
        name=run.name, agent=run.agent, external=run.external, k_requested=run.k_requested,
        tasks_total=len(run.tasks), tasks_counted=len(tasks),
        solved_at_least_once=int((cs > 0).sum()), ks=ks, oracle=curves["oracle"],
        selections={m: curves[m] for m in SELECTORS}, dollars=dollars,
        dollars_per_round=per_round, dollars_when_made=dollars_when_made,
        repos=_repo_rows(tasks, matrices), fit=fit,
        measured_curve=[float(v) for v in every_k.mean(axis=0)], level=level,
        bootstrap_samples=bootstrap_samples, vote_samples=vote_samples, seed=seed, notes=notes,
    )


def _run_notes(run: RunData) -> list[str]:
    """What the reader must know about what was left out of the figures."""
    notes = list(run.notes)
    for task in run.tasks:
        if task.n == 0:
            notes.append(
                f"task {task.instance_id} has no counted attempt and is left out"
                + (f": {task.error}" if task.error else "")
            )
    if run.attempts_pending or run.infra_errors or run.budget_cut:
        notes.append(
            f"not counted: {run.attempts_pending} attempts awaiting evaluation, "
            f"{run.infra_errors} infrastructure errors, {run.budget_cut} cut short by a budget"
        )
    return notes + spend_lines(run.spend)


def _curves(
    matrices: dict[str, np.ndarray], width: int, bootstrap_samples: int, level: float, seed: int
) -> dict[str, Curve]:
    """Each method's mean over tasks at each k, with intervals from one shared bootstrap of
    tasks (so the methods' intervals come from the same resamples)."""
    stacked = np.concatenate([matrices[name] for name in matrices], axis=1)
    draws = bootstrap_means(stacked, samples=bootstrap_samples, seed=seed)
    low, high = percentile_interval(draws, level)
    means = stacked.mean(axis=0)
    curves = {}
    for position, name in enumerate(matrices):
        part = slice(position * width, (position + 1) * width)
        curves[name] = Curve(
            [float(v) for v in means[part]],
            [float(v) for v in low[part]],
            [float(v) for v in high[part]],
        )
    return curves


def _dollars_at_k(
    run: RunData, tasks: list[TaskOutcomes], ks: list[int]
) -> tuple[float | None, list[float] | None, list[float] | None]:
    """Dollars of one round of attempts, at each k, and at each k had the response cache not
    answered (what the calls cost when first made)."""
    if not run.dollars_known or run.external:
        return None, None, None
    per_round = float(sum(t.dollars.sum() / t.n for t in tasks))
    dollars = [k * per_round for k in ks]
    if not run.cached_by_attempt:
        return per_round, dollars, None
    cached_per_round = sum(
        sum(run.cached_by_attempt.get(attempt, 0.0) for attempt in t.attempt_ids) / t.n
        for t in tasks
    )
    return per_round, dollars, [k * (per_round + cached_per_round) for k in ks]


def _repo_rows(tasks: list[TaskOutcomes], matrices: dict[str, np.ndarray]) -> list[RepoRow]:
    by_repo: dict[str, list[int]] = defaultdict(list)
    for row, task in enumerate(tasks):
        by_repo[task.repo].append(row)
    return [
        RepoRow(
            repo=repo,
            tasks=len(rows),
            oracle=[float(v) for v in matrices["oracle"][rows].mean(axis=0)],
            selections={m: [float(v) for v in matrices[m][rows].mean(axis=0)] for m in SELECTORS},
        )
        for repo, rows in sorted(by_repo.items())
    ]
